"""Moderation decisions: a flag's case is decided once, meets its 12 h clock, tells the
reporter through the outbound stream, acts on the target; roles and audit; both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.enums import ClockState, Status, Target
from db.models import AuditEvent, Flag, Listing, Party
from helpdesk_tui.errors import InvalidInput, PermissionDenied
from helpdesk_tui.services import agents, moderation, outbound
from helpdesk_tui.services.context import Context
from tests.conftest import FixedClock
from tests.factories import clocks, conversation, flag, ingest, listing, message, messages


def seed(ctx: Context, clock: FixedClock) -> None:
    agents.add_team(ctx, "setup", "support")
    agents.add_agent(ctx, "setup", "boss", "The Boss", "admin", "support")
    agents.add_agent(ctx, "boss", "alice", "Alice Agent", "agent", "support")
    agents.add_agent(ctx, "boss", "lee", "Lee Lead", "lead", "support")
    run = ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", sender="u-5", body="buy my pills"),
        flag("fl-msg", {"message": "m-1"}, reason="spam", reporter="u-2"),
        flag("fl-lst", {"listing": "L-1"}, reason="scam listing", reporter="u-2"),
    )
    assert run.rejects == []
    clock.advance(hours=2)  # the flags were raised an hour after T0


def test_decide_resolves_the_case_meets_the_clock_and_tells_the_reporter(
    ctx: Context, clock: FixedClock
) -> None:
    seed(ctx, clock)
    case = moderation.case_id(ctx, "fl-lst")
    assert moderation.case_id(ctx, "flag:fl-lst") == case
    clock = clocks(ctx, "flag:fl-lst")[(Target.MODERATION.value, 1)]
    assert clock.state == ClockState.RUNNING.value

    done = moderation.decide(ctx, "alice", case, "removed", "fake bank details")
    assert done.flags == 1 and done.suspended is None

    conv = conversation(ctx, "flag:fl-lst")
    assert conv.status == Status.RESOLVED.value and not conv.is_open
    clock = clocks(ctx, "flag:fl-lst")[(Target.MODERATION.value, 1)]
    assert clock.state == ClockState.MET.value
    with ctx.db.read() as s:
        f = s.scalar(select(Flag).where(Flag.external_id == "fl-lst"))
        assert f is not None and f.decision == "removed" and f.decided_at is not None
        assert s.scalar(select(Listing.active).where(Listing.external_id == "L-1")) is False
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert "flag.decide" in actions
    note = messages(ctx, "flag:fl-lst")[-1]
    assert note.internal and note.body == "Decision: removed by alice: fake bank details"

    outbound.sequence(ctx.db, force=True)
    records = [e.record for e in outbound.read(ctx.db, after=0)]
    decision = [r for r in records if r["type"] == "moderation_decision"]
    assert len(decision) == 1
    assert decision[0]["to"] == {"id": "u-2", "role": "user"}
    assert decision[0]["moderation"] == {
        "flag": "fl-lst", "target": {"listing": "L-1"}, "decision": "removed",
        "reason": "scam listing",
    }  # fmt: skip

    with pytest.raises(InvalidInput, match="already decided"):
        moderation.decide(ctx, "alice", case, "dismissed")


def test_suspending_is_for_leads_and_suspends_the_author(ctx: Context, clock: FixedClock) -> None:
    seed(ctx, clock)
    case = moderation.case_id(ctx, "fl-msg")
    with pytest.raises(PermissionDenied, match="only a lead may suspend"):
        moderation.decide(ctx, "alice", case, "suspended")
    assert conversation(ctx, "flag:fl-msg").is_open  # the refusal changed nothing
    with ctx.db.read() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.allowed.is_(False))).all()
        assert [a.action for a in refused] == ["flag.decide"]

    done = moderation.decide(ctx, "lee", case, "suspended")
    assert done.suspended == "u-5"
    with ctx.db.read() as s:
        assert s.scalar(select(Party.suspended).where(Party.external_id == "u-5")) is True


def test_only_moderation_cases_and_known_decisions(ctx: Context, clock: FixedClock) -> None:
    seed(ctx, clock)
    support = conversation(ctx, "c-1").id
    with pytest.raises(InvalidInput, match="not a moderation case"):
        moderation.decide(ctx, "alice", support, "dismissed")
    with pytest.raises(InvalidInput, match="decision must be one of"):
        moderation.decide(ctx, "alice", moderation.case_id(ctx, "fl-msg"), "banished")
    pending = moderation.list_flags(ctx)
    assert [(r.flag, r.target) for r in pending] == [("fl-msg", "message"), ("fl-lst", "listing")]
    moderation.decide(ctx, "alice", moderation.case_id(ctx, "fl-msg"), "dismissed")
    assert [r.flag for r in moderation.list_flags(ctx)] == ["fl-lst"]
    decided = [r for r in moderation.list_flags(ctx, pending_only=False) if r.decision]
    assert [(r.flag, r.decision, r.decided_by) for r in decided] == [
        ("fl-msg", "dismissed", "alice")
    ]
