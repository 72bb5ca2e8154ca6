"""Roles and the audit log on SQLite and PostgreSQL: bootstrap, admin-only management,
refusals that change nothing and are audited, and an append-only audit table."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from db.enums import Role
from db.models import Agent, AuditEvent, Team
from helpdesk_tui.errors import InvalidInput, NotFound, PermissionDenied
from helpdesk_tui.services import agents
from helpdesk_tui.services.authz import act, require
from helpdesk_tui.services.context import Context


def audit_rows(ctx: Context) -> list[tuple[Any, ...]]:
    with ctx.db.read() as s:
        return [
            (a.actor, a.action, a.target_type, a.target_id, a.allowed)
            for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def agent_rows(ctx: Context) -> list[tuple[str, str, str | None, bool]]:
    return [(a.username, a.role, a.team, a.active) for a in agents.list_agents(ctx)]


@pytest.fixture
def staffed(ctx: Context) -> Context:
    """An admin (boss), a lead (lee) and an agent (alice) in team support."""
    agents.add_team(ctx, "setup", "support", "first line")
    agents.add_agent(ctx, "setup", "boss", "The Boss", "admin", "support")
    agents.add_agent(ctx, "boss", "lee", "Lee Lead", "lead", "support")
    agents.add_agent(ctx, "boss", "alice", "Alice Agent", "agent", "support")
    return ctx


def test_bootstrap_anyone_may_add_until_an_admin_exists(ctx: Context) -> None:
    agents.add_agent(ctx, "nobody-yet", "alice", "Alice", "agent", None)
    agents.add_team(ctx, "nobody-yet", "support")
    agents.add_agent(ctx, "someone-else", "boss", "Boss", "admin", "support")
    assert agent_rows(ctx) == [
        ("alice", "agent", None, True),
        ("boss", "admin", "support", True),
    ]
    assert audit_rows(ctx) == [
        ("nobody-yet", "agent.add", "agent", "alice", True),
        ("nobody-yet", "team.add", "team", "support", True),
        ("someone-else", "agent.add", "agent", "boss", True),
    ]
    # from now on only admins
    with pytest.raises(PermissionDenied):
        agents.add_agent(ctx, "someone-else", "eve", "Eve", "admin", None)


def test_admin_manages_agents_and_teams(staffed: Context) -> None:
    agents.add_team(staffed, "boss", "marketplace", "buyers and sellers")
    agents.add_agent(staffed, "boss", "bob", "Bob", "agent", "marketplace")
    agents.set_agent(staffed, "boss", "bob", role="lead")
    agents.set_agent(staffed, "boss", "alice", active=False)
    assert agent_rows(staffed) == [
        ("alice", "agent", "support", False),
        ("bob", "lead", "marketplace", True),
        ("boss", "admin", "support", True),
        ("lee", "lead", "support", True),
    ]
    teams = {t.name: (t.description, t.calendar, t.agents) for t in agents.list_teams(staffed)}
    assert teams == {
        "marketplace": ("buyers and sellers", "default", 1),
        "support": ("first line", "default", 2),  # alice is inactive
    }
    with staffed.db.read() as s:
        update_row = s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "agent.update", AuditEvent.target_id == "bob"
            )
        )
        assert update_row is not None
        assert update_row.actor == "boss" and update_row.allowed
        assert update_row.before == {"role": "agent", "active": True}
        assert update_row.after == {"role": "lead", "active": True}
        assert update_row.at.tzinfo is not None


REFUSALS = [  # (actor, action)
    ("alice", "agent.add"),  # an agent
    ("lee", "agent.add"),  # a lead
    ("stranger", "agent.add"),  # not an agent at all
    ("lee", "agent.update"),  # a lead promoting themself
    ("alice", "team.add"),
]


def test_refused_actions_change_nothing_and_are_audited(staffed: Context) -> None:
    for actor, action in REFUSALS:
        before_agents = agent_rows(staffed)
        before_teams = agents.list_teams(staffed)
        before_audit = audit_rows(staffed)

        with pytest.raises(PermissionDenied) as info:
            if action == "agent.add":
                agents.add_agent(staffed, actor, "mallory", "Mallory", "admin", None)
            elif action == "agent.update":
                agents.set_agent(staffed, actor, actor, role="admin")
            else:
                agents.add_team(staffed, actor, "shadow")
        assert actor in str(info.value)
        if actor != "stranger":
            assert "only an admin may manage agents and teams" in str(info.value)
        assert "\n" not in str(info.value)

        assert agent_rows(staffed) == before_agents
        assert agents.list_teams(staffed) == before_teams
        after_audit = audit_rows(staffed)
        assert after_audit[: len(before_audit)] == before_audit
        (refusal,) = after_audit[len(before_audit) :]
        target = {"agent.add": "mallory", "agent.update": actor, "team.add": "shadow"}[action]
        target_type = "team" if action == "team.add" else "agent"
        assert refusal == (actor, action, target_type, target, False)
        with staffed.db.read() as s:
            detail = s.scalar(select(AuditEvent.detail).order_by(AuditEvent.id.desc()).limit(1))
        assert detail == str(info.value)


def test_permissions_are_checked_against_the_database_at_each_action(staffed: Context) -> None:
    agents.add_agent(staffed, "boss", "second", "Second Admin", "admin", None)
    agents.add_agent(staffed, "second", "temp", "Temp", "agent", None)
    agents.set_agent(staffed, "boss", "second", role="agent")  # demoted
    with pytest.raises(PermissionDenied):
        agents.add_agent(staffed, "second", "temp2", "Temp 2", "agent", None)
    agents.set_agent(staffed, "boss", "second", role="admin")
    agents.set_agent(staffed, "boss", "second", active=False)  # deactivated admin
    with pytest.raises(PermissionDenied):
        agents.set_agent(staffed, "second", "temp", active=False)
    assert ("temp", "agent", None, True) in agent_rows(staffed)


def test_the_last_active_admin_cannot_be_removed(staffed: Context) -> None:
    """Deactivating or demoting the only admin would reopen bootstrap mode, in which anyone
    may manage agents: it is refused."""
    with pytest.raises(InvalidInput):
        agents.set_agent(staffed, "boss", "boss", active=False)
    with pytest.raises(InvalidInput):
        agents.set_agent(staffed, "boss", "boss", role="agent")
    assert ("boss", "admin", "support", True) in agent_rows(staffed)
    with pytest.raises(PermissionDenied):
        agents.add_agent(staffed, "alice", "mallory", "Mallory", "admin", None)
    # with a second admin, one of them may step down
    agents.add_agent(staffed, "boss", "deputy", "Deputy", "admin", None)
    agents.set_agent(staffed, "boss", "boss", role="lead")
    assert ("boss", "lead", "support", True) in agent_rows(staffed)


def test_invalid_input_is_refused_before_anything_is_written(staffed: Context) -> None:
    before = audit_rows(staffed)
    with pytest.raises(InvalidInput, match="already exists"):
        agents.add_agent(staffed, "boss", "alice", "Alice Again", "agent", None)
    with pytest.raises(InvalidInput, match="unknown team"):
        agents.add_agent(staffed, "boss", "zed", "Zed", "agent", "nowhere")
    with pytest.raises(InvalidInput, match="role"):
        agents.add_agent(staffed, "boss", "zed", "Zed", "overlord", None)
    with pytest.raises(InvalidInput, match="NUL"):
        agents.add_agent(staffed, "boss", "zed", "Z\x00d", "agent", None)
    with pytest.raises(InvalidInput, match="empty"):
        agents.add_agent(staffed, "boss", " ", "Zed", "agent", None)
    with pytest.raises(InvalidInput, match="already exists"):
        agents.add_team(staffed, "boss", "support")
    with pytest.raises(InvalidInput, match="unknown calendar"):
        agents.add_team(staffed, "boss", "night", calendar="moon")
    with pytest.raises(NotFound):
        agents.set_agent(staffed, "boss", "ghost", active=False)
    assert audit_rows(staffed) == before
    assert [a[0] for a in agent_rows(staffed)] == ["alice", "boss", "lee"]


def test_act_runs_allowed_actions_and_audits_refusals(staffed: Context) -> None:
    def escalate(session: Any, actor: Agent) -> str:
        require(actor, Role.LEAD, "escalate to management")
        session.add(Team(name=f"escalated-by-{actor.username}"))
        return actor.username

    assert act(staffed, "lee", "conversation.escalate", "conversation", 42, escalate) == "lee"
    with pytest.raises(PermissionDenied, match="only a lead may escalate"):
        act(staffed, "alice", "conversation.escalate", "conversation", 42, escalate)
    with pytest.raises(PermissionDenied, match="not an agent here"):
        act(staffed, "stranger", "conversation.escalate", "conversation", 42, escalate)
    agents.set_agent(staffed, "boss", "lee", active=False)
    with pytest.raises(PermissionDenied, match="deactivated"):
        act(staffed, "lee", "conversation.escalate", "conversation", 43, escalate)

    assert {t.name for t in agents.list_teams(staffed)} == {"support", "escalated-by-lee"}
    refusals = [r for r in audit_rows(staffed) if not r[4]]
    assert refusals == [
        ("alice", "conversation.escalate", "conversation", "42", False),
        ("stranger", "conversation.escalate", "conversation", "42", False),
        ("lee", "conversation.escalate", "conversation", "43", False),
    ]


def test_audit_rows_cannot_be_updated_or_deleted(staffed: Context) -> None:
    with pytest.raises(PermissionDenied):
        agents.add_agent(staffed, "alice", "mallory", "Mallory", "admin", None)
    before = audit_rows(staffed)
    assert any(not allowed for *_, allowed in before)
    for statement in (
        "UPDATE audit_events SET actor = 'someone-else'",
        "UPDATE audit_events SET allowed = true WHERE allowed = false",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            staffed.db.write(lambda s, sql=statement: s.execute(text(sql)))
    assert audit_rows(staffed) == before
    with pytest.raises(DBAPIError, match="append-only"):
        staffed.db.write(lambda s: s.execute(update(AuditEvent).values(detail="rewritten")))
    with pytest.raises(DBAPIError, match="append-only"):
        staffed.db.write(lambda s: s.execute(delete(AuditEvent).where(AuditEvent.id == 1)))

    def edit_one(s: Any) -> None:
        row = s.scalar(select(AuditEvent).limit(1))
        row.actor = "forged"
        s.flush()

    with pytest.raises(DBAPIError, match="append-only"):
        staffed.db.write(edit_one)
    assert audit_rows(staffed) == before
    if staffed.db.is_postgres:
        with pytest.raises(DBAPIError, match="append-only"):
            staffed.db.write(lambda s: s.execute(text("TRUNCATE audit_events")))
        assert audit_rows(staffed) == before


def test_an_agent_can_be_added_with_an_email_for_alerts(ctx: Context) -> None:
    from sqlalchemy import select as _select

    from db.models import Agent as _Agent
    from helpdesk_tui.errors import InvalidInput as _InvalidInput

    agents.add_agent(ctx, "root", "zola", "Zola", "lead", None, email="zola@example.co.za")
    with ctx.db.read() as s:
        assert (
            s.scalar(_select(_Agent.email).where(_Agent.username == "zola")) == "zola@example.co.za"
        )
    with pytest.raises(_InvalidInput, match="not an e-mail address"):
        agents.add_agent(ctx, "root", "yaw", "Yaw", "agent", None, email="not-an-address")
