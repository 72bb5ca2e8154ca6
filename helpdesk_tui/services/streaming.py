"""Streaming intake: `helpdesk ingest -` commits lines as they arrive, not at end of input.

Entry point::

    stop = threading.Event()
    restore = stop_on_signals(stop)          # SIGINT/SIGTERM set ``stop`` (CLI only)
    summary = StreamingIntake(ctx, on_reject, on_batch).run(fd, stop)

The loop waits on the file descriptor with ``poll`` (pipes, terminals and regular files
alike) and reads whatever is there with ``os.read``, so a line is processed as soon as it
arrives. Buffered records are committed when the batch is full (``[intake] batch``, through
``Intake``) or ``window`` seconds after the first of them was buffered, whichever comes first:
a slow feed is visible in the queue well within a second, a fast one still commits in bulk.

Stopping (``stop`` set, e.g. by SIGTERM) never interrupts a transaction: the loop finishes
what it is doing, reads what is already waiting in the pipe (written before the signal), takes
a last line without its newline as a line, commits, and returns the summary. Every line read
is counted as accepted, duplicate or rejected (with its line number): none is dropped.

``on_batch`` hears one dict per commit ``{"event": "batch", "accepted", "duplicates",
"rejected"}`` (the counts of that batch; lines rejected while parsing are counted in the next
event) — the CLI prints them with ``--json``.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import IngestSummary, Intake, RejectHandler

#: Seconds between the first buffered line and its commit when the batch is not full.
WINDOW = 0.25
#: How often the loop looks at ``stop`` while no input arrives.
IDLE_TICK = 0.2
READ_SIZE = 1 << 16

BatchHandler = Callable[[dict[str, Any]], None]


class _Intake(Intake):
    """``Intake`` that tells the streaming loop about every commit (also a full batch's)."""

    def __init__(self, ctx: Context, on_reject: RejectHandler | None, after: Callable[[], None]):
        super().__init__(ctx, on_reject)
        self._after = after

    def flush(self) -> None:
        had = self.pending
        super().flush()
        if had:
            self._after()


class StreamingIntake:
    """Feeds lines from a file descriptor into ``Intake`` as they arrive."""

    def __init__(
        self,
        ctx: Context,
        on_reject: RejectHandler | None = None,
        on_batch: BatchHandler | None = None,
        *,
        window: float = WINDOW,
    ) -> None:
        self.window = window
        self.on_batch = on_batch
        self.intake = _Intake(ctx, on_reject, self._report)
        self.lines = 0
        self._reported = (0, 0, 0)
        self._first_at: float | None = None  # when the oldest unreported line was read

    @property
    def summary(self) -> IngestSummary:
        return self.intake.summary

    def _counts(self) -> tuple[int, int, int]:
        s = self.intake.summary
        return (s.accepted, s.duplicates, s.rejected)

    def _report(self) -> None:
        now = self._counts()
        delta = tuple(a - b for a, b in zip(now, self._reported, strict=True))
        self._reported = now
        self._first_at = None if not self.intake.pending else self._first_at
        if any(delta) and self.on_batch is not None:
            accepted, duplicates, rejected = delta
            self.on_batch(
                {
                    "event": "batch",
                    "accepted": accepted,
                    "duplicates": duplicates,
                    "rejected": rejected,
                }
            )

    def _feed(self, raw: bytes) -> None:
        self.lines += 1
        self.intake.feed(raw.rstrip(b"\r"), self.lines)
        if self._first_at is None and (self.intake.pending or self._counts() != self._reported):
            self._first_at = time.monotonic()

    def _commit(self) -> None:
        if self.intake.pending:
            self.intake.flush()  # reports through _report
        else:
            self._report()
        self._first_at = None

    def run(self, fd: int, stop: threading.Event | None = None) -> IngestSummary:
        """Read ``fd`` until end of input or ``stop``; returns the summary."""
        stop = stop or threading.Event()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        rest = b""
        eof = False
        while not eof and not stop.is_set():
            timeout = IDLE_TICK  # also how soon ``stop`` is noticed (poll resumes after EINTR)
            if self._first_at is not None:
                timeout = min(timeout, max(0.0, self._first_at + self.window - time.monotonic()))
            if poller.poll(int(timeout * 1000) + (1 if timeout else 0)):
                chunk = os.read(fd, READ_SIZE)
                if not chunk:
                    eof = True
                else:
                    rest = self._take(rest + chunk)
            if self._first_at is not None and time.monotonic() - self._first_at >= self.window:
                self._commit()
        if not eof:  # stopped: what was written before the signal is waiting in the pipe
            rest = self._drain(fd, poller, rest)
        if rest:
            self._feed(rest)  # the last line without its newline is a line too
        self._commit()
        return self.summary

    def _take(self, data: bytes) -> bytes:
        *lines, rest = data.split(b"\n")
        for raw in lines:
            self._feed(raw)
        return rest

    def _drain(self, fd: int, poller: Any, rest: bytes) -> bytes:
        while poller.poll(0):
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                break
            if not chunk:
                break
            rest = self._take(rest + chunk)
        return rest


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM set ``stop`` (a second one interrupts at once); returns a function
    that restores the previous handlers. Call from the main thread."""
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


__all__ = ["WINDOW", "StreamingIntake", "stop_on_signals"]
