"""Keeps each conversation's stored SLA clocks, clock log and queue deadline current."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    String,
    and_,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from db.base import UTCDateTime, utcnow
from db.bulk import Batch, in_ids
from db.enums import ClockState, MessageRole
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
_CLOCK_VALUES = attrgetter(*_CLOCK_FIELDS)
#: A new clock's row and a clock log row, as tuples (see :func:`_diff`)
_CLOCK_ROW = ("conversation_id", "target", "seq", *_CLOCK_FIELDS, "stop_agent_id")
_EVENT_ROW = (
    "conversation_id", "target", "seq", "event", "at", "due_at", "cause", "policy", "recorded_at"
)  # fmt: skip
#: The queue fields of a conversation that recompute keeps (they follow from its clocks).
DEADLINE_FIELDS = ("due_at", "due_for", "due_target_s", "risk_at", "queue_due_at", "waiting_since")

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


#: The one read of a recompute: every row it needs, for every conversation in ``ids``, in one
#: result (one round trip). Rows share one layout, ``src`` says what a row is:
#:
#: ====  ===========  ===================================================================
#: src   what         slots used
#: ====  ===========  ===================================================================
#: 0     conversation s1 kind, s2 priority, s3 team calendar, s4 due_for, i1 due_target_s,
#:                    t1 first escalation, t2 due_at, t3 risk_at, t4 queue_due_at,
#:                    t5 waiting_since
#: 1     message      i1 id, t1 sent_at, s1 role, s2 via, s3 external id, b1 internal,
#:                    i2 author agent
#: 2     change       i1 id, t1 at, s1 field (status/priority), s2 old, s3 new
#: 3     stored clock s1 target, i1 seq, i2 id, s2 state, s3 priority, b1 business,
#:                    i3 target_s, t1 started_at, t2 due_at, i4 paused_s, t3 stopped_at,
#:                    i5 elapsed_s, i6 start_message_id, i7 stop_message_id, s4 policy,
#:                    i8 stop_agent_id
#: 4     clock log    s1 target, i1 seq, s2 event, t1 at
#: ====  ===========  ===================================================================
_SLOTS = (
    *(f"i{n}" for n in range(1, 9)),
    *(f"s{n}" for n in range(1, 5)),
    *(f"t{n}" for n in range(1, 6)),
    "b1",
)
_SLOT_TYPES = {"i": Integer, "s": String, "t": UTCDateTime, "b": Boolean}


def _slotted(src: int, conversation_id: Any, where: Any, **slots: Any) -> Any:
    """One arm of the union: ``slots`` placed in the shared layout, typed NULL elsewhere."""
    columns = [literal_column(str(src)).label("src"), conversation_id.label("conversation_id")]
    for name in _SLOTS:
        value = slots.get(name)
        if value is None:
            value = cast(null(), _SLOT_TYPES[name[0]]())
        columns.append(value.label(name))
    return select(*columns).where(where)


def _read_query(postgres: bool) -> Any:
    c, t, m, ev, k, ce = _CONVS, _TEAMS, _MESSAGES, _EVENTS, _CLOCKS, _CLOCK_EVENTS

    def of(column: Any) -> Any:
        return in_ids(column, "ids", postgres)

    escalated = (
        select(func.min(_ESCALATIONS.c.created_at))
        .where(_ESCALATIONS.c.conversation_id == c.c.id)
        .scalar_subquery()
    )
    conversations = _slotted(
        0, c.c.id, of(c.c.id),
        s1=c.c.kind, s2=c.c.priority, s3=t.c.calendar, s4=c.c.due_for, i1=c.c.due_target_s,
        t1=escalated, t2=c.c.due_at, t3=c.c.risk_at, t4=c.c.queue_due_at, t5=c.c.waiting_since,
    ).select_from(c.outerjoin(t, t.c.id == c.c.team_id))  # fmt: skip
    messages = _slotted(
        1, m.c.conversation_id, of(m.c.conversation_id),
        i1=m.c.id, t1=m.c.sent_at, s1=m.c.role, s2=m.c.via, s3=m.c.external_id, b1=m.c.internal,
        i2=m.c.author_agent_id,
    )  # fmt: skip
    changes = _slotted(
        2, ev.c.conversation_id,
        and_(of(ev.c.conversation_id), ev.c.field.in_(("status", "priority"))),
        i1=ev.c.id, t1=ev.c.at, s1=ev.c.field, s2=ev.c.old, s3=ev.c.new,
    )  # fmt: skip
    clocks = _slotted(
        3, k.c.conversation_id, of(k.c.conversation_id),
        s1=k.c.target, i1=k.c.seq, i2=k.c.id, s2=k.c.state, s3=k.c.priority, b1=k.c.business,
        i3=k.c.target_s, t1=k.c.started_at, t2=k.c.due_at, i4=k.c.paused_s, t3=k.c.stopped_at,
        i5=k.c.elapsed_s, i6=k.c.start_message_id, i7=k.c.stop_message_id, s4=k.c.policy,
        i8=k.c.stop_agent_id,
    )  # fmt: skip
    marks = _slotted(
        4, ce.c.conversation_id, of(ce.c.conversation_id),
        s1=ce.c.target, i1=ce.c.seq, s2=ce.c.event, t1=ce.c.at,
    )  # fmt: skip
    return union_all(conversations, messages, changes, clocks, marks)


#: Built once: a statement object memoizes its cache key, so each execution skips both building
#: the query and walking it for the compiled-statement cache.
#: (Per dialect: PostgreSQL binds the ids as one array, SQLite as an expanding IN.)
_READ_Q = {False: _read_query(False), True: _read_query(True)}


#: PostgreSQL: ``_READ_Q`` compiled once to the driver's SQL and its constant parameters.
_PG_READ: tuple[str, dict[str, Any]] | None = None


def _execute_read(conn: Connection, ids: list[int]) -> Any:
    """Rows of ``_READ_Q`` for ``ids``. On PostgreSQL the statement, compiled once, goes to the
    driver as it is (``exec_driver_sql``): psycopg already returns aware datetimes and
    booleans, and SQLAlchemy's per-row processing cost twice the database's work for a
    recompute of one conversation (measured 0.5 ms of 1.0 ms). SQLite needs the processing
    (its timestamps are text)."""
    global _PG_READ
    if conn.dialect.name != "postgresql":
        return conn.execute(_READ_Q[False], {"ids": ids}).all()
    if _PG_READ is None:
        state = _READ_Q[True].compile(dialect=conn.dialect).construct_expanded_state({"ids": [0]})
        constants = {k: v for k, v in state.parameters.items() if k != "ids"}
        _PG_READ = (state.statement, constants)
    sql, constants = _PG_READ
    return conn.exec_driver_sql(sql, {**constants, "ids": ids}).all()


@dataclass
class _Read:
    """What a recompute reads: facts and stored queue fields of each conversation, stored
    clocks, and the clock log's marks."""

    facts: dict[int, tuple[_ConvRow, ConversationFacts]]
    current: dict[int, dict[str, object]]
    stored: dict[int, dict[tuple[str, int], dict[str, object]]]
    logged: set[tuple[Any, ...]]
    #: message id -> the agent who wrote it (agents' messages only)
    authors: dict[int, int]


def _read(conn: Connection, ids: list[int]) -> _Read:
    """Everything a recompute of ``ids`` needs, with one query (``_READ_Q``)."""
    convs: list[tuple[int, str, str, str | None, datetime | None, dict[str, object]]] = []
    messages: dict[int, list[MessageFact]] = defaultdict(list)
    changes: dict[int, list[tuple[datetime, int, str, str | None, str | None]]] = defaultdict(list)
    stored: dict[int, dict[tuple[str, int], dict[str, object]]] = defaultdict(dict)
    logged: set[tuple[Any, ...]] = set()
    authors: dict[int, int] = {}
    for row in _execute_read(conn, ids):
        src, conv_id, i1, i2, i3, i4, i5, i6, i7, i8, s1, s2, s3, s4, t1, t2, t3, t4, t5, b1 = row
        if src == 1:
            messages[conv_id].append(MessageFact(i1, t1, s1, bool(b1), s2, s3 or ""))
            if i2 is not None and s1 == MessageRole.AGENT.value:
                authors[i1] = i2
        elif src == 4:
            logged.add((conv_id, s1, i1, s2, t1))
        elif src == 3:
            stored[conv_id][(s1, i1)] = {
                "id": i2, "target": s1, "seq": i1, "state": s2, "priority": s3,
                "business": None if b1 is None else bool(b1), "target_s": i3,
                "started_at": t1, "due_at": t2, "paused_s": i4, "stopped_at": t3,
                "elapsed_s": i5, "start_message_id": i6, "stop_message_id": i7, "policy": s4,
                "stop_agent_id": i8,
            }  # fmt: skip
        elif src == 2:
            changes[conv_id].append((t1, i1, s1, s2, s3))
        else:  # the conversation: kind, priority, calendar, first escalation, queue fields
            queue_fields = dict(zip(DEADLINE_FIELDS, (t2, s4, i1, t3, t4, t5), strict=True))
            convs.append((conv_id, s1, s2, s3, t1, queue_fields))
    facts: dict[int, tuple[_ConvRow, ConversationFacts]] = {}
    current: dict[int, dict[str, object]] = {}
    for conv_id, kind, priority, calendar, escalated_at, queue_fields in convs:
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
        facts[conv_id] = (
            _ConvRow(conv_id, kind, priority, calendar),
            ConversationFacts(
                kind=kind,
                initial_priority=initial,
                messages=messages.get(conv_id, []),
                statuses=statuses,
                priority_changes=[
                    PriorityFact(at, new or priority) for at, _old, new in priorities
                ],
                escalated_at=escalated_at,
            ),
        )
        current[conv_id] = queue_fields
    return _Read(facts, current, stored, logged, authors)


def recompute(
    session: Session, settings: Settings, ids: Iterable[int], cause: str = ""
) -> dict[int, list[Clock]]:
    """Replay the clocks of ``ids``, store them, log what changed, update the queue deadline.

    Reads with one set-based query (conversations, messages, status and priority changes,
    stored clocks and their log: ``_READ_Q``) and writes only what changed, each kind of row with
    one bulk statement, so that a batch of thousands of conversations costs a few round trips
    and an unchanged conversation writes nothing.
    """
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    session.flush()  # pending ORM changes of the caller first
    conn = session.connection()
    read = _read(conn, id_list)
    stored, logged, current = read.stored, read.logged, read.current
    writes = _Writes()
    result: dict[int, list[Clock]] = {}
    fraction = settings.policy.at_risk_fraction
    now = utcnow()
    # in id order, not the query's row order: the rows written (and their ids) are then the
    # same whatever plan the database chose
    for conv_id, (row, facts) in sorted(read.facts.items()):
        clocks = compute_clocks(facts, settings.policy, settings.calendar(row.calendar))
        result[conv_id] = clocks
        _diff(writes, conv_id, clocks, stored.get(conv_id, {}), logged, cause, read.authors)
        values = deadline_fields(clocks, fraction)
        if values != current[conv_id]:
            writes.conversations.append({"id": conv_id, **values, "updated_at": now})
    writes.flush(conn)
    return result


def deadline_fields(clocks: list[Clock], fraction: float) -> dict[str, object]:
    """The queue fields of a conversation (``DEADLINE_FIELDS``) that follow from its clocks."""
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
    authors: dict[int, int] | None = None,
) -> NewClocks:
    """Replay conversations (id, team calendar name, facts) that have no stored clocks, no
    clock log and default queue fields: what :func:`recompute` would do for them, without
    reading anything back. The facts must be what :func:`recompute` would read once the
    caller's rows are stored (UTC times, statuses in storage order); ``authors`` maps the
    ids of agents' messages to the agents who wrote them."""
    writes = _Writes()
    deadlines: dict[int, dict[str, object]] = {}
    result: dict[int, list[Clock]] = {}
    fraction = settings.policy.at_risk_fraction
    for conv_id, calendar, facts in entries:
        clocks = compute_clocks(facts, settings.policy, settings.calendar(calendar))
        result[conv_id] = clocks
        _diff(writes, conv_id, clocks, {}, set(), cause, authors or {})  # nothing logged yet
        deadlines[conv_id] = deadline_fields(clocks, fraction)
    return NewClocks(writes, deadlines, result)


def _risk_at(due: datetime | None, target_s: int | None, fraction: float) -> datetime | None:
    if due is None or target_s is None:
        return None
    return due - timedelta(seconds=target_s * fraction)


@dataclass
class _Writes:
    """Rows to write at the end of a recompute, each kind with one bulk statement."""

    #: New clocks and clock log rows, as tuples of ``_CLOCK_ROW`` and ``_EVENT_ROW``
    clock_rows: list[tuple[Any, ...]] = field(default_factory=list)
    event_rows: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    #: Clocks whose deadline moved: their breach mark and at-risk alert no longer apply (the
    #: sweep marks them again if the new deadline is past too).
    resets: list[int] = field(default_factory=list)
    conversations: list[dict[str, object]] = field(default_factory=list)

    def flush(self, conn: Connection) -> None:
        """Write everything with one ``db.bulk.Batch``: one statement on PostgreSQL for a
        small recompute (a new message), one per kind of row otherwise."""
        self.batch().run(conn)

    def batch(self) -> Batch:
        """What :meth:`flush` writes, as a ``db.bulk.Batch`` to run later."""
        batch = Batch()
        batch.delete(_CLOCKS, self.deletes)
        batch.insert_tuples(_CLOCKS, _CLOCK_ROW, self.clock_rows)
        # a clock whose deadline moved loses its breach mark and at-risk alert (the sweep
        # marks it again if the new deadline is past too)
        reset = set(self.resets)
        batch.update(_CLOCKS, [r for r in self.updates if r["id"] not in reset])
        batch.update(
            _CLOCKS,
            [
                {**r, "breached_at": None, "alerted_at": None}
                for r in self.updates
                if r["id"] in reset
            ],
        )
        batch.insert_tuples(_CLOCK_EVENTS, _EVENT_ROW, self.event_rows)
        batch.update(_CONVS, self.conversations)
        return batch


def _diff(
    writes: _Writes,
    conv_id: int,
    clocks: list[Clock],
    stored: dict[tuple[str, int], dict[str, object]],
    logged: set[tuple[Any, ...]],
    cause: str,
    authors: dict[int, int],
) -> None:
    """The rows that bring ``conv_id``'s ``stored`` clocks and ``logged`` clock log to
    ``clocks``. New clocks and log rows are tuples (``_CLOCK_ROW``, ``_EVENT_ROW``): a bulk
    load writes a million of each, which a mapping a row would cost twice (built, then taken
    apart again by the bulk insert)."""
    seen: set[tuple[str, int]] = set()
    now = utcnow()
    event_rows = writes.event_rows
    for clock in clocks:
        target, seq = key = (clock.target, clock.seq)
        seen.add(key)
        stop = clock.stop_message_id
        stop_agent = None if stop is None else authors.get(stop)
        row = stored.get(key)
        if row is None:
            writes.clock_rows.append((conv_id, target, seq, *_CLOCK_VALUES(clock), stop_agent))
        else:
            values = dict(zip(_CLOCK_FIELDS, _CLOCK_VALUES(clock), strict=True))
            values["stop_agent_id"] = stop_agent
            if any(row[f] != v for f, v in values.items()):
                writes.updates.append({"id": row["id"], **values})
                # a paused clock that runs again is explained by its "resumed" event
                was_running = row["state"] == ClockState.RUNNING.value
                if row["due_at"] != clock.due_at and clock.running:
                    writes.resets.append(int(row["id"]))  # type: ignore[call-overload]
                if row["due_at"] != clock.due_at and clock.running and was_running:
                    event_rows.append(
                        _event_row(conv_id, clock, "recomputed", clock.started_at,
                                   clock.due_at, cause or "history changed", now)
                    )  # fmt: skip
        for ev in clock.events:
            event, at = ev.event, ev.at
            mark = (conv_id, target, seq, event, at)
            if mark in logged:
                continue
            logged.add(mark)
            due = clock.due_at if event in ("started", "resumed") else None
            event_rows.append(_event_row(conv_id, clock, event, at, due, ev.cause, now))
    writes.deletes.extend(int(row["id"]) for key, row in stored.items() if key not in seen)  # type: ignore[call-overload]


def _event_row(
    conv_id: int,
    clock: Clock,
    event: str,
    at: datetime,
    due: datetime | None,
    cause: str,
    recorded_at: datetime,
) -> tuple[Any, ...]:
    """A clock log row, as a tuple of ``_EVENT_ROW``."""
    return (conv_id, clock.target, clock.seq, event, at, due, cause[:500], clock.policy,
            recorded_at)  # fmt: skip
