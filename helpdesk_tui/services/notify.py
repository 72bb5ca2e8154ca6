"""Notifications: the outbox (e-mail and outbound records) and its delivery over SMTP.

Entry points
------------
Inside a write transaction, to queue something (both return the new row id, or None when the
idempotency key already exists — the caller then does nothing more)::

    enqueue_email(session, key=..., to="lead@example.com", subject=..., body=..., type=..., now=now)
    enqueue_outbound(session, key=..., type="notification", recipient="<party external id>", ...)

From the scheduler (any number of processes at once)::

    send_pending(ctx, smtp_settings, now)          # -> SendReport
    notify_new_inquiries(ctx, sched_settings, now)  # sellers told about new buyer inquiries

Delivery guarantee: at most once, with a stable Message-ID
----------------------------------------------------------
An e-mail is *claimed* before it is sent: a conditional ``UPDATE outbox SET status='sending'
WHERE id=... AND status IN ('pending','failed') AND next_attempt_at <= now`` is committed first
(PostgreSQL picks the row with ``FOR UPDATE SKIP LOCKED``), so two schedulers never both send
it. After the SMTP server accepts it, the row is marked ``sent``.

Failures that certainly did not deliver (no connection, TLS/login refused, the server
rejecting MAIL, RCPT or the message with a 4xx/5xx reply) go back to ``failed`` with an
exponential backoff (``retry_base * 2**(attempt-1)`` capped at ``retry_max``), or to ``dead`` on
a permanent 5xx reply or after ``max_attempts``.

The window that cannot be closed is a crash (or lost connection) after the server may have
accepted the message and before ``sent`` is recorded. We choose **at most once** there, as
the issue asks ("never sent twice"): a claim whose lease (``sending_timeout``) ran out, and a
connection lost while the message data was in flight, become ``dead`` with the reason
"delivery unknown", visible for a human to check and retry — never resent automatically.
Every message carries ``Message-ID: <sha256(idempotency key)@sender domain>`` and
``X-Idempotency-Key``, so a manual retry (or any resend) is recognisable as the same message
by a receiving MTA or mail client that dedupes on Message-ID.

Parties without an e-mail address: with ``[smtp] party_domain`` set, a party's address is
``<external id>@<party_domain>`` (a marketplace relay); otherwise the e-mail is recorded with
status ``skipped`` (and the outbound record still goes to the marketplace).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import String, Table, and_, exists, literal, select, true, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from db.bulk import insert_ignore_rows
from db.enums import Kind, Status
from db.models import Conversation, Message, OutboxItem
from helpdesk_tui.scheduler_settings import SchedulerSettings, SmtpSettings
from helpdesk_tui.services.context import Context

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, DEAD, SKIPPED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "dead",
    "skipped",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


def table(model: Any) -> Table:
    """The Core table of a mapped class (for Core INSERT/UPDATE ... RETURNING)."""
    return typing_cast(Table, model.__table__)


# -- queueing ------------------------------------------------------------------------------------
def insert_ignore(
    session: Session, table: Any, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING id``: the new id or None."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    stmt = stmt.values(**values).on_conflict_do_nothing(index_elements=conflict)
    return session.execute(stmt.returning(table.c.id)).scalar()


def _dialect_insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_ignore_many(
    session: Session,
    table: Any,
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: list[str],
) -> list[Any]:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING ...`` for many rows with one
    statement (``db.bulk.insert_ignore_rows``): the ``returning`` columns of the rows actually
    inserted. A conflicting row returns nothing, so callers identify rows by their own
    columns, not by position. Rows carry every column they set (no Python-side defaults)."""
    if not rows:
        return []
    session.flush()
    return insert_ignore_rows(session.connection(), table, rows, conflict, returning)


#: Every outbox column a queued row sets; rows of both kinds get all of them, so that a mix of
#: e-mails and outbound records is one statement (the model's Python-side defaults included:
#: the bulk insert does not apply them).
_OUTBOX_DEFAULTS: dict[str, Any] = {
    "message_id": None,
    "subject": "",
    "last_error": None,
    "attempts": 0,
}


def enqueue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue rows built by :func:`email_row` / :func:`outbound_row` in one statement, each once
    per idempotency key (an existing key is left alone, as ``enqueue_email`` does)."""
    if not rows:
        return
    insert_ignore_many(session, table(OutboxItem), outbox_rows(rows), ["idempotency_key"], [])


def outbox_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`enqueue_many`'s table rows (every column set), for a caller inserting them
    itself (a pipeline), each once per ``idempotency_key``."""
    return [{**_OUTBOX_DEFAULTS, **r} for r in rows]


def header_text(value: str, limit: int = 200) -> str:
    """One line, no control characters: safe for a Subject header."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def party_address(email: str | None, external_id: str, smtp: SmtpSettings) -> str | None:
    """A party's e-mail address, or ``<id>@party_domain`` when configured, else None."""
    if email and "@" in email:
        return email
    if smtp.party_domain and _LOCAL_PART.match(external_id):
        return f"{external_id}@{smtp.party_domain}"
    return None


def enqueue_email(
    session: Session,
    *,
    key: str,
    to: str | None,
    subject: str,
    body: str,
    type: str,
    now: datetime,
    conversation_id: int | None = None,
    payload: dict[str, Any] | None = None,
    missing: str = "no e-mail address",
) -> int | None:
    """Queue one e-mail once per ``key``; without an address it is recorded as skipped."""
    return insert_ignore(
        session,
        table(OutboxItem),
        email_row(key=key, to=to, subject=subject, body=body, type=type, now=now,
                  conversation_id=conversation_id, payload=payload, missing=missing),
        ["idempotency_key"],
    )  # fmt: skip


def email_row(
    *,
    key: str,
    to: str | None,
    subject: str,
    body: str,
    type: str,
    now: datetime,
    conversation_id: int | None = None,
    payload: dict[str, Any] | None = None,
    missing: str = "no e-mail address",
) -> dict[str, Any]:
    """The outbox row of one e-mail (see :func:`enqueue_email`, :func:`enqueue_many`)."""
    return {
        "idempotency_key": key[:200],
        "channel": "email",
        "type": type,
        "conversation_id": conversation_id,
        "recipient": (to or "")[:320],
        "subject": header_text(subject, 500),
        "body": body,
        "payload": payload,
        "status": PENDING if to else SKIPPED,
        "last_error": None if to else missing[:500],
        "next_attempt_at": now,
        "created_at": now,
    }


def enqueue_outbound(
    session: Session,
    *,
    key: str,
    type: str,
    recipient: str,
    body: str,
    now: datetime,
    conversation_id: int | None = None,
    message_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> int | None:
    """Queue one outbound record (for the marketplace) once per ``key``."""
    return insert_ignore(
        session,
        table(OutboxItem),
        outbound_row(key=key, type=type, recipient=recipient, body=body, now=now,
                     conversation_id=conversation_id, message_id=message_id, payload=payload),
        ["idempotency_key"],
    )  # fmt: skip


def outbound_row(
    *,
    key: str,
    type: str,
    recipient: str,
    body: str,
    now: datetime,
    conversation_id: int | None = None,
    message_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The outbox row of one outbound record (see :func:`enqueue_outbound`)."""
    return {
        "idempotency_key": key[:200],
        "channel": "outbound",
        "type": type,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "recipient": recipient[:320],
        "body": body,
        "payload": payload,
        "status": PENDING,
        "next_attempt_at": now,
        "created_at": now,
    }


# -- seller notices for new buyer inquiries ------------------------------------------------------
@dataclass
class InquiryReport:
    notified: int = 0
    emails: int = 0
    failed: dict[int, str] = field(default_factory=dict)

    def line(self) -> str:
        text = f"notified {self.notified} seller(s) of new inquiries ({self.emails} e-mail(s))"
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def inquiry_key(conv_id: int) -> str:
    return f"inquiry:{conv_id}"


def notify_new_inquiries(ctx: Context, cfg: SchedulerSettings, now: datetime) -> InquiryReport:
    """Tell the seller (outbound notification + e-mail) about each new buyer inquiry, once."""
    from helpdesk_tui.services.sweep import run_per_item

    key_expr = literal("inquiry:") + sql_cast(Conversation.id, String)
    since = now - timedelta(seconds=cfg.new_window_s)
    with ctx.db.read() as s:
        ids = list(
            s.scalars(
                select(Conversation.id)
                .where(
                    Conversation.kind == Kind.BUYER_SELLER.value,
                    Conversation.status == Status.NEW.value,
                    Conversation.is_open == true(),
                    Conversation.counterpart_id.is_not(None),
                    Conversation.first_message_at >= since,
                    Conversation.first_message_at <= now,
                    ~exists().where(OutboxItem.idempotency_key == key_expr),
                )
                .order_by(Conversation.id)
            )
        )
    report = InquiryReport()
    mailed: dict[int, bool] = {}

    def one(s: Session, conv_id: int) -> bool:
        conv = s.get(Conversation, conv_id)
        if conv is None or conv.counterpart is None or conv.status != Status.NEW.value:
            return False
        seller = conv.counterpart
        title = conv.listing.title if conv.listing else conv.subject
        first = s.scalar(
            select(Message.body)
            .where(Message.conversation_id == conv_id, Message.internal.is_(False))
            .order_by(Message.sent_at, Message.id)
            .limit(1)
        )
        body = (
            f'A buyer wrote to you about your listing "{title}":\n\n{(first or "")[:1000]}\n\n'
            "Please reply within 4 hours; after that our support team steps in."
        )
        made = enqueue_outbound(
            s,
            key=inquiry_key(conv_id),
            type="notification",
            recipient=seller.external_id,
            body=body,
            now=now,
            conversation_id=conv_id,
            payload={"system": True, "to": {"id": seller.external_id, "role": "seller"},
                     "reason": "new_inquiry"},
        )  # fmt: skip
        if made is None:
            return False  # another scheduler did it
        address = party_address(seller.email, seller.external_id, cfg.smtp)
        mailed[conv_id] = address is not None
        enqueue_email(
            s,
            key=f"email:inquiry:{conv_id}",
            to=address,
            subject=f"New message about your listing: {title}",
            body=body,
            type="new_inquiry",
            now=now,
            conversation_id=conv_id,
            missing=f"seller {seller.external_id} has no e-mail address",
        )
        return True

    result = run_per_item(ctx, ids, one)
    report.notified = len(result.done)
    report.emails = sum(1 for i in result.done if mailed.get(i))
    report.failed = result.failed
    return report


# -- sending -------------------------------------------------------------------------------------
class DeliveryUnknown(Exception):
    """The connection died while the message was in flight: it may have been delivered."""


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    unknown: int = 0
    expired: int = 0
    note: str = ""

    def line(self) -> str:
        if self.note:
            return self.note
        parts = [f"sent {self.sent}", f"retry later {self.failed}", f"dead {self.dead}"]
        if self.unknown or self.expired:
            parts.append(f"delivery unknown {self.unknown + self.expired}")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Claimed:
    id: int
    key: str
    recipient: str
    subject: str
    body: str
    attempts: int


def message_id_for(key: str, sender: str) -> str:
    """A stable Message-ID for an idempotency key: resends are recognisably the same mail."""
    domain = sender.rsplit("@", 1)[1] if "@" in sender else "helpdesk.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def build_message(
    item: _Claimed, smtp: SmtpSettings, now: datetime, sender_name: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, smtp.sender)) if sender_name else smtp.sender
    msg["To"] = item.recipient
    msg["Subject"] = header_text(item.subject, 500) or "(no subject)"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id_for(item.key, smtp.sender)
    msg["X-Idempotency-Key"] = header_text(item.key)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(item.body)
    return msg


def _expire_stale(ctx: Context, now: datetime) -> int:
    """Claims whose lease ran out belong to a process that died: delivery unknown -> dead."""

    def fn(s: Session) -> int:
        rows = s.execute(
            update(table(OutboxItem))
            .where(
                OutboxItem.channel == "email",
                OutboxItem.status == SENDING,
                OutboxItem.next_attempt_at <= now,
            )
            .values(
                status=DEAD,
                last_error="delivery unknown: the sender stopped while sending; not resent "
                "automatically (at most once) - check the recipient, then retry by hand",
            )
            .returning(OutboxItem.id)
        ).all()
        return len(rows)

    return ctx.db.write(fn)


def _claim(s: Session, smtp: SmtpSettings, now: datetime) -> _Claimed | None:
    t = table(OutboxItem)
    due = and_(
        OutboxItem.channel == "email",
        OutboxItem.status.in_((PENDING, FAILED)),
        OutboxItem.next_attempt_at <= now,
    )
    pick = (
        select(OutboxItem.id)
        .where(due)
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = s.execute(
        update(t)
        .where(OutboxItem.id == pick, due)
        .values(
            status=SENDING,
            attempts=OutboxItem.attempts + 1,
            next_attempt_at=now + timedelta(seconds=smtp.sending_timeout_s),
        )
        .returning(
            OutboxItem.id,
            OutboxItem.idempotency_key,
            OutboxItem.recipient,
            OutboxItem.subject,
            OutboxItem.body,
            OutboxItem.attempts,
        )
    ).first()
    return _Claimed(*row) if row else None


def _mark_sent(s: Session, item_id: int, now: datetime) -> None:
    s.execute(
        update(table(OutboxItem))
        .where(OutboxItem.id == item_id, OutboxItem.status != SENT)
        .values(status=SENT, sent_at=now, last_error=None)
    )


def _mark_failed(
    s: Session, item: _Claimed, error: str, *, permanent: bool, smtp: SmtpSettings, now: datetime
) -> str:
    dead = permanent or item.attempts >= smtp.max_attempts
    status = DEAD if dead else FAILED
    s.execute(
        update(table(OutboxItem))
        .where(OutboxItem.id == item.id, OutboxItem.status == SENDING)
        .values(
            status=status,
            last_error=error[:500],
            next_attempt_at=now + timedelta(seconds=0 if dead else smtp.backoff_s(item.attempts)),
        )
    )
    return status


def _mark_unknown(s: Session, item: _Claimed, error: str) -> None:
    s.execute(
        update(table(OutboxItem))
        .where(OutboxItem.id == item.id, OutboxItem.status == SENDING)
        .values(status=DEAD, last_error=f"delivery unknown: {error}"[:500])
    )


def connect(smtp: SmtpSettings) -> smtplib.SMTP:
    """An authenticated SMTP connection as configured."""
    assert smtp.host
    context = ssl.create_default_context()
    conn: smtplib.SMTP
    if smtp.tls == "ssl":
        conn = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
    else:
        conn = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    try:
        conn.ehlo()
        if smtp.tls == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if smtp.username:
            conn.login(smtp.username, smtp.password() or "")
    except BaseException:
        conn.close()
        raise
    return conn


def deliver(conn: smtplib.SMTP, msg: EmailMessage, sender: str, recipient: str) -> None:
    """MAIL, RCPT, DATA step by step, so that a failure before the data is known to be safe."""
    code, resp = conn.mail(sender)
    if code != 250:
        conn.rset()
        raise smtplib.SMTPSenderRefused(code, resp, sender)
    code, resp = conn.rcpt(recipient)
    if code not in (250, 251):
        conn.rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, resp)})
    try:
        code, resp = conn.data(msg.as_bytes())
    except smtplib.SMTPResponseException:
        raise  # the server answered with an error: certainly not accepted
    except OSError as exc:  # includes SMTPServerDisconnected and timeouts
        raise DeliveryUnknown(f"connection lost during DATA: {exc}") from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, resp)


def _classify(exc: BaseException) -> tuple[str, bool, bool]:
    """(error text, permanent?, connection-level?) for a failure that did not deliver."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, resp = next(iter(exc.recipients.values()), (451, b""))
        text = resp.decode(errors="replace") if isinstance(resp, bytes) else str(resp)
        return f"recipient refused: {code} {text}", code >= 500, False
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)  # fmt: skip
        connection = isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPConnectError)
        permanent = exc.smtp_code >= 500 and not connection
        return f"{type(exc).__name__}: {exc.smtp_code} {text}", permanent, connection
    return f"{type(exc).__name__}: {exc}", False, True


def send_pending(
    ctx: Context,
    smtp: SmtpSettings,
    now: datetime,
    *,
    limit: int = 200,
    sender_name: str = "",
    connector: Callable[[SmtpSettings], smtplib.SMTP] = connect,
) -> SendReport:
    """Send due e-mails one at a time (claim, send, mark); safe with many processes at once."""
    report = SendReport()
    report.expired = _expire_stale(ctx, now)
    if not smtp.configured:
        with ctx.db.read() as s:
            waiting = len(
                s.scalars(
                    select(OutboxItem.id)
                    .where(OutboxItem.channel == "email", OutboxItem.status.in_((PENDING, FAILED)))
                    .limit(10000)
                ).all()
            )
        report.note = f"smtp not configured ([smtp] host): {waiting} e-mail(s) waiting"
        return report
    conn: smtplib.SMTP | None = None
    try:
        for _ in range(limit):
            item = ctx.db.write(lambda s: _claim(s, smtp, now))
            if item is None:
                break
            try:
                if conn is None:
                    conn = connector(smtp)
                deliver(conn, build_message(item, smtp, now, sender_name), smtp.sender,
                        item.recipient)  # fmt: skip
            except DeliveryUnknown as exc:
                log.warning("e-mail %s: %s", item.key, exc)
                ctx.db.write(lambda s, i=item, e=str(exc): _mark_unknown(s, i, e))  # type: ignore[misc]
                report.unknown += 1
                _drop(conn)
                conn = None
                continue
            except Exception as exc:
                text, permanent, connection = _classify(exc)
                status = ctx.db.write(
                    lambda s, i=item, t=text, p=permanent: _mark_failed(  # type: ignore[misc]
                        s, i, t, permanent=p, smtp=smtp, now=now
                    )
                )
                if status == DEAD:
                    report.dead += 1
                else:
                    report.failed += 1
                if connection:  # the server is unreachable: try again next run
                    _drop(conn)
                    conn = None
                    break
                continue
            ctx.db.write(lambda s, i=item.id: _mark_sent(s, i, now))  # type: ignore[misc]
            report.sent += 1
    finally:
        _drop(conn)
    return report


def _drop(conn: smtplib.SMTP | None) -> None:
    """Close a connection, politely if possible."""
    if conn is None:
        return
    try:
        conn.quit()
    except Exception:
        with contextlib.suppress(Exception):
            conn.close()


__all__ = [
    "DEAD",
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "SKIPPED",
    "InquiryReport",
    "SendReport",
    "build_message",
    "connect",
    "deliver",
    "email_row",
    "enqueue_email",
    "enqueue_many",
    "enqueue_outbound",
    "header_text",
    "insert_ignore",
    "insert_ignore_many",
    "message_id_for",
    "notify_new_inquiries",
    "outbound_row",
    "outbox_rows",
    "party_address",
    "send_pending",
]
