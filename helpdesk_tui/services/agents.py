"""Agents and teams: who works the queues."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.enums import Role
from db.models import Agent, Team
from helpdesk_tui.errors import InvalidInput, NotFound, PermissionDenied
from helpdesk_tui.services import audit
from helpdesk_tui.services.authz import Denied, act, require
from helpdesk_tui.services.context import Context
from helpdesk_tui.textpolicy import check_text


@dataclass(frozen=True)
class AgentRow:
    username: str
    display_name: str
    role: str
    team: str | None
    active: bool


@dataclass(frozen=True)
class TeamRow:
    name: str
    description: str
    calendar: str
    agents: int


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _admin_or_bootstrap(session: Session, actor: str) -> str:
    """Admins manage agents and teams; while no admin exists, anyone may (first set-up)."""
    admins = session.scalar(
        select(func.count()).where(Agent.role == Role.ADMIN.value, Agent.active.is_(True))
    )
    if not admins:
        return actor
    agent = session.scalar(select(Agent).where(Agent.username == actor))
    if agent is None or not agent.active:
        raise Denied(actor, f"{actor!r} is not an active admin: only admins manage agents")
    require(agent, Role.ADMIN, "manage agents and teams")
    return agent.username


def _write_as_admin(
    ctx: Context,
    actor: str,
    action: str,
    target: str,
    fn: Callable[[Session, str], None],
    target_type: str = "agent",
) -> None:
    def run(session: Session, _agent: Agent | None = None) -> None:
        who = _admin_or_bootstrap(session, actor)
        fn(session, who)

    try:
        ctx.db.write(run)
        return
    except Denied as denied:
        reason = denied.reason
    ctx.db.write(
        lambda s: audit.record(
            s, actor, action, target_type, target, allowed=False, detail=reason, at=ctx.now()
        )
    )
    raise PermissionDenied(reason)


def add_team(
    ctx: Context, actor: str, name: str, description: str = "", calendar: str = "default"
) -> None:
    check_text(name, "team name")
    if not name.strip():
        raise InvalidInput("team name is empty")
    if calendar not in ctx.settings.calendars:
        raise InvalidInput(
            f"unknown calendar {calendar!r}: define [calendars.{calendar}] in the config"
        )

    def fn(session: Session, who: str) -> None:
        if session.scalar(select(Team).where(Team.name == name)):
            raise InvalidInput(f"team {name!r} already exists")
        session.add(Team(name=name, description=description, calendar=calendar))
        audit.record(
            session,
            who,
            "team.add",
            "team",
            name,
            after={"name": name, "calendar": calendar},
            at=ctx.now(),
        )

    _write_as_admin(ctx, actor, "team.add", name, fn, "team")


def list_teams(ctx: Context) -> list[TeamRow]:
    with ctx.db.read() as s:
        counts = dict(
            s.execute(
                select(Agent.team_id, func.count())
                .where(Agent.active.is_(True))
                .group_by(Agent.team_id)
            ).all()
        )
        return [
            TeamRow(t.name, t.description, t.calendar, counts.get(t.id, 0))
            for t in s.scalars(select(Team).order_by(Team.name))
        ]


def add_agent(
    ctx: Context,
    actor: str,
    username: str,
    name: str,
    role: str,
    team: str | None,
    *,
    email: str | None = None,
) -> None:
    """Add an agent; ``email`` is where escalations and at-risk alerts are sent."""
    for value, what in ((username, "username"), (name, "name")):
        check_text(value, what)
        if not value.strip():
            raise InvalidInput(f"agent {what} is empty")
    if email is not None and not _EMAIL.fullmatch(email):
        raise InvalidInput(f"{email!r} is not an e-mail address (name@example.com)")
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"role must be agent, lead or admin, not {role!r}")

    def fn(session: Session, who: str) -> None:
        team_id = None
        if team:
            team_row = session.scalar(select(Team).where(Team.name == team))
            if team_row is None:
                raise InvalidInput(
                    f"unknown team {team!r}: add it with `helpdesk teams add {team}`"
                )
            team_id = team_row.id
        existing = session.scalar(select(Agent).where(Agent.username == username))
        if existing is not None:
            raise InvalidInput(f"agent {username!r} already exists")
        session.add(
            Agent(username=username, display_name=name, role=role, team_id=team_id, email=email)
        )
        audit.record(
            session,
            who,
            "agent.add",
            "agent",
            username,
            after={"role": role, "team": team, "name": name},
            at=ctx.now(),
        )

    try:
        _write_as_admin(ctx, actor, "agent.add", username, fn)
    except IntegrityError:
        raise InvalidInput(f"agent {username!r} already exists") from None


def set_agent(
    ctx: Context, actor: str, username: str, *, role: str | None = None, active: bool | None = None
) -> None:
    """Change an agent's role or deactivate/reactivate them (admins only)."""
    if role is not None and role not in {r.value for r in Role}:
        raise InvalidInput(f"role must be agent, lead or admin, not {role!r}")

    def fn(session: Session, who: str) -> None:
        agent = session.scalar(select(Agent).where(Agent.username == username))
        if agent is None:
            raise NotFound(f"no agent {username!r}")
        before = {"role": agent.role, "active": agent.active}
        if role is not None:
            agent.role = role
        if active is not None:
            agent.active = active
        if before["role"] == Role.ADMIN.value and before["active"]:
            session.flush()
            admins = session.scalar(
                select(func.count()).where(Agent.role == Role.ADMIN.value, Agent.active.is_(True))
            )
            if not admins:  # no admin left would let anyone manage agents (bootstrap mode)
                raise InvalidInput(
                    f"{username!r} is the last active admin: make another agent admin first"
                )
        audit.record(
            session,
            who,
            "agent.update",
            "agent",
            username,
            before=before,
            after={"role": agent.role, "active": agent.active},
            at=ctx.now(),
        )

    _write_as_admin(ctx, actor, "agent.update", username, fn)


def list_agents(ctx: Context, *, include_inactive: bool = True) -> list[AgentRow]:
    with ctx.db.read() as s:
        q = select(Agent).order_by(Agent.username)
        if not include_inactive:
            q = q.where(Agent.active.is_(True))
        return [
            AgentRow(a.username, a.display_name, a.role, a.team.name if a.team else None, a.active)
            for a in s.scalars(q)
        ]


__all__ = [
    "AgentRow",
    "TeamRow",
    "act",
    "add_agent",
    "add_team",
    "list_agents",
    "list_teams",
    "set_agent",
]
