"""Console benchmark, headless with Pilot: `python -m bench.console_bench --conversations 100000`.

Builds a SQLite database with N open conversations (1-2 messages each, through the real
intake) plus one conversation with 200 messages, in a child process; then, in a fresh process,
runs the console with ``app.run_test(size=(120, 40))`` and measures:

- ``first_frame_s``: from starting the app until the queue table has rows and has painted;
- ``health_line_s``: until the health line (counts over every open conversation) is filled;
- ``cursor_down_ms_median``: one cursor-down keypress, processed and repainted (once the
  startup work is done);
- ``open_200_ms``: opening the 200-message conversation until its thread is on screen
  (first open, and the median of the reopenings);
- ``max_rss_mb``: the measuring process's peak resident memory (ru_maxrss).

``*_cpu_ms_*`` is the process's CPU time for the same steps: on a busy machine the wall-clock
figures grow with the load average; the CPU figures much less. ``load_average`` is printed.

Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: The benchmark's clock: after every generated message (bench.gen spans 28 days from 5 Jan).
NOW = datetime(2026, 2, 3, 8, tzinfo=UTC)
BIG = "c-big"
CHUNK = 20_000


def big_thread(messages: int = 200) -> Iterator[bytes]:
    """One urgent support conversation with ``messages`` messages, customer and agent taking
    turns, the customer last, older than every generated one (so it waits the longest and is
    at the top of the queue)."""
    t0 = datetime(2026, 1, 4, 6, tzinfo=UTC)
    for m in range(messages):
        agent = m % 2 == 0 and m > 0
        rec: dict[str, Any] = {
            "id": f"big-{m}",
            "conversation": BIG,
            "from": {"id": "bench", "role": "agent"}
            if agent
            else {"id": "u-big", "role": "user", "name": "Patient Customer"},
            "body": f"Message {m} of the long thread.\nIt has a second line, and a third one "
            "that is long enough to wrap on a narrow terminal so the layout does some work.",
            "sent_at": (t0 + timedelta(minutes=7 * m)).isoformat(),
        }
        if m == 0:
            rec.update(kind="user_admin", subject="A very long thread", priority="urgent")
        yield json.dumps(rec).encode()


def build(path: Path, conversations: int, per: int) -> dict[str, Any]:
    """Create and fill the database at ``path``; returns what was built and how long it took."""
    from bench.gen import records
    from db.engine import open_database
    from db.migrate import upgrade
    from helpdesk_tui.services import agents
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.services.intake import Intake
    from helpdesk_tui.settings import Settings

    t = time.perf_counter()
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    ctx = Context(db=db, settings=Settings(data_dir=path.parent / "data"), now=lambda: NOW)
    for team in ("support", "marketplace", "trust-safety"):
        agents.add_team(ctx, "bench", team)
    agents.add_agent(ctx, "bench", "bench", "Bench Agent", "lead", "support")
    accepted = 0
    lines = itertools.chain(records(conversations, per, agent="bench"), big_thread())
    while chunk := list(itertools.islice(lines, CHUNK)):
        summary = Intake(ctx).run(chunk)
        accepted += summary.accepted
        if summary.rejected:
            raise SystemExit(f"intake rejected records: {summary.line()}")
        print(f"  … {accepted} records", file=sys.stderr, flush=True)
    db.dispose()
    return {"records": accepted, "build_s": round(time.perf_counter() - t, 1)}


async def measure(path: Path, keys: int, reopen: int) -> dict[str, Any]:
    """Run the console headless on the database at ``path`` and time it."""
    from sqlalchemy import select
    from textual import events

    from db.engine import open_database
    from db.models import Conversation
    from helpdesk_tui.app import HelpdeskApp
    from helpdesk_tui.screens.conversation import ConversationScreen
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.settings import Settings
    from widgets.health_bar import HealthBar
    from widgets.queue_table import QueueTable
    from widgets.thread_view import ThreadView

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    db = open_database(f"sqlite:///{path}")
    ctx = Context(db=db, settings=Settings(data_dir=path.parent / "data"), now=lambda: NOW)
    app = HelpdeskApp(ctx, agent="bench", clock=lambda: NOW, poll_interval=0)
    out: dict[str, Any] = {}

    async def until(done: Callable[[], bool]) -> None:
        """Poll every millisecond (a busy loop would starve the workers of the GIL)."""
        while not done():
            await asyncio.sleep(0.001)

    def paint() -> None:
        """Lay out and render what changed now (what the screen's refresh timer would do)."""
        app.screen._on_timer_update()

    def key(name: str) -> None:
        """Deliver a key as the terminal would (Pilot.press also waits for the CPU to idle
        several times, which would be timed too)."""
        assert app._driver is not None
        app._driver.send_message(events.Key(name, None))

    t0 = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: bool(app.screen.query(QueueTable))
                    and app.screen.query_one(QueueTable).row_count > 0)  # fmt: skip
        paint()
        out["first_frame_s"] = round(time.perf_counter() - t0, 3)
        table = app.screen.query_one(QueueTable)
        out["queue_rows_shown"] = table.row_count
        out["queue_total"] = getattr(app.screen, "total", None)
        bar = app.screen.query_one(HealthBar)
        await until(lambda: bar.health is not None)
        out["health_line_s"] = round(time.perf_counter() - t0, 3)  # counted after the rows
        await app.workers.wait_for_complete()
        await pilot.pause()
        samples, key_cpu = [], []
        for _ in range(keys):
            row = table.cursor_row
            t, cpu = time.perf_counter(), time.process_time()
            key("down")
            await until(lambda: table.cursor_row != row)  # noqa: B023
            paint()
            samples.append((time.perf_counter() - t) * 1000)
            key_cpu.append((time.process_time() - cpu) * 1000)
            await asyncio.sleep(0.01)  # a typist's pace: the next key comes later
        out["cursor_down_ms_median"] = round(statistics.median(samples), 2)
        out["cursor_down_ms_max"] = round(max(samples), 2)
        out["cursor_down_cpu_ms_median"] = round(statistics.median(key_cpu), 2)
        big = next((i for i, r in table.queue_rows.items() if r.conversation == BIG), None)
        out["big_thread_in_window"] = big is not None
        if big is None:  # not among the rows shown: open it by id, as search would
            with db.read() as s:
                big = s.scalar(select(Conversation.id).where(Conversation.external_id == BIG))
        assert big is not None
        opens: list[float] = []
        open_cpu: list[float] = []  # CPU of the whole process: the UI and the worker
        for _ in range(1 + reopen):
            if out["big_thread_in_window"]:
                table.move_cursor(row=table.get_row_index(str(big)), animate=False)
            await app.workers.wait_for_complete()
            await asyncio.sleep(0.3)  # the queue's reload after escape is handled
            paint()
            t, cpu = time.perf_counter(), time.process_time()
            if out["big_thread_in_window"]:
                key("enter")
            else:
                app.open_conversation(big)

            def shown() -> bool:
                screen = app.screen
                if not isinstance(screen, ConversationScreen) or screen.detail is None:
                    return False
                view = screen.query_one(ThreadView)
                shown = view.shown
                if not shown or shown[-1].id != screen.detail.messages[-1].id:
                    return False
                return view.ready and view.region.height > 0  # rendered and laid out

            await until(shown)
            paint()
            opens.append((time.perf_counter() - t) * 1000)
            open_cpu.append((time.process_time() - cpu) * 1000)
            out["thread_messages"] = len(app.screen.query_one(ThreadView).message_ids)
            key("escape")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        out["open_200_ms_first"] = round(opens[0], 1)
        out["open_200_ms_median"] = round(statistics.median(opens[1:] or opens), 1)
        out["open_200_cpu_ms_median"] = round(statistics.median(open_cpu[1:] or open_cpu), 1)
    db.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["max_rss_mb"] = round(peak / 1024, 1)
    out["rss_before_app_mb"] = round(rss_before / 1024, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--conversations", type=int, default=100_000)
    p.add_argument("--per", type=int, default=1, choices=(1, 2), help="messages per conversation")
    p.add_argument("--keys", type=int, default=100, help="cursor-down presses to time")
    p.add_argument("--reopen", type=int, default=5, help="extra opens of the 200-message thread")
    p.add_argument("--db", type=Path, help="reuse (or build and keep) this SQLite file")
    p.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.build_only:
        print(json.dumps(build(args.db, args.conversations, args.per)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "console-bench.sqlite3"
        built: dict[str, Any] = {"reused": True}
        if not path.exists():
            # A child process builds, so the figures below are the console's alone.
            run = subprocess.run(
                [sys.executable, "-m", "bench.console_bench", "--build-only", "--db", str(path),
                 "--conversations", str(args.conversations), "--per", str(args.per)],
                check=True, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            built = json.loads(run.stdout.strip().splitlines()[-1])
        figures = asyncio.run(measure(path, args.keys, args.reopen))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "conversations": args.conversations + 1,
        "messages_per": args.per,
        "big_thread_messages": 200,
        "size": "120x40",
        **built,
        **figures,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
