"""Keeps each conversation's stored SLA clocks, clock log and queue deadline current."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    String,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from db.base import UTCDateTime, utcnow
from db.bulk import insert_rows, update_rows
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
#: The queue fields of a conversation that recompute keeps (they follow from its clocks).
_DEADLINE_FIELDS = ("due_at", "due_for", "due_target_s", "risk_at", "queue_due_at", "waiting_since")

_CONVS = Conversation.__table__
_TEAMS = Team.__table__
_MESSAGES = Message.__table__
_EVENTS = ConversationEvent.__table__
_ESCALATIONS = Escalation.__table__
_CLOCKS = SlaClock.__table__
_CLOCK_EVENTS = ClockEvent.__table__


@dataclass(frozen=True)
class _ConvRow:
    id: int
    kind: str
    priority: str
    calendar: str | None


@dataclass
class _Stored:
    """What is stored for one conversation: its queue fields, clocks and logged clock events."""

    deadline: dict[str, object]
    clocks: dict[tuple[str, int], dict[str, object]] = field(default_factory=dict)


def _conversations_query() -> Any:
    escalated = (
        select(func.min(_ESCALATIONS.c.created_at))
        .where(_ESCALATIONS.c.conversation_id == _CONVS.c.id)
        .scalar_subquery()
    )
    return (
        select(
            _CONVS.c.id,
            _CONVS.c.kind,
            _CONVS.c.priority,
            _TEAMS.c.calendar,
            escalated.label("escalated_at"),
            *(_CONVS.c[f] for f in _DEADLINE_FIELDS),
        )
        .select_from(_CONVS.outerjoin(_TEAMS, _TEAMS.c.id == _CONVS.c.team_id))
        .where(_CONVS.c.id.in_(bindparam("ids", expanding=True)))
    )


def _history_query() -> Any:
    """Messages and status/priority changes in one result (``src`` 0 and 1)."""
    m, ev = _MESSAGES, _EVENTS
    messages = select(
        literal_column("0").label("src"),
        m.c.conversation_id,
        m.c.id,
        m.c.sent_at.label("at"),
        m.c.role.label("a"),
        m.c.via.label("b"),
        m.c.external_id.label("c"),
        m.c.internal.label("flag"),
    ).where(m.c.conversation_id.in_(bindparam("ids", expanding=True)))
    events = select(
        literal_column("1"),
        ev.c.conversation_id,
        ev.c.id,
        ev.c.at,
        ev.c.field,
        ev.c.old,
        ev.c.new,
        cast(null(), Boolean),
    ).where(
        ev.c.conversation_id.in_(bindparam("ids", expanding=True)),
        ev.c.field.in_(("status", "priority")),
    )
    return union_all(messages, events)


def _clocks_query() -> Any:
    """Stored clocks (``src`` 0) and the clock log's marks (``src`` 1) in one result."""
    k, ce = _CLOCKS, _CLOCK_EVENTS
    clocks = select(
        literal_column("0").label("src"),
        k.c.conversation_id,
        k.c.target,
        k.c.seq,
        k.c.id,
        k.c.state,
        k.c.priority,
        k.c.business,
        k.c.target_s,
        k.c.started_at,
        k.c.due_at,
        k.c.paused_s,
        k.c.stopped_at,
        k.c.elapsed_s,
        k.c.start_message_id,
        k.c.stop_message_id,
        k.c.policy,
    ).where(k.c.conversation_id.in_(bindparam("ids", expanding=True)))
    no_int, no_str, no_time = cast(null(), Integer), cast(null(), String), cast(null(), UTCDateTime)
    marks = select(
        literal_column("1"),
        ce.c.conversation_id,
        ce.c.target,
        ce.c.seq,
        no_int,
        ce.c.event,
        no_str,
        cast(null(), Boolean),
        no_int,
        ce.c.at,
        no_time,
        no_int,
        no_time,
        no_int,
        no_int,
        no_int,
        no_str,
    ).where(ce.c.conversation_id.in_(bindparam("ids", expanding=True)))
    return union_all(clocks, marks)


#: Built once: a statement object memoizes its cache key, so each execution skips both building
#: the query and walking it for the compiled-statement cache.
_CONVERSATIONS_Q = _conversations_query()
_HISTORY_Q = _history_query()
_CLOCKS_Q = _clocks_query()


def _read_facts(
    conn: Connection, ids: list[int]
) -> tuple[dict[int, tuple[_ConvRow, ConversationFacts]], dict[int, dict[str, object]]]:
    """Each conversation's facts and its stored queue fields, with two queries."""
    convs = conn.execute(_CONVERSATIONS_Q, {"ids": ids}).all()
    messages: dict[int, list[MessageFact]] = defaultdict(list)
    changes: dict[int, list[tuple[datetime, int, str, str | None, str | None]]] = defaultdict(list)
    for src, conv_id, row_id, at, a, b, c, flag in conn.execute(_HISTORY_Q, {"ids": ids}):
        if src == 0:
            messages[conv_id].append(MessageFact(row_id, at, a, bool(flag), b, c or ""))
        else:
            changes[conv_id].append((at, row_id, a, b, c))
    out: dict[int, tuple[_ConvRow, ConversationFacts]] = {}
    current: dict[int, dict[str, object]] = {}
    for conv_id, kind, priority, calendar, escalated_at, *deadline_values in convs:
        statuses: list[StatusFact] = []
        priorities: list[tuple[datetime, str | None, str | None]] = []
        for at, _id, field_name, old, new in sorted(
            changes.get(conv_id, ()), key=lambda e: (e[0], e[1])
        ):
            if field_name == "status" and new:
                statuses.append(StatusFact(at, new, f"status {old} -> {new}"))
            elif field_name == "priority":
                priorities.append((at, old, new))
        initial = (priorities[0][1] or priority) if priorities else priority
        facts = ConversationFacts(
            kind=kind,
            initial_priority=initial,
            messages=messages.get(conv_id, []),
            statuses=statuses,
            priority_changes=[PriorityFact(at, new or priority) for at, _old, new in priorities],
            escalated_at=escalated_at,
        )
        out[conv_id] = (_ConvRow(conv_id, kind, priority, calendar), facts)
        current[conv_id] = dict(zip(_DEADLINE_FIELDS, deadline_values, strict=True))
    return out, current


def load_facts(
    session: Session, ids: Collection[int]
) -> dict[int, tuple[_ConvRow, ConversationFacts]]:
    """Read the history of many conversations with two set-based queries."""
    if not ids:
        return {}
    session.flush()
    return _read_facts(session.connection(), sorted(set(ids)))[0]


def _read_clocks(
    conn: Connection, ids: list[int]
) -> tuple[dict[int, dict[tuple[str, int], dict[str, object]]], set[tuple[Any, ...]]]:
    stored: dict[int, dict[tuple[str, int], dict[str, object]]] = defaultdict(dict)
    logged: set[tuple[Any, ...]] = set()
    names = ("id", *_CLOCK_FIELDS)
    for src, conv_id, target, seq, *rest in conn.execute(_CLOCKS_Q, {"ids": ids}):
        if src == 0:
            row = dict(zip(names, rest, strict=True))
            row["target"], row["seq"] = target, seq
            stored[conv_id][(target, seq)] = row
        else:
            logged.add((conv_id, target, seq, rest[1], rest[5]))
    return stored, logged


def recompute(
    session: Session, settings: Settings, ids: Iterable[int], cause: str = ""
) -> dict[int, list[Clock]]:
    """Replay the clocks of ``ids``, store them, log what changed, update the queue deadline.

    Reads with three set-based queries (conversations; messages with status and priority
    changes; stored clocks with their log) and writes only what changed, each kind of row with
    one bulk statement, so that a batch of thousands of conversations costs a few round trips
    and an unchanged conversation writes nothing.
    """
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    session.flush()  # pending ORM changes of the caller first
    conn = session.connection()
    loaded, current = _read_facts(conn, id_list)
    stored, logged = _read_clocks(conn, id_list)
    writes = _Writes()
    result: dict[int, list[Clock]] = {}
    fraction = settings.policy.at_risk_fraction
    now = utcnow()
    for conv_id, (row, facts) in loaded.items():
        clocks = compute_clocks(facts, settings.policy, settings.calendar(row.calendar))
        result[conv_id] = clocks
        _diff(writes, conv_id, clocks, stored.get(conv_id, {}), logged, cause)
        values = deadline_fields(clocks, fraction)
        if values != current[conv_id]:
            writes.conversations.append({"id": conv_id, **values, "updated_at": now})
    writes.flush(conn)
    return result


def deadline_fields(clocks: list[Clock], fraction: float) -> dict[str, object]:
    """The queue fields of a conversation (``_DEADLINE_FIELDS``) that follow from its clocks."""
    d = deadline(clocks)
    return {
        "due_at": d.due_at,
        "due_for": d.due_for,
        "due_target_s": d.target_s,
        "risk_at": _risk_at(d.due_at, d.target_s, fraction),
        "queue_due_at": d.due_at or NO_DEADLINE,
        "waiting_since": d.waiting_since,
    }


@dataclass
class NewClocks:
    """Clocks replayed for conversations that have nothing stored yet (created in the caller's
    transaction, e.g. by an intake batch): the same rows :func:`recompute` would write, planned
    before the conversations are inserted so that their queue fields go in with the insert."""

    writes: _Writes
    #: conversation id -> its queue fields (``due_at``, ``queue_due_at``, ...)
    deadlines: dict[int, dict[str, object]]
    clocks: dict[int, list[Clock]]

    def store(self, session: Session) -> None:
        """Insert the clocks and their log (after the conversations and messages exist)."""
        self.writes.flush(session.connection())


def replay_new(
    settings: Settings,
    entries: Iterable[tuple[int, str | None, ConversationFacts]],
    cause: str = "",
) -> NewClocks:
    """Replay conversations (id, team calendar name, facts) that have no stored clocks, no
    clock log and default queue fields: what :func:`recompute` would do for them, without
    reading anything back. The facts must be what :func:`load_facts` would read once the
    caller's rows are stored (UTC times, statuses in storage order)."""
    writes = _Writes()
    deadlines: dict[int, dict[str, object]] = {}
    result: dict[int, list[Clock]] = {}
    logged: set[tuple[Any, ...]] = set()
    fraction = settings.policy.at_risk_fraction
    for conv_id, calendar, facts in entries:
        clocks = compute_clocks(facts, settings.policy, settings.calendar(calendar))
        result[conv_id] = clocks
        _diff(writes, conv_id, clocks, {}, logged, cause)
        deadlines[conv_id] = deadline_fields(clocks, fraction)
    return NewClocks(writes, deadlines, result)


def _risk_at(due: datetime | None, target_s: int | None, fraction: float) -> datetime | None:
    if due is None or target_s is None:
        return None
    return due - timedelta(seconds=target_s * fraction)


@dataclass
class _Writes:
    """Rows to write at the end of a recompute, each kind with one bulk statement."""

    inserts: list[dict[str, object]] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    #: Clocks whose deadline moved: their breach mark and at-risk alert no longer apply (the
    #: sweep marks them again if the new deadline is past too).
    resets: list[int] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)
    conversations: list[dict[str, object]] = field(default_factory=list)

    def flush(self, conn: Connection) -> None:
        if self.deletes:
            conn.execute(delete(_CLOCKS).where(_CLOCKS.c.id.in_(self.deletes)))
        insert_rows(conn, _CLOCKS, self.inserts)
        update_rows(conn, _CLOCKS, self.updates)
        if self.resets:
            conn.execute(
                update(_CLOCKS)
                .where(_CLOCKS.c.id.in_(self.resets))
                .values(breached_at=None, alerted_at=None)
            )
        insert_rows(conn, _CLOCK_EVENTS, self.events)
        update_rows(conn, _CONVS, self.conversations)


def _diff(
    writes: _Writes,
    conv_id: int,
    clocks: list[Clock],
    stored: dict[tuple[str, int], dict[str, object]],
    logged: set[tuple[Any, ...]],
    cause: str,
) -> None:
    seen: set[tuple[str, int]] = set()
    now = utcnow()
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
            writes.updates.append({"id": row["id"], **values})
            # a paused clock that runs again is explained by its "resumed" event
            was_running = row["state"] == ClockState.RUNNING.value
            if row["due_at"] != clock.due_at and clock.running:
                writes.resets.append(int(row["id"]))  # type: ignore[call-overload]
            if row["due_at"] != clock.due_at and clock.running and was_running:
                writes.events.append(
                    _event(conv_id, clock, "recomputed", clock.started_at, clock.due_at,
                           cause or "history changed", now)
                )  # fmt: skip
        for ev in clock.events:
            mark = (conv_id, clock.target, clock.seq, ev.event, ev.at)
            if mark in logged:
                continue
            logged.add(mark)
            due = clock.due_at if ev.event in ("started", "resumed") else None
            writes.events.append(_event(conv_id, clock, ev.event, ev.at, due, ev.cause, now))
    writes.deletes.extend(int(row["id"]) for key, row in stored.items() if key not in seen)  # type: ignore[call-overload]


def _event(
    conv_id: int,
    clock: Clock,
    event: str,
    at: datetime,
    due: datetime | None,
    cause: str,
    recorded_at: datetime,
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
        "recorded_at": recorded_at,
    }
