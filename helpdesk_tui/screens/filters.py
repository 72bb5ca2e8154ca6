"""The queue's `/` filter: free text and field:value terms, mapped to a QueueFilter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.enums import Kind, Priority, Status
from helpdesk_tui.errors import InvalidInput

#: The one-key views of the queue: name -> QueueFilter fields (``me`` is the agent).
VIEWS: dict[str, dict[str, Any]] = {
    "all": {},
    "mine": {"assignee": "me"},
    "unassigned": {"unassigned": True},
    "breached": {"breached": True},
    "at_risk": {"at_risk": True},
}
VIEW_LABEL = {
    "all": "All open",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "breached": "Breached",
    "at_risk": "At risk",
}

_KIND_ALIASES = {
    "support": Kind.USER_ADMIN.value,
    "buyer": Kind.BUYER_SELLER.value,
    "seller": Kind.BUYER_SELLER.value,
    "issue": Kind.ISSUE_REPORT.value,
}
FIELDS = ("priority", "kind", "assignee", "status", "team")


@dataclass(frozen=True)
class ParsedFilter:
    """What the agent typed after `/`, as QueueFilter fields."""

    fields: dict[str, Any]
    text: str

    def changes(self, me: str) -> dict[str, Any]:
        out = {k: (me if v == "me" else v) for k, v in self.fields.items()}
        if self.text:
            out["text"] = self.text
        return out


def _one_of(field: str, value: str, allowed: list[str]) -> str:
    if value not in allowed:
        raise InvalidInput(f"{field}:{value} is not known: use one of {', '.join(allowed)}")
    return value


def parse(query: str) -> ParsedFilter:
    """``priority:urgent kind:buyer refund`` -> fields and free text; InvalidInput on a bad term."""
    fields: dict[str, Any] = {}
    words: list[str] = []
    for term in query.split():
        field, sep, value = term.partition(":")
        if not sep or not field:
            words.append(term)
            continue
        field, value = field.lower(), value.strip()
        if field not in FIELDS:
            raise InvalidInput(f"unknown filter field {field!r}: use {', '.join(FIELDS)}")
        if not value:
            raise InvalidInput(f"{field}: needs a value")
        if field == "priority":
            fields["priority"] = _one_of(field, value.lower(), [p.value for p in Priority])
        elif field == "kind":
            value = _KIND_ALIASES.get(value.lower(), value.lower())
            fields["kind"] = _one_of(field, value, [k.value for k in Kind])
        elif field == "status":
            fields["status"] = _one_of(field, value.lower(), [s.value for s in Status])
        elif field == "assignee":
            if value.lower() in ("none", "nobody", "-"):
                fields["unassigned"] = True
            else:
                fields["assignee"] = "me" if value.lower() == "me" else value
        else:
            fields["team"] = value
    return ParsedFilter(fields, " ".join(words))
