"""Webhook delivery against a real HTTP receiver on loopback that fails (503), times out,
refuses one record (400) and recovers: every record delivered, none twice, signatures
verify, the refused one dead-lettered and re-delivered by `--retry`; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpdesk_tui.services import outbound, webhook
from helpdesk_tui.services.context import Context
from tests.db.test_outbound import HELPDESK, add_notifications, cli_env, seed

SECRET = b"s3cret-for-tests"


class Receiver:
    """A marketplace endpoint with scripted trouble.

    - the first ``fail_first`` requests get 503;
    - the record ``slow`` waits ``slow_s`` seconds on its first attempt (a client timeout);
    - the record ``bad`` gets 400 while ``refuse_bad`` is set;
    - everything else: 200, recorded with whether its signature verified.
    """

    def __init__(self, *, fail_first: int = 0, slow: str | None = None, bad: str | None = None,
                 slow_s: float = 1.5) -> None:  # fmt: skip
        self.fail_first = fail_first
        self.slow, self.slow_s, self.bad = slow, slow_s, bad
        self.refuse_bad = True
        self.requests = 0
        self.seen: Counter[str] = Counter()
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.handle(body, dict(self.headers))
                payload = b"{}" if status == 200 else b'{"error":"nope"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client timed out and went away

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/helpdesk"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        record = json.loads(body)
        key = headers.get("Idempotency-Key")
        with self.lock:
            self.requests += 1
            n = self.requests
            self.seen[record["id"]] += 1
            attempt = self.seen[record["id"]]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if n <= self.fail_first:
                return 503
            if record["id"] == self.slow and attempt == 1:
                time.sleep(self.slow_s)
                return 503  # too late anyway: the client gave up
            if record["id"] == self.bad and self.refuse_bad:
                return 400
            ok = webhook.verify(SECRET, body, headers.get("X-Helpdesk-Signature", ""))
            # A little work per request, so that concurrent deliveries overlap observably
            # even on a loaded machine (max_in_flight is asserted).
            time.sleep(0.02)
            with self.lock:
                self.bad_signatures += 0 if ok else 1
                if key != record["id"] or headers.get("X-Helpdesk-Position") != str(
                    record["position"]
                ):
                    self.bad_signatures += 1
                self.accepted.append(record)
            return 200
        finally:
            with self.lock:
                self.in_flight -= 1

    @property
    def accepted_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r["id"] for r in self.accepted)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def settings(url: str, **kw: Any) -> webhook.WebhookSettings:
    base: dict[str, Any] = dict(timeout=0.5, backoff_base=0.02, backoff_max=0.2, once_tries=4)
    base.update(kw)
    return webhook.WebhookSettings(url=url, secret=SECRET, **base)


def deliver(ctx: Context, url: str, *, consumer: str = "hook", **kw: Any) -> webhook.DeliveryReport:
    d = webhook.Deliverer(ctx, settings(url, **kw), consumer=consumer)
    try:
        return d.run(once=True)
    finally:
        d.close()


# -- signatures --------------------------------------------------------------------------------
def test_signature_scheme() -> None:
    body = b'{"id":"reply:1"}'
    header = webhook.sign(SECRET, body, 1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    assert webhook.verify(SECRET, body, header, now=1_700_000_100)
    assert not webhook.verify(SECRET, body + b" ", header, now=1_700_000_100)  # tampered
    assert not webhook.verify(b"other", body, header, now=1_700_000_100)  # wrong secret
    assert not webhook.verify(SECRET, body, header, now=1_700_000_000 + 301)  # replayed late
    assert not webhook.verify(SECRET, body, "garbage")


# -- delivery ----------------------------------------------------------------------------------
def test_fails_times_out_refuses_one_and_recovers_every_record_once(ctx: Context) -> None:
    seed(ctx)
    keys = add_notifications(ctx, 60)
    r = Receiver(fail_first=5, slow=keys[7], bad=keys[20], slow_s=1.0)
    try:
        report = deliver(ctx, r.url, concurrency=8)

        assert report.dead == 1 and report.delivered == 59 and report.pending == 0
        assert r.accepted_ids == Counter({k: 1 for k in keys if k != keys[20]})  # none twice
        assert r.bad_signatures == 0
        assert r.seen[keys[7]] >= 2  # timed out, then retried
        assert r.seen[keys[20]] == 3  # bounded tries on a 400
        assert r.max_in_flight > 1  # concurrent
        # the position passed every record: delivered or dead-lettered
        assert outbound.consumer_position(ctx.db, "hook") == outbound.head(ctx.db) == 60
        (letter,) = outbound.dead_letters(ctx.db, "hook")
        assert (letter.record_id, letter.status, letter.http_status) == (keys[20], "dead", 400)
        assert letter.attempts == 3 and "400" in letter.last_error

        # nothing new: a second run delivers nothing again
        assert deliver(ctx, r.url).delivered == 0
        assert sum(r.accepted_ids.values()) == 59

        # the marketplace fixed its side; a person retries the dead letter
        r.refuse_bad = False
        assert outbound.retry_dead_letter(ctx, letter.id).status == "retry"
        again = deliver(ctx, r.url)
        assert (again.retried, again.delivered, again.dead) == (1, 0, 0)
        assert r.accepted_ids == Counter({k: 1 for k in keys})
        assert outbound.dead_letters(ctx.db, "hook") == []
        (done,) = outbound.dead_letters(ctx.db, "hook", include_delivered=True)
        assert done.status == "delivered"
    finally:
        r.close()


def test_receiver_down_then_up_nothing_lost_position_holds(ctx: Context) -> None:
    seed(ctx)
    keys = add_notifications(ctx, 10)
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/"
    down = deliver(ctx, dead_url, once_tries=2)
    assert down.delivered == 0 and down.pending == 10
    assert outbound.consumer_position(ctx.db, "hook") == 0  # never past an undelivered record
    assert outbound.dead_letters(ctx.db) == []  # transient failures are not dead letters

    r = Receiver()
    try:
        up = deliver(ctx, r.url)
        assert up.delivered == 10 and up.pending == 0
        assert r.accepted_ids == Counter({k: 1 for k in keys})
    finally:
        r.close()


def test_follow_mode_delivers_new_records_and_stops_cleanly(
    ctx: Context, receiver: Receiver
) -> None:
    seed(ctx)
    first = add_notifications(ctx, 5)
    stop = threading.Event()
    d = webhook.Deliverer(ctx, settings(receiver.url), consumer="live", stop=stop,
                          poll_interval=0.1)  # fmt: skip
    worker = threading.Thread(target=d.run)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while len(receiver.accepted_ids) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        later = add_notifications(ctx, 5)
        t0 = time.monotonic()
        while len(receiver.accepted_ids) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(receiver.accepted_ids) == 10, time.monotonic() - t0
    finally:
        stop.set()
        worker.join(10)
        d.close()
    assert not worker.is_alive()
    assert receiver.accepted_ids == Counter({k: 1 for k in first + later})
    assert outbound.consumer_position(ctx.db, "live") == 10


def test_cli_deliver_dead_letters_and_retry(
    ctx: Context, receiver: Receiver, tmp_path: Path
) -> None:
    if ctx.db.is_postgres:
        pytest.skip("CLI wiring only (slow subprocesses): the database paths run on both above")
    seed(ctx)
    keys = add_notifications(ctx, 4)
    receiver.bad = keys[1]
    env = cli_env(tmp_path) | {"HOOK_SECRET": SECRET.decode()}
    base = [str(HELPDESK), "--db", ctx.db.url]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*base, *args], capture_output=True, env=env, timeout=60)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
        )

    hook = ["deliver", "--webhook", receiver.url, "--secret-env", "HOOK_SECRET", "--once",
            "--backoff", "0.01"]  # fmt: skip
    first = run(*hook)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("delivered 3, dead-lettered 1")
    listed = run("outbound", "--dead-letters", "--json")
    (letter,) = [json.loads(x) for x in listed.stdout.splitlines()]
    assert letter["record"] == keys[1] and letter["http_status"] == 400
    assert letter["consumer"] == "webhook" and letter["status"] == "dead"

    receiver.refuse_bad = False
    retry = run("outbound", "--retry", str(letter["id"]))
    assert retry.returncode == 0 and "queued" in retry.stdout
    second = run(*hook)
    assert second.returncode == 0 and "retried dead letters 1" in second.stdout
    assert receiver.accepted_ids == Counter({k: 1 for k in keys})

    no_secret = run("deliver", "--webhook", receiver.url, "--secret-env", "NOPE_UNSET", "--once")
    assert no_secret.returncode == 2 and "NOPE_UNSET" in no_secret.stderr
    assert "Traceback" not in no_secret.stderr


def test_retry_of_an_unknown_dead_letter_is_a_clear_error(ctx: Context) -> None:
    from helpdesk_tui.errors import NotFound

    with pytest.raises(NotFound, match="no dead letter #999"):
        outbound.retry_dead_letter(ctx, 999)


def test_bad_urls_are_one_clear_error() -> None:
    from helpdesk_tui.errors import InvalidInput

    for url in ("ftp://example.com/", "not a url", "http://"):
        with pytest.raises(InvalidInput):
            webhook.settings_from(url, "x")
    with pytest.raises(InvalidInput):
        webhook.settings_from("https://example.com/hook", "")
    assert os.environ.get("NOPE_UNSET") is None


def test_the_scheduler_deliver_job_pushes_the_stream_once(
    ctx: Context, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpdesk_tui.jobs import SchedulerJobs
    from helpdesk_tui.scheduler_settings import SchedulerSettings

    seed(ctx)
    keys = add_notifications(ctx, 5)
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())
    cfg = SchedulerSettings(webhook_url=receiver.url, webhook_secret_env="HOOK_SECRET")
    jobs = SchedulerJobs(ctx, cfg, ignore_leader=True)
    first = jobs.run("deliver")
    assert first.ok and "delivered 5" in first.line
    again = jobs.run("deliver")
    assert again.ok and "delivered 0" in again.line
    assert receiver.accepted_ids == Counter(dict.fromkeys(keys, 1))
    assert receiver.bad_signatures == 0
    unconfigured = SchedulerJobs(ctx, SchedulerSettings(), ignore_leader=True).run("deliver")
    assert unconfigured.ok and "skipped" in unconfigured.line
