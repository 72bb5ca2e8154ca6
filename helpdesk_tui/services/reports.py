"""The SCMR-5 monthly report, the weekly check-in and the quarterly report, computed in SQL.

Every figure is a set-based query (GROUP BY, aggregate FILTERs, CASE) over the period's rows;
Python walks the result groups only, except for the met first responses, whose rows are
fetched in one query for their median and their business-hours length on each team's
calendar. Rules (also in docs/reports.md):

- A period is ``[start, end)`` between local midnights of the report zone.
- A clock belongs to the period in which it started, whenever it stops.
- A clock's outcome at ``as_of``: *in time* (met by then, counted elapsed <= target),
  *missed* (met or stopped late, or still unmet and past due), *pending* (running and not
  yet due, or paused) and *excused* (stopped within its target without a reply: the
  conversation was closed in time). Percentages are in time / (in time + missed).
- Empty periods give zeros and nulls.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import accumulate
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, not_, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from db.base import UTCDateTime
from db.enums import ClockState, Kind, MessageRole, Status, Target, Via
from db.models import (
    Agent,
    Conversation,
    ConversationEvent,
    Escalation,
    Feedback,
    Flag,
    Listing,
    Message,
    Party,
    SlaClock,
    Team,
    day_range,
    in_days,
)
from helpdesk_tui.errors import InvalidInput
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.reports_period import Period, iso_week_label, local_midnight
from helpdesk_tui.services.reports_sql import (
    TimeBuckets,
    boundary_index,
    prefer_scan,
    seconds_between,
)
from helpdesk_tui.sla.calendar import BusinessCalendar

log = logging.getLogger(__name__)

#: Clock outcomes at the as-of instant (see the module docstring).
IN_TIME, LATE, MISSED, EXCUSED, PENDING = range(5)
SUPPORT_KINDS = (Kind.USER_ADMIN.value, Kind.ISSUE_REPORT.value)
RESPONSE_TARGETS = (Target.FIRST_RESPONSE.value, Target.NEXT_RESPONSE.value)
RESOLVED = (Status.RESOLVED.value, Status.CLOSED.value)
SECTIONS = (
    "period",
    "volume",
    "response",
    "escalations",
    "satisfaction",
    "moderation",
    "agents",
    "sellers",
    "adoption",
    "budget",
)


@dataclass(frozen=True)
class Goals:
    """The business's targets (DESIGN.md, the seeds); the report compares figures with them."""

    first_response_s: int = 600  # FRT under 10 min (business hours)
    average_response_s: int = 1800  # ART under 30 min (goal)
    average_response_quarter_s: int = 3 * 3600  # ART under 3 h (quarterly target)
    resolution_s: int = 24 * 3600
    answered_pct: int = 90
    resolved_pct: int = 95
    seller_pct: int = 90
    moderation_pct: int = 100
    moderation_s: int = 12 * 3600
    rating: float = 4.5
    adoption_pct: int = 100
    seller_top_min: int = 5
    seller_warning_pct: int = 75


@dataclass
class Outcomes:
    """Clock outcomes of one population (see the module docstring)."""

    total: int = 0
    in_time: int = 0
    missed: int = 0
    excused: int = 0
    met: int = 0
    met_seconds: float = 0.0
    met_elapsed: float = 0.0

    @property
    def measured(self) -> int:
        return self.in_time + self.missed

    @property
    def pending(self) -> int:
        return self.total - self.in_time - self.missed - self.excused

    def add(self, other: Outcomes) -> Outcomes:
        return Outcomes(*(getattr(self, f) + getattr(other, f) for f in _OUTCOME_FIELDS))

    def pct(self) -> float | None:
        return _pct(self.in_time, self.measured)

    def as_dict(self) -> dict[str, int]:
        return {
            "clocks": self.total,
            "in_time": self.in_time,
            "missed": self.missed,
            "pending": self.pending,
            "excused": self.excused,
        }


_OUTCOME_FIELDS = ("total", "in_time", "missed", "excused", "met", "met_seconds", "met_elapsed")


def _pct(part: float, whole: float, digits: int = 1) -> float | None:
    return round(100.0 * part / whole, digits) if whole else None


def _avg(total: float | None, n: int | None, digits: int = 1) -> float | None:
    return round(float(total or 0) / n, digits) if n else None


def _round(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _figure(
    out: dict[str, Any], key: str, value: float | None, target: float, *, higher: bool = True
) -> None:
    """``key``, ``key_target`` and ``key_met`` side by side (met is null without a value)."""
    out[key] = value
    out[f"{key}_target"] = target
    out[f"{key}_met"] = None if value is None else (value >= target if higher else value <= target)


@dataclass
class ReportRequest:
    period: Period
    as_of: datetime
    team: str | None = None
    goals: Goals = field(default_factory=Goals)


def build(ctx: Context, period: Period, *, as_of: datetime | None = None,
          team: str | None = None, goals: Goals | None = None) -> dict[str, Any]:  # fmt: skip
    """The whole report as a JSON-ready dict with the documented sections.

    On PostgreSQL the two big passes run at once on two connections that share one snapshot
    (``pg_export_snapshot``; both transactions REPEATABLE READ, READ ONLY), so the figures are
    as consistent as from one transaction while the server scans the clocks and the messages
    in parallel: the messages pass on the second connection, the rest on the first."""
    req = ReportRequest(period, (as_of or ctx.now()).astimezone(UTC), team, goals or Goals())
    with ctx.db.read() as session:
        reporting_session(session)
        snapshot = _export_snapshot(session) if ctx.db.is_postgres else None
        if snapshot is None:
            return ReportQueries(ctx, session, req).run()
        queries = ReportQueries(ctx, session, req)
        with ThreadPoolExecutor(1, thread_name_prefix="report") as pool:
            side = pool.submit(_side_passes, ctx, req, snapshot)
            return queries.run(side=side.result)


_EXPORT_SNAPSHOT = "SELECT pg_export_snapshot()"
#: What ``pg_export_snapshot()`` returns, e.g. ``00000003-0000001B-1``.
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")


def _export_snapshot(session: Session) -> str | None:
    """The id of this transaction's snapshot for a second connection to share, or None (then
    the whole report runs on this connection, in a fresh transaction set up the same way)."""
    try:
        snapshot = str(session.scalar(text(_EXPORT_SNAPSHOT)))
    except DBAPIError as exc:
        log.warning("no snapshot to share (%s): the report runs on one connection", exc)
        session.rollback()  # the failed statement ended the transaction
        reporting_session(session)
        return None
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # SET takes no parameters: never inline junk
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    return snapshot


def _side_passes(
    ctx: Context, req: ReportRequest, snapshot: str
) -> tuple[dict[str, Any], dict[int, int]]:
    """The messages pass, in a transaction on ``snapshot``."""
    with ctx.db.read() as session:
        reporting_session(session, snapshot=snapshot)
        return ReportQueries(ctx, session, req).volume()


def reporting_session(session: Session, *, snapshot: str | None = None) -> None:
    """PostgreSQL: make this read transaction see one snapshot throughout (``REPEATABLE READ,
    READ ONLY``; ``snapshot``: the one another transaction exported), let it sort and hash a
    month of rows in memory, and turn JIT compilation off for it (the settings end with the
    transaction). Call it before the transaction's first query.

    The report's passes are estimated above ``jit_above_cost`` from a few hundred thousand
    rows on, and compiling their many ``CASE`` and ``FILTER`` expressions cost more than it
    saved: measured in docs/reports.md."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        if snapshot is not None:
            session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL jit = off"))


@dataclass
class AgentFigures:
    replies: int = 0
    first_responses: int = 0
    first_seconds: float = 0.0
    in_time: int = 0
    missed: int = 0
    resolved: int = 0
    rating_sum: float = 0.0
    ratings: int = 0


@dataclass
class ClockFigures:
    """What the one pass over the period's clocks yields."""

    by_target: dict[str, Outcomes] = field(default_factory=lambda: defaultdict(Outcomes))
    by_week: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    agents: dict[int, AgentFigures] = field(default_factory=lambda: defaultdict(AgentFigures))
    sellers: dict[int, Outcomes] = field(default_factory=lambda: defaultdict(Outcomes))

    def pick(self, *targets: str) -> Outcomes:
        total = Outcomes()
        for target in targets:
            total = total.add(self.by_target.get(target, Outcomes()))
        return total


class ReportQueries:
    """The report's queries for one period, team and as-of instant, on one read session.

    The big tables are read once each: messages in one grouped pass (volume, by hour, agents'
    replies), the period's SLA clocks in one grouped pass (outcomes by target, by week, by
    agent, by seller), plus one pass over the met first-response clocks (median and business
    hours). A clock's target says which kind of conversation it belongs to (first/next
    response and resolution: support; seller reply: buyer-seller; moderation: flags).
    """

    def __init__(self, ctx: Context, session: Session, req: ReportRequest) -> None:
        self.ctx = ctx
        self.s = session
        self.req = req
        self.p = req.period
        self.as_of = req.as_of
        self.start, self.end = self.p.start, self.p.end
        self.dialect = session.get_bind().dialect.name
        self.buckets = TimeBuckets(self.dialect, self.p.tz, self.start, self.end)
        self.team_id: int | None = None
        if req.team is not None:
            self.team_id = session.scalar(select(Team.id).where(Team.name == req.team))
            if self.team_id is None:
                raise InvalidInput(f"unknown team {req.team!r} (see `helpdesk teams list`)")
        self.weeks = self._week_boundaries()
        self._clock_period: ColumnElement[bool] | None = None

    # -- helpers ----------------------------------------------------------------------------
    def scoped(self, q: Any, conv: Any = Conversation) -> Any:
        """Only the team's conversations (``conv`` must be in the FROM list)."""
        if self.team_id is not None:
            q = q.where(conv.team_id == self.team_id)
        return q

    def conversations_where(self, *conditions: Any) -> Select[Any]:
        """Ids of the (team's) conversations matching ``conditions``: for ``IN (...)``, which
        both databases evaluate once instead of joining every row."""
        q = select(Conversation.id).where(*conditions)
        return self.scoped(q)

    def in_period(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    def scan_period(self, table: Any, column: Any, day: Any = None) -> ColumnElement[bool]:
        """Rows of ``table`` with ``column`` in the period, found by its day column ``day``
        if it has one (:func:`db.models.in_days`), else by ``column``'s own index; on SQLite by
        a table scan instead when the period holds much of the table (an index hit costs a
        lookup)."""
        counted = self.in_period(column) if day is None else day_range(day, self.start, self.end)
        if self.dialect == "sqlite" and prefer_scan(self.s, table, counted):
            # not indexable: SQLite scans the table
            return self.in_period(func.coalesce(column, column))
        if day is None:
            return self.in_period(column)
        return in_days(day, column, self.start, self.end)

    def clock_period(self) -> ColumnElement[bool]:
        """Clocks started in the period (decided once per report)."""
        if self._clock_period is None:
            self._clock_period = self.scan_period(SlaClock, SlaClock.started_at)
        return self._clock_period

    def secs(self, start: Any, stop: Any) -> ColumnElement[Any]:
        return seconds_between(self.dialect, start, stop)

    def clock_seconds(self, clock: Any = SlaClock) -> ColumnElement[Any]:
        """Calendar seconds from start to stop: stored whole seconds for calendar clocks
        (counted + paused), the timestamps' difference for business clocks."""
        return case(
            (clock.business.is_(False), clock.elapsed_s + clock.paused_s),
            else_=self.secs(clock.started_at, clock.stopped_at),
        )

    def epoch(self, column: Any) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return func.date_part("epoch", column)
        return (func.julianday(column) - 2440587.5) * 86400.0

    def met(self, clock: Any = SlaClock) -> ColumnElement[bool]:
        """Met by the as-of instant (as a filter: most clocks are met, so the state index
        would only cost SQLite a row lookup per clock; keep its planner off it)."""
        state: Any = clock.state
        if self.dialect == "sqlite":
            state = func.coalesce(state, state)
        return and_(state == ClockState.MET.value, clock.stopped_at <= self.as_of)

    def outcome(self, clock: Any = SlaClock) -> ColumnElement[Any]:
        """Each clock's outcome at ``as_of`` as one small code (see ``OUTCOME``)."""
        stopped = clock.stopped_at <= self.as_of
        in_target = clock.elapsed_s <= clock.target_s
        return case(
            (
                and_(clock.state == ClockState.MET.value, stopped),
                case((in_target, IN_TIME), else_=LATE),
            ),
            (
                and_(clock.state == ClockState.STOPPED.value, stopped),
                case((in_target, EXCUSED), else_=MISSED),
            ),
            (clock.due_at <= self.as_of, MISSED),
            else_=PENDING,
        )

    def outcome_columns(self, clock: Any = SlaClock) -> list[ColumnElement[Any]]:
        """Group by these: the outcome code, then the count and the seconds sums of a group
        (meaningful for met clocks)."""
        return [
            self.outcome(clock),
            func.count(clock.id),
            func.sum(self.clock_seconds(clock)),
            func.sum(clock.elapsed_s),
        ]

    @staticmethod
    def outcomes(row: Sequence[Any]) -> Outcomes:
        code, n, seconds, elapsed = int(row[0]), int(row[1]), row[2], row[3]
        met = code in (IN_TIME, LATE)
        return Outcomes(
            total=n,
            in_time=n if code == IN_TIME else 0,
            missed=n if code in (LATE, MISSED) else 0,
            excused=n if code == EXCUSED else 0,
            met=n if met else 0,
            met_seconds=float(seconds or 0) if met else 0.0,
            met_elapsed=float(elapsed or 0) if met else 0.0,
        )

    def _week_boundaries(self) -> list[datetime]:
        """Local Monday midnights inside the period (where the ISO week changes)."""
        return [local_midnight(d, self.p.tz) for d in self.p.days()[1:] if d.isoweekday() == 1]

    def week_labels(self) -> list[str]:
        firsts = [self.p.first_day, *(d for d in self.p.days()[1:] if d.isoweekday() == 1)]
        return [iso_week_label(d) for d in firsts]

    # -- the report ---------------------------------------------------------------------------
    def run(self, side: Callable[[], Any] | None = None) -> dict[str, Any]:
        """The report. ``side``, when given, returns what :meth:`volume` would (computed
        elsewhere, on the same snapshot); it is asked for after this session's own passes."""
        clocks = self.clock_figures()
        escalations = self.escalations()
        satisfaction = self.satisfaction()
        moderation = self.moderation()
        adoption = self.adoption()
        first = self.first_responses()
        volume, replies = self.volume() if side is None else side()
        for agent_id, n in replies.items():
            clocks.agents[agent_id].replies += n
        report: dict[str, Any] = {
            "period": {
                **self.p.as_dict(),
                "as_of": _iso(self.as_of),
                "team": self.req.team,
            },
            "volume": volume,
            "response": self.response(clocks, first),
            "escalations": escalations,
            "satisfaction": satisfaction,
            "moderation": moderation,
            "agents": self.agents(clocks),
            "sellers": self.sellers(clocks),
            "adoption": adoption,
            "budget": self.budget(clocks),
        }
        return canonical(report)

    def volume(self) -> tuple[dict[str, Any], dict[int, int]]:
        """Messages by UTC hour (and replying agent) in one pass; local days and hours, and
        each agent's replies, are summed from the groups.

        The conversation's kind comes from a hash join on PostgreSQL and from ``IN (ids of
        that kind)`` on SQLite (a lookup in a small temporary index instead of a table row)."""
        role = Message.role
        bucket = self.buckets.key(Message.sent_at)
        agent_id = case((role == MessageRole.AGENT.value, Message.author_agent_id), else_=None)
        joined = self.dialect == "postgresql"
        if joined:
            support: Any = Conversation.kind.in_(SUPPORT_KINDS)
            market: Any = Conversation.kind == Kind.BUYER_SELLER.value
        else:
            support = Message.conversation_id.in_(
                self.conversations_where(Conversation.kind.in_(SUPPORT_KINDS))
            )
            market = Message.conversation_id.in_(
                self.conversations_where(Conversation.kind == Kind.BUYER_SELLER.value)
            )
        q = (
            select(
                bucket,
                agent_id,
                func.count(Message.id),
                func.count(Message.id).filter(and_(role == MessageRole.CUSTOMER.value, support)),
                func.count(Message.id).filter(role == MessageRole.AGENT.value),
                func.count(Message.id).filter(
                    and_(role.in_((MessageRole.CUSTOMER.value, MessageRole.SELLER.value)), market)
                ),
            )
            .where(
                self.scan_period(Message, Message.sent_at, Message.sent_day),
                Message.internal.is_(False),
                Message.via != Via.AUTO_ACK.value,
                role.in_(
                    (MessageRole.CUSTOMER.value, MessageRole.SELLER.value, MessageRole.AGENT.value)
                ),
            )
            .group_by(bucket, agent_id)
        )
        if joined:
            q = self.scoped(q.join(Conversation, Conversation.id == Message.conversation_id))
        elif self.team_id is not None:
            q = q.where(Message.conversation_id.in_(self.conversations_where()))
        totals = [0, 0, 0, 0]
        by_day = {d.isoformat(): 0 for d in self.p.days()}
        by_hour = dict.fromkeys(range(24), 0)
        replies: dict[int, int] = defaultdict(int)
        for key, agent, *counts in self.s.execute(q):
            counts = [int(c) for c in counts]
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
            day, hour = self.buckets.local(key)
            by_day[day] = by_day.get(day, 0) + counts[0]
            by_hour[hour] += counts[0]
            if agent is not None:
                replies[int(agent)] += counts[2]
        peak = max(by_hour, key=lambda h: (by_hour[h], -h)) if totals[0] else None
        volume = {
            "messages": totals[0],
            "user_to_admin": totals[1],
            "admin_to_user": totals[2],
            "user_to_user": totals[3],
            "by_day": by_day,
            "by_hour": {str(h): n for h, n in by_hour.items()},
            "peak_hour": peak,
        }
        return volume, replies

    def clock_figures(self) -> ClockFigures:
        """One grouped pass over the clocks started in the period: by target, by ISO week
        (support responses), by agent (who answered; the assignee while unanswered) and by
        seller (seller replies)."""
        response = SlaClock.target.in_(RESPONSE_TARGETS)
        week = case((response, boundary_index(SlaClock.started_at, self.weeks)), else_=None)
        who = case(
            (SlaClock.target == Target.SELLER_REPLY.value, Conversation.counterpart_id),
            # the agent whose message met it (stored with the clock), else the assignee
            (response, func.coalesce(SlaClock.stop_agent_id, Conversation.assignee_id)),
            else_=None,
        )
        outcome, *sums = self.outcome_columns()
        q = self.scoped(
            select(SlaClock.target, week, who, outcome, *sums)
            .join(Conversation, Conversation.id == SlaClock.conversation_id)
            .where(self.clock_period())
            .group_by(SlaClock.target, week, who, outcome)
        )
        out = ClockFigures()
        labels = self.week_labels()
        for target, week_i, who_id, *rest in self.s.execute(q):
            o = self.outcomes(rest)
            out.by_target[target] = out.by_target[target].add(o)
            if target in RESPONSE_TARGETS:
                w = out.by_week[labels[int(week_i)]]
                w[0] += o.in_time
                w[1] += o.missed
                if who_id is not None:
                    a = out.agents[int(who_id)]
                    a.in_time += o.in_time
                    a.missed += o.missed
                    if target == Target.FIRST_RESPONSE.value:
                        a.first_responses += o.met
                        a.first_seconds += o.met_seconds
            elif target == Target.SELLER_REPLY.value and who_id is not None:
                out.sellers[int(who_id)] = out.sellers[int(who_id)].add(o)
        return out

    def first_responses(self) -> tuple[float | None, float | None]:
        """Median calendar seconds and mean business seconds of the met first responses.

        One query fetches each clock's calendar seconds, start and stop (epoch seconds) and
        team calendar; the median is taken from the sorted list, and each calendar's open
        intervals over the whole span are walked once and measured by prefix sums."""
        q = self.scoped(
            select(
                self.clock_seconds(),
                self.epoch(SlaClock.started_at),
                self.epoch(SlaClock.stopped_at),
                Team.calendar,
            )
            .join(Conversation, Conversation.id == SlaClock.conversation_id)
            .outerjoin(Team, Team.id == Conversation.team_id)
            .where(
                SlaClock.target == Target.FIRST_RESPONSE.value,
                self.clock_period(),
                self.met(),
            )
        )
        seconds: list[float] = []
        spans: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
        for secs, a, b, calendar in self.s.execute(q):
            seconds.append(float(secs))
            spans[calendar].append((float(a), float(b)))
        if not seconds:
            return None, None
        seconds.sort()
        mid = len(seconds) // 2
        med = seconds[mid] if len(seconds) % 2 else (seconds[mid - 1] + seconds[mid]) / 2
        total = 0.0
        for name, pairs in sorted(spans.items(), key=lambda kv: kv[0] or ""):
            meter = BusinessMeter(self.ctx.settings.calendar(name), pairs)
            total += meter.total(pairs)
        return _round(med), _avg(total, len(seconds))

    def response(
        self, clocks: ClockFigures, first_responses: tuple[float | None, float | None]
    ) -> dict[str, Any]:
        g = self.req.goals
        first = clocks.pick(Target.FIRST_RESPONSE.value)
        responses = clocks.pick(*RESPONSE_TARGETS)
        resolution = clocks.pick(Target.RESOLUTION.value)
        seller = clocks.pick(Target.SELLER_REPLY.value)
        frt_median, frt_business = first_responses
        out: dict[str, Any] = {}
        lower = {"higher": False}
        _figure(out, "first_response_avg_s", _avg(first.met_seconds, first.met),
                g.first_response_s, **lower)  # fmt: skip
        _figure(out, "first_response_median_s", frt_median, g.first_response_s, **lower)
        _figure(out, "first_response_business_avg_s", frt_business, g.first_response_s, **lower)
        out["first_responses"] = first.met
        art_target = (
            g.average_response_quarter_s if self.p.kind == "quarter" else g.average_response_s
        )
        _figure(out, "average_response_s", _avg(responses.met_seconds, responses.met),
                art_target, **lower)  # fmt: skip
        out["responses_met"] = responses.met
        _figure(out, "resolution_avg_s", _avg(resolution.met_elapsed, resolution.met),
                g.resolution_s, **lower)  # fmt: skip
        out["resolutions"] = resolution.met
        _figure(out, "responded_within_target_pct", responses.pct(), g.answered_pct)
        out["responded_within_target"] = responses.as_dict()
        _figure(out, "resolved_within_24h_pct", resolution.pct(), g.resolved_pct)
        out["resolved_within_24h"] = resolution.as_dict()
        _figure(out, "seller_replied_within_4h_pct", seller.pct(), g.seller_pct)
        out["seller_replied_within_4h"] = seller.as_dict()
        weeks = {label: clocks.by_week.get(label, [0, 0]) for label in self.week_labels()}
        out["by_week"] = {k: _pct(a, a + b) for k, (a, b) in weeks.items()}
        return out

    def escalations(self) -> dict[str, Any]:
        base = self.scoped(
            select(Escalation.id)
            .join(Conversation, Conversation.id == Escalation.conversation_id)
            .where(self.in_period(Escalation.created_at))
        )
        by_reason = {
            str(reason): int(n)
            for reason, n in self.s.execute(
                base.with_only_columns(Escalation.reason, func.count(Escalation.id)).group_by(
                    Escalation.reason
                )
            )
        }
        by_level = {
            str(level): int(n)
            for level, n in self.s.execute(
                base.with_only_columns(Escalation.level, func.count(Escalation.id)).group_by(
                    Escalation.level
                )
            )
        }
        automatic = self.s.scalar(
            base.with_only_columns(func.count(Escalation.id)).where(Escalation.automatic.is_(True))
        )
        return {
            "total": sum(by_level.values()),
            "automatic": int(automatic or 0),
            "by_reason": by_reason,
            "by_level": by_level,
        }

    def satisfaction(self) -> dict[str, Any]:
        g = self.req.goals
        q = (
            select(
                func.count(Feedback.id),
                func.count(Feedback.rating),
                func.sum(Feedback.rating),
                func.count(Feedback.nps),
                func.count(Feedback.id).filter(Feedback.nps >= 9),
                func.count(Feedback.id).filter(Feedback.nps <= 6),
            )
            .join(Conversation, Conversation.id == Feedback.conversation_id)
            .where(self.in_period(Feedback.submitted_at))
        )
        n, rated, rating_sum, nps_n, promoters, detractors = self.s.execute(self.scoped(q)).one()
        complaints_q = select(
            func.count(Conversation.id),
            func.count(Conversation.id).filter(Conversation.status.in_(RESOLVED)),
        ).where(
            Conversation.kind == Kind.ISSUE_REPORT.value,
            self.in_period(Conversation.created_at),
        )
        complaints, resolved = self.s.execute(self.scoped(complaints_q)).one()
        out: dict[str, Any] = {"responses": int(n)}
        _figure(out, "rating_avg", _avg(rating_sum, rated, 2), g.rating)
        out["ratings"] = int(rated)
        out["nps"] = (
            round(100.0 * (int(promoters) - int(detractors)) / int(nps_n), 1) if nps_n else None
        )
        out["nps_responses"] = int(nps_n)
        out["promoters"] = int(promoters)
        out["detractors"] = int(detractors)
        out["complaints"] = int(complaints)
        out["complaints_resolved"] = int(resolved)
        out["complaint_resolution_pct"] = _pct(int(resolved), int(complaints))
        return out

    def moderation(self) -> dict[str, Any]:
        """Flags raised in the period; decided = the flag's decision time, else the moment its
        moderation conversation was resolved (its moderation clock met)."""
        g = self.req.goals
        clock = aliased(SlaClock)
        decided = func.coalesce(Flag.decided_at, clock.stopped_at)
        decided_by_now = and_(decided.is_not(None), decided <= self.as_of)
        took = self.secs(Flag.flagged_at, decided)
        waited = self.secs(Flag.flagged_at, literal(self.as_of, UTCDateTime()))
        in_time = and_(decided_by_now, took <= g.moderation_s)
        missed = or_(
            and_(decided_by_now, took > g.moderation_s),
            and_(not_(decided_by_now), waited >= g.moderation_s),
        )
        q = (
            select(
                func.count(Flag.id),
                func.count(Flag.id).filter(decided_by_now),
                func.count(Flag.id).filter(in_time),
                func.count(Flag.id).filter(missed),
            )
            .outerjoin(Conversation, Conversation.id == Flag.conversation_id)
            .outerjoin(
                clock,
                and_(
                    clock.conversation_id == Flag.conversation_id,
                    clock.target == Target.MODERATION.value,
                    clock.seq == 1,
                    clock.state == ClockState.MET.value,
                ),
            )
            .where(self.in_period(Flag.flagged_at))
        )
        n, n_decided, n_in, n_missed = self.s.execute(self.scoped(q)).one()
        out: dict[str, Any] = {"flags": int(n), "decided": int(n_decided)}
        _figure(out, "decided_within_12h_pct", _pct(int(n_in), int(n_in) + int(n_missed)),
                g.moderation_pct)  # fmt: skip
        out["missed"] = int(n_missed)
        out["pending"] = int(n) - int(n_in) - int(n_missed)
        return out

    def agents(self, clocks: ClockFigures) -> list[dict[str, Any]]:
        rows = clocks.agents
        resolved = self.scoped(
            select(ConversationEvent.actor_agent_id, func.count(ConversationEvent.id))
            .join(Conversation, Conversation.id == ConversationEvent.conversation_id)
            .where(
                self.in_period(ConversationEvent.at),
                ConversationEvent.field == "status",
                ConversationEvent.new.in_(RESOLVED),
                or_(ConversationEvent.old.is_(None), ConversationEvent.old.not_in(RESOLVED)),
                ConversationEvent.actor_agent_id.is_not(None),
            )
            .group_by(ConversationEvent.actor_agent_id)
        )
        for agent_id, n in self.s.execute(resolved):
            rows[int(agent_id)].resolved += int(n)
        ratings = self.scoped(
            select(Conversation.assignee_id, func.sum(Feedback.rating), func.count(Feedback.rating))
            .join(Conversation, Conversation.id == Feedback.conversation_id)
            .where(self.in_period(Feedback.submitted_at), Conversation.assignee_id.is_not(None))
            .group_by(Conversation.assignee_id)
        )
        for agent_id, total, n in self.s.execute(ratings):
            if n:
                rows[int(agent_id)].rating_sum += float(total)
                rows[int(agent_id)].ratings += int(n)
        if not rows:
            return []
        names = {
            a_id: (username, display)
            for a_id, username, display in self.s.execute(
                select(Agent.id, Agent.username, Agent.display_name).where(Agent.id.in_(rows))
            )
        }
        out = []
        for agent_id, r in rows.items():
            username, display = names.get(agent_id, (f"#{agent_id}", ""))
            out.append(
                {
                    "agent": username,
                    "name": display,
                    "replies": r.replies,
                    "first_responses": r.first_responses,
                    "first_response_avg_s": _avg(r.first_seconds, r.first_responses),
                    "responded_within_target_pct": _pct(r.in_time, r.in_time + r.missed),
                    "resolved": r.resolved,
                    "rating_avg": _avg(r.rating_sum, r.ratings, 2),
                }
            )
        return sorted(out, key=lambda r: r["agent"])

    def sellers(self, clocks: ClockFigures) -> list[dict[str, Any]]:
        g = self.req.goals
        if not clocks.sellers:
            return []
        ids = sorted(clocks.sellers)
        names: dict[int, tuple[str, str]] = {}
        for i in range(0, len(ids), 5000):
            chunk = ids[i : i + 5000]
            names.update(
                (pid, (ext, name or ""))
                for pid, ext, name in self.s.execute(
                    select(Party.id, Party.external_id, Party.name).where(Party.id.in_(chunk))
                )
            )
        out = []
        for party_id, o in clocks.sellers.items():
            ext, name = names.get(party_id, (f"#{party_id}", ""))
            pct = o.pct()
            if pct is not None and pct >= g.seller_pct and o.measured >= g.seller_top_min:
                standing = "top"
            elif pct is not None and pct < g.seller_warning_pct:
                standing = "warning"
            else:
                standing = "ok"
            out.append(
                {
                    "seller": ext,
                    "name": name,
                    "inquiries": o.total,
                    "replied_in_time": o.in_time,
                    "missed": o.missed,
                    "pending": o.pending,
                    "replied_within_4h_pct": pct,
                    "average_reply_s": _avg(o.met_seconds, o.met),
                    "standing": standing,
                }
            )
        return sorted(out, key=lambda r: r["seller"])

    def adoption(self) -> dict[str, Any]:
        """Listings active now that existed before the period ended (no history is kept of
        when a listing was deactivated, so this is today's state of those listings)."""
        active, enabled = self.s.execute(
            select(
                func.count(Listing.id),
                func.count(Listing.id).filter(Listing.messaging_enabled.is_(True)),
            ).where(Listing.active.is_(True), Listing.created_at < self.end)
        ).one()
        out: dict[str, Any] = {"active_listings": int(active), "messaging_enabled": int(enabled)}
        _figure(out, "pct", _pct(int(enabled), int(active)), self.req.goals.adoption_pct)
        return out

    def budget(self, clocks: ClockFigures) -> dict[str, Any]:
        g = self.req.goals
        elapsed = (min(self.as_of, self.end) - self.start).total_seconds()
        length = (self.end - self.start).total_seconds()
        share = (
            Fraction(0) if elapsed <= 0 else min(Fraction(elapsed) / Fraction(length), Fraction(1))
        )
        return {
            "answered_within_target": error_budget(
                clocks.pick(*RESPONSE_TARGETS), g.answered_pct, share
            ),
            "resolved_within_24h": error_budget(
                clocks.pick(Target.RESOLUTION.value), g.resolved_pct, share
            ),
            "seller_replied_within_4h": error_budget(
                clocks.pick(Target.SELLER_REPLY.value), g.seller_pct, share
            ),
        }


def error_budget(o: Outcomes, target_pct: int, elapsed_share: Fraction) -> dict[str, Any]:
    """How many more misses the period can absorb and still meet ``target_pct``.

    The population is every clock started in the period (excused ones aside); an unfinished
    period is projected to its end at the rate so far, and so are the misses (at the miss
    rate of the clocks already decided). Exact arithmetic: 90% of 10 allows exactly 1 miss.
    """
    population = o.total - o.excused
    if population and 0 < elapsed_share < 1:
        projected = int(-(-Fraction(population) // elapsed_share))  # ceil
    else:
        projected = population
    allowed = int(Fraction(projected) * (100 - Fraction(target_pct)) / 100)
    if o.measured:
        rate = Fraction(o.missed, o.measured)
        projected_misses = o.missed + rate * (projected - o.measured)
    else:
        projected_misses = Fraction(o.missed)
    return {
        "target_pct": target_pct,
        "population": population,
        "decided": o.measured,
        "missed": o.missed,
        "pending": o.pending,
        "projected_population": projected,
        "allowed_misses": allowed,
        "budget_left": allowed - o.missed,
        "projected_misses": round(float(projected_misses), 1),
        "will_meet": None if not projected else projected_misses <= allowed,
    }


class BusinessMeter:
    """Business seconds between instants (epoch seconds) on one calendar, by prefix sums over
    its open intervals between the earliest start and the latest stop: the same result as
    ``calendar.between``, in O(log n) per pair."""

    def __init__(self, calendar: BusinessCalendar, spans: Sequence[tuple[float, float]]):
        lo = datetime.fromtimestamp(min(a for a, _ in spans), UTC)
        hi = datetime.fromtimestamp(max(b for _, b in spans), UTC)
        intervals = [
            (s.timestamp(), e.timestamp())
            for s, e in (calendar.open_intervals(lo, hi + timedelta(seconds=1)) if hi > lo else [])
        ]
        self.starts = [s for s, _ in intervals]
        self.ends = [e for _, e in intervals]
        self.before = [0.0, *accumulate(e - s for s, e in intervals)]

    def upto(self, t: float) -> float:
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        return self.before[i] + min(t, self.ends[i]) - self.starts[i]

    def __call__(self, a: float, b: float) -> float:
        return max(self.upto(b) - self.upto(a), 0.0)

    def total(self, pairs: Iterable[tuple[float, float]]) -> float:
        """The sum over many pairs (the same arithmetic, without a call per instant)."""
        starts, ends, before = self.starts, self.ends, self.before
        result = 0.0
        for a, b in pairs:
            i = bisect_right(starts, b) - 1
            j = bisect_right(starts, a) - 1
            up_b = before[i] + min(b, ends[i]) - starts[i] if i >= 0 else 0.0
            up_a = before[j] + min(a, ends[j]) - starts[j] if j >= 0 else 0.0
            if up_b > up_a:
                result += up_b - up_a
        return result


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def canonical(value: Any) -> Any:
    """Dicts with keys in order (numeric keys numerically), recursively: stable output."""
    if isinstance(value, dict):

        def key(k: str) -> tuple[int, int, str]:
            return (0, int(k), "") if k.isdigit() else (1, 0, k)

        return {k: canonical(value[k]) for k in sorted(value, key=key)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value
