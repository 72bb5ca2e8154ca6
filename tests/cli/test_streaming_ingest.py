"""Streaming intake (`helpdesk ingest -`): lines reach the queue while the pipe stays open,
commits by batch size or time window, SIGTERM mid-batch loses nothing; SQLite and PostgreSQL,
in-process on a pipe and through the real `helpdesk` script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from helpdesk_tui.services import queue
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import IngestSummary
from helpdesk_tui.services.streaming import StreamingIntake
from tests.db.test_outbound import HELPDESK, cli_env
from tests.factories import count, line, message

BAD = b'{"id": "m-bad", "conversation": '


def in_queue(ctx: Context) -> set[str]:
    rows = queue.page(ctx, queue.QueueFilter(), limit=1000).rows
    return {r.conversation for r in rows}


def visible_within(ctx: Context, conversation: str, seconds: float) -> float | None:
    """Seconds until ``conversation`` shows in the queue, or None after ``seconds``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if conversation in in_queue(ctx):
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


class PipeIntake:
    """StreamingIntake on an os.pipe in a thread; the test is the (slow) writer."""

    def __init__(self, ctx: Context, **kwargs: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.rejects: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.rfd, self.wfd = os.pipe()
        self.stream = StreamingIntake(
            ctx, lambda n, raw, why: self.rejects.append((n, why)), self.events.append, **kwargs
        )
        self.result: IngestSummary | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        self.result = self.stream.run(self.rfd, self.stop)

    def write(self, data: bytes) -> None:
        os.write(self.wfd, data)

    def finish(self, *, close: bool = True) -> IngestSummary:
        if close:
            os.close(self.wfd)
        self.thread.join(20)
        assert not self.thread.is_alive()
        os.close(self.rfd)
        if not close:
            os.close(self.wfd)
        assert self.result is not None
        return self.result


@pytest.fixture
def pipe(ctx: Context) -> Iterator[Callable[..., PipeIntake]]:
    made: list[PipeIntake] = []

    def make(**kwargs: Any) -> PipeIntake:
        p = PipeIntake(ctx, **kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop.set()


def test_slow_writer_each_line_in_the_queue_within_a_second(
    ctx: Context, pipe: Callable[..., PipeIntake]
) -> None:
    p = pipe()
    for i in range(3):
        p.write(line(message(f"m-{i}", f"c-{i}")) + b"\n")
        # (the first line also pays for warming up: connections, first SLA computation)
        waited = visible_within(ctx, f"c-{i}", 3.0 if i else 10.0)
        assert waited is not None, f"line {i + 1} not in the queue after 1 s"
        time.sleep(0.3)  # the writer is slow: the pipe stays open, no end of input
    p.write(BAD + b"\n")
    summary = p.finish()
    assert summary.as_dict() == {"accepted": 3, "duplicates": 0, "rejected": 1}
    assert p.rejects == [(4, p.rejects[0][1])] and "JSON" in p.rejects[0][1]
    assert p.events == [
        {"event": "batch", "accepted": 1, "duplicates": 0, "rejected": 0},  # one commit per
        {"event": "batch", "accepted": 1, "duplicates": 0, "rejected": 0},  # slow line
        {"event": "batch", "accepted": 1, "duplicates": 0, "rejected": 0},
        {"event": "batch", "accepted": 0, "duplicates": 0, "rejected": 1},
    ]


def test_full_batches_commit_without_waiting_for_the_window(
    ctx: Context, pipe: Callable[..., PipeIntake]
) -> None:
    ctx.settings = replace(ctx.settings, intake_batch=5)
    p = pipe(window=30)  # only full batches can commit while the pipe is open
    p.write(b"".join(line(message(f"m-{i}", f"c-{i}")) + b"\n" for i in range(12)))
    deadline = time.monotonic() + 10
    while count_messages(ctx) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert count_messages(ctx) == 10  # two full batches; two records wait for more
    summary = p.finish()  # end of input commits the rest
    assert summary.accepted == 12 and count_messages(ctx) == 12
    assert [e["accepted"] for e in p.events] == [5, 5, 2]


def count_messages(ctx: Context) -> int:
    from db.models import Message

    return count(ctx, Message)


def test_stop_mid_batch_commits_everything_already_written(
    ctx: Context, pipe: Callable[..., PipeIntake]
) -> None:
    p = pipe(window=30)  # nothing would commit by time: only the stop does it
    lines = [line(message(f"m-{i}", f"c-{i % 7}")) for i in range(40)]
    lines[13] = BAD
    lines[27] = b'{"id": "m-x", "conversation": "c-1", "nope": 1}'
    p.write(b"\n".join(lines[:-1]) + b"\n" + lines[-1])  # the last one without its newline
    time.sleep(0.2)
    p.stop.set()  # what SIGTERM does
    summary = p.finish(close=False)
    assert summary.accepted + summary.duplicates + summary.rejected == 40
    assert (summary.accepted, summary.rejected) == (38, 2)
    assert sorted(n for n, _ in p.rejects) == [14, 28]
    assert count_messages(ctx) == 38


# -- the real script -------------------------------------------------------------------------
def start_ingest(ctx: Context, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(HELPDESK), "--db", ctx.db.url, "ingest", "-", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=cli_env(tmp_path),
    )  # fmt: skip


def test_subprocess_pipe_slow_writer_reaches_the_queue_within_a_second(
    ctx: Context, tmp_path: Path
) -> None:
    proc = start_ingest(ctx, tmp_path, "--json")
    assert proc.stdin is not None
    try:
        proc.stdin.write(line(message("m-0", "c-0")) + b"\n")
        proc.stdin.flush()
        assert visible_within(ctx, "c-0", 20) is not None  # includes the interpreter start
        for i in (1, 2):
            time.sleep(0.5)
            proc.stdin.write(line(message(f"m-{i}", f"c-{i}")) + b"\n")
            proc.stdin.flush()
            assert visible_within(ctx, f"c-{i}", 3.0) is not None, f"c-{i} not within 3 s"
        out, err = proc.communicate(timeout=20)  # closes stdin: end of input
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(x) for x in out.splitlines()]
    assert events[:3] == [{"event": "batch", "accepted": 1, "duplicates": 0, "rejected": 0}] * 3
    assert events[-1] == {"event": "summary", "accepted": 3, "duplicates": 0, "rejected": 0}
    assert err.decode().strip() == "accepted 3, duplicates 0, rejected 0"  # summary on stderr


def test_subprocess_sigterm_mid_batch_loses_nothing(ctx: Context, tmp_path: Path) -> None:
    proc = start_ingest(ctx, tmp_path)
    assert proc.stdin is not None
    try:
        proc.stdin.write(line(message("m-first", "c-first")) + b"\n")
        proc.stdin.flush()
        assert visible_within(ctx, "c-first", 20) is not None  # started and streaming
        body = [line(message(f"m-{i}", f"c-{i % 5}")) for i in range(200)]
        body[50] = BAD
        proc.stdin.write(b"\n".join(body) + b"\n")
        proc.stdin.flush()
        proc.send_signal(signal.SIGTERM)  # mid-batch: inside the commit window
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = err.decode()
    assert "Traceback" not in text
    assert proc.returncode == 1  # a rejected line, as for a file
    assert text.splitlines()[-1] == "accepted 200, duplicates 0, rejected 1"
    assert "line 52: " in text  # the bad line, by number
    assert out.decode().strip() == "accepted 200, duplicates 0, rejected 1"
    assert count_messages(ctx) == 200
