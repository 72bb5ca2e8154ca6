"""A period's messages are found through their UTC day (migration 0012): the generated
``sent_day`` column holds the day the instant falls on in UTC, whatever offset it came with;
``db.models.in_days`` selects exactly ``[start, end)``. The clocks keep their index on the
instant: the queue header's and the health check's counts of today's clocks are read through
``ix_sla_clocks_started``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from db.models import Message, in_days, utc_day
from helpdesk_tui.services import health, queue
from helpdesk_tui.services.context import Context
from tests.db.test_clock_index import _plan
from tests.factories import ingest, message

# around UTC midnights, with the offsets the marketplace sends
SENT = [
    "2026-03-01T23:59:59.999999+00:00",
    "2026-03-02T00:00:00+00:00",
    "2026-03-02T01:30:00+02:00",  # 23:30 UTC on the 1st
    "2026-03-01T22:00:00-05:00",  # 03:00 UTC on the 2nd
    "2026-03-02T23:59:59+00:00",
    "2026-03-03T00:00:00.000001+00:00",
    "1999-12-31T23:59:59+00:00",
]


def _load(ctx: Context) -> None:
    run = ingest(
        ctx,
        *(
            message(f"m-{i}", f"c-{i}", sent_at=datetime.fromisoformat(t))
            for i, t in enumerate(SENT)
        ),
    )
    assert run.rejects == []


def test_the_day_columns_hold_the_utc_day(ctx: Context) -> None:
    _load(ctx)
    with ctx.db.read() as s:
        rows = s.execute(select(Message.sent_at, Message.sent_day)).all()
    assert len(rows) == len(SENT)
    for when, day in rows:
        assert (
            day == utc_day(when) == (when.astimezone(UTC).date() - datetime(1970, 1, 1).date()).days
        )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00"),  # one UTC day
        ("2026-03-01T23:59:59.999999+00:00", "2026-03-02T00:00:00+00:00"),  # one microsecond
        ("2026-03-02T00:00:00+02:00", "2026-03-03T00:00:00+02:00"),  # a local day
        ("2026-03-01T23:30:00+00:00", "2026-03-02T03:00:00+00:00"),  # end excluded
        ("2026-03-02T23:59:59+00:00", "2026-03-03T00:00:00.000002+00:00"),
        ("1999-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),  # everything
        ("2026-03-04T00:00:00+00:00", "2026-03-05T00:00:00+00:00"),  # nothing
    ],
)
def test_in_days_selects_exactly_the_period(ctx: Context, start: str, end: str) -> None:
    _load(ctx)
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    with ctx.db.read() as s:
        every = s.scalars(select(Message.sent_at)).all()
        got = s.scalar(
            select(func.count()).where(in_days(Message.sent_day, Message.sent_at, lo, hi))
        )
    assert got == sum(lo <= t < hi for t in every)


def test_the_clock_counts_of_today_go_through_the_instant_index(ctx: Context) -> None:
    """The queue header's and the health check's "within target today" counts: each
    statement's plan takes the clocks by ``ix_sla_clocks_started`` (a day index read two
    whole UTC days of clocks for the hours since local midnight)."""
    _load(ctx)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if "sla_clocks" in sql and "started_at >=" in sql:
            seen.append((sql, params))

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    event.listen(ctx.db.engine, "before_cursor_execute", record)
    try:
        queue.health(ctx, as_of=now, tz="Africa/Johannesburg")
        health.measure(ctx, now)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", record)
    assert len(seen) >= 2, seen
    for sql, params in seen:
        plan = _plan(ctx.db, sql, params)
        assert "ix_sla_clocks_started" in plan, plan


def test_a_day_range_is_a_few_days_of_the_index(ctx: Context) -> None:
    """The day bounds ``in_days`` adds are the UTC days of the period, its last instant
    included and its end not: a period ending at midnight reads no day past it."""
    lo = datetime(2026, 3, 2, tzinfo=UTC)
    clause = in_days(Message.sent_day, Message.sent_at, lo, lo + timedelta(days=1))
    params = clause.compile().params
    assert sorted(v for v in params.values() if isinstance(v, int)) == [utc_day(lo)] * 2
