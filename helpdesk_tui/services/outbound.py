"""The outbound stream: what the helpdesk says to marketplace parties, in commit order.

Producers (replies, auto-acknowledgements, FAQ suggestions, seller notifications, survey
requests) insert ``outbox`` rows with ``channel='outbound'`` inside their own transactions.
This module turns those rows into a stream of JSON records with a monotonic ``position``.

Positions: commit order, not id order
-------------------------------------
Ids are taken when a row is inserted, not when its transaction commits, so on PostgreSQL a
reader can see id 101 while id 100 is still uncommitted; a reader that resumed "after 101"
would skip 100 for ever. So ids are never positions. The *sequencer* numbers rows after they
committed: one write transaction, serialised (``pg_advisory_xact_lock`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already serialises writers), gives every committed, unnumbered
outbound row ``max(position) + 1, + 2, ...`` in id order. A row whose transaction commits
later simply gets a later position. Sequencing transactions become visible whole and in
order, so a reader never sees position ``n + 1`` before ``n``. Every reader runs the
sequencer before it reads (a cheap indexed check skips the write when nothing waits).
Positions may have gaps (a record that is filtered out) but never go back.

Consumers
---------
``outbound_consumers`` holds each named consumer's position: the highest position it has
*handled* (written and flushed to its output, or delivered/dead-lettered by a webhook). It
only moves forward, and only after the fact, so a consumer that dies resumes after the last
saved position: delivery is at least once, and the stable record ``id`` lets a receiver drop
repeats.

Live updates
------------
On PostgreSQL a trigger (migration 0004) NOTIFYs ``helpdesk_outbound`` when an outbound row
is inserted; followers LISTEN first, then catch up by query, and re-check every couple of
seconds (notifications sent while disconnected are lost). On SQLite followers poll.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, text, update
from sqlalchemy.orm import Session

from db.engine import Database
from db.enums import Kind
from db.models import (
    Attachment,
    Conversation,
    Message,
    OutboundConsumer,
    OutboundDeadLetter,
    OutboxItem,
)
from helpdesk_tui.services.context import Context

log = logging.getLogger(__name__)

#: The NOTIFY channel of the trigger on ``outbox`` (see migration 0004).
CHANNEL = "helpdesk_outbound"
TYPES = ("reply", "auto_ack", "faq_suggestion", "notification", "survey_request",
         "moderation_decision")  # fmt: skip
#: Rows numbered per sequencing transaction.
SEQUENCE_CHUNK = 10000
#: Dead-letter statuses.
DEAD, RETRY, RETRYING, DELIVERED = "dead", "retry", "retrying", "delivered"

_OUTBOX = cast(Table, OutboxItem.__table__)
_CONV = cast(Table, Conversation.__table__)
_MSG = cast(Table, Message.__table__)
_ATT = cast(Table, Attachment.__table__)
_CONSUMERS = cast(Table, OutboundConsumer.__table__)
_DEAD = cast(Table, OutboundDeadLetter.__table__)

#: Committed outbound rows without a position, oldest first, through the partial index
#: ``ix_outbox_unsequenced`` (literals, not parameters, so that both planners can use it;
#: SQLite is told to, else it prefers ``ix_outbox_position`` and walks every e-mail row).
_UNSEQUENCED = (
    "SELECT id FROM outbox{hint} WHERE channel = 'outbound' AND position IS NULL "
    "ORDER BY id LIMIT :chunk"
)
#: Numbers the next chunk after ``:base`` (the current maximum, read under the same lock).
#: It starts with UPDATE so that the driver reports the row count on both databases.
_SEQUENCE = """
    UPDATE outbox
    SET position = :base + numbered.n
    FROM (
        SELECT todo.id, row_number() OVER (ORDER BY todo.id) AS n
        FROM ({unsequenced}) AS todo
    ) AS numbered
    WHERE outbox.id = numbered.id
"""


def _unsequenced_sql(dialect: str) -> str:
    return _UNSEQUENCED.format(
        hint=" INDEXED BY ix_outbox_unsequenced" if dialect == "sqlite" else ""
    )


def _lock_key() -> int:
    from helpdesk_tui.leader import lock_key

    return lock_key("outbound-sequencer")


# -- sequencer -----------------------------------------------------------------------------------
def has_unsequenced(db: Database) -> bool:
    """Whether committed outbound rows wait for a position (one indexed read)."""
    with db.read() as s:
        sql = text(_unsequenced_sql(db.engine.dialect.name))
        return s.execute(sql, {"chunk": 1}).first() is not None


def sequence(db: Database, *, force: bool = False) -> int:
    """Number committed, unnumbered outbound rows in id order after ``max(position)``.

    Returns how many rows were numbered. Safe to run from any number of processes at once.
    """
    if not force and not has_unsequenced(db):
        return 0
    key = _lock_key()

    dialect = db.engine.dialect.name
    statement = text(_SEQUENCE.format(unsequenced=_unsequenced_sql(dialect)))

    def fn(s: Session) -> int:
        if dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        total = 0
        while True:
            base = int(s.scalar(select(func.coalesce(func.max(_OUTBOX.c.position), 0))) or 0)
            result = s.execute(statement, {"base": base, "chunk": SEQUENCE_CHUNK})
            n = int(getattr(result, "rowcount", 0) or 0)
            total += n
            if n < SEQUENCE_CHUNK:
                return total

    return db.write(fn)


def head(db: Database) -> int:
    """The highest position given so far (0 when none)."""
    with db.read() as s:
        return int(s.scalar(select(func.coalesce(func.max(_OUTBOX.c.position), 0))) or 0)


# -- records -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One outbound record and where it sits: ``record`` is what consumers receive."""

    position: int
    outbox_id: int
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["id"])

    def encode(self) -> bytes:
        return encode(self.record)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(record: dict[str, Any]) -> bytes:
    """Compact JSON (UTF-8, no trailing newline): the exact bytes of a line or a webhook body."""
    return _ENCODER.encode(record).encode("utf-8")


def recipient_role(kind: str | None) -> str:
    """The role of a conversation's requester as the intake contract names it."""
    return "buyer" if kind == Kind.BUYER_SELLER.value else "user"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _record(row: Any, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    (_id, position, key, type_, recipient, body, payload, created_at, _mid, conversation, kind,
     sent_at) = row  # fmt: skip
    if not isinstance(payload, dict):
        payload = {}
    agent = payload.get("agent")
    sender: dict[str, Any] = (
        {"agent": agent, "name": payload.get("name") or agent} if agent else {"system": True}
    )
    to = payload.get("to")
    if not isinstance(to, dict):
        to = {}
    record = {
        "id": key,
        "type": type_,
        "conversation": conversation,
        "to": {"id": to.get("id") or recipient, "role": to.get("role") or recipient_role(kind)},
        "from": sender,
        "body": body,
        "sent_at": _iso(sent_at or created_at),
        "attachments": attachments,
        "position": position,
    }
    moderation = payload.get("moderation")
    if type_ == "moderation_decision" and isinstance(moderation, dict):
        record["moderation"] = moderation
    return record


def _query() -> Any:
    return (
        select(
            _OUTBOX.c.id,
            _OUTBOX.c.position,
            _OUTBOX.c.idempotency_key,
            _OUTBOX.c.type,
            _OUTBOX.c.recipient,
            _OUTBOX.c.body,
            _OUTBOX.c.payload,
            _OUTBOX.c.created_at,
            _OUTBOX.c.message_id,
            _CONV.c.external_id.label("conversation"),
            _CONV.c.kind,
            _MSG.c.sent_at,
        )
        .select_from(
            _OUTBOX.outerjoin(_CONV, _CONV.c.id == _OUTBOX.c.conversation_id).outerjoin(
                _MSG, _MSG.c.id == _OUTBOX.c.message_id
            )
        )
        # an internal note never leaves the helpdesk, even if a producer queued one by mistake
        .where(
            _OUTBOX.c.channel == "outbound",
            or_(_MSG.c.id.is_(None), _MSG.c.internal.is_(False)),
        )
    )


def _entries(s: Session, rows: Sequence[Any]) -> list[Entry]:
    # row: (id, position, key, type, recipient, body, payload, created_at, message_id, ...)
    message_ids = [r[8] for r in rows if r[8] is not None and r[3] == "reply"]
    files: dict[int, list[dict[str, Any]]] = {}
    if message_ids:
        for a in s.execute(
            select(_ATT.c.message_id, _ATT.c.name, _ATT.c.mime_type, _ATT.c.size, _ATT.c.sha256)
            .where(_ATT.c.message_id.in_(message_ids))
            .order_by(_ATT.c.id)
        ):
            files.setdefault(a.message_id, []).append(
                {"name": a.name, "mime_type": a.mime_type, "size": a.size, "sha256": a.sha256}
            )
    return [
        Entry(r[1], r[0], _record(r, files.get(r[8], []) if files and r[3] == "reply" else []))
        for r in rows
    ]


def read(db: Database, after: int, limit: int = 1000) -> list[Entry]:
    """Sequenced records with ``position > after``, in position order (run ``sequence`` first)."""
    with db.read() as s:
        rows = s.execute(
            _query().where(_OUTBOX.c.position > after).order_by(_OUTBOX.c.position).limit(limit)
        ).all()
        return _entries(s, rows)


def read_by_outbox_ids(db: Database, ids: Iterable[int]) -> dict[int, Entry]:
    """Sequenced records by outbox id (for dead-letter retries)."""
    wanted = list(ids)
    if not wanted:
        return {}
    with db.read() as s:
        rows = s.execute(
            _query().where(_OUTBOX.c.id.in_(wanted), _OUTBOX.c.position.is_not(None))
        ).all()
        return {e.outbox_id: e for e in _entries(s, rows)}


# -- consumers -----------------------------------------------------------------------------------
def _insert_ignore(s: Session, table: Table, values: dict[str, Any], key: list[str]) -> None:
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    s.execute(stmt.values(**values).on_conflict_do_nothing(index_elements=key))


def ensure_consumer(ctx: Context, name: str) -> int:
    """Create the consumer at position 0 if it is new; its stored position."""
    name = check_consumer_name(name)
    now = ctx.now()

    def fn(s: Session) -> int:
        _insert_ignore(
            s,
            _CONSUMERS,
            {"name": name, "position": 0, "created_at": now, "updated_at": now},
            ["name"],
        )
        return int(s.scalar(select(_CONSUMERS.c.position).where(_CONSUMERS.c.name == name)) or 0)

    return ctx.db.write(fn)


def consumer_position(db: Database, name: str) -> int | None:
    """The stored position of a consumer (None when it does not exist)."""
    with db.read() as s:
        value = s.scalar(select(_CONSUMERS.c.position).where(_CONSUMERS.c.name == name))
        return None if value is None else int(value)


def save_position(ctx: Context, name: str, position: int) -> None:
    """Move a consumer forward to ``position`` (never backwards)."""
    now = ctx.now()
    ctx.db.write(
        lambda s: s.execute(
            update(_CONSUMERS)
            .where(_CONSUMERS.c.name == name, _CONSUMERS.c.position < position)
            .values(position=position, updated_at=now)
        )
    )


def reset_consumer(ctx: Context, name: str, position: int = 0) -> None:
    """Set a consumer's position, also backwards (``--from-start``)."""
    ensure_consumer(ctx, name)
    now = ctx.now()
    ctx.db.write(
        lambda s: s.execute(
            update(_CONSUMERS)
            .where(_CONSUMERS.c.name == name)
            .values(position=position, updated_at=now)
        )
    )


def check_consumer_name(name: str) -> str:
    from helpdesk_tui.errors import InvalidInput

    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput("a consumer name is 1-100 printable characters")
    return name


# -- dead letters --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    record_id: str
    position: int
    outbox_id: int
    status: str
    attempts: int
    http_status: int | None
    last_error: str
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "consumer": self.consumer,
            "record": self.record_id,
            "position": self.position,
            "status": self.status,
            "attempts": self.attempts,
            "http_status": self.http_status,
            "error": self.last_error,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def add_dead_letter(
    ctx: Context,
    consumer: str,
    entry: Entry,
    *,
    attempts: int,
    http_status: int | None,
    error: str,
) -> int:
    """Record that ``consumer`` gave up on ``entry`` (or that a retry failed again)."""
    now = ctx.now()

    def fn(s: Session) -> int:
        existing = s.execute(
            select(_DEAD.c.id, _DEAD.c.attempts).where(
                _DEAD.c.consumer == consumer, _DEAD.c.outbox_id == entry.outbox_id
            )
        ).first()
        values = {
            "status": DEAD,
            "http_status": http_status,
            "last_error": error[:500],
            "updated_at": now,
        }
        if existing is not None:
            s.execute(
                update(_DEAD)
                .where(_DEAD.c.id == existing.id)
                .values(attempts=existing.attempts + attempts, **values)
            )
            return int(existing.id)
        return int(
            s.execute(
                _DEAD.insert()
                .values(
                    consumer=consumer,
                    outbox_id=entry.outbox_id,
                    position=entry.position,
                    record_id=entry.id[:200],
                    attempts=attempts,
                    created_at=now,
                    **values,
                )
                .returning(_DEAD.c.id)
            ).scalar_one()
        )

    return ctx.db.write(fn)


def dead_letters(
    db: Database, consumer: str | None = None, *, include_delivered: bool = False
) -> list[DeadLetter]:
    """Dead letters, oldest first (``delivered`` ones only when asked)."""
    q = select(_DEAD).order_by(_DEAD.c.id)
    if consumer is not None:
        q = q.where(_DEAD.c.consumer == consumer)
    if not include_delivered:
        q = q.where(_DEAD.c.status != DELIVERED)
    with db.read() as s:
        return [
            DeadLetter(
                id=r.id,
                consumer=r.consumer,
                record_id=r.record_id,
                position=r.position,
                outbox_id=r.outbox_id,
                status=r.status,
                attempts=r.attempts,
                http_status=r.http_status,
                last_error=r.last_error,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in s.execute(q)
        ]


def retry_dead_letter(ctx: Context, dead_letter_id: int) -> DeadLetter:
    """Queue a dead letter for another delivery by its consumer's next ``deliver`` run."""
    from helpdesk_tui.errors import InvalidInput, NotFound

    now = ctx.now()

    def fn(s: Session) -> str:
        status = s.scalar(select(_DEAD.c.status).where(_DEAD.c.id == dead_letter_id))
        if status is None:
            raise NotFound(
                f"no dead letter #{dead_letter_id} (see `helpdesk outbound --dead-letters`)"
            )
        if status == DELIVERED:
            raise InvalidInput(f"dead letter #{dead_letter_id} was delivered already")
        if status == DEAD:
            s.execute(
                update(_DEAD)
                .where(_DEAD.c.id == dead_letter_id, _DEAD.c.status == DEAD)
                .values(status=RETRY, updated_at=now)
            )
        return str(status)

    ctx.db.write(fn)
    (letter,) = [d for d in dead_letters(ctx.db) if d.id == dead_letter_id]
    return letter


def claim_retries(ctx: Context, consumer: str, limit: int = 100) -> list[tuple[int, Entry]]:
    """Take the dead letters of ``consumer`` queued for retry: (dead letter id, entry)."""
    now = ctx.now()

    def fn(s: Session) -> list[tuple[int, int]]:
        rows = s.execute(
            select(_DEAD.c.id, _DEAD.c.outbox_id)
            .where(_DEAD.c.consumer == consumer, _DEAD.c.status == RETRY)
            .order_by(_DEAD.c.id)
            .limit(limit)
        ).all()
        claimed = []
        for r in rows:
            done = getattr(
                s.execute(
                    update(_DEAD)
                    .where(_DEAD.c.id == r.id, _DEAD.c.status == RETRY)
                    .values(status=RETRYING, updated_at=now)
                ),
                "rowcount",
                0,
            )
            if done:
                claimed.append((int(r.id), int(r.outbox_id)))
        return claimed

    if not _any_retry(ctx.db, consumer):
        return []
    claimed = ctx.db.write(fn)
    entries = read_by_outbox_ids(ctx.db, [o for _, o in claimed])
    return [(d, entries[o]) for d, o in claimed if o in entries]


def _any_retry(db: Database, consumer: str) -> bool:
    with db.read() as s:
        return (
            s.scalar(
                select(_DEAD.c.id)
                .where(_DEAD.c.consumer == consumer, _DEAD.c.status == RETRY)
                .limit(1)
            )
            is not None
        )


def finish_retry(
    ctx: Context, dead_letter_id: int, status: str, *, attempts: int = 0,
    http_status: int | None = None, error: str = "",
) -> None:  # fmt: skip
    """A claimed retry ended: ``delivered``, ``dead`` again, or back to ``retry``."""
    now = ctx.now()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status != DELIVERED:
        values.update(http_status=http_status, last_error=error[:500])
    ctx.db.write(
        lambda s: s.execute(
            update(_DEAD)
            .where(_DEAD.c.id == dead_letter_id)
            .values(attempts=_DEAD.c.attempts + attempts, **values)
        )
    )


# -- waiting for news ----------------------------------------------------------------------------
class Waiter:
    """Blocks until new outbound rows may exist: PostgreSQL LISTEN (with a catch-up every
    ``catchup_interval``), SQLite (or a lost listener) a poll every ``poll_interval``.

    Call ``start()`` *before* the first catch-up read, so nothing committed in between is
    missed; ``wait()`` returns early when ``stop`` is set."""

    def __init__(
        self,
        db: Database,
        stop: threading.Event,
        *,
        poll_interval: float = 0.5,
        catchup_interval: float = 2.0,
    ) -> None:
        self.db = db
        self.stop = stop
        self.poll_interval = poll_interval
        self.catchup_interval = catchup_interval
        self._conn: Any = None
        self._retry_at = 0.0

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def start(self) -> None:
        if not self.db.is_postgres or self._conn is not None:
            return
        if time.monotonic() < self._retry_at:
            return
        import psycopg

        from helpdesk_tui.leader import pg_conninfo

        try:
            conn = psycopg.connect(
                pg_conninfo(self.db.url),
                autocommit=True,
                connect_timeout=5,
                application_name="helpdesk-outbound",
            )
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("outbound: cannot LISTEN (%s); polling instead", exc)
            self._retry_at = time.monotonic() + 10
            return
        self._conn = conn

    def wait(self) -> bool:
        """Wait for news; True when woken by a notification (False: timeout or stop)."""
        if self._conn is None:
            self.start()
            if self._conn is not None:
                return True  # (re)connected: the caller catches up now
            self.stop.wait(self.poll_interval)
            return False
        import psycopg

        deadline = time.monotonic() + self.catchup_interval
        try:
            while not self.stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    self._conn.execute("SELECT 1")  # notifies() ends quietly on a lost link
                    return False
                got = False
                for _ in self._conn.notifies(timeout=min(0.25, left), stop_after=1):
                    got = True
                if got:
                    return True
        except psycopg.Error as exc:
            log.warning("outbound: listener lost (%s)", exc)
            self.close()
        return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


# -- the pull stream -----------------------------------------------------------------------------
@dataclass
class StreamReport:
    written: int = 0
    position: int = 0
    saved: int | None = None
    broken_pipe: bool = False


Writer = Callable[[bytes], None]


def stream(
    ctx: Context,
    write: Writer,
    *,
    consumer: str | None = None,
    from_start: bool = False,
    follow: bool = False,
    stop: threading.Event | None = None,
    batch: int = 1000,
    save_every: int = 1000,
    save_interval: float = 0.5,
    poll_interval: float = 0.5,
) -> StreamReport:
    """Write each record as one JSON line through ``write`` (which must flush), in position
    order; with ``consumer`` the stored position follows what ``write`` returned from.

    Start: a consumer's stored position (a new consumer starts at the beginning;
    ``from_start`` rewinds it); without a consumer, the beginning, or with ``follow`` the
    current end (``from_start`` for everything). ``follow`` waits for new records until
    ``stop`` is set. A ``BrokenPipeError`` from ``write`` ends the stream quietly.
    """
    stop = stop or threading.Event()
    db = ctx.db
    waiter = Waiter(db, stop, poll_interval=poll_interval) if follow else None
    if waiter is not None:
        waiter.start()  # LISTEN before the first read
    sequence(db)
    if consumer is not None:
        consumer = check_consumer_name(consumer)
        if from_start:
            reset_consumer(ctx, consumer, 0)
        position = ensure_consumer(ctx, consumer)
    else:
        position = head(db) if follow and not from_start else 0
    report = StreamReport(position=position, saved=position if consumer else None)
    unsaved = 0
    last_save = time.monotonic()

    def save() -> None:
        nonlocal unsaved, last_save
        if consumer is not None and report.saved != report.position:
            save_position(ctx, consumer, report.position)
            report.saved = report.position
        unsaved = 0
        last_save = time.monotonic()

    try:
        while not stop.is_set():
            entries = read(db, report.position, batch)
            for entry in entries:
                if stop.is_set():
                    break
                try:
                    write(entry.encode() + b"\n")
                except BrokenPipeError:
                    report.broken_pipe = True
                    return report
                report.position = entry.position  # only after the line was flushed
                report.written += 1
                unsaved += 1
                if unsaved >= save_every or time.monotonic() - last_save >= save_interval:
                    save()
            if len(entries) == batch:
                continue
            if consumer is not None and (unsaved or report.saved != report.position):
                save()
            if waiter is None:
                break
            waiter.wait()
            sequence(db)
        return report
    finally:
        if waiter is not None:
            waiter.close()
        try:
            save()
        except Exception as exc:  # the lines are out; a later run re-sends them (at least once)
            log.warning("outbound: could not save the consumer position: %s", exc)


__all__ = [
    "CHANNEL",
    "TYPES",
    "DeadLetter",
    "Entry",
    "StreamReport",
    "Waiter",
    "add_dead_letter",
    "claim_retries",
    "consumer_position",
    "dead_letters",
    "encode",
    "ensure_consumer",
    "finish_retry",
    "head",
    "read",
    "read_by_outbox_ids",
    "reset_consumer",
    "retry_dead_letter",
    "save_position",
    "sequence",
    "stream",
]
