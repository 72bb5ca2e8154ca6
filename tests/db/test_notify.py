"""The e-mail outbox against a real SMTP server on loopback (aiosmtpd): down then up delivers
each e-mail once, permanent rejections go dead, a crash mid-send is never resent."""

from __future__ import annotations

import email
import smtplib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message as MailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from db.models import OutboxItem
from helpdesk_tui.scheduler_settings import SchedulerSettings, SmtpSettings
from helpdesk_tui.services import notify
from helpdesk_tui.services.context import Context
from tests.db.test_sweep import must_ingest, n, rows, seed_people
from tests.factories import at, listing, message

SENDER = "helpdesk@example.com"


@dataclass
class Collector:
    """An aiosmtpd handler keeping every accepted message; refuses RCPT to bad@..."""

    messages: list[MailMessage] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:  # fmt: skip
        if address.startswith("bad@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """A loopback SMTP server that tests stop and start on a fixed port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Collector()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, sender=SENDER, timeout_s=5)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


def queue_mails(ctx: Context, recipients: list[str | None]) -> None:
    def fn(s: Any) -> None:
        for i, to in enumerate(recipients):
            notify.enqueue_email(
                s,
                key=f"email:test:{i}",
                to=to,
                subject=f"Test {i}\r\nBcc: evil@example.com",
                body=f"body {i} ✓",
                type="test",
                now=at(),
            )

    ctx.db.write(fn)


def status(ctx: Context) -> dict[str, str]:
    return {o.idempotency_key: o.status for o in rows(ctx, OutboxItem)}


def test_smtp_down_then_up_delivers_each_mail_once(ctx: Context, smtp_server: SmtpServer) -> None:
    queue_mails(ctx, ["a@example.com", "b@example.com", "c@example.com", None])
    smtp = smtp_server.settings

    down = notify.send_pending(ctx, smtp, at())  # nothing listens on the port
    assert (down.sent, down.failed) == (0, 1)
    (tried,) = [o for o in rows(ctx, OutboxItem) if o.attempts]
    assert tried.status == "failed" and tried.next_attempt_at == at(minutes=0.5)
    assert "Connection" in (tried.last_error or "") or "refused" in (tried.last_error or "")
    assert status(ctx)["email:test:3"] == "skipped"

    smtp_server.start()
    up = notify.send_pending(ctx, smtp, at(minutes=1))
    assert (up.sent, up.failed, up.dead) == (3, 0, 0)
    assert sorted(m["To"] for m in smtp_server.handler.messages) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    again = notify.send_pending(ctx, smtp, at(minutes=5))
    assert again.sent == 0 and len(smtp_server.handler.messages) == 3
    assert sorted(status(ctx).values()) == ["sent", "sent", "sent", "skipped"]

    mail = next(m for m in smtp_server.handler.messages if m["To"] == "a@example.com")
    assert mail["Message-ID"] == notify.message_id_for("email:test:0", SENDER)
    assert mail["X-Idempotency-Key"] == "email:test:0"
    assert mail["Subject"] == "Test 0 Bcc: evil@example.com"  # no header injection
    assert mail["Bcc"] is None
    assert "body 0 ✓" in mail.get_payload(decode=True).decode()


def test_backoff_grows_and_gives_up_after_max_attempts(ctx: Context) -> None:
    queue_mails(ctx, ["a@example.com"])
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), max_attempts=3, retry_base_s=10)
    when = at()
    waits = []
    for _ in range(3):
        notify.send_pending(ctx, smtp, when)
        (item,) = rows(ctx, OutboxItem)
        waits.append((item.next_attempt_at - when).total_seconds())
        when = item.next_attempt_at
    assert waits[:2] == [10, 20]
    (item,) = rows(ctx, OutboxItem)
    assert (item.status, item.attempts) == ("dead", 3)


def test_permanent_rejection_is_dead_and_temporary_is_retried(
    ctx: Context, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    queue_mails(ctx, ["bad@example.com", "busy@example.com", "ok@example.com"])
    report = notify.send_pending(ctx, smtp_server.settings, at())
    assert (report.sent, report.failed, report.dead) == (1, 1, 1)
    assert status(ctx) == {
        "email:test:0": "dead",
        "email:test:1": "failed",
        "email:test:2": "sent",
    }
    assert smtp_server.handler.ids() == [notify.message_id_for("email:test:2", SENDER)]


def test_crash_between_send_and_mark_is_never_resent(ctx: Context, smtp_server: SmtpServer) -> None:
    smtp_server.start()
    queue_mails(ctx, ["a@example.com"])
    smtp = smtp_server.settings
    # a scheduler claimed it (and maybe sent it), then died before recording "sent"
    claimed = ctx.db.write(lambda s: notify._claim(s, smtp, at()))
    assert claimed is not None
    assert notify.send_pending(ctx, smtp, at(minutes=1)).sent == 0  # still leased
    report = notify.send_pending(ctx, smtp, at(minutes=6))
    assert report.expired == 1 and report.sent == 0
    (item,) = rows(ctx, OutboxItem)
    assert item.status == "dead" and "delivery unknown" in (item.last_error or "")
    assert smtp_server.handler.messages == []


def test_connection_lost_during_data_is_not_retried(ctx: Context) -> None:
    class Flaky(smtplib.SMTP):
        def __init__(self) -> None:
            super().__init__()

        def mail(self, *a: Any, **k: Any) -> tuple[int, bytes]:
            return 250, b"ok"

        def rcpt(self, *a: Any, **k: Any) -> tuple[int, bytes]:
            return 250, b"ok"

        def data(self, msg: Any) -> tuple[int, bytes]:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    queue_mails(ctx, ["a@example.com"])
    smtp = SmtpSettings(host="127.0.0.1", port=1)
    report = notify.send_pending(ctx, smtp, at(), connector=lambda _cfg: Flaky())
    assert report.unknown == 1
    (item,) = rows(ctx, OutboxItem)
    assert item.status == "dead" and item.last_error.startswith("delivery unknown")
    assert notify.send_pending(ctx, smtp, at(hours=1), connector=lambda _cfg: Flaky()).unknown == 0


def test_unconfigured_smtp_leaves_mail_pending(ctx: Context) -> None:
    queue_mails(ctx, ["a@example.com"])
    report = notify.send_pending(ctx, SmtpSettings(), at())
    assert "not configured" in report.line() and status(ctx) == {"email:test:0": "pending"}


def test_sellers_hear_of_new_inquiries_once(ctx: Context, smtp_server: SmtpServer) -> None:
    seed_people(ctx)
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0,
                body="Is the bike still available?"),
    )  # fmt: skip
    smtp_server.start()
    cfg = SchedulerSettings(smtp=SmtpSettings(**{**smtp_server.settings.__dict__,
                                                 "party_domain": "relay.example.com"}))  # fmt: skip
    report = notify.notify_new_inquiries(ctx, cfg, at(minutes=1))
    assert (report.notified, report.emails) == (1, 1)
    assert notify.notify_new_inquiries(ctx, cfg, at(minutes=2)).notified == 0
    assert n(ctx, OutboxItem, OutboxItem.type == "notification") == 1
    assert notify.send_pending(ctx, cfg.smtp, at(minutes=2)).sent == 1
    (mail,) = smtp_server.handler.messages
    assert mail["To"] == "u-9@relay.example.com"
    assert "Is the bike still available?" in mail.get_payload(decode=True).decode()
    assert at(minutes=2) - at(minutes=1) == timedelta(minutes=1)
