"""db.bulk: the bulk writes store exactly what SQLAlchemy's Core would, and fail the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

from db.base import UTCDateTime
from db.bulk import (
    SQLITE_JSON,
    Batch,
    allocate_ids,
    in_ids,
    in_json,
    insert_ignore_rows,
    insert_rows,
    pg_pipeline,
    sqlite_datetime,
    update_rows,
)
from db.engine import Database
from db.models import AuditEvent, Party

SAST = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 5, 6, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 8, 30, 1, 5, tzinfo=SAST),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ],
)
def test_sqlite_datetime_is_what_sqlalchemy_stores(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert sqlite_datetime(value) == process(value)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_datetime(datetime(2026, 1, 1))


def _rows(prefix: str, n: int) -> list[dict[str, object]]:
    when = datetime(2026, 1, 5, 8, tzinfo=SAST)
    return [
        {
            "external_id": f"{prefix}{i}",
            "name": f"Name {i}" if i % 2 else "",
            "email": None,
            "verified": bool(i % 2),
            "suspended": False,
            "created_at": when + timedelta(microseconds=i),
        }
        for i in range(n)
    ]


def _stored(database: Database) -> list[tuple[object, ...]]:
    t = Party.__table__
    with database.read() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(t.c.external_id, t.c.name, t.c.email, t.c.verified, t.c.created_at)
                .order_by(t.c.external_id)
            )
        ]  # fmt: skip


# SQLite: 1 row is one plain INSERT; more go as statements of up to 1,024 rows, the last one
# padded and cut by its LIMIT
@pytest.mark.parametrize("many", [1, 2, 5, 1024, 1500, 2049])
def test_insert_rows_stores_what_core_stores(database: Database, many: int) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("bulk-", many))
        conn.execute(insert(Party.__table__), _rows("core-", many))
    stored = _stored(database)
    bulk = sorted(r[1:] for r in stored if str(r[0]).startswith("bulk-"))
    core = sorted(r[1:] for r in stored if str(r[0]).startswith("core-"))
    assert bulk == core and len(bulk) == many
    with database.engine.connect() as conn:  # same text in SQLite, so SQL comparisons agree
        raw = conn.exec_driver_sql(
            "SELECT substr(external_id, 1, 4), substr(external_id, 6), created_at, verified"
            " FROM parties"
        ).all()
    by_kind = {
        k: sorted((int(i), at, v) for kind, i, at, v in raw if kind == k) for k in ("bulk", "core")
    }
    assert by_kind["bulk"] == by_kind["core"]


def test_enum_members_are_stored_as_their_text(database: Database) -> None:
    """A StrEnum member goes in as its plain text (SQLite's typeof is text, as Core's)."""
    from db.enums import Status
    from db.models import Conversation

    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("e-", 1))
        party = conn.execute(select(Party.id)).scalar_one()
        at = datetime(2026, 1, 5, 8, tzinfo=UTC)
        rows = [
            {"external_id": f"c-{i}", "thread_key": "k", "kind": "user_admin", "subject": "s",
             "requester_id": party, "status": [Status.OPEN, Status.NEW, "resolved"][i % 3],
             "priority": "normal", "escalation_level": 0, "is_open": True, "created_at": at,
             "updated_at": at, "queue_due_at": at, "version": 1}
            for i in range(6)
        ]  # fmt: skip
        insert_rows(conn, Conversation.__table__, rows)
        stored = conn.execute(select(Conversation.status).order_by(Conversation.id)).scalars()
        assert stored.all() == ["open", "new", "resolved"] * 2
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as conn:
            kinds = conn.exec_driver_sql("SELECT DISTINCT typeof(status) FROM conversations")
            assert kinds.scalars().all() == ["text"]


def test_a_duplicate_is_an_integrity_error_and_nothing_lands(database: Database) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("dup-", 2))
    with pytest.raises(IntegrityError), database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("new-", 3) + _rows("dup-", 1))
    assert [r[0] for r in _stored(database)] == ["dup-0", "dup-1"]


def test_update_rows(database: Database) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("u-", 3))
        ids = dict(conn.execute(select(Party.id, Party.external_id)).all())
        by_ext = {v: k for k, v in ids.items()}
        update_rows(
            conn,
            Party.__table__,
            [
                {"id": by_ext["u-0"], "name": "Zero", "verified": True},
                {"id": by_ext["u-2"], "name": "Two", "verified": False},
            ],
        )
    assert [(r[0], r[1], r[3]) for r in _stored(database)] == [
        ("u-0", "Zero", True),
        ("u-1", "Name 1", True),
        ("u-2", "Two", False),
    ]


@pytest.mark.parametrize("many", [2, 300])
def test_update_rows_in_bulk_stores_what_core_stores(database: Database, many: int) -> None:
    """Many rows at once (SQLite: one UPDATE reading a JSON array): timestamps, booleans,
    NULLs and text read back as a Core UPDATE of the same values leaves them, byte for byte."""
    from sqlalchemy import update

    t = Party.__table__
    later = datetime(2026, 3, 1, 9, 30, 0, 250, tzinfo=SAST)
    with database.engine.begin() as conn:
        insert_rows(conn, t, _rows("b-", many) + _rows("c-", many))
        ids = dict(conn.execute(select(t.c.external_id, t.c.id)).all())

        def change(i: int) -> dict[str, object]:
            return {"name": f"N\u00e9 {i} \"q\"", "email": None if i % 3 else f"{i}@x",
                    "verified": not i % 2, "created_at": later + timedelta(seconds=i)}  # fmt: skip

        update_rows(conn, t, [{"id": ids[f"b-{i}"], **change(i)} for i in range(many)])
        for i in range(many):
            conn.execute(update(t).where(t.c.id == ids[f"c-{i}"]).values(**change(i)))
    with database.engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT substr(external_id, 1, 1), substr(external_id, 3), name, email, verified,"
            " created_at FROM parties"
        ).all()
    bulk = sorted((int(r[1]), *r[2:]) for r in raw if r[0] == "b")
    core = sorted((int(r[1]), *r[2:]) for r in raw if r[0] == "c")
    assert bulk == core and len(bulk) == many


def test_update_rows_naming_a_row_twice_is_refused(database: Database) -> None:
    """One statement updates every row: which of two values for one row would win is unsaid
    (PostgreSQL's UPDATE ... FROM picks either), so that is a caller's error."""
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("d-", 2))
        ids = dict(conn.execute(select(Party.external_id, Party.id)).all())
        with pytest.raises(ValueError, match="parties row twice"):
            update_rows(
                conn,
                Party.__table__,
                [{"id": ids["d-0"], "name": "first"}, {"id": ids["d-1"], "name": "one"},
                 {"id": ids["d-0"], "name": "second"}],
            )  # fmt: skip
    assert [(r[0], r[1]) for r in _stored(database)] == [("d-0", ""), ("d-1", "Name 1")]


def test_insert_ignore_rows_returns_only_what_it_inserted(database: Database) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("seen-", 2))
    with database.engine.begin() as conn:
        got = insert_ignore_rows(
            conn, Party.__table__, _rows("seen-", 3) + _rows("seen-", 3),
            ["external_id"], ["external_id"],
        )  # fmt: skip
    assert [r[0] for r in got] == ["seen-2"]
    assert [r[0] for r in _stored(database)] == ["seen-0", "seen-1", "seen-2"]


@pytest.mark.parametrize("many", [3, 100])  # PostgreSQL: unnest below 64 rows, COPY above
def test_json_columns_read_back_as_core_stores_them(database: Database, many: int) -> None:
    t = AuditEvent.__table__
    at = datetime(2026, 1, 5, 8, tzinfo=UTC)
    values = [{"level": 1, "to": "lead é", "nested": [1, None]}, None, {}]
    rows = [
        {"actor": "bulk", "actor_agent_id": None, "action": "a", "target_type": "t",
         "target_id": str(i), "allowed": True, "before": values[i % 3], "after": None,
         "detail": "", "at": at}
        for i in range(many)
    ]  # fmt: skip
    with database.engine.begin() as conn:
        insert_rows(conn, t, rows)
        conn.execute(insert(t), [{**r, "actor": "core"} for r in rows])
    with database.read() as s:
        stored = s.execute(select(t.c.actor, t.c.target_id, t.c.before, t.c.after)).all()
    bulk = sorted((r[1], repr(r[2]), r[3]) for r in stored if r[0] == "bulk")
    core = sorted((r[1], repr(r[2]), r[3]) for r in stored if r[0] == "core")
    assert bulk == core and len(bulk) == many


def test_in_ids_binds_one_list(database: Database) -> None:
    postgres = database.engine.dialect.name == "postgresql"
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("in-", 4))
        ids = sorted(conn.execute(select(Party.id)).scalars())
        query = select(Party.external_id).where(in_ids(Party.id, "ids", postgres))
        assert sorted(conn.execute(query, {"ids": ids[1:3]}).scalars()) == ["in-1", "in-2"]
        assert conn.execute(query, {"ids": []}).all() == []


def test_in_json_selects_the_values_given(database: Database) -> None:
    """Both databases (json_each on SQLite, json_array_elements_text on PostgreSQL), with
    values that JSON, SQL or the driver's placeholders could take for their own."""
    if not database.is_postgres and not SQLITE_JSON:
        pytest.skip("this SQLite has no built-in json_each")
    pg = database.is_postgres
    odd = ['quote "q"', "back\\slash", "é ünï", "[1]", "a,b", "50% :v %(x)s", "it's", "{}"]
    odd.append(r"\u00e9")  # a JSON escape as text, not the character
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("p-", 5))
        insert_rows(conn, Party.__table__, [{**_rows("", 1)[0], "external_id": o} for o in odd])
        query = select(Party.external_id).where(
            in_json(Party.external_id, ["p-1", "p-3", "nope", *odd], pg)
        )
        assert sorted(conn.execute(query).scalars()) == sorted(["p-1", "p-3", *odd])
        none = select(Party.id).where(in_json(Party.external_id, [], pg))
        assert list(conn.execute(none)) == []


@pytest.mark.parametrize("ready", [False, True])  # the inserts' work done ahead, or not
@pytest.mark.parametrize("many", [2, 70])  # PostgreSQL: one statement of CTEs; COPY and others
def test_a_batch_deletes_inserts_and_updates_in_order(
    database: Database, many: int, ready: bool
) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("old-", 3))
        by_ext = {e: i for i, e in conn.execute(select(Party.id, Party.external_id)).all()}
        batch = Batch()
        batch.delete(Party.__table__, [by_ext["old-0"]])
        batch.insert(Party.__table__, _rows("new-", many))
        as_tuples = _rows("tup-", many)
        names = list(as_tuples[0])
        batch.insert_tuples(Party.__table__, names, [tuple(r.values()) for r in as_tuples])
        batch.insert_tuples(Party.__table__, names, [])  # nothing to do: left out
        batch.update(Party.__table__, [{"id": by_ext["old-1"], "name": "One", "verified": False}])
        batch.update(Party.__table__, [])  # nothing to do: left out
        if ready:
            batch.ready(database.engine.dialect.name == "postgresql")
        batch.run(conn)
    stored = _stored(database)
    assert [r[0] for r in stored if str(r[0]).startswith("old-")] == ["old-1", "old-2"]
    assert [(r[1], r[3]) for r in stored if r[0] == "old-1"] == [("One", False)]
    assert sum(1 for r in stored if str(r[0]).startswith("new-")) == many
    # rows given as tuples are stored as the same rows given as mappings
    new = [r[1:] for r in stored if str(r[0]).startswith("new-")]
    assert [r[1:] for r in stored if str(r[0]).startswith("tup-")] == new


def test_insert_ignore_rows_in_bulk_twice_in_one_transaction(database: Database) -> None:
    """From 64 rows PostgreSQL stages them with COPY: a second batch in the same transaction
    sees only its own rows, and conflicts are skipped as with few rows."""
    with database.engine.begin() as conn:
        first = insert_ignore_rows(conn, Party.__table__, _rows("big-", 70), ["external_id"],
                                   ["external_id"])  # fmt: skip
        second = insert_ignore_rows(conn, Party.__table__, _rows("big-", 80), ["external_id"],
                                    ["external_id"])  # fmt: skip
    assert len(first) == 70
    assert sorted(r[0] for r in second) == sorted(f"big-{i}" for i in range(70, 80))
    assert len(_stored(database)) == 80


def test_allocate_ids_hands_out_fresh_increasing_keys(database: Database) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("a-", 2))
        got = allocate_ids(conn, {"parties": 3, "audit_events": 2})
        taken = set(conn.execute(select(Party.id)).scalars())
        rows = [{**row, "id": i} for row, i in zip(_rows("b-", 3), got["parties"], strict=True)]
        insert_rows(conn, Party.__table__, rows)
    assert got["parties"] == sorted(got["parties"]) and len(set(got["parties"])) == 3
    assert not taken & set(got["parties"]) and len(got["audit_events"]) == 2
    assert [r[0] for r in _stored(database)] == ["a-0", "a-1", "b-0", "b-1", "b-2"]


def test_a_pipeline_runs_in_order_and_reads_rows_back(database: Database) -> None:
    if not database.is_postgres:
        with database.engine.begin() as conn, pytest.raises(ValueError), pg_pipeline(conn):
            pass
        return
    with database.engine.begin() as conn, pg_pipeline(conn) as pipe:
        pipe.insert(Party.__table__, _rows("p-", 5))
        seen = pipe.insert_ignore(Party.__table__, _rows("p-", 7), ["external_id"], ["external_id"])
        count = pipe.send("SELECT count(*) FROM parties")
        assert sorted(r[0] for r in pipe.rows(seen)) == ["p-5", "p-6"]
        assert pipe.rows(count) == [(7,)]
    assert len(_stored(database)) == 7


def test_a_failing_pipeline_raises_the_sqlalchemy_error_and_nothing_lands(
    database: Database,
) -> None:
    if not database.is_postgres:
        pytest.skip("pipeline mode is PostgreSQL's")
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("dup-", 1))
    begin = database.engine.begin
    with pytest.raises(IntegrityError), begin() as conn, pg_pipeline(conn) as pipe:
        pipe.insert(Party.__table__, _rows("new-", 2))
        pipe.insert(Party.__table__, _rows("dup-", 1))
        pipe.insert(Party.__table__, _rows("later-", 2))
    with (
        pytest.raises(ProgrammingError, match="ON CONFLICT"),
        begin() as conn,
        pg_pipeline(conn) as pipe,
    ):
        pipe.insert(Party.__table__, _rows("new-", 2))
        failed = pipe.insert_ignore(Party.__table__, _rows("x-", 1), ["name"], ["id"])
        pipe.rows(failed)  # no unique index on name: raised when its rows are read
    assert [r[0] for r in _stored(database)] == ["dup-0"]


def _audit_rows(n: int, **change: object) -> list[dict[str, object]]:
    at = datetime(2026, 1, 5, 10, 30, tzinfo=SAST)  # a non-UTC offset, stored as UTC
    rows: list[dict[str, object]] = [
        {"actor": "bulk", "actor_agent_id": None, "action": "a", "target_type": "t",
         "target_id": str(i), "allowed": True, "before": None, "after": None,
         "detail": "", "at": at}
        for i in range(n)
    ]  # fmt: skip
    rows[-1].update(change)
    return rows


@pytest.mark.parametrize(
    "bad",
    [{"actor_agent_id": 2**31}, {"actor_agent_id": -(2**31) - 1}, {"target_id": 7}],
    ids=["int4-overflow", "int4-underflow", "int-for-text"],
)
def test_copy_refuses_what_it_cannot_carry_as_a_data_error(
    database: Database, bad: dict[str, object]
) -> None:
    """PostgreSQL's binary COPY (from 64 rows) would wrap a 32-bit integer out of range: it is
    refused before COPY starts, as the server refuses one, and nothing lands."""
    if not database.is_postgres:
        pytest.skip("COPY is PostgreSQL's")
    with pytest.raises(DataError), database.engine.begin() as conn:
        insert_rows(conn, AuditEvent.__table__, _audit_rows(100, **bad))
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_copy_stores_offsets_as_utc(database: Database) -> None:
    with database.engine.begin() as conn:
        insert_rows(conn, AuditEvent.__table__, _audit_rows(100))
    with database.read() as s:
        ats = set(s.scalars(select(AuditEvent.at)))
    assert ats == {datetime(2026, 1, 5, 8, 30, tzinfo=UTC)}


def test_update_rows_with_the_version_read_refuses_rows_changed_meanwhile(
    database: Database,
) -> None:
    """Rows carrying the optimistic-lock version they were read at: updated (and bumped) only
    if still at it; else StaleRows, and the caller's transaction rolls back."""
    from db.bulk import StaleRows
    from db.models import Agent, Conversation, Team

    del Agent, Team
    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("v-", 1))
        party = conn.execute(select(Party.id)).scalar_one()
        at = datetime(2026, 1, 5, 8, tzinfo=UTC)
        base = {
            "thread_key": "k", "kind": "user_admin", "subject": "s", "requester_id": party,
            "status": "new", "priority": "normal", "escalation_level": 0, "is_open": True,
            "created_at": at, "updated_at": at, "version": 1,
        }  # fmt: skip
        conn.execute(
            insert(Conversation.__table__),
            [{**base, "external_id": "c-1"}, {**base, "external_id": "c-2"}],
        )
        ids = dict(conn.execute(select(Conversation.external_id, Conversation.id)).all())
    table = Conversation.__table__
    with database.engine.begin() as conn:
        update_rows(
            conn, table, [{"id": ids["c-1"], "status": "open", "version": 1}], bump="version"
        )
    with pytest.raises(StaleRows, match="1 of 2"), database.engine.begin() as conn:
        update_rows(
            conn, table,
            [{"id": ids["c-1"], "status": "pending_customer", "version": 1},  # read before
             {"id": ids["c-2"], "status": "open", "version": 1}],
            bump="version",
        )  # fmt: skip
    with database.read() as s:
        got = dict(s.execute(select(Conversation.external_id, Conversation.status)).all())
        versions = dict(s.execute(select(Conversation.external_id, Conversation.version)).all())
    assert got == {"c-1": "open", "c-2": "new"} and versions == {"c-1": 2, "c-2": 1}


@pytest.mark.parametrize("many", [3, 100])  # PostgreSQL: a statement below 64 rows, COPY above
def test_an_insert_prepared_ahead_stores_what_insert_rows_stores(
    database: Database, many: int
) -> None:
    from db.bulk import insert_later

    postgres = database.engine.dialect.name == "postgresql"
    names = list(_rows("x", 1)[0])
    later = insert_later(
        postgres, Party.__table__, names, [tuple(r.values()) for r in _rows("later-", many)]
    )
    with database.engine.begin() as conn:
        later(conn)
        insert_rows(conn, Party.__table__, _rows("now-", many))
    stored = _stored(database)
    ahead = sorted(r[1:] for r in stored if str(r[0]).startswith("later-"))
    now = sorted(r[1:] for r in stored if str(r[0]).startswith("now-"))
    assert ahead == now and len(ahead) == many


def test_a_value_refused_ahead_is_a_data_error_when_the_copy_runs(database: Database) -> None:
    """PostgreSQL: a COPY's rows are converted when the insert is prepared; a value the
    conversion refuses fails the insert when it runs, as a DataError, and nothing lands."""
    from db.bulk import insert_later

    if database.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    rows = [tuple(r.values()) for r in _rows("bad-", 100)]
    rows[50] = (*rows[50][:-1], datetime(2026, 1, 5, 8))  # naive created_at
    later = insert_later(True, Party.__table__, list(_rows("x", 1)[0]), rows)
    with pytest.raises(DataError, match="naive"), database.engine.begin() as conn:
        later(conn)
    assert _stored(database) == []


def test_copy_checks_whole_columns_and_keeps_values(database: Database) -> None:
    """PostgreSQL: a COPY's timestamps are checked a column at a time: fixed offsets and a
    named zone (whose offset depends on the instant) pass and are stored as they are; one
    naive value among aware ones, or a zone without an offset, still fails the insert."""
    from zoneinfo import ZoneInfo

    from db.bulk import insert_later

    if database.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")

    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta | None:
            return None

    names = list(_rows("x", 1)[0])
    rows = [tuple(r.values()) for r in _rows("zone-", 100)]
    johannesburg = datetime(2026, 7, 1, 9, tzinfo=ZoneInfo("Africa/Johannesburg"))
    rows[10] = (*rows[10][:-1], johannesburg)
    rows[11] = (*rows[11][:-1], datetime(2026, 7, 1, 7, tzinfo=UTC))
    with database.engine.begin() as conn:
        insert_later(True, Party.__table__, names, rows)(conn)
    with database.engine.connect() as conn:
        stored = dict(
            conn.execute(select(Party.external_id, Party.created_at).where(
                Party.external_id.in_(["zone-10", "zone-11", "zone-12"])
            )).all()
        )  # fmt: skip
    assert stored["zone-10"] == stored["zone-11"] == johannesburg
    assert stored["zone-12"] == datetime(2026, 1, 5, 6, 0, 0, 12, tzinfo=UTC)  # as _rows made it
    for bad in (datetime(2026, 1, 5, 8), datetime(2026, 1, 5, 8, tzinfo=NoOffset())):
        rows = [tuple(r.values()) for r in _rows("bad-", 100)]
        rows[99] = (*rows[99][:-1], bad)
        later = insert_later(True, Party.__table__, names, rows)
        with pytest.raises(DataError, match="naive"), database.engine.begin() as conn:
            later(conn)
    assert [r for r in _stored(database) if str(r[0]).startswith("bad-")] == []


def test_a_null_beside_enum_members_stays_null(database: Database) -> None:
    """A column whose first value is an enum member and which also holds NULLs: the NULLs
    are stored as NULL, not as the text 'None'."""
    from db.enums import Status
    from db.models import Conversation

    with database.engine.begin() as conn:
        insert_rows(conn, Party.__table__, _rows("n-", 1))
        party = conn.execute(select(Party.id)).scalar_one()
        at = datetime(2026, 1, 5, 8, tzinfo=UTC)
        base = {"thread_key": "k", "kind": "user_admin", "subject": "s", "requester_id": party,
                "status": "open", "priority": "normal", "escalation_level": 0, "is_open": True,
                "created_at": at, "updated_at": at, "queue_due_at": at, "version": 1}  # fmt: skip
        insert_rows(
            conn,
            Conversation.__table__,
            [{**base, "external_id": f"c-{i}", "category": [Status.OPEN, None][i % 2]}
             for i in range(4)],
        )  # fmt: skip
        got = conn.execute(select(Conversation.category).order_by(Conversation.id)).scalars().all()
    assert got == ["open", None, "open", None]


def test_sqlite_bulk_insert_of_a_wide_table_stays_within_the_variable_limit(
    tmp_path: object,
) -> None:
    """43 columns divide SQLite's 32,766 variables exactly (762 rows): a statement of that
    many rows plus its LIMIT parameter would be one variable too many."""
    import sqlite3
    from pathlib import Path

    from sqlalchemy import Column, Integer, MetaData, Table

    from db.engine import open_database

    db = open_database(f"sqlite:///{Path(str(tmp_path)) / 'wide.sqlite3'}")
    try:
        meta = MetaData()
        wide = Table(
            "wide", meta, *(Column(f"c{i}", Integer, primary_key=i == 0) for i in range(43))
        )
        meta.create_all(db.engine)
        rows = [{f"c{i}": r * 100 + i for i in range(43)} for r in range(1, 1001)]
        with db.engine.begin() as conn:
            # SQLite's own default limit (some builds raise it, e.g. Debian's to 250,000)
            raw = conn.connection.driver_connection
            before = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)
            try:
                insert_rows(conn, wide, rows)
            finally:
                raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
        with db.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(wide)).scalar() == 1000
            assert conn.execute(select(func.sum(wide.c.c42))).scalar() == sum(
                r * 100 + 42 for r in range(1, 1001)
            )
    finally:
        db.dispose()
