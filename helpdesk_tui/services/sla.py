"""Keeps each conversation's stored SLA clocks, clock log and queue deadline current."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from db.models import (
    NO_DEADLINE,
    ClockEvent,
    Conversation,
    ConversationEvent,
    Escalation,
    Message,
    SlaClock,
    Team,
)
from helpdesk_tui.settings import Settings
from helpdesk_tui.sla.clocks import (
    Clock,
    ConversationFacts,
    MessageFact,
    PriorityFact,
    StatusFact,
    compute_clocks,
    deadline,
)

_CLOCK_FIELDS = (
    "state",
    "priority",
    "business",
    "target_s",
    "started_at",
    "due_at",
    "paused_s",
    "stopped_at",
    "elapsed_s",
    "start_message_id",
    "stop_message_id",
    "policy",
)


@dataclass(frozen=True)
class _ConvRow:
    id: int
    kind: str
    priority: str
    calendar: str | None


def load_facts(
    session: Session, ids: Collection[int]
) -> dict[int, tuple[_ConvRow, ConversationFacts]]:
    """Read the history of many conversations with four set-based queries."""
    if not ids:
        return {}
    convs = session.execute(
        select(Conversation.id, Conversation.kind, Conversation.priority, Team.calendar)
        .outerjoin(Team, Team.id == Conversation.team_id)
        .where(Conversation.id.in_(ids))
    ).all()
    messages: dict[int, list[MessageFact]] = defaultdict(list)
    for row in session.execute(
        select(
            Message.conversation_id,
            Message.id,
            Message.sent_at,
            Message.role,
            Message.internal,
            Message.via,
            Message.external_id,
        ).where(Message.conversation_id.in_(ids))
    ):
        messages[row[0]].append(MessageFact(row[1], row[2], row[3], row[4], row[5], row[6] or ""))
    statuses: dict[int, list[StatusFact]] = defaultdict(list)
    priorities: dict[int, list[tuple[datetime, str | None, str | None]]] = defaultdict(list)
    for conv_id, field_name, old, new, at in session.execute(
        select(
            ConversationEvent.conversation_id,
            ConversationEvent.field,
            ConversationEvent.old,
            ConversationEvent.new,
            ConversationEvent.at,
        )
        .where(ConversationEvent.conversation_id.in_(ids))
        .where(ConversationEvent.field.in_(("status", "priority")))
        .order_by(ConversationEvent.at, ConversationEvent.id)
    ):
        if field_name == "status" and new:
            statuses[conv_id].append(StatusFact(at, new, f"status {old} -> {new}"))
        elif field_name == "priority":
            priorities[conv_id].append((at, old, new))
    escalated = dict(
        session.execute(
            select(Escalation.conversation_id, Escalation.created_at)
            .where(Escalation.conversation_id.in_(ids))
            .order_by(Escalation.created_at.desc())
        ).all()
    )
    out: dict[int, tuple[_ConvRow, ConversationFacts]] = {}
    for conv_id, kind, priority, calendar in convs:
        changes = priorities.get(conv_id, [])
        initial = (changes[0][1] or priority) if changes else priority
        facts = ConversationFacts(
            kind=kind,
            initial_priority=initial,
            messages=messages.get(conv_id, []),
            statuses=statuses.get(conv_id, []),
            priority_changes=[PriorityFact(at, new or priority) for at, _old, new in changes],
            escalated_at=escalated.get(conv_id),
        )
        out[conv_id] = (_ConvRow(conv_id, kind, priority, calendar), facts)
    return out


def recompute(
    session: Session, settings: Settings, ids: Iterable[int], cause: str = ""
) -> dict[int, list[Clock]]:
    """Replay the clocks of ``ids``, store them, log what changed, update the queue deadline."""
    id_list = sorted(set(ids))
    loaded = load_facts(session, id_list)
    stored: dict[tuple[int, str, int], SlaClock] = (
        {
            (c.conversation_id, c.target, c.seq): c
            for c in session.scalars(select(SlaClock).where(SlaClock.conversation_id.in_(id_list)))
        }
        if id_list
        else {}
    )
    logged: set[tuple[int, str, int, str, datetime]] = set()
    if stored:
        logged = {
            (r[0], r[1], r[2], r[3], r[4])
            for r in session.execute(
                select(
                    ClockEvent.conversation_id,
                    ClockEvent.target,
                    ClockEvent.seq,
                    ClockEvent.event,
                    ClockEvent.at,
                ).where(ClockEvent.conversation_id.in_(id_list))
            )
        }
    result: dict[int, list[Clock]] = {}
    for conv_id, (row, facts) in loaded.items():
        clocks = compute_clocks(facts, settings.policy, settings.calendar(row.calendar))
        result[conv_id] = clocks
        _store(session, conv_id, clocks, stored, logged, cause)
        d = deadline(clocks)
        session.execute(
            update(Conversation)
            .where(Conversation.id == conv_id)
            .values(
                due_at=d.due_at,
                due_for=d.due_for,
                due_target_s=d.target_s,
                risk_at=_risk_at(d.due_at, d.target_s, settings.policy.at_risk_fraction),
                queue_due_at=d.due_at or NO_DEADLINE,
                waiting_since=d.waiting_since,
            )
            .execution_options(synchronize_session=False)
        )
    return result


def _risk_at(due: datetime | None, target_s: int | None, fraction: float) -> datetime | None:
    if due is None or target_s is None:
        return None
    return due - timedelta(seconds=target_s * fraction)


def _store(
    session: Session,
    conv_id: int,
    clocks: list[Clock],
    stored: dict[tuple[int, str, int], SlaClock],
    logged: set[tuple[int, str, int, str, datetime]],
    cause: str,
) -> None:
    seen: set[tuple[int, str, int]] = set()
    for clock in clocks:
        key = (conv_id, clock.target, clock.seq)
        seen.add(key)
        values = {f: getattr(clock, f) for f in _CLOCK_FIELDS}
        row = stored.get(key)
        if row is None:
            session.add(
                SlaClock(conversation_id=conv_id, target=clock.target, seq=clock.seq, **values)
            )
        else:
            before_due = row.due_at
            changed = any(getattr(row, f) != v for f, v in values.items())
            if changed:
                for f, v in values.items():
                    setattr(row, f, v)
                if before_due != clock.due_at and clock.running:
                    session.add(
                        ClockEvent(
                            conversation_id=conv_id,
                            target=clock.target,
                            seq=clock.seq,
                            event="recomputed",
                            at=clock.started_at,
                            due_at=clock.due_at,
                            cause=cause or "history changed",
                            policy=clock.policy,
                        )
                    )
        for ev in clock.events:
            if (conv_id, clock.target, clock.seq, ev.event, ev.at) in logged:
                continue
            logged.add((conv_id, clock.target, clock.seq, ev.event, ev.at))
            session.add(
                ClockEvent(
                    conversation_id=conv_id,
                    target=clock.target,
                    seq=clock.seq,
                    event=ev.event,
                    at=ev.at,
                    due_at=clock.due_at if ev.event in ("started", "resumed") else None,
                    cause=ev.cause,
                    policy=clock.policy,
                )
            )
    gone = [row.id for key, row in stored.items() if key[0] == conv_id and key not in seen]
    if gone:
        session.execute(delete(SlaClock).where(SlaClock.id.in_(gone)))
