"""Intake: JSON Lines from the marketplace into the database, in batches, idempotently."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import filetype
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.bulk import (
    SQLITE_JSON,
    StaleRows,
    allocate_ids,
    in_json,
    insert_later,
    insert_rows,
    update_rows,
)
from db.engine import sqlite_path
from db.enums import Kind, MessageRole, Priority, Status, Via
from db.models import (
    Agent,
    Attachment,
    Conversation,
    ConversationEvent,
    Feedback,
    Flag,
    Listing,
    Message,
    Party,
    Team,
)
from helpdesk_tui.services import live, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.gc_pause import gc_paused
from helpdesk_tui.services.intake_parse import (
    AttachmentIn,
    FeedbackIn,
    FlagIn,
    Limits,
    ListingIn,
    MessageIn,
    PartyIn,
    Record,
    Rejected,
    parse_line,
)
from helpdesk_tui.sla.clocks import ConversationFacts, MessageFact, StatusFact

_ROLE = {
    "user": MessageRole.CUSTOMER,
    "buyer": MessageRole.CUSTOMER,
    "seller": MessageRole.SELLER,
    "agent": MessageRole.AGENT,
}


@dataclass
class IngestSummary:
    """What an intake run did."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    conversation_ids: set[int] = field(default_factory=set)
    message_ids: list[int] = field(default_factory=list)

    def line(self) -> str:
        return f"accepted {self.accepted}, duplicates {self.duplicates}, rejected {self.rejected}"

    def as_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


RejectHandler = Callable[[int, bytes, str], None]
#: Parsed lines of one batch, and a line rejected (number, raw, reason).
_Batch = list[tuple["Record", bytes]]
_Reject = tuple[int, bytes, str]
#: The interpreter's thread switch interval during an overlapped run (see _run_overlapped):
#: the writing thread waits up to this long for the interpreter lock after each statement
#: (at 1 ms: 17% of its time at 1,000,000 records on SQLite, where it is the bound).
_SWITCH_INTERVAL = 0.0001
log = logging.getLogger(__name__)
_switching_lock = threading.Lock()
_switching = [0, 0.0]  # overlapped runs going on, the interval before the first


def _fast_switching(on: bool) -> None:
    with _switching_lock:
        if on:
            if _switching[0] == 0:
                _switching[1] = sys.getswitchinterval()
                sys.setswitchinterval(min(_switching[1], _SWITCH_INTERVAL))
            _switching[0] += 1
        else:
            _switching[0] -= 1
            if _switching[0] == 0:
                sys.setswitchinterval(_switching[1])


class IdsTaken(Exception):
    """SQLite: the ids a batch prepared ahead allocated were taken by another writer before
    it was written (it is landed again)."""


def _relax_checkpoints(relaxed: set[Any], conn: Connection) -> None:
    """Overlapped SQLite run: this connection's commits checkpoint the WAL only once it
    holds ``_SQLITE_RUN_CHECKPOINT`` pages (instead of 1,000: a checkpoint after every commit
    copied each batch's pages to the database file again, a quarter of the writing thread's
    time at 1,000,000 records); put back when the run ends (``relaxed`` collects the DBAPI
    connections)."""
    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {_SQLITE_RUN_CHECKPOINT}")
    relaxed.add(conn.connection.dbapi_connection)


def _no_pause() -> None:
    pass


@dataclass
class _Outcome:
    accepted: int = 0
    duplicates: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    conversation_ids: set[int] = field(default_factory=set)
    messages: list[_Msg] = field(default_factory=list)


class Intake:
    """Feeds batches of parsed lines into the database; reports every rejected line."""

    def __init__(self, ctx: Context, on_reject: RejectHandler | None = None) -> None:
        self.ctx = ctx
        self.summary = IngestSummary()
        self.on_reject = on_reject or (lambda line, raw, reason: None)
        s = ctx.settings
        self.limits = Limits(s.body_limit_bytes, s.attachment_limit_bytes)
        self._pending: list[tuple[Record, bytes]] = []
        #: held by the writing thread of an overlapped SQLite run (see _BatchWriter.gate)
        self._gate: threading.Lock | None = None
        self._relaxed: set[Any] | None = None  # see _relax_checkpoints
        #: when a WAL truncation that gave up is tried again (time.monotonic; see _bound_wal)
        self._wal_retry_at = 0.0

    def feed(self, raw: bytes, line: int) -> None:
        """Take one raw line; commits when a batch is full."""
        try:
            record = parse_line(raw, line, self.limits)
        except Rejected as exc:
            self._reject(line, raw, str(exc))
            return
        if record is not None:
            self._pending.append((record, raw))
        if len(self._pending) >= self.ctx.settings.intake_batch:
            self.flush()

    def run(self, lines: Iterable[bytes]) -> IngestSummary:
        """Ingest every line (a file's): batch after batch, each committed whole; each batch
        prepared while the one before it is written (see :meth:`_run_overlapped`) unless
        ``[intake] overlap`` is false."""
        # Parsing allocates as much as writing (see gc_paused): no collection in the whole
        # run (measured: a few dozen objects in reference cycles a batch, from SQLAlchemy's
        # sessions, collected once the run ends).
        with gc_paused():
            batches = self._batches(lines)
            if not self._overlap():
                for batch, rejects in batches:
                    self._land(batch, rejects)
            else:
                self._run_overlapped(batches)
        return self.summary

    def _overlap(self) -> bool:
        # an in-memory SQLite database is one per connection: the writing thread's would be empty
        if not self.ctx.db.is_postgres and sqlite_path(self.ctx.db.url) is None:
            return False
        return bool(self.ctx.settings.intake_overlap)

    def _pause(self) -> None:
        """Overlapped SQLite run: wait while the writing thread runs Python of its own (see
        :attr:`_BatchWriter.gate`); otherwise nothing."""
        gate = self._gate
        if gate is not None:
            gate.acquire()
            gate.release()

    def _batches(self, lines: Iterable[bytes]) -> Iterator[tuple[_Batch, list[_Reject]]]:
        """The parsed lines a batch at a time, with the lines rejected by parsing among them."""
        size = self.ctx.settings.intake_batch
        batch: _Batch = []
        rejects: list[_Reject] = []
        pause = self._pause
        for number, raw in enumerate(lines, start=1):
            if not number & 127:
                pause()
            raw = raw.rstrip(b"\r\n")
            try:
                record = parse_line(raw, number, self.limits)
            except Rejected as exc:
                rejects.append((number, raw, str(exc)))
                continue
            if record is not None:
                batch.append((record, raw))
            if len(batch) >= size:
                yield batch, rejects
                batch, rejects = [], []
        if batch or rejects:
            yield batch, rejects

    def _run_overlapped(self, batches: Iterable[tuple[_Batch, list[_Reject]]]) -> None:
        """Each batch is prepared (preload, walk, ids, clocks, rows: this thread's CPU,
        :meth:`_BatchWriter.prepare`) while the batch before it is written and committed by a
        second thread on its own connection (PostgreSQL: the server's CPU; SQLite: the
        library's, which runs without the interpreter lock): the two run side by side on two
        cores instead of one after the other.

        SQLite: the preparation reads without the write lock (WAL), so a console's write
        waits only for the writing; the ids prepared ahead are checked before the write
        (another writer may have taken them: :class:`IdsTaken`, landed again), the writing
        thread's Python beyond its statements runs under :attr:`_gate`, and its connection
        checkpoints rarely (see :func:`_relax_checkpoints`, :meth:`_bound_wal`).

        The batch being prepared reads what is committed, with what the batch in flight
        stores put over it (:class:`_Carried`); so at most one batch is in flight, and the one
        before it has committed. Should the batch in flight fail (a concurrent intake stored
        the same ids, a value the database refuses, a lost connection), it is landed again as
        :meth:`flush` lands a batch, and so is the batch prepared on its word; then the run
        goes on overlapped. Rejected lines are reported batch by batch, in line order."""
        _fast_switching(True)
        if not self.ctx.db.is_postgres:
            self._gate = threading.Lock()
            self._relaxed = set()
        inflight: tuple[Future[_Outcome], _Batch, list[_Reject]] | None = None
        carried: _Carried | None = None
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="intake-writer") as pool:
                for batch, rejects in batches:
                    writer: _BatchWriter | None = None
                    if batch:
                        try:
                            writer = self._prepared(batch, carried)
                        except Exception:  # landed the ordinary way below, which reports
                            log.info(
                                "preparing a batch failed: landing it the ordinary way",
                                exc_info=True,
                            )
                    if inflight is not None:
                        settling = inflight
                        wait([settling[0]])  # interrupted: reported below, still in flight
                        inflight = None
                        if not self._settle(*settling):
                            writer = None  # prepared on the word of a batch that did not land
                    if writer is None:
                        self._land(batch, rejects)
                        carried = None
                        continue
                    carried = writer.carried()  # before the writing thread uses the writer
                    inflight = (pool.submit(self._commit, writer), batch, rejects)
                if inflight is not None:
                    settling = inflight
                    wait([settling[0]])
                    inflight = None
                    self._settle(*settling)
        except BaseException:
            # The run stops (Ctrl-C, the caller's lines raised, a report failed) with a batch
            # in flight: its commit goes on (the pool waits for it), so report it if it
            # committed, as a serial run reports every batch it committed; not landed again.
            if inflight is not None:
                future, batch, rejects = inflight
                try:
                    outcome = future.result()
                except BaseException:
                    pass
                else:
                    self._merge(outcome, batch, rejects)
            raise
        finally:
            self._gate = None
            relaxed, self._relaxed = self._relaxed or set(), None
            for dbapi in relaxed:  # back to SQLite's default (see _relax_checkpoints)
                with suppress(Exception):  # closed meanwhile (invalidated): nothing to put back
                    dbapi.execute("PRAGMA wal_autocheckpoint = 1000")
            _fast_switching(False)

    def _prepared(self, batch: _Batch, carried: _Carried | None) -> _BatchWriter:
        with self.ctx.db.read() as session:
            writer = _BatchWriter(self.ctx, session)
            writer.gate = self._gate
            writer.pause = self._pause
            writer.relaxed = self._relaxed
            writer.prepare(batch, carried)
        return writer

    def _commit(self, writer: _BatchWriter) -> _Outcome:
        # No retry here: a prepared batch's writes run once (a retry lands it afresh).
        with gc_paused():
            outcome = self.ctx.db.write(writer.write, retries=0)
        if self._relaxed is not None:
            try:  # the batch has committed: a failing checkpoint must not make it look failed
                self._bound_wal()
            except Exception:
                log.warning("truncating the WAL after a batch failed", exc_info=True)
        return outcome

    def _bound_wal(self) -> None:
        """Overlapped SQLite run, after a commit: once the WAL file outgrows
        ``_SQLITE_WAL_BOUND``, checkpoint all of it and truncate it. The relaxed checkpoints
        alone cannot start the WAL over while the preparing thread reads (its snapshot holds
        the frames after it), so the file would keep growing.

        The truncation waits until no reader uses the WAL, and holds the write lock while it
        waits, so every other writer (a console's reply) waits too. It waits
        ``_SQLITE_TRUNCATE_WAIT_MS`` at most (usually for the preparing thread's read to
        end), not the 30 s busy timeout; when a reader stays longer (a console's long read),
        it is tried again only ``_SQLITE_TRUNCATE_BACKOFF_S`` later, so a reader that stays
        costs the other writers one short wait in that time, not one a commit (with the
        batch's own write right after each, another writer found the lock free only between
        them, and could wait longer than its own busy timeout)."""
        path = sqlite_path(self.ctx.db.url)
        try:
            size = os.path.getsize(f"{path}-wal") if path is not None else 0
        except OSError:
            return
        if size <= _SQLITE_WAL_BOUND or time.monotonic() < self._wal_retry_at:
            return
        raw = self.ctx.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            # First copy what can be copied without locking anyone out (other writers go on
            # meanwhile): the truncation below then holds the write lock only for the rest.
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            (timeout,) = cur.execute("PRAGMA busy_timeout").fetchone()
            cur.execute(f"PRAGMA busy_timeout = {_SQLITE_TRUNCATE_WAIT_MS}")
            try:
                (busy, _frames, _copied) = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                try:
                    cur.execute(f"PRAGMA busy_timeout = {int(timeout)}")
                except BaseException:
                    raw.invalidate()  # not back to the pool with the short timeout
                    raise
        finally:
            raw.close()
        if busy:
            self._wal_retry_at = time.monotonic() + _SQLITE_TRUNCATE_BACKOFF_S
            log.info("WAL not truncated: a reader still uses it (%d bytes)", size)

    def _settle(self, future: Future[_Outcome], batch: _Batch, rejects: list[_Reject]) -> bool:
        """Wait for the batch in flight; report it. False: it failed and was landed again."""
        try:
            outcome = future.result()
        except Exception as exc:
            log.info("an overlapped batch failed (%s): landing it again", exc)
            self._land(batch, rejects)
            return False
        self._merge(outcome, batch, rejects)
        return True

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Commit what has been read so far."""
        batch, self._pending = self._pending, []
        if batch:
            self._land(batch, [])

    def _land(self, batch: _Batch, rejects: list[_Reject]) -> None:
        """Commit ``batch`` (retried, else one record a transaction) and report it, with
        ``rejects`` (lines of the batch rejected before, by parsing)."""
        if not batch:
            self._merge(_Outcome(), [], rejects)
            return
        outcome = self._apply_batch(batch)
        if outcome is None:  # the batch as a whole failed: land what can land, one by one
            refused: list[_Reject] = list(rejects)
            for item in batch:
                single = self._apply_batch([item])
                if single is None:
                    refused.append((item[0].line, item[1], "the database refused this record"))
                else:
                    refused.extend((line, item[1], why) for line, why in single.rejects)
                    single.rejects = []
                    self._merge(single, [item], [])
            self._merge(_Outcome(), [], refused)
            return
        self._merge(outcome, batch, rejects)

    def _apply_batch(self, batch: list[tuple[Record, bytes]]) -> _Outcome | None:
        for _ in range(3):
            try:
                with gc_paused():
                    return self.ctx.db.write(lambda s: _BatchWriter(self.ctx, s).apply(batch))
            except IntegrityError:
                continue  # another intake stored the same ids meanwhile: retry sees duplicates
            except StaleRows:
                continue  # a console changed a conversation since the preload: retry reads it
            except DataError:
                return None  # a value the database refuses: the caller lands records one by one
        return None

    def _merge(self, outcome: _Outcome, batch: _Batch, rejects: list[_Reject]) -> None:
        raw_by_line = {rec.line: raw for rec, raw in batch}
        self.summary.accepted += outcome.accepted
        self.summary.duplicates += outcome.duplicates
        self.summary.conversation_ids |= outcome.conversation_ids
        self.summary.message_ids.extend(m.id for m in outcome.messages)
        found = [(line, raw_by_line[line], reason) for line, reason in outcome.rejects]
        for line, raw, reason in sorted([*rejects, *found], key=lambda r: r[0]):
            self._reject(line, raw, reason)

    def _reject(self, line: int, raw: bytes, reason: str) -> None:
        self.summary.rejected += 1
        self.on_reject(line, raw, reason)


@dataclass(slots=True, eq=False)
class _Party:
    """A party the batch refers to: stored (``id`` known) or new (``id`` allocated later)."""

    external_id: str
    name: str
    verified: bool
    id: int | None = None
    new: bool = False
    changed: bool = False


@dataclass(slots=True, eq=False)
class _Listing:
    external_id: str
    seller: _Party | None  # a listing of this batch; a stored one has only seller_id
    seller_id: int | None
    category: str | None
    id: int | None = None
    title: str = ""
    active: bool = True
    messaging: bool = True
    created_at: datetime | None = None

    def stored(self) -> _Listing:
        """This listing as a preload reads it once stored (seller by id)."""
        seller_id = self.seller.id if self.seller else self.seller_id
        return _Listing(self.external_id, None, seller_id, self.category, self.id)


@dataclass(slots=True, eq=False)
class _Thread:
    """A conversation the batch adds to: stored, or created by this batch (``new``)."""

    external_id: str
    thread_key: str
    kind: str
    subject: str
    listing: _Listing | None
    status: str
    priority: str
    created_at: datetime
    resolved_at: datetime | None = None
    id: int | None = None
    new: bool = False
    changed: bool = False  # status, is_open or resolved_at moved (stored threads)
    requester: _Party | None = None
    counterpart: _Party | None = None
    team_id: int | None = None
    category: str | None = None
    reopened_from_id: int | None = None
    #: new threads: the span of the batch's messages (set by the replay)
    first_message_at: datetime | None = None
    last_message_at: datetime | None = None
    #: stored threads: the optimistic-lock version read (the status update checks it)
    version: int = 0


@dataclass(slots=True, eq=False)
class _Msg:
    """A message to insert; ids resolve once the batch's ids are allocated."""

    external_id: str | None
    thread: _Thread
    party: _Party | None
    agent_id: int | None
    author_name: str
    role: str
    body: str
    sent_at: datetime  # UTC
    attachments: list[dict[str, object]]
    id: int | None = None


@dataclass(slots=True, eq=False)
class _FlagRow:
    external_id: str
    reason: str
    flagged_at: datetime
    thread: _Thread
    reporter: _Party
    message: _Msg | None = None
    message_id: int | None = None
    listing: _Listing | None = None
    party: _Party | None = None


_MESSAGE_COLUMNS = (
    "id", "external_id", "conversation_id", "author_party_id", "author_agent_id", "author_name",
    "role", "body", "internal", "via", "sent_at", "created_at",
)  # fmt: skip
_CONVERSATION_COLUMNS = (
    "id", "external_id", "thread_key", "kind", "subject", "listing_id", "requester_id",
    "counterpart_id", "team_id", "assignee_id", "status", "priority", "category",
    "escalation_level", "is_open", *sla.DEADLINE_FIELDS, "first_message_at", "last_message_at",
    "resolved_at", "reopened_from_id", "created_at", "updated_at", "version",
)  # fmt: skip
_INTAKE = Via.INTAKE.value
_SQLITE_CACHE_KIB = 64 * 1024
#: Overlapped SQLite run: WAL pages before a commit checkpoints (see _relax_checkpoints), and
#: the WAL file's size past which it is checkpointed whole and truncated (see _bound_wal).
_SQLITE_RUN_CHECKPOINT = 100_000
_SQLITE_WAL_BOUND = 1024 * 1024 * 1024
#: How long a truncation of that WAL waits for its readers to finish (see _bound_wal).
_SQLITE_TRUNCATE_WAIT_MS = 500
#: ... and how long after giving up it is tried again.
_SQLITE_TRUNCATE_BACKOFF_S = 10.0
_AGENT = MessageRole.AGENT.value
_OPEN = Status.OPEN.value


#: One write of a prepared batch, run on the writing connection.
_Write = Callable[[Connection], object]


def _update(table: Any, rows: list[dict[str, Any]], bump: str | None = None) -> _Write:
    return lambda conn: update_rows(conn, table, rows, bump=bump)


def _sql(sql: str, params: tuple[Any, ...] | None = None) -> _Write:
    return lambda conn: conn.exec_driver_sql(sql, params) if params else conn.exec_driver_sql(sql)


@dataclass
class _Carried:
    """What a prepared, not yet committed batch stores, as the next batch's preload would read
    it once committed: the next batch can then be prepared while this one is written."""

    parties: dict[str, _Party]
    listings: dict[str, _Listing]
    threads: dict[str, _Thread]
    messages: dict[str, int]
    feedback: set[str]
    flags: set[str]
    #: table -> the id after the last one this batch allocated (SQLite allocates ids after
    #: the committed max(id), which does not count this batch yet)
    next_ids: dict[str, int] = field(default_factory=dict)

    def adopt(self, w: _BatchWriter) -> None:
        """Put what this batch stores over ``w``'s preload (newer than what is committed)."""
        w.id_floors = self.next_ids
        w.parties.update(self.parties)
        w.listings.update(self.listings)
        w.threads.update(self.threads)
        for ext, mid in self.messages.items():
            w.messages[ext] = None
            w.carried_message_ids[ext] = mid
        w.known_feedback |= self.feedback
        w.known_flags |= self.flags


class _BatchWriter:
    """Applies one batch inside one transaction; state lives only as long as the attempt.

    The walk over the records works on plain objects (no ORM instances: building and flushing
    them cost more than the database's own work); afterwards every table gets its ids
    allocated and its rows written with one bulk statement (``db.bulk``)."""

    def __init__(self, ctx: Context, session: Session) -> None:
        self.ctx = ctx
        self.s = session
        self.conn = session.connection()
        self.postgres = self.conn.dialect.name == "postgresql"
        self.out = _Outcome()
        self.now = utcnow()
        self.parties: dict[str, _Party] = {}
        self.listings: dict[str, _Listing] = {}
        self.threads: dict[str, _Thread] = {}
        #: ext id -> message of this batch (None: already stored)
        self.messages: dict[str, _Msg | None] = {}
        self.status_events: list[tuple[_Thread, str, str, datetime]] = []
        self.flags: list[_FlagRow] = []
        self.feedback: list[tuple[FeedbackIn, _Thread]] = []
        self.agents: dict[str, tuple[int, str]] = {}
        self.teams: dict[str, int] = {}
        self.team_calendars: dict[int, str | None] = {}
        #: conversations created by this batch (their clocks are replayed from memory)
        self.new_threads: list[_Thread] = []
        self.new_parties: list[_Party] = []
        self.new_listings: list[_Listing] = []
        self.known_feedback: set[str] = set()
        self.known_flags: set[str] = set()
        #: messages the batch in flight stores (not committed yet): ext id -> id
        self.carried_message_ids: dict[str, int] = {}
        self.routing = ctx.settings.routing
        #: table -> the ids allocated to its new rows (see _allocate)
        self.allocated: dict[str, list[int]] = {}
        #: SQLite, prepared ahead: the lowest id each table's new rows may have
        self.id_floors: dict[str, int] = {}
        #: Overlapped SQLite run: a lock the writing thread holds while it runs Python beyond
        #: its single statements (the replay of conversations stored before), and ``pause``,
        #: which the preparing thread calls now and then to wait for it. sqlite3 hands the
        #: interpreter lock back after each row it steps: two threads running Python at once
        #: would make each of those rows wait up to a switch interval.
        self.gate: threading.Lock | None = None
        self.pause: Callable[[], None] = _no_pause
        #: Overlapped SQLite run: the DBAPI connections whose checkpoints it relaxed
        self.relaxed: set[Any] | None = None

    # -- preload everything the batch references, with one query per table -----------------
    def _in(self, column: Any, values: set[str]) -> Any:
        """``column IN values`` with the values bound as one JSON array
        (:func:`db.bulk.in_json`): not thousands of placeholders (which SQLAlchemy renders and
        binds in Python), nor a text array (which psycopg builds in Python); the planner joins
        the elements by the column's index whatever the plan (``= ANY(array)`` in a prepared
        statement's generic plan scans the table testing each row against the whole array).
        An SQLite older than 3.38 gets an expanding ``IN``."""
        if self.postgres or SQLITE_JSON:
            return in_json(column, values, self.postgres)
        return column.in_(bindparam("v", list(values), expanding=True))  # compiled once

    def _preload(self, records: list[Record]) -> None:
        party_ids: set[str] = set()
        listing_ids: set[str] = set()
        threads: set[str] = set()
        message_ids: set[str] = set()
        agent_names: set[str] = set()
        for r in records:
            if type(r) is MessageIn:
                message_ids.add(r.id)
                threads.add(r.conversation)
                if r.listing:
                    listing_ids.add(r.listing)
                if r.sender_role == "agent":
                    agent_names.add(r.sender.id)
                else:
                    party_ids.add(r.sender.id)
            elif isinstance(r, ListingIn):
                party_ids.add(r.seller.id)
                listing_ids.add(r.id)
            elif isinstance(r, FeedbackIn):
                threads.add(r.conversation)
            elif isinstance(r, FlagIn):
                party_ids.add(r.reporter)
                {"message": message_ids, "listing": listing_ids, "party": party_ids}[
                    r.target_type
                ].add(r.target_id)
        run = self.conn.execute
        if party_ids:
            p = Party.__table__.c
            for pid, ext, name, verified in run(
                select(p.id, p.external_id, p.name, p.verified).where(
                    self._in(p.external_id, party_ids)
                )
            ):
                self.parties[ext] = _Party(ext, name, bool(verified), pid)
        lc = Listing.__table__.c
        listing_cols = (lc.id, lc.external_id, lc.seller_id, lc.category)
        if listing_ids:
            for lid, ext, seller_id, category in run(
                select(*listing_cols).where(self._in(lc.external_id, listing_ids))
            ):
                self.listings[ext] = _Listing(ext, None, seller_id, category, lid)
        if threads:
            c = Conversation.__table__.c
            rows = run(
                select(
                    c.id,
                    c.external_id,
                    c.thread_key,
                    c.kind,
                    c.subject,
                    c.status,
                    c.priority,
                    c.created_at,
                    c.resolved_at,
                    c.version,
                    *listing_cols,
                )
                .select_from(Conversation.__table__.outerjoin(Listing.__table__))
                .where(self._in(c.thread_key, threads))
                .order_by(c.id)
            )
            for (
                cid,
                ext,
                key,
                kind,
                subject,
                status,
                priority,
                created,
                resolved,
                ver,
                *lst,
            ) in rows:
                listing = None
                if lst[0] is not None:
                    listing = self.listings.get(lst[1])
                    if listing is None:  # a reopened thread keeps its listing
                        listing = self.listings[lst[1]] = _Listing(
                            lst[1], None, lst[2], lst[3], lst[0]
                        )
                thread = _Thread(
                    ext, key, kind, subject, listing, status, priority, created, resolved, cid,
                    version=ver,
                )  # fmt: skip
                self.threads[key] = thread  # the newest thread wins
        if message_ids:
            m = Message.__table__.c
            for (ext,) in run(select(m.external_id).where(self._in(m.external_id, message_ids))):
                self.messages[ext] = None
        if agent_names:
            a = Agent.__table__.c
            for aid, username, display in run(
                select(a.id, a.username, a.display_name).where(a.username.in_(agent_names))
            ):
                self.agents[username] = (aid, display)
        fb = {r.id for r in records if isinstance(r, FeedbackIn)}
        if fb:
            f = Feedback.__table__.c
            self.known_feedback = set(
                run(select(f.external_id).where(f.external_id.in_(fb))).scalars()
            )
        fl = {r.id for r in records if isinstance(r, FlagIn)}
        if fl:
            g = Flag.__table__.c
            self.known_flags = set(
                run(select(g.external_id).where(g.external_id.in_(fl))).scalars()
            )
        t = Team.__table__.c
        for tid, name, calendar in run(select(t.id, t.name, t.calendar)):
            self.teams[name] = tid
            self.team_calendars[tid] = calendar

    def apply(self, batch: list[tuple[Record, bytes]]) -> _Outcome:
        """The whole batch in this writer's session: :meth:`prepare`, then :meth:`write`."""
        self.prepare(batch)
        return self.write(self.s)

    def prepare(self, batch: list[tuple[Record, bytes]], carried: _Carried | None = None) -> None:
        """Everything up to the writes: the preload (with what ``carried`` says an earlier,
        not yet committed batch stores), the walk over the records, the new rows' ids, the new
        conversations' clocks and every row to write. Reads only (ids come from sequences)."""
        records = [r for r, _ in batch]
        pause = self.pause
        pause()
        self._preload(records)
        if carried is not None:
            carried.adopt(self)
        for n, record in enumerate(records, start=1):
            if not n & 127:
                pause()
            self._apply_one(record)
        pause()
        self._allocate()
        pause()
        # Conversations created by this batch: their clocks follow from the batch alone, so
        # they are replayed from memory and their queue fields go in with the insert.
        self._new_clocks = self._replay_new()
        pause()
        self._writes = self._write_ops(self._new_clocks.deadlines)
        self._clock_writes = self._new_clocks.writes.batch()
        self._clock_writes.ready(self.postgres)

    def write(self, session: Session) -> _Outcome:
        """The prepared batch's writes in ``session``'s transaction (the caller commits)."""
        self.s = session
        self.conn = conn = session.connection()
        if not self.postgres and self.gate is not None:  # ids allocated ahead, not here
            self._check_ids(conn)
        for op in self._writes:
            op(conn)
        self._clock_writes.run(conn)
        pending = self.out.messages
        touched = {m.thread.id for m in pending if m.thread.id is not None}
        self.out.conversation_ids = touched
        # Open consoles hear of the new messages when this transaction commits (PostgreSQL).
        live.notify_new_messages(self.s, [m.id for m in pending if m.id is not None])
        existing = touched - {c.id for c in self.new_threads}
        if existing:  # stored before this batch: replayed from the database
            with self.gate or nullcontext():
                self._refresh_times(existing)
                sla.recompute(self.s, self.ctx.settings, existing, cause="intake")
        return self.out

    def _check_ids(self, conn: Connection) -> None:
        """SQLite, ids allocated before this transaction (prepared ahead): still free? Another
        writer may have stored rows since (a console's reply); the batch is then landed again."""
        for table, ids in self.allocated.items():
            if ids:
                top = conn.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar()
                if top is not None and top >= ids[0]:
                    raise IdsTaken(f"{table} ids from {ids[0]} were taken meanwhile")

    def carried(self) -> _Carried:
        """What this batch stores, as the next batch's preload would read it once committed:
        its new and changed parties, new listings, new and moved conversations, new messages,
        feedback and flags (the rest is committed already, or unchanged)."""
        listings = {x.external_id: x.stored() for x in self.new_listings}
        threads = {}
        for t in self.threads.values():
            if not (t.new or t.changed):
                continue
            listing = None
            if t.listing is not None:
                listing = listings.get(t.listing.external_id) or t.listing.stored()
            threads[t.thread_key] = _Thread(
                t.external_id, t.thread_key, t.kind, t.subject, listing, t.status, t.priority,
                t.created_at, t.resolved_at, t.id, version=1 if t.new else t.version + 1,
            )  # fmt: skip
        return _Carried(
            parties={
                ext: _Party(ext, p.name, p.verified, p.id)
                for ext, p in self.parties.items()
                if p.new or p.changed
            },
            listings=listings,
            threads=threads,
            messages={
                m.external_id: m.id  # type: ignore[misc]  # allocated by prepare
                for m in self.out.messages
                if m.external_id is not None
            },
            feedback={r.id for r, _t in self.feedback},
            flags={f.external_id for f in self.flags},
            next_ids={}
            if self.postgres  # sequences: never below the batch in flight
            else {table: ids[-1] + 1 for table, ids in self.allocated.items() if ids},
        )

    def _allocate(self) -> None:
        """Primary keys for the batch's new rows, so that each table is written with one bulk
        statement (RETURNING with a guaranteed order costs one statement a row on SQLite)."""
        groups: list[tuple[str, list[Any]]] = [
            ("parties", self.new_parties),
            ("listings", self.new_listings),
            ("conversations", self.new_threads),
            ("messages", self.out.messages),
        ]
        wanted = {table: len(objs) for table, objs in groups if objs}
        ids = allocate_ids(self.conn, wanted)
        for table, got in ids.items():  # SQLite, prepared ahead: above the batch in flight
            floor = self.id_floors.get(table)
            if floor is not None and got and got[0] < floor:
                ids[table] = list(range(floor, floor + len(got)))
        self.allocated = ids
        for table, objs in groups:
            for obj, new_id in zip(objs, ids.get(table, ()), strict=True):
                obj.id = new_id

    def _replay_new(self) -> sla.NewClocks:
        """Replay the clocks of the conversations this batch created, from the batch itself:
        the facts :func:`sla.recompute` would read back once the rows are stored."""
        if not self.new_threads:
            return sla.replay_new(self.ctx.settings, [])
        messages: dict[int, list[_Msg]] = {}
        for m in self.out.messages:
            if m.thread.new:
                messages.setdefault(id(m.thread), []).append(m)
        statuses: dict[int, list[StatusFact]] = {}
        for conv, old, new, at in sorted(self.status_events, key=lambda e: e[3]):
            if new and conv.new:  # stored order: by time, then id (= the order of this list)
                statuses.setdefault(id(conv), []).append(
                    StatusFact(at.astimezone(UTC), new, f"status {old} -> {new}")
                )
        entries = []
        for conv in self.new_threads:
            mine = messages.get(id(conv), [])
            if mine:  # what _refresh_times would store
                conv.first_message_at = min(m.sent_at for m in mine)
                conv.last_message_at = max(m.sent_at for m in mine)
            facts = ConversationFacts(
                kind=conv.kind,
                initial_priority=conv.priority,
                messages=[
                    MessageFact(m.id, m.sent_at, m.role, False, _INTAKE, m.external_id or "")  # type: ignore[arg-type]
                    for m in mine
                ],
                statuses=statuses.get(id(conv), []),
            )
            entries.append((conv.id, self.team_calendars.get(conv.team_id), facts))  # type: ignore[arg-type]
        authors = {
            m.id: m.agent_id
            for m in self.out.messages
            if m.agent_id is not None and m.id is not None and m.role == _AGENT
        }
        return sla.replay_new(self.ctx.settings, entries, authors=authors)  # type: ignore[arg-type]

    def _write_ops(self, deadlines: dict[int, dict[str, object]]) -> list[_Write]:
        """Every new row with one bulk statement a table, in foreign-key order: the writes,
        their rows built now, to run on the writing connection."""
        now = self.now
        ops: list[_Write] = []
        if self.new_parties:
            ops.append(insert_later(
                self.postgres,
                Party.__table__,
                ("id", "external_id", "name", "email", "verified", "suspended", "created_at"),
                [
                    (p.id, p.external_id, p.name, None, p.verified, False, now)
                    for p in self.new_parties
                ],
            ))  # fmt: skip
        changed = [p for p in self.parties.values() if p.changed and not p.new]
        if changed:
            ops.append(_update(
                Party.__table__,
                [{"id": p.id, "name": p.name, "verified": p.verified} for p in changed],
            ))  # fmt: skip
        if self.new_listings:
            ops.append(insert_later(
                self.postgres,
                Listing.__table__,
                (
                    "id",
                    "external_id",
                    "title",
                    "seller_id",
                    "category",
                    "active",
                    "messaging_enabled",
                    "created_at",
                ),
                [
                    (
                        x.id,
                        x.external_id,
                        x.title,
                        x.seller.id if x.seller else x.seller_id,
                        x.category,
                        x.active,
                        x.messaging,
                        x.created_at,
                    )
                    for x in self.new_listings
                ],
            ))  # fmt: skip
        if not self.postgres:
            # SQLite's default page cache (2 MB) is a small part of a bulk load's indexes;
            # the connection keeps this one (64 MB at most, allocated as used)
            ops.append(_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}"))
            if self.relaxed is not None:
                ops.append(partial(_relax_checkpoints, self.relaxed))
        sqlite_fts = not self.postgres and bool(self.new_threads or self.out.messages)
        if sqlite_fts:  # the FTS insert triggers stand aside: the batch indexes itself (0007)
            ops.append(_sql("INSERT INTO fts_deferred (writer) VALUES (1)"))
        if self.new_threads:
            rows = []
            for c in self.new_threads:
                d = deadlines[c.id]  # type: ignore[index]
                rows.append(
                    (
                        c.id,
                        c.external_id,
                        c.thread_key,
                        c.kind,
                        c.subject,
                        c.listing.id if c.listing else None,
                        c.requester.id,  # type: ignore[union-attr]
                        c.counterpart.id if c.counterpart else None,
                        c.team_id,
                        None,
                        c.status,
                        c.priority,
                        c.category,
                        0,
                        True,
                        *(d[k] for k in sla.DEADLINE_FIELDS),
                        c.first_message_at or c.created_at,
                        c.last_message_at or c.created_at,
                        c.resolved_at,
                        c.reopened_from_id,
                        c.created_at,
                        now,
                        1,
                    )
                )
            ops.append(
                insert_later(self.postgres, Conversation.__table__, _CONVERSATION_COLUMNS, rows)
            )
        pending = self.out.messages
        if pending:
            ops.append(insert_later(
                self.postgres,
                Message.__table__,
                _MESSAGE_COLUMNS,
                [
                    (
                        m.id,
                        m.external_id,
                        m.thread.id,
                        m.party.id if m.party else None,
                        m.agent_id,
                        m.author_name,
                        m.role,
                        m.body,
                        False,
                        _INTAKE,
                        m.sent_at,
                        now,
                    )
                    for m in pending
                ],
            ))  # fmt: skip
            attachments = [{**a, "message_id": m.id} for m in pending for a in m.attachments]
            if attachments:
                ops.append(
                    lambda conn, rows=attachments: insert_rows(conn, Attachment.__table__, rows)
                )
        if sqlite_fts:
            for fts, table, column, objs in (
                ("conversations_fts", "conversations", "subject", self.new_threads),
                ("messages_fts", "messages", "body", pending),
            ):
                if objs:
                    ops.append(_sql(
                        f"INSERT INTO {fts} (rowid, {column}) SELECT id, {column} FROM {table}"
                        " WHERE id BETWEEN ? AND ?",
                        (min(o.id for o in objs), max(o.id for o in objs)),  # type: ignore[type-var]
                    ))  # fmt: skip
            ops.append(_sql("DELETE FROM fts_deferred"))
        if self.flags:
            ops.append(insert_later(
                self.postgres,
                Flag.__table__,
                (
                    "external_id",
                    "conversation_id",
                    "target_message_id",
                    "target_listing_id",
                    "target_party_id",
                    "reason",
                    "reporter_id",
                    "flagged_at",
                ),
                [
                    (
                        f.external_id,
                        f.thread.id,
                        f.message.id if f.message else f.message_id,
                        f.listing.id if f.listing else None,
                        f.party.id if f.party else None,
                        f.reason,
                        f.reporter.id,
                        f.flagged_at,
                    )
                    for f in self.flags
                ],
            ))  # fmt: skip
        if self.feedback:
            ops.append(insert_later(
                self.postgres,
                Feedback.__table__,
                ("external_id", "conversation_id", "rating", "nps", "comment", "submitted_at"),
                [
                    (r.id, t.id, r.rating, r.nps, r.comment, r.submitted_at)
                    for r, t in self.feedback
                ],
            ))  # fmt: skip
        if self.status_events:  # (ids in insertion order: the order of the status facts)
            ops.append(insert_later(
                self.postgres,
                ConversationEvent.__table__,
                ("conversation_id", "field", "old", "new", "actor_agent_id", "at"),
                [(c.id, "status", old, new, None, at) for c, old, new, at in self.status_events],
            ))  # fmt: skip
        moved = [c for c in self.threads.values() if c.changed and not c.new]
        if moved:  # stored threads whose status moved: one statement, optimistic lock bumped
            ops.append(_update(
                Conversation.__table__,
                [
                    {
                        "id": c.id,
                        "status": c.status,
                        "is_open": True,
                        "resolved_at": c.resolved_at,
                        "updated_at": now,
                        # only if no one changed it since the preload (else: StaleRows, and
                        # the batch is landed again on what they wrote)
                        "version": c.version,
                    }
                    for c in moved
                ],
                bump="version",
            ))  # fmt: skip
        return ops

    def _apply_one(self, record: Record) -> None:
        try:
            if type(record) is MessageIn:
                accepted = self._message(record)
            elif isinstance(record, ListingIn):
                accepted = self._listing(record)
            elif isinstance(record, FeedbackIn):
                accepted = self._feedback(record)
            else:
                accepted = self._flag(record)  # type: ignore[arg-type]
        except Rejected as exc:
            self.out.rejects.append((record.line, str(exc)))
            return
        if accepted:
            self.out.accepted += 1
        else:
            self.out.duplicates += 1

    # -- records -------------------------------------------------------------------------
    def _party(self, p: PartyIn, *, update_details: bool = True) -> _Party:
        party = self.parties.get(p.id)
        if party is None:
            party = _Party(p.id, p.name, bool(p.verified), new=True)
            self.parties[p.id] = party
            self.new_parties.append(party)
        elif update_details:
            if p.name and p.name != party.name:
                party.name = p.name
                party.changed = True
            if p.verified is not None and p.verified != party.verified:
                party.verified = p.verified
                party.changed = True
        return party

    def _listing(self, r: ListingIn) -> bool:
        if r.id in self.listings:
            return False
        listing = _Listing(
            r.id,
            self._party(r.seller),
            None,
            r.category,
            None,
            r.title,
            r.active,
            r.messaging,
            r.created_at,
        )
        self.listings[r.id] = listing
        self.new_listings.append(listing)
        return True

    def _message(self, r: MessageIn) -> bool:
        if r.id in self.messages:
            return False
        role = _ROLE[r.sender_role]
        agent_id = party = None
        if role is MessageRole.AGENT:
            agent = self.agents.get(r.sender.id)
            if agent is None:
                raise Rejected(
                    f"unknown agent {r.sender.id[:80]!r} (from.id of a role agent "
                    "message must be an agent's username)"
                )
            agent_id, name = agent
        conv = self._thread_for(r)
        if role is not MessageRole.AGENT:
            party = self._party(r.sender)
            name = r.sender.name or r.sender.id
        msg = _Msg(
            r.id,
            conv,
            party,
            agent_id,
            name,
            role.value,
            r.body,
            r.sent_at.astimezone(UTC),
            [self._attachment(att) for att in r.attachments] if r.attachments else [],
        )
        self.messages[r.id] = msg
        self.out.messages.append(msg)
        self._status_after(conv, role, r.sent_at)
        return True

    def _thread_for(self, r: MessageIn) -> _Thread:
        conv = self.threads.get(r.conversation)
        role = _ROLE[r.sender_role]
        if (
            conv is not None
            and conv.status in (Status.RESOLVED, Status.CLOSED)
            and (
                role != MessageRole.AGENT
                and conv.resolved_at is not None
                and r.sent_at - conv.resolved_at
                > timedelta(seconds=self.ctx.settings.policy.reopen_window_s)
            )
        ):
            c = Conversation.__table__.c
            threads = self.conn.execute(
                select(func.count()).where(c.thread_key == r.conversation)
            ).scalar()
            n = 1 + (threads or 1)
            new = self._new_conversation(r, conv.kind, f"{r.conversation}/{n}", template=conv)
            new.reopened_from_id = conv.id
            return new
        if conv is not None:
            return conv
        if role == MessageRole.AGENT:
            raise Rejected(
                f"conversation {r.conversation[:80]!r} is unknown and a new "
                "conversation must start with a message from a marketplace party"
            )
        if r.kind is None:
            raise Rejected(
                f"conversation {r.conversation[:80]!r} is new: its first message "
                "needs 'kind' (user_admin, buyer_seller or issue_report)"
            )
        return self._new_conversation(r, r.kind, r.conversation)

    def _new_conversation(
        self, r: MessageIn, kind: str, external_id: str, template: _Thread | None = None
    ) -> _Thread:
        listing = None
        listing_ref = r.listing or (
            template.listing.external_id if template and template.listing else None
        )
        if listing_ref:
            listing = self.listings.get(listing_ref)
            if listing is None:
                raise Rejected(
                    f"unknown listing {listing_ref[:80]!r}: send the listing record first"
                )
        if kind == Kind.BUYER_SELLER and listing is None:
            raise Rejected("a buyer_seller conversation needs a 'listing'")
        team_name = self.routing.get(kind)
        counterpart = None
        if listing is not None and kind == Kind.BUYER_SELLER:
            counterpart = listing.seller or self._stored_party(listing.seller_id)
        conv = _Thread(
            external_id=external_id,
            thread_key=r.conversation,
            kind=kind,
            subject=r.subject or (template.subject if template else "") or r.body[:80],
            listing=listing,
            status=Status.NEW.value,
            priority=r.priority or Priority.NORMAL.value,
            created_at=r.sent_at,
            new=True,
            requester=self._party(r.sender),
            counterpart=counterpart,
            team_id=self.teams.get(team_name) if team_name else None,
            category=r.category or (listing.category if listing is not None else None),
        )
        self.threads[r.conversation] = conv
        self.new_threads.append(conv)
        return conv

    def _stored_party(self, party_id: int | None) -> _Party:
        """A stored party known only by its id (the seller of a stored listing)."""
        return _Party("", "", False, party_id)

    def _status_since(self, conv: _Thread) -> datetime:
        """When the conversation's status last changed (its creation if never)."""
        since = None
        if not conv.new:
            e = ConversationEvent.__table__.c
            since = self.conn.execute(
                select(func.max(e.at)).where(e.conversation_id == conv.id, e.field == "status")
            ).scalar()
        return since or conv.created_at

    def _status_after(self, conv: _Thread, role: MessageRole, at: datetime) -> None:
        """A customer writing reopens a pending or recently resolved thread; a reply opens it."""
        old = conv.status
        new = old
        if role is MessageRole.CUSTOMER or (
            role is MessageRole.SELLER and conv.kind != Kind.BUYER_SELLER
        ):
            if old == Status.PENDING_CUSTOMER and at > self._status_since(conv):
                new = _OPEN  # not for a late message sent before it went pending
            elif (
                old in (Status.RESOLVED, Status.CLOSED)
                and conv.resolved_at
                and at > conv.resolved_at
            ):
                new = _OPEN
                conv.resolved_at = None
        elif old == Status.NEW:
            new = _OPEN
        if new != old:
            conv.status = new
            conv.changed = True
            self.status_events.append((conv, old, new, at))

    def _attachment(self, att: AttachmentIn) -> dict[str, object]:
        digest = hashlib.sha256(att.content).hexdigest()
        path = self.ctx.settings.attachment_dir / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")  # unique per writer
            tmp.write_bytes(att.content)
            tmp.replace(path)
        return {
            "name": att.name,
            "mime_type": sniff_mime(att.content),
            "size": len(att.content),
            "sha256": digest,
            "stored_path": str(Path(digest[:2]) / digest),
        }

    def _feedback(self, r: FeedbackIn) -> bool:
        if r.id in self.known_feedback:
            return False
        conv = self.threads.get(r.conversation)
        if conv is None:
            raise Rejected(f"unknown conversation {r.conversation[:80]!r}")
        self.feedback.append((r, conv))
        self.known_feedback.add(r.id)
        return True

    def _flag(self, r: FlagIn) -> bool:
        if r.id in self.known_flags:
            return False
        target_msg = target_listing = target_party = None
        target_message_id = None
        if r.target_type == "message":
            if r.target_id not in self.messages:
                raise Rejected(f"unknown message {r.target_id[:80]!r}")
            target_msg = self.messages[r.target_id]
            if target_msg is None:  # stored before this batch
                target_message_id = self.carried_message_ids.get(r.target_id)
                if target_message_id is None:
                    m = Message.__table__.c
                    target_message_id = self.conn.execute(
                        select(m.id).where(m.external_id == r.target_id)
                    ).scalar_one()
        elif r.target_type == "listing":
            target_listing = self.listings.get(r.target_id)
            if target_listing is None:
                raise Rejected(f"unknown listing {r.target_id[:80]!r}")
        else:
            target_party = self.parties.get(r.target_id)
            if target_party is None:
                raise Rejected(f"unknown party {r.target_id[:80]!r}")
        reporter = self._party(PartyIn(r.reporter), update_details=False)
        team_name = self.routing.get(Kind.FLAG.value)
        key = f"flag:{r.id}"
        conv = _Thread(
            external_id=key,
            thread_key=key,
            kind=Kind.FLAG.value,
            subject=f"Flag: {r.reason[:120]} ({r.target_type} {r.target_id[:80]})",
            listing=None,
            status=Status.NEW.value,
            priority=Priority.NORMAL.value,
            created_at=r.flagged_at,
            new=True,
            requester=reporter,
            team_id=self.teams.get(team_name) if team_name else None,
            category="moderation",
        )
        self.threads[key] = conv
        self.new_threads.append(conv)
        report = _Msg(
            None,
            conv,
            reporter,
            None,
            reporter.name or r.reporter,
            MessageRole.CUSTOMER.value,
            f"Reported {r.target_type} {r.target_id}: {r.reason}",
            r.flagged_at.astimezone(UTC),
            [],
        )
        self.out.messages.append(report)
        self.flags.append(
            _FlagRow(
                r.id,
                r.reason,
                r.flagged_at,
                conv,
                reporter,
                target_msg,
                target_message_id,
                target_listing,
                target_party,
            )
        )
        self.known_flags.add(r.id)
        return True

    def _refresh_times(self, ids: set[int]) -> None:
        first = select(func.min(Message.sent_at)).where(Message.conversation_id == Conversation.id)
        last = select(func.max(Message.sent_at)).where(Message.conversation_id == Conversation.id)
        self.s.execute(
            update(Conversation)
            .where(Conversation.id.in_(ids))
            .values(
                first_message_at=first.scalar_subquery(), last_message_at=last.scalar_subquery()
            )
            .execution_options(synchronize_session=False)
        )


def sniff_mime(content: bytes) -> str:
    """The MIME type from the content itself, never from the file name."""
    kind = filetype.guess(content)
    if kind is not None:
        return str(kind.mime)
    if not content:
        return "application/x-empty"
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"
