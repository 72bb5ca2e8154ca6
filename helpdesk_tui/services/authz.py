"""Who may do what: roles checked against the database at each action, refusals audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.enums import Role
from db.models import Agent
from helpdesk_tui.errors import PermissionDenied
from helpdesk_tui.services import audit
from helpdesk_tui.services.context import Context

T = TypeVar("T")
_RANK = {Role.AGENT.value: 0, Role.LEAD.value: 1, Role.ADMIN.value: 2}


class Denied(Exception):
    """Raised inside a transaction; ``act`` rolls back, audits the refusal, re-raises."""

    def __init__(self, actor: str, reason: str) -> None:
        super().__init__(reason)
        self.actor = actor
        self.reason = reason


def load_actor(session: Session, username: str) -> Agent:
    """The acting agent, fresh from the database; inactive or unknown agents may do nothing."""
    agent = session.scalar(select(Agent).where(Agent.username == username))
    if agent is None:
        raise Denied(username, f"{username!r} is not an agent here (ask an admin to add you)")
    if not agent.active:
        raise Denied(username, f"agent {username!r} is deactivated")
    return agent


def require(agent: Agent, role: Role, what: str) -> None:
    """Raise Denied unless ``agent`` has at least ``role``."""
    if _RANK[agent.role] < _RANK[role.value]:
        article = "an" if role.value[0] in "aeiou" else "a"
        raise Denied(
            agent.username,
            f"only {article} {role.value} may {what} ({agent.username} is {agent.role})",
        )


def act(
    ctx: Context,
    username: str,
    action: str,
    target_type: str,
    target_id: object,
    fn: Callable[[Session, Agent], T],
) -> T:
    """Run ``fn(session, actor)`` in one write transaction; a refusal changes nothing and is
    itself audited (in its own transaction, after the rollback)."""
    try:
        return ctx.db.write(lambda s: fn(s, load_actor(s, username)))
    except Denied as denied:
        who, reason = denied.actor, denied.reason
    ctx.db.write(
        lambda s: audit.record(
            s, who, action, target_type, target_id, allowed=False, detail=reason, at=ctx.now()
        )
    )
    raise PermissionDenied(reason)
