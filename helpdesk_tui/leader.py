"""Leader election for the scheduler: one process runs the writing jobs at a time.

Entry point::

    leader = leader_for(db)          # PostgreSQL: advisory lock; SQLite: lock file
    if leader.ensure():              # non-blocking; call before every writing job
        ...                          # we are the leader right now
    leader.release()                 # at exit (dying releases it too)

The lock is an optimisation, never the guarantee: every effect of a job is fenced in the
database (unique constraints, conditional ``UPDATE ... WHERE <not yet done>``), so two
processes that both believe they lead still produce each effect once.

- PostgreSQL: ``pg_try_advisory_lock(KEY)`` on a dedicated connection held for the process
  lifetime. When the process dies, its session ends and the server releases the lock; another
  scheduler takes it at its next ``ensure()`` (every job run, so within one sweep). A lost
  connection (server restart) loses the lock: ``ensure()`` notices and tries to take it again.
- SQLite: ``fcntl.flock`` on ``<database file>.scheduler.lock``; the kernel releases it when
  the process dies. An in-memory database is private to its process: always the leader.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from db.engine import Database

log = logging.getLogger(__name__)


def holder_name() -> str:
    """``host:pid`` of this process, as recorded in the heartbeat."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_key(name: str = "scheduler") -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.blake2b(f"helpdesk-tui:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leader:
    """Base: ``ensure()`` takes (or checks) the lock without blocking."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False

    @property
    def is_leader(self) -> bool:
        return self._held

    def ensure(self) -> bool:
        """True when this process holds the lock now (taking it if it is free)."""
        with self._mutex:
            try:
                self._held = self._ensure()
            except Exception as exc:  # never let the lock machinery kill a job loop
                log.warning("leader check failed: %s", exc)
                self._drop()
                self._held = False
            return self._held

    def release(self) -> None:
        with self._mutex:
            self._drop()
            self._held = False

    def _ensure(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _drop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class AlwaysLeader(Leader):
    """For a private database (SQLite in memory) or when leadership is switched off."""

    def _ensure(self) -> bool:
        return True

    def _drop(self) -> None:
        pass


class PgLeader(Leader):
    """A session advisory lock on a dedicated connection kept for the process lifetime."""

    def __init__(self, url: str, name: str = "scheduler") -> None:
        super().__init__()
        self.conninfo = pg_conninfo(url)
        self.key = lock_key(name)
        self._conn: Any = None

    def _ensure(self) -> bool:
        import psycopg

        if self._conn is not None and self._held:
            try:
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                log.warning("leader connection lost: the advisory lock is gone")
                self._drop()
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=5,
                application_name="helpdesk-scheduler-leader",
            )
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if self._held and not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except Exception:  # the session is going away anyway
                pass
            with contextlib.suppress(Exception):
                conn.close()


class FileLeader(Leader):
    """An exclusive ``flock`` on a lock file next to the SQLite database."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd: int | None = None

    def _ensure(self) -> bool:
        import fcntl

        if self._fd is not None and self._held:
            return True
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._fd, 0)
        os.write(self._fd, holder_name().encode())
        return True

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def pg_conninfo(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy URL (``postgresql+psycopg://`` -> ...)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def sqlite_lock_path(url: str) -> Path | None:
    """``<database file>.scheduler.lock``, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(f"{Path(database).expanduser()}.scheduler.lock")


def leader_for(db: Database, name: str = "scheduler") -> Leader:
    """The right kind of lock for ``db``."""
    if db.is_postgres:
        return PgLeader(db.url, name)
    path = sqlite_lock_path(db.url)
    return AlwaysLeader() if path is None else FileLeader(path)


__all__ = [
    "AlwaysLeader",
    "FileLeader",
    "Leader",
    "PgLeader",
    "holder_name",
    "leader_for",
    "lock_key",
    "pg_conninfo",
]
