"""Why a deadline is what it is: the clocks and their event log, for `helpdesk sla explain`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, true

from db.models import ClockEvent, Conversation, SlaClock
from helpdesk_tui.errors import NotFound
from helpdesk_tui.services import sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.sla.policy import format_duration
from widgets.sanitize import clean


@dataclass(frozen=True)
class ClockLine:
    target: str
    seq: int
    state: str
    policy: str
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_s: int | None
    target_s: int
    breached_at: datetime | None


@dataclass(frozen=True)
class EventLine:
    target: str
    seq: int
    event: str
    at: datetime
    due_at: datetime | None
    cause: str


@dataclass(frozen=True)
class Explanation:
    conversation: str
    subject: str
    clocks: tuple[ClockLine, ...]
    events: tuple[EventLine, ...]


def explain(ctx: Context, conversation: str | int) -> Explanation:
    """The clocks of one conversation and the log that explains them."""
    with ctx.db.read() as s:
        q = select(Conversation)
        q = (
            q.where(Conversation.id == conversation)
            if isinstance(conversation, int)
            else q.where(Conversation.external_id == conversation)
        )
        conv = s.scalar(q)
        if conv is None:
            raise NotFound(f"no conversation {conversation!r}")
        clocks = tuple(
            ClockLine(
                c.target,
                c.seq,
                c.state,
                c.policy,
                c.started_at,
                c.due_at,
                c.stopped_at,
                c.elapsed_s,
                c.target_s,
                c.breached_at,
            )
            for c in s.scalars(
                select(SlaClock)
                .where(SlaClock.conversation_id == conv.id)
                .order_by(SlaClock.started_at, SlaClock.id)
            )
        )
        events = tuple(
            EventLine(e.target, e.seq, e.event, e.at, e.due_at, e.cause)
            for e in s.scalars(
                select(ClockEvent)
                .where(ClockEvent.conversation_id == conv.id)
                .order_by(ClockEvent.at, ClockEvent.id)
            )
        )
        return Explanation(conv.external_id, conv.subject, clocks, events)


def explain_text(ctx: Context, conversation: str, now: datetime) -> str:
    e = explain(ctx, conversation)
    fmt = "%Y-%m-%d %H:%M:%SZ"
    out = [f"{clean(e.conversation, single_line=True)}: {clean(e.subject, single_line=True)}", ""]
    out.append("clocks:")
    for c in e.clocks:
        if c.due_at and c.state == "running":
            left = (c.due_at - now).total_seconds()
            status = (
                f"due {c.due_at:{fmt}} ({'breached ' if left < 0 else ''}{format_duration(left)})"
            )
        elif c.state == "met":
            verdict = "in time" if (c.elapsed_s or 0) <= c.target_s else "late"
            status = (
                f"met {c.stopped_at:{fmt}} after {format_duration(c.elapsed_s or 0)} ({verdict})"
            )
        else:
            status = c.state
        out.append(f"  {c.target}#{c.seq}: {status}; policy {c.policy}")
    out += ["", "events:"]
    for ev in e.events:
        due = f" -> due {ev.due_at:{fmt}}" if ev.due_at else ""
        cause = clean(ev.cause, single_line=True)
        out.append(f"  {ev.at:{fmt}} {ev.target}#{ev.seq} {ev.event}: {cause}{due}")
    return "\n".join(out)


def recompute_open(ctx: Context, batch: int = 500) -> int:
    """Recompute every open conversation's clocks, in batches."""
    with ctx.db.read() as s:
        ids = list(s.scalars(select(Conversation.id).where(Conversation.is_open == true())))
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        ctx.db.write(
            lambda s, chunk=chunk: sla.recompute(s, ctx.settings, chunk, cause="sla recompute")
        )
    return len(ids)
