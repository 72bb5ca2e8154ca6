"""Benchmark harness: `make bench` (or `python -m bench.run --help`). Prints JSON.

Builds a fresh database per backend, ingests N conversations x M messages through the real
intake (bulk path), then measures the queue query, the whole `helpdesk queue` command and the
clock recomputation for one new message. Timings are medians over repeated runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.gen import records
from db.engine import Database, open_database
from db.migrate import upgrade
from helpdesk_tui.services import agents, queue, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from helpdesk_tui.settings import Settings

PG_ADMIN = os.environ.get("HELPDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[Database]:
    if backend == "sqlite":
        db = open_database(f"sqlite:///{workdir / 'bench.sqlite3'}")
        upgrade(db)
        yield db
        db.dispose()
        return
    import psycopg

    name = f"hd_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    db = open_database(url)
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_cpu_s() -> float | None:
    """CPU seconds used so far by every ``postgres`` process of this machine (Linux /proc);
    None where that cannot be read."""
    total = 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if comm.startswith("postgres"):
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def vm_speed_s() -> float:
    """Seconds this machine takes for a fixed pure-Python loop, a rough figure of its CPU's
    speed at the time (this VM's moves by up to 1.8x within a day). It does not capture the
    disk, which a SQLite load also waits for (see docs/performance.md, sixth round)."""
    t, x = time.perf_counter(), 0
    for i in range(20_000_000):
        x += i
    return round(time.perf_counter() - t, 2)


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(samples), 3)


def run_backend(
    backend: str,
    n: int,
    per: int,
    repeat: int,
    *,
    intake_only: bool = False,
    batch: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend, "conversations": n, "messages_per": per}
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as db:
        now = datetime(2026, 2, 1, 8, tzinfo=UTC)
        settings = Settings(data_dir=Path(tmp) / "data")
        if batch is not None:
            settings = replace(settings, intake_batch=batch)
        out["batch"] = settings.intake_batch
        ctx = Context(db=db, settings=settings, now=lambda: now)
        agents.add_team(ctx, "bench", "support")
        agents.add_agent(ctx, "bench", "bench", "Bench Agent", "agent", "support")
        lines = list(records(n, per, agent="bench"))
        server0 = server_cpu_s() if backend == "postgres" else None
        t, cpu = time.perf_counter(), time.process_time()
        summary = Intake(ctx).run(lines)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        # Statistics as autovacuum would leave them a minute after a bulk load (without them
        # PostgreSQL plans the queue page for an empty table).
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        out["intake"] = {
            "records": len(lines),
            "accepted": summary.accepted,
            "seconds": round(elapsed, 2),
            "records_per_s": round(len(lines) / elapsed),
            # where the time went: this process's CPU, and on PostgreSQL every server
            # process's (other work on the same server counts too: run it alone)
            "client_cpu_s": round(cpu, 2),
        }
        if server0 is not None:
            out["intake"]["server_cpu_s"] = round(server_cpu_s() - server0, 2)  # type: ignore[operator]
        if intake_only:
            return out
        f = queue.QueueFilter()
        with db.read() as s:
            out["queue_query_ms_median"] = median_ms(
                lambda: queue.fetch_page(s, f, now, limit=200), repeat
            )
        out["queue_command_ms_median"] = median_ms(
            lambda: subprocess.run(
                [
                    str(Path(sys.executable).parent / "helpdesk"),
                    "--db",
                    db.url,
                    "queue",
                    "--limit",
                    "200",
                    "--json",
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp},
            ),
            max(3, repeat // 10),
        )
        with db.read() as s:
            target = queue.fetch_page(s, f, now, limit=1).rows[0].id
        out["recompute_one_ms_median"] = median_ms(
            lambda: db.write(lambda s: sla.recompute(s, ctx.settings, [target])), repeat
        )
        step = iter(range(10**9))

        def one_message() -> None:
            i = next(step)
            sent = (now + timedelta(seconds=i)).isoformat()
            line = json.dumps(
                {
                    "id": f"bench-new-{i}",
                    "conversation": "c-0",
                    "body": "more",
                    "from": {"id": "u-0", "role": "user"},
                    "sent_at": sent,
                }
            )
            Intake(ctx).run([line.encode()])

        out["ingest_one_message_ms_median"] = median_ms(one_message, repeat)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--conversations", type=int, default=10_000)
    p.add_argument("--per", type=int, default=10, help="messages per conversation")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--intake-only", action="store_true", help="time the intake, nothing else")
    p.add_argument("--batch", type=int, help="records a batch ([intake] batch; default 6,000)")
    args = p.parse_args(argv)
    speed = vm_speed_s()
    results = [
        run_backend(
            b.strip(),
            args.conversations,
            args.per,
            args.repeat,
            intake_only=args.intake_only,
            batch=args.batch,
        )
        for b in args.backends.split(",")
        if b.strip()
    ]
    print(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "vm_speed_s": [speed, vm_speed_s()],  # before and after
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
