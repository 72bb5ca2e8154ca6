"""SLA clocks of one conversation, replayed from its history (pure: datetimes in, clocks out).

Replaying the whole history on every change makes the result independent of arrival order:
a message ingested late gives the same clocks as if it had arrived in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from db.enums import ClockState, Kind, MessageRole, Status, Target, Via
from helpdesk_tui.sla.calendar import BusinessCalendar
from helpdesk_tui.sla.policy import Policy, Rule

STOPPING = {Status.RESOLVED.value, Status.CLOSED.value}
# Plain strings for the hot path (an enum member's ``.value`` is a descriptor call each time).
_CUSTOMER = MessageRole.CUSTOMER.value
_SELLER = MessageRole.SELLER.value
_AGENT = MessageRole.AGENT.value
_SYSTEM = MessageRole.SYSTEM.value
_AUTO_ACK = Via.AUTO_ACK.value
_BUYER_SELLER = Kind.BUYER_SELLER.value
_FLAG = Kind.FLAG.value
_WITH_RESOLUTION = (Kind.USER_ADMIN.value, Kind.ISSUE_REPORT.value)
_FIRST_RESPONSE = Target.FIRST_RESPONSE.value
_NEXT_RESPONSE = Target.NEXT_RESPONSE.value
_SELLER_REPLY = Target.SELLER_REPLY.value
_MODERATION = Target.MODERATION.value
_RESOLUTION = Target.RESOLUTION.value
_PENDING = Status.PENDING_CUSTOMER.value
_RUNNING = ClockState.RUNNING.value
_MET = ClockState.MET.value
_STOPPED = ClockState.STOPPED.value
_ROLE_ORDER = {_CUSTOMER: 0, _SELLER: 1, _AGENT: 2, _SYSTEM: 3}


# The facts and results made once per message, clock and clock event (a million of each in a
# bulk load) are slotted dataclasses, not frozen ones: a frozen dataclass's __init__ sets each
# field through object.__setattr__, four times slower (about 5 us a record in all). Treat
# them as immutable all the same; nothing here changes one after it is made.
@dataclass(slots=True)
class MessageFact:
    """What the clocks need to know about a message."""

    id: int
    sent_at: datetime
    role: str
    internal: bool = False
    via: str = Via.INTAKE.value
    ref: str = ""


@dataclass(frozen=True)
class StatusFact:
    """A status change at an instant."""

    at: datetime
    status: str
    cause: str = ""


@dataclass(frozen=True)
class PriorityFact:
    """A priority change at an instant."""

    at: datetime
    priority: str


@dataclass(frozen=True)
class ConversationFacts:
    """Everything the SLA engine reads about one conversation."""

    kind: str
    initial_priority: str
    messages: Sequence[MessageFact]
    statuses: Sequence[StatusFact] = ()
    priority_changes: Sequence[PriorityFact] = ()
    escalated_at: datetime | None = None

    @property
    def priority(self) -> str:
        """The priority now."""
        changes = sorted(self.priority_changes, key=lambda p: p.at)
        return changes[-1].priority if changes else self.initial_priority

    def priority_at(self, at: datetime) -> str:
        current = self.initial_priority
        for change in sorted(self.priority_changes, key=lambda p: p.at):
            if change.at > at:
                break
            current = change.priority
        return current


@dataclass(slots=True)
class ClockEventFact:
    """One line of a clock's explanation."""

    event: str
    at: datetime
    cause: str


@dataclass(slots=True)
class Clock:
    """One computed clock."""

    target: str
    seq: int
    state: str
    priority: str
    business: bool
    target_s: int
    started_at: datetime
    due_at: datetime | None
    paused_s: int
    stopped_at: datetime | None
    elapsed_s: int | None
    start_message_id: int | None
    stop_message_id: int | None
    policy: str
    events: tuple[ClockEventFact, ...]

    @property
    def running(self) -> bool:
        return self.state == _RUNNING

    @property
    def met_in_time(self) -> bool | None:
        """True/False once met; None while running or when stopped unmet."""
        if self.state != ClockState.MET.value or self.elapsed_s is None:
            return None
        return self.elapsed_s <= self.target_s


@dataclass(slots=True)
class Deadline:
    """What the queue stores for a conversation."""

    due_at: datetime | None
    due_for: str | None
    target_s: int | None
    waiting_since: datetime | None


@dataclass(slots=True)
class _Run:
    target: str
    seq: int
    started_at: datetime
    start_message_id: int | None
    segments: list[list[datetime | None]]
    events: list[ClockEventFact] = field(default_factory=list)
    stopped_at: datetime | None = None
    stop_message_id: int | None = None
    met: bool = False

    @property
    def open(self) -> bool:
        return self.stopped_at is None

    @property
    def paused(self) -> bool:
        return self.segments[-1][1] is not None

    def pause(self, at: datetime, cause: str) -> None:
        if self.open and not self.paused:
            self.segments[-1][1] = at
            self.events.append(ClockEventFact("paused", at, cause))

    def resume(self, at: datetime, cause: str) -> None:
        if self.open and self.paused:
            self.segments.append([at, None])
            self.events.append(ClockEventFact("resumed", at, cause))

    def stop(self, at: datetime, cause: str, *, met: bool, message_id: int | None = None) -> None:
        if not self.open:
            return
        if not self.paused:
            self.segments[-1][1] = at
        self.stopped_at, self.stop_message_id, self.met = at, message_id, met
        self.events.append(ClockEventFact("met" if met else "stopped", at, cause))


def _describe(message: MessageFact) -> str:
    ref = message.ref or f"#{message.id}"
    return f"message {ref} from {message.role}"


class _Replay:
    """Walks the history once, in time order, opening and closing clocks."""

    def __init__(self, facts: ConversationFacts) -> None:
        self.facts = facts
        self.kind = facts.kind
        self.runs: list[_Run] = []
        self.response: _Run | None = None
        self.resolution: _Run | None = None
        self.resolved = False
        self.pending = False
        self.started: dict[str, int] = {}  # target -> clocks of it started so far

    def _start(self, target: str, at: datetime, cause: str, message_id: int | None) -> _Run:
        seq = self.started[target] = self.started.get(target, 0) + 1
        run = _Run(
            target, seq, at, message_id, [[at, None]], [ClockEventFact("started", at, cause)]
        )
        self.runs.append(run)
        return run

    def _is_inbound(self, m: MessageFact) -> bool:
        if m.internal or m.via == _AUTO_ACK:
            return False
        if self.kind == _BUYER_SELLER:
            return m.role == _CUSTOMER
        return m.role in (_CUSTOMER, _SELLER)

    def _meets_response(self, m: MessageFact) -> bool:
        """A public reply by a person: never an auto-ack, a system message or a note."""
        if m.internal or m.via == _AUTO_ACK or m.role == _SYSTEM:
            return False
        if self.kind == _BUYER_SELLER:
            if m.role == _SELLER:
                return True
            escalated = self.facts.escalated_at
            return m.role == _AGENT and escalated is not None and (m.sent_at >= escalated)
        return m.role == _AGENT

    def _response_target(self) -> str:
        if self.kind == _BUYER_SELLER:
            return _SELLER_REPLY
        if self.kind == _FLAG:
            return _MODERATION
        return _NEXT_RESPONSE if _FIRST_RESPONSE in self.started else _FIRST_RESPONSE

    def message(self, m: MessageFact) -> None:
        if self._is_inbound(m):
            self._inbound(m)
        elif self._meets_response(m) and self.kind != _FLAG:
            if self.response is not None and self.response.open:
                self.response.stop(m.sent_at, f"reply {_describe(m)}", met=True, message_id=m.id)
            self.response = None

    def _inbound(self, m: MessageFact) -> None:
        cause = _describe(m)
        if self.resolved:
            if self.kind == _FLAG:
                return
            self.resolved = False
            self.resolution = self._start(_RESOLUTION, m.sent_at, f"reopened by {cause}", m.id)
        if self.pending and self.resolution is not None:
            self.resolution.resume(m.sent_at, f"customer wrote: {cause}")
        self.pending = False
        if self.response is None or not self.response.open:
            if self.kind == _FLAG and self.runs:
                return
            self.response = self._start(self._response_target(), m.sent_at, cause, m.id)
        if self.resolution is None and self.kind in _WITH_RESOLUTION:
            self.resolution = self._start(_RESOLUTION, m.sent_at, cause, m.id)

    def status(self, s: StatusFact) -> None:
        cause = s.cause or f"status {s.status}"
        if s.status in STOPPING:
            self.resolved = True
            self.pending = False
            if self.resolution is not None:
                self.resolution.stop(s.at, cause, met=True)
            if self.response is not None:
                met = self.kind == _FLAG
                self.response.stop(s.at, cause, met=met)
            self.response = None
            return
        if self.resolved:
            self.resolved = False
            if self.kind in _WITH_RESOLUTION:
                self.resolution = self._start(_RESOLUTION, s.at, f"reopened: {cause}", None)
        if s.status == _PENDING:
            self.pending = True
            if self.resolution is not None:
                self.resolution.pause(s.at, cause)
        elif self.pending:
            self.pending = False
            if self.resolution is not None:
                self.resolution.resume(s.at, cause)


def compute_clocks(
    facts: ConversationFacts, policy: Policy, calendar: BusinessCalendar
) -> list[Clock]:
    """Every clock of the conversation, as its history says they stand."""
    replay = _Replay(facts)
    # Same-instant messages are ordered by role, then reference, never by the id (arrival
    # order): customer before reply, so a late-stored message cannot change the outcome.
    timeline: list[tuple[tuple[datetime, int, int, str, int], MessageFact | StatusFact]] = []
    for m in facts.messages:
        timeline.append(((m.sent_at, 0, _ROLE_ORDER.get(m.role, 9), m.ref, m.id), m))
    for i, s in enumerate(facts.statuses):
        timeline.append(((s.at, 1, 0, "", i), s))
    for _key, item in sorted(timeline, key=lambda t: t[0]):
        if isinstance(item, MessageFact):
            replay.message(item)
        else:
            replay.status(item)
    clocks = [_finish(run, facts, policy, calendar) for run in replay.runs]
    return [c for c in clocks if c is not None]


def _finish(
    run: _Run, facts: ConversationFacts, policy: Policy, calendar: BusinessCalendar
) -> Clock | None:
    if not facts.priority_changes:  # (most conversations: no sort to find the priority)
        priority = facts.initial_priority
    else:
        priority = (
            facts.priority if run.open else facts.priority_at(run.stopped_at or run.started_at)
        )
    rule = policy.rules.get((facts.kind, priority, run.target))
    if rule is None:
        return None
    segments = run.segments
    events = run.events
    if not rule.pause_when_pending:  # also a clock paused and not yet resumed
        segments = [[segments[0][0], None if run.open else run.stopped_at]]
        events = [e for e in events if e.event not in ("paused", "resumed")]
    if len(segments) == 1 and not rule.business:
        # One stretch on the calendar (most clocks): what _measured computes, without its
        # closures and sums. Due a target after the start; elapsed, the stretch.
        start, end = segments[0]
        assert start is not None
        due: datetime | None = start + _seconds(rule.seconds)
        elapsed_f = None if end is None else (end - start).total_seconds()
        paused_s = 0.0
    else:
        due, elapsed_f, paused_s = _measured(rule, segments, calendar)
    elapsed: int | None = None
    if elapsed_f is None:  # the last stretch runs
        state = _RUNNING
    elif run.open:
        state, due = ClockState.PAUSED.value, None
    else:
        state, elapsed = (_MET if run.met else _STOPPED), round(elapsed_f)
    return Clock(
        run.target,
        run.seq,
        state,
        priority,
        rule.business,
        rule.seconds,
        run.started_at,
        due,
        round(paused_s),
        run.stopped_at,
        elapsed,
        run.start_message_id,
        run.stop_message_id,
        policy.describe(facts.kind, priority, run.target),
        tuple(events),
    )


_DELTAS: dict[int, timedelta] = {}


def _seconds(seconds: int) -> timedelta:
    """``timedelta(seconds=seconds)``, made once a target length (a million clocks a load)."""
    delta = _DELTAS.get(seconds)
    if delta is None:
        delta = _DELTAS[seconds] = timedelta(seconds=seconds)
    return delta


def _measured(
    rule: Rule, segments: list[list[datetime | None]], calendar: BusinessCalendar
) -> tuple[datetime, float | None, float]:
    """A clock of several stretches, or counted in business hours: its due time, the time
    elapsed against the target (None while the last stretch runs) and the time paused."""

    def measure(a: datetime, b: datetime) -> float:
        return calendar.between(a, b) if rule.business else (b - a).total_seconds()

    def add(a: datetime, seconds: float) -> datetime:
        return calendar.add(a, seconds) if rule.business else a + timedelta(seconds=seconds)

    closed = [(a, b) for a, b in segments if a is not None and b is not None]
    paused_s = 0.0
    for (_, pause_start), (resume, _) in pairwise(segments):
        assert pause_start is not None and resume is not None
        paused_s += (resume - pause_start).total_seconds()
    last_start, last_end = segments[-1]
    assert last_start is not None
    elapsed_f = sum(measure(a, b) for a, b in closed)
    if last_end is None:  # running: the closed stretches are all that went before
        return add(last_start, max(rule.seconds - elapsed_f, 0)), None, paused_s
    before = elapsed_f - measure(last_start, last_end)
    return add(last_start, max(rule.seconds - before, 0)), elapsed_f, paused_s


def deadline(clocks: Sequence[Clock]) -> Deadline:
    """The earliest due time among running clocks, and who is waiting since when."""
    running = [c for c in clocks if c.running and c.due_at is not None]
    waiting = [c.started_at for c in clocks if c.running and c.target != Target.RESOLUTION.value]
    if not running:
        return Deadline(None, None, None, min(waiting) if waiting else None)
    first = min(running, key=lambda c: (c.due_at, c.target))
    return Deadline(first.due_at, first.target, first.target_s, min(waiting) if waiting else None)
