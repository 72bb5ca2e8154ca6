"""db.engine on SQLite and PostgreSQL: pragmas, write transactions, retries, UTC timestamps."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from db.engine import Database, DatabaseUnavailable, open_database, redact
from db.models import Message, Party, Team


def team_names(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(Team.name).order_by(Team.name)))


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        for engine in (db.engine, db.write_engine):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        db.dispose()


def test_write_commits_rolls_back_and_read_never_writes(database: Database) -> None:
    def commit(s: Session) -> int:
        team = Team(name="support")
        s.add(team)
        s.flush()
        return team.id

    assert isinstance(database.write(commit), int)
    assert team_names(database) == ["support"]

    def fail(s: Session) -> None:
        s.add(Team(name="half-done"))
        s.flush()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        database.write(fail)
    assert team_names(database) == ["support"]

    with database.read() as s:
        s.add(Team(name="ghost"))
        s.flush()
    assert team_names(database) == ["support"]

    database.write(lambda s: s.add(Team(name="after")))  # connections are still usable
    assert team_names(database) == ["after", "support"]


class _Serialization(Exception):
    sqlstate = "40001"


def test_write_retries_only_what_is_retryable(database: Database) -> None:
    attempts: list[int] = []

    def flaky(s: Session) -> str:
        attempts.append(1)
        s.add(Team(name=f"try-{len(attempts)}"))
        s.flush()
        if len(attempts) < 3:
            raise DBAPIError("COMMIT", None, _Serialization("could not serialize access"))
        return "done"

    assert database.write(flaky) == "done"
    assert len(attempts) == 3
    assert team_names(database) == ["try-3"]  # the failed attempts left nothing

    def hopeless(s: Session) -> None:
        raise DBAPIError("COMMIT", None, _Serialization("could not serialize access\nDETAIL: x"))

    with pytest.raises(DatabaseUnavailable) as info:
        database.write(hopeless, retries=1)
    message = str(info.value)
    assert "kept failing after 2 tries" in message and "\n" not in message

    attempts.clear()

    def duplicate(s: Session) -> None:
        attempts.append(1)
        s.add(Team(name="dup"))
        s.add(Team(name="dup"))
        s.flush()

    with pytest.raises(IntegrityError):
        database.write(duplicate)
    assert attempts == [1]  # not retried

    orphan = Message(
        conversation_id=999_999, role="customer", body="x", sent_at=datetime(2026, 3, 2, tzinfo=UTC)
    )
    with pytest.raises(IntegrityError):  # foreign keys are enforced (also on SQLite)
        database.write(lambda s: s.add(orphan))
    assert team_names(database) == ["try-3"]


def test_timestamps_are_timezone_aware_utc(database: Database) -> None:
    sast = timezone(timedelta(hours=2))
    sent = datetime(2026, 3, 2, 9, 15, 30, 123456, tzinfo=sast)
    database.write(lambda s: s.add(Party(external_id="u-1", created_at=sent)))
    database.write(lambda s: s.add(Team(name="t")))  # a default timestamp
    with database.read() as s:
        party = s.scalar(select(Party))
        assert party is not None
        assert party.created_at == sent
        assert party.created_at.utcoffset() == timedelta(0)
        assert party.created_at.hour == 7 and party.created_at.microsecond == 123456
        team = s.scalar(select(Team))
        assert team is not None and team.created_at.utcoffset() == timedelta(0)
        # comparisons in SQL use the same instant
        assert s.scalar(select(func.count()).where(Party.created_at == sent)) == 1
        later = datetime(2026, 3, 2, 7, 15, 31, tzinfo=UTC)
        assert s.scalar(select(func.count()).where(Party.created_at < later)) == 1


def test_naive_datetimes_are_refused(database: Database) -> None:
    naive = datetime(2026, 3, 2, 9, 15)
    with pytest.raises(StatementError, match="naive datetime"):
        database.write(lambda s: s.add(Party(external_id="u-1", created_at=naive)))
    with pytest.raises(StatementError, match="naive datetime"), database.read() as s:
        s.execute(select(Party).where(Party.created_at < naive)).all()
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Party)) == 0


def test_threads_concurrent_read_then_write_transactions_both_commit(
    database: Database,
) -> None:
    """SQLite writers begin IMMEDIATE: a second read-then-write waits for the first instead of
    failing with "database is locked"."""
    started = threading.Event()
    errors: list[BaseException] = []

    def first(s: Session) -> None:
        s.add(Team(name="first"))
        s.flush()
        started.set()
        time.sleep(0.3)

    def second(s: Session) -> None:
        n = s.scalar(select(func.count()).select_from(Team)) or 0
        s.add(Team(name=f"second-after-{n}"))
        s.flush()

    def run(fn: Any) -> None:
        try:
            database.write(fn)
        except BaseException as exc:
            errors.append(exc)

    a = threading.Thread(target=run, args=(first,))
    a.start()
    assert started.wait(10)
    b = threading.Thread(target=run, args=(second,))
    b.start()
    a.join(30)
    b.join(30)
    assert errors == []
    names = team_names(database)
    assert "first" in names and len(names) == 2
    if database.is_sqlite:
        assert "second-after-1" in names  # it waited for the first to commit


def test_redact_hides_passwords() -> None:
    assert redact("postgresql+psycopg://hd:s3cr%40t@db:5432/x") == (
        "postgresql+psycopg://hd:***@db:5432/x"
    )
    assert redact("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"


def test_plain_postgresql_url_uses_psycopg() -> None:
    db = open_database("postgresql://nobody@127.0.0.1:1/none")
    try:
        assert db.engine.dialect.driver == "psycopg"
        assert db.is_postgres and not db.is_sqlite
    finally:
        db.dispose()


def test_unreachable_postgresql_fails_fast() -> None:
    db = open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    t0 = time.monotonic()
    try:
        with pytest.raises(DBAPIError), db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        db.dispose()
    assert time.monotonic() - t0 < 10
