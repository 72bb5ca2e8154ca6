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

Escalations are set-based: ``ESCALATION_CHUNK`` (1,000) conversations per transaction, a handful
of statements whatever their number (the escalations with one ``INSERT ... ON CONFLICT DO
NOTHING RETURNING``, then the conversation updates, team events, outbox rows and audit events
of the rows actually inserted, each one bulk statement; a clock replay only for the threads
an escalation changes: see ``_replies_since``). A chunk that
fails is redone one conversation a transaction, so a failing conversation rolls back alone and
the rest land (the next sweep retries it). At-risk alerts and the other jobs using
``run_per_item`` handle each item in its own SAVEPOINT inside a chunk transaction.

``run`` marks the breaches in the transaction of the first chunk, right after the
conversations' update (the clocks past due are candidates before they are marked): one
commit, each conversation locked once by the foreign-key checks of the breach log, the
escalations and the outbox, and conversations locked before clocks, the order of intake and
clock replays (marking first would deadlock with them). Should that transaction fail, the
breaches are marked alone and the escalations redone as above. The sweep's transactions run
with the cyclic garbage collector paused (``gc_paused``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from db.bulk import allocate_ids, in_ids, insert_rows, pg_pipeline
from db.enums import Kind, MessageRole, Role, Target
from db.models import (
    Agent,
    ClockEvent,
    Conversation,
    ConversationEvent,
    Escalation,
    Listing,
    Message,
    OutboxItem,
    Party,
    SlaClock,
    Team,
    clock_running,
)
from helpdesk_tui.scheduler_settings import SchedulerSettings
from helpdesk_tui.services import audit, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.gc_pause import gc_paused
from helpdesk_tui.services.notify import (
    email_row,
    enqueue_email,
    enqueue_many,
    insert_ignore_many,
    outbound_row,
    outbox_rows,
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
    """Mark every newly breached clock (one set-based UPDATE) and log the breach once (its own
    transaction; :func:`run` does this in the transaction of the first escalations)."""

    with gc_paused():
        return ctx.db.write(lambda s: _mark_breaches(s, now))


def _mark_breaches(s: Session, now: datetime) -> list[Breach]:
    """The breach fence in the caller's transaction, and the ``breached`` clock-log rows of
    the clocks it marked (PostgreSQL: one statement, the log written from the UPDATE's
    RETURNING rows without a trip through Python)."""
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        marked = conn.exec_driver_sql(*_breach_sql(now)).all()
        return [Breach(i, c, t, d.astimezone(UTC)) for i, c, t, d in marked]
    t = table(SlaClock)
    rows = (
        s.connection()
        .execute(
            update(t)
            .where(
                clock_running(SlaClock.state),
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
        )
        .all()
    )
    clock_log = [
        {
            "conversation_id": r.conversation_id,
            "target": r.target,
            "seq": r.seq,
            "event": "breached",
            "at": r.due_at,
            "due_at": r.due_at,
            "cause": _breach_cause(now),
            "policy": r.policy,
            "recorded_at": now,
        }
        for r in rows
    ]
    insert_rows(conn, table(ClockEvent), clock_log)
    return [Breach(r.id, r.conversation_id, r.target, r.due_at) for r in rows]


def _breach_cause(now: datetime) -> str:
    return f"past due, found by the sweep at {now:%Y-%m-%d %H:%M:%S}Z"


def _breach_sql(now: datetime) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: the breach fence and its clock log, one statement (:func:`_mark_breaches`);
    it returns the clocks marked (id, conversation, target, due)."""
    return (
        "WITH b AS (UPDATE sla_clocks SET breached_at = %(now)s"
        # 'running' written out: the partial index's condition (db.models.clock_running)
        " WHERE state = 'running' AND due_at <= %(now)s AND breached_at IS NULL"
        " RETURNING id, conversation_id, target, seq, due_at, policy),"
        " log AS (INSERT INTO clock_events"
        " (conversation_id, target, seq, event, at, due_at, cause, policy, recorded_at)"
        " SELECT conversation_id, target, seq, 'breached', due_at, due_at, %(cause)s,"
        " policy, %(now)s FROM b ORDER BY id)"
        " SELECT id, conversation_id, target, due_at FROM b",
        {"now": now, "cause": _breach_cause(now)},
    )


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


class _Conv(NamedTuple):
    """What an escalation reads of a conversation (one set-based query per chunk; a named
    tuple, cheaper to build by the thousand than a frozen dataclass)."""

    id: int
    external_id: str
    kind: str
    subject: str
    priority: str
    team_id: int | None
    escalation_level: int
    listing_title: str | None
    seller_external_id: str | None
    seller_email: str | None


def escalation_candidates(
    s: Session,
    cfg: SchedulerSettings,
    now: datetime,
    only: list[int] | None = None,
    *,
    unmarked: bool = False,
) -> dict[int, set[int]]:
    """conversation id -> levels due, from database state only (catch-up after downtime).
    The clocks marked breached; with ``unmarked`` also those past due not marked yet (for a
    caller that marks them in the same transaction)."""
    return {k: c.levels for k, c in _candidates(s, cfg, now, only, unmarked=unmarked).items()}


@dataclass
class _Candidate:
    """A conversation with escalations due: what the escalation reads of it, and the levels."""

    conv: _Conv
    levels: set[int]


def _candidates(
    s: Session,
    cfg: SchedulerSettings,
    now: datetime,
    only: list[int] | None = None,
    *,
    unmarked: bool = False,
) -> dict[int, _Candidate]:
    """:func:`escalation_candidates` with what escalating them reads (conversation, listing,
    seller, levels already escalated), in one statement, by conversation id."""
    counterpart = aliased(Party)
    lister = aliased(Party)

    def escalated(level: int) -> Any:
        return (
            select(Escalation.id)
            .where(Escalation.conversation_id == Conversation.id, Escalation.level == level)
            .exists()
        )

    query = (
        select(
            SlaClock.due_at,
            SlaClock.target_s,
            Conversation.id,
            Conversation.external_id,
            Conversation.kind,
            Conversation.subject,
            Conversation.priority,
            Conversation.team_id,
            Conversation.escalation_level,
            Listing.title,
            Listing.id,
            counterpart.external_id,
            counterpart.email,
            lister.external_id,
            lister.email,
            escalated(1),
            escalated(2),
        )
        .join(Conversation, Conversation.id == SlaClock.conversation_id)
        .outerjoin(Listing, Listing.id == Conversation.listing_id)
        .outerjoin(counterpart, counterpart.id == Conversation.counterpart_id)
        .outerjoin(lister, lister.id == Listing.seller_id)
        .where(
            clock_running(SlaClock.state),
            true() if unmarked else SlaClock.breached_at.is_not(None),
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
            # a conversation at level 1 only once its level 2 is due (roughly: the exact
            # test is below), not every one escalated by an earlier sweep
            or_(Conversation.escalation_level < 1, _level2_due(s, cfg, now)),
        )
    )
    pg = _postgres(s)
    params: dict[str, Any] = {}
    if only is not None:
        query = query.where(in_ids(SlaClock.conversation_id, "only", pg))
        params["only"] = only
    elif pg:
        # The conversations looked up by the ids of the clocks past due (one array, computed
        # once): joined on their own, PostgreSQL estimates a few thousand clocks and reads
        # every open conversation for a hash join (25-35 ms at 100,000 open) instead of
        # looking a few thousand up by primary key (5 ms).
        k = aliased(SlaClock)  # (its own FROM: not correlated with the outer query's)
        due = (
            select(func.array_agg(k.conversation_id))
            .where(
                clock_running(k.state),
                true() if unmarked else k.breached_at.is_not(None),
                k.due_at <= now,
            )
            .scalar_subquery()
        )
        query = query.where(Conversation.id == any_(cast(due, ARRAY(Integer()))))
    out: dict[int, _Candidate] = {}
    for r in s.connection().execute(query, params):
        (due_at, target_s, conv_id, ext, kind, subject, priority, team_id, level, title,
         listing_id, cp_ext, cp_email, ls_ext, ls_email, has1, has2) = r  # fmt: skip
        found = out.get(conv_id)
        if found is None:
            if cp_ext is not None:
                seller_ext, seller_email = cp_ext, cp_email
            elif listing_id is not None:
                seller_ext, seller_email = ls_ext, ls_email
            else:
                seller_ext, seller_email = None, None
            conv = _Conv(
                conv_id, ext, kind, subject, priority, team_id, level,
                title if listing_id is not None else None, seller_ext, seller_email,
            )  # fmt: skip
            found = out[conv_id] = _Candidate(conv, set())
        if level < 1 and not has1:
            found.levels.add(1)
        if (
            kind in SUPPORT_KINDS
            and not has2
            and due_at is not None
            and due_at + timedelta(seconds=target_s * cfg.level2_after) <= now
        ):
            found.levels.add(2)
    return {k: v for k, v in sorted(out.items()) if v.levels}


def _level2_due(s: Session, cfg: SchedulerSettings, now: datetime) -> ColumnElement[bool]:
    """SQL: the clock's level 2 is due at ``now`` (``due_at + level2_after * target_s``), to
    within a second either way: a pre-filter, the caller tests the exact instant."""
    if _postgres(s):
        due_s: ColumnElement[Any] = func.extract("epoch", SlaClock.due_at)
    else:  # stored as text; julianday() reads it (UTC), in days since the Julian epoch
        due_s = (func.julianday(SlaClock.due_at) - 2440587.5) * 86400.0
    return due_s + SlaClock.target_s * cfg.level2_after <= now.timestamp() + 1.0


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


#: Conversations escalated in one transaction (set-based); a chunk that fails is redone one
#: conversation a transaction, so a poisoned conversation rolls back alone.
ESCALATION_CHUNK = 1000


def escalate(
    ctx: Context,
    cfg: SchedulerSettings,
    now: datetime,
    report: SweepReport | None = None,
    *,
    chunk: int = ESCALATION_CHUNK,
) -> SweepReport:
    """Create every due automatic escalation once: set-based, one transaction per ``chunk``
    conversations; a chunk that fails is retried one conversation a transaction.

    The first transaction finds the candidates itself and escalates the first chunk of them
    (a sweep with up to ``chunk`` to escalate reads them once); the rest go chunk by chunk,
    each re-reading its candidates inside its own transaction."""
    return _escalate(ctx, cfg, now, report or SweepReport(), chunk=chunk, mark=False)


def _escalate(
    ctx: Context,
    cfg: SchedulerSettings,
    now: datetime,
    report: SweepReport,
    *,
    chunk: int,
    mark: bool,
) -> SweepReport:
    """:func:`escalate`; with ``mark`` the breaches are marked first, in the same transaction
    as the first chunk of escalations (one commit; when that transaction fails, breaches are
    marked alone and the escalations redone as :func:`escalate` does)."""

    def count(made: dict[int, list[int]]) -> None:
        for levels in made.values():
            for level in levels:
                report.escalated[level] = report.escalated.get(level, 0) + 1

    def first(s: Session) -> tuple[int, list[int], dict[int, list[int]]]:
        # With ``mark``, the clocks past due are escalation candidates before they are marked
        # breached, and they are marked once the conversations are updated: this transaction
        # then locks conversations before clocks, as intake and every clock replay do (marking
        # first would lock clocks, then conversations: a deadlock with them).
        wanted = _candidates(s, cfg, now, unmarked=mark)
        ids = list(wanted)
        head = {i: wanted[i] for i in ids[:chunk]}
        made, breached = _escalate_set(ctx, cfg, s, list(head), now, head, mark=mark)
        if mark and breached is None:  # (nothing escalated: _escalate_set did not mark)
            breached = len(_mark_breaches(s, now))
        return breached or 0, ids[chunk:], made

    try:
        with gc_paused():
            breached, rest, made = ctx.db.write(first)
        report.breached += breached
        count(made)
        parts = [rest[i : i + chunk] for i in range(0, len(rest), chunk)]
    except Exception as exc:
        log.warning("escalating failed (%s): again chunk by chunk", exc)
        if mark:
            report.breached += len(mark_breaches(ctx, now))
        with ctx.db.read() as s:
            ids = list(escalation_candidates(s, cfg, now))
        # the failed first chunk one conversation a transaction, the rest as usual
        parts = [[i] for i in ids[:chunk]] + [
            ids[i : i + chunk] for i in range(chunk, len(ids), chunk)
        ]

    for part in parts:
        try:
            with gc_paused():
                made, _ = ctx.db.write(lambda s, p=part: _escalate_set(ctx, cfg, s, p, now))  # type: ignore[misc]
        except Exception as exc:
            if len(part) == 1:
                log.exception("conversation %s failed", part[0])
                report.failed[part[0]] = _short(exc)
                continue
            log.warning("escalating %d conversations failed (%s): one by one", len(part), exc)
            for conv_id in part:
                try:
                    one, _ = ctx.db.write(lambda s, i=conv_id: _escalate_set(ctx, cfg, s, [i], now))  # type: ignore[misc]
                except Exception as one_exc:
                    log.exception("conversation %s failed", conv_id)
                    report.failed[conv_id] = _short(one_exc)
                    continue
                count(one)
            continue
        count(made)
    return report


class _Planned(NamedTuple):
    """One escalation this call means to create, with its id allocated up front."""

    conv: _Conv
    level: int
    id: int
    to: Agent | None
    reason: str


def _escalate_set(
    ctx: Context,
    cfg: SchedulerSettings,
    s: Session,
    part: list[int],
    now: datetime,
    due: dict[int, _Candidate] | None = None,
    *,
    mark: bool = False,
) -> tuple[dict[int, list[int]], int | None]:
    """Escalate the conversations ``part`` in the caller's transaction, a handful of statements
    whatever their number. Returns conversation id -> levels this call created, and with
    ``mark`` the number of clocks it marked breached, right after the conversations' update
    (None when it escalated nothing and so marked nothing). ``due``: the levels due, when the
    caller read them in this transaction.

    The fence is the escalations' ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: only an
    escalation actually inserted here has effects (another scheduler's rows conflict and
    return nothing). Their ids are allocated first, so that the e-mails and audit events of
    every planned escalation are built before the insert returns, and those of the rows
    inserted are kept. On PostgreSQL the writes (the fence, the conversations' update, the
    replies query, the breach fence and its log, team events, outbox, audit) go down one
    pipeline (``db.bulk.pg_pipeline``): the rows are built while the server runs the
    statements already sent, and none waits for a round trip. Before it run the candidate
    query, the lead and team lookups and the id allocation; after it, a clock replay when
    one is due.

    Each row inserted that references a conversation takes a KEY SHARE lock on it (its
    foreign-key check; a heap write, logged), unless this transaction holds one already (an
    UPDATE that changes no key carries it to the new row version): the escalations, the
    breach log and the outbox rows lock each conversation once."""
    if due is None:
        # re-read inside the transaction: an agent may have answered since the candidate query
        due = _candidates(s, cfg, now, part)
    if not due:
        return {}, None
    support_team: int | None = None
    if any(c.conv.kind == Kind.BUYER_SELLER.value for c in due.values()):
        support_team = _team_id(s, ctx.settings.routing.get(Kind.USER_ADMIN.value))
    leads: dict[int | None, Agent | None] = {}
    admin: list[Agent | None] = []

    def lead(team_id: int | None) -> Agent | None:
        if team_id not in leads:
            leads[team_id] = _lead_of(s, team_id)
        return leads[team_id]

    def management() -> Agent | None:
        if not admin:
            admin.append(_admin(s))
        return admin[0]

    # what each escalation would be
    wanted: list[tuple[_Conv, int, Agent | None, str, int | None]] = []
    for conv_id in sorted(due):
        conv = due[conv_id].conv
        routed = support_team if conv.kind == Kind.BUYER_SELLER.value else None
        team_id = routed if routed is not None else conv.team_id
        for level in sorted(due[conv_id].levels):
            if conv.kind == Kind.BUYER_SELLER.value:
                reason = "seller_unresponsive"
            else:
                reason = "sla_breached" if level == 1 else "still_unanswered"
            wanted.append((conv, level, lead(team_id) if level == 1 else management(), reason,
                           team_id))  # fmt: skip
    if not wanted:
        return {}, None
    conn = s.connection()
    esc_ids = allocate_ids(conn, {"escalations": len(wanted)})["escalations"]
    plan: list[_Planned] = []
    rows: list[dict[str, object]] = []
    for (conv, level, to, reason, team_id), esc_id in zip(wanted, esc_ids, strict=True):
        plan.append(_Planned(conv, level, esc_id, to, reason))
        rows.append({
            "id": esc_id, "conversation_id": conv.id, "level": level, "reason": reason,
            "by_agent_id": None, "to_agent_id": to.id if to else None,
            "to_team_id": team_id, "automatic": True, "created_at": now,
        })  # fmt: skip
    team_names: dict[int, str] = {}
    if support_team is not None:
        team_names = {tid: name for tid, name in s.execute(select(Team.id, Team.name))}
    conflict = ["conversation_id", "level"]
    breached: int | None = None
    if _postgres(s):
        with pg_pipeline(conn) as pipe:
            fence = pipe.insert_ignore(table(Escalation), rows, conflict, ["id"])
            outbox = _outbox_of(cfg, plan, now)  # built while the server inserts
            inserted = {r[0] for r in pipe.rows(fence)}
            if not inserted:
                return {}, None
            kept = [p for p in plan if p.id in inserted]
            bumps, team_events = _moves(kept, support_team, team_names, now)
            pipe.send(*_bump_sql(bumps, now))
            sellers = _buyer_seller(kept)
            replies = pipe.send(*_replies_sql(sellers, now)) if sellers else None
            marked = pipe.send(*_breach_sql(now)) if mark else None
            pipe.insert(table(ConversationEvent), team_events)
            pipe.insert_ignore(
                table(OutboxItem),
                outbox_rows([row for esc_id, row in outbox if esc_id in inserted]),
                ["idempotency_key"],
            )
            pipe.insert(audit.TABLE, audit.rows(_audits_of(kept)))
            if marked is not None:
                breached = len(pipe.rows(marked))
            replay = [conv_id for (conv_id,) in pipe.rows(replies)] if replies else []
    else:
        inserted = {r[0] for r in insert_ignore_many(s, table(Escalation), rows, conflict, ["id"])}
        if not inserted:
            return {}, None
        kept = [p for p in plan if p.id in inserted]
        bumps, team_events = _moves(kept, support_team, team_names, now)
        _bump_conversations(conn, bumps, now)
        replay = _replies_since(s, _buyer_seller(kept), now)
        if mark:
            breached = len(_mark_breaches(s, now))
        insert_rows(conn, table(ConversationEvent), team_events)
        enqueue_many(s, [row for esc_id, row in _outbox_of(cfg, plan, now) if esc_id in inserted])
        audit.record_many(s, _audits_of(kept))
    made: dict[int, list[int]] = defaultdict(list)
    for p in kept:
        made[p.conv.id].append(p.level)
    if replay:  # (read after the conversations' update: it waits for a reply being written)
        sla.recompute(s, ctx.settings, sorted(replay), cause="automatic escalation")
    return {conv_id: sorted(levels) for conv_id, levels in made.items()}, breached


def _buyer_seller(kept: list[_Planned]) -> list[int]:
    return sorted({p.conv.id for p in kept if p.conv.kind == Kind.BUYER_SELLER.value})


def _replies_since(s: Session, conv_ids: list[int], now: datetime) -> list[int]:
    """The buyer_seller threads among ``conv_ids`` whose clocks an escalation at ``now``
    changes. An escalation changes no clock but one: from it on, an agent's message counts as
    the reply a buyer waits for. So only a thread with an agent message sent at or after
    ``now`` (a sweep run for a past instant, ``--as-of``, or a reply written while the sweep
    runs) needs its clocks replayed; for the rest a replay would write nothing. Read after
    the conversations' update, which waits for an intake writing to them."""
    if not conv_ids:
        return []
    return list(
        s.connection().scalars(
            select(Message.conversation_id)
            .where(
                in_ids(Message.conversation_id, "ids", _postgres(s)),
                Message.role == MessageRole.AGENT.value,
                Message.sent_at >= now,
            )
            .distinct(),
            {"ids": conv_ids},
        )
    )


def _replies_sql(conv_ids: list[int], now: datetime) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: :func:`_replies_since`'s query, for a pipeline."""
    return (
        "SELECT DISTINCT conversation_id FROM messages WHERE conversation_id = ANY(%(ids)s)"
        " AND role = %(agent)s AND sent_at >= %(now)s",
        {"ids": conv_ids, "agent": MessageRole.AGENT.value, "now": now},
    )


def _moves(
    kept: list[_Planned], support_team: int | None, team_names: dict[int, str], now: datetime
) -> tuple[list[tuple[int, int, int | None]], list[dict[str, object]]]:
    """The conversations' updates for the escalations made (id, new level, new team or None
    to keep it), and the team events of those moved to the support team."""
    by_conv: dict[int, list[_Planned]] = defaultdict(list)
    for p in kept:
        by_conv[p.conv.id].append(p)
    bumps: list[tuple[int, int, int | None]] = []
    team_events: list[dict[str, object]] = []
    for conv_id in sorted(by_conv):
        conv = by_conv[conv_id][0].conv
        new_level = max(conv.escalation_level, *(p.level for p in by_conv[conv_id]))
        routed = support_team if conv.kind == Kind.BUYER_SELLER.value else None
        moved = routed is not None and routed != conv.team_id
        bumps.append((conv_id, new_level, routed if moved else None))
        if moved:
            team_events.append({
                "conversation_id": conv_id, "field": "team",
                "old": team_names.get(conv.team_id) if conv.team_id else None,
                "new": team_names.get(routed) if routed is not None else None,
                "actor_agent_id": None, "at": now,
            })  # fmt: skip
    return bumps, team_events


def _outbox_of(
    cfg: SchedulerSettings, plan: list[_Planned], now: datetime
) -> list[tuple[int, dict[str, Any]]]:
    """The outbox rows of each planned escalation, with its id: the e-mail telling its agent,
    and for a buyer_seller thread the seller's notification and e-mail."""
    out: list[tuple[int, dict[str, Any]]] = []
    for p in plan:
        mail = _escalation_mail(p.conv, p.level, p.id, p.to, p.reason, now)
        if mail is not None:
            out.append((p.id, mail))
        if p.conv.kind == Kind.BUYER_SELLER.value:
            out.extend((p.id, row) for row in _notify_seller(cfg, p.conv, now))
    return out


def _audits_of(kept: list[_Planned]) -> list[dict[str, Any]]:
    out = []
    for p in kept:
        to = p.to.username if p.to else None
        out.append({
            "actor": ACTOR, "action": "conversation.escalate",
            "target_type": "conversation", "target_id": p.conv.id,
            "before": {"level": p.conv.escalation_level},
            "after": {"level": p.level, "to": to, "automatic": True},
            "detail": p.reason,
        })  # fmt: skip
    return out


def _postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _bump_conversations(
    conn: Connection, bumps: list[tuple[int, int, int | None]], now: datetime
) -> None:
    """Raise each conversation's level (never lower it), bump its version and move it to its
    new team when it has one (``bumps``: id, level, team or None): one ``UPDATE ... FROM
    unnest`` on PostgreSQL, one executemany on SQLite."""
    if not bumps:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(*_bump_sql(bumps, now))
        return
    conv_t = table(Conversation)
    conn.execute(
        update(conv_t)
        .where(conv_t.c.id == bindparam("b_id"))
        .values(
            escalation_level=case(
                (conv_t.c.escalation_level < bindparam("b_level"), bindparam("b_level")),
                else_=conv_t.c.escalation_level,
            ),
            team_id=func.coalesce(bindparam("b_team"), conv_t.c.team_id),
            version=conv_t.c.version + 1,
            updated_at=now,
        ),
        [{"b_id": i, "b_level": level, "b_team": team} for i, level, team in bumps],
    )


def _bump_sql(
    bumps: list[tuple[int, int, int | None]], now: datetime
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: :func:`_bump_conversations`'s statement."""
    ids, levels, teams = (list(column) for column in zip(*bumps, strict=True))
    return (
        "UPDATE conversations SET escalation_level = GREATEST(conversations.escalation_level,"
        " v.level), team_id = COALESCE(v.team, conversations.team_id),"
        " version = conversations.version + 1, updated_at = %(now)s"
        " FROM unnest(%(ids)b::bigint[], %(levels)b::integer[], %(teams)b::bigint[])"
        " AS v(id, level, team) WHERE conversations.id = v.id",
        {"ids": ids, "levels": levels, "teams": teams, "now": now},
    )


def _escalation_mail(
    conv: _Conv, level: int, esc_id: int, to: Agent | None, reason: str, now: datetime
) -> dict[str, Any] | None:
    """The e-mail telling ``to`` of the escalation (an outbox row), if there is anyone to tell."""
    if to is None:
        return None
    what = {
        "seller_unresponsive": "the seller has not replied within the target",
        "sla_breached": "its SLA deadline has passed",
        "still_unanswered": "it is still unanswered well past its deadline",
    }.get(reason, reason)
    return email_row(
        key=f"email:escalation:{esc_id}:{to.id}",
        to=to.email,
        subject=f"[helpdesk] Escalated to level {level}: {conv.subject}",
        body=(
            f'Hi {to.display_name},\n\nConversation {conv.external_id} ("{conv.subject}", '
            f"{conv.kind}, priority {conv.priority}) was escalated to you automatically "
            f"(level {level}): {what}.\n\nOpen it in the console: helpdesk, then search "
            f"{conv.external_id}.\n"
        ),
        type="escalation",
        now=now,
        conversation_id=conv.id,
        payload={"escalation": esc_id, "level": level, "reason": reason},
        missing=f"agent {to.username} has no e-mail address",
    )


def _notify_seller(cfg: SchedulerSettings, conv: _Conv, now: datetime) -> list[dict[str, Any]]:
    """The seller's outbound notification and e-mail (outbox rows)."""
    if conv.seller_external_id is None:
        return []
    title = conv.listing_title if conv.listing_title is not None else conv.subject
    body = (
        f'A buyer has been waiting for your reply about "{title}" for more than the 4 hours '
        "we promise. Our support team has stepped in; please reply to the buyer as soon as "
        "you can."
    )
    seller = conv.seller_external_id
    return [
        outbound_row(
            key=f"seller-unresponsive:{conv.id}",
            type="notification",
            recipient=seller,
            body=body,
            now=now,
            conversation_id=conv.id,
            payload={
                "system": True,
                "to": {"id": seller, "role": "seller"},
                "reason": "seller_unresponsive",
            },
        ),
        email_row(
            key=f"email:seller-unresponsive:{conv.id}",
            to=party_address(conv.seller_email, seller, cfg.smtp),
            subject=f"A buyer is waiting for your reply: {title}",
            body=body,
            type="seller_unresponsive",
            now=now,
            conversation_id=conv.id,
            missing=f"seller {seller} has no e-mail address",
        ),
    ]


def run(ctx: Context, cfg: SchedulerSettings, now: datetime) -> SweepReport:
    """One sweep: mark new breaches, then create the escalations that are due (the breaches
    and the first chunk of escalations in one transaction)."""
    return _escalate(ctx, cfg, now, SweepReport(), chunk=ESCALATION_CHUNK, mark=True)


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
                clock_running(SlaClock.state),
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
