"""Live updates: new messages reach open consoles at once (PostgreSQL LISTEN/NOTIFY, SQLite poll).

Entry points
------------
Intake (or any writer of messages), inside its write transaction, after the flush::

    from helpdesk_tui.services import live
    live.notify_new_messages(session, [m.id for m in new_messages])

It issues ``SELECT pg_notify('helpdesk_messages', '<id>,<id>,...')`` in the caller's
transaction (PostgreSQL delivers it on commit, drops it on rollback), ids only, split so that
every payload stays under 8000 bytes. On SQLite it does nothing (consoles poll).

A console (Textual, async) listens with::

    listener = live.MessageListener(ctx.db, on_messages)   # on_messages(list[int]) -> None
    self.run_worker(listener.run(), exclusive=True)         # or listener.start_thread()
    ...
    listener.stop()

``on_messages`` receives the ids of messages that appeared since the listener started (never
the history before it), each id once, ascending within a call. From ``run()`` it is called
in the event loop (it may be ``async``; post a Textual message from it); from
``start_thread()`` it is called in the listener's thread (use ``app.call_from_thread`` or
``post_message``, which is thread-safe). ``on_state`` (optional) hears ``"listening"``,
``"polling"`` and ``"disconnected"``.

How nothing is lost: notifications sent while a listener is disconnected are gone for good,
so on every (re)connect it LISTENs first and then catches up by query from its high-water
mark (the largest id it delivered; a small look-back window and a set of recently delivered
ids cover ids that commit out of order). It also re-runs the catch-up every
``catchup_interval`` seconds while connected, as a safety net for writers that forget to
notify. On SQLite the catch-up query simply runs every ``poll_interval`` (2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from db.engine import Database
from db.models import Message

log = logging.getLogger(__name__)

CHANNEL = "helpdesk_messages"
#: PostgreSQL rejects payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900
#: Ids up to this far below the high-water mark are re-checked on catch-up (out-of-order commits).
LOOKBACK = 500
_RECENT = 20000
_BATCH = 5000


def payloads(message_ids: Iterable[int], limit: int = MAX_PAYLOAD) -> list[str]:
    """The ids as comma-separated payloads, each shorter than ``limit`` bytes."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for mid in sorted({int(i) for i in message_ids}):
        token = str(mid)
        extra = len(token) + (1 if current else 0)
        if current and size + extra > limit:
            out.append(",".join(current))
            current, size = [], 0
            extra = len(token)
        current.append(token)
        size += extra
    if current:
        out.append(",".join(current))
    return out


def parse_payload(payload: str) -> list[int]:
    """Ids from a payload; anything that is not an id is ignored."""
    ids = []
    for part in payload.split(","):
        part = part.strip()
        if part.isdigit():
            ids.append(int(part))
    return ids


def notify_new_messages(session: Session, message_ids: Iterable[int]) -> int:
    """NOTIFY listeners of new messages, in the caller's transaction; returns payloads sent.

    No-op on SQLite. Call it after the messages are flushed (their ids known).
    """
    if session.get_bind().dialect.name != "postgresql":
        return 0
    chunks = payloads(message_ids)
    for chunk in chunks:
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": chunk}
        )
    return len(chunks)


OnMessages = Callable[[list[int]], Any]
OnState = Callable[[str], Any]


class MessageListener:
    """Calls ``on_messages(ids)`` for every message committed after it started."""

    def __init__(
        self,
        db: Database,
        on_messages: OnMessages,
        *,
        start_after: int | None = None,
        poll_interval: float = 2.0,
        catchup_interval: float = 30.0,
        reconnect_delay: float = 1.0,
        on_state: OnState | None = None,
    ) -> None:
        self.db = db
        self.on_messages = on_messages
        self.on_state = on_state
        self.poll_interval = poll_interval
        self.catchup_interval = catchup_interval
        self.reconnect_delay = reconnect_delay
        #: Ids at or below the floor are history: never delivered.
        self.floor: int | None = start_after
        #: The largest id delivered so far (or the floor).
        self.high_water: int | None = start_after
        self.state = "stopped"
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._backend_pid: int | None = None

    # -- control -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Listen (or poll) until ``stop()``; reconnects by itself."""
        self._stopping.clear()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        delay = self.reconnect_delay
        try:
            while not self._stopping.is_set():
                try:
                    if self.db.is_postgres:
                        await self._pg_session()
                    else:
                        await self._poll_session()
                    delay = self.reconnect_delay
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        return
                    raise
                except Exception as exc:
                    if self._stopping.is_set():
                        return
                    log.warning("live updates disconnected: %s", exc)
                    await self._set_state("disconnected")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            self.state = "stopped"
            self._task = None

    def stop(self) -> None:
        """Stop listening (thread-safe); ``run()`` returns soon after."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(task.cancel)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
            self._thread = None

    def start_thread(self) -> threading.Thread:
        """Run the listener in a daemon thread with its own event loop."""
        self._stopping.clear()
        thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True,
                                  name="helpdesk-live")  # fmt: skip
        self._thread = thread
        thread.start()
        return thread

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend of the listening connection (for diagnostics and tests)."""
        return self._backend_pid

    # -- delivery ----------------------------------------------------------------------------
    async def _deliver(self, ids: Iterable[int]) -> None:
        fresh = sorted(
            {i for i in ids if i not in self._recent and (self.floor is None or i > self.floor)}
        )
        if not fresh:
            return
        for i in fresh:
            self._recent.add(i)
            self._recent_order.append(i)
        while len(self._recent_order) > _RECENT:
            self._recent.discard(self._recent_order.popleft())
        self.high_water = max(self.high_water or 0, fresh[-1])
        try:
            result = self.on_messages(fresh)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("live update callback failed")

    async def _set_state(self, state: str) -> None:
        self.state = state
        if self.on_state is not None:
            try:
                result = self.on_state(state)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("live state callback failed")

    def _since(self) -> int:
        assert self.high_water is not None
        low = self.high_water - LOOKBACK
        return max(low, self.floor) if self.floor is not None else low

    # -- PostgreSQL ----------------------------------------------------------------------------
    async def _pg_session(self) -> None:
        import psycopg

        from helpdesk_tui.leader import pg_conninfo

        conn = await psycopg.AsyncConnection.connect(
            pg_conninfo(self.db.url),
            autocommit=True,
            connect_timeout=5,
            application_name="helpdesk-live",
        )
        try:
            self._backend_pid = conn.info.backend_pid
            await conn.execute(f"LISTEN {CHANNEL}")  # first LISTEN, then catch up
            await self._pg_catch_up(conn)
            await self._set_state("listening")
            last = time.monotonic()
            while not self._stopping.is_set():
                async for note in conn.notifies(timeout=1.0):
                    await self._deliver(parse_payload(note.payload))
                if time.monotonic() - last >= self.catchup_interval:
                    await self._pg_catch_up(conn)
                    last = time.monotonic()
                # notifies() ends quietly when the connection drops: make that an error
                await conn.execute("SELECT 1")
        finally:
            self._backend_pid = None
            await conn.close()

    async def _pg_catch_up(self, conn: Any) -> None:
        if self.high_water is None:
            cur = await conn.execute("SELECT coalesce(max(id), 0) FROM messages")
            row = await cur.fetchone()
            self.floor = self.high_water = int(row[0]) if row else 0
            return
        while True:
            since = self._since()
            cur = await conn.execute(
                "SELECT id FROM messages WHERE id > %s ORDER BY id LIMIT %s", (since, _BATCH)
            )
            ids = [int(r[0]) for r in await cur.fetchall()]
            await self._deliver(ids)
            if len(ids) < _BATCH:
                return

    # -- SQLite --------------------------------------------------------------------------------
    async def _poll_session(self) -> None:
        await self._set_state("polling")
        while not self._stopping.is_set():
            for ids in await asyncio.to_thread(self._poll_once):
                await self._deliver(ids)
            await asyncio.sleep(self.poll_interval)

    def _poll_once(self) -> list[list[int]]:
        with self.db.read() as s:
            if self.high_water is None:
                top = s.scalar(select(func.coalesce(func.max(Message.id), 0)))
                self.floor = self.high_water = int(top or 0)
                return []
            batches: list[list[int]] = []
            since = self._since()
            while True:
                ids = list(
                    s.scalars(
                        select(Message.id)
                        .where(Message.id > since)
                        .order_by(Message.id)
                        .limit(_BATCH)
                    )
                )
                if ids:
                    batches.append(ids)
                if len(ids) < _BATCH:
                    return batches
                since = ids[-1]


__all__ = [
    "CHANNEL",
    "MAX_PAYLOAD",
    "MessageListener",
    "notify_new_messages",
    "parse_payload",
    "payloads",
]
