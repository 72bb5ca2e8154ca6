"""Plain, frozen records the services hand to the screens and widgets (no SQLAlchemy here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class QueueRow:
    """One open conversation as the queue shows it."""

    id: int
    conversation: str
    kind: str
    subject: str
    status: str
    priority: str
    team: str | None
    assignee: str | None
    requester: str
    requester_verified: bool
    escalation_level: int
    due_at: datetime | None
    due_for: str | None
    target_s: int | None
    risk_at: datetime | None
    waiting_since: datetime | None
    last_message_at: datetime | None

    def seconds_left(self, now: datetime) -> int | None:
        """Whole seconds to the deadline (negative once breached), None without a clock."""
        if self.due_at is None:
            return None
        return int((self.due_at - now).total_seconds() // 1)

    def breached(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at <= now

    def at_risk(self, now: datetime) -> bool:
        return (
            self.due_at is not None
            and self.risk_at is not None
            and self.risk_at <= now < self.due_at
        )


@dataclass(frozen=True)
class QueuePage:
    """A window of the queue and how many rows match in all."""

    rows: tuple[QueueRow, ...]
    total: int
    offset: int = 0
    total_capped: bool = False
    """True when more rows match than were counted: ``total`` is then a lower bound."""


@dataclass(frozen=True)
class QueueHealth:
    """The header line: open, unassigned, breached, at risk, answered within target today."""

    open: int
    unassigned: int
    breached: int
    at_risk: int
    within_target_today_pct: float | None


@dataclass(frozen=True)
class AttachmentView:
    id: int
    name: str
    mime_type: str
    size: int
    sha256: str
    stored_path: str


@dataclass(frozen=True)
class MessageView:
    """One message of a thread."""

    id: int
    external_id: str | None
    author: str
    role: str
    body: str
    internal: bool
    via: str
    sent_at: datetime
    attachments: tuple[AttachmentView, ...] = ()


@dataclass(frozen=True)
class ClockView:
    """One SLA clock with its verdict."""

    target: str
    seq: int
    state: str
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_s: int | None
    target_s: int
    policy: str


@dataclass(frozen=True)
class ClockEventView:
    target: str
    seq: int
    event: str
    at: datetime
    cause: str


@dataclass(frozen=True)
class EscalationView:
    level: int
    reason: str
    by: str | None
    to: str | None
    automatic: bool
    at: datetime


@dataclass(frozen=True)
class PartyView:
    external_id: str
    name: str
    verified: bool
    suspended: bool
    other_conversations: int = 0


@dataclass(frozen=True)
class ConversationDetail:
    """Everything the conversation screen shows."""

    id: int
    external_id: str
    kind: str
    subject: str
    status: str
    priority: str
    category: str | None
    team: str | None
    assignee: str | None
    escalation_level: int
    version: int
    requester: PartyView
    listing_title: str | None
    listing_id: str | None
    seller: PartyView | None
    due_at: datetime | None
    due_for: str | None
    messages: tuple[MessageView, ...]
    clocks: tuple[ClockView, ...]
    clock_events: tuple[ClockEventView, ...]
    escalations: tuple[EscalationView, ...]
    viewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateView:
    id: int
    name: str
    shortcut: str | None
    category: str
    tags: str
    body: str


@dataclass(frozen=True)
class DraftView:
    body: str
    internal: bool
    idempotency_key: str
    updated_at: datetime
