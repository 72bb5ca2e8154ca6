"""Errors the user sees as one clear line (the CLI maps them to exit codes)."""

from __future__ import annotations


class HelpdeskError(Exception):
    """Base of every expected failure; ``str(exc)`` is the one line shown to the user."""

    exit_code = 1


class InvalidInput(HelpdeskError):
    """The user gave something we cannot accept; the message says what to fix."""

    exit_code = 2


class NotFound(HelpdeskError):
    """A named record does not exist."""


class PermissionDenied(HelpdeskError):
    """The acting agent's role does not allow the action (the refusal is audited)."""


class Collision(HelpdeskError):
    """Someone else changed the conversation since it was opened; ``changes`` says what."""

    def __init__(self, message: str, changes: list[str] | None = None) -> None:
        super().__init__(message)
        self.changes = changes or []
