"""`helpdesk report ...` and `helpdesk health` through the CLI, on SQLite and PostgreSQL.

Health exit codes are checked through the real `helpdesk` script (the plugin contract is the
process exit status); the report formats in-process through click's runner."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from db.engine import Database
from helpdesk_tui.cli import cli
from helpdesk_tui.services import reports, reports_export
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.reports_period import month
from tests.db.test_reports import AS_OF, build_march
from tests.factories import ingest, message

HELPDESK = Path(sys.executable).parent / "helpdesk"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No user config or data dir leaks in; the same environment for subprocesses."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for name in ("HELPDESK_DATABASE_URL", "HELPDESK_CONFIG", "HELPDESK_DEBUG"):
        env.pop(name, None)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    monkeypatch.setenv("XDG_DATA_HOME", env["XDG_DATA_HOME"])
    return env


def helpdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HELPDESK), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def invoke(db: Database, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db.url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def march(ctx: Context, clock: Any, isolated: dict[str, str]) -> Context:
    build_march(ctx, clock)
    return ctx


ASOF = AS_OF.isoformat()


# -- reports --------------------------------------------------------------------------------------
def test_scmr5_json_is_the_report(march: Context) -> None:
    out = invoke(
        march.db, "report", "scmr5", "--month", "2026-03", "--format", "json", "--as-of", ASOF
    ).output
    data = json.loads(out)
    assert list(data) == sorted(reports.SECTIONS)
    assert data == reports.build(march, month("2026-03", "Africa/Johannesburg"), as_of=AS_OF)
    assert data["response"]["responded_within_target_pct"] == 60.0
    assert data["period"]["as_of"] == "2026-04-01T12:00:00Z"


@pytest.mark.parametrize(
    ("fmt", "expect"),
    [
        ("table", "SCMR-5 monthly report 2026-03"),
        ("csv", "# sellers\nseller,name,inquiries"),
        ("md", "## Budget"),
    ],
)
def test_scmr5_formats(march: Context, fmt: str, expect: str) -> None:
    out = invoke(
        march.db, "report", "scmr5", "--month", "2026-03", "--format", fmt, "--as-of", ASOF
    ).output
    assert expect in out
    if fmt == "table":
        assert re.search(r"\nresponded_within_target_pct +60% +90% +MISSED\n", out)
    if fmt == "csv":
        sections = [line[2:] for line in out.splitlines() if line.startswith("# ")]
        assert sections[:3] == ["period", "volume", "messages by day"]
        assert {"response", "agents", "sellers", "budget", "adoption"} <= set(sections)


def test_weekly_quarter_team_and_tz(march: Context) -> None:
    week = json.loads(
        invoke(
            march.db, "report", "weekly", "--week", "2026-W10", "--format", "json", "--as-of", ASOF
        ).output
    )
    assert week["period"]["label"] == "2026-W10"
    quarter = json.loads(
        invoke(
            march.db,
            "report",
            "quarter",
            "--quarter",
            "2026-Q1",
            "--format",
            "json",
            "--team",
            "marketplace",
            "--tz",
            "UTC",
            "--as-of",
            ASOF,
        ).output
    )
    assert quarter["period"]["start"] == "2026-01-01T00:00:00+00:00"
    assert quarter["period"]["team"] == "marketplace"
    assert quarter["response"]["seller_replied_within_4h"]["clocks"] == 14


def test_conversations_export_csv_and_json(march: Context) -> None:
    args = ("report", "conversations", "--from", "2026-03-01", "--to", "2026-03-31")
    rows = list(csv.DictReader(io.StringIO(invoke(march.db, *args, "--as-of", ASOF).output)))
    assert tuple(rows[0]) == reports_export.COLUMNS
    a = next(r for r in rows if r["conversation"] == "A")
    assert (a["first_response"], a["first_response_s"], a["assignee"]) == (
        "in_time",
        "300.0",
        "alice",
    )
    data = json.loads(invoke(march.db, *args, "--format", "json", "--as-of", ASOF).output)
    assert [r["conversation"] for r in data] == [r["conversation"] for r in rows]


def test_report_errors_are_one_line(march: Context, isolated: dict[str, str]) -> None:
    db = march.db.url
    bad = helpdesk(isolated, "--db", db, "report", "scmr5", "--month", "2026-13")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: bad month '2026-13': use YYYY-MM, e.g. 2026-03"
    )
    team = helpdesk(isolated, "--db", db, "report", "scmr5", "--month", "2026-03", "--team", "x")
    assert team.returncode == 2 and team.stderr.startswith("error: unknown team 'x'")
    tz = helpdesk(isolated, "--db", db, "report", "weekly", "--week", "2026-W10", "--tz", "Nope")
    assert tz.returncode == 2 and "unknown time zone" in tz.stderr
    assert "Traceback" not in bad.stderr + team.stderr + tz.stderr


def test_empty_database_reports_in_every_format(database: Database, isolated: dict) -> None:
    for fmt in ("table", "json", "csv", "md"):
        invoke(database, "report", "scmr5", "--month", "2026-03", "--format", fmt)
    out = invoke(database, "report", "conversations", "--from", "2026-03-01", "--to", "2026-03-31")
    assert out.output == ",".join(reports_export.COLUMNS) + "\n"


# -- health ---------------------------------------------------------------------------------------
SENT = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def _at(hours: float) -> str:
    return (SENT + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("hours", "state", "code"),
    [
        (1, "OK", 0),  # answered in time so far
        (5, "WARNING", 1),  # waiting over the 4 h warning
        (25, "CRITICAL", 2),  # breached and waiting over 24 h
    ],
)
def test_health_exit_codes(
    ctx: Context, isolated: dict[str, str], hours: float, state: str, code: int
) -> None:
    rec = message("m-1", "c-1", sent_at=SENT, kind="user_admin")
    assert ingest(ctx, rec).rejects == []
    done = helpdesk(isolated, "--db", ctx.db.url, "health", "--as-of", _at(hours))
    assert done.returncode == code, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"HELPDESK {state} - 1 open, ")
    assert f"oldest waiting {int(hours * 60)}m | open=1 " in first


def test_health_json(ctx: Context, isolated: dict[str, str]) -> None:
    done = helpdesk(isolated, "--db", ctx.db.url, "health", "--json", "--warn-breached", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert (data["status"], data["open"], data["thresholds"]["warn_breached"]) == ("OK", 0, 3)


def test_health_unknown_when_the_database_is_unreachable(isolated: dict[str, str]) -> None:
    done = helpdesk(isolated, "--db", UNREACHABLE, "health")
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("HELPDESK UNKNOWN - cannot reach database ")
    assert "Traceback" not in done.stderr
    as_json = json.loads(helpdesk(isolated, "--db", UNREACHABLE, "health", "--json").stdout)
    assert as_json["status"] == "UNKNOWN" and as_json["exit_code"] == 3


def test_health_unknown_on_usage_errors(isolated: dict[str, str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'absent.sqlite3'}"
    assert helpdesk(isolated, "--db", db, "health", "--warn-breached", "x").returncode == 3
    bad_time = helpdesk(isolated, "--db", db, "health", "--as-of", "yesterday")
    assert bad_time.returncode == 3 and bad_time.stdout.startswith("HELPDESK UNKNOWN - ")
    missing = helpdesk(isolated, "--db", db, "health")
    assert missing.returncode == 3 and "no database at" in missing.stdout
    assert not (tmp_path / "absent.sqlite3").exists()  # health never creates a database


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "health.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_health_thresholds_from_config_and_flags(
    ctx: Context, isolated: dict[str, str], tmp_path: Path
) -> None:
    """`[health]` sets the thresholds; a flag overrides its key; the rest keep defaults."""
    rec = message("m-1", "c-1", sent_at=SENT, kind="user_admin")
    assert ingest(ctx, rec).rejects == []
    config = _config(
        tmp_path,
        '[health]\nwarn_oldest_wait = "6h"\ncrit_oldest_wait = 43200\n'
        "warn_scheduler_age = false\ncrit_at_risk = 7\n",
    )
    base = ("--config", config, "--db", ctx.db.url, "health", "--as-of", _at(5))
    by_config = helpdesk(isolated, *base, "--json")
    assert by_config.returncode == 0, by_config.stdout + by_config.stderr  # 5 h < 6 h
    t = json.loads(by_config.stdout)["thresholds"]
    assert (t["warn_oldest_wait_s"], t["crit_oldest_wait_s"]) == (6 * 3600, 12 * 3600)
    assert (t["warn_scheduler_age_s"], t["crit_at_risk"]) == (None, 7)
    assert (t["warn_breached"], t["crit_scheduler_age_s"]) == (0, 900)  # defaults
    flagged = helpdesk(isolated, *base, "--warn-oldest-wait", "3600")
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "WARNING: oldest waiting 5h > 1h" in flagged.stdout
    assert "oldest_wait_s=18000s;3600;43200;0" in flagged.stdout.splitlines()[0]
    critical = helpdesk(isolated, *base, "--crit-oldest-wait", "7200")
    assert critical.returncode == 2, critical.stdout + critical.stderr


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("[health]\nwarn_breached = -1\n", "health.warn_breached must be a whole number >= 0"),
        ('[health]\ncrit_at_risk = "10"\n', "health.crit_at_risk must be a whole number >= 0"),
        ('[health]\nwarn_oldest_wait = "soon"\n', "health.warn_oldest_wait must be seconds"),
        ("[health]\nwarn_breaches = 3\n", "unknown key 'warn_breaches' in [health]"),
    ],
)
def test_health_bad_config_is_one_unknown_line(
    isolated: dict[str, str], tmp_path: Path, body: str, says: str
) -> None:
    db = f"sqlite:///{tmp_path / 'absent.sqlite3'}"
    config = _config(tmp_path, body)
    done = helpdesk(isolated, "--config", config, "--db", db, "health")
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith(f"HELPDESK UNKNOWN - config {config}: ")
    assert says in done.stdout and len(done.stdout.splitlines()) == 1
    assert "Traceback" not in done.stderr
    # a flag does not rescue a wrong config: the file must be fixed
    flagged = helpdesk(isolated, "--config", config, "--db", db, "health", "--warn-breached", "1")
    assert flagged.returncode == 3
