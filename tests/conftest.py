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


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_template: str | None
) -> Iterator[Database]:
    """A fresh, migrated database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(sqlite_template, path)
        db = open_database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    if pg_template is None:
        pytest.skip(
            "PostgreSQL not reachable at 127.0.0.1:5432 (set HELPDESK_REQUIRE_PG=1 to fail)"
        )
    name = f"hd_t_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    db = open_database(pg_url(name))
    yield db
    db.dispose()
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
