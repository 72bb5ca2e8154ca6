"""`helpdesk demo`: a realistic SayPro marketplace, built through the real services.

Everything is decided by ``random.Random(seed)`` and placed relative to one anchor, the
context's ``now`` (to the second): the same seed gives the same people, listings, threads,
texts and relative times. What the marketplace sends (listings, customer and seller messages,
agent replies imported as history, feedback, flags) goes through the intake in large batches;
what agents do (assign, escalate, notes, status and priority changes) goes through the
conversation services, one transaction each, with a clock set back to the historic instant.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from db.models import Agent, Conversation, Listing
from helpdesk_tui import demo_data as data
from helpdesk_tui.services import agents, conversations, templates
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake

#: The console opens as this agent: a team lead in support.
DEMO_AGENT = "thandi"

#: Resolved conversations spread over the last HISTORY_DAYS (flags included).
HISTORY_CONVERSATIONS = 500
HISTORY_DAYS = 90

SAST = ZoneInfo("Africa/Johannesburg")
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)

#: When customers write (Johannesburg hour of day -> weight).
_HOUR_WEIGHTS = (
    0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.5, 3, 5, 6, 6, 6, 6, 5, 5, 5, 5, 5, 6, 6, 5, 4, 2, 1
)  # fmt: skip
#: Response targets of support conversations by priority (the default policy).
_RESPONSE_TARGET = {"urgent": HOUR, "high": 4 * HOUR, "normal": 24 * HOUR, "low": 24 * HOUR}
_TYPICAL_DELAY = {"urgent": 12 * MIN, "high": 45 * MIN, "normal": 100 * MIN, "low": 180 * MIN}


class DemoError(RuntimeError):
    """The demo's own records were refused: a bug in the demo or in a service."""


class DemoClock:
    """A clock the builder sets to the historic instant of each action."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    verified: bool = False

    @property
    def first(self) -> str:
        return self.name.split()[0]

    def party(self, role: str) -> dict[str, Any]:
        return {"id": self.id, "role": role, "name": self.name, "verified": self.verified}


@dataclass(frozen=True)
class ListingSpec:
    id: str
    title: str
    category: str
    seller: Person
    created_at: datetime
    active: bool = True

    @property
    def short(self) -> str:
        """The title without the price tail sellers add."""
        return self.title.split(" - ")[0]


@dataclass
class Msg:
    at: datetime
    role: str  # user | buyer | seller | agent
    author: Person | str  # a party, or an agent's username
    body: str
    attachments: list[dict[str, str]] = field(default_factory=list)
    #: Ingested after the agents' actions (a customer answering after a status change).
    late: bool = False
    ext: str = ""


@dataclass
class Action:
    at: datetime
    name: str  # assign | status | priority | escalate | note
    actor: str
    args: tuple[Any, ...]


@dataclass
class Conv:
    """One planned conversation (or flag) with everything that happens to it."""

    kind: str
    subject: str
    requester: Person
    priority: str
    category: str | None
    listing: ListingSpec | None = None
    messages: list[Msg] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    feedback: dict[str, Any] | None = None
    flag: dict[str, Any] | None = None  # kind flag: target, reason, at
    ref: str = ""

    @property
    def start(self) -> datetime:
        return self.flag["at"] if self.flag else self.messages[0].at

    def end(self) -> datetime:
        times = [m.at for m in self.messages] + [a.at for a in self.actions]
        if self.flag:
            times.append(self.flag["at"])
        return max(times)

    def shift(self, delta: timedelta) -> None:
        for m in self.messages:
            m.at -= delta
        for a in self.actions:
            a.at -= delta
        if self.feedback:
            self.feedback["at"] -= delta
        if self.flag:
            self.flag["at"] -= delta

    def act(self, at: datetime, name: str, actor: str, *args: Any) -> None:
        self.actions.append(Action(at, name, actor, args))


def build_if_empty(ctx: Context, *, seed: int = 7) -> bool:
    """Build the demo unless the database already holds agents, listings or conversations."""
    with ctx.db.read() as s:
        for model in (Agent, Listing, Conversation):
            if s.scalar(select(func.count()).select_from(model)):
                return False
    build(ctx, seed=seed)
    return True


def build(ctx: Context, *, seed: int = 7) -> dict[str, int]:
    """Build the demo marketplace into an empty database; returns what it made."""
    return _Builder(ctx, seed).run()


class _Builder:
    def __init__(self, ctx: Context, seed: int) -> None:
        self.rng = random.Random(seed)
        self.anchor = ctx.now().astimezone(UTC).replace(microsecond=0)
        self.clock = DemoClock(self.anchor)
        self.ctx = replace(ctx, now=self.clock)
        self.names = {username: name for username, name, _role, _team in data.AGENTS}
        self.convs: list[Conv] = []
        self._ids: set[str] = set()
        self._decks: dict[tuple[str, str], list[data.Scenario]] = {}

    # -- the whole build ---------------------------------------------------------------
    def run(self) -> dict[str, int]:
        self._staff()
        self._cast()
        self._ingest(self._listing_records())
        self._history()
        self._open_queue()
        self._number()
        self._ingest(self._conversation_records(late=False))
        actions = self._perform()
        self._ingest(self._conversation_records(late=True))
        feedback = self._feedback_records()
        self._ingest(feedback)
        return {
            "agents": len(data.AGENTS),
            "templates": len(data.TEMPLATES),
            "listings": len(self.listings) + len(self.suspicious),
            "conversations": len(self.convs),
            "messages": sum(len(c.messages) for c in self.convs),
            "actions": actions,
            "feedback": len(feedback),
        }

    def _ingest(self, records: list[dict[str, Any]]) -> None:
        rejects: list[str] = []
        self.clock.at = self.anchor
        intake = Intake(self.ctx, lambda n, raw, why: rejects.append(f"line {n}: {why}"))
        intake.run(json.dumps(r, ensure_ascii=False).encode() for r in records)
        if rejects:
            raise DemoError(f"intake refused {len(rejects)} demo records: {rejects[0]}")

    # -- staff and templates -------------------------------------------------------------
    def _staff(self) -> None:
        admin = data.AGENTS[0][0]
        for name, description in data.TEAMS:
            agents.add_team(self.ctx, admin, name, description)
        for username, name, role, team in data.AGENTS:
            agents.add_agent(self.ctx, admin, username, name, role, team)
        for t in data.TEMPLATES:
            templates.add_template(
                self.ctx, DEMO_AGENT, t.name, t.body,
                shortcut=t.shortcut, category=t.category, tags=t.tags,
            )  # fmt: skip

    # -- people and listings ---------------------------------------------------------------
    def _uid(self, prefix: str, lo: int, hi: int) -> str:
        while True:
            ident = f"{prefix}{self.rng.randint(lo, hi)}"
            if ident not in self._ids:
                self._ids.add(ident)
                return ident

    def _people(self, n: int, taken: set[str], verified: float) -> list[Person]:
        out: list[Person] = []
        while len(out) < n:
            name = f"{self.rng.choice(data.FIRST_NAMES)} {self.rng.choice(data.SURNAMES)}"
            if name in taken:
                continue
            taken.add(name)
            out.append(Person(self._uid("u-", 10000, 99999), name, self.rng.random() < verified))
        return out

    def _cast(self) -> None:
        rng = self.rng
        taken: set[str] = set()
        self.buyers = self._people(140, taken, verified=0.2)
        private_sellers = self._people(32, taken, verified=0.35)
        business = {
            cat: [Person(self._uid("u-", 10000, 99999), name, True) for name in names]
            for cat, names in data.BUSINESSES.items()
        }
        self.listings: list[ListingSpec] = []
        for category, title in data.LISTINGS:
            if rng.random() < 0.35:
                seller = rng.choice(business[category])
            else:
                seller = rng.choice(private_sellers)
            created = self.anchor - timedelta(days=rng.uniform(HISTORY_DAYS + 2, 400))
            self.listings.append(
                ListingSpec(self._uid("L-", 100000, 999999), title, category, seller, created)
            )
        self.suspicious: list[ListingSpec] = []
        for category, title in data.SUSPICIOUS_LISTINGS:
            seller = self._people(1, taken, verified=0.0)[0]
            created = self.anchor - timedelta(hours=rng.uniform(20, 30))
            self.suspicious.append(
                ListingSpec(self._uid("L-", 100000, 999999), title, category, seller, created)
            )
        # A few sold items: inactive, messaging off (never the subject of a buyer's question).
        for i in rng.sample(range(len(self.listings)), 4):
            self.listings[i] = replace(self.listings[i], active=False)
        self.active = [x for x in self.listings if x.active]

    def _listing_records(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "listing",
                "id": x.id,
                "title": x.title,
                "seller": {"id": x.seller.id, "name": x.seller.name, "verified": x.seller.verified},
                "active": x.active,
                "messaging": x.active,
                "created_at": _iso(x.created_at),
                "category": x.category,
            }
            for x in self.listings + self.suspicious
        ]

    # -- helpers -----------------------------------------------------------------------
    def _pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        names = [name for name, _ in weighted]
        return self.rng.choices(names, weights=[w for _, w in weighted])[0]

    def _fields(self, who: Person, listing: ListingSpec | None, agent: str = "") -> dict[str, str]:
        rng = self.rng
        return {
            "first": who.first,
            "listing": listing.short if listing else "my ad",
            "seller": listing.seller.name if listing else "",
            "town": rng.choice(data.TOWNS),
            "ref": f"SP{rng.randint(100000, 999999)}",
            "amount": rng.choice(data.AMOUNTS),
            "offer": rng.choice(data.OFFERS),
            "agent": self.names.get(agent, "SayPro").split()[0],
        }

    def _customer_time(self, days_ago: int) -> datetime:
        """An instant on the day ``days_ago`` days back, at an hour people actually write."""
        rng = self.rng
        day = self.anchor.astimezone(SAST).date() - timedelta(days=days_ago)
        hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
        local = datetime(
            day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=SAST
        )
        return local.astimezone(UTC)

    def _working(self, at: datetime, priority: str = "normal") -> datetime:
        """The same instant if support is at work then (on call for urgent and high), else the
        next opening (07:00 on weekdays, 08:00 at weekends) plus a bit."""
        settle = timedelta(minutes=self.rng.uniform(5, 55))  # drawn always: a steady stream
        if priority in ("urgent", "high"):
            return at
        local = at.astimezone(SAST)
        weekend = local.weekday() >= 5
        opens, closes = (8, 17) if weekend else (7, 21)
        if opens <= local.hour < closes:
            return at
        day = local.date() + timedelta(days=1 if local.hour >= closes else 0)
        opens = 8 if day.weekday() >= 5 else 7
        start = datetime(day.year, day.month, day.day, opens, tzinfo=SAST).astimezone(UTC)
        return start + settle

    def _response_delay(self, priority: str) -> timedelta:
        """Mostly well inside the target, sometimes (about 1 in 12) past it."""
        rng = self.rng
        target = _RESPONSE_TARGET[priority]
        if rng.random() < 0.08:
            return target * rng.uniform(1.05, 1.6)
        typical = _TYPICAL_DELAY[priority].total_seconds()
        seconds = min(rng.expovariate(1 / typical), target.total_seconds() * 0.6)
        return timedelta(seconds=seconds) + 2 * MIN

    def _scenario_parties(self, sc: data.Scenario) -> tuple[Person, ListingSpec | None]:
        rng = self.rng
        if sc.about == "own":
            listing = rng.choice(self.listings)
            return listing.seller, listing
        if sc.about == "any":
            return rng.choice(self.buyers), rng.choice(self.listings)
        return rng.choice(self.buyers), None

    def _rating(self, late: bool) -> tuple[int, int]:
        rng = self.rng
        weights = (4, 5, 8, 28, 55) if late else (2, 2, 6, 24, 66)
        rating = rng.choices((1, 2, 3, 4, 5), weights=weights)[0]
        nps = {
            5: rng.choice((9, 9, 10, 10, 10, 8)),
            4: rng.choice((7, 8, 8, 9)),
            3: rng.choice((5, 6, 7)),
            2: rng.choice((2, 3, 4, 5)),
            1: rng.choice((0, 1, 2, 3)),
        }[rating]
        return rating, nps

    # -- 90 days of history ----------------------------------------------------------------
    def _history(self) -> None:
        kinds = ("user_admin", "issue_report", "buyer_seller", "flag")
        planned: list[Conv] = []
        master = self.rng
        for _ in range(HISTORY_CONVERSATIONS):
            # Each conversation draws from its own generator: where support's opening hours
            # move a reply (which depends on the weekday of "now"), only that thread changes.
            self.rng = rng = random.Random(master.getrandbits(64))
            kind = rng.choices(kinds, weights=(38, 24, 30, 8))[0]
            start = self._customer_time(rng.randint(1, HISTORY_DAYS))
            if kind == "buyer_seller":
                conv = self._history_buyer_seller(start)
            elif kind == "flag":
                conv = self._history_flag(start, planned)
            else:
                conv = self._history_support(kind, start)
            latest = self.anchor - 20 * MIN
            if conv.end() > latest:  # a recent thread: move it back so it is over by now
                conv.shift(conv.end() - latest)
            if conv.feedback and conv.feedback["at"] > self.anchor - 5 * MIN:
                conv.feedback = None
            planned.append(conv)
        self.rng = master
        self.convs.extend(planned)

    def _history_support(self, kind: str, start: datetime) -> Conv:
        rng = self.rng
        sc = rng.choice(data.USER_ADMIN if kind == "user_admin" else data.ISSUE_REPORTS)
        requester, listing = self._scenario_parties(sc)
        priority = sc.priority
        if priority == "normal" and rng.random() < 0.06:
            priority = "high"
        agent = self._pick(data.RESPONDERS["support"])
        f = self._fields(requester, listing, agent)
        conv = Conv(kind, sc.subject, requester, priority, sc.category, listing)
        conv.messages.append(Msg(start, "user", requester, sc.body.format(**f)))
        reply_at = self._working(start + self._response_delay(priority), priority)
        late = reply_at - start > _RESPONSE_TARGET[priority]
        conv.messages.append(Msg(reply_at, "agent", agent, sc.reply.format(**f)))
        last = reply_at
        noted = (sc.notes and rng.random() < 0.3) or rng.random() < 0.04
        escalated = rng.random() < 0.05
        if noted or escalated:  # the agent took it on (plain history stays unassigned: cheaper)
            taken = max(start + MIN, reply_at - rng.uniform(1, 15) * MIN)
            conv.act(taken, "assign", agent, agent)
        if noted:
            note = rng.choice(sc.notes or data.INTERNAL_NOTES).format(**f)
            conv.act(reply_at + rng.uniform(1, 10) * MIN, "note", agent, note)
        if escalated:
            at = reply_at + rng.uniform(5, 40) * MIN
            conv.act(at, "escalate", agent, 1, rng.choice(data.ESCALATION_REASONS))
            if rng.random() < 0.35:
                conv.act(at + rng.uniform(20, 120) * MIN, "escalate", DEMO_AGENT, 2,
                         "Needs a management decision")  # fmt: skip
        if sc.followup and rng.random() < 0.6:
            back = reply_at + rng.uniform(8, 300) * MIN
            conv.messages.append(Msg(back, "user", requester, sc.followup.format(**f)))
            closing = sc.second_reply or rng.choice(data.CLOSINGS)
            last = self._working(back + min(self._response_delay(priority), 3 * HOUR), priority)
            conv.messages.append(Msg(last, "agent", agent, closing.format(**f)))
        resolved = last + rng.uniform(1, 90) * MIN
        conv.act(resolved, "status", agent, "resolved")
        if rng.random() < 0.55:
            rating, nps = self._rating(late)
            conv.feedback = {
                "at": resolved + rng.uniform(15, 36 * 60) * MIN,
                "rating": rating,
                "nps": nps,
                "comment": rng.choice(data.FEEDBACK_COMMENTS[rating]),
            }
        return conv

    def _buyer_seller(self, start: datetime, listing: ListingSpec | None = None) -> Conv:
        rng = self.rng
        listing = listing or rng.choice(self.active)
        buyer = rng.choice([b for b in self.buyers if b != listing.seller])
        question, answer = rng.choice(data.BUYER_QUESTIONS[listing.category])
        f = self._fields(buyer, listing)
        subject = rng.choice(data.BUYER_SUBJECTS).format(listing=listing.short)
        conv = Conv("buyer_seller", subject, buyer, "normal", listing.category, listing)
        conv.messages.append(Msg(start, "buyer", buyer, question.format(**f)))
        conv.messages.append(Msg(start, "seller", listing.seller, answer.format(**f)))
        return conv

    def _history_buyer_seller(self, start: datetime) -> Conv:
        rng = self.rng
        conv = self._buyer_seller(start)
        assert conv.listing is not None
        buyer, seller, answer = conv.requester, conv.listing.seller, conv.messages.pop()
        f = self._fields(buyer, conv.listing)
        agent = self._pick(data.RESPONDERS["marketplace"])
        luck = rng.random()
        last = start
        if luck < 0.84:  # the seller answers in time (most do)
            delay = min(rng.expovariate(1 / 4200), 3.7 * 3600) + 120
            answer.at = start + timedelta(seconds=delay)
            conv.messages.append(answer)
            last = answer.at
        else:  # support steps in after 4 h; the seller may answer late
            stepped = self._working(start + 4 * HOUR + rng.uniform(5, 60) * MIN)
            conv.act(stepped, "assign", agent, agent)
            conv.act(stepped + MIN, "escalate", agent, 1, data.SELLER_SILENT_REASON)
            step_in = rng.choice(data.STEP_IN_REPLIES).format(**{**f, "agent": self.names[agent]})
            last = stepped + rng.uniform(3, 20) * MIN
            conv.messages.append(Msg(last, "agent", agent, step_in))
            if luck < 0.93:
                answer.at = last + rng.uniform(1, 16) * HOUR
                conv.messages.append(answer)
                last = answer.at
        if len(conv.messages) > 1 and conv.messages[-1].role == "seller" and rng.random() < 0.4:
            q, a = rng.choice(data.BUYER_FOLLOWUPS)
            back = last + rng.uniform(5, 300) * MIN
            conv.messages.append(Msg(back, "buyer", buyer, q))
            last = back + timedelta(seconds=min(rng.expovariate(1 / 3000), 3.5 * 3600) + 60)
            conv.messages.append(Msg(last, "seller", seller, a))
        conv.act(last + rng.uniform(2, 48) * HOUR, "status", agent, "closed")
        return conv

    def _flag_conv(self, at: datetime, target: tuple[str, Any], reason: str) -> Conv:
        reporter = self.rng.choice(self.buyers)
        return Conv(
            "flag", "", reporter, "normal", "moderation",
            flag={"at": at, "target": target, "reason": reason},
        )  # fmt: skip

    def _history_flag(self, at: datetime, planned: list[Conv]) -> Conv:
        rng = self.rng
        kind = rng.choices(("listing", "message", "party"), weights=(55, 30, 15))[0]
        target: tuple[str, Any]
        if kind == "message":
            said = [
                m
                for c in planned
                if c.kind == "buyer_seller"
                for m in c.messages
                if m.role == "seller" and m.at < at - HOUR
            ]
            if not said:
                kind = "listing"
            else:
                target = ("message", rng.choice(said))
        if kind == "listing":
            target = ("listing", rng.choice(self.listings).id)
        elif kind == "party":
            target = ("party", rng.choice(self.listings).seller.id)
        conv = self._flag_conv(at, target, rng.choice(data.FLAG_REASONS[kind]))
        moderator = self._pick(data.RESPONDERS["trust-safety"])
        if rng.random() < 0.08:
            done = at + rng.uniform(12.5, 30) * HOUR
        else:
            done = self._working(at + timedelta(seconds=min(rng.expovariate(1 / 9000), 39600)))
            done = min(done, at + 11.5 * HOUR) + 5 * MIN
        conv.act(done - rng.uniform(10, 40) * MIN, "assign", moderator, moderator)
        if rng.random() < 0.6:
            conv.act(done - rng.uniform(1, 8) * MIN, "note", moderator,
                     rng.choice(data.MODERATION_NOTES))  # fmt: skip
        conv.act(done, "status", moderator, "resolved")
        return conv

    # -- the queue right now -------------------------------------------------------------
    def _ago(self, lo_h: float, hi_h: float) -> datetime:
        return self.anchor - timedelta(hours=self.rng.uniform(lo_h, hi_h))

    def _support(
        self, start: datetime, sc: data.Scenario | None = None, kind: str | None = None,
        *, priority: str | None = None,
    ) -> tuple[Conv, dict[str, str], data.Scenario]:  # fmt: skip
        rng = self.rng
        if sc is None:
            kind = kind or rng.choice(("user_admin", "user_admin", "issue_report"))
            sc = self._deal(kind, priority or "normal")
        requester, listing = self._scenario_parties(sc)
        f = self._fields(requester, listing)
        conv = Conv(sc.kind, sc.subject, requester, sc.priority, sc.category, listing)
        conv.messages.append(Msg(start, "user", requester, sc.body.format(**f)))
        return conv, f, sc

    def _deal(self, kind: str, priority: str) -> data.Scenario:
        """The next scenario from a shuffled deck, so the open queue shows variety."""
        deck = self._decks.setdefault((kind, priority), [])
        if not deck:
            pool = data.USER_ADMIN if kind == "user_admin" else data.ISSUE_REPORTS
            deck.extend(s for s in pool if s.priority == priority)
            self.rng.shuffle(deck)
        return deck.pop()

    def _reply(self, conv: Conv, f: dict[str, str], at: datetime, agent: str, text: str) -> None:
        conv.messages.append(
            Msg(at, "agent", agent, text.format(**{**f, "agent": self.names[agent]}))
        )

    def _open_queue(self) -> None:
        rng = self.rng
        out: list[Conv] = []
        with_ask = [s for s in data.USER_ADMIN + data.ISSUE_REPORTS if s.ask]

        # Brand new: minutes old, nobody has looked yet.
        for kind in ("user_admin", "user_admin", "user_admin", "issue_report"):
            out.append(self._support(self.anchor - rng.uniform(2, 45) * MIN, kind=kind)[0])
        for _ in range(3):
            conv = self._buyer_seller(self.anchor - rng.uniform(3, 40) * MIN)
            conv.messages.pop()
            out.append(conv)

        # A normal backlog: hours old, not yet answered, not yet at risk.
        for _ in range(5):
            out.append(self._support(self._ago(5, 15))[0])

        # At risk: first response (24 h) with 3-5 h left; seller reply (4 h) with < 1 h left.
        for who in (None, None, DEMO_AGENT, "lerato"):
            conv = self._support(self._ago(19.1, 20.8))[0]
            if who:
                conv.act(conv.start + rng.uniform(20, 90) * MIN, "assign", who, who)
            out.append(conv)
        for _ in range(3):
            conv = self._buyer_seller(self.anchor - rng.uniform(188, 228) * MIN)
            conv.messages.pop()
            out.append(conv)
        conv = self._support(self._ago(3.1, 3.6), kind="issue_report", priority="high")[0]
        conv.act(conv.start + 10 * MIN, "assign", "lerato", "lerato")
        out.append(conv)

        # Breached: nobody answered in time.
        for who in ("lerato", None, None):
            conv = self._support(self._ago(25, 40), kind="user_admin")[0]
            if who:
                conv.act(conv.start + 2 * HOUR, "assign", who, who)
            out.append(conv)
        for i in range(3):
            conv = self._buyer_seller(self._ago(5, 11))
            conv.messages.pop()
            if i == 0:
                at = conv.start + 4 * HOUR + rng.uniform(10, 40) * MIN
                conv.act(at, "assign", "kagiso", "kagiso")
                conv.act(at + MIN, "escalate", "kagiso", 1, data.SELLER_SILENT_REASON)
            out.append(conv)

        # Flags on the three suspicious listings: new, at risk (12 h target), breached.
        for listing, (lo, hi) in zip(
            self.suspicious, ((0.25, 0.6), (9.3, 11.2), (13, 18)), strict=True
        ):
            reason = {
                "vehicles": data.FLAG_REASONS["listing"][0],
                "electronics": "Suspected scam: sealed phone far below price, courier only",
                "jobs": data.FLAG_REASONS["listing"][4],
            }[listing.category]
            out.append(self._flag_conv(self._ago(lo, hi), ("listing", listing.id), reason))

        # Urgent: a hijacked account, minutes from its 1 h target.
        conv = self._support(self.anchor - rng.uniform(46, 52) * MIN, data.URGENT_HACKED)[0]
        conv.act(conv.start + 4 * MIN, "assign", DEMO_AGENT, DEMO_AGENT)
        conv.act(conv.start + 6 * MIN, "note", DEMO_AGENT,
                 "Verifying identity by phone before locking the account.")  # fmt: skip
        out.append(conv)

        # High: charged twice, answered, the customer asked again.
        conv, f, _sc = self._support(self._ago(1.2, 2), data.CHARGED_TWICE)
        reply = conv.start + rng.uniform(15, 35) * MIN
        conv.act(reply - 2 * MIN, "assign", "lerato", "lerato")
        self._reply(conv, f, reply, "lerato", data.CHARGED_TWICE.reply)
        conv.messages.append(
            Msg(reply + rng.uniform(10, 30) * MIN, "user", conv.requester,
                data.CHARGED_TWICE.followup)
        )  # fmt: skip
        out.append(conv)

        # Pending customer: support asked for details; the resolution clock is paused.
        for i, sc in enumerate(rng.sample(with_ask, 6)):
            conv, f, _sc = self._support(self._ago(24, 70), sc)
            who = DEMO_AGENT if i < 2 else self._pick(data.RESPONDERS["support"])
            reply = min(self._working(conv.start + self._response_delay("normal")),
                        self.anchor - 2 * HOUR)  # fmt: skip
            conv.act(reply - 3 * MIN, "assign", who, who)
            self._reply(conv, f, reply, who, sc.ask)
            conv.act(reply + MIN, "status", who, "pending_customer")
            if i == 5:
                conv.act(reply + 2 * MIN, "priority", who, "low")
            out.append(conv)

        # In progress: answered, and the customer wrote back.
        for i in range(10):
            conv, f, sc = self._support(self._ago(4, 20))
            who = DEMO_AGENT if i < 3 else self._pick(data.RESPONDERS["support"])
            span = (self.anchor - conv.start).total_seconds()
            reply = conv.start + timedelta(seconds=rng.uniform(0.05, 0.4) * span)
            conv.act(reply - 2 * MIN, "assign", who, who)
            self._reply(conv, f, reply, who, sc.reply)
            left = (self.anchor - reply).total_seconds()
            back = reply + timedelta(seconds=rng.uniform(0.1, 0.9) * left)
            if i == 3:  # a lead raises it: the customer wrote back just now
                back = self.anchor - rng.uniform(15, 40) * MIN
            conv.messages.append(Msg(back, "user", conv.requester, rng.choice(data.OPEN_FOLLOWUPS)))
            if i == 3:
                conv.act(back + 5 * MIN, "priority", DEMO_AGENT, "high")
                conv.act(back + 6 * MIN, "note", DEMO_AGENT,
                         "Business seller with 40+ ads: keep them happy.")  # fmt: skip
            out.append(conv)

        # On hold: waiting for the payment provider (the resolution clock still runs).
        conv, f, _sc = self._support(self._ago(28, 34), data.ON_HOLD_CASE)
        reply = conv.start + rng.uniform(30, 120) * MIN
        conv.act(reply - MIN, "assign", "sipho", "sipho")
        self._reply(conv, f, reply, "sipho", data.ON_HOLD_CASE.reply)
        conv.act(reply + 2 * MIN, "note", "sipho", data.ON_HOLD_CASE.notes[0])
        conv.act(reply + 3 * MIN, "status", "sipho", "on_hold")
        out.append(conv)

        # Escalated to management: a lost deposit on a fake vehicle ad.
        conv, f, _sc = self._support(self._ago(5.5, 7), data.ESCALATED_FRAUD)
        reply = conv.start + rng.uniform(15, 30) * MIN
        conv.act(reply - MIN, "assign", "lerato", "lerato")
        self._reply(conv, f, reply, "lerato", data.ESCALATED_FRAUD.reply)
        conv.act(reply + 5 * MIN, "escalate", "lerato", 1, data.ESCALATION_REASONS[2])
        conv.act(reply + 40 * MIN, "assign", DEMO_AGENT, DEMO_AGENT)
        why = "Fraud ring across several vehicle ads: management and legal to decide"
        conv.act(reply + 42 * MIN, "escalate", DEMO_AGENT, 2, why)
        conv.act(reply + 45 * MIN, "note", DEMO_AGENT, data.ESCALATED_FRAUD.notes[0])
        out.append(conv)

        # A screenshot: asked for proof of payment yesterday, it arrived just now.
        sc = data.USER_ADMIN[0]
        conv, f, _sc = self._support(self._ago(24, 27), sc)
        reply = conv.start + rng.uniform(40, 90) * MIN
        conv.act(reply - MIN, "assign", DEMO_AGENT, DEMO_AGENT)
        self._reply(conv, f, reply, DEMO_AGENT, sc.ask)
        conv.act(reply + MIN, "status", DEMO_AGENT, "pending_customer")
        png = {"name": data.ATTACHMENT_NAME, "content_base64": data.ATTACHMENT_PNG_BASE64}
        conv.messages.append(
            Msg(self.anchor - rng.uniform(10, 30) * MIN, "user", conv.requester,
                data.ATTACHMENT_BODY.format(**f), [png], late=True)
        )  # fmt: skip
        out.append(conv)

        # Hostile-looking text: markup and a terminal escape that must stay inert.
        conv = self._support(self.anchor - rng.uniform(35, 50) * MIN, kind="user_admin")[0]
        conv.subject = data.HOSTILE_SUBJECT
        conv.category = "payments"
        conv.messages[0].body = data.HOSTILE_BODY
        conv.act(conv.start + 5 * MIN, "assign", DEMO_AGENT, DEMO_AGENT)
        out.append(conv)

        # Buyer and seller talking: answered, and the buyer asked again (4 h seller clock).
        for _ in range(3):
            conv = self._buyer_seller(self._ago(1.5, 6))
            answer = conv.messages[-1]
            span = (self.anchor - conv.start).total_seconds()
            answer.at = conv.start + timedelta(seconds=rng.uniform(0.05, 0.3) * span)
            q, _a = rng.choice(data.BUYER_FOLLOWUPS)
            back = answer.at + (self.anchor - answer.at) * rng.uniform(0.3, 0.9)
            conv.messages.append(Msg(back, "buyer", conv.requester, q))
            out.append(conv)

        self.convs.extend(out)

    # -- numbering and records -------------------------------------------------------------
    def _number(self) -> None:
        """Conversation references in order of their first message, as the marketplace would."""
        self.convs.sort(key=lambda c: c.start)
        serial = itertools.count(10001)
        flags = itertools.count(501)
        for conv in self.convs:
            if conv.flag:
                conv.flag["id"] = f"fl-{next(flags)}"
                conv.ref = f"flag:{conv.flag['id']}"
            else:
                conv.ref = f"SP-{next(serial)}"
                for n, msg in enumerate(conv.messages, start=1):
                    msg.ext = f"{conv.ref}.{n}"

    def _conversation_records(self, *, late: bool) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        flags: list[dict[str, Any]] = []
        for conv in self.convs:
            if conv.flag and not late:
                kind, target = conv.flag["target"]
                flags.append(
                    {
                        "type": "flag",
                        "id": conv.flag["id"],
                        "target": {kind: target.ext if isinstance(target, Msg) else target},
                        "reason": conv.flag["reason"],
                        "reporter": conv.requester.id,
                        "flagged_at": _iso(conv.flag["at"]),
                    }
                )
                continue
            if conv.flag:
                continue
            for n, msg in enumerate(sorted(conv.messages, key=lambda m: m.at)):
                if msg.late != late:
                    continue
                rec: dict[str, Any] = {"id": msg.ext, "conversation": conv.ref}
                if n == 0:
                    rec.update(kind=conv.kind, subject=conv.subject, priority=conv.priority)
                    if conv.listing:
                        rec["listing"] = conv.listing.id
                    if conv.category:
                        rec["category"] = conv.category
                if isinstance(msg.author, Person):
                    rec["from"] = msg.author.party(msg.role)
                else:
                    rec["from"] = {"id": msg.author, "role": "agent"}
                rec["body"] = msg.body
                rec["sent_at"] = _iso(msg.at)
                if msg.attachments:
                    rec["attachments"] = msg.attachments
                records.append(rec)
        return records + flags

    def _feedback_records(self) -> list[dict[str, Any]]:
        out = []
        for conv in self.convs:
            if not conv.feedback:
                continue
            fb = conv.feedback
            out.append(
                {
                    "type": "feedback",
                    "id": f"fb-{conv.ref}",
                    "conversation": conv.ref,
                    "rating": fb["rating"],
                    "nps": fb["nps"],
                    "comment": fb["comment"],
                    "submitted_at": _iso(fb["at"]),
                }
            )
        return out

    # -- agents at work ----------------------------------------------------------------------
    def _perform(self) -> int:
        with self.ctx.db.read() as s:
            ids = dict(s.execute(select(Conversation.external_id, Conversation.id)).all())
        planned = sorted(
            ((a.at, i, a, ids[c.ref]) for c in self.convs for i, a in enumerate(c.actions)),
            key=lambda t: (t[0], t[3], t[1]),
        )
        handlers: dict[str, Callable[..., Any]] = {
            "assign": conversations.assign,
            "status": conversations.set_status,
            "priority": conversations.set_priority,
            "escalate": conversations.escalate,
            "note": lambda ctx, actor, cid, body: conversations.send(
                ctx, actor, cid, body, internal=True
            ),
        }
        for at, _i, action, conv_id in planned:
            self.clock.at = min(at, self.anchor)
            handlers[action.name](self.ctx, action.actor, conv_id, *action.args)
        self.clock.at = self.anchor
        return len(planned)


def _iso(at: datetime) -> str:
    """ISO 8601 in Johannesburg time, as the marketplace sends it."""
    return at.astimezone(SAST).isoformat()
