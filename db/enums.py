"""Domain vocabularies shared by the database, the services and the widgets (plain enums)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an agent may do: agents work conversations, leads also reassign and escalate to
    management, admins also manage agents and teams."""

    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"


class Kind(StrEnum):
    """What a conversation is."""

    USER_ADMIN = "user_admin"
    BUYER_SELLER = "buyer_seller"
    ISSUE_REPORT = "issue_report"
    FLAG = "flag"


class Status(StrEnum):
    """Where a conversation stands."""

    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING_CUSTOMER, Status.ON_HOLD)


class Priority(StrEnum):
    """How urgent a conversation is; it selects the SLA targets."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class MessageRole(StrEnum):
    """Who wrote a message, as the SLA engine sees it."""

    CUSTOMER = "customer"
    SELLER = "seller"
    AGENT = "agent"
    SYSTEM = "system"


class Via(StrEnum):
    """How a message entered the helpdesk."""

    INTAKE = "intake"
    CONSOLE = "console"
    AUTO_ACK = "auto_ack"
    TEMPLATE = "template"


class Target(StrEnum):
    """What an SLA clock measures."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"
    SELLER_REPLY = "seller_reply"
    MODERATION = "moderation"


class ClockState(StrEnum):
    """A clock runs, is paused, was met, or stopped without being met (conversation closed)."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    STOPPED = "stopped"


def values(enum: type[StrEnum]) -> list[str]:
    """The stored values of an enum, for CHECK constraints and CLI choices."""
    return [member.value for member in enum]
