"""Keeps each conversation's stored SLA clocks, clock log and queue deadline current."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.enums import ClockState
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
    """Replay the clocks of ``ids``, store them, log what changed, update the queue deadline.

    Reads with a handful of set-based queries and writes with executemany statements (Core,
    no ORM objects), so that a batch of thousands of conversations costs a few round trips.
    """
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    loaded = load_facts(session, id_list)
    clocks_t = SlaClock.__table__
    stored: dict[int, dict[tuple[str, int], dict[str, object]]] = defaultdict(dict)
    for row in session.execute(
        select(clocks_t.c.id, clocks_t.c.conversation_id, *(clocks_t.c[f] for f in _CLOCK_FIELDS),
               clocks_t.c.target, clocks_t.c.seq)
        .where(clocks_t.c.conversation_id.in_(id_list))
    ).mappings():  # fmt: skip
        stored[row["conversation_id"]][(row["target"], row["seq"])] = dict(row)
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
                ).where(ClockEvent.conversation_id.in_(list(stored)))
            )
        }
    writes = _Writes()
    result: dict[int, list[Clock]] = {}
    fraction = settings.policy.at_risk_fraction
    for conv_id, (row, facts) in loaded.items():
        clocks = compute_clocks(facts, settings.policy, settings.calendar(row.calendar))
        result[conv_id] = clocks
        _diff(writes, conv_id, clocks, stored.get(conv_id, {}), logged, cause)
        d = deadline(clocks)
        writes.conversations.append(
            {
                "b_id": conv_id,
                "due_at": d.due_at,
                "due_for": d.due_for,
                "due_target_s": d.target_s,
                "risk_at": _risk_at(d.due_at, d.target_s, fraction),
                "queue_due_at": d.due_at or NO_DEADLINE,
                "waiting_since": d.waiting_since,
            }
        )
    writes.flush(session)
    return result


def _risk_at(due: datetime | None, target_s: int | None, fraction: float) -> datetime | None:
    if due is None or target_s is None:
        return None
    return due - timedelta(seconds=target_s * fraction)


@dataclass
class _Writes:
    """Rows to write at the end of a recompute, each kind with one executemany statement."""

    inserts: list[dict[str, object]] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    #: Clocks whose deadline moved: their breach mark and at-risk alert no longer apply (the
    #: sweep marks them again if the new deadline is past too).
    resets: list[int] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)
    conversations: list[dict[str, object]] = field(default_factory=list)

    def flush(self, session: Session) -> None:
        session.flush()  # pending ORM changes of the caller first
        conn = session.connection()
        clocks = SlaClock.__table__
        if self.deletes:
            conn.execute(delete(clocks).where(clocks.c.id.in_(self.deletes)))
        if self.inserts:
            conn.execute(insert(clocks), self.inserts)
        if self.updates:
            conn.execute(
                update(clocks)
                .where(clocks.c.id == bindparam("b_id"))
                .values({f: bindparam(f) for f in _CLOCK_FIELDS}),
                self.updates,
            )
        if self.resets:
            conn.execute(
                update(clocks)
                .where(clocks.c.id.in_(self.resets))
                .values(breached_at=None, alerted_at=None)
            )
        if self.events:
            conn.execute(insert(ClockEvent.__table__), self.events)
        if self.conversations:
            convs = Conversation.__table__
            fields = [k for k in self.conversations[0] if k != "b_id"]
            conn.execute(
                update(convs)
                .where(convs.c.id == bindparam("b_id"))
                .values({f: bindparam(f) for f in fields}),
                self.conversations,
            )


def _diff(
    writes: _Writes,
    conv_id: int,
    clocks: list[Clock],
    stored: dict[tuple[str, int], dict[str, object]],
    logged: set[tuple[int, str, int, str, datetime]],
    cause: str,
) -> None:
    seen: set[tuple[str, int]] = set()
    for clock in clocks:
        key = (clock.target, clock.seq)
        seen.add(key)
        values: dict[str, object] = {f: getattr(clock, f) for f in _CLOCK_FIELDS}
        row = stored.get(key)
        if row is None:
            writes.inserts.append(
                {"conversation_id": conv_id, "target": clock.target, "seq": clock.seq, **values}
            )
        elif any(row[f] != v for f, v in values.items()):
            writes.updates.append({"b_id": row["id"], **values})
            # a paused clock that runs again is explained by its "resumed" event
            was_running = row["state"] == ClockState.RUNNING.value
            if row["due_at"] != clock.due_at and clock.running:
                writes.resets.append(int(row["id"]))  # type: ignore[call-overload]
            if row["due_at"] != clock.due_at and clock.running and was_running:
                writes.events.append(
                    _event(conv_id, clock, "recomputed", clock.started_at, clock.due_at,
                           cause or "history changed")
                )  # fmt: skip
        for ev in clock.events:
            mark = (conv_id, clock.target, clock.seq, ev.event, ev.at)
            if mark in logged:
                continue
            logged.add(mark)
            due = clock.due_at if ev.event in ("started", "resumed") else None
            writes.events.append(_event(conv_id, clock, ev.event, ev.at, due, ev.cause))
    writes.deletes.extend(int(row["id"]) for key, row in stored.items() if key not in seen)  # type: ignore[call-overload]


def _event(
    conv_id: int, clock: Clock, event: str, at: datetime, due: datetime | None, cause: str
) -> dict[str, object]:
    return {
        "conversation_id": conv_id,
        "target": clock.target,
        "seq": clock.seq,
        "event": event,
        "at": at,
        "due_at": due,
        "cause": cause[:500],
        "policy": clock.policy,
        "recorded_at": utcnow(),
    }
