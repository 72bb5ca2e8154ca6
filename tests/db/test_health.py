"""`helpdesk health` as a service: each plugin state, the status line, read-only behaviour."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from db import migrate
from db.models import SchedulerState
from helpdesk_tui.services import health
from helpdesk_tui.services.context import Context
from helpdesk_tui.settings import Settings
from tests.factories import ingest, message

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
LINE = re.compile(
    r"^HELPDESK (OK|WARNING|CRITICAL|UNKNOWN) - (\d+) open, (\d+) breached, (\d+) at risk, "
    r"oldest waiting (\d+)m \| open=\d+\S* breached=\d+\S* at_risk=\d+\S* unassigned=\d+\S* "
    r"oldest_wait_s=\d+\S* within_target_pct=\S+ scheduler_age_s=\S+$"
)


def waiting(ctx: Context, conv: str, hours: float) -> None:
    """A customer message sent ``hours`` before NOW (24 h first-response target)."""
    rec = message(f"m-{conv}", conv, sent_at=NOW - timedelta(hours=hours), kind="user_admin")
    assert ingest(ctx, rec).rejects == []


def run(ctx: Context, **thresholds: Any) -> health.Health:
    return health.check(ctx.db.url, Settings(), NOW, health.Thresholds(**thresholds))


def beat(ctx: Context, age_s: int) -> None:
    ctx.db.write(
        lambda s: s.add(
            SchedulerState(
                name="heartbeat", holder="host:1", beat_at=NOW - timedelta(seconds=age_s)
            )
        )
    )


def test_ok_on_an_empty_queue(ctx: Context) -> None:
    h = run(ctx)
    assert (h.state, h.exit_code) == ("OK", 0)
    first = health.text(h).splitlines()[0]
    assert LINE.match(first), first
    assert first.startswith("HELPDESK OK - 0 open, 0 breached, 0 at risk, oldest waiting 0m | ")
    assert "scheduler_age_s=U" in first and "within_target_pct=U" in first
    assert "scheduler: no heartbeat recorded" in health.text(h)


def test_warning_on_a_breach_and_critical_above_the_critical_thresholds(ctx: Context) -> None:
    waiting(ctx, "c-1", 25)  # first response due an hour ago
    waiting(ctx, "c-2", 1)
    no_wait = {"warn_oldest_wait_s": None, "crit_oldest_wait_s": None}
    h = run(ctx, **no_wait)
    assert (h.state, h.exit_code) == ("WARNING", 1)
    m = h.metrics
    assert m is not None
    assert (m.open, m.breached, m.at_risk, m.unassigned) == (2, 1, 0, 2)
    assert (m.oldest_wait_s, m.oldest_conversation) == (25 * 3600, "c-1")
    assert m.breached_by_target == {"first_response": 1}
    out = health.text(h)
    assert out.splitlines()[0].startswith(
        "HELPDESK WARNING - 2 open, 1 breached, 0 at risk, oldest waiting 1500m | open=2 "
    )
    assert LINE.match(out.splitlines()[0])
    assert "breached=1;0;10;0" in out and "oldest_wait_s=90000s " in out
    assert out.splitlines()[1] == "WARNING: breached 1 > 0"
    # the default critical wait is 24 h
    default = run(ctx)
    assert (default.state, default.exit_code) == ("CRITICAL", 2)
    assert "CRITICAL: oldest waiting 1d 1h > 1d" in health.text(default)
    assert "oldest_wait_s=90000s;14400;86400;0" in health.text(default)
    crit = run(ctx, crit_breached=0, **no_wait)
    assert (crit.state, crit.exit_code) == ("CRITICAL", 2)
    assert run(ctx, warn_breached=5, **no_wait).state == "OK"


def test_at_risk_counts(ctx: Context) -> None:
    waiting(ctx, "c-1", 20)  # 4 h of 24 left: in the last 25 %
    h = run(ctx, warn_oldest_wait_s=None, crit_oldest_wait_s=None)
    assert h.metrics is not None and (h.metrics.breached, h.metrics.at_risk) == (0, 1)
    assert h.state == "OK" and "at_risk=1;10;50;0" in health.text(h)
    assert run(ctx, warn_at_risk=0, warn_oldest_wait_s=None, crit_oldest_wait_s=None).state == (
        "WARNING"
    )
    assert run(ctx, warn_at_risk=5, warn_oldest_wait_s=None, crit_oldest_wait_s=None).state == "OK"


def test_scheduler_heartbeat_age(ctx: Context) -> None:
    beat(ctx, 10)
    fresh = run(ctx)
    assert fresh.state == "OK" and fresh.metrics is not None
    assert fresh.metrics.scheduler_age_s == 10
    assert "scheduler_age_s=10s;300;900;0" in health.text(fresh)
    assert "last heartbeat 10s ago (host:1)" in health.text(fresh)
    assert run(ctx, warn_scheduler_age_s=5).state == "WARNING"
    assert run(ctx, crit_scheduler_age_s=5).state == "CRITICAL"


def set_revision(ctx: Context, revision: str) -> None:
    ctx.db.write(
        lambda s: s.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    )


def test_unknown_when_the_schema_is_outdated(ctx: Context) -> None:
    head = migrate.head_revision()
    set_revision(ctx, "0001")
    try:
        h = run(ctx)
    finally:
        set_revision(ctx, head)  # the PostgreSQL test database is reused by the next test
    assert (h.state, h.exit_code) == ("UNKNOWN", 3)
    assert health.text(h).startswith("HELPDESK UNKNOWN - database schema is at 0001, ")
    assert f"this version needs {head}: run `helpdesk db upgrade`" in h.summary


def test_json_has_the_same_figures(ctx: Context) -> None:
    waiting(ctx, "c-1", 25)
    data = health.as_json(run(ctx))
    assert data["status"] == "CRITICAL" and data["exit_code"] == 2  # waited over 24 h
    assert (data["open"], data["breached"], data["oldest_wait_s"]) == (1, 1, 90000)
    assert data["as_of"] == "2026-03-10T12:00:00Z"
    assert data["thresholds"]["warn_breached"] == 0


def test_a_missing_sqlite_file_is_unknown_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "helpdesk.sqlite3"
    h = health.check(f"sqlite:///{path}", Settings(), NOW, health.Thresholds())
    assert h.exit_code == 3 and "no database at" in h.summary
    assert not path.parent.exists()
