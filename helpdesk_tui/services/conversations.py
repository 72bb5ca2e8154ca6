"""Agent actions on a conversation: reply, note, assign, status, priority, escalate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.enums import OPEN_STATUSES, Kind, MessageRole, Priority, Role, Status, Via
from db.models import (
    Agent,
    AuditEvent,
    Conversation,
    ConversationEvent,
    Draft,
    Escalation,
    Message,
    OutboxItem,
)
from helpdesk_tui.errors import Collision, InvalidInput, NotFound
from helpdesk_tui.services import audit, sla
from helpdesk_tui.services.authz import Denied, act, require
from helpdesk_tui.services.context import Context
from helpdesk_tui.textpolicy import check_text

#: Statuses an agent may set from the console.
SETTABLE = (Status.OPEN, Status.PENDING_CUSTOMER, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED)


@dataclass(frozen=True)
class Sent:
    """A message stored by a send; ``duplicate`` when the idempotency key was already used."""

    message_id: int
    version: int
    duplicate: bool = False


def _load(session: Session, conv_id: int) -> Conversation:
    conv = session.get(Conversation, conv_id)
    if conv is None:
        raise NotFound(f"no conversation #{conv_id}")
    return conv


def _check_version(session: Session, conv: Conversation, expected: int | None, me: Agent) -> None:
    """Refuse to act on a conversation someone else changed since ``expected`` was read."""
    if expected is None or conv.version == expected:
        return
    changes = [
        f"{who or 'someone'} {action.replace('conversation.', '')}"
        for who, action in session.execute(
            select(AuditEvent.actor, AuditEvent.action)
            .where(
                AuditEvent.target_type == "conversation",
                AuditEvent.target_id == str(conv.id),
                AuditEvent.allowed.is_(True),
                AuditEvent.actor != me.username,
            )
            .order_by(AuditEvent.id.desc())
            .limit(5)
        )
    ]
    what = "; ".join(changes) or "new messages arrived"
    raise Collision(
        f"conversation changed since you opened it ({what}): review it, then try again",
        changes,
    )


def _event(session: Session, conv: Conversation, field: str, old: str | None, new: str | None,
           actor: Agent | None, ctx: Context) -> None:  # fmt: skip
    session.add(
        ConversationEvent(
            conversation_id=conv.id,
            field=field,
            old=old,
            new=new,
            actor_agent_id=actor.id if actor else None,
            at=ctx.now(),
        )
    )


def send(
    ctx: Context,
    username: str,
    conv_id: int,
    body: str,
    *,
    internal: bool = False,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    template_id: int | None = None,
) -> Sent:
    """Post a public reply (or an internal note) as ``username``.

    With ``idempotency_key`` a retried send after a lost connection stores the message once.
    """
    check_text(body, "message")
    if not body.strip():
        raise InvalidInput("the message is empty: write something first")
    key = idempotency_key or uuid.uuid4().hex
    action = "conversation.note" if internal else "conversation.reply"

    def fn(s: Session, me: Agent) -> Sent:
        done = s.scalar(select(Message).where(Message.idempotency_key == key))
        if done is not None:
            return Sent(done.id, _load(s, done.conversation_id).version, duplicate=True)
        conv = _load(s, conv_id)
        _check_version(s, conv, expected_version, me)
        now = ctx.now()
        via = Via.TEMPLATE if template_id else Via.CONSOLE
        msg = Message(
            conversation_id=conv.id,
            author_agent_id=me.id,
            author_name=me.display_name,
            role=MessageRole.AGENT.value,
            body=body,
            internal=internal,
            via=via.value,
            sent_at=now,
            idempotency_key=key,
            template_id=template_id,
        )
        s.add(msg)
        s.execute(delete(Draft).where(Draft.idempotency_key == key))
        if not internal:
            conv.last_message_at = now
            if conv.status == Status.NEW:
                _event(s, conv, "status", conv.status, Status.OPEN.value, me, ctx)
                conv.status = Status.OPEN.value
            if conv.assignee_id is None:
                conv.assignee_id = me.id
        conv.updated_at = now
        s.flush()
        if not internal:
            _outbound_reply(s, conv, msg, me)
        audit.record(
            s,
            me,
            action,
            "conversation",
            conv.id,
            after={"message": msg.id, "internal": internal, "chars": len(body)},
            at=ctx.now(),
        )
        s.flush()
        sla.recompute(
            s, ctx.settings, [conv.id], cause=f"{'note' if internal else 'reply'} by {me.username}"
        )
        return Sent(msg.id, conv.version)

    return act(ctx, username, action, "conversation", conv_id, fn)


def _outbound_reply(s: Session, conv: Conversation, msg: Message, me: Agent) -> None:
    """A public reply is something the marketplace must deliver: queue an outbound record."""
    s.add(
        OutboxItem(
            idempotency_key=f"reply:{msg.id}",
            channel="outbound",
            type="reply",
            conversation_id=conv.id,
            message_id=msg.id,
            recipient=conv.requester.external_id if conv.requester else "",
            body=msg.body,
            payload={"agent": me.username, "name": me.display_name},
        )
    )


def _outbound_survey(s: Session, conv: Conversation, now: datetime) -> None:
    """A resolved conversation asks its requester to rate it: one outbound survey request per
    resolution (the n-th resolution of a reopened thread asks again)."""
    from helpdesk_tui.services.notify import enqueue_outbound

    s.flush()  # the status event just added counts as this resolution
    n = s.scalar(
        select(func.count()).where(
            ConversationEvent.conversation_id == conv.id,
            ConversationEvent.field == "status",
            ConversationEvent.new == Status.RESOLVED.value,
        )
    )
    requester = conv.requester.external_id if conv.requester else ""
    role = "buyer" if conv.kind == Kind.BUYER_SELLER else "user"
    enqueue_outbound(
        s,
        key=f"survey:{conv.id}:{n}",
        type="survey_request",
        recipient=requester,
        body=(
            f'Your conversation "{conv.subject[:200]}" (ref {conv.external_id[:80]}) has been '
            "resolved. How did we do? Please rate it from 1 to 5 and tell us how likely you "
            "are to recommend us (0-10)."
        ),
        now=now,
        conversation_id=conv.id,
        payload={"system": True, "to": {"id": requester, "role": role}, "resolution": n},
    )


def set_status(
    ctx: Context, username: str, conv_id: int, status: str, *, expected_version: int | None = None
) -> int:
    """Change the status; resolving stops the clocks, pending pauses resolution."""
    if status not in {s.value for s in SETTABLE}:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in SETTABLE)}")

    def fn(s: Session, me: Agent) -> int:
        conv = _load(s, conv_id)
        _check_version(s, conv, expected_version, me)
        old = conv.status
        if old == status:
            return conv.version
        now = ctx.now()
        conv.status = status
        conv.is_open = status in OPEN_STATUSES
        if status not in (Status.RESOLVED, Status.CLOSED):
            conv.resolved_at = None
        elif conv.resolved_at is None:  # closing a resolved thread keeps when it was resolved
            conv.resolved_at = now
        conv.updated_at = now
        _event(s, conv, "status", old, status, me, ctx)
        if status == Status.RESOLVED and conv.kind != Kind.FLAG:
            _outbound_survey(s, conv, now)
        audit.record(
            s,
            me,
            "conversation.status",
            "conversation",
            conv.id,
            before={"status": old},
            after={"status": status},
            at=ctx.now(),
        )
        s.flush()
        sla.recompute(
            s, ctx.settings, [conv.id], cause=f"status {old} -> {status} by {me.username}"
        )
        return conv.version

    return act(ctx, username, "conversation.status", "conversation", conv_id, fn)


def set_priority(
    ctx: Context, username: str, conv_id: int, priority: str, *, expected_version: int | None = None
) -> int:
    """Change the priority; running clocks are recomputed under the new targets."""
    if priority not in {p.value for p in Priority}:
        raise InvalidInput("priority must be urgent, high, normal or low")

    def fn(s: Session, me: Agent) -> int:
        conv = _load(s, conv_id)
        _check_version(s, conv, expected_version, me)
        old = conv.priority
        if old == priority:
            return conv.version
        conv.priority = priority
        conv.updated_at = ctx.now()
        _event(s, conv, "priority", old, priority, me, ctx)
        audit.record(
            s,
            me,
            "conversation.priority",
            "conversation",
            conv.id,
            before={"priority": old},
            after={"priority": priority},
            at=ctx.now(),
        )
        s.flush()
        sla.recompute(
            s, ctx.settings, [conv.id], cause=f"priority {old} -> {priority} by {me.username}"
        )
        return conv.version

    return act(ctx, username, "conversation.priority", "conversation", conv_id, fn)


def assign(
    ctx: Context,
    username: str,
    conv_id: int,
    assignee: str | None,
    *,
    expected_version: int | None = None,
) -> int:
    """Take (assign to yourself), release, or — leads only — assign to anyone."""

    def fn(s: Session, me: Agent) -> int:
        conv = _load(s, conv_id)
        _check_version(s, conv, expected_version, me)
        target = None
        if assignee is not None:
            target = s.scalar(select(Agent).where(Agent.username == assignee))
            if target is None or not target.active:
                raise InvalidInput(f"no active agent {assignee!r}")
        current = conv.assignee
        self_service = (target is None or target.id == me.id) and (
            current is None or current.id == me.id
        )
        if not self_service:
            require(me, Role.LEAD, "assign conversations to others or take them from others")
        if (current.id if current else None) == (target.id if target else None):
            return conv.version
        conv.assignee_id = target.id if target else None
        conv.updated_at = ctx.now()
        before = current.username if current else None
        after = target.username if target else None
        _event(s, conv, "assignee", before, after, me, ctx)
        audit.record(
            s,
            me,
            "conversation.assign",
            "conversation",
            conv.id,
            before={"assignee": before},
            after={"assignee": after},
            at=ctx.now(),
        )
        s.flush()
        return conv.version

    return act(ctx, username, "conversation.assign", "conversation", conv_id, fn)


def escalate(ctx: Context, username: str, conv_id: int, level: int, reason: str) -> int:
    """Escalate to the team lead (level 1) or management (level 2, leads only)."""
    check_text(reason, "reason")
    if not reason.strip():
        raise InvalidInput("an escalation needs a reason")
    if level not in (1, 2):
        raise InvalidInput("escalation level is 1 (team lead) or 2 (management)")

    def fn(s: Session, me: Agent) -> int:
        if level == 2:
            require(me, Role.LEAD, "escalate to management (level 2)")
        conv = _load(s, conv_id)
        if s.scalar(
            select(Escalation.id).where(
                Escalation.conversation_id == conv.id, Escalation.level == level
            )
        ):
            raise InvalidInput(f"already escalated to level {level}")
        to = _escalation_target(s, conv, level, me)
        s.add(
            Escalation(
                conversation_id=conv.id,
                level=level,
                reason=reason.strip(),
                by_agent_id=me.id,
                to_agent_id=to.id if to else None,
                to_team_id=conv.team_id,
                created_at=ctx.now(),
            )
        )
        old = conv.escalation_level
        conv.escalation_level = max(old, level)
        conv.updated_at = ctx.now()
        if conv.priority in (Priority.LOW, Priority.NORMAL):
            _event(s, conv, "priority", conv.priority, Priority.HIGH.value, me, ctx)
            conv.priority = Priority.HIGH.value
        audit.record(
            s,
            me,
            "conversation.escalate",
            "conversation",
            conv.id,
            before={"level": old},
            after={"level": conv.escalation_level, "to": to.username if to else None},
            detail=reason,
            at=ctx.now(),
        )
        s.flush()
        sla.recompute(s, ctx.settings, [conv.id], cause=f"escalated to level {level}")
        return conv.version

    return act(ctx, username, "conversation.escalate", "conversation", conv_id, fn)


def _escalation_target(
    s: Session, conv: Conversation, level: int, by: Agent | None = None
) -> Agent | None:
    """Level 1: a lead of the conversation's team (else any lead); level 2: an admin.
    Never the person escalating."""
    role = Role.LEAD.value if level == 1 else Role.ADMIN.value
    q = select(Agent).where(Agent.role == role, Agent.active.is_(True)).order_by(Agent.id)
    if by is not None:
        q = q.where(Agent.id != by.id)
    if level == 1 and conv.team_id is not None:
        in_team = s.scalar(q.where(Agent.team_id == conv.team_id))
        if in_team is not None:
            return in_team
    return s.scalar(q)


def reopen_window(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.policy.reopen_window_s)


def other_conversations(s: Session, requester_id: int, conv_id: int) -> int:
    return (
        s.scalar(
            select(func.count()).where(
                Conversation.requester_id == requester_id, Conversation.id != conv_id
            )
        )
        or 0
    )


__all__ = [
    "SETTABLE",
    "Collision",
    "Denied",
    "Kind",
    "Sent",
    "assign",
    "escalate",
    "send",
    "set_priority",
    "set_status",
]
