"""Signed webhook delivery of the outbound stream (``helpdesk deliver``).

Each record is POSTed as its JSON (the same bytes as its ``helpdesk outbound`` line) with:

- ``Idempotency-Key: <record id>`` (stable: receivers drop repeats by it),
- ``X-Helpdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
  signed afresh for every attempt (receivers should refuse a ``t`` older than ~5 minutes),
- ``X-Helpdesk-Position: <position>``.

Outcomes, per attempt: 2xx delivered; connection errors, timeouts, 408, 429 and 5xx are
transient (exponential backoff with full jitter, ``Retry-After`` honoured for 429/503, retried
until delivered — with ``--once`` only ``once_tries`` times, then left for the next run); any
other status (other 4xx, 3xx) is permanent: after ``permanent_tries`` tries the record goes to
the dead-letter list of the consumer and delivery moves on.

The consumer position advances to the highest position up to which *every* record was
delivered or dead-lettered (with ``concurrency`` requests in flight, records finish out of
order), saved every ``save_interval`` seconds and at exit. A crash re-delivers at most what
finished after the last save: at least once, never lost.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from helpdesk_tui.services import outbound
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.outbound import Entry

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Helpdesk-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
POSITION_HEADER = "X-Helpdesk-Position"
DEFAULT_CONSUMER = "webhook"
TOLERANCE_S = 300


# -- signatures ----------------------------------------------------------------------------------
def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: bytes,
    body: bytes,
    header: str,
    *,
    tolerance: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``header`` is a valid, fresh signature of ``body`` (what a receiver does)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# -- one record ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: bytes
    concurrency: int = 8
    timeout: float = 10.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    #: Tries before a permanent failure (a 4xx other than 408/429) becomes a dead letter.
    permanent_tries: int = 3
    #: With ``once``: tries of a transient failure before the record is left for the next run.
    once_tries: int = 6
    #: Records read ahead of the oldest unfinished one.
    window: int = 512
    save_interval: float = 0.5


@dataclass(frozen=True)
class Attempt:
    """What one POST did."""

    ok: bool
    permanent: bool = False
    status: int | None = None
    error: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class Outcome:
    """How a record ended: ``delivered``, ``dead`` (dead-lettered) or ``pending`` (not
    finished: stopped, or gave up on a transient failure under ``--once``)."""

    result: str
    attempts: int
    status: int | None = None
    error: str = ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class WebhookClient:
    """POSTs signed records through one pooled httpx client (shared by worker threads)."""

    def __init__(self, settings: WebhookSettings, *, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            headers={"User-Agent": "helpdesk-tui-webhook/1", "Content-Type": "application/json"},
            follow_redirects=False,
        )

    def post(self, entry: Entry) -> Attempt:
        body = entry.encode()
        headers = {
            SIGNATURE_HEADER: sign(self.settings.secret, body, int(self.clock())),
            IDEMPOTENCY_HEADER: entry.id,
            POSITION_HEADER: str(entry.position),
        }
        try:
            response = self.client.post(self.settings.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Attempt(False, error=f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return Attempt(False, error=f"{type(exc).__name__}: {exc}"[:300])
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(True, status=status)
        reason = f"HTTP {status} {response.reason_phrase}".strip()
        snippet = response.text[:200].strip() if response.content else ""
        error = f"{reason}: {snippet}" if snippet else reason
        if status >= 500 or status in (408, 429):
            return Attempt(False, status=status, error=error, retry_after=_retry_after(response))
        return Attempt(False, permanent=True, status=status, error=error)

    def close(self) -> None:
        self.client.close()


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff before retry number ``attempt`` (1-based)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def deliver_entry(
    client: WebhookClient, entry: Entry, stop: threading.Event, *, once: bool
) -> Outcome:
    """Deliver one record, retrying as the settings say, until it is delivered, dead, or
    (``stop``; ``once`` and still failing) pending."""
    cfg = client.settings
    attempts = permanent = 0
    last = Attempt(False)
    while not stop.is_set():
        attempts += 1
        last = client.post(entry)
        if last.ok:
            return Outcome("delivered", attempts, last.status)
        if last.permanent:
            permanent += 1
            if permanent >= cfg.permanent_tries:
                return Outcome("dead", attempts, last.status, last.error)
        elif once and attempts >= cfg.once_tries:
            break
        delay = backoff(attempts, cfg.backoff_base, cfg.backoff_max)
        if last.retry_after is not None:
            delay = max(delay, min(last.retry_after, cfg.backoff_max))
        log.info("webhook: %s failed (%s), retry in %.2fs", entry.id, last.error, delay)
        if stop.wait(delay):
            break
    return Outcome("pending", attempts, last.status, last.error)


# -- the consumer --------------------------------------------------------------------------------
class _Tracker:
    """Positions handed out in order; ``contiguous`` is the highest position up to which all
    records finished."""

    def __init__(self, start: int) -> None:
        self.contiguous = start
        self._order: deque[int] = deque()
        self._done: set[int] = set()
        self._lock = threading.Lock()

    def add(self, position: int) -> None:
        with self._lock:
            self._order.append(position)

    def finish(self, position: int) -> None:
        with self._lock:
            self._done.add(position)
            while self._order and self._order[0] in self._done:
                p = self._order.popleft()
                self._done.discard(p)
                self.contiguous = p

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._order)


@dataclass
class DeliveryReport:
    delivered: int = 0
    dead: int = 0
    retried: int = 0
    pending: int = 0
    position: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"delivered {self.delivered}, dead-lettered {self.dead}, "
            f"retried dead letters {self.retried}, position {self.position}"
        )
        return text + (f", {self.pending} not delivered yet" if self.pending else "")


class Deliverer:
    """Runs one webhook consumer: reads the stream after the consumer's position, delivers
    with ``concurrency`` requests in flight, records dead letters, saves the position."""

    def __init__(
        self,
        ctx: Context,
        settings: WebhookSettings,
        *,
        consumer: str = DEFAULT_CONSUMER,
        stop: threading.Event | None = None,
        client: WebhookClient | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.consumer = outbound.check_consumer_name(consumer)
        self.stop = stop or threading.Event()
        self.client = client or WebhookClient(settings)
        self.poll_interval = poll_interval
        self.report = DeliveryReport()
        self._progress = threading.Event()
        self._lock = threading.Lock()
        self._retry_pending = 0
        self._active = 0  # jobs submitted and not finished
        #: Workers stop retrying when set: on ``stop``, or under ``once`` when a record keeps
        #: failing (the receiver is down: the rest waits for the next run).
        self._halt = threading.Event()

    # -- jobs (worker threads) ---------------------------------------------------------------
    def _job(self, entry: Entry, tracker: _Tracker, once: bool) -> None:
        try:
            if self._halt.is_set():
                return
            outcome = deliver_entry(self.client, entry, self._halt, once=once)
            if outcome.result == "dead":
                outbound.add_dead_letter(
                    self.ctx,
                    self.consumer,
                    entry,
                    attempts=outcome.attempts,
                    http_status=outcome.status,
                    error=outcome.error,
                )
            if outcome.result == "pending":
                if once:  # the receiver keeps failing: leave the rest for the next run
                    self._halt.set()
                return  # not finished: the position stays before it
            self._count(outcome.result)
            tracker.finish(entry.position)
        except Exception as exc:
            log.exception("webhook: %s failed", entry.id)
            self._count("", f"{entry.id}: {exc}")
        finally:
            self._done()

    def _retry_job(self, letter_id: int, entry: Entry, once: bool) -> None:
        try:
            outcome = deliver_entry(self.client, entry, self._halt, once=once)
            status = {"delivered": outbound.DELIVERED, "dead": outbound.DEAD}.get(
                outcome.result, outbound.RETRY
            )
            outbound.finish_retry(
                self.ctx,
                letter_id,
                status,
                attempts=outcome.attempts,
                http_status=outcome.status,
                error=outcome.error,
            )
            self._count(
                {"delivered": "retried", "dead": "", "pending": "retry_pending"}[outcome.result]
            )
        except Exception as exc:
            log.exception("webhook: retry of dead letter #%s failed", letter_id)
            self._count("retry_pending", f"dead letter #{letter_id}: {exc}")
        finally:
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._active -= 1
        self._progress.set()

    def _count(self, what: str, error: str | None = None) -> None:
        with self._lock:
            if what == "retry_pending":
                self._retry_pending += 1
            elif what:
                setattr(self.report, what, getattr(self.report, what) + 1)
            if error:
                self.report.errors.append(error)

    # -- the loop (calling thread) -------------------------------------------------------------
    def run(self, *, once: bool = False) -> DeliveryReport:
        """Deliver until ``stop`` (or, with ``once``, until nothing is pending)."""
        ctx, cfg = self.ctx, self.settings
        waiter = None
        if not once:
            waiter = outbound.Waiter(ctx.db, self.stop, poll_interval=self.poll_interval)
            waiter.start()  # LISTEN before the first read
        outbound.sequence(ctx.db)
        start = outbound.ensure_consumer(ctx, self.consumer)
        tracker = _Tracker(start)
        fetched = saved = start
        last_save = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="webhook")
        retries_claimed = False
        # refill the window in chunks, not one record per finished request
        low_water = max(1, cfg.window // 4)

        def save(force: bool = False) -> None:
            nonlocal saved, last_save
            if tracker.contiguous != saved and (
                force or time.monotonic() - last_save >= cfg.save_interval
            ):
                outbound.save_position(ctx, self.consumer, tracker.contiguous)
                saved = tracker.contiguous
                last_save = time.monotonic()

        def submit(fn: Callable[..., None], *args: Any) -> None:
            with self._lock:
                self._active += 1
            pool.submit(fn, *args)

        self._halt.clear()
        try:
            while not self.stop.is_set() and not self._halt.is_set():
                self._progress.clear()
                if not (once and retries_claimed):  # --once: the retries queued at start
                    for letter_id, entry in outbound.claim_retries(ctx, self.consumer):
                        submit(self._retry_job, letter_id, entry, once)
                    retries_claimed = True
                room = cfg.window - tracker.outstanding
                state = "full"
                if room >= low_water or not tracker.outstanding:
                    limit = min(room, 1000)
                    entries = outbound.read(ctx.db, fetched, limit)
                    if len(entries) < limit and outbound.sequence(ctx.db):
                        entries += outbound.read(
                            ctx.db, entries[-1].position if entries else fetched,
                            limit - len(entries),
                        )  # fmt: skip
                    for entry in entries:
                        tracker.add(entry.position)
                        fetched = entry.position
                        submit(self._job, entry, tracker, once)
                    state = "more" if len(entries) == limit else "caught_up"
                save()
                with self._lock:
                    active = self._active
                if state == "more" and cfg.window - tracker.outstanding >= low_water:
                    continue  # more is waiting and there is room for it
                if once and not active and state != "more":
                    break  # caught up, or only records given up on are left
                if state != "caught_up" or (once and active):
                    self._progress.wait(0.2)
                elif waiter is not None:
                    waiter.wait()
                    outbound.sequence(ctx.db)
                else:
                    self._progress.wait(0.2)
        finally:
            self._halt.set()
            pool.shutdown(wait=True, cancel_futures=True)
            if waiter is not None:
                waiter.close()
            try:
                save(force=True)
            except Exception as exc:
                log.warning("webhook: could not save the consumer position: %s", exc)
            self.report.position = tracker.contiguous
            self.report.pending = tracker.outstanding + self._retry_pending
        return self.report

    def close(self) -> None:
        self.client.close()


def settings_from(url: str, secret: str, **kwargs: Any) -> WebhookSettings:
    """Settings with the URL and secret checked (one clear error each)."""
    from helpdesk_tui.errors import InvalidInput

    try:
        parsed = httpx.URL(url)
    except Exception:
        raise InvalidInput(f"{url!r} is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"{url!r} is not an http(s) URL")
    if not secret:
        raise InvalidInput("the webhook secret is empty")
    return WebhookSettings(url=url, secret=secret.encode(), **kwargs)


__all__ = [
    "DEFAULT_CONSUMER",
    "IDEMPOTENCY_HEADER",
    "POSITION_HEADER",
    "SIGNATURE_HEADER",
    "Attempt",
    "Deliverer",
    "DeliveryReport",
    "Outcome",
    "WebhookClient",
    "WebhookSettings",
    "backoff",
    "deliver_entry",
    "settings_from",
    "sign",
    "verify",
]
