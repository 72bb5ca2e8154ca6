"""`helpdesk report conversations`: one row per conversation, for leads' own views."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from db.enums import Target
from db.models import Agent, Conversation, Escalation, Feedback, SlaClock, Team
from helpdesk_tui.errors import InvalidInput
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.reports import (
    EXCUSED,
    IN_TIME,
    LATE,
    MISSED,
    PENDING,
    ReportQueries,
    ReportRequest,
    reporting_session,
)
from helpdesk_tui.services.reports_period import Period

#: Each clock's outcome at the as-of instant, as the export names it.
OUTCOME_NAMES = {
    IN_TIME: "in_time",
    LATE: "late",
    MISSED: "missed",
    EXCUSED: "excused",
    PENDING: "pending",
}
COLUMNS = (
    "conversation",
    "kind",
    "status",
    "team",
    "assignee",
    "priority",
    "created",
    "first_response_at",
    "first_response_s",
    "first_response",
    "resolved_at",
    "resolution_s",
    "resolution",
    "responses_in_time",
    "responses_missed",
    "responses_pending",
    "clocks",
    "escalations",
    "escalation_level",
    "rating",
    "nps",
)


def conversations(
    ctx: Context, period: Period, *, as_of: datetime | None = None, team: str | None = None
) -> list[dict[str, Any]]:
    """Conversations whose first message is in the period, ordered by start then id.

    ``first_response``/``resolution`` and each entry of ``clocks`` is the clock's outcome at
    ``as_of``: in_time, late (met after its target), missed (not met, past due or closed
    late), pending or excused (see the report rules)."""
    req = ReportRequest(period, (as_of or ctx.now()).astimezone(UTC), team)
    with ctx.db.read() as s:
        reporting_session(s)
        return _export(ReportQueries(ctx, s, req), s)


def _export(b: ReportQueries, s: Session) -> list[dict[str, Any]]:
    created = func.coalesce(Conversation.first_message_at, Conversation.created_at)
    esc = (
        select(
            Escalation.conversation_id.label("cid"),
            func.count(Escalation.id).label("n"),
        )
        .group_by(Escalation.conversation_id)
        .subquery()
    )
    fb = (
        select(
            Feedback.conversation_id.label("cid"),
            func.avg(Feedback.rating).label("rating"),
            func.avg(Feedback.nps).label("nps"),
        )
        .group_by(Feedback.conversation_id)
        .subquery()
    )
    assignee = aliased(Agent)
    q = b.scoped(
        select(
            Conversation.id,
            Conversation.external_id,
            Conversation.kind,
            Conversation.status,
            Team.name,
            assignee.username,
            Conversation.priority,
            created,
            Conversation.resolved_at,
            func.coalesce(esc.c.n, 0),
            Conversation.escalation_level,
            fb.c.rating,
            fb.c.nps,
        )
        .outerjoin(Team, Team.id == Conversation.team_id)
        .outerjoin(assignee, assignee.id == Conversation.assignee_id)
        .outerjoin(esc, esc.c.cid == Conversation.id)
        .outerjoin(fb, fb.c.cid == Conversation.id)
        .where(b.in_period(created))
        .order_by(created, Conversation.id)
    )
    rows = s.execute(q).all()
    if not rows:
        return []
    result = b.outcome()
    ids = [r[0] for r in rows]
    clocks: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for chunk in range(0, len(ids), 5000):
        part = ids[chunk : chunk + 5000]
        for conv_id, target, seq, code, started, stopped, elapsed, state in s.execute(
            select(
                SlaClock.conversation_id,
                SlaClock.target,
                SlaClock.seq,
                result,
                SlaClock.started_at,
                SlaClock.stopped_at,
                SlaClock.elapsed_s,
                SlaClock.state,
            )
            .where(SlaClock.conversation_id.in_(part))
            .order_by(SlaClock.conversation_id, SlaClock.started_at, SlaClock.target, SlaClock.seq)
        ):
            outcome = OUTCOME_NAMES[int(code)]
            clocks[conv_id].append((target, seq, outcome, started, stopped, elapsed, state))
    out = []
    for (cid, ext, kind, status, team, who, prio, start, resolved_at, n_esc, level, rating,
         nps) in rows:  # fmt: skip
        row: dict[str, Any] = {
            "conversation": ext,
            "kind": kind,
            "status": status,
            "team": team,
            "assignee": who,
            "priority": prio,
            "created": _iso(start),
            "first_response_at": None,
            "first_response_s": None,
            "first_response": None,
            "resolved_at": _iso(resolved_at),
            "resolution_s": None,
            "resolution": None,
            "escalations": int(n_esc),
            "escalation_level": int(level or 0),
            "rating": None if rating is None else round(float(rating), 2),
            "nps": None if nps is None else round(float(nps), 1),
        }
        counts = {"in_time": 0, "late": 0, "missed": 0, "pending": 0}
        parts = []
        for target, seq, outcome, started, stopped, elapsed, state in clocks.get(cid, []):
            parts.append(f"{target}#{seq}={outcome}")
            first = (Target.FIRST_RESPONSE, Target.SELLER_REPLY, Target.MODERATION)
            if target in first and seq == 1:
                row["first_response"] = outcome
                if state == "met" and stopped is not None and stopped <= b.as_of:
                    row["first_response_at"] = _iso(stopped)
                    row["first_response_s"] = round((stopped - started).total_seconds(), 1)
            if target == Target.RESOLUTION:
                row["resolution"] = outcome
                if state == "met" and stopped is not None and stopped <= b.as_of:
                    row["resolution_s"] = elapsed
            if target != Target.RESOLUTION and outcome in counts:
                counts[outcome] += 1
        row["responses_in_time"] = counts["in_time"]
        row["responses_missed"] = counts["late"] + counts["missed"]
        row["responses_pending"] = counts["pending"]
        row["clocks"] = " ".join(parts)
        out.append({k: row[k] for k in COLUMNS})
    return out


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_range(period: Period, limit_days: int = 366 * 2) -> None:
    if (period.last_day - period.first_day).days > limit_days:
        raise InvalidInput(f"the range is longer than {limit_days} days: export it in parts")


__all__ = ["COLUMNS", "check_range", "conversations"]
