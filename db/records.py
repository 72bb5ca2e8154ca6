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


@dataclass(frozen=True)
class QueueHealth:
    """The header line: open, unassigned, breached, at risk, answered within target today."""

    open: int
    unassigned: int
    breached: int
    at_risk: int
    within_target_today_pct: float | None
