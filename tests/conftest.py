"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, a fixed clock, a context."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.engine import Database, open_database
from db.migrate import upgrade
from helpdesk_tui.services.context import Context
from helpdesk_tui.settings import Settings

PG_ADMIN_URL = os.environ.get("HELPDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("HELPDESK_REQUIRE_PG") == "1"


def _pg_connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_ADMIN_URL if dbname is None else PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A migrated PostgreSQL database used as the template of each test's database."""
    try:
        conn = _pg_connect()
    except Exception as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (HELPDESK_REQUIRE_PG=1) but unreachable: {exc}")
        yield None
        return
    name = f"hd_tmpl_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    db = open_database(pg_url(name))
    upgrade(db)
    db.dispose()
    yield name
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_worker_db(pg_template: str | None) -> Iterator[str | None]:
    """One PostgreSQL database per test worker, emptied between tests (creating and dropping
    a database per test costs about a second each)."""
    if pg_template is None:
        yield None
        return
    name = f"hd_w_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield name
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_pg(name: str) -> None:
    """Empty every table of the worker database (triggers off: the audit log refuses it).
    DELETE, not TRUNCATE: on a few rows it avoids new files and their fsyncs."""
    from db.models import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    serial = [
        t.name
        for t in Base.metadata.sorted_tables
        if "id" in t.c and t.c.id.primary_key and t.c.id.autoincrement in (True, "auto")
    ]
    with _pg_connect() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    with _pg_connect(name) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.transaction():
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')
            # ids start at 1 again, as in a fresh database
            for table in serial:
                conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false)", (table,))


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_worker_db: str | None
) -> Iterator[Database]:
    """A fresh, migrated, empty database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(sqlite_template, path)
        db = open_database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    if pg_worker_db is None:
        pytest.skip(
            "PostgreSQL not reachable at 127.0.0.1:5432 (set HELPDESK_REQUIRE_PG=1 to fail)"
        )
    db = open_database(pg_url(pg_worker_db))
    try:
        yield db
    finally:
        db.dispose()
        _empty_pg(pg_worker_db)


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


T0 = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)  # Monday 09:15 in Johannesburg


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def ctx(database: Database, tmp_path: Path, clock: FixedClock) -> Context:
    """Services context on the test database, data dir in tmp_path, fixed clock."""
    return Context(db=database, settings=Settings(data_dir=tmp_path / "data"), now=clock)
