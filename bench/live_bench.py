"""Live-update latency benchmark: `python -m bench.live_bench --backends postgres,sqlite`.

Issue #5's target: a message inserted by intake is visible in an open console within 1 s
(median and p95 over 100 messages) on PostgreSQL. SQLite is measured too (the console polls
every 2 s there, so about 1 s is expected; no target).

Per backend, a fresh database (PostgreSQL: a throwaway ``hd_live_<hex>`` made from
``HELPDESK_BENCH_PG``, dropped at the end even on error; SQLite: a temp file), migrated, with
a team, an agent and ``--background`` (10,000) open conversations through the real intake:
sent 1-12 h ago at normal priority and already answered (support by an agent, buyer inquiries
by the seller), so that none is breached, new or at risk and the queue query has realistic
work. ``ANALYZE`` follows, as autovacuum would.

This process then runs the real console headless, ``HelpdeskApp(ctx, "bench", live=True)``
with ``app.run_test(size=(120, 40))``, the real clock, the default 2 s queue poll and the
in-console scheduler jobs (defaults: ``HELPDESK_CONFIG`` points at a missing file; they run
as in production, e.g. auto-acknowledging the new conversations every 10 s). Once its queue
has rows, the listener is connected and the first run of every job group has reported, a
child process (``--produce``; its own interpreter, so it shares neither the event loop nor
the GIL) ingests ``--messages`` (100) urgent messages, each opening a new support
conversation, sent "now", one record a transaction (``Intake(ctx).run([line])``, as a
marketplace webhook would), ``--interval`` (0.2 s) apart on a fixed schedule. It prints, per
message, the wall time (``time.time()``) right after the intake transaction committed.

"Visible": the console's ``QueueTable.show`` (the one place queue rows reach the widget) is
wrapped on the instance; when a call returns with a new conversation among its rows, the
time is noted, and ``call_after_refresh`` notes when the screen has been laid out and
rendered after it (``painted``). ``latency = painted - committed``. An urgent conversation due
in 1 h sorts above every background row, so it is in the table's window (the first 200 rows);
``row_index`` says where (about 35 rows fit on a 120x40 screen).
A message not painted within ``--miss-after`` (10 s) counts as missed.

Breakdown (medians, ms after commit): ``heard`` when the listener handed the message id to the
app (NOTIFY on PostgreSQL, the 2 s poll on SQLite; the app then starts a queue load),
``shown`` when ``QueueTable.show`` returned. ``queue_page_ms_*`` times every
``services.queue.page`` call the console made during the run (the worker's query) and
``queue_loads_shown`` counts the pages that reached the table.

Wall-clock figures on a shared machine grow with the load: ``load_average_before`` and
``_after`` are printed. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("HELPDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CHUNK = 20_000
#: The job groups whose first run must have reported before the producer starts.
FIRST_JOBS = {"heartbeat", "sweep", "alerts", "triage", "autoack", "inquiries", "notify"}


# -- data -----------------------------------------------------------------------------------------
def background(n: int, now: datetime, seed: int = 7) -> Iterator[bytes]:
    """``n`` open, answered conversations sent 1-12 h before ``now`` at normal priority (their
    running clocks fall due 12-23 h from now: never above a new urgent one)."""
    rng = random.Random(seed)
    listings = max(n // 20, 1)
    for i in range(listings):
        yield json.dumps({
            "type": "listing", "id": f"L-{i}", "title": f"Listing {i}",
            "seller": {"id": f"s-{i}", "name": f"Seller {i}"},
            "created_at": (now - timedelta(days=30)).isoformat(),
        }).encode()  # fmt: skip
    for c in range(n):
        kind = ("user_admin", "issue_report", "buyer_seller")[c % 3]
        t0 = now - timedelta(seconds=rng.uniform(1 * 3600, 12 * 3600))
        first: dict[str, Any] = {
            "id": f"bg-{c}-0", "conversation": f"bg-{c}", "kind": kind,
            "subject": f"Background {c}", "body": f"first message of conversation {c}",
            "sent_at": t0.isoformat(), "priority": "normal",
        }  # fmt: skip
        if kind == "buyer_seller":
            first["from"] = {"id": f"b-{c}", "role": "buyer", "name": f"Buyer {c}"}
            first["listing"] = f"L-{c % listings}"
            reply = {"id": f"s-{c % listings}", "role": "seller"}
        else:
            first["from"] = {"id": f"u-{c}", "role": "user", "name": f"User {c}"}
            reply = {"id": "bench", "role": "agent"}
        yield json.dumps(first).encode()
        yield json.dumps({
            "id": f"bg-{c}-1", "conversation": f"bg-{c}", "from": reply,
            "body": "We are looking into it.",
            "sent_at": (t0 + timedelta(minutes=5 + c % 50)).isoformat(),
        }).encode()  # fmt: skip


def build(db: Any, data_dir: Path, n: int) -> dict[str, Any]:
    """Team, agent and the background conversations, then ANALYZE."""
    from helpdesk_tui.services import agents
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.services.intake import Intake
    from helpdesk_tui.settings import Settings

    ctx = Context(db=db, settings=Settings(data_dir=data_dir))
    t = time.perf_counter()
    agents.add_team(ctx, "bench", "support")
    agents.add_agent(ctx, "bench", "bench", "Bench Agent", "lead", "support")
    lines = background(n, ctx.now())
    accepted = 0
    while chunk := list(itertools.islice(lines, CHUNK)):
        summary = Intake(ctx).run(chunk)
        accepted += summary.accepted
        if summary.rejected:
            raise SystemExit(f"intake rejected records: {summary.line()}")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return {"background_records": accepted, "build_s": round(time.perf_counter() - t, 1)}


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """A migrated, empty database; yields its URL and drops it afterwards (even on error)."""
    from db.engine import open_database
    from db.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'live-bench.sqlite3'}"
        db = open_database(url)
        try:
            upgrade(db)
        finally:
            db.dispose()
        yield url
        return
    import psycopg

    name = f"hd_live_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        url = f"{base}/{name}"
        db = open_database(url)
        try:
            upgrade(db)
        finally:
            db.dispose()
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the producer (child process) -----------------------------------------------------------------
def produce(url: str, data_dir: Path, prefix: str, messages: int, interval: float) -> None:
    """Ingest ``messages`` urgent new conversations, one a transaction, ``interval`` apart;
    print one JSON line per message after its commit."""
    from sqlalchemy import text

    from db.engine import open_database
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.services.intake import Intake
    from helpdesk_tui.settings import Settings

    db = open_database(url)
    ctx = Context(db=db, settings=Settings(data_dir=data_dir))
    with db.read() as s:  # connect before the clock starts
        s.execute(text("SELECT 1"))
    start = time.monotonic() + 0.2
    try:
        for i in range(messages):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            rec = {
                "id": f"{prefix}-m{i}", "conversation": f"{prefix}-c{i}", "kind": "user_admin",
                "priority": "urgent", "subject": f"Live {i}: my payment vanished",
                "from": {"id": f"{prefix}-u{i}", "role": "user", "name": f"Live User {i}"},
                "body": "I paid for a listing upgrade and nothing happened.",
                "sent_at": datetime.now(UTC).isoformat(),
            }  # fmt: skip
            t = time.time()
            summary = Intake(ctx).run([json.dumps(rec).encode()])
            committed = time.time()
            if summary.rejected or summary.accepted != 1:
                raise SystemExit(f"intake did not take message {i}: {summary.line()}")
            print(json.dumps({
                "i": i, "conversation": rec["conversation"],
                "message_id": summary.message_ids[0], "committed_at": committed,
                "ingest_ms": round((committed - t) * 1000, 2),
            }), flush=True)  # fmt: skip
    finally:
        db.dispose()


# -- the console side -----------------------------------------------------------------------------
async def until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.005)


def observed_app() -> type[Any]:
    """HelpdeskApp, noting when the listener hands it message ids and which jobs reported
    (observation only: both then do what HelpdeskApp does)."""
    from helpdesk_tui import app
    from helpdesk_tui.app import HelpdeskApp

    class ObservedApp(HelpdeskApp):
        CSS_PATH = Path(app.__file__).with_name("app.tcss")  # relative to helpdesk_tui/

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.heard: dict[int, float] = {}
            """Message id -> when the listener delivered it (while ``hearing``)."""
            self.hearing = False
            self.reported: set[str] = set()
            """The jobs that have reported at least once."""

        def _ids_arrived(self, ids: list[int]) -> None:  # on the listener's thread
            if self.hearing:
                t = time.time()
                for i in ids:
                    self.heard.setdefault(i, t)
            super()._ids_arrived(ids)

        def _job_reported(self, report: Any) -> None:
            self.reported.add(report.job)
            super()._job_reported(report)

    return ObservedApp


async def measure(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from db.engine import open_database
    from helpdesk_tui.screens.queue import QueueScreen
    from helpdesk_tui.services import queue as queue_service
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.settings import Settings
    from widgets.queue_table import QueueTable

    prefix = f"live-{uuid.uuid4().hex[:6]}"
    db = open_database(url)
    ctx = Context(db=db, settings=Settings(data_dir=data_dir))
    app = observed_app()(ctx, "bench", live=True)
    shown: dict[str, tuple[float, int]] = {}  # conversation -> (time, row index)
    painted: dict[str, float] = {}
    page_ms: list[float] = []
    loads = [0]
    measuring = [False]

    real_page = queue_service.page

    def timed_page(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_page(*a, **kw)
        finally:
            if measuring[0]:
                page_ms.append((time.perf_counter() - t) * 1000)

    queue_service.page = timed_page  # the screen calls queue.page(...) through the module
    out: dict[str, Any] = {}
    child: subprocess.Popen[bytes] | None = None
    produced = data_dir.parent / f"{prefix}.jsonl"
    errors = data_dir.parent / f"{prefix}.err"
    try:
        async with app.run_test(size=(120, 40)):
            await until(
                lambda: isinstance(app.screen, QueueScreen)
                and app.screen.query_one(QueueTable).row_count > 0,
                60, "the first queue page",
            )  # fmt: skip
            listener = app._listener
            await until(lambda: listener.state in ("listening", "polling")
                        and listener.high_water is not None, 60, "the live listener")  # fmt: skip
            if app._jobs is not None:
                await until(lambda: app.reported >= FIRST_JOBS, 120, "the first job runs")
            await asyncio.sleep(1.0)  # let the loads those jobs caused settle
            screen = app.screen
            table = screen.query_one(QueueTable)
            real_show = table.show

            def note_painted(convs: list[str]) -> None:
                t = time.time()
                for conv in convs:
                    painted.setdefault(conv, t)

            def show(rows: Any, now: datetime) -> None:
                real_show(rows, now)
                t = time.time()
                loads[0] += 1
                new = []
                for index, row in enumerate(rows):
                    if row.conversation.startswith(prefix) and row.conversation not in shown:
                        shown[row.conversation] = (t, index)
                        new.append(row.conversation)
                if new:
                    table.call_after_refresh(note_painted, new)

            table.show = show  # type: ignore[method-assign]
            measuring[0] = app.hearing = True
            env = {**os.environ, "HELPDESK_CONFIG": os.environ["HELPDESK_CONFIG"]}
            with produced.open("wb") as fout, errors.open("wb") as ferr:
                child = subprocess.Popen(
                    [sys.executable, "-m", "bench.live_bench", "--produce", "--db", url,
                     "--data-dir", str(data_dir), "--prefix", prefix,
                     "--messages", str(args.messages), "--interval", str(args.interval)],
                    stdout=fout, stderr=ferr, env=env,
                )  # fmt: skip
                budget = 30 + args.messages * args.interval * 3
                deadline = time.monotonic() + budget
                exited_at: float | None = None
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    if exited_at is None and child.poll() is not None:
                        exited_at = time.monotonic()
                        if child.returncode != 0:
                            raise SystemExit(
                                f"producer failed ({child.returncode}): "
                                + errors.read_text(errors="replace")[-2000:]
                            )
                    if exited_at is not None and (
                        len(painted) >= args.messages
                        or time.monotonic() - exited_at > args.miss_after
                    ):
                        break
                else:
                    raise TimeoutError(f"the run did not finish within {budget:.0f} s")
            measuring[0] = app.hearing = False
            out["queue_rows_at_end"] = table.row_count
            out["queue_total_at_end"] = screen.total
    finally:
        queue_service.page = real_page
        if child is not None and child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        db.dispose()
    sent = [json.loads(line) for line in produced.read_text().splitlines() if line.strip()]
    return {**out, **figures(sent, shown, painted, app.heard, page_ms, loads[0], args)}


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(math.ceil(q / 100 * len(s)) - 1, 0)]


def ms(values: list[float], fn: Callable[[list[float]], float | None]) -> float | None:
    v = fn(values) if values else None
    return None if v is None else round(v, 1)


def figures(
    sent: list[dict[str, Any]],
    shown: dict[str, tuple[float, int]],
    painted: dict[str, float],
    heard: dict[int, float],
    page_ms: list[float],
    loads: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    latency, to_shown, to_heard, rows, ingest = [], [], [], [], []
    missed = 0
    for rec in sent:
        conv, t0 = rec["conversation"], rec["committed_at"]
        ingest.append(rec["ingest_ms"])
        if rec["message_id"] in heard:
            to_heard.append((heard[rec["message_id"]] - t0) * 1000)
        if conv in shown:
            to_shown.append((shown[conv][0] - t0) * 1000)
            rows.append(shown[conv][1])
        if conv in painted and painted[conv] - t0 <= args.miss_after:
            latency.append((painted[conv] - t0) * 1000)
        else:
            missed += 1
    missed += max(args.messages - len(sent), 0)
    med = statistics.median
    return {
        "produced": len(sent),
        "seen": len(latency),
        "missed": missed,
        "latency_ms_median": ms(latency, med),
        "latency_ms_p95": ms(latency, lambda v: pct(v, 95)),
        "latency_ms_max": ms(latency, max),
        "latency_ms_min": ms(latency, min),
        "heard_ms_median": ms(to_heard, med),
        "heard_ms_p95": ms(to_heard, lambda v: pct(v, 95)),
        "shown_ms_median": ms(to_shown, med),
        "shown_ms_p95": ms(to_shown, lambda v: pct(v, 95)),
        "ingest_ms_median": ms(ingest, med),
        "queue_page_ms_median": ms(page_ms, med),
        "queue_page_ms_p95": ms(page_ms, lambda v: pct(v, 95)),
        "queue_page_calls": len(page_ms),
        "queue_loads_shown": loads,
        "row_index_max": max(rows) if rows else None,
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as url:
        data_dir = Path(tmp) / "data"
        from db.engine import open_database

        db = open_database(url)
        try:
            built = build(db, data_dir, args.background)
        finally:
            db.dispose()
        load_before = [round(x, 2) for x in os.getloadavg()]
        figs = asyncio.run(measure(url, data_dir, args))
        load_after = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {
        "backend": backend,
        "messages": args.messages,
        "interval_s": args.interval,
        "background_conversations": args.background,
        "load_average_before": load_before,
        "load_average_after": load_after,
        **built,
        **figs,
    }
    if backend == "postgres":
        p95 = result["latency_ms_p95"]
        result["target_met"] = (
            result["missed"] == 0
            and p95 is not None
            and p95 <= 1000
            and result["latency_ms_median"] <= 1000
        )
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backends", default="postgres,sqlite")
    p.add_argument("--messages", type=int, default=100, help="new messages to time")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between them")
    p.add_argument("--background", type=int, default=10_000, help="open conversations before")
    p.add_argument("--miss-after", type=float, default=10.0, help="seconds: later is missed")
    p.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.produce:
        produce(args.db, args.data_dir, args.prefix, args.messages, args.interval)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in ("postgres", "sqlite"):
            p.error(f"unknown backend {b!r}")
    results = []
    with tempfile.TemporaryDirectory() as cfg:
        # The scheduler and settings defaults, whatever the user's config file says.
        os.environ["HELPDESK_CONFIG"] = str(Path(cfg) / "none.toml")
        for b in backends:
            results.append(run_backend(b, args))
    print(json.dumps({"when": datetime.now(UTC).isoformat(timespec="seconds"),
                      "target_ms": 1000, "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
