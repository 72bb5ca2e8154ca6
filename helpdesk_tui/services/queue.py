"""The open queue: one indexed query ordered by the stored SLA deadline."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from db.base import UTCDateTime
from db.enums import ClockState, Target
from db.models import Agent, Conversation, Party, SlaClock, Team
from db.records import QueueHealth, QueuePage, QueueRow
from helpdesk_tui.services.context import Context

#: The queue's total is counted exactly up to this many rows.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class QueueFilter:
    """Which open conversations to list."""

    team: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    kind: str | None = None
    priority: str | None = None
    status: str | None = None
    breached: bool = False
    at_risk: bool = False
    text: str = ""
    ids: tuple[int, ...] = field(default=())

    def with_(self, **changes: Any) -> QueueFilter:
        return replace(self, **changes)


_NOW = bindparam("now", type_=UTCDateTime())


def _filtered(q: Select[Any], f: QueueFilter) -> Select[Any]:
    """``q`` restricted to the open conversations ``f`` selects (the instant is ``:now``)."""
    q = q.where(Conversation.is_open == true())
    if f.team:
        q = q.where(
            Conversation.team_id == select(Team.id).where(Team.name == f.team).scalar_subquery()
        )
    if f.unassigned:
        q = q.where(Conversation.assignee_id.is_(None))
    elif f.assignee:
        q = q.where(
            Conversation.assignee_id
            == select(Agent.id).where(Agent.username == f.assignee).scalar_subquery()
        )
    if f.kind:
        q = q.where(Conversation.kind == f.kind)
    if f.priority:
        q = q.where(Conversation.priority == f.priority)
    if f.status:
        q = q.where(Conversation.status == f.status)
    # queue_due_at is due_at, or NO_DEADLINE (year 9999) without a running clock: comparing
    # it instead of due_at keeps both views a range of the queue index (page and count).
    if f.breached:
        q = q.where(Conversation.queue_due_at <= _NOW)
    if f.at_risk:
        q = q.where(and_(Conversation.queue_due_at > _NOW, Conversation.risk_at <= _NOW))
    if f.text:
        needle = f.text.lower()  # % and _ are plain characters, not LIKE wildcards
        q = q.where(
            or_(
                func.lower(Conversation.subject).contains(needle, autoescape=True),
                func.lower(Conversation.external_id).contains(needle, autoescape=True),
            )
        )
    if f.ids:
        q = q.where(Conversation.id.in_(f.ids))
    return q


@lru_cache(maxsize=64)
def _statements(f: QueueFilter) -> tuple[Select[Any], Select[Any]]:
    """The page and capped-count statements of a filter, built once: constructing them costs
    more than running them (the instant, limit, offset and count cap are bound parameters)."""
    requester = aliased(Party)
    q = (
        select(
            Conversation.id,
            Conversation.external_id,
            Conversation.kind,
            Conversation.subject,
            Conversation.status,
            Conversation.priority,
            Team.name,
            Agent.username,
            requester.name,
            requester.external_id,
            requester.verified,
            Conversation.escalation_level,
            Conversation.due_at,
            Conversation.due_for,
            Conversation.due_target_s,
            Conversation.risk_at,
            Conversation.waiting_since,
            Conversation.last_message_at,
        )
        .join(requester, requester.id == Conversation.requester_id)
        .outerjoin(Team, Team.id == Conversation.team_id)
        .outerjoin(Agent, Agent.id == Conversation.assignee_id)
    )
    page_q = (
        _filtered(q, f)
        .order_by(Conversation.queue_due_at, Conversation.id)
        .limit(bindparam("lim", type_=Integer()))
        .offset(bindparam("off", type_=Integer()))
    )
    # Count at most COUNT_CAP rows: an exact count of 100,000 open conversations costs more
    # than the page itself; past the cap the total reads "10000+".
    # The cap is bound at each execution (``:cap`` = COUNT_CAP + 1), not built in.
    matching = (
        _filtered(select(Conversation.id), f).limit(bindparam("cap", type_=Integer())).subquery()
    )
    return page_q, select(func.count()).select_from(matching)


def fetch_page(
    session: Session, f: QueueFilter, now: datetime, *, limit: int = 200, offset: int = 0
) -> QueuePage:
    """A window of the queue in deadline order, and the total that matches."""
    page_q, count_q = _statements(f)
    conn = session.connection()  # Core: no ORM loading for plain columns
    rows = tuple(
        QueueRow(
            id=r[0],
            conversation=r[1],
            kind=r[2],
            subject=r[3],
            status=r[4],
            priority=r[5],
            team=r[6],
            assignee=r[7],
            requester=r[8] or r[9],
            requester_verified=bool(r[10]),
            escalation_level=r[11],
            due_at=r[12],
            due_for=r[13],
            target_s=r[14],
            risk_at=r[15],
            waiting_since=r[16],
            last_message_at=r[17],
        )
        for r in conn.execute(page_q, {"now": now, "lim": limit, "off": offset})
    )
    if offset == 0 and len(rows) < limit:
        return QueuePage(rows, len(rows), offset)
    total = conn.execute(count_q, {"now": now, "cap": COUNT_CAP + 1}).scalar() or 0
    return QueuePage(rows, min(total, COUNT_CAP), offset, total_capped=total > COUNT_CAP)


def page(
    ctx: Context,
    f: QueueFilter,
    *,
    as_of: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> QueuePage:
    with ctx.db.read() as s:
        return fetch_page(s, f, as_of or ctx.now(), limit=limit, offset=offset)


def health(ctx: Context, *, as_of: datetime | None = None, tz: str | None = None) -> QueueHealth:
    """Open, unassigned, breached and at-risk counts, and today's share answered in time."""
    now = as_of or ctx.now()
    with ctx.db.read() as s:
        open_q = select(
            func.count(),
            func.count(Conversation.id).filter(Conversation.assignee_id.is_(None)),
            func.count(Conversation.id).filter(Conversation.due_at <= now),
            func.count(Conversation.id).filter(
                and_(Conversation.risk_at <= now, Conversation.due_at > now)
            ),
        ).where(Conversation.is_open == true())
        total, unassigned, breached, at_risk = s.execute(open_q).one()
        start = _start_of_day(now, tz or ctx.settings.display_tz)
        response = (
            Target.FIRST_RESPONSE.value,
            Target.NEXT_RESPONSE.value,
            Target.SELLER_REPLY.value,
        )
        met, missed = s.execute(
            select(
                func.count(SlaClock.id).filter(
                    and_(
                        SlaClock.state == ClockState.MET.value,
                        SlaClock.elapsed_s <= SlaClock.target_s,
                    )
                ),
                func.count(SlaClock.id).filter(
                    or_(
                        and_(
                            SlaClock.state == ClockState.MET.value,
                            SlaClock.elapsed_s > SlaClock.target_s,
                        ),
                        and_(SlaClock.state == ClockState.RUNNING.value, SlaClock.due_at <= now),
                    )
                ),
            ).where(
                SlaClock.target.in_(response),
                SlaClock.started_at >= start,
                SlaClock.started_at < now,
            )
        ).one()
    pct = round(100.0 * met / (met + missed), 1) if met + missed else None
    return QueueHealth(total, unassigned, breached, at_risk, pct)


def _start_of_day(now: datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(tz))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC) if midnight <= local else midnight - timedelta(days=1)


def as_json(row: QueueRow, now: datetime) -> dict[str, Any]:
    """The documented ``helpdesk queue --json`` shape."""
    return {
        "id": row.id,
        "conversation": row.conversation,
        "kind": row.kind,
        "subject": row.subject,
        "status": row.status,
        "priority": row.priority,
        "team": row.team,
        "assignee": row.assignee,
        "requester": row.requester,
        "escalation_level": row.escalation_level,
        "due_at": row.due_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if row.due_at
        else None,
        "due_for": row.due_for,
        "seconds_left": row.seconds_left(now),
        "breached": row.breached(now),
        "at_risk": row.at_risk(now),
    }
