"""The SLA sweep on SQLite and PostgreSQL: breaches marked once, escalations once per level,
buyer-seller hand-over to support, at-risk alerts once per clock, failure isolation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from db.models import (
    Agent,
    AuditEvent,
    ClockEvent,
    Conversation,
    ConversationEvent,
    Escalation,
    OutboxItem,
    Party,
    SlaClock,
    Team,
)
from helpdesk_tui.scheduler_settings import SchedulerSettings, SmtpSettings
from helpdesk_tui.services import agents, sweep
from helpdesk_tui.services.context import Context
from tests.factories import at, clocks, conversation, flag, ingest, listing, message

H = 3600
CFG = SchedulerSettings(smtp=SmtpSettings(host=None, sender="helpdesk@example.com"))


def seed_people(ctx: Context, *, emails: bool = True) -> None:
    """Teams support/marketplace/trust-safety, a lead per team, an admin, an agent."""
    for team in ("support", "marketplace", "trust-safety"):
        agents.add_team(ctx, "root", team)
    agents.add_agent(ctx, "root", "boss", "Boss Admin", "admin", None)
    agents.add_agent(ctx, "boss", "lena", "Lena Lead", "lead", "support")
    agents.add_agent(ctx, "boss", "mark", "Mark Lead", "lead", "marketplace")
    agents.add_agent(ctx, "boss", "alice", "Alice Agent", "agent", "support")
    if emails:

        def fn(s: Any) -> None:
            for name in ("boss", "lena", "mark", "alice"):
                s.execute(
                    update(Agent).where(Agent.username == name).values(email=f"{name}@example.com")
                )

        ctx.db.write(fn)


def set_party_email(ctx: Context, external_id: str, email: str | None) -> None:
    ctx.db.write(
        lambda s: s.execute(
            update(Party).where(Party.external_id == external_id).values(email=email)
        )
    )


def must_ingest(ctx: Context, *records: dict[str, Any]) -> None:
    run = ingest(ctx, *records)
    assert run.rejects == [], run.rejects


def rows(ctx: Context, model: type, *where: Any) -> list[Any]:
    with ctx.db.read() as s:
        out = list(s.scalars(select(model).where(*where)))
        s.expunge_all()
        return out


def n(ctx: Context, model: type, *where: Any) -> int:
    with ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def sweep_at(ctx: Context, when: datetime, cfg: SchedulerSettings = CFG) -> sweep.SweepReport:
    return sweep.run(ctx, cfg, when)


@pytest.fixture
def people(ctx: Context) -> Context:
    seed_people(ctx)
    return ctx


def test_support_breach_marked_once_escalates_to_team_lead(people: Context) -> None:
    ctx = people
    must_ingest(ctx, message("m-1", "c-1", sent_at=0))
    conv0 = conversation(ctx, "c-1")

    report = sweep_at(ctx, at(hours=25))
    assert report.breached == 2  # first response and resolution, both 24 h
    assert report.escalated == {1: 1, 2: 0}
    clocks = rows(ctx, SlaClock, SlaClock.conversation_id == conv0.id)
    assert {c.target for c in clocks if c.breached_at == at(hours=25)} == {
        "first_response",
        "resolution",
    }
    (esc,) = rows(ctx, Escalation)
    lena = rows(ctx, Agent, Agent.username == "lena")[0]
    assert (esc.level, esc.reason, esc.automatic, esc.to_agent_id) == (
        1,
        "sla_breached",
        True,
        lena.id,
    )
    conv = conversation(ctx, "c-1")
    assert conv.escalation_level == 1 and conv.version == conv0.version + 1
    assert n(ctx, ClockEvent, ClockEvent.event == "breached") == 2
    (mail,) = rows(ctx, OutboxItem, OutboxItem.type == "escalation")
    assert (mail.channel, mail.recipient, mail.status) == ("email", "lena@example.com", "pending")
    assert n(ctx, AuditEvent, AuditEvent.actor == "scheduler") == 1

    again = sweep_at(ctx, at(hours=25, minutes=1))
    assert again.breached == 0 and again.escalated == {1: 0, 2: 0}
    assert n(ctx, Escalation) == 1
    assert n(ctx, ClockEvent, ClockEvent.event == "breached") == 2
    assert n(ctx, OutboxItem, OutboxItem.channel == "email") == 1


def test_an_escalation_another_scheduler_made_meanwhile_has_no_effects_here(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fence is the insert, not the candidate query: when another scheduler escalates a
    conversation after this sweep read it as a candidate, this sweep writes no e-mail, audit
    event, clock log or level for it, and still escalates the rest once."""
    ctx = people
    must_ingest(ctx, *(message(f"m-{i}", f"c-{i}", sent_at=i) for i in range(1, 4)))
    raced = conversation(ctx, "c-2").id
    real = sweep._candidates

    def then_another_scheduler(s: Any, *args: Any, **kwargs: Any) -> Any:
        found = real(s, *args, **kwargs)
        assert raced in found
        s.execute(  # in this transaction: the insert below conflicts with it all the same
            Escalation.__table__.insert().values(
                conversation_id=raced, level=1, reason="sla_breached", automatic=True,
                created_at=at(hours=25),
            )
        )  # fmt: skip
        return found

    monkeypatch.setattr(sweep, "_candidates", then_another_scheduler)
    report = sweep_at(ctx, at(hours=25))
    assert report.escalated == {1: 2, 2: 0} and not report.failed
    assert report.breached == 6  # the fence on clocks is its own: every clock is marked once
    assert n(ctx, Escalation) == 3
    mails = rows(ctx, OutboxItem, OutboxItem.type == "escalation")
    assert sorted(m.conversation_id for m in mails) == sorted(
        conversation(ctx, c).id for c in ("c-1", "c-3")
    )
    audited = rows(ctx, AuditEvent, AuditEvent.action == "conversation.escalate")
    assert sorted(int(e.target_id) for e in audited) == sorted(
        conversation(ctx, c).id for c in ("c-1", "c-3")
    )
    assert conversation(ctx, "c-2").escalation_level == 0  # the other scheduler's to raise
    assert [conversation(ctx, c).escalation_level for c in ("c-1", "c-3")] == [1, 1]


def test_level_two_after_a_further_half_of_the_target(people: Context) -> None:
    ctx = people
    must_ingest(ctx, message("m-1", "c-1", sent_at=0))
    sweep_at(ctx, at(hours=25))
    assert sweep_at(ctx, at(hours=35, minutes=59)).escalated == {1: 0, 2: 0}

    report = sweep_at(ctx, at(hours=36))
    assert report.escalated == {1: 0, 2: 1}
    esc = {e.level: e for e in rows(ctx, Escalation)}
    boss = rows(ctx, Agent, Agent.username == "boss")[0]
    assert esc[2].to_agent_id == boss.id and esc[2].reason == "still_unanswered"
    assert conversation(ctx, "c-1").escalation_level == 2
    assert {m.recipient for m in rows(ctx, OutboxItem, OutboxItem.type == "escalation")} == {
        "lena@example.com",
        "boss@example.com",
    }
    assert sweep_at(ctx, at(hours=48)).escalated == {1: 0, 2: 0}


def test_answered_conversation_is_not_escalated(people: Context) -> None:
    ctx = people
    must_ingest(
        ctx,
        message("m-1", "c-1", sent_at=0),
        message("m-2", "c-1", sender="alice", role="agent", kind=None, sent_at=30),
    )
    report = sweep_at(ctx, at(hours=25))
    # the resolution clock still breaches (24 h) and escalates; the response was met
    assert report.breached == 1
    clocks = rows(ctx, SlaClock, SlaClock.breached_at.is_not(None))
    assert [c.target for c in clocks] == ["resolution"]


def test_catch_up_after_downtime_finds_everything_once(people: Context) -> None:
    ctx = people
    must_ingest(
        ctx,
        message("m-1", "c-1", sent_at=0),
        message("m-2", "c-2", sent_at=60, kind="issue_report"),
    )
    report = sweep_at(ctx, at(days=3))
    assert report.breached == 4
    assert report.escalated == {1: 2, 2: 2}
    assert {(e.level, e.reason) for e in rows(ctx, Escalation)} == {
        (1, "sla_breached"),
        (2, "still_unanswered"),
    }
    assert n(ctx, Escalation) == 4
    again = sweep_at(ctx, at(days=3, minutes=1))
    assert (again.breached, again.escalated) == (0, {1: 0, 2: 0})


def test_buyer_seller_breach_hands_over_to_support(people: Context) -> None:
    ctx = people
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
    )
    set_party_email(ctx, "u-9", "seller9@example.com")
    before = conversation(ctx, "c-1")
    marketplace = rows(ctx, Team, Team.name == "marketplace")[0]
    support = rows(ctx, Team, Team.name == "support")[0]
    assert before.team_id == marketplace.id

    assert sweep_at(ctx, at(hours=3, minutes=59)).breached == 0
    report = sweep_at(ctx, at(hours=4))
    assert report.breached == 1 and report.escalated == {1: 1, 2: 0}
    (esc,) = rows(ctx, Escalation)
    lena = rows(ctx, Agent, Agent.username == "lena")[0]
    assert (esc.reason, esc.to_team_id, esc.to_agent_id) == (
        "seller_unresponsive",
        support.id,
        lena.id,
    )
    conv = conversation(ctx, "c-1")
    assert conv.team_id == support.id and conv.escalation_level == 1
    assert conv.version == before.version + 1
    (event,) = rows(ctx, ConversationEvent, ConversationEvent.field == "team")
    assert (event.old, event.new) == ("marketplace", "support")
    outbox = {(o.channel, o.type): o for o in rows(ctx, OutboxItem)}
    assert outbox[("outbound", "notification")].recipient == "u-9"
    assert outbox[("email", "seller_unresponsive")].recipient == "seller9@example.com"
    assert outbox[("email", "escalation")].recipient == "lena@example.com"
    # never a level 2 for buyer-seller threads
    assert sweep_at(ctx, at(days=2)).escalated == {1: 0, 2: 0}


def test_a_sweep_for_a_past_instant_replays_a_thread_an_agent_answered_since(
    people: Context,
) -> None:
    """From the escalation on, an agent's message is the buyer's reply: a sweep run for an
    instant before an agent's message (``--as-of``) meets the seller clock with it; a thread
    without such a message keeps its clocks as they were."""
    ctx = people
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
        message("m-2", "c-1", sender="alice", role="agent", kind=None, sent_at=at(hours=5)),
        message("m-3", "c-2", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
    )
    untouched = clocks(ctx, "c-2")
    report = sweep_at(ctx, at(hours=4))
    assert report.escalated == {1: 2, 2: 0}
    answered = clocks(ctx, "c-1")[("seller_reply", 1)]
    assert (answered.state, answered.stopped_at) == ("met", at(hours=5))
    assert conversation(ctx, "c-1").due_for != "seller_reply"
    after = clocks(ctx, "c-2")
    assert {k: (c.state, c.due_at) for k, c in after.items()} == {
        k: (c.state, c.due_at) for k, c in untouched.items()
    }


def test_seller_without_address_is_recorded_as_skipped(people: Context) -> None:
    ctx = people
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
    )
    sweep_at(ctx, at(hours=5))
    (mail,) = rows(ctx, OutboxItem, OutboxItem.type == "seller_unresponsive")
    assert mail.status == "skipped" and "no e-mail address" in (mail.last_error or "")
    # with a relay domain configured the seller gets <id>@domain
    cfg = SchedulerSettings(smtp=SmtpSettings(party_domain="relay.example.com"))
    must_ingest(
        ctx, message("m-2", "c-2", role="buyer", kind="buyer_seller", listing="L-1", sent_at=60)
    )
    sweep.run(ctx, cfg, at(hours=6))
    mails = rows(ctx, OutboxItem, OutboxItem.type == "seller_unresponsive")
    assert sorted(m.recipient for m in mails) == ["", "u-9@relay.example.com"]


def test_flags_are_marked_breached_but_not_escalated(people: Context) -> None:
    ctx = people
    must_ingest(ctx, listing("L-1"), flag("fl-1"))
    report = sweep_at(ctx, at(hours=14))
    assert report.breached == 1 and report.escalated == {1: 0, 2: 0}


def test_one_failing_conversation_does_not_lose_the_others(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = people
    must_ingest(ctx, *(message(f"m-{i}", f"c-{i}", sent_at=i) for i in range(1, 5)))
    bad = conversation(ctx, "c-2").id
    real = sweep._escalation_mail

    def flaky(conv: Any, *args: Any) -> Any:
        if conv.id == bad:
            raise RuntimeError("mail template exploded")
        return real(conv, *args)

    monkeypatch.setattr(sweep, "_escalation_mail", flaky)
    report = sweep_at(ctx, at(hours=25))
    assert report.escalated[1] == 3 and list(report.failed) == [bad]
    assert n(ctx, Escalation, Escalation.conversation_id == bad) == 0
    assert conversation(ctx, "c-2").escalation_level == 0

    monkeypatch.setattr(sweep, "_escalation_mail", real)
    report = sweep_at(ctx, at(hours=25, minutes=1))
    assert report.escalated[1] == 1 and not report.failed
    assert n(ctx, Escalation) == 4


def test_at_risk_alert_once_per_clock_to_leads_or_assignee(people: Context) -> None:
    ctx = people
    must_ingest(ctx, message("m-1", "c-1", sent_at=0), message("m-2", "c-2", sent_at=0))
    ctx.db.write(
        lambda s: s.execute(
            update(Conversation)
            .where(Conversation.external_id == "c-2")
            .values(assignee_id=select(Agent.id).where(Agent.username == "alice").scalar_subquery())
        )
    )
    # 24 h target, at risk in its last 25 %: from 18 h on
    assert sweep.alert_at_risk(ctx, CFG, at(hours=17, minutes=59)).alerted == 0
    report = sweep.alert_at_risk(ctx, CFG, at(hours=19))
    assert (report.alerted, report.emails) == (2, 2)
    mails = rows(ctx, OutboxItem, OutboxItem.type == "at_risk")
    assert sorted(m.recipient for m in mails) == ["alice@example.com", "lena@example.com"]
    assert n(ctx, SlaClock, SlaClock.alerted_at.is_not(None)) == 2
    assert sweep.alert_at_risk(ctx, CFG, at(hours=20)).alerted == 0
    assert n(ctx, OutboxItem, OutboxItem.type == "at_risk") == 2


def test_breach_of_recomputed_clock_uses_new_deadline(people: Context) -> None:
    """An urgent conversation (1 h) breaches at 1 h, not at 24 h."""
    ctx = people
    must_ingest(ctx, message("m-1", "c-1", sent_at=0, priority="urgent"))
    assert sweep_at(ctx, at(minutes=59)).breached == 0
    report = sweep_at(ctx, at(minutes=61))
    assert report.breached == 1 and report.escalated[1] == 1
    assert rows(ctx, Escalation)[0].created_at == at(minutes=61)
    assert timedelta(0) < at(minutes=61) - at(minutes=60)


@pytest.mark.parametrize("poisoned", ["c-1", "c-3"])  # in the first chunk, in a later one
def test_failed_chunk_is_redone_one_conversation_at_a_time(
    people: Context, monkeypatch: pytest.MonkeyPatch, poisoned: str
) -> None:
    """Set-based chunks of 2: the chunk holding the poisoned conversation fails whole and is
    redone per conversation; every other conversation, in any chunk, is escalated once."""
    ctx = people
    must_ingest(ctx, *(message(f"m-{i}", f"c-{i}", sent_at=i) for i in range(1, 6)))
    bad = conversation(ctx, poisoned).id
    real = sweep._escalation_mail

    def flaky(conv: Any, *args: Any) -> Any:
        if conv.id == bad:
            raise RuntimeError("poisoned")
        return real(conv, *args)

    monkeypatch.setattr(sweep, "_escalation_mail", flaky)
    sweep.mark_breaches(ctx, at(hours=25))
    report = sweep.escalate(ctx, CFG, at(hours=25), chunk=2)
    assert report.escalated[1] == 4 and list(report.failed) == [bad]
    assert n(ctx, Escalation) == 4
    assert n(ctx, Escalation, Escalation.conversation_id == bad) == 0
    assert n(ctx, OutboxItem, OutboxItem.conversation_id == bad) == 0
    assert n(ctx, AuditEvent, AuditEvent.target_id == str(bad)) == 0
    assert n(ctx, OutboxItem, OutboxItem.type == "escalation") == 4
    assert n(ctx, AuditEvent, AuditEvent.action == "conversation.escalate") == 4

    monkeypatch.setattr(sweep, "_escalation_mail", real)
    again = sweep.escalate(ctx, CFG, at(hours=25, minutes=1), chunk=2)
    assert again.escalated[1] == 1 and not again.failed
    assert n(ctx, Escalation) == 5


def test_a_message_mid_sweep_waits_for_it_or_it_for_the_message_never_a_deadlock(
    people: Context,
) -> None:
    """Intake and clock replays lock a conversation, then its clocks. The sweep's transaction
    (breaches marked with the first escalations) locks in the same order: a transaction that
    holds a breaching conversation and then writes its clocks is not blocked by the sweep
    (marking the breaches first would hold the clocks while waiting for the conversation)."""
    import threading
    import time

    from sqlalchemy.orm import Session

    ctx = people
    if not ctx.db.is_postgres:
        pytest.skip("row locks: PostgreSQL (SQLite has one writer at a time)")
    must_ingest(ctx, message("m-1", "c-1", sent_at=0))
    conv_id = conversation(ctx, "c-1").id
    holding = threading.Event()
    failed: list[BaseException] = []

    def intake_like(s: Session) -> None:
        s.execute(update(Conversation).where(Conversation.id == conv_id).values(subject="x"))
        s.flush()
        holding.set()
        time.sleep(0.5)  # the sweep starts meanwhile and reaches this conversation
        s.execute(text("SET LOCAL lock_timeout = '300ms'"))
        s.execute(
            update(SlaClock)
            .where(SlaClock.conversation_id == conv_id)
            .values(paused_s=SlaClock.paused_s)
        )

    def other() -> None:
        try:
            ctx.db.write(intake_like, retries=0)
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    assert holding.wait(10)
    report = sweep_at(ctx, at(hours=25))
    thread.join(10)
    assert failed == []
    assert (report.breached, report.escalated, report.failed) == (2, {1: 1, 2: 0}, {})
    assert conversation(ctx, "c-1").subject == "x"


def _another_scheduler_escalates(
    monkeypatch: pytest.MonkeyPatch, conv_id: int, levels: list[int]
) -> None:
    """Between this sweep's candidate query and its insert, another scheduler's escalations of
    ``conv_id`` land (in this transaction: the insert conflicts with them all the same)."""
    real = sweep._candidates

    def then_another(s: Any, *args: Any, **kwargs: Any) -> Any:
        found = real(s, *args, **kwargs)
        for level in levels:
            s.execute(
                Escalation.__table__.insert().values(
                    conversation_id=conv_id, level=level, reason="sla_breached",
                    automatic=True, created_at=at(hours=1),
                )
            )  # fmt: skip
        return found

    monkeypatch.setattr(sweep, "_candidates", then_another)


def test_a_raced_buyer_seller_thread_gets_no_seller_notice_or_team_move(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = people
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
        message("m-2", "c-2", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
    )
    set_party_email(ctx, "u-9", "seller9@example.com")
    c1, c2 = conversation(ctx, "c-1"), conversation(ctx, "c-2")
    _another_scheduler_escalates(monkeypatch, c2.id, [1])
    report = sweep_at(ctx, at(hours=4))
    assert report.escalated == {1: 1, 2: 0} and not report.failed
    assert {(o.conversation_id, o.type) for o in rows(ctx, OutboxItem)} == {
        (c1.id, "notification"),
        (c1.id, "seller_unresponsive"),
        (c1.id, "escalation"),
    }
    moved = rows(ctx, ConversationEvent, ConversationEvent.field == "team")
    assert [e.conversation_id for e in moved] == [c1.id]
    after = conversation(ctx, "c-2")
    assert (after.team_id, after.version) == (c2.team_id, c2.version)


def test_level_one_raced_level_two_still_has_its_effects(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = people
    must_ingest(ctx, message("m-1", "c-1", sent_at=0))
    c1 = conversation(ctx, "c-1")
    _another_scheduler_escalates(monkeypatch, c1.id, [1])
    report = sweep_at(ctx, at(days=3))
    assert report.escalated == {1: 0, 2: 1} and not report.failed
    mails = rows(ctx, OutboxItem, OutboxItem.type == "escalation")
    assert [m.recipient for m in mails] == ["boss@example.com"]
    audited = rows(ctx, AuditEvent, AuditEvent.action == "conversation.escalate")
    assert [a.after["level"] for a in audited] == [2]
    assert conversation(ctx, "c-1").escalation_level == 2


def test_an_agent_reply_written_while_the_sweep_runs_meets_the_buyers_clock(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's reply committed after the sweep read its candidates, in a buyer_seller
    thread the sweep escalates: the escalation makes it the reply the buyer waits for, and
    the sweep (which reads replies after its update, waiting for the intake) replays the
    clocks. On SQLite the intake waits for the sweep instead, and its own replay does it."""
    import threading

    ctx = people
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
    )
    real = sweep._candidates
    done: list[int] = []

    def then_an_agent_replies(s: Any, *args: Any, **kwargs: Any) -> Any:
        found = real(s, *args, **kwargs)
        if not done and ctx.db.is_postgres:
            done.append(1)
            reply = message(
                "m-2", "c-1", sender="alice", role="agent", kind=None,
                sent_at=at(hours=4, minutes=1),
            )  # fmt: skip
            t = threading.Thread(target=lambda: must_ingest(ctx, reply))
            t.start()
            t.join(20)
        return found

    monkeypatch.setattr(sweep, "_candidates", then_an_agent_replies)
    report = sweep_at(ctx, at(hours=4))
    assert report.escalated == {1: 1, 2: 0}
    if not ctx.db.is_postgres:
        must_ingest(
            ctx,
            message("m-2", "c-1", sender="alice", role="agent", kind=None,
                    sent_at=at(hours=4, minutes=1)),
        )  # fmt: skip
    assert clocks(ctx, "c-1")[("seller_reply", 1)].state == "met"


def test_a_connection_lost_in_the_pipeline_is_retried_whole(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the server ends the sweep's session while the pipeline runs; the whole
    transaction is retried (one write call, no fallback one conversation at a time)."""
    ctx = people
    if not ctx.db.is_postgres:
        pytest.skip("the pipeline is PostgreSQL's")
    import psycopg

    from tests.conftest import PG_ADMIN_URL

    must_ingest(ctx, *(message(f"m-{i}", f"c-{i}", sent_at=i) for i in range(1, 4)))
    writes: list[object] = []
    real_write = ctx.db.write

    def counting(fn: Any, **kwargs: Any) -> Any:
        writes.append(fn)
        return real_write(fn, **kwargs)

    monkeypatch.setattr(ctx.db, "write", counting)
    real_moves = sweep._moves
    killed: list[int] = []

    def kill_then(*args: Any) -> Any:
        if not killed:
            killed.append(1)
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid() AND state <> 'idle'",
                    (ctx.db.engine.url.database,),
                )
        return real_moves(*args)

    monkeypatch.setattr(sweep, "_moves", kill_then)
    report = sweep_at(ctx, at(hours=25))
    assert killed and report.escalated == {1: 3, 2: 0} and not report.failed
    assert n(ctx, Escalation) == 3
    assert n(ctx, OutboxItem, OutboxItem.type == "escalation") == 3
    assert len(writes) == 1, f"{len(writes)} write transactions: the fallback ran"
