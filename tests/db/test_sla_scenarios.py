"""SLA scenarios through intake and the services, on SQLite and PostgreSQL: clocks as stored,
the conversation's queue deadline, the explanation log, and the queue order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.enums import ClockState, Status
from db.models import (
    NO_DEADLINE,
    ClockEvent,
    Conversation,
    ConversationEvent,
    Escalation,
    Message,
)
from helpdesk_tui.services import agents, explain, queue, sla
from helpdesk_tui.services.context import Context
from tests.factories import (
    at,
    clock_view,
    clocks,
    conversation,
    flag,
    ingest,
    listing,
    message,
)

H = 3600


@pytest.fixture
def alice(ctx: Context) -> str:
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", None)
    return "alice"


def reply(mid: str, conv: str = "c-1", minutes: float = 0, sender: str = "alice") -> dict[str, Any]:
    return message(mid, conv, sender=sender, role="agent", kind=None, sent_at=minutes)


def customer(mid: str, conv: str = "c-1", minutes: float = 0, **kw: Any) -> dict[str, Any]:
    kw.setdefault("kind", "user_admin")
    return message(mid, conv, sent_at=minutes, **kw)


def must_ingest(ctx: Context, *records: dict[str, Any]) -> None:
    run = ingest(ctx, *records)
    assert run.rejects == [], run.rejects


def _conv_id(s: Any, external_id: str) -> int:
    conv_id = s.scalar(select(Conversation.id).where(Conversation.external_id == external_id))
    assert conv_id is not None
    return int(conv_id)


def add_message(
    ctx: Context,
    conv: str,
    when: datetime,
    *,
    role: str,
    via: str = "console",
    internal: bool = False,
) -> None:
    """A message written by the helpdesk itself (console, auto-ack), then the clocks replayed."""

    def fn(s: Any) -> None:
        conv_id = _conv_id(s, conv)
        s.add(
            Message(
                conversation_id=conv_id,
                role=role,
                body="we got your message",
                internal=internal,
                via=via,
                sent_at=when,
                author_name="helpdesk",
            )
        )
        s.flush()
        sla.recompute(s, ctx.settings, [conv_id], cause="test")

    ctx.db.write(fn)


def change(ctx: Context, conv: str, field: str, old: str, new: str, when: datetime) -> None:
    """A status or priority change as a service would record it, then the clocks replayed."""

    def fn(s: Any) -> None:
        c = s.scalar(select(Conversation).where(Conversation.external_id == conv))
        setattr(c, field, new)
        if field == "status":
            c.is_open = new not in (Status.RESOLVED.value, Status.CLOSED.value)
            c.resolved_at = when if new == Status.RESOLVED.value else None
        s.add(ConversationEvent(conversation_id=c.id, field=field, old=old, new=new, at=when))
        s.flush()
        sla.recompute(s, ctx.settings, [c.id], cause=f"{field} change")

    ctx.db.write(fn)


def state(ctx: Context, conv: str) -> dict[tuple[str, int], tuple[str, datetime | None]]:
    return {k: (c.state, c.due_at) for k, c in clocks(ctx, conv).items()}


# -- first response ------------------------------------------------------------------------------


def test_first_response_met_by_agent_reply(ctx: Context, alice: str) -> None:
    must_ingest(ctx, customer("m-1", minutes=0), reply("m-2", minutes=30))

    cl = clocks(ctx, "c-1")
    first = cl[("first_response", 1)]
    assert first.state == ClockState.MET.value
    assert first.started_at == at(0) and first.stopped_at == at(30)
    assert first.elapsed_s == 30 * 60 and first.target_s == 24 * H
    resolution = cl[("resolution", 1)]
    assert resolution.state == ClockState.RUNNING.value and resolution.due_at == at(hours=24)
    conv = conversation(ctx, "c-1")
    assert (conv.due_for, conv.due_at) == ("resolution", at(hours=24))
    assert conv.waiting_since is None
    assert conv.status == Status.OPEN.value

    events = explain.explain(ctx, "c-1").events
    met = [e for e in events if e.target == "first_response" and e.event == "met"]
    assert len(met) == 1 and met[0].at == at(30) and "m-2" in met[0].cause
    started = [e for e in events if e.target == "first_response" and e.event == "started"]
    assert started[0].at == at(0) and "m-1" in started[0].cause


def test_clock_starts_at_sent_at_and_the_earliest_clock_is_the_deadline(
    ctx: Context, clock: Any
) -> None:
    clock.advance(days=3)  # ingested days later
    must_ingest(ctx, customer("m-1", minutes=0, priority="urgent"))
    assert clocks(ctx, "c-1")[("first_response", 1)].started_at == at(0)
    conv = conversation(ctx, "c-1")
    # the earliest running clock drives the queue: urgent first response (1 h), not resolution
    assert (conv.due_for, conv.due_at, conv.waiting_since) == ("first_response", at(hours=1), at(0))
    assert conv.queue_due_at == at(hours=1)
    assert conv.risk_at == at(hours=1) - timedelta(seconds=0.25 * H)


NON_REPLIES = {  # conversation -> (role, via, internal)
    "c-ack": ("agent", "auto_ack", False),
    "c-sysack": ("system", "auto_ack", False),
    "c-system": ("system", "console", False),
    "c-note": ("agent", "console", True),
}


def test_non_replies_do_not_meet_first_response(ctx: Context) -> None:
    must_ingest(ctx, *(customer(f"m-{conv}", conv, 0) for conv in NON_REPLIES))
    for conv, (role, via, internal) in NON_REPLIES.items():
        add_message(ctx, conv, at(1), role=role, via=via, internal=internal)

    for conv in NON_REPLIES:
        first = clocks(ctx, conv)[("first_response", 1)]
        assert first.state == ClockState.RUNNING.value, conv
        assert first.due_at == at(hours=24) and first.stopped_at is None, conv
        row = conversation(ctx, conv)
        assert (row.due_for, row.waiting_since) == ("first_response", at(0)), conv
    # a real reply afterwards still meets it
    add_message(ctx, "c-note", at(90), role="agent")
    first = clocks(ctx, "c-note")[("first_response", 1)]
    assert first.state == ClockState.MET.value and first.elapsed_s == 90 * 60


def test_next_response_starts_with_the_first_inbound_after_a_reply(
    ctx: Context, alice: str
) -> None:
    must_ingest(
        ctx,
        customer("m-1", minutes=0),
        reply("m-2", minutes=10),
        customer("m-3", minutes=60, kind=None),
        customer("m-4", minutes=70, kind=None),  # still waiting: no second clock
    )
    cl = clocks(ctx, "c-1")
    assert sorted(cl) == [("first_response", 1), ("next_response", 1), ("resolution", 1)]
    nxt = cl[("next_response", 1)]
    assert nxt.state == "running" and nxt.started_at == at(60)
    assert nxt.due_at == at(60, hours=24)


# -- resolution pauses while pending_customer -----------------------------------------------------


def test_pending_customer_pauses_resolution_and_customer_resumes_it(
    ctx: Context, alice: str
) -> None:
    must_ingest(ctx, customer("m-1", minutes=0), reply("m-2", minutes=60))
    change(ctx, "c-1", "status", "open", "pending_customer", at(hours=2))

    res = clocks(ctx, "c-1")[("resolution", 1)]
    assert res.state == ClockState.PAUSED.value and res.due_at is None
    conv = conversation(ctx, "c-1")
    assert conv.due_at is None and conv.due_for is None
    assert conv.queue_due_at == NO_DEADLINE

    must_ingest(ctx, customer("m-3", minutes=5 * 60, kind=None))  # the customer writes back

    conv = conversation(ctx, "c-1")
    assert conv.status == Status.OPEN.value
    res = clocks(ctx, "c-1")[("resolution", 1)]
    assert res.state == ClockState.RUNNING.value
    assert res.paused_s == 3 * H
    assert res.due_at == at(hours=24 + 3)  # 24 h plus the 3 h spent waiting on the customer
    nxt = clocks(ctx, "c-1")[("next_response", 1)]
    assert nxt.due_at == at(hours=5 + 24)
    assert (conv.due_for, conv.due_at) == ("resolution", at(hours=27))
    kinds = [e.event for e in explain.explain(ctx, "c-1").events if e.target == "resolution"]
    assert kinds == ["started", "paused", "resumed"]


# -- reopen ---------------------------------------------------------------------------------------


def test_customer_within_reopen_window_reopens_the_conversation(ctx: Context, alice: str) -> None:
    must_ingest(ctx, customer("m-1", minutes=0), reply("m-2", minutes=60))
    change(ctx, "c-1", "status", "open", "resolved", at(hours=2))
    res = clocks(ctx, "c-1")[("resolution", 1)]
    assert res.state == ClockState.MET.value and res.elapsed_s == 2 * H
    assert conversation(ctx, "c-1").due_at is None

    must_ingest(ctx, customer("m-3", minutes=0, kind=None) | {"sent_at": _iso(at(days=3))})

    with ctx.db.read() as s:
        assert s.scalars(select(Conversation.external_id)).all() == ["c-1"]
    conv = conversation(ctx, "c-1")
    assert conv.status == Status.OPEN.value and conv.is_open
    cl = clocks(ctx, "c-1")
    assert cl[("resolution", 1)].state == ClockState.MET.value
    assert cl[("resolution", 2)].state == ClockState.RUNNING.value
    assert cl[("resolution", 2)].started_at == at(days=3)
    assert cl[("next_response", 1)].due_at == at(days=4)


def test_customer_after_reopen_window_starts_a_new_conversation(ctx: Context, alice: str) -> None:
    must_ingest(ctx, customer("m-1", minutes=0, subject="Refund"), reply("m-2", minutes=60))
    change(ctx, "c-1", "status", "open", "resolved", at(hours=2))

    must_ingest(ctx, customer("m-3", kind=None) | {"sent_at": _iso(at(days=8))})

    old, new = conversation(ctx, "c-1"), conversation(ctx, "c-1/2")
    assert old.status == Status.RESOLVED.value and not old.is_open
    assert new.reopened_from_id == old.id
    assert new.thread_key == "c-1" and new.kind == old.kind and new.subject == "Refund"
    assert new.status == Status.NEW.value and new.is_open
    cl = clocks(ctx, "c-1/2")
    assert cl[("first_response", 1)].started_at == at(days=8)
    assert cl[("first_response", 1)].due_at == at(days=9)
    assert ("resolution", 2) not in clocks(ctx, "c-1")
    # the next message of the thread goes to the new conversation
    must_ingest(ctx, reply("m-4") | {"sent_at": _iso(at(days=8, minutes=5))})
    assert clocks(ctx, "c-1/2")[("first_response", 1)].state == ClockState.MET.value


def _iso(when: datetime) -> str:
    from tests.factories import iso

    return iso(when)


# -- priority -------------------------------------------------------------------------------------


def test_priority_change_recomputes_running_clocks(ctx: Context) -> None:
    must_ingest(ctx, customer("m-1", minutes=0))
    assert conversation(ctx, "c-1").due_at == at(hours=24)

    change(ctx, "c-1", "priority", "normal", "urgent", at(10))

    first = clocks(ctx, "c-1")[("first_response", 1)]
    assert first.priority == "urgent" and first.target_s == H
    assert first.started_at == at(0) and first.due_at == at(hours=1)
    conv = conversation(ctx, "c-1")
    assert (conv.due_for, conv.due_at, conv.due_target_s) == ("first_response", at(hours=1), H)
    with ctx.db.read() as s:
        causes = s.scalars(
            select(ClockEvent.cause).where(
                ClockEvent.event == "recomputed", ClockEvent.target == "first_response"
            )
        ).all()
    assert causes == ["priority change"]

    change(ctx, "c-1", "priority", "urgent", "high", at(20))
    assert conversation(ctx, "c-1").due_at == at(hours=4)


# -- out of order --------------------------------------------------------------------------------


def test_late_out_of_order_intake_gives_the_same_clocks(ctx: Context, alice: str) -> None:
    def history(conv: str) -> dict[str, dict[str, Any]]:
        return {
            "m1": customer(f"{conv}-1", conv, 0),
            "r2": reply(f"{conv}-2", conv, 30),
            "m3": customer(f"{conv}-3", conv, 120),
            "m4": customer(f"{conv}-4", conv, 130),
            "r5": reply(f"{conv}-5", conv, 200),
            "m6": customer(f"{conv}-6", conv, 300),
        }

    a = history("c-a")
    for key in ("m1", "r2", "m3", "m4", "r5", "m6"):
        must_ingest(ctx, a[key])
    b = history("c-b")
    for key in ("m6", "m3", "r5", "m1", "m4", "r2"):  # each as its own late delivery
        must_ingest(ctx, b[key])

    view_a, view_b = clock_view(ctx, "c-a"), clock_view(ctx, "c-b")
    assert view_a == view_b
    targets = [(t, seq, st) for t, seq, st, *_ in view_a]
    assert targets == [
        ("first_response", 1, "met"),
        ("next_response", 1, "met"),
        ("next_response", 2, "running"),
        ("resolution", 1, "running"),
    ]
    ca, cb = conversation(ctx, "c-a"), conversation(ctx, "c-b")
    for field in ("due_at", "due_for", "waiting_since", "first_message_at", "last_message_at"):
        assert getattr(ca, field) == getattr(cb, field), field
    assert ca.first_message_at == at(0) and ca.last_message_at == at(300)


# -- buyer_seller ---------------------------------------------------------------------------------


def test_buyer_seller_seller_reply_meets_clock_and_next_buyer_message_starts_another(
    ctx: Context, alice: str
) -> None:
    bs: dict[str, Any] = {"kind": "buyer_seller", "listing": "L-1"}
    must_ingest(ctx, listing("L-1", seller="u-9"), customer("m-1", "c-b", 0, role="buyer", **bs))
    cl = clocks(ctx, "c-b")
    assert sorted(cl) == [("seller_reply", 1)]  # no resolution clock between buyer and seller
    assert cl[("seller_reply", 1)].due_at == at(hours=4)
    conv = conversation(ctx, "c-b")
    assert (conv.due_for, conv.due_at) == ("seller_reply", at(hours=4))

    # an agent writing (not escalated) does not answer for the seller
    must_ingest(ctx, reply("m-2", "c-b", 30))
    assert clocks(ctx, "c-b")[("seller_reply", 1)].state == ClockState.RUNNING.value

    must_ingest(ctx, message("m-3", "c-b", sender="u-9", role="seller", kind=None, sent_at=60))
    first = clocks(ctx, "c-b")[("seller_reply", 1)]
    assert first.state == ClockState.MET.value and first.elapsed_s == H
    assert conversation(ctx, "c-b").due_at is None

    must_ingest(ctx, customer("m-4", "c-b", 120, role="buyer", kind=None))
    second = clocks(ctx, "c-b")[("seller_reply", 2)]
    assert second.state == "running" and second.due_at == at(hours=6)
    assert conversation(ctx, "c-b").due_at == at(hours=6)


def test_buyer_seller_agent_reply_counts_once_escalated(ctx: Context, alice: str) -> None:
    bs: dict[str, Any] = {"kind": "buyer_seller", "listing": "L-1"}
    must_ingest(ctx, listing("L-1"), customer("m-1", "c-b", 0, role="buyer", **bs))

    def escalate(s: Any) -> None:
        conv_id = _conv_id(s, "c-b")
        s.add(
            Escalation(
                conversation_id=conv_id, level=1, reason="seller silent", created_at=at(hours=4)
            )
        )
        s.flush()
        sla.recompute(s, ctx.settings, [conv_id])

    ctx.db.write(escalate)
    must_ingest(ctx, reply("m-2", "c-b", 5 * 60))
    assert clocks(ctx, "c-b")[("seller_reply", 1)].state == ClockState.MET.value


# -- flags ----------------------------------------------------------------------------------------


def test_flag_opens_a_moderation_conversation_with_a_12h_clock(ctx: Context) -> None:
    must_ingest(ctx, listing("L-1"), flag("fl-1", {"listing": "L-1"}, flagged_at=_iso(at(30))))
    with ctx.db.read() as s:
        ext = s.scalar(select(Conversation.external_id).where(Conversation.kind == "flag"))
    assert ext is not None
    cl = clocks(ctx, ext)
    assert sorted(cl) == [("moderation", 1)]
    assert cl[("moderation", 1)].target_s == 12 * H
    assert cl[("moderation", 1)].due_at == at(30, hours=12)
    conv = conversation(ctx, ext)
    assert (conv.kind, conv.due_for, conv.due_at) == ("flag", "moderation", at(30, hours=12))

    change(ctx, ext, "status", "new", "resolved", at(hours=3))
    mod = clocks(ctx, ext)[("moderation", 1)]
    assert mod.state == ClockState.MET.value and mod.elapsed_s == 2 * H + 30 * 60


# -- the queue ------------------------------------------------------------------------------------


@pytest.fixture
def busy_queue(ctx: Context, alice: str) -> Context:
    must_ingest(
        ctx,
        listing("L-1"),
        customer("m-n", "c-normal", 0),
        customer("m-q", "c-quiet", 0),
        customer("m-u", "c-urgent", 0, priority="urgent"),
        customer("m-h", "c-high", 0, priority="high"),
        customer("m-b", "c-bs", 10, role="buyer", kind="buyer_seller", listing="L-1"),
        customer("m-d", "c-done", 0),
        reply("r-q", "c-quiet", 5),
        reply("r-d", "c-done", 5),
    )
    change(ctx, "c-quiet", "status", "open", "pending_customer", at(10))
    change(ctx, "c-done", "status", "open", "resolved", at(10))
    return ctx


def test_queue_is_ordered_by_due_time_with_no_clock_last(busy_queue: Context) -> None:
    page = queue.page(busy_queue, queue.QueueFilter(), as_of=at(0))
    assert [r.conversation for r in page.rows] == [
        "c-urgent",  # 1 h
        "c-high",  # 4 h
        "c-bs",  # 4 h 10 m
        "c-normal",  # 24 h
        "c-quiet",  # pending, no running clock
    ]
    assert page.total == 5
    assert [r.due_for for r in page.rows] == [
        "first_response",
        "first_response",
        "seller_reply",
        "first_response",
        None,
    ]
    assert page.rows[-1].due_at is None
    only_bs = queue.page(busy_queue, queue.QueueFilter(kind="buyer_seller"), as_of=at(0))
    assert [r.conversation for r in only_bs.rows] == ["c-bs"]
    first_two = queue.page(busy_queue, queue.QueueFilter(), as_of=at(0), limit=2)
    assert [r.conversation for r in first_two.rows] == ["c-urgent", "c-high"]
    assert first_two.total == 5
    found = queue.page(busy_queue, queue.QueueFilter(text="C-HIGH"), as_of=at(0)).rows
    assert [r.conversation for r in found] == ["c-high"]
    # LIKE wildcards in the search text are plain characters
    for wildcard in ("_", "%", "c_high"):
        rows = queue.page(busy_queue, queue.QueueFilter(text=wildcard), as_of=at(0)).rows
        assert rows == (), wildcard


def test_queue_as_of_breached_at_risk_and_seconds_left(busy_queue: Context) -> None:
    now = at(hours=3, minutes=30)
    rows = {r.conversation: r for r in queue.page(busy_queue, queue.QueueFilter(), as_of=now).rows}
    js = {k: queue.as_json(r, now) for k, r in rows.items()}

    assert js["c-urgent"]["breached"] is True
    assert js["c-urgent"]["seconds_left"] == -int(2.5 * H)
    assert js["c-urgent"]["due_at"] == "2026-03-02T08:00:00Z"
    assert js["c-high"]["breached"] is False and js["c-high"]["at_risk"] is True  # 30 m of 4 h
    assert js["c-high"]["seconds_left"] == 30 * 60
    assert js["c-bs"]["at_risk"] is True and js["c-bs"]["seconds_left"] == 40 * 60
    assert js["c-normal"]["at_risk"] is False and js["c-normal"]["breached"] is False
    assert js["c-quiet"]["seconds_left"] is None and js["c-quiet"]["due_at"] is None
    assert js["c-quiet"]["breached"] is False and js["c-quiet"]["at_risk"] is False
    assert set(js["c-high"]) == {
        "id",
        "conversation",
        "kind",
        "subject",
        "status",
        "priority",
        "team",
        "assignee",
        "requester",
        "escalation_level",
        "due_at",
        "due_for",
        "seconds_left",
        "breached",
        "at_risk",
    }

    breached = queue.page(busy_queue, queue.QueueFilter(breached=True), as_of=now).rows
    assert [r.conversation for r in breached] == ["c-urgent"]
    risky = queue.page(busy_queue, queue.QueueFilter(at_risk=True), as_of=now).rows
    assert [r.conversation for r in risky] == ["c-high", "c-bs"]
    later = queue.page(busy_queue, queue.QueueFilter(breached=True), as_of=at(days=2)).rows
    assert [r.conversation for r in later] == ["c-urgent", "c-high", "c-bs", "c-normal"]
    # at the very deadline a clock counts as breached
    exact = queue.page(busy_queue, queue.QueueFilter(breached=True), as_of=at(hours=1)).rows
    assert [r.conversation for r in exact] == ["c-urgent"]


def test_explain_text_shows_clocks_and_cleans_customer_text(ctx: Context, alice: str) -> None:
    must_ingest(
        ctx,
        customer("m-1", minutes=0, subject="\x1b]52;c;ZXZpbA==\x07[bold]pwn[/]"),
        reply("m-2", minutes=30),
    )
    text = explain.explain_text(ctx, "c-1", at(hours=1))
    assert "\x1b" not in text and "\x07" not in text
    assert "[bold]pwn[/]" in text
    assert "first_response#1: met" in text and "(in time)" in text
    assert "resolution#1: due 2026-03-03 07:00:00Z" in text
    late = explain.explain_text(ctx, "c-1", at(hours=25))
    assert "breached" in late


def test_recompute_is_idempotent_and_logs_nothing_new(ctx: Context, alice: str) -> None:
    must_ingest(ctx, customer("m-1", minutes=0), reply("m-2", minutes=30))
    before = explain.explain(ctx, "c-1")
    view = clock_view(ctx, "c-1")
    assert explain.recompute_open(ctx) == 1
    assert explain.recompute_open(ctx) == 1
    assert clock_view(ctx, "c-1") == view
    assert explain.explain(ctx, "c-1").events == before.events


def test_late_customer_message_older_than_pending_does_not_resume(ctx: Context, alice: str) -> None:
    """A customer message sent before the conversation went pending, ingested after it, is
    history: the conversation stays pending and resolution stays paused (as in order)."""
    must_ingest(ctx, customer("m-1", minutes=0), reply("m-2", minutes=60))
    change(ctx, "c-1", "status", "open", "pending_customer", at(hours=2))

    must_ingest(ctx, customer("m-late", minutes=90, kind=None))  # sent before the change

    conv = conversation(ctx, "c-1")
    assert conv.status == Status.PENDING_CUSTOMER.value
    res = clocks(ctx, "c-1")[("resolution", 1)]
    assert res.state == ClockState.PAUSED.value


def test_business_time_policy_with_a_team_calendar(ctx: Context) -> None:
    from dataclasses import replace

    from helpdesk_tui.sla.calendar import BusinessCalendar
    from helpdesk_tui.sla.policy import Policy

    office = BusinessCalendar.from_config(
        {
            "timezone": "Africa/Johannesburg",
            "hours": {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": "",
        }
    )
    policy = Policy.from_config(
        {
            "rule": [
                {
                    "kinds": ["user_admin"],
                    "target": "first_response",
                    "duration": "30m",
                    "clock": "business",
                }
            ]
        }
    )
    biz = Context(
        db=ctx.db,
        settings=replace(
            ctx.settings, policy=policy, calendars={**ctx.settings.calendars, "office": office}
        ),
        now=ctx.now,
    )
    agents.add_team(biz, "root", "support", calendar="office")
    # Friday 6 March 2026 16:50 SAST: 10 business minutes left that day, 20 on Monday.
    friday = at(days=4, hours=7, minutes=50)
    must_ingest(biz, customer("m-1") | {"sent_at": _iso(friday)})

    first = clocks(biz, "c-1")[("first_response", 1)]
    assert first.business is True and first.target_s == 30 * 60
    assert first.due_at == at(days=7, minutes=-40)  # Monday 9 March 08:20 SAST
    assert clocks(biz, "c-1")[("resolution", 1)].due_at == friday + timedelta(hours=24)


def test_buyer_after_reopen_window_starts_a_new_buyer_seller_conversation(ctx: Context) -> None:
    bs: dict[str, Any] = {"kind": "buyer_seller", "listing": "L-1"}
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        customer("m-1", "c-b", 0, role="buyer", **bs),
        message("m-2", "c-b", sender="u-9", role="seller", kind=None, sent_at=30),
    )
    change(ctx, "c-b", "status", "open", "resolved", at(hours=1))

    # a follow-up names neither kind nor listing: both come from the thread
    must_ingest(ctx, message("m-3", "c-b", role="buyer", kind=None, sent_at=at(days=9)))

    new = conversation(ctx, "c-b/2")
    assert new.kind == "buyer_seller" and new.reopened_from_id == conversation(ctx, "c-b").id
    with ctx.db.read() as s:
        conv = s.get(Conversation, new.id)
        assert conv is not None and conv.listing is not None and conv.counterpart is not None
        assert (conv.listing.external_id, conv.counterpart.external_id) == ("L-1", "u-9")
    assert clocks(ctx, "c-b/2")[("seller_reply", 1)].due_at == at(days=9, hours=4)


def test_queue_total_is_counted_up_to_a_cap(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap the total is a lower bound ("N+"), so paging stays cheap at 100k open."""
    import json

    from helpdesk_tui.services import queue as queue_service
    from helpdesk_tui.services.intake import Intake

    lines = [
        json.dumps(
            {
                "id": f"cap-{i}", "conversation": f"cap-c{i}", "kind": "user_admin",
                "subject": "s", "from": {"id": f"u-{i}", "role": "user"}, "body": "b",
                "sent_at": "2026-03-02T09:00:00+02:00",
            }
        ).encode()
        for i in range(7)
    ]  # fmt: skip
    assert Intake(ctx).run(lines).accepted == 7
    monkeypatch.setattr(queue_service, "COUNT_CAP", 5)
    capped = queue_service.page(ctx, queue_service.QueueFilter(), limit=2)
    assert (len(capped.rows), capped.total, capped.total_capped) == (2, 5, True)
    monkeypatch.setattr(queue_service, "COUNT_CAP", 100)
    exact = queue_service.page(ctx, queue_service.QueueFilter(), limit=2)
    assert (exact.total, exact.total_capped) == (7, False)
