"""Benchmark of two-way messaging: `python -m bench.outbound_bench [--records N]`. Prints JSON.

Per backend (SQLite, and PostgreSQL when reachable), on a fresh database:

- sequencer: numbering N committed outbound rows (records/s);
- `outbound` to a file: the in-process stream (each line flushed, consumer position saved
  every 100 lines) and the whole `helpdesk outbound --consumer NAME > file` command
  (interpreter start included);
- webhook delivery: `Deliverer` (`helpdesk deliver --once`) with 8 requests in flight to a
  minimal HTTP/1.1 keep-alive receiver in another process;
- streaming intake: `helpdesk ingest -` fed one line at a time at random 50-250 ms intervals;
  latency from writing a line to its message being committed (visible to every query),
  polled every 5 ms.

Targets (issue 7): outbound >= 5,000 records/s to a file; webhook >= 500 records/s with 8 in
flight; intake-to-visible p95 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.run import fresh_database
from db.models import Conversation, Message, OutboxItem
from helpdesk_tui.services import agents, outbound, webhook
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from helpdesk_tui.settings import Settings

HELPDESK = Path(sys.executable).parent / "helpdesk"


# -- a fast receiver in its own process --------------------------------------------------------
def _receiver_main(port_out: Any, count: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for raw in head.split(b"\r\n"):
                    if raw.lower().startswith(b"content-length:"):
                        length = int(raw.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                with count.get_lock():
                    count.value += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_out.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- seeding -----------------------------------------------------------------------------------
def seed(ctx: Context, n: int) -> None:
    agents.add_team(ctx, "bench", "support")
    agents.add_agent(ctx, "bench", "alice", "Alice", "admin", "support")
    Intake(ctx).run(
        [
            json.dumps(
                {"id": "m-seed", "conversation": "c-seed", "kind": "user_admin",
                 "subject": "seed", "from": {"id": "u-1", "role": "user", "name": "U"},
                 "body": "hello", "sent_at": "2026-03-02T09:15:00+02:00"}
            ).encode()
        ]
    )  # fmt: skip
    body = "Thanks for your message; an agent will reply shortly. " * 3

    def fn(s: Any) -> None:
        conv = s.scalar(select(Conversation.id).limit(1))
        now = ctx.now()
        for start in range(0, n, 5000):
            s.execute(
                insert(OutboxItem.__table__),
                [
                    {"idempotency_key": f"bench:{i}", "channel": "outbound", "type": "reply",
                     "conversation_id": conv, "recipient": "u-1", "subject": "",
                     "body": body, "status": "pending", "attempts": 0, "next_attempt_at": now,
                     "created_at": now, "payload": {"agent": "alice", "name": "Alice"}}
                    for i in range(start, min(n, start + 5000))
                ],
            )  # fmt: skip

    ctx.db.write(fn)


def bench_stream(ctx: Context, workdir: Path, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    numbered = outbound.sequence(ctx.db)
    out["sequencer_records_per_s"] = round(numbered / (time.perf_counter() - t0))

    path = workdir / "outbound-inproc.jsonl"
    with path.open("wb") as fh:

        def write(data: bytes) -> None:
            fh.write(data)
            fh.flush()

        t0 = time.perf_counter()
        report = outbound.stream(ctx, write, consumer="bench-inproc")
        elapsed = time.perf_counter() - t0
    assert report.written == n, report
    out["stream_inprocess_records_per_s"] = round(n / elapsed)

    path = workdir / "outbound-cli.jsonl"
    env = {**os.environ, "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    with path.open("wb") as fh:
        t0 = time.perf_counter()
        subprocess.run(
            [str(HELPDESK), "--db", ctx.db.url, "outbound", "--consumer", "bench-cli"],
            stdout=fh, check=True, env=env,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
    lines = path.read_bytes().count(b"\n")
    assert lines == n, lines
    out["stream_cli_records_per_s"] = round(n / elapsed)
    out["stream_cli_seconds"] = round(elapsed, 2)
    t0 = time.perf_counter()  # the same consumer again: nothing to print, start-up only
    subprocess.run(
        [str(HELPDESK), "--db", ctx.db.url, "outbound", "--consumer", "bench-cli"],
        stdout=subprocess.DEVNULL, check=True, env=env,
    )  # fmt: skip
    out["cli_startup_seconds"] = round(time.perf_counter() - t0, 2)
    return out


def bench_webhook(ctx: Context, n: int) -> dict[str, Any]:
    port = multiprocessing.Value("i", 0)
    count = multiprocessing.Value("l", 0)
    proc = multiprocessing.Process(target=_receiver_main, args=(port, count), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 10
        while not port.value and time.monotonic() < deadline:
            time.sleep(0.01)
        cfg = webhook.WebhookSettings(
            url=f"http://127.0.0.1:{port.value}/hook", secret=b"bench", concurrency=8
        )
        outbound.reset_consumer(ctx, "bench-hook", outbound.head(ctx.db) - n)
        d = webhook.Deliverer(ctx, cfg, consumer="bench-hook")
        t0 = time.perf_counter()
        report = d.run(once=True)
        elapsed = time.perf_counter() - t0
        d.close()
    finally:
        proc.terminate()
        proc.join(5)
    assert report.delivered == n and count.value >= n, (report, count.value)
    return {"webhook_records_per_s": round(n / elapsed), "webhook_in_flight": 8}


def bench_streaming_latency(ctx: Context, workdir: Path, lines: int) -> dict[str, Any]:
    env = {**os.environ, "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    proc = subprocess.Popen(
        [str(HELPDESK), "--db", ctx.db.url, "ingest", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdin is not None

    def send(i: int) -> None:
        rec = {"id": f"lat-{i}", "conversation": f"lat-c-{i}", "kind": "user_admin",
               "subject": "latency", "from": {"id": f"u-l{i}", "role": "user", "name": "L"},
               "body": "are you there?", "sent_at": "2026-03-02T09:15:00+02:00"}  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(rec).encode() + b"\n")
        proc.stdin.flush()

    def visible(i: int) -> bool:
        with ctx.db.read() as s:
            return s.scalar(select(Message.id).where(Message.external_id == f"lat-{i}")) is not None

    def wait(i: int, timeout: float) -> float:
        t0 = time.perf_counter()
        while not visible(i):
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"line {i} not visible after {timeout}s")
            time.sleep(0.005)
        return time.perf_counter() - t0

    rng = random.Random(7)
    try:
        send(-1)
        wait(-1, 30)  # interpreter start and warm-up
        latencies = []
        for i in range(lines):
            time.sleep(rng.uniform(0.05, 0.25))
            send(i)
            latencies.append(wait(i, 10))
    finally:
        proc.stdin.close()
        proc.wait(30)
    latencies.sort()
    return {
        "intake_visible_p50_ms": round(statistics.median(latencies) * 1000),
        "intake_visible_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000),
        "intake_visible_max_ms": round(latencies[-1] * 1000),
        "intake_lines": lines,
    }


def run_backend(backend: str, records: int, hook_records: int, lines: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as db:
        ctx = Context(db=db, settings=Settings(data_dir=Path(tmp) / "data"))
        seed(ctx, records)
        result: dict[str, Any] = {"backend": backend, "records": records}
        result.update(bench_stream(ctx, Path(tmp), records))
        result.update(bench_webhook(ctx, min(hook_records, records)))
        result.update(bench_streaming_latency(ctx, Path(tmp), lines))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--webhook-records", type=int, default=5000)
    parser.add_argument("--latency-lines", type=int, default=40)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        try:
            results.append(
                run_backend(backend, args.records, args.webhook_records, args.latency_lines)
            )
        except Exception as exc:  # e.g. PostgreSQL not reachable
            if args.backend != "both" or backend == "sqlite":
                raise
            results.append({"backend": backend, "skipped": str(exc).splitlines()[0]})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
