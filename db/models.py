"""SQLAlchemy 2.x typed models for the whole helpdesk domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    literal_column,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from db.base import Base, utcnow
from db.enums import ClockState, Kind, MessageRole, Priority, Role, Status, Target, Via

#: Conversations without a running clock sort after every real deadline (portable NULLS LAST).
NO_DEADLINE = datetime.fromisoformat("9999-12-31T00:00:00+00:00")

BigId = BigInteger().with_variant(Integer(), "sqlite")


class _UtcDay(ColumnElement[int]):
    """The UTC day of a timestamp column of the same row, as days since 1970-01-01: the
    expression of a generated ``*_day`` column (migration 0012)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_string)]
    type = Integer()

    def __init__(self, column: str) -> None:
        self.column = column


@compiles(_UtcDay, "sqlite")
def _utc_day_sqlite(element: _UtcDay, compiler: SQLCompiler, **kw: Any) -> str:
    # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (db.base.UTCDateTime): the date's
    # midnight in seconds, a whole number of days (SQLite rounds an instant to milliseconds:
    # 23:59:59.9999 would be the next day's)
    return f"CAST(strftime('%s', substr({element.column}, 1, 10)) AS INTEGER) / 86400"


@compiles(_UtcDay, "postgresql")
def _utc_day_postgresql(element: _UtcDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(({element.column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"


_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def _day_of(column: str) -> Computed:
    # stored (PostgreSQL before 18 has no other kind; SQLite's migration adds it virtual)
    return Computed(_UtcDay(column), persisted=True)


def utc_day(at: datetime) -> int:
    """The value a ``*_day`` column holds for the aware instant ``at``."""
    return at.astimezone(UTC).toordinal() - _EPOCH_ORDINAL


def day_range(day: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    """The days of ``[start, end)`` on the day column ``day``: its last instant's day
    included, its end's not (a period ending at midnight reads no day past it)."""
    last = end - timedelta(microseconds=1)  # end is excluded
    return and_(day >= utc_day(start), day <= utc_day(last))


def in_days(day: Any, column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    """``start <= column < end``, with the same range on ``column``'s day column ``day``
    first: the index is on the days (``ix_messages_sent_day``), the instants are checked on the
    rows the day range finds.

    Why days: a bulk load of history writes timestamps in random order (each conversation's
    messages together, the conversations starting anywhere in the period), and an index on the
    instants then took each batch's new entries all over itself. SQLite rewrote thousands of
    its pages a commit: 12 of the 21 us a message cost the writing thread at 1,000,000
    messages. On a day, rows go in in id order: a batch appends at the end of each day it
    touches, a few pages in all."""
    return and_(day_range(day, start, end), column >= start, column < end)


def _check(column: str, enum: type[StrEnum], name: str | None = None) -> CheckConstraint:
    allowed = ", ".join(f"'{m.value}'" for m in enum)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or column)


class Team(Base):
    """A queue of conversations worked by a group of agents, with its business calendar."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(400), default="")
    calendar: Mapped[str] = mapped_column(String(80), default="default")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    """A person working in the console."""

    __tablename__ = "agents"
    __table_args__ = (_check("role", Role),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=Role.AGENT.value)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64), default="Africa/Johannesburg")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team | None] = relationship(lazy="joined")


class Party(Base):
    """A marketplace user: buyer, seller or both."""

    __tablename__ = "parties"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Listing(Base):
    """A classified ad; buyer-seller conversations hang off one."""

    __tablename__ = "listings"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    seller_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    messaging_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    seller: Mapped[Party] = relationship(lazy="joined")


class Conversation(Base):
    """A thread between a marketplace party and support, or between a buyer and a seller."""

    __tablename__ = "conversations"
    __table_args__ = (
        _check("kind", Kind),
        _check("status", Status),
        _check("priority", Priority),
        Index("ix_conversations_queue", "is_open", "queue_due_at", "id"),
        Index("ix_conversations_team_queue", "team_id", "is_open", "queue_due_at"),
        Index("ix_conversations_assignee_queue", "assignee_id", "is_open", "queue_due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    #: The marketplace's conversation id; a thread reopened after the window gets a new row
    #: with the same key and ``external_id`` ``KEY/2``, ``KEY/3``...
    thread_key: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500), default="")
    #: Not indexed: no query looks conversations up by listing (migration
    #: 0008_drop_conversations_listing_index).
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    counterpart_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    status: Mapped[str] = mapped_column(String(20), default=Status.NEW.value)
    priority: Mapped[str] = mapped_column(String(10), default=Priority.NORMAL.value)
    category: Mapped[str | None] = mapped_column(String(100))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Earliest due time of the running clocks (None when none runs) and what it is for.
    due_at: Mapped[datetime | None] = mapped_column()
    due_for: Mapped[str | None] = mapped_column(String(20))
    #: The target length of the clock behind ``due_at``, for "at risk" (share of target left).
    due_target_s: Mapped[int | None] = mapped_column(Integer)
    #: When the clock behind ``due_at`` enters "at risk" (its last share of the target).
    risk_at: Mapped[datetime | None] = mapped_column()
    #: ``due_at`` or NO_DEADLINE: the indexed sort key of the queue (NULLS LAST on both backends).
    queue_due_at: Mapped[datetime] = mapped_column(default=NO_DEADLINE)
    #: When the oldest unanswered inbound message was sent (None when nobody waits).
    waiting_since: Mapped[datetime | None] = mapped_column()
    first_message_at: Mapped[datetime | None] = mapped_column()
    last_message_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    reopened_from_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    listing: Mapped[Listing | None] = relationship(lazy="joined")
    requester: Mapped[Party] = relationship(foreign_keys=[requester_id], lazy="joined")
    counterpart: Mapped[Party | None] = relationship(foreign_keys=[counterpart_id], lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    assignee: Mapped[Agent | None] = relationship(lazy="joined")


class Message(Base):
    """One message in a conversation: inbound, a reply, an internal note or a system message."""

    __tablename__ = "messages"
    __table_args__ = (
        _check("role", MessageRole),
        _check("via", Via),
        Index("ix_messages_conversation_sent", "conversation_id", "sent_at", "id"),
        Index("ix_messages_sent_day", "sent_day"),  # a period's messages: see in_days
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: Set by console sends so that a retried send after a lost connection lands once.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: Must name a stored conversation: checked by the database, not declared as a key here
    #: (PostgreSQL checks it a statement at a time with triggers, migration 0013; SQLite keeps
    #: the initial schema's foreign key).
    conversation_id: Mapped[int] = mapped_column(Integer)
    #: The author: written by the intake for the party it has just upserted or read, by the
    #: console services for the acting agent; no foreign keys (migration 0011: a look-up of
    #: the parent a message), tests/db/test_integrity.py checks them.
    author_party_id: Mapped[int | None] = mapped_column(Integer)
    author_agent_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    via: Mapped[str] = mapped_column(String(10), default=Via.INTAKE.value)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    sent_at: Mapped[datetime] = mapped_column()
    #: ``sent_at``'s UTC day, generated by the database (see :func:`in_days`)
    sent_day: Mapped[int] = mapped_column(Integer, _day_of("sent_at"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", lazy="selectin", order_by="Attachment.id"
    )
    conversation: Mapped[Conversation] = relationship(
        primaryjoin="foreign(Message.conversation_id) == Conversation.id", lazy="raise_on_sql"
    )
    author_party: Mapped[Party | None] = relationship(
        primaryjoin="foreign(Message.author_party_id) == Party.id", lazy="joined"
    )
    author_agent: Mapped[Agent | None] = relationship(
        primaryjoin="foreign(Message.author_agent_id) == Agent.id", lazy="joined"
    )


class Attachment(Base):
    """A file sent with a message, stored content-addressed under the data dir."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    stored_path: Mapped[str] = mapped_column(String(500))
    message: Mapped[Message] = relationship(back_populates="attachments")


class Template(Base):
    """A canned reply with placeholders; templates tagged ``faq`` double as help articles."""

    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    shortcut: Mapped[str | None] = mapped_column(String(40), unique=True)
    category: Mapped[str] = mapped_column(String(100), default="general")
    tags: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


_RUNNING_SQL = f"'{ClockState.RUNNING.value}'"
_CLOCK_RUNNING = f"state = {_RUNNING_SQL}"


def clock_running(state: Mapped[str]) -> ColumnElement[bool]:
    """``state = 'running'`` with the value written into the SQL, as the partial index
    ``ix_sla_clocks_running_due`` says it: with a bound parameter a PostgreSQL generic plan
    (a statement prepared and run often) cannot use the index, and SQLite's plan depends on
    the value bound; written out, neither does. ``state`` is ``SlaClock.state`` or an
    alias's."""
    return state == literal_column(_RUNNING_SQL)


class SlaClock(Base):
    """One SLA clock of a conversation, as last computed from its history."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("conversation_id", "target", "seq"),
        _check("target", Target),
        _check("state", ClockState),
        # running clocks only (migration 0010): the deadline queries ask for no others
        Index(
            "ix_sla_clocks_running_due",
            "state",
            "due_at",
            sqlite_where=text(_CLOCK_RUNNING),
            postgresql_where=text(_CLOCK_RUNNING),
        ),
        Index("ix_sla_clocks_started", "started_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Written only by the SLA engine, for the conversation it has just read or inserted: no
    #: foreign key (migration 0011), as the clock log's; tests/db/test_integrity.py checks it.
    conversation_id: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10))
    business: Mapped[bool] = mapped_column(Boolean, default=False)
    target_s: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    paused_s: Mapped[int] = mapped_column(Integer, default=0)
    stopped_at: Mapped[datetime | None] = mapped_column()
    #: Elapsed time counted against the target when the clock stopped (business or calendar).
    elapsed_s: Mapped[int | None] = mapped_column(Integer)
    #: The messages that started and stopped the clock: derived by the SLA engine from the
    #: messages it holds, so no foreign key (migration 0009: their checks were the bulk
    #: intake's largest server cost; tests/db/test_integrity.py checks them).
    start_message_id: Mapped[int | None] = mapped_column(BigId)
    stop_message_id: Mapped[int | None] = mapped_column(BigId)
    #: The agent who wrote the stopping message, when an agent did (a copy of the message's
    #: author kept with the clock, so that the reports credit agents without a join).
    stop_agent_id: Mapped[int | None] = mapped_column(Integer)
    #: Set once, by the sweep, when the clock is first seen past due and not met.
    breached_at: Mapped[datetime | None] = mapped_column()
    #: Set once when the approaching-deadline alert went out.
    alerted_at: Mapped[datetime | None] = mapped_column()
    policy: Mapped[str] = mapped_column(String(200), default="")


class ClockEvent(Base):
    """Append-only log explaining every clock: started, paused, resumed, met, breached, ..."""

    __tablename__ = "clock_events"
    __table_args__ = (Index("ix_clock_events_conversation", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Append-only, written by the SLA engine with the conversation it holds: no foreign key
    #: (migration 0009), as the audit log's targets
    conversation_id: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    cause: Mapped[str] = mapped_column(String(500), default="")
    policy: Mapped[str] = mapped_column(String(200), default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationEvent(Base):
    """The history of a conversation's state: status and priority changes, assignment."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index("ix_conversation_events_conv", "conversation_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    field: Mapped[str] = mapped_column(String(20))
    old: Mapped[str | None] = mapped_column(String(200))
    new: Mapped[str | None] = mapped_column(String(200))
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(lazy="raise_on_sql")


class Escalation(Base):
    """A conversation raised to a lead (level 1) or management (level 2); once per level."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("conversation_id", "level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    level: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    to_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    to_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Flag(Base):
    """A content report; each opens a moderation conversation with a 12 h clock."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    target_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    target_listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"))
    target_party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    reason: Mapped[str] = mapped_column(String(500))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    flagged_at: Mapped[datetime] = mapped_column(index=True)
    decision: Mapped[str | None] = mapped_column(String(40))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    decided_at: Mapped[datetime | None] = mapped_column()

    conversation: Mapped[Conversation | None] = relationship(lazy="raise_on_sql")


class Feedback(Base):
    """A satisfaction survey answer about one conversation."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating"),
        CheckConstraint("nps IS NULL OR (nps BETWEEN 0 AND 10)", name="nps"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    rating: Mapped[int | None] = mapped_column(Integer)
    nps: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(index=True)

    conversation: Mapped[Conversation] = relationship(lazy="raise_on_sql")


class AuditEvent(Base):
    """Who did what to which record, with before and after; append-only."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(80))
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(200))
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboxItem(Base):
    """Something to tell the outside world: an outbound record to the marketplace or an e-mail.

    ``position`` orders the outbound stream; ``idempotency_key`` makes each effect unique.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "channel", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(20))  # outbound | email
    type: Mapped[str] = mapped_column(String(30))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    recipient: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Place in the outbound stream, given after commit by the sequencer (None until then,
    #: and always None for e-mail): commit order, gap-free per sequencing, never reused.
    position: Mapped[int | None] = mapped_column(BigId, index=True, unique=True)


class Draft(Base):
    """The composer's text, saved as the agent types; its key makes a retried send land once."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("conversation_id", "agent_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Presence(Base):
    """Which agent has which conversation open right now (refreshed while open)."""

    __tablename__ = "presence"
    __table_args__ = (UniqueConstraint("conversation_id", "agent_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerState(Base):
    """Heartbeats and high-water marks of the scheduler jobs."""

    __tablename__ = "scheduler_state"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)
    value: Mapped[str] = mapped_column(String(200), default="")


#: Outbound rows committed but not yet numbered: what the sequencer looks for (partial index).
Index(
    "ix_outbox_unsequenced",
    OutboxItem.id,
    postgresql_where=(OutboxItem.channel == "outbound") & OutboxItem.position.is_(None),
    sqlite_where=(OutboxItem.channel == "outbound") & OutboxItem.position.is_(None),
)


class OutboundConsumer(Base):
    """A named reader of the outbound stream and the position it has safely handled."""

    __tablename__ = "outbound_consumers"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundDeadLetter(Base):
    """An outbound record a webhook consumer gave up on (a 4xx answer), retryable by hand.

    ``status``: ``dead`` (given up), ``retry`` (queued again by a person), ``retrying``
    (claimed by a delivery process), ``delivered`` (a retry went through).
    """

    __tablename__ = "outbound_dead_letters"
    __table_args__ = (
        UniqueConstraint("consumer", "outbox_id"),
        Index("ix_outbound_dead_letters_status", "status", "consumer"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    consumer: Mapped[str] = mapped_column(ForeignKey("outbound_consumers.name"))
    outbox_id: Mapped[int] = mapped_column(BigId, ForeignKey("outbox.id"))
    position: Mapped[int] = mapped_column(BigId)
    record_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="dead")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
