"""The SCMR-5 / weekly / quarterly report figures against hand-computed fixtures, on SQLite and
PostgreSQL. Times are written in Johannesburg time (SAST, UTC+2, no DST) unless noted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from db.models import Conversation, Escalation, Flag, Message
from helpdesk_tui.errors import InvalidInput
from helpdesk_tui.services import (
    agents,
    conversations,
    reports,
    reports_export,
    reports_format,
    sla,
)
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.reports_period import date_range, month, quarter, week
from helpdesk_tui.services.reports_sql import offset_segments
from tests.factories import conversation, feedback, flag, ingest, listing, message

SAST = ZoneInfo("Africa/Johannesburg")
H = 3600
#: 1 April 2026 14:00 SAST: after March, before D's and E's clocks fall due.
AS_OF = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def sast(mon: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, mon, day, hour, minute, tzinfo=SAST)


def must(ctx: Context, *records: dict[str, Any]) -> None:
    run = ingest(ctx, *records)
    assert run.rejects == [], run.rejects


def cust(mid: str, conv: str, when: datetime, kind: str | None = "user_admin", **kw: Any) -> dict:
    kw.setdefault("sender", f"u-{conv}")
    return message(mid, conv, role="user", sent_at=when, kind=kind, **kw)


def agent(mid: str, conv: str, when: datetime, who: str = "alice") -> dict:
    return message(mid, conv, sender=who, role="agent", sent_at=when, kind=None)


def buyer(mid: str, conv: str, when: datetime, lid: str | None = None) -> dict:
    extra = {"listing": lid} if lid else {}
    kind = "buyer_seller" if lid else None
    return message(mid, conv, sender=f"b-{conv}", role="buyer", sent_at=when, kind=kind, **extra)


def seller(mid: str, conv: str, when: datetime, who: str) -> dict:
    return message(mid, conv, sender=who, role="seller", sent_at=when, kind=None)


def conv_id(ctx: Context, ext: str) -> int:
    return conversation(ctx, ext).id


def at_time(clock: Any, when: datetime) -> None:
    clock.now = when.astimezone(UTC)


def setup_teams(ctx: Context) -> None:
    for team in ("support", "marketplace", "trust-safety"):
        agents.add_team(ctx, "root", team)
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", "support")
    agents.add_agent(ctx, "root", "bob", "Bob Agent", "agent", "support")
    agents.add_agent(ctx, "root", "lena", "Lena Lead", "lead", "support")


def report(ctx: Context, label: str = "2026-03", *, as_of: datetime = AS_OF, **kw: Any) -> dict:
    tz = kw.pop("tz", "Africa/Johannesburg")
    return reports.build(ctx, month(label, tz), as_of=as_of, **kw)


def add_message(ctx: Context, conv: str, when: datetime, *, role: str, via: str = "console",
                internal: bool = False) -> None:  # fmt: skip
    """A message the helpdesk itself wrote (note, auto-ack, system), then the clocks replayed."""

    def fn(s: Any) -> None:
        cid = s.scalar(select(Conversation.id).where(Conversation.external_id == conv))
        s.add(
            Message(
                conversation_id=cid,
                role=role,
                body="x",
                internal=internal,
                via=via,
                sent_at=when.astimezone(UTC),
                author_name="helpdesk",
            )
        )
        s.flush()
        sla.recompute(s, ctx.settings, [cid], cause="test")

    ctx.db.write(fn)


# -- the month the response figures are computed on -------------------------------------------
def build_march(ctx: Context, clock: Any) -> None:
    """Support conversations A-F and buyer-seller threads for four sellers (see the tests)."""
    setup_teams(ctx)
    must(
        ctx,
        # A: answered in 5 min, follow-up answered in 30 min, resolved after 3 h
        cust("a1", "A", sast(3, 2, 9)),
        agent("a2", "A", sast(3, 2, 9, 5)),
        cust("a3", "A", sast(3, 2, 10), kind=None),
        agent("a4", "A", sast(3, 2, 10, 30)),
        # B: answered by bob after 26 h (late)
        cust("b1", "B", sast(3, 3, 10)),
        agent("b2", "B", sast(3, 4, 12), "bob"),
        # C: never answered, due 31 March 08:00 (missed by AS_OF)
        cust("c1", "C", sast(3, 30, 8)),
        # D: 23:30 on the last day, due 1 April 23:30 (pending at AS_OF)
        cust("d1", "D", sast(3, 31, 23, 30)),
        # E: straddles the month end; answered 1 April 09:00 after 13 h (in time, March)
        cust("e1", "E", sast(3, 31, 20)),
        agent("e2", "E", sast(4, 1, 9)),
        # F: started in February, answered 1 March 08:00 (February's clock)
        cust("f1", "F", sast(2, 28, 23)),
        agent("f2", "F", sast(3, 1, 8)),
        listing("L-1", "u-9", created_at=sast(2, 1, 8).isoformat()),
        listing("L-2", "u-8", created_at=sast(2, 1, 8).isoformat()),
        listing("L-3", "u-7", created_at=sast(2, 1, 8).isoformat()),
        listing("L-4", "u-6", created_at=sast(2, 1, 8).isoformat()),
        # u-9: 1 h (in time), then 5 h (late); S2 never answered
        buyer("s1", "S1", sast(3, 5, 10), "L-1"),
        seller("s2", "S1", sast(3, 5, 11), "u-9"),
        buyer("s3", "S1", sast(3, 5, 12)),
        seller("s4", "S1", sast(3, 5, 17), "u-9"),
        buyer("s5", "S2", sast(3, 6, 10), "L-1"),
        # u-8: 23:00 on the last day, due 03:00 on 1 April: missed by AS_OF
        buyer("s6", "S3", sast(3, 31, 23), "L-2"),
        # u-7: five answered in 30 min -> top
        *[
            r
            for i in range(5)
            for r in (
                buyer(f"t{i}a", f"T{i}", sast(3, 10 + i, 10), "L-3"),
                seller(f"t{i}b", f"T{i}", sast(3, 10 + i, 10, 30), "u-7"),
            )
        ],
        # u-6: four answered in 1 h, one never -> 80% -> ok
        *[
            r
            for i in range(4)
            for r in (
                buyer(f"o{i}a", f"O{i}", sast(3, 16 + i, 10), "L-4"),
                seller(f"o{i}b", f"O{i}", sast(3, 16 + i, 11), "u-6"),
            )
        ],
        buyer("o4a", "O4", sast(3, 20, 10), "L-4"),
    )
    a = conv_id(ctx, "A")
    at_time(clock, sast(3, 2, 11))
    conversations.assign(ctx, "alice", a, "alice")
    at_time(clock, sast(3, 2, 12))
    conversations.set_status(ctx, "alice", a, "resolved")
    must(ctx, feedback("fb-a", "A", rating=4, nps=9, submitted_at=sast(3, 3, 9).isoformat()))


def test_response_figures(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    r = report(ctx)["response"]
    # first responses of clocks started in March: A 300 s, B 93,600 s, E 46,800 s
    assert r["first_responses"] == 3
    assert r["first_response_avg_s"] == 46900.0
    assert r["first_response_median_s"] == 46800.0
    assert (r["first_response_avg_s_target"], r["first_response_avg_s_met"]) == (600, False)
    # business seconds (08:00-22:00): A 300; B 12 h + 4 h = 57,600; E 2 h + 1 h = 10,800
    assert r["first_response_business_avg_s"] == 22900.0
    # every met response clock: A 300 + 1,800, B 93,600, E 46,800
    assert (r["average_response_s"], r["responses_met"]) == (35625.0, 4)
    assert r["average_response_s_target"] == 1800
    # in time: A first, A next, E; missed: B (late), C (past due); D pending
    assert r["responded_within_target"] == {
        "clocks": 6,
        "in_time": 3,
        "missed": 2,
        "pending": 1,
        "excused": 0,
    }
    assert r["responded_within_target_pct"] == 60.0
    assert (r["responded_within_target_pct_target"], r["responded_within_target_pct_met"]) == (
        90,
        False,
    )
    # resolution: A in 3 h; B and C past due; D and E pending
    assert (r["resolution_avg_s"], r["resolutions"]) == (10800.0, 1)
    assert r["resolved_within_24h_pct"] == 33.3
    assert r["resolved_within_24h"]["pending"] == 2
    # sellers: in time 1 + 5 + 4, missed u-9 x2, u-8, u-6
    assert r["seller_replied_within_4h"] == {
        "clocks": 14,
        "in_time": 10,
        "missed": 4,
        "pending": 0,
        "excused": 0,
    }
    assert (r["seller_replied_within_4h_pct"], r["seller_replied_within_4h_pct_met"]) == (
        71.4,
        False,
    )
    assert r["by_week"] == {
        "2026-W09": None,
        "2026-W10": 66.7,
        "2026-W11": None,
        "2026-W12": None,
        "2026-W13": None,
        "2026-W14": 50.0,
    }


def test_clocks_belong_to_the_period_they_started_in(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    feb = report(ctx, "2026-02")["response"]
    # only F: 28 Feb 23:00 -> 1 Mar 08:00 = 9 h, none of it in business hours
    assert (feb["first_responses"], feb["first_response_avg_s"]) == (1, 32400.0)
    assert feb["first_response_business_avg_s"] == 0.0
    assert feb["responded_within_target"]["in_time"] == 1
    # F's resolution clock started in February and ran out there
    assert feb["resolved_within_24h"]["missed"] == 1
    april = report(ctx, "2026-04")["response"]
    assert april["first_responses"] == 0 and april["responded_within_target"]["clocks"] == 0


def test_as_of_decides_running_clocks(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    # three days later D and E's resolution clocks are past due as well
    later = report(ctx, as_of=AS_OF + timedelta(days=3))["response"]
    assert later["responded_within_target"] == {
        "clocks": 6,
        "in_time": 3,
        "missed": 3,
        "pending": 0,
        "excused": 0,
    }
    # on 3 March 12:00 SAST: A's clocks were met; B's first response was still running (due
    # 4 March 10:00): pending; nothing else had started
    early = report(ctx, as_of=sast(3, 3, 12).astimezone(UTC))["response"]
    assert early["responded_within_target"]["in_time"] == 2
    assert early["responded_within_target"]["missed"] == 0
    assert early["first_responses"] == 1  # B's was met after the as-of instant


def test_agents_and_sellers(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    data = report(ctx)
    assert data["agents"] == [
        {
            "agent": "alice",
            "name": "Alice Agent",
            "replies": 3,  # A x2 and F's reply on 1 March
            "first_responses": 2,  # A and E (F's clock is February's)
            "first_response_avg_s": 23550.0,
            "responded_within_target_pct": 100.0,
            "resolved": 1,
            "rating_avg": 4.0,
        },
        {
            "agent": "bob",
            "name": "Bob Agent",
            "replies": 1,
            "first_responses": 1,
            "first_response_avg_s": 93600.0,
            "responded_within_target_pct": 0.0,
            "resolved": 0,
            "rating_avg": None,
        },
    ]
    sellers = {s["seller"]: s for s in data["sellers"]}
    assert [s["seller"] for s in data["sellers"]] == ["u-6", "u-7", "u-8", "u-9"]
    assert sellers["u-9"] == {
        "seller": "u-9",
        "name": "Name u-9",  # the seller's latest message named them
        "inquiries": 3,
        "replied_in_time": 1,
        "missed": 2,
        "pending": 0,
        "replied_within_4h_pct": 33.3,
        "average_reply_s": 10800.0,
        "standing": "warning",
    }
    assert (sellers["u-8"]["replied_within_4h_pct"], sellers["u-8"]["average_reply_s"]) == (
        0.0,
        None,
    )
    assert (sellers["u-7"]["standing"], sellers["u-7"]["average_reply_s"]) == ("top", 1800.0)
    assert (sellers["u-6"]["replied_within_4h_pct"], sellers["u-6"]["standing"]) == (80.0, "ok")


def test_budget(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    b = report(ctx)["budget"]
    assert b["answered_within_target"] == {
        "target_pct": 90,
        "population": 6,
        "decided": 5,
        "missed": 2,
        "pending": 1,
        "projected_population": 6,
        "allowed_misses": 0,
        "budget_left": -2,
        "projected_misses": 2.4,
        "will_meet": False,
    }
    assert b["resolved_within_24h"]["budget_left"] == -2
    assert b["resolved_within_24h"]["projected_misses"] == 3.3
    assert (b["seller_replied_within_4h"]["allowed_misses"], b["seller_replied_within_4h"][
        "budget_left"]) == (1, -3)  # fmt: skip


def test_error_budget_is_exact_and_projects_an_open_period() -> None:
    ten = reports.Outcomes(total=10, in_time=10)
    assert reports.error_budget(ten, 90, Fraction(1))["allowed_misses"] == 1  # not 0.999...
    # half-way through the period: 20 clocks so far, 1 missed -> 40 expected, 4 allowed
    half = reports.Outcomes(total=20, in_time=15, missed=1)
    b = reports.error_budget(half, 90, Fraction(1, 2))
    assert (b["projected_population"], b["allowed_misses"], b["budget_left"]) == (40, 4, 3)
    assert b["pending"] == 4 and b["projected_misses"] == 2.5 and b["will_meet"] is True
    empty = reports.error_budget(reports.Outcomes(), 95, Fraction(1))
    assert (empty["population"], empty["budget_left"], empty["will_meet"]) == (0, 0, None)


# -- volume and time zones ------------------------------------------------------------------
def build_volume(ctx: Context) -> None:
    must(
        ctx,
        listing("L-1", "u-9"),
        cust("v1", "V1", sast(3, 2, 9)),
        agent("v2", "V1", sast(3, 2, 9, 5)),
        cust("v3", "V2", sast(3, 10, 14, 15), kind="issue_report"),
        buyer("v4", "V3", sast(3, 10, 14, 45), "L-1"),
        seller("v5", "V3", sast(3, 10, 15), "u-9"),
        # 00:30 on 1 March SAST is 22:30 on 28 February UTC
        cust("v6", "V4", sast(3, 1, 0, 30)),
        # 01:00 on 1 April SAST is 23:00 on 31 March UTC
        cust("v7", "V5", sast(4, 1, 1)),
        # 23:59 on 28 February SAST: February in either zone
        cust("v8", "V6", sast(2, 28, 23, 59)),
    )
    add_message(ctx, "V1", sast(3, 2, 9, 1), role="agent", via="auto_ack")
    add_message(ctx, "V1", sast(3, 2, 9, 2), role="agent", internal=True)
    add_message(ctx, "V1", sast(3, 2, 9, 3), role="system", via="console")


def test_volume_excludes_notes_system_and_auto_acks(ctx: Context) -> None:
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", None)
    build_volume(ctx)
    v = report(ctx)["volume"]
    assert (v["messages"], v["user_to_admin"], v["admin_to_user"], v["user_to_user"]) == (
        6,
        3,
        1,
        2,
    )
    assert len(v["by_day"]) == 31 and sum(v["by_day"].values()) == 6
    assert {d: n for d, n in v["by_day"].items() if n} == {
        "2026-03-01": 1,
        "2026-03-02": 2,
        "2026-03-10": 3,
    }
    assert list(v["by_hour"]) == [str(h) for h in range(24)]
    assert {h: n for h, n in v["by_hour"].items() if n} == {"0": 1, "9": 2, "14": 2, "15": 1}
    assert v["peak_hour"] == 9  # 9 and 14 tie: the earlier hour


def test_every_pass_sees_the_same_snapshot(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the messages pass runs on a second connection: a message committed after
    the report began is in neither pass (they share the first transaction's snapshot)."""
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", None)
    build_volume(ctx)
    before = report(ctx)

    def write() -> None:
        must(ctx, cust("late", "V9", sast(3, 20, 10)))  # committed by another session

    if ctx.db.is_postgres:  # the write lands before the second connection's first query
        side = reports._side_passes

        def write_then_side(*args: Any) -> Any:
            write()
            return side(*args)

        monkeypatch.setattr(reports, "_side_passes", write_then_side)
    else:  # one transaction: the write lands between its first pass and the messages pass
        clocks = reports.ReportQueries.clock_figures

        def clocks_then_write(self: Any) -> Any:
            out = clocks(self)
            write()
            return out

        monkeypatch.setattr(reports.ReportQueries, "clock_figures", clocks_then_write)
    during = report(ctx)
    monkeypatch.undo()
    assert during == before
    assert report(ctx)["volume"]["messages"] == before["volume"]["messages"] + 1


def test_a_server_that_cannot_share_a_snapshot_runs_the_report_on_one_connection(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if not ctx.db.is_postgres:
        pytest.skip("snapshots are shared on PostgreSQL only")
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", None)
    build_volume(ctx)
    shared = report(ctx)
    monkeypatch.setattr(reports, "_EXPORT_SNAPSHOT", "SELECT no_such_function()")
    assert report(ctx) == shared
    assert "no snapshot to share" in caplog.text


def test_volume_in_utc_moves_the_month_edges(ctx: Context) -> None:
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", None)
    build_volume(ctx)
    data = report(ctx, tz="UTC")
    v = data["volume"]
    assert data["period"]["start"] == "2026-03-01T00:00:00+00:00"
    # loses 1 March 00:30 SAST (28 Feb UTC), gains 1 April 01:00 SAST (31 March UTC)
    assert v["messages"] == 6
    assert {d: n for d, n in v["by_day"].items() if n} == {
        "2026-03-02": 2,
        "2026-03-10": 3,
        "2026-03-31": 1,
    }
    assert {h: n for h, n in v["by_hour"].items() if n} == {"7": 2, "12": 2, "13": 1, "23": 1}


def test_volume_buckets_follow_a_dst_change(ctx: Context) -> None:
    # Europe/London springs forward on 29 March 2026 at 01:00 UTC (GMT -> BST)
    must(
        ctx,
        cust("x1", "X1", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),  # 00:30 GMT
        cust("x2", "X2", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # 02:30 BST
        cust("x3", "X3", datetime(2026, 3, 31, 23, 30, tzinfo=UTC)),  # 1 April 00:30 BST
        cust("x4", "X4", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),  # midnight, 1 March GMT
    )
    v = report(ctx, tz="Europe/London")["volume"]
    assert v["messages"] == 3
    assert {h: n for h, n in v["by_hour"].items() if n} == {"0": 2, "2": 1}
    assert {d: n for d, n in v["by_day"].items() if n} == {"2026-03-01": 1, "2026-03-29": 2}


def test_volume_buckets_in_a_half_hour_zone(ctx: Context) -> None:
    # India is UTC+05:30: UTC hours straddle local hours, so quarter-hour buckets are used
    must(
        ctx,
        cust("k1", "K1", datetime(2026, 3, 10, 18, 15, tzinfo=UTC)),  # 23:45 on 10 March
        cust("k2", "K2", datetime(2026, 3, 10, 18, 45, tzinfo=UTC)),  # 00:15 on 11 March
        cust("k3", "K3", datetime(2026, 3, 31, 18, 29, tzinfo=UTC)),  # 23:59 on 31 March
        cust("k4", "K4", datetime(2026, 3, 31, 18, 30, tzinfo=UTC)),  # 00:00 on 1 April
    )
    v = report(ctx, tz="Asia/Kolkata")["volume"]
    assert v["messages"] == 3
    assert {h: n for h, n in v["by_hour"].items() if n} == {"0": 1, "23": 2}
    assert {d: n for d, n in v["by_day"].items() if n} == {
        "2026-03-10": 1,
        "2026-03-11": 1,
        "2026-03-31": 1,
    }


def test_offset_segments_find_the_transition_to_the_second() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    segs = offset_segments("Europe/London", start, datetime(2026, 4, 1, tzinfo=UTC))
    assert segs == [(start, 0), (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 3600)]
    assert offset_segments("Africa/Johannesburg", start, start + timedelta(days=31)) == [
        (start, 7200)
    ]


# -- escalations, satisfaction, moderation, adoption ------------------------------------------
def test_escalations_by_reason_and_level(ctx: Context, clock: Any) -> None:
    setup_teams(ctx)
    must(
        ctx,
        cust("x1", "X", sast(3, 5, 9)),
        cust("y1", "Y", sast(3, 5, 9)),
        cust("z1", "Z", sast(3, 5, 9)),
    )
    x, y, z = (conv_id(ctx, c) for c in "XYZ")
    at_time(clock, sast(3, 5, 10))
    conversations.escalate(ctx, "alice", x, 1, "angry customer")
    at_time(clock, sast(3, 6, 10))
    conversations.escalate(ctx, "alice", y, 1, "angry customer")
    at_time(clock, sast(3, 7, 10))
    conversations.escalate(ctx, "lena", y, 2, "legal threat")
    at_time(clock, sast(4, 1, 0, 30))  # April in SAST (31 March 22:30 UTC)
    conversations.escalate(ctx, "alice", z, 1, "angry customer")
    ctx.db.write(
        lambda s: s.add(
            Escalation(
                conversation_id=x,
                level=2,
                reason="sla breach",
                automatic=True,
                created_at=sast(3, 8, 10).astimezone(UTC),
            )
        )
    )
    assert report(ctx)["escalations"] == {
        "total": 4,
        "automatic": 1,
        "by_level": {"1": 2, "2": 2},
        "by_reason": {"angry customer": 2, "legal threat": 1, "sla breach": 1},
    }
    assert report(ctx, tz="UTC")["escalations"]["total"] == 5


def test_satisfaction_nps_and_complaints(ctx: Context, clock: Any) -> None:
    setup_teams(ctx)
    must(
        ctx,
        *[cust(f"q{i}", f"Q{i}", sast(3, 2, 9)) for i in range(5)],
        cust("i1", "I1", sast(3, 10, 9), kind="issue_report"),
        cust("i2", "I2", sast(3, 11, 9), kind="issue_report"),
        cust("i3", "I3", sast(2, 11, 9), kind="issue_report"),
    )
    fb = [(5, 10), (4, 9), (3, 6), (5, 7)]
    must(
        ctx,
        *[
            feedback(f"f{i}", f"Q{i}", rating=r, nps=n, submitted_at=sast(3, 3 + i, 9).isoformat())
            for i, (r, n) in enumerate(fb)
        ],
        feedback("f-nps", "Q4", rating=None, nps=10, submitted_at=sast(3, 20, 9).isoformat()),
        feedback("f-apr", "Q0", rating=1, nps=0, submitted_at=sast(4, 1, 9).isoformat()),
    )
    at_time(clock, sast(3, 12, 9))
    conversations.set_status(ctx, "alice", conv_id(ctx, "I1"), "resolved")
    conversations.set_status(ctx, "alice", conv_id(ctx, "I3"), "resolved")
    s = report(ctx)["satisfaction"]
    assert (s["responses"], s["ratings"], s["rating_avg"]) == (5, 4, 4.25)
    assert (s["rating_avg_target"], s["rating_avg_met"]) == (4.5, False)
    # promoters 10, 9, 10; detractor 6; passive 7: (3 - 1) / 5
    assert (s["nps"], s["nps_responses"], s["promoters"], s["detractors"]) == (40.0, 5, 3, 1)
    assert (s["complaints"], s["complaints_resolved"], s["complaint_resolution_pct"]) == (
        2,
        1,
        50.0,
    )


def test_moderation_within_12h(ctx: Context, clock: Any) -> None:
    setup_teams(ctx)
    when = {1: sast(3, 3, 10), 2: sast(3, 4, 10), 3: sast(3, 31, 18), 4: sast(3, 31, 23),
            5: sast(3, 10, 8), 6: sast(2, 27, 8)}  # fmt: skip
    must(
        ctx,
        listing("L-1", "u-9"),
        *[flag(f"fl-{i}", {"listing": "L-1"}, flagged_at=t.isoformat()) for i, t in when.items()],
    )
    # fl-1 resolved after 10 h (in time); fl-2 after 24 h (late)
    at_time(clock, sast(3, 3, 20))
    conversations.set_status(ctx, "alice", conv_id(ctx, "flag:fl-1"), "resolved")
    at_time(clock, sast(3, 5, 10))
    conversations.set_status(ctx, "alice", conv_id(ctx, "flag:fl-2"), "resolved")
    # fl-5 decided by the moderation record itself after 1 h
    ctx.db.write(
        lambda s: s.execute(
            update(Flag)
            .where(Flag.external_id == "fl-5")
            .values(decision="removed", decided_at=sast(3, 10, 9).astimezone(UTC))
        )
    )
    # at 08:00 on 1 April: fl-3 has waited 14 h (missed), fl-4 9 h (pending)
    m = report(ctx, as_of=sast(4, 1, 8).astimezone(UTC))["moderation"]
    assert m == {
        "flags": 5,
        "decided": 3,
        "decided_within_12h_pct": 50.0,
        "decided_within_12h_pct_met": False,
        "decided_within_12h_pct_target": 100,
        "missed": 2,
        "pending": 1,
    }


def test_adoption(ctx: Context) -> None:
    must(
        ctx,
        listing("L-1", "u-9", created_at=sast(2, 1, 8).isoformat()),
        listing("L-2", "u-9", messaging=False, created_at=sast(2, 1, 8).isoformat()),
        listing("L-3", "u-9", active=False, created_at=sast(2, 1, 8).isoformat()),
        listing("L-4", "u-9", created_at=sast(4, 2, 8).isoformat()),
    )
    assert report(ctx)["adoption"] == {
        "active_listings": 2,
        "messaging_enabled": 1,
        "pct": 50.0,
        "pct_met": False,
        "pct_target": 100,
    }


# -- empty periods, teams, formats, determinism -----------------------------------------------
def test_empty_month_gives_zeros_and_nulls(ctx: Context) -> None:
    data = report(ctx)
    assert list(data) == sorted(reports.SECTIONS)
    v = data["volume"]
    assert (v["messages"], v["peak_hour"], sum(v["by_day"].values())) == (0, None, 0)
    r = data["response"]
    for key in (
        "first_response_avg_s",
        "first_response_median_s",
        "first_response_business_avg_s",
        "average_response_s",
        "resolution_avg_s",
        "responded_within_target_pct",
        "resolved_within_24h_pct",
        "seller_replied_within_4h_pct",
    ):
        assert r[key] is None and r[f"{key}_met"] is None, key
    assert data["escalations"] == {"total": 0, "automatic": 0, "by_level": {}, "by_reason": {}}
    s = data["satisfaction"]
    assert (s["responses"], s["rating_avg"], s["nps"], s["complaint_resolution_pct"]) == (
        0,
        None,
        None,
        None,
    )
    assert data["moderation"]["decided_within_12h_pct"] is None
    assert (data["agents"], data["sellers"]) == ([], [])
    assert data["adoption"]["pct"] is None
    assert data["budget"]["answered_within_target"]["will_meet"] is None
    for fmt in reports_format.FORMATS:
        assert reports_format.render(data, fmt)


def test_team_filter(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    data = report(ctx, team="marketplace")
    assert data["period"]["team"] == "marketplace"
    assert data["response"]["responded_within_target"]["clocks"] == 0
    assert data["response"]["seller_replied_within_4h_pct"] == 71.4
    assert data["volume"]["user_to_admin"] == 0 and data["volume"]["user_to_user"] > 0
    assert data["agents"] == []
    with pytest.raises(InvalidInput, match="unknown team"):
        report(ctx, team="nobody")


def test_table_scan_and_index_paths_agree(
    ctx: Context, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_march(ctx, clock)
    via_index = report(ctx)
    monkeypatch.setattr(reports, "prefer_scan", lambda *_args, **_kw: True)
    assert report(ctx) == via_index


def test_same_input_same_output_in_every_format(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    first, second = report(ctx), report(ctx)
    assert json.dumps(first) == json.dumps(second)
    for fmt in reports_format.FORMATS:
        assert reports_format.render(first, fmt) == reports_format.render(second, fmt)
    csv_text = reports_format.render(first, "csv")
    assert "# response\nmetric,value,target,met\n" in csv_text
    assert "responded_within_target_pct,60.0,90,false" in csv_text
    md = reports_format.render(first, "md")
    assert "## Sellers" in md
    assert "| u-7 | Name u-7 | 5 | 5 | 0 | 0 | 100% | 30m | top |" in md


def test_week_and_quarter_reports(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    w = reports.build(ctx, week("2026-W10", "Africa/Johannesburg"), as_of=AS_OF)
    assert w["period"]["start"] == "2026-03-02T00:00:00+02:00"
    assert w["response"]["responded_within_target"]["clocks"] == 3  # A x2, B
    assert w["response"]["average_response_s_target"] == 1800
    q = reports.build(ctx, quarter("2026-Q1", "Africa/Johannesburg"), as_of=AS_OF)
    assert q["response"]["average_response_s_target"] == 3 * H  # the quarterly target
    assert q["response"]["first_responses"] == 4  # A, B, E and F


def test_conversation_export(ctx: Context, clock: Any) -> None:
    build_march(ctx, clock)
    rows = reports_export.conversations(
        ctx, date_range("2026-03-01", "2026-03-31", "Africa/Johannesburg"), as_of=AS_OF
    )
    by_id = {r["conversation"]: r for r in rows}
    assert "F" not in by_id and {"A", "B", "C", "D", "E", "S1", "O4"} <= set(by_id)
    assert list(by_id["A"]) == list(reports_export.COLUMNS)
    a = by_id["A"]
    assert (a["kind"], a["team"], a["assignee"], a["status"]) == (
        "user_admin",
        "support",
        "alice",
        "resolved",
    )
    assert (a["first_response"], a["first_response_s"], a["resolution"], a["resolution_s"]) == (
        "in_time",
        300.0,
        "in_time",
        10800,
    )
    assert a["clocks"] == "first_response#1=in_time resolution#1=in_time next_response#1=in_time"
    assert (a["rating"], a["nps"], a["escalations"]) == (4.0, 9.0, 0)
    assert (by_id["B"]["first_response"], by_id["C"]["first_response"]) == ("late", "missed")
    assert by_id["B"]["responses_missed"] == 1
    assert by_id["D"]["first_response"] == "pending" and by_id["D"]["first_response_at"] is None
    s1 = by_id["S1"]
    assert (s1["responses_in_time"], s1["responses_missed"], s1["first_response_s"]) == (
        1,
        1,
        3600.0,
    )
    created = [r["created"] for r in rows]
    assert created == sorted(created)


@pytest.mark.parametrize(
    ("fn", "text"),
    [(month, "2026-13"), (month, "March"), (week, "2026-W54"), (quarter, "2026-Q5")],
)
def test_bad_periods_are_invalid_input(fn: Any, text: str) -> None:
    with pytest.raises(InvalidInput):
        fn(text, "Africa/Johannesburg")


def test_periods_and_time_zones() -> None:
    m = month("2026-12", "Africa/Johannesburg")
    assert (m.start, m.end) == (
        datetime(2026, 11, 30, 22, tzinfo=UTC),
        datetime(2026, 12, 31, 22, tzinfo=UTC),
    )
    assert week("2026-W01", "UTC").first_day.isoformat() == "2025-12-29"
    assert quarter("2026-Q4", "UTC").last_day.isoformat() == "2026-12-31"
    with pytest.raises(InvalidInput, match="time zone"):
        month("2026-03", "Mars/Olympus")
    with pytest.raises(InvalidInput):
        date_range("2026-03-05", "2026-03-01", "UTC")
