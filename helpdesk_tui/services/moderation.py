"""Moderation decisions on flagged content: decide, resolve the case, tell the marketplace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from db.enums import Kind, MessageRole, Role, Status, Via
from db.models import Agent, Conversation, Flag, Listing, Message, Party
from helpdesk_tui.errors import InvalidInput, NotFound
from helpdesk_tui.services import audit, notify, sla
from helpdesk_tui.services.authz import act, require
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.conversations import _check_version, _event, _load
from helpdesk_tui.textpolicy import check_text

#: decision -> (what the agent sees, what the reporter is told)
DECISIONS: dict[str, tuple[str, str]] = {
    "removed": (
        "remove the content",
        "Thank you for your report. We reviewed it and removed the content.",
    ),
    "warned": (
        "keep it and warn its author",
        "Thank you for your report. We reviewed it and warned the person responsible.",
    ),
    "suspended": (
        "suspend its author (leads)",
        "Thank you for your report. We reviewed it and suspended the account responsible.",
    ),
    "dismissed": (
        "no violation: keep it",
        "Thank you for your report. We reviewed it and found no breach of our rules.",
    ),
}


@dataclass(frozen=True)
class Decided:
    version: int
    flags: int
    suspended: str | None = None


def _target(s: Session, flag: Flag) -> tuple[dict[str, str], int | None]:
    """The flagged thing as the marketplace names it, and the party responsible for it."""
    if flag.target_message_id is not None:
        ext, author = s.execute(
            select(Message.external_id, Message.author_party_id).where(
                Message.id == flag.target_message_id
            )
        ).one()
        return {"message": ext or ""}, author
    if flag.target_listing_id is not None:
        ext, seller = s.execute(
            select(Listing.external_id, Listing.seller_id).where(
                Listing.id == flag.target_listing_id
            )
        ).one()
        return {"listing": ext}, seller
    if flag.target_party_id is not None:
        ext = s.scalar(select(Party.external_id).where(Party.id == flag.target_party_id))
        return {"party": ext or ""}, flag.target_party_id
    return {}, None


def decide(
    ctx: Context,
    username: str,
    conv_id: int,
    decision: str,
    note: str = "",
    *,
    expected_version: int | None = None,
) -> Decided:
    """Record the decision on a flag's moderation case and resolve it (meets its 12 h clock).

    ``removed`` deactivates a flagged listing; ``suspended`` (leads and admins) suspends the
    party responsible. The reporter is told the outcome through the outbound stream, with the
    decision in machine-readable form for the marketplace to act on.
    """
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}")
    note = check_text(note.strip(), "note")

    def fn(s: Session, me: Agent) -> Decided:
        if decision == "suspended":
            require(me, Role.LEAD, "suspend a party")
        conv = _load(s, conv_id)
        if conv.kind != Kind.FLAG.value:
            raise InvalidInput(f"{conv.external_id} is not a moderation case (kind {conv.kind})")
        _check_version(s, conv, expected_version, me)
        flags = list(s.scalars(select(Flag).where(Flag.conversation_id == conv.id)))
        open_flags = [f for f in flags if f.decision is None]
        if not open_flags:
            done = flags[0].decision if flags else "none"
            raise InvalidInput(f"{conv.external_id} is already decided ({done})")
        now = ctx.now()
        suspended: str | None = None
        reporter = s.scalar(select(Party.external_id).where(Party.id == conv.requester_id))
        for flag in open_flags:
            target, responsible = _target(s, flag)
            if decision == "removed" and flag.target_listing_id is not None:
                listing = s.get(Listing, flag.target_listing_id)
                if listing is not None:
                    listing.active = False
            if decision == "suspended" and responsible is not None:
                party = s.get(Party, responsible)
                if party is not None and not party.suspended:
                    party.suspended = True
                    suspended = party.external_id
                    audit.record(s, me, "party.suspend", "party", party.id,
                                 before={"suspended": False}, after={"suspended": True},
                                 detail=f"flag {flag.external_id}", at=now)  # fmt: skip
            flag.decision = decision
            flag.decided_by_id = me.id
            flag.decided_at = now
            audit.record(s, me, "flag.decide", "flag", flag.id, before={"decision": None},
                         after={"decision": decision, "note": note}, at=now)  # fmt: skip
            notify.enqueue_outbound(
                s,
                key=f"moderation:{flag.external_id}",
                type="moderation_decision",
                recipient=reporter or "",
                body=DECISIONS[decision][1],
                now=now,
                conversation_id=conv.id,
                payload={
                    "to": {"id": reporter or "", "role": "user"},
                    "moderation": {
                        "flag": flag.external_id,
                        "target": target,
                        "decision": decision,
                        "reason": flag.reason,
                    },
                },
            )
        s.add(
            Message(
                conversation_id=conv.id,
                author_agent_id=me.id,
                author_name=me.display_name or me.username,
                role=MessageRole.SYSTEM.value,
                internal=True,
                via=Via.CONSOLE.value,
                body=f"Decision: {decision} by {me.username}" + (f": {note}" if note else ""),
                sent_at=now,
            )
        )
        old = conv.status
        if old not in (Status.RESOLVED.value, Status.CLOSED.value):
            conv.status = Status.RESOLVED.value
            conv.is_open = False
            conv.resolved_at = now
            _event(s, conv, "status", old, Status.RESOLVED.value, me, ctx)
        conv.updated_at = now
        s.flush()
        sla.recompute(s, ctx.settings, [conv.id], cause=f"decision {decision} by {me.username}")
        return Decided(conv.version, len(open_flags), suspended)

    return act(ctx, username, "flag.decide", "conversation", conv_id, fn)


def case_id(ctx: Context, ref: str) -> int:
    """The moderation conversation named by its external id (``flag:fl-1``) or its flag id."""
    with ctx.db.read() as s:
        found = s.scalar(
            select(Conversation.id).where(
                Conversation.kind == Kind.FLAG.value,
                Conversation.external_id.in_([ref, f"flag:{ref}"]),
            )
        )
    if found is None:
        raise NotFound(f"no moderation case {ref!r} (give the flag id, e.g. fl-1)")
    return found


@dataclass(frozen=True)
class FlagRow:
    flag: str
    target: str
    reason: str
    flagged_at: datetime
    due_at: datetime | None
    decision: str | None
    decided_by: str | None
    open: bool = True

    @property
    def state(self) -> str:
        """The decision, or ``pending`` while the case is open (``closed`` if it was resolved
        without a decision, e.g. by a status change)."""
        return self.decision or ("pending" if self.open else "closed")


def list_flags(ctx: Context, *, pending_only: bool = True, limit: int = 200) -> list[FlagRow]:
    """Flags, oldest first; pending ones (no decision, case open) unless ``pending_only`` is
    off."""
    from sqlalchemy import case

    target = case(
        (Flag.target_message_id.is_not(None), "message"),
        (Flag.target_listing_id.is_not(None), "listing"),
        else_="party",
    )
    q = (
        select(
            Flag.external_id,
            target,
            Flag.reason,
            Flag.flagged_at,
            Conversation.due_at,
            Flag.decision,
            Agent.username,
            Conversation.is_open,
        )
        .outerjoin(Conversation, Conversation.id == Flag.conversation_id)
        .outerjoin(Agent, Agent.id == Flag.decided_by_id)
        .order_by(Flag.flagged_at, Flag.id)
        .limit(limit)
    )
    if pending_only:
        q = q.where(Flag.decision.is_(None), Conversation.is_open == true())
    with ctx.db.read() as s:
        return [FlagRow(*r[:7], open=bool(r[7])) for r in s.execute(q)]
