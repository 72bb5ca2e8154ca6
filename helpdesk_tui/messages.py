"""Messages the console's workers post when something was loaded or done (past-tense events)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.message import Message

from db.records import (
    ConversationDetail,
    DraftView,
    QueueHealth,
    QueuePage,
    QueueRow,
    TemplateView,
)
from helpdesk_tui.services.search import SearchHit


@dataclass
class QueueLoaded(Message):
    """A window of the queue, read for ``query``."""

    page: QueuePage
    query: Any
    """The QueueFilter the page was read for (stale pages are ignored)."""
    as_of: datetime
    polled: bool
    """True for a background poll (what arrived is announced), False for a user's load."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QueueLoaded)


@dataclass
class HealthLoaded(Message):
    """The queue's health figures (read apart from the rows: they count every open
    conversation, which takes longer than a window of rows)."""

    health: QueueHealth

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HealthLoaded)


@dataclass
class TeamsLoaded(Message):
    teams: list[str]


@dataclass
class ConversationLoaded(Message):
    """The conversation screen's data; ``draft`` only on the first load."""

    detail: ConversationDetail
    draft: DraftView | None
    first: bool


@dataclass
class ConversationPreloaded(Message):
    """A conversation was read before its screen opens (the app then opens it)."""

    loaded: ConversationLoaded


@dataclass
class ViewersLoaded(Message):
    """Who else has the conversation open (presence heartbeat)."""

    conv_id: int
    viewers: tuple[str, ...]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ViewersLoaded)


@dataclass
class DraftSaved(Message):
    idempotency_key: str


@dataclass
class MessageSent(Message):
    """A reply or note was stored (``duplicate``: a retry of one stored before)."""

    internal: bool
    duplicate: bool


@dataclass
class ConversationChanged(Message):
    """An action on the open conversation succeeded; ``what`` is the toast."""

    what: str


@dataclass
class CollisionFound(Message):
    """Someone else changed the conversation; ``retry`` redoes the action without the check."""

    message: str
    changes: list[str]
    retry: Callable[[], object]
    action: str


@dataclass
class BulkApplied(Message):
    """A bulk action ran on several conversations; ``failures`` are one line each."""

    what: str
    done: int
    failures: list[str]


@dataclass
class NeighbourFound(Message):
    """The next (or previous) conversation in queue order, None at the end."""

    conv_id: int | None
    step: int


@dataclass
class TemplatesLoaded(Message):
    templates: list[TemplateView]
    values: dict[str, str]


@dataclass
class BulkTemplatesLoaded(Message):
    """Templates to reply to ``rows`` with; ``values`` fill them for the first row."""

    rows: list[QueueRow]
    templates: list[TemplateView]
    values: dict[str, str]


@dataclass
class ExplanationLoaded(Message):
    explanation: Any


@dataclass
class AgentsLoaded(Message):
    usernames: list[str]


@dataclass
class SearchResultsLoaded(Message):
    """The ranked hits for ``query`` (stale ones are ignored by the screen)."""

    query: str
    hits: list[SearchHit]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SearchResultsLoaded)


@dataclass
class AttachmentSaved(Message):
    """An attachment was copied to ``path``."""

    path: Path
