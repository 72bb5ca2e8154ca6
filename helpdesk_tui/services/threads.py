"""Read side of the conversation screen, drafts that survive a dropped session, and presence."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, true
from sqlalchemy.orm import Session, aliased

from db.models import (
    Agent,
    ClockEvent,
    Conversation,
    Draft,
    Escalation,
    Message,
    Party,
    Presence,
    SlaClock,
)
from db.records import (
    AttachmentView,
    ClockEventView,
    ClockView,
    ConversationDetail,
    DraftView,
    EscalationView,
    MessageView,
    PartyView,
)
from helpdesk_tui.errors import NotFound
from helpdesk_tui.services.authz import load_actor
from helpdesk_tui.services.context import Context
from helpdesk_tui.textpolicy import check_text

#: How long a console's presence counts after its last heartbeat.
PRESENCE_TTL = timedelta(seconds=90)


def _party(s: Session, party: Party, conv_id: int) -> PartyView:
    others = s.scalar(
        select(func.count()).where(
            Conversation.requester_id == party.id, Conversation.id != conv_id
        )
    )
    return PartyView(party.external_id, party.name, party.verified, party.suspended, others or 0)


def load_detail(ctx: Context, conv_id: int, *, viewer: str | None = None) -> ConversationDetail:
    """The whole thread with its side panel, in a handful of queries."""
    with ctx.db.read() as s:
        conv = s.get(Conversation, conv_id)
        if conv is None:
            raise NotFound(f"no conversation #{conv_id}")
        messages = tuple(
            MessageView(
                m.id,
                m.external_id,
                m.author_name,
                m.role,
                m.body,
                m.internal,
                m.via,
                m.sent_at,
                tuple(
                    AttachmentView(a.id, a.name, a.mime_type, a.size, a.sha256, a.stored_path)
                    for a in m.attachments
                ),
            )
            for m in s.scalars(
                select(Message)
                .where(Message.conversation_id == conv_id)
                .order_by(Message.sent_at, Message.id)
            )
        )
        clocks = tuple(
            ClockView(
                c.target,
                c.seq,
                c.state,
                c.started_at,
                c.due_at,
                c.stopped_at,
                c.elapsed_s,
                c.target_s,
                c.policy,
            )
            for c in s.scalars(
                select(SlaClock)
                .where(SlaClock.conversation_id == conv_id)
                .order_by(SlaClock.started_at, SlaClock.id)
            )
        )
        events = tuple(
            ClockEventView(e.target, e.seq, e.event, e.at, e.cause)
            for e in s.scalars(
                select(ClockEvent)
                .where(ClockEvent.conversation_id == conv_id)
                .order_by(ClockEvent.at, ClockEvent.id)
            )
        )
        by, to = aliased(Agent), aliased(Agent)
        escalations = tuple(
            EscalationView(e.level, e.reason, b, t, e.automatic, e.created_at)
            for e, b, t in s.execute(
                select(Escalation, by.username, to.username)
                .outerjoin(by, by.id == Escalation.by_agent_id)
                .outerjoin(to, to.id == Escalation.to_agent_id)
                .where(Escalation.conversation_id == conv_id)
                .order_by(Escalation.created_at)
            )
        )
        viewers = tuple(
            s.scalars(
                select(Agent.username)
                .join(Presence, Presence.agent_id == Agent.id)
                .where(
                    Presence.conversation_id == conv_id,
                    Presence.seen_at >= ctx.now() - PRESENCE_TTL,
                )
                .where(Agent.username != (viewer or ""))
                .order_by(Agent.username)
            )
        )
        listing = conv.listing
        return ConversationDetail(
            id=conv.id,
            external_id=conv.external_id,
            kind=conv.kind,
            subject=conv.subject,
            status=conv.status,
            priority=conv.priority,
            category=conv.category,
            team=conv.team.name if conv.team else None,
            assignee=conv.assignee.username if conv.assignee else None,
            escalation_level=conv.escalation_level,
            version=conv.version,
            requester=_party(s, conv.requester, conv.id),
            listing_title=listing.title if listing else None,
            listing_id=listing.external_id if listing else None,
            seller=_party(s, listing.seller, conv.id) if listing else None,
            due_at=conv.due_at,
            due_for=conv.due_for,
            messages=messages,
            clocks=clocks,
            clock_events=events,
            escalations=escalations,
            viewers=viewers,
        )


def neighbour_ids(ctx: Context, conv_id: int) -> tuple[int | None, int | None]:
    """The conversations before and after ``conv_id`` in queue order."""
    with ctx.db.read() as s:
        here = s.execute(
            select(Conversation.queue_due_at, Conversation.id).where(Conversation.id == conv_id)
        ).one_or_none()
        if here is None:
            return None, None
        due, cid = here
        key = (Conversation.queue_due_at, Conversation.id)
        prev = s.scalar(
            select(Conversation.id)
            .where(Conversation.is_open == true())
            .where((key[0] < due) | ((key[0] == due) & (key[1] < cid)))
            .order_by(key[0].desc(), key[1].desc())
            .limit(1)
        )
        nxt = s.scalar(
            select(Conversation.id)
            .where(Conversation.is_open == true())
            .where((key[0] > due) | ((key[0] == due) & (key[1] > cid)))
            .order_by(key[0], key[1])
            .limit(1)
        )
        return prev, nxt


# -- drafts -----------------------------------------------------------------------------------
def load_draft(ctx: Context, username: str, conv_id: int) -> DraftView | None:
    with ctx.db.read() as s:
        row = s.execute(
            select(Draft)
            .join(Agent, Agent.id == Draft.agent_id)
            .where(Agent.username == username, Draft.conversation_id == conv_id)
        ).scalar_one_or_none()
        if row is None:
            return None
        return DraftView(row.body, row.internal, row.idempotency_key, row.updated_at)


def save_draft(ctx: Context, username: str, conv_id: int, body: str, internal: bool) -> str:
    """Store the composer's text; returns the draft's idempotency key (stable until sent)."""
    check_text(body, "draft")

    def fn(s: Session) -> str:
        me = load_actor(s, username)
        draft = s.scalar(
            select(Draft).where(Draft.agent_id == me.id, Draft.conversation_id == conv_id)
        )
        if draft is None:
            draft = Draft(conversation_id=conv_id, agent_id=me.id, idempotency_key=uuid.uuid4().hex)
            s.add(draft)
        draft.body = body
        draft.internal = internal
        draft.updated_at = ctx.now()
        return draft.idempotency_key

    return ctx.db.write(fn)


def discard_draft(ctx: Context, username: str, conv_id: int) -> None:
    def fn(s: Session) -> None:
        me = load_actor(s, username)
        s.execute(delete(Draft).where(Draft.agent_id == me.id, Draft.conversation_id == conv_id))

    ctx.db.write(fn)


# -- presence ---------------------------------------------------------------------------------
def touch_presence(ctx: Context, username: str, conv_id: int | None) -> None:
    """Say which conversation this agent has open (None: none)."""

    def fn(s: Session) -> None:
        agent_id = s.scalar(select(Agent.id).where(Agent.username == username))
        if agent_id is None:
            return
        s.execute(
            delete(Presence).where(
                Presence.agent_id == agent_id, Presence.conversation_id != (conv_id or -1)
            )
        )
        if conv_id is None:
            return
        row = s.scalar(
            select(Presence).where(
                Presence.agent_id == agent_id, Presence.conversation_id == conv_id
            )
        )
        if row is None:
            s.add(Presence(agent_id=agent_id, conversation_id=conv_id, seen_at=ctx.now()))
        else:
            row.seen_at = ctx.now()

    ctx.db.write(fn)
