"""The SLA sweep: breaches marked set-based, automatic escalations and at-risk alerts, once each.

Entry points (``now`` is the instant to evaluate at; the scheduler passes its clock or --as-of)::

    sweep.run(ctx, sched_settings, now)          # -> SweepReport: mark breaches, escalate
    sweep.alert_at_risk(ctx, sched_settings, now) # -> AlertReport

Exactly once, whatever the number of schedulers:

- Breach: ``UPDATE sla_clocks SET breached_at=:now WHERE state='running' AND due_at<=:now AND
  breached_at IS NULL RETURNING ...`` — one statement; the winner also appends the ``breached``
  event to the clock log.
- Escalation: candidates are read from database state (running clocks already marked breached,
  no escalation yet at that level), so a sweep after downtime finds everything overdue once;
  each ``(conversation, level)`` is ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and only a
  row actually inserted leads to the routing, the conversation update (Core, with
  ``version = version + 1``), the e-mails and the audit event.
  - buyer_seller with the seller's reply breached: routed to the support team
    (``settings.routing["user_admin"]``), level 1 ``seller_unresponsive`` to its lead, and the
    seller notified (outbound ``notification`` + e-mail).
  - user_admin / issue_report with a response or resolution clock breached: level 1
    ``sla_breached`` to the team's lead; the same clock still running ``level2_after`` (half)
    of its target after its due time: level 2 ``still_unanswered`` to management (an admin).
  - flags (moderation) are marked breached but not escalated automatically.
- At-risk alert: ``UPDATE sla_clocks SET alerted_at=:now WHERE id=... AND alerted_at IS NULL``
  for the clock behind the conversation's deadline once it enters its last share; an e-mail
  to the assignee, or to the team's leads when unassigned.

Each conversation is handled in its own SAVEPOINT inside a chunk transaction; a failure rolls
back that conversation only (the next sweep retries it), and if the chunk itself cannot
commit, its conversations are retried one transaction each.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from db.enums import ClockState, Kind, Role, Target
from db.models import (
    Agent,
    ClockEvent,
    Conversation,
    ConversationEvent,
    Escalation,
    SlaClock,
    Team,
)
from helpdesk_tui.scheduler_settings import SchedulerSettings
from helpdesk_tui.services import audit, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.notify import (
    enqueue_email,
    enqueue_outbound,
    insert_ignore,
    party_address,
    table,
)

log = logging.getLogger(__name__)

ACTOR = "scheduler"
SUPPORT_KINDS = (Kind.USER_ADMIN.value, Kind.ISSUE_REPORT.value)
SUPPORT_TARGETS = (
    Target.FIRST_RESPONSE.value,
    Target.NEXT_RESPONSE.value,
    Target.RESOLUTION.value,
)
CHUNK = 100


# -- per-item transactions -------------------------------------------------------------------------
@dataclass
class ItemRun:
    """What happened to each item of a run: acted on, skipped (already done), failed."""

    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def run_per_item(
    ctx: Context,
    ids: Sequence[int],
    fn: Callable[[Session, int], bool],
    *,
    after: Callable[[Session, list[int]], None] | None = None,
    chunk: int = CHUNK,
) -> ItemRun:
    """Run ``fn(session, id)`` for each id, each in a SAVEPOINT, ``chunk`` ids a transaction.

    ``fn`` returns True when it acted. ``after(session, acted_ids)`` runs at the end of the
    chunk's transaction (e.g. one set-based clock recompute). A failing item is rolled back
    alone and reported; a chunk that cannot commit is retried one item a transaction.
    """
    run = ItemRun()
    items = list(ids)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        try:
            done, failed = ctx.db.write(lambda s, p=part: _chunk(s, p, fn, after))  # type: ignore[misc]
        except Exception as exc:
            log.warning("chunk of %d failed (%s): retrying one by one", len(part), exc)
            done, failed = [], {}
            for item in part:
                try:
                    d, f = ctx.db.write(lambda s, i=item: _chunk(s, [i], fn, after))  # type: ignore[misc]
                except Exception as one_exc:
                    log.exception("item %s failed", item)
                    failed[item] = _short(one_exc)
                    continue
                done.extend(d)
                failed.update(f)
        run.done.extend(done)
        run.failed.update(failed)
    return run


def _chunk(
    s: Session,
    part: list[int],
    fn: Callable[[Session, int], bool],
    after: Callable[[Session, list[int]], None] | None,
) -> tuple[list[int], dict[int, str]]:
    done: list[int] = []
    failed: dict[int, str] = {}
    for item in part:
        try:
            with s.begin_nested():
                acted = fn(s, item)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the whole transaction is gone: Database.write retries it
            log.exception("item %s failed", item)
            failed[item] = _short(exc)
            continue
        except Exception as exc:
            log.exception("item %s failed", item)
            failed[item] = _short(exc)
            continue
        if acted:
            done.append(item)
    if after is not None and done:
        after(s, done)
    return done, failed


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


# -- breaches --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Breach:
    clock_id: int
    conversation_id: int
    target: str
    due_at: datetime


def mark_breaches(ctx: Context, now: datetime) -> list[Breach]:
    """Mark every newly breached clock (one set-based UPDATE) and log the breach once."""

    def fn(s: Session) -> list[Breach]:
        t = table(SlaClock)
        rows = s.execute(
            update(t)
            .where(
                SlaClock.state == ClockState.RUNNING.value,
                SlaClock.due_at <= now,
                SlaClock.breached_at.is_(None),
            )
            .values(breached_at=now)
            .returning(
                SlaClock.id,
                SlaClock.conversation_id,
                SlaClock.target,
                SlaClock.seq,
                SlaClock.due_at,
                SlaClock.policy,
            )
        ).all()
        if rows:
            s.execute(
                table(ClockEvent).insert(),
                [
                    {
                        "conversation_id": r.conversation_id,
                        "target": r.target,
                        "seq": r.seq,
                        "event": "breached",
                        "at": r.due_at,
                        "due_at": r.due_at,
                        "cause": f"past due, found by the sweep at {now:%Y-%m-%d %H:%M:%S}Z",
                        "policy": r.policy,
                        "recorded_at": now,
                    }
                    for r in rows
                ],
            )
        return [Breach(r.id, r.conversation_id, r.target, r.due_at) for r in rows]

    return ctx.db.write(fn)


# -- escalations -----------------------------------------------------------------------------------
@dataclass
class SweepReport:
    breached: int = 0
    escalated: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0})
    failed: dict[int, str] = field(default_factory=dict)

    def line(self) -> str:
        text = (
            f"breached {self.breached}, escalated level 1: {self.escalated.get(1, 0)}, "
            f"level 2: {self.escalated.get(2, 0)}"
        )
        if self.failed:
            first = next(iter(self.failed.items()))
            text += f"; {len(self.failed)} failed (#{first[0]}: {first[1]})"
        return text


def escalation_candidates(
    s: Session, cfg: SchedulerSettings, now: datetime, only: list[int] | None = None
) -> dict[int, set[int]]:
    """conversation id -> levels due, from database state only (catch-up after downtime)."""
    query = (
        select(
            SlaClock.conversation_id,
            Conversation.kind,
            Conversation.escalation_level,
            SlaClock.due_at,
            SlaClock.target_s,
        )
        .join(Conversation, Conversation.id == SlaClock.conversation_id)
        .where(
            SlaClock.state == ClockState.RUNNING.value,
            SlaClock.breached_at.is_not(None),
            SlaClock.due_at <= now,
            Conversation.is_open == true(),
            Conversation.escalation_level < 2,
            or_(
                and_(
                    Conversation.kind == Kind.BUYER_SELLER.value,
                    SlaClock.target == Target.SELLER_REPLY.value,
                    Conversation.escalation_level < 1,
                ),
                and_(
                    Conversation.kind.in_(SUPPORT_KINDS),
                    SlaClock.target.in_(SUPPORT_TARGETS),
                ),
            ),
        )
    )
    if only is not None:
        query = query.where(SlaClock.conversation_id.in_(only))
    rows = s.execute(query).all()
    wanted: dict[int, set[int]] = defaultdict(set)
    for conv_id, kind, level, due_at, target_s in rows:
        if level < 1:
            wanted[conv_id].add(1)
        if (
            kind in SUPPORT_KINDS
            and level < 2
            and due_at is not None
            and due_at + timedelta(seconds=target_s * cfg.level2_after) <= now
        ):
            wanted[conv_id].add(2)
    if not wanted:
        return {}
    existing = s.execute(
        select(Escalation.conversation_id, Escalation.level).where(
            Escalation.conversation_id.in_(list(wanted))
        )
    ).all()
    for conv_id, level in existing:
        wanted[conv_id].discard(level)
    return {k: v for k, v in sorted(wanted.items()) if v}


def _lead_of(s: Session, team_id: int | None) -> Agent | None:
    q = (
        select(Agent)
        .where(Agent.role == Role.LEAD.value, Agent.active.is_(True))
        .order_by(Agent.id)
    )
    if team_id is not None:
        in_team = s.scalar(q.where(Agent.team_id == team_id))
        if in_team is not None:
            return in_team
    return s.scalar(q)


def _admin(s: Session) -> Agent | None:
    return s.scalar(
        select(Agent)
        .where(Agent.role == Role.ADMIN.value, Agent.active.is_(True))
        .order_by(Agent.id)
    )


def _team_id(s: Session, name: str | None) -> int | None:
    if not name:
        return None
    return s.scalar(select(Team.id).where(Team.name == name))


def escalate(
    ctx: Context, cfg: SchedulerSettings, now: datetime, report: SweepReport | None = None
) -> SweepReport:
    """Create every due automatic escalation once, one SAVEPOINT per conversation."""
    report = report or SweepReport()
    with ctx.db.read() as s:
        wanted = escalation_candidates(s, cfg, now)
    if not wanted:
        return report
    support_team = ctx.settings.routing.get(Kind.USER_ADMIN.value)
    levels_made: dict[int, list[int]] = {}  # per conversation; counted once committed

    def one(s: Session, conv_id: int) -> bool:
        # re-read inside the transaction: an agent may have answered since the candidate query
        levels = escalation_candidates(s, cfg, now, [conv_id]).get(conv_id, set())
        if not levels:
            return False
        conv = s.get(Conversation, conv_id)
        if conv is None or not conv.is_open:
            return False
        routed_team: int | None = None
        if conv.kind == Kind.BUYER_SELLER.value:
            routed_team = _team_id(s, support_team)
        team_id = routed_team if routed_team is not None else conv.team_id
        made: list[tuple[int, int, Agent | None, str]] = []
        for level in sorted(levels):
            if conv.kind == Kind.BUYER_SELLER.value:
                reason = "seller_unresponsive"
            else:
                reason = "sla_breached" if level == 1 else "still_unanswered"
            to = _lead_of(s, team_id) if level == 1 else _admin(s)
            esc_id = insert_ignore(
                s,
                table(Escalation),
                {
                    "conversation_id": conv_id,
                    "level": level,
                    "reason": reason,
                    "by_agent_id": None,
                    "to_agent_id": to.id if to else None,
                    "to_team_id": team_id,
                    "automatic": True,
                    "created_at": now,
                },
                ["conversation_id", "level"],
            )
            if esc_id is not None:
                made.append((level, esc_id, to, reason))
        if not made:
            return False  # another scheduler did it
        old_level, old_team = conv.escalation_level, conv.team_id
        new_level = max(old_level, *(m[0] for m in made))
        values: dict[str, object] = {
            "escalation_level": case(
                (Conversation.escalation_level < new_level, new_level),
                else_=Conversation.escalation_level,
            ),
            "version": Conversation.version + 1,
            "updated_at": now,
        }
        if routed_team is not None and routed_team != old_team:
            values["team_id"] = routed_team
            names = dict(
                s.execute(
                    select(Team.id, Team.name).where(
                        Team.id.in_([t for t in (old_team, routed_team) if t])
                    )
                ).all()
            )
            s.add(
                ConversationEvent(
                    conversation_id=conv_id,
                    field="team",
                    old=names.get(old_team) if old_team else None,
                    new=names.get(routed_team),
                    at=now,
                )
            )
        s.execute(update(table(Conversation)).where(Conversation.id == conv_id).values(**values))
        levels_made[conv_id] = [m[0] for m in made]
        for level, esc_id, to, reason in made:
            _escalation_mail(s, conv, level, esc_id, to, reason, now)
            audit.record(
                s,
                ACTOR,
                "conversation.escalate",
                "conversation",
                conv_id,
                before={"level": old_level},
                after={"level": level, "to": to.username if to else None, "automatic": True},
                detail=reason,
            )
        if conv.kind == Kind.BUYER_SELLER.value:
            _notify_seller(ctx, cfg, s, conv, now)
        return True

    def after(s: Session, ids: list[int]) -> None:
        sla.recompute(s, ctx.settings, ids, cause="automatic escalation")

    result = run_per_item(ctx, list(wanted), one, after=after)
    for conv_id in result.done:
        for level in levels_made.get(conv_id, []):
            report.escalated[level] = report.escalated.get(level, 0) + 1
    report.failed.update(result.failed)
    return report


def _escalation_mail(
    s: Session, conv: Conversation, level: int, esc_id: int, to: Agent | None, reason: str,
    now: datetime,
) -> None:  # fmt: skip
    if to is None:
        return
    what = {
        "seller_unresponsive": "the seller has not replied within the target",
        "sla_breached": "its SLA deadline has passed",
        "still_unanswered": "it is still unanswered well past its deadline",
    }.get(reason, reason)
    enqueue_email(
        s,
        key=f"email:escalation:{esc_id}:{to.id}",
        to=to.email,
        subject=f"[helpdesk] Escalated to level {level}: {conv.subject}",
        body=(
            f'Hi {to.display_name},\n\nConversation {conv.external_id} ("{conv.subject}", '
            f"{conv.kind}, priority {conv.priority}) was escalated to you automatically (level "
            f"{level}): {what}.\n\nOpen it in the console: helpdesk, then search "
            f"{conv.external_id}.\n"
        ),
        type="escalation",
        now=now,
        conversation_id=conv.id,
        payload={"escalation": esc_id, "level": level, "reason": reason},
        missing=f"agent {to.username} has no e-mail address",
    )


def _notify_seller(
    ctx: Context, cfg: SchedulerSettings, s: Session, conv: Conversation, now: datetime
) -> None:
    seller = conv.counterpart or (conv.listing.seller if conv.listing else None)
    if seller is None:
        return
    title = conv.listing.title if conv.listing else conv.subject
    body = (
        f'A buyer has been waiting for your reply about "{title}" for more than the 4 hours '
        "we promise. Our support team has stepped in; please reply to the buyer as soon as "
        "you can."
    )
    enqueue_outbound(
        s,
        key=f"seller-unresponsive:{conv.id}",
        type="notification",
        recipient=seller.external_id,
        body=body,
        now=now,
        conversation_id=conv.id,
        payload={"system": True, "to": {"id": seller.external_id, "role": "seller"},
                 "reason": "seller_unresponsive"},
    )  # fmt: skip
    enqueue_email(
        s,
        key=f"email:seller-unresponsive:{conv.id}",
        to=party_address(seller.email, seller.external_id, cfg.smtp),
        subject=f"A buyer is waiting for your reply: {title}",
        body=body,
        type="seller_unresponsive",
        now=now,
        conversation_id=conv.id,
        missing=f"seller {seller.external_id} has no e-mail address",
    )


def run(ctx: Context, cfg: SchedulerSettings, now: datetime) -> SweepReport:
    """One sweep: mark new breaches, then create the escalations that are due."""
    report = SweepReport()
    report.breached = len(mark_breaches(ctx, now))
    return escalate(ctx, cfg, now, report)


# -- at-risk alerts --------------------------------------------------------------------------------
@dataclass
class AlertReport:
    alerted: int = 0
    emails: int = 0
    failed: dict[int, str] = field(default_factory=dict)

    def line(self) -> str:
        text = f"alerted {self.alerted} clock(s) at risk ({self.emails} e-mail(s))"
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def alert_at_risk(ctx: Context, cfg: SchedulerSettings, now: datetime) -> AlertReport:
    """Alert once per clock when the conversation's deadline enters its last share."""
    policy = ctx.settings.policy
    longest = max((r.seconds for r in policy.rules.values()), default=0)
    horizon = timedelta(seconds=longest * policy.at_risk_fraction + 1)
    with ctx.db.read() as s:
        rows = s.execute(
            select(SlaClock.id)
            .join(
                Conversation,
                and_(
                    Conversation.id == SlaClock.conversation_id,
                    Conversation.due_for == SlaClock.target,
                    Conversation.due_at == SlaClock.due_at,
                ),
            )
            .where(
                Conversation.is_open == true(),
                Conversation.queue_due_at > now,
                Conversation.queue_due_at <= now + horizon,
                Conversation.risk_at <= now,
                SlaClock.state == ClockState.RUNNING.value,
                SlaClock.alerted_at.is_(None),
                SlaClock.breached_at.is_(None),
            )
            .order_by(SlaClock.id)
        ).all()
    report = AlertReport()
    mails: dict[int, int] = {}

    def one(s: Session, clock_id: int) -> bool:
        got = s.execute(
            update(table(SlaClock))
            .where(SlaClock.id == clock_id, SlaClock.alerted_at.is_(None))
            .values(alerted_at=now)
            .returning(SlaClock.conversation_id, SlaClock.target, SlaClock.due_at)
        ).first()
        if got is None:
            return False  # another scheduler alerted it
        conv = s.get(Conversation, got.conversation_id)
        if conv is None:
            return True
        if conv.assignee is not None and conv.assignee.active:
            recipients = [conv.assignee]
        else:
            recipients = list(
                s.scalars(
                    select(Agent)
                    .where(
                        Agent.role == Role.LEAD.value,
                        Agent.active.is_(True),
                        Agent.team_id == conv.team_id,
                    )
                    .order_by(Agent.id)
                )
            ) if conv.team_id is not None else []  # fmt: skip
        left = got.due_at - now
        minutes = int(left.total_seconds() // 60)
        mails[clock_id] = sum(1 for a in recipients if a.email)
        for agent in recipients:
            enqueue_email(
                s,
                key=f"email:risk:{clock_id}:{agent.id}",
                to=agent.email,
                subject=f"[helpdesk] Due in {minutes} min: {conv.subject}",
                body=(
                    f"Hi {agent.display_name},\n\nConversation {conv.external_id} "
                    f'("{conv.subject}") reaches its {got.target.replace("_", " ")} deadline '
                    f"at {got.due_at:%Y-%m-%d %H:%M}Z, in {minutes} minutes.\n"
                ),
                type="at_risk",
                now=now,
                conversation_id=conv.id,
                payload={"clock": clock_id, "target": got.target},
                missing=f"agent {agent.username} has no e-mail address",
            )
        return True

    result = run_per_item(ctx, [r[0] for r in rows], one)
    report.alerted = len(result.done)
    report.emails = sum(mails.get(i, 0) for i in result.done)
    report.failed = result.failed
    return report


__all__ = [
    "AlertReport",
    "Breach",
    "ItemRun",
    "SweepReport",
    "alert_at_risk",
    "escalate",
    "escalation_candidates",
    "mark_breaches",
    "run",
    "run_per_item",
]
