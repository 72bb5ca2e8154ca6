"""Benchmark of the reports: `python -m bench.reports_bench --messages N`. Prints JSON.

Builds a fresh database per backend through the real intake (bench.gen: conversations of
``--per`` messages spread over four weeks from 5 January 2026, agent replies included), then
times `report scmr5` for January 2026: the in-process build (and each section once, to see
where the time goes), the whole `helpdesk report scmr5` command, and `helpdesk health`.
Targets (issue 6): 1,000,000 messages in a month under 2 s on PostgreSQL, 5 s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.gen import records
from bench.run import fresh_database, median_ms
from helpdesk_tui.services import agents, reports
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from helpdesk_tui.services.reports_period import month
from helpdesk_tui.settings import Settings

MONTH = "2026-01"
AS_OF = datetime(2026, 2, 15, tzinfo=UTC)


def _command(db_url: str, tmp: str, *args: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "helpdesk"), "--db", db_url, *args],
        check=False,  # health exits 1/2 on a busy synthetic queue
        capture_output=True,
        env={**os.environ, "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp},
    )


def sections_ms(ctx: Context) -> dict[str, float]:
    """Each query of one report, timed once (run in the order the report runs them)."""
    period = month(MONTH, ctx.settings.reporting_tz)
    req = reports.ReportRequest(period, AS_OF)
    out: dict[str, float] = {}
    with ctx.db.read() as s:
        q = reports.ReportQueries(ctx, s, req)
        t = time.perf_counter()
        clocks = q.clock_figures()
        out["clock_pass"] = round((time.perf_counter() - t) * 1000, 1)
        steps: dict[str, Any] = {
            "message_pass": q.volume,
            "first_responses": q.first_responses,
            "escalations": q.escalations,
            "satisfaction": q.satisfaction,
            "moderation": q.moderation,
            "agents": lambda: q.agents(clocks),
            "sellers": lambda: q.sellers(clocks),
            "adoption": q.adoption,
        }
        for name, fn in steps.items():
            t = time.perf_counter()
            fn()
            out[name] = round((time.perf_counter() - t) * 1000, 1)
    return out


def run_backend(backend: str, messages: int, per: int, repeat: int) -> dict[str, Any]:
    n = max(messages // per, 1)
    out: dict[str, Any] = {"backend": backend, "conversations": n, "messages": n * per}
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as db:
        ctx = Context(db=db, settings=Settings(data_dir=Path(tmp) / "data"), now=lambda: AS_OF)
        agents.add_team(ctx, "bench", "support")
        agents.add_agent(ctx, "bench", "bench", "Bench Agent", "agent", "support")
        t = time.perf_counter()
        Intake(ctx).run(records(n, per, agent="bench"))
        out["ingest_s"] = round(time.perf_counter() - t, 1)
        with db.engine.connect() as conn:  # fresh statistics, as autovacuum would gather
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        period = month(MONTH, ctx.settings.reporting_tz)
        data = reports.build(ctx, period, as_of=AS_OF)
        out["report_messages_in_month"] = data["volume"]["messages"]
        out["sections_ms"] = sections_ms(ctx)
        out["report_build_ms_median"] = median_ms(
            lambda: reports.build(ctx, period, as_of=AS_OF), repeat
        )
        command = ("report", "scmr5", "--month", MONTH, "--format", "json")
        out["report_command_ms_median"] = median_ms(
            lambda: _command(db.url, tmp, *command, "--as-of", AS_OF.isoformat()), repeat
        )
        out["health_command_ms_median"] = median_ms(
            lambda: _command(db.url, tmp, "health", "--as-of", AS_OF.isoformat()), repeat
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--messages", type=int, default=100_000, help="messages in the month")
    p.add_argument("--per", type=int, default=10, help="messages per conversation")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    results = [
        run_backend(b.strip(), args.messages, args.per, args.repeat)
        for b in args.backends.split(",")
        if b.strip()
    ]
    print(
        json.dumps(
            {"when": datetime.now(UTC).isoformat(timespec="seconds"), "results": results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
