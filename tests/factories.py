"""Builders of intake records (JSON Lines) and small read helpers for database tests."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from db.models import Conversation, Message, SlaClock
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import IngestSummary, Intake

#: Monday 2 March 2026, 09:00 in Johannesburg (07:00 UTC).
BASE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
_SAST = ZoneInfo("Africa/Johannesburg")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def at(minutes: float = 0, *, hours: float = 0, days: float = 0) -> datetime:
    """An instant relative to BASE."""
    return BASE + timedelta(minutes=minutes, hours=hours, days=days)


def iso(when: datetime | float) -> str:
    """ISO 8601 with a +02:00 offset (as the marketplace sends it)."""
    if not isinstance(when, datetime):
        when = at(when)
    return when.astimezone(_SAST).isoformat()


def listing(lid: str = "L-1", seller: str = "u-9", **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "type": "listing",
        "id": lid,
        "title": f"Listing {lid}",
        "seller": {"id": seller, "name": f"Seller {seller}"},
        "active": True,
        "messaging": True,
        "created_at": iso(at(days=-1)),
    }
    rec.update(extra)
    return rec


def message(
    mid: str,
    conversation: str = "c-1",
    *,
    sender: str = "u-1",
    role: str = "user",
    sent_at: datetime | float = 0,
    kind: str | None = "user_admin",
    body: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": mid,
        "conversation": conversation,
        "from": {"id": sender, "role": role, "name": f"Name {sender}"},
        "body": body if body is not None else f"body of {mid}",
        "sent_at": iso(sent_at),
    }
    if kind is not None:
        rec["kind"] = kind
        rec.setdefault("subject", f"Subject of {conversation}")
    rec.update(extra)
    return rec


def feedback(fid: str = "f-1", conversation: str = "c-1", **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "type": "feedback",
        "id": fid,
        "conversation": conversation,
        "rating": 5,
        "nps": 9,
        "comment": "great",
        "submitted_at": iso(at(hours=2)),
    }
    rec.update(extra)
    return rec


def flag(fid: str = "fl-1", target: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "type": "flag",
        "id": fid,
        "target": target or {"listing": "L-1"},
        "reason": "spam",
        "reporter": "u-2",
        "flagged_at": iso(at(hours=1)),
    }
    rec.update(extra)
    return rec


def attachment(name: str, content: bytes) -> dict[str, str]:
    return {"name": name, "content_base64": base64.b64encode(content).decode()}


def line(record: dict[str, Any] | str | bytes) -> bytes:
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode()
    return json.dumps(record).encode()


@dataclass
class Run:
    """The outcome of one intake run: the summary and every rejected (line, raw, reason)."""

    summary: IngestSummary
    rejects: list[tuple[int, bytes, str]] = field(default_factory=list)

    @property
    def reasons(self) -> dict[int, str]:
        return {n: reason for n, _raw, reason in self.rejects}


def ingest(ctx: Context, *records: dict[str, Any] | str | bytes) -> Run:
    """Feed records (dicts, JSON text or raw bytes) through a fresh Intake."""
    rejects: list[tuple[int, bytes, str]] = []
    summary = Intake(ctx, lambda n, raw, why: rejects.append((n, raw, why))).run(
        [line(r) + b"\n" for r in records]
    )
    return Run(summary, rejects)


def conversation(ctx: Context, external_id: str) -> Conversation:
    with ctx.db.read() as s:
        conv = s.scalar(select(Conversation).where(Conversation.external_id == external_id))
        assert conv is not None, f"no conversation {external_id}"
        s.expunge_all()  # keep the loaded state past the read session's rollback
        return conv


def clocks(ctx: Context, external_id: str) -> dict[tuple[str, int], SlaClock]:
    """The stored clocks of a conversation keyed by (target, seq)."""
    conv = conversation(ctx, external_id)
    with ctx.db.read() as s:
        out = {
            (c.target, c.seq): c
            for c in s.scalars(select(SlaClock).where(SlaClock.conversation_id == conv.id))
        }
        s.expunge_all()
        return out


def clock_view(ctx: Context, external_id: str) -> list[tuple[Any, ...]]:
    """Order-independent comparable summary of a conversation's clocks."""
    return sorted(
        (
            c.target,
            c.seq,
            c.state,
            c.target_s,
            c.started_at,
            c.due_at,
            c.stopped_at,
            c.elapsed_s,
            c.paused_s,
        )
        for c in clocks(ctx, external_id).values()
    )


def messages(ctx: Context, external_id: str | None = None) -> list[Message]:
    with ctx.db.read() as s:
        q = select(Message).order_by(Message.id)
        if external_id is not None:
            conv = conversation(ctx, external_id)
            q = q.where(Message.conversation_id == conv.id)
        out = list(s.scalars(q))
        s.expunge_all()
        return out


def count(ctx: Context, model: type) -> int:
    from sqlalchemy import func

    with ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)
