"""Benchmark of the reports: `python -m bench.reports_bench --messages N`. Prints JSON.

Builds a fresh database per backend through the real intake (bench.gen: conversations of
``--per`` messages spread over four weeks from 5 January 2026, agent replies included), then
times `report scmr5` for January 2026: the in-process build (and each section once, to see
where the time goes), the whole `helpdesk report scmr5` command, and `helpdesk health`.
Targets (issue 6): 1,000,000 messages in a month under 2 s on PostgreSQL, 5 s on SQLite;
`helpdesk health` under 1 s with 100,000 open conversations (``--messages 1000000`` at the
default 10 messages per conversation leaves 100,000 conversations open).

The database is ANALYZEd right after the bulk load (a deployment has autovacuum for that).
Building a million messages through intake takes many minutes: ``--cache DIR`` builds each
backend's database once and reuses it (SQLite: a copy of the file kept in DIR; PostgreSQL: a
template database ``hd_bench_reports_<conversations>x<per>``, copied with CREATE DATABASE ...
TEMPLATE); each run then migrates its copy to the newest schema and ANALYZEs it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.gen import records
from bench.run import PG_ADMIN, fresh_database, median_ms
from db.engine import Database, open_database
from db.migrate import upgrade
from db.models import Conversation
from helpdesk_tui.services import agents, reports
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from helpdesk_tui.services.reports_period import month
from helpdesk_tui.settings import Settings

MONTH = "2026-01"
AS_OF = datetime(2026, 2, 15, tzinfo=UTC)


def _command(db_url: str, tmp: str, *args: str) -> None:
    """The whole ``helpdesk`` command in a subprocess (its CPU shows in RUSAGE_CHILDREN)."""
    subprocess.run(
        [str(Path(sys.executable).parent / "helpdesk"), "--db", db_url, *args],
        check=False,  # health exits 1/2 on a busy synthetic queue
        capture_output=True,
        env={**os.environ, "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp},
    )


def sections_ms(ctx: Context) -> tuple[dict[str, float], dict[str, float]]:
    """Each query of one report, timed once (run in the order the report runs them): wall
    milliseconds and this process's CPU milliseconds (the database work on SQLite; on
    PostgreSQL the server's work is in the wall time only)."""
    period = month(MONTH, ctx.settings.reporting_tz)
    req = reports.ReportRequest(period, AS_OF)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with ctx.db.read() as s:
        reports.reporting_session(s)
        q = reports.ReportQueries(ctx, s, req)
        clocks = reports.ClockFigures()

        def clock_pass() -> None:
            nonlocal clocks
            clocks = q.clock_figures()

        steps: dict[str, Any] = {
            "clock_pass": clock_pass,
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
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall[name] = round((time.perf_counter() - t) * 1000, 1)
            cpu[name] = round((time.process_time() - c) * 1000, 1)
    return wall, cpu


def _cpu_ms(fn: Any, repeat: int) -> float:
    """Median CPU milliseconds of this process for ``fn``."""
    samples = []
    for _ in range(repeat):
        c = time.process_time()
        fn()
        samples.append((time.process_time() - c) * 1000)
    return round(sorted(samples)[len(samples) // 2], 1)


def _command_ms(db_url: str, tmp: str, repeat: int, *args: str) -> tuple[float, float]:
    """Median wall and median CPU (user + system of the child) milliseconds of a command."""
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        _command(db_url, tmp, *args)
        wall.append((time.perf_counter() - t) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        cpu.append(used * 1000)
    return round(statistics.median(wall), 1), round(statistics.median(cpu), 1)


def _load(db: Database, tmp: str, n: int, per: int) -> float:
    """Fill ``db`` through the real intake; the seconds it took."""
    ctx = Context(db=db, settings=Settings(data_dir=Path(tmp) / "data"), now=lambda: AS_OF)
    agents.add_team(ctx, "bench", "support")
    agents.add_agent(ctx, "bench", "bench", "Bench Agent", "agent", "support")
    t = time.perf_counter()
    Intake(ctx).run(records(n, per, agent="bench"))
    return round(time.perf_counter() - t, 1)


def _analyze(db: Database) -> None:
    """Fresh planner statistics, as autovacuum would gather after a bulk load."""
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _checkpoint(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.commit()


def _migrate_template(url: str) -> None:
    """Bring a kept template to the newest schema once, then VACUUM it: a migration that
    rewrites rows (a backfill) would otherwise leave every copy with a dead version of each
    row, which autovacuum would clean up in a deployment but not before a benchmark run."""
    from db.migrate import is_current

    db = open_database(url)
    try:
        if is_current(db):
            return
        upgrade(db)
        if db.is_postgres:
            with db.engine.connect() as conn:
                conn.connection.driver_connection.autocommit = True
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            _analyze(db)
            _checkpoint(db)
    finally:
        db.dispose()


@contextmanager
def bench_database(
    backend: str, tmp: str, n: int, per: int, cache: Path | None, out: dict[str, Any]
) -> Iterator[Database]:
    """A loaded, analysed database: built now, or copied from ``cache`` (built there once)."""
    if cache is None:
        with fresh_database(backend, Path(tmp)) as db:
            out["ingest_s"] = _load(db, tmp, n, per)
            _analyze(db)
            yield db
        return
    cache.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        cached = cache / f"reports-{n}x{per}.sqlite3"
        if not cached.exists():
            with fresh_database(backend, Path(tmp)) as db:
                out["ingest_s"] = _load(db, tmp, n, per)
                _analyze(db)
                _checkpoint(db)
            shutil.copyfile(Path(tmp) / "bench.sqlite3", cached)
            (Path(tmp) / "bench.sqlite3").unlink()
        else:
            _migrate_template(f"sqlite:///{cached}")
        path = Path(tmp) / "copy.sqlite3"
        shutil.copyfile(cached, path)
        db = open_database(f"sqlite:///{path}")
        try:
            upgrade(db)
            _analyze(db)
            yield db
        finally:
            db.dispose()
        return
    import psycopg

    template = f"hd_bench_reports_{n}x{per}"
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
        exists = found.fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{template}"')
    if not exists:
        db = open_database(f"{base}/{template}")
        try:
            upgrade(db)
            out["ingest_s"] = _load(db, tmp, n, per)
            _analyze(db)
        except BaseException:
            db.dispose()
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            raise
        db.dispose()
    else:
        _migrate_template(f"{base}/{template}")
    name = f"hd_bench_{os.urandom(4).hex()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = open_database(f"{base}/{name}")
    try:
        upgrade(db)
        _analyze(db)
        yield db
    finally:
        db.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(
    backend: str,
    messages: int,
    per: int,
    repeat: int,
    cache: Path | None = None,
    sections_only: bool = False,
    health_only: bool = False,
) -> dict[str, Any]:
    n = max(messages // per, 1)
    out: dict[str, Any] = {"backend": backend, "conversations": n, "messages": n * per}
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database(backend, tmp, n, per, cache, out) as db,
    ):
        ctx = Context(db=db, settings=Settings(data_dir=Path(tmp) / "data"), now=lambda: AS_OF)
        with db.read() as s:
            out["open_conversations"] = s.scalar(
                select(func.count(Conversation.id)).where(Conversation.is_open.is_(True))
            )
        health = ("health", "--as-of", AS_OF.isoformat())
        if health_only:
            out["load_average"] = os.getloadavg()[0]
            out["health_command_ms_median"], out["health_command_cpu_ms_median"] = _command_ms(
                db.url, tmp, repeat, *health
            )
            out["load_average_end"] = os.getloadavg()[0]
            return out
        period = month(MONTH, ctx.settings.reporting_tz)
        data = reports.build(ctx, period, as_of=AS_OF)
        out["report_messages_in_month"] = data["volume"]["messages"]
        out["sections_ms"], out["sections_cpu_ms"] = sections_ms(ctx)
        out["load_average"] = os.getloadavg()[0]
        if sections_only:
            return out
        out["report_build_ms_median"] = median_ms(
            lambda: reports.build(ctx, period, as_of=AS_OF), repeat
        )
        out["report_build_cpu_ms_median"] = _cpu_ms(
            lambda: reports.build(ctx, period, as_of=AS_OF), repeat
        )
        command = ("report", "scmr5", "--month", MONTH, "--format", "json")
        out["report_command_ms_median"], out["report_command_cpu_ms_median"] = _command_ms(
            db.url, tmp, repeat, *command, "--as-of", AS_OF.isoformat()
        )
        out["health_command_ms_median"], out["health_command_cpu_ms_median"] = _command_ms(
            db.url, tmp, repeat, *health
        )
        out["load_average_end"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--messages", type=int, default=100_000, help="messages in the month")
    p.add_argument("--per", type=int, default=10, help="messages per conversation")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--cache", type=Path, help="build each database once in DIR and reuse it")
    p.add_argument(
        "--sections-only",
        action="store_true",
        help="time the report's sections once, skip the medians and commands",
    )
    p.add_argument(
        "--health-only",
        action="store_true",
        help="only the `helpdesk health` command (wall and CPU medians)",
    )
    args = p.parse_args(argv)
    results = [
        run_backend(
            b.strip(),
            args.messages,
            args.per,
            args.repeat,
            args.cache,
            args.sections_only,
            args.health_only,
        )
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
