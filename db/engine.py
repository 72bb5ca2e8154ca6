"""Engine and session factory: SQLite pragmas, IMMEDIATE writes, retried PostgreSQL transactions."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

#: SQLSTATEs worth retrying the whole transaction for: serialization failure, deadlock.
RETRY_SQLSTATES = {"40001", "40P01"}


class DatabaseUnavailable(Exception):
    """The database cannot be reached or keeps failing; the message is one line for the user."""


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other databases and in-memory ones)."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def redact(url: str) -> str:
    """The URL with any password masked, for messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@dataclass
class Database:
    """One database: its engine and a session factory for reads and one for writes."""

    url: str
    engine: Engine
    write_engine: Engine
    retries: int = 3

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    def write(self, fn: Callable[[Session], T], *, retries: int | None = None) -> T:
        """Run ``fn`` in one write transaction and commit; retry it whole when the connection
        was lost or the transaction was chosen as a serialization/deadlock victim."""
        attempts = (self.retries if retries is None else retries) + 1
        for attempt in range(attempts):
            session = self._writer()
            try:
                result = fn(session)
                session.commit()
                return result
            except DBAPIError as exc:
                session.rollback()
                if not _retryable(exc) or attempt == attempts - 1:
                    if _retryable(exc):
                        raise DatabaseUnavailable(
                            f"database {redact(self.url)} kept failing after {attempts} tries: "
                            f"{_first_line(exc)}"
                        ) from exc
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _writer(self) -> Session:
        return Session(self.write_engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()


def _retryable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "server closed the connection" in str(exc)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_database(url: str, *, echo: bool = False, pool_size: int = 5) -> Database:
    """Build the engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        # a statement cache big enough for the bulk writes' texts (db.bulk: a handful a table)
        kwargs["connect_args"] = {
            "timeout": 30,
            "check_same_thread": False,
            "cached_statements": 256,
        }
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
    else:
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=5)
        kwargs["connect_args"] = {"connect_timeout": 5, "application_name": "helpdesk-tui"}
        engine = create_engine(parsed, **kwargs)
    write_engine = engine.execution_options(helpdesk_write=True)
    return Database(url=url, engine=engine, write_engine=write_engine)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Statement journals (a statement's undo, kept for one that modifies many rows or
        # checks foreign keys) and temporary indexes in memory, not in temporary files: a
        # bulk intake batch wrote 45 MB of them.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred read-then-write fails at once with
        # "database is locked" when another connection committed in between.
        immediate = conn.get_execution_options().get("helpdesk_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(db: Database) -> sessionmaker[Session]:
    """A sessionmaker for tests and tools that want plain sessions on the write engine."""
    return sessionmaker(db.write_engine, expire_on_commit=False)
