"""The one text policy for both databases: no NUL bytes, no lone surrogates."""

from __future__ import annotations

from helpdesk_tui.errors import InvalidInput


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    if "\x00" in value:
        return "contains a NUL byte (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (invalid Unicode)"
    return None


def check_text(value: str, what: str) -> str:
    """Return ``value`` or raise InvalidInput naming the field."""
    problem = text_problem(value)
    if problem:
        raise InvalidInput(f"{what} {problem}; remove it and try again")
    return value
