"""The pure SLA engine: clocks replayed from hand-built conversation facts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk_tui.sla.calendar import ALWAYS_OPEN, BusinessCalendar
from helpdesk_tui.sla.clocks import (
    Clock,
    ConversationFacts,
    MessageFact,
    PriorityFact,
    StatusFact,
    compute_clocks,
    deadline,
)
from helpdesk_tui.sla.policy import DEFAULT_POLICY, Policy

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # Monday 09:00 in Johannesburg
H = 3600


def t(minutes: float = 0, *, hours: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, hours=hours, days=days)


_ids = itertools.count(1)


def cust(when: datetime, role: str = "customer") -> MessageFact:
    return MessageFact(next(_ids), when, role)


def agent(when: datetime, *, via: str = "console", internal: bool = False) -> MessageFact:
    return MessageFact(next(_ids), when, "agent", internal, via)


def facts(
    *messages: MessageFact,
    kind: str = "user_admin",
    priority: str = "normal",
    statuses: tuple[StatusFact, ...] = (),
    changes: tuple[PriorityFact, ...] = (),
    escalated_at: datetime | None = None,
) -> ConversationFacts:
    return ConversationFacts(kind, priority, list(messages), statuses, changes, escalated_at)


def run(f: ConversationFacts, policy: Policy = DEFAULT_POLICY, cal=ALWAYS_OPEN) -> dict:  # type: ignore[no-untyped-def]
    return {(c.target, c.seq): c for c in compute_clocks(f, policy, cal)}


def status(when: datetime, new: str) -> StatusFact:
    return StatusFact(when, new, f"status -> {new}")


# -- response clocks --


def test_first_inbound_starts_first_response_and_resolution() -> None:
    cl = run(facts(cust(t(0))))
    assert sorted(cl) == [("first_response", 1), ("resolution", 1)]
    first = cl[("first_response", 1)]
    assert first.state == "running" and first.running
    assert first.started_at == t(0) and first.due_at == t(hours=24)
    assert first.target_s == 24 * H and first.business is False
    assert first.met_in_time is None
    assert [e.event for e in first.events] == ["started"]


def test_no_messages_no_clocks() -> None:
    assert compute_clocks(facts(), DEFAULT_POLICY, ALWAYS_OPEN) == []
    assert deadline([]).due_at is None


@pytest.mark.parametrize(
    ("priority", "hours"), [("urgent", 1), ("high", 4), ("normal", 24), ("low", 24)]
)
def test_first_response_target_by_priority(priority: str, hours: int) -> None:
    cl = run(facts(cust(t(0)), priority=priority))
    assert cl[("first_response", 1)].due_at == t(hours=hours)
    assert cl[("resolution", 1)].due_at == t(hours=24)


def test_agent_reply_meets_first_response() -> None:
    m, r = cust(t(0)), agent(t(30))
    first = run(facts(m, r))[("first_response", 1)]
    assert first.state == "met" and not first.running
    assert first.stopped_at == t(30) and first.elapsed_s == 1800
    assert first.start_message_id == m.id and first.stop_message_id == r.id
    assert first.met_in_time is True
    assert [e.event for e in first.events] == ["started", "met"]


def test_late_reply_is_met_but_not_in_time() -> None:
    first = run(facts(cust(t(0)), agent(t(hours=30))))[("first_response", 1)]
    assert first.state == "met" and first.met_in_time is False and first.elapsed_s == 30 * H


@pytest.mark.parametrize(
    "non_reply",
    [
        pytest.param(MessageFact(900, t(1), "agent", False, "auto_ack"), id="auto_ack_agent"),
        pytest.param(MessageFact(901, t(1), "system", False, "auto_ack"), id="auto_ack_system"),
        pytest.param(MessageFact(902, t(1), "system", False, "console"), id="system"),
        pytest.param(MessageFact(903, t(1), "agent", True, "console"), id="internal_note"),
        pytest.param(MessageFact(904, t(1), "customer"), id="customer_again"),
    ],
)
def test_non_replies_do_not_meet_first_response(non_reply: MessageFact) -> None:
    cl = run(facts(cust(t(0)), non_reply))
    first = cl[("first_response", 1)]
    assert first.state == "running" and first.due_at == t(hours=24)
    assert ("next_response", 1) not in cl


def test_template_reply_meets() -> None:
    first = run(facts(cust(t(0)), agent(t(5), via="template")))[("first_response", 1)]
    assert first.state == "met"


def test_next_response_starts_at_first_inbound_after_a_reply() -> None:
    cl = run(facts(cust(t(0)), agent(t(10)), cust(t(60)), cust(t(70)), agent(t(100)), cust(t(200))))
    assert sorted(cl) == [
        ("first_response", 1),
        ("next_response", 1),
        ("next_response", 2),
        ("resolution", 1),
    ]
    n1, n2 = cl[("next_response", 1)], cl[("next_response", 2)]
    assert (n1.started_at, n1.state, n1.elapsed_s) == (t(60), "met", 40 * 60)
    assert (n2.started_at, n2.state, n2.due_at) == (t(200), "running", t(200, hours=24))


def test_two_replies_in_a_row_meet_once() -> None:
    cl = run(facts(cust(t(0)), agent(t(10)), agent(t(20))))
    assert cl[("first_response", 1)].stopped_at == t(10)
    assert ("next_response", 1) not in cl


# -- resolution --


def test_pending_customer_pauses_resolution_and_a_customer_message_resumes_it() -> None:
    f = facts(
        cust(t(0)),
        agent(t(hours=1)),
        cust(t(hours=5)),
        statuses=(status(t(hours=2), "pending_customer"),),
    )
    res = run(f)[("resolution", 1)]
    assert res.state == "running"
    assert res.paused_s == 3 * H
    assert res.due_at == t(hours=27)
    assert [e.event for e in res.events] == ["started", "paused", "resumed"]


def test_paused_resolution_has_no_due_time() -> None:
    f = facts(cust(t(0)), agent(t(60)), statuses=(status(t(120), "pending_customer"),))
    cl = run(f)
    assert cl[("resolution", 1)].state == "paused" and cl[("resolution", 1)].due_at is None
    d = deadline(list(cl.values()))
    assert (d.due_at, d.due_for, d.waiting_since) == (None, None, None)


def test_status_open_resumes_too() -> None:
    f = facts(
        cust(t(0)),
        statuses=(status(t(hours=1), "pending_customer"), status(t(hours=3), "open")),
    )
    cl = run(f)
    assert cl[("resolution", 1)].due_at == t(hours=26)
    assert cl[("first_response", 1)].due_at == t(hours=24)  # pending never pauses a response


def test_resolved_meets_resolution_and_stops_response_unmet() -> None:
    f = facts(cust(t(0)), statuses=(status(t(hours=2), "resolved"),))
    cl = run(f)
    res, first = cl[("resolution", 1)], cl[("first_response", 1)]
    assert (res.state, res.elapsed_s, res.met_in_time) == ("met", 2 * H, True)
    assert (first.state, first.stopped_at, first.met_in_time) == ("stopped", t(hours=2), None)
    assert deadline(list(cl.values())).due_at is None


def test_resolution_elapsed_excludes_the_pending_time() -> None:
    f = facts(
        cust(t(0)),
        agent(t(hours=1)),
        cust(t(hours=10)),
        statuses=(
            status(t(hours=2), "pending_customer"),
            status(t(hours=12), "resolved"),
        ),
    )
    res = run(f)[("resolution", 1)]
    assert res.state == "met" and res.elapsed_s == 4 * H and res.paused_s == 8 * H


def test_customer_message_after_resolution_reopens_with_a_new_resolution_clock() -> None:
    f = facts(
        cust(t(0)),
        agent(t(30)),
        cust(t(days=2)),
        statuses=(status(t(hours=1), "resolved"),),
    )
    cl = run(f)
    assert cl[("resolution", 1)].state == "met"
    res2 = cl[("resolution", 2)]
    assert res2.state == "running" and res2.started_at == t(days=2)
    assert res2.due_at == t(days=3)
    assert "reopened" in res2.events[0].cause
    assert cl[("next_response", 1)].started_at == t(days=2)


def test_resolution_without_pause_rule_keeps_running_while_pending() -> None:
    policy = Policy.from_config(
        {
            "rule": [
                {
                    "kinds": ["user_admin"],
                    "target": "resolution",
                    "duration": "24h",
                    "pause": False,
                }
            ]
        }
    )
    f = facts(cust(t(0)), statuses=(status(t(hours=1), "pending_customer"),))
    res = run(f, policy)[("resolution", 1)]
    assert res.state == "running" and res.due_at == t(hours=24)
    assert [e.event for e in res.events] == ["started"]


# -- priority --


def test_priority_change_recomputes_running_clocks_from_their_start() -> None:
    f = facts(cust(t(0)), changes=(PriorityFact(t(10), "urgent"),))
    first = run(f)[("first_response", 1)]
    assert first.priority == "urgent" and first.target_s == H
    assert first.due_at == t(hours=1)


def test_priority_change_after_a_clock_stopped_does_not_touch_it() -> None:
    f = facts(cust(t(0)), agent(t(90)), changes=(PriorityFact(t(120), "urgent"),))
    first = run(f)[("first_response", 1)]
    assert first.priority == "normal" and first.target_s == 24 * H and first.met_in_time


def test_priority_at_uses_the_latest_change_before_the_instant() -> None:
    f = facts(
        priority="low",
        changes=(PriorityFact(t(hours=2), "high"), PriorityFact(t(hours=1), "urgent")),
    )
    assert f.priority == "high"
    assert f.priority_at(t(30)) == "low"
    assert f.priority_at(t(hours=1)) == "urgent"
    assert f.priority_at(t(hours=3)) == "high"


# -- order independence --


def _history() -> list[MessageFact]:
    return [
        MessageFact(1, t(0), "customer"),
        MessageFact(2, t(30), "agent", False, "console"),
        MessageFact(3, t(60), "customer"),
        MessageFact(4, t(61), "agent", False, "auto_ack"),
        MessageFact(5, t(70), "agent", True, "console"),
        MessageFact(6, t(100), "agent", False, "console"),
        MessageFact(7, t(300), "customer"),
    ]


def _comparable(clocks: list[Clock]) -> list[Clock]:
    return sorted(clocks, key=lambda c: (c.target, c.seq))


@settings(max_examples=60, deadline=None)
@given(st.permutations(_history()))
def test_message_order_does_not_change_the_clocks(messages: list[MessageFact]) -> None:
    statuses = (status(t(200), "pending_customer"), status(t(20), "open"))
    expected = compute_clocks(facts(*_history(), statuses=statuses), DEFAULT_POLICY, ALWAYS_OPEN)
    got = compute_clocks(
        facts(*messages, statuses=tuple(reversed(statuses))), DEFAULT_POLICY, ALWAYS_OPEN
    )
    assert _comparable(got) == _comparable(expected)


# -- buyer_seller and flags --


def test_buyer_seller_seller_reply_meets_and_next_buyer_message_starts_another() -> None:
    f = facts(
        cust(t(0)),
        MessageFact(50, t(60), "seller"),
        cust(t(120)),
        kind="buyer_seller",
    )
    cl = run(f)
    assert sorted(cl) == [("seller_reply", 1), ("seller_reply", 2)]
    assert cl[("seller_reply", 1)].state == "met" and cl[("seller_reply", 1)].elapsed_s == H
    assert cl[("seller_reply", 2)].due_at == t(hours=6)


def test_buyer_seller_agent_reply_counts_only_once_escalated() -> None:
    plain = run(facts(cust(t(0)), agent(t(30)), kind="buyer_seller"))
    assert plain[("seller_reply", 1)].state == "running"
    before = run(facts(cust(t(0)), agent(t(30)), kind="buyer_seller", escalated_at=t(60)))
    assert before[("seller_reply", 1)].state == "running"
    after = run(facts(cust(t(0)), agent(t(300)), kind="buyer_seller", escalated_at=t(240)))
    assert after[("seller_reply", 1)].state == "met"


def test_flag_has_a_12h_moderation_clock_met_on_resolution() -> None:
    f = facts(cust(t(0)), kind="flag")
    cl = run(f)
    assert sorted(cl) == [("moderation", 1)]
    assert cl[("moderation", 1)].due_at == t(hours=12)
    done = run(facts(cust(t(0)), kind="flag", statuses=(status(t(hours=3), "resolved"),)))
    assert done[("moderation", 1)].state == "met" and done[("moderation", 1)].elapsed_s == 3 * H


def test_a_target_without_a_rule_has_no_clock() -> None:
    policy = Policy.build({k: r for k, r in DEFAULT_POLICY.rules.items() if k[2] != "resolution"})
    cl = run(facts(cust(t(0))), policy)
    assert sorted(cl) == [("first_response", 1)]


# -- business time --

OFFICE = BusinessCalendar(
    tz="Africa/Johannesburg",
    weekly=(((time(8), time(17)),),) * 5 + ((), ()),
    country=None,
)
BUSINESS_FIRST_RESPONSE = Policy.from_config(
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


def test_business_rule_skips_closed_hours() -> None:
    friday = datetime(2026, 3, 6, 14, 50, tzinfo=UTC)  # Friday 16:50 SAST
    cl = run(facts(cust(friday)), BUSINESS_FIRST_RESPONSE, OFFICE)
    first = cl[("first_response", 1)]
    assert first.business is True
    assert first.due_at == datetime(2026, 3, 9, 6, 20, tzinfo=UTC)  # Monday 08:20 SAST
    assert cl[("resolution", 1)].due_at == friday + timedelta(hours=24)  # calendar rule


def test_business_rule_measures_elapsed_in_business_seconds() -> None:
    friday = datetime(2026, 3, 6, 14, 50, tzinfo=UTC)
    monday = datetime(2026, 3, 9, 6, 15, tzinfo=UTC)  # Monday 08:15 SAST
    first = run(facts(cust(friday), agent(monday)), BUSINESS_FIRST_RESPONSE, OFFICE)[
        ("first_response", 1)
    ]
    assert first.elapsed_s == 25 * 60 and first.met_in_time is True


def test_business_rule_started_while_closed_counts_from_the_next_opening() -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    first = run(facts(cust(saturday)), BUSINESS_FIRST_RESPONSE, OFFICE)[("first_response", 1)]
    assert first.started_at == saturday
    assert first.due_at == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)


# -- the queue's deadline --


def test_deadline_is_the_earliest_running_clock() -> None:
    clocks = compute_clocks(facts(cust(t(0)), priority="urgent"), DEFAULT_POLICY, ALWAYS_OPEN)
    d = deadline(clocks)
    assert (d.due_at, d.due_for, d.target_s, d.waiting_since) == (
        t(hours=1),
        "first_response",
        H,
        t(0),
    )


def test_deadline_after_a_reply_is_the_resolution_and_nobody_waits() -> None:
    d = deadline(compute_clocks(facts(cust(t(0)), agent(t(5))), DEFAULT_POLICY, ALWAYS_OPEN))
    assert (d.due_for, d.due_at, d.waiting_since) == ("resolution", t(hours=24), None)


def test_same_instant_messages_give_the_same_clocks_whatever_their_arrival() -> None:
    """Ids follow arrival order; a customer message and a reply sent in the same second must
    not be ordered by which one the intake happened to store first."""
    at_once = t(60)
    in_order = [
        MessageFact(1, t(0), "customer", ref="m-1"),
        MessageFact(2, t(30), "agent", False, "console", "m-2"),
        MessageFact(3, at_once, "customer", ref="m-3"),
        MessageFact(4, at_once, "agent", False, "console", "m-4"),
    ]
    late = [  # the reply m-4 arrived (and got its id) before the customer's m-3
        in_order[0],
        in_order[1],
        MessageFact(3, at_once, "agent", False, "console", "m-4"),
        MessageFact(4, at_once, "customer", ref="m-3"),
    ]

    def view(messages: list[MessageFact]) -> list[tuple[object, ...]]:
        return [
            (c.target, c.seq, c.state, c.started_at, c.due_at, c.stopped_at, c.elapsed_s)
            for c in _comparable(compute_clocks(facts(*messages), DEFAULT_POLICY, ALWAYS_OPEN))
        ]

    assert view(late) == view(in_order)
