"""Intake records: one JSON Lines line -> a validated record, or a one-line reason it is refused."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from db.enums import Kind, Priority
from helpdesk_tui.textpolicy import text_problem


class Rejected(ValueError):
    """A line that cannot be accepted; the message is the reason, without the line number."""


# PartyIn and MessageIn are made once per message line: slotted, not frozen (see the note on
# helpdesk_tui.sla.clocks.MessageFact); read-only all the same.
@dataclass(slots=True)
class PartyIn:
    id: str
    name: str = ""
    verified: bool | None = None


@dataclass(frozen=True)
class AttachmentIn:
    name: str
    content: bytes


@dataclass(frozen=True)
class ListingIn:
    line: int
    id: str
    title: str
    seller: PartyIn
    active: bool
    messaging: bool
    created_at: datetime
    category: str | None


@dataclass(slots=True)
class MessageIn:
    line: int
    id: str
    conversation: str
    sender: PartyIn
    sender_role: str  # user | buyer | seller | agent
    body: str
    sent_at: datetime
    kind: str | None
    subject: str | None
    listing: str | None
    priority: str | None
    category: str | None
    attachments: tuple[AttachmentIn, ...] = field(default=())


@dataclass(frozen=True)
class FeedbackIn:
    line: int
    id: str
    conversation: str
    rating: int | None
    nps: int | None
    comment: str
    submitted_at: datetime


@dataclass(frozen=True)
class FlagIn:
    line: int
    id: str
    target_type: str  # message | listing | party
    target_id: str
    reason: str
    reporter: str
    flagged_at: datetime


Record = ListingIn | MessageIn | FeedbackIn | FlagIn

_KEYS = {
    "listing": {"type", "id", "title", "seller", "active", "messaging", "created_at", "category"},
    "message": {
        "type",
        "id",
        "conversation",
        "kind",
        "subject",
        "listing",
        "from",
        "body",
        "sent_at",
        "priority",
        "category",
        "attachments",
    },
    "feedback": {"type", "id", "conversation", "rating", "nps", "comment", "submitted_at"},
    "flag": {"type", "id", "target", "reason", "reporter", "flagged_at"},
}
_ROLES = ("user", "buyer", "seller", "agent")
_INTAKE_KINDS = (Kind.USER_ADMIN.value, Kind.BUYER_SELLER.value, Kind.ISSUE_REPORT.value)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


#: Longest accepted value per key, so that a too-long value is rejected with a reason (and the
#: same way on both databases) instead of failing the column. Ids leave room for the "/N" of a
#: reopened thread and the "flag:" prefix of a moderation conversation.
_MAX_CHARS = {
    "id": 190,
    "conversation": 190,
    "listing": 190,
    "message": 190,
    "party": 190,
    "reporter": 190,
    "name": 200,
    "title": 500,
    "subject": 500,
    "category": 100,
    "reason": 500,
}


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class Limits:
    body_bytes: int = 64 * 1024
    attachment_bytes: int = 10 * 1024 * 1024


def parse_line(raw: bytes, line: int, limits: Limits) -> Record | None:
    """Parse one line; None for a blank line; raise Rejected with the reason."""
    # The common case first: a message record with nothing unusual about it, checked in one
    # pass. It only ever accepts; anything it is not sure of goes through the full
    # validation below, which decides and words the reason. Without a ``\u`` escape the
    # parsed strings hold no NUL and no lone surrogate (raw control characters are invalid
    # JSON, and the bytes are valid UTF-8 or orjson refuses them). orjson reads an integer
    # beyond 64 bits as a float, which the check never accepts (it accepts no number at all):
    # such a line always gets the full validation, without a scan for long digit runs (a
    # regular expression over every line: a tenth of the parsing thread's time).
    if b"\\u" not in raw:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if type(data) is dict and data.get("type", "message") == "message":
            record = _fast_message(data, line, limits)
            if record is not None:
                return record
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"invalid UTF-8 at byte {exc.start}") from None
    if not text.strip():
        return None
    try:
        data = _loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise Rejected("not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise Rejected("a record must be a JSON object")
    kind = data.get("type", "message")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise Rejected(f"unknown type {_short(kind)}: use message, listing, feedback or flag")
    _no_unknown(data, _KEYS[kind], "")
    if kind == "listing":
        return _listing(data, line)
    if kind == "feedback":
        return _feedback(data, line)
    if kind == "flag":
        return _flag(data, line)
    return _message(data, line, limits)


#: 19 digits in a row: possibly an integer beyond 64 bits, which orjson reads as a float.
_LONG_DIGITS = re.compile(r"\d{19}")

_MESSAGE_KEYS = frozenset(_KEYS["message"])
_FROM_KEYS = frozenset({"id", "name", "verified", "role"})
_ROLE_SET = frozenset(_ROLES)
_KIND_SET = frozenset(_INTAKE_KINDS)
_PRIORITY_SET = frozenset(p.value for p in Priority)


def _fast_message(data: dict[str, Any], line: int, limits: Limits) -> MessageIn | None:
    """``_message`` for a record that passes every check at first sight (strings already
    known to hold no NUL or lone surrogate); None as soon as anything would need a closer
    look: the full validation then accepts or rejects it."""
    if not data.keys() <= _MESSAGE_KEYS:
        return None
    sender = data.get("from")
    if type(sender) is not dict or not sender.keys() <= _FROM_KEYS:
        return None
    role = sender.get("role")
    pid = sender.get("id")
    name = sender.get("name")
    verified = sender.get("verified")
    if name is None:
        name = ""
    if not (
        type(role) is str
        and role in _ROLE_SET
        and _plain_id(pid)
        and type(name) is str
        and len(name) <= 200
        and (verified is None or type(verified) is bool)
    ):
        return None
    mid = data.get("id")
    conversation = data.get("conversation")
    body = data.get("body")
    if body is None:
        body = ""
    if not (_plain_id(mid) and _plain_id(conversation) and type(body) is str):
        return None
    if len(body) * 4 > limits.body_bytes and len(body.encode("utf-8")) > limits.body_bytes:
        return None
    kind = _fast_opt(data.get("kind"), 190)
    priority = _fast_opt(data.get("priority"), 190)
    subject = _fast_opt(data.get("subject"), _MAX_CHARS["subject"])
    listing = _fast_opt(data.get("listing"), _MAX_CHARS["listing"])
    category = _fast_opt(data.get("category"), _MAX_CHARS["category"])
    if (
        kind is False
        or priority is False
        or subject is False
        or listing is False
        or category is False
        or (kind is not None and kind not in _KIND_SET)
        or (priority is not None and priority not in _PRIORITY_SET)
        or ("attachments" in data and data["attachments"] != [])
    ):
        return None
    sent = data.get("sent_at")
    if type(sent) is not str or not sent or sent.isspace():
        return None
    try:
        sent_at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
    except ValueError:
        return None
    if sent_at.utcoffset() is None or not _EARLIEST <= sent_at <= _LATEST:
        return None
    return MessageIn(
        line, mid, conversation, PartyIn(pid, name, verified), role, body, sent_at,  # type: ignore[arg-type]
        kind, subject, listing, priority, category,  # type: ignore[arg-type]
    )  # fmt: skip


def _plain_id(value: object) -> bool:
    """A required id as ``_str`` accepts it: a string, not blank, at most 190 characters."""
    return type(value) is str and 0 < len(value) <= 190 and not value.isspace()


def _fast_opt(value: object, longest: int) -> str | bool | None:
    """An optional string as ``_opt`` reads it (None for missing or empty); False when it
    needs the full validation."""
    if value is None or value == "":
        return None
    if type(value) is not str or len(value) > longest:
        return False
    return value


def _loads(text: str) -> Any:
    """``json.loads``, with the compiled orjson parser on the common path.

    orjson gives the same result as the standard library for everything it accepts, except
    integers beyond 64 bits (a float); lines that orjson refuses or that might hold such a
    number are parsed by ``json`` itself, so accepted values and rejection reasons (with
    their columns) stay exactly those of the standard library.
    """
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _short(value: Any) -> str:
    """A value for a reason: repr (control characters escaped), cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_unknown(data: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise Rejected(f"unknown key {where}{_short(key)}")


def _str(data: dict[str, Any], key: str, *, required: bool = True, where: str = "") -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise Rejected(f"missing {where}{key!r}")
        return ""
    if not isinstance(value, str):
        raise Rejected(f"{where}{key!r} must be a string")
    problem = text_problem(value)
    if problem:
        raise Rejected(f"{where}{key!r} {problem}")
    if required and not value.strip():
        raise Rejected(f"{where}{key!r} is empty")
    longest = _MAX_CHARS.get(key) if not where.startswith("attachments") else None
    if longest is not None and len(value) > longest:
        raise Rejected(f"{where}{key!r} is {len(value)} characters, over the limit of {longest}")
    return value


def _opt(data: dict[str, Any], key: str) -> str | None:
    return _str(data, key, required=False) or None


def _bool(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise Rejected(f"{key!r} must be true or false")
    return value


def _time(data: dict[str, Any], key: str) -> datetime:
    raw = _str(data, key)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"{key!r} is not an ISO 8601 time: {raw[:40]!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise Rejected(f"{key!r} {raw[:40]!r} has no UTC offset; add one, e.g. +02:00 or Z")
    if not _EARLIEST <= value <= _LATEST:  # beyond them, UTC and deadline arithmetic overflow
        raise Rejected(f"{key!r} {raw[:40]!r} is out of range (years 1970 to 2999)")
    return value


def _int(data: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Rejected(f"{key!r} must be a whole number from {lo} to {hi}")
    return value


def _party(data: Any, where: str, roles: bool = False) -> tuple[PartyIn, str]:
    if not isinstance(data, dict):
        raise Rejected(f"{where!r} must be an object with an 'id'")
    _no_unknown(
        data,
        {"id", "name", "verified", "role"} if roles else {"id", "name", "verified"},
        f"{where}.",
    )
    role = ""
    if roles:
        role = _str(data, "role", where=f"{where}.")
        if role not in _ROLES:
            raise Rejected(f"'{where}.role' must be one of {', '.join(_ROLES)}, got {role[:20]!r}")
    verified = data.get("verified")
    if verified is not None and not isinstance(verified, bool):
        raise Rejected(f"'{where}.verified' must be true or false")
    party = PartyIn(
        _str(data, "id", where=f"{where}."),
        _str(data, "name", required=False, where=f"{where}."),
        verified,
    )
    return party, role


def _listing(data: dict[str, Any], line: int) -> ListingIn:
    seller, _ = _party(data.get("seller"), "seller")
    return ListingIn(
        line,
        _str(data, "id"),
        _str(data, "title"),
        seller,
        _bool(data, "active", True),
        _bool(data, "messaging", True),
        _time(data, "created_at"),
        _opt(data, "category"),
    )


def _message(data: dict[str, Any], line: int, limits: Limits) -> MessageIn:
    sender, role = _party(data.get("from"), "from", roles=True)
    body = _str(data, "body", required=False)
    size = len(body.encode("utf-8"))
    if size > limits.body_bytes:
        raise Rejected(f"body is {size} bytes, over the limit of {limits.body_bytes}")
    kind = _opt(data, "kind")
    if kind is not None and kind not in _INTAKE_KINDS:
        raise Rejected(f"'kind' must be one of {', '.join(_INTAKE_KINDS)}, got {kind[:30]!r}")
    priority = _opt(data, "priority")
    if priority is not None and priority not in {p.value for p in Priority}:
        raise Rejected(f"'priority' must be urgent, high, normal or low, got {priority[:20]!r}")
    return MessageIn(
        line=line,
        id=_str(data, "id"),
        conversation=_str(data, "conversation"),
        sender=sender,
        sender_role=role,
        body=body,
        sent_at=_time(data, "sent_at"),
        kind=kind,
        subject=_opt(data, "subject"),
        listing=_opt(data, "listing"),
        priority=priority,
        category=_opt(data, "category"),
        attachments=_attachments(data, limits),
    )


def _attachments(data: dict[str, Any], limits: Limits) -> tuple[AttachmentIn, ...]:
    raw = data.get("attachments", [])
    if not isinstance(raw, list):
        raise Rejected("'attachments' must be a list")
    out = []
    for i, item in enumerate(raw, start=1):
        where = f"attachments[{i}]."
        if not isinstance(item, dict):
            raise Rejected(f"attachment {i} must be an object with name and content_base64")
        _no_unknown(item, {"name", "content_base64"}, where)
        name = sanitize_filename(_str(item, "name", where=where))
        encoded = _str(item, "content_base64", required=False, where=where)
        if len(encoded) * 3 // 4 > limits.attachment_bytes + 3:
            raise Rejected(f"attachment {i} is over the limit of {limits.attachment_bytes} bytes")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Rejected(f"attachment {i} content_base64 is not valid base64") from None
        if len(content) > limits.attachment_bytes:
            raise Rejected(f"attachment {i} is over the limit of {limits.attachment_bytes} bytes")
        out.append(AttachmentIn(name, content))
    return tuple(out)


def sanitize_filename(name: str) -> str:
    """A safe file name: no directories, no control or bidi characters, no leading dots."""
    base = re.split(r"[/\\]", name)[-1]
    base = _UNSAFE_NAME.sub("", base).strip().lstrip(".")
    return base[:200] or "attachment"


def _feedback(data: dict[str, Any], line: int) -> FeedbackIn:
    rating = _int(data, "rating", 1, 5)
    nps = _int(data, "nps", 0, 10)
    if rating is None and nps is None:
        raise Rejected("feedback needs a 'rating' (1-5) or an 'nps' (0-10)")
    return FeedbackIn(
        line,
        _str(data, "id"),
        _str(data, "conversation"),
        rating,
        nps,
        _str(data, "comment", required=False),
        _time(data, "submitted_at"),
    )


def _flag(data: dict[str, Any], line: int) -> FlagIn:
    target = data.get("target")
    if not isinstance(target, dict) or len(target) != 1:
        raise Rejected('\'target\' must be one of {"message": id}, {"listing": id}, {"party": id}')
    (target_type,) = target
    if target_type not in ("message", "listing", "party"):
        raise Rejected(f"unknown key target.{_short(target_type)}: use message, listing or party")
    return FlagIn(
        line,
        _str(data, "id"),
        target_type,
        _str(target, target_type, where="target."),
        _str(data, "reason"),
        _str(data, "reporter"),
        _time(data, "flagged_at"),
    )
