"""Bulk writes for the write-heavy paths (intake, clock replay): many rows, one statement.

SQLAlchemy's Core ``executemany`` runs every value through its type processors in Python
(the UTC decorator, then the dialect's own conversion), which costs more than the database's
own work on a bulk load. These helpers convert values once, cheaply, and hand them to the
driver directly, in the caller's transaction (errors still come back as SQLAlchemy errors):

* SQLite: one DBAPI ``executemany`` of ``INSERT``/``UPDATE`` with ``?`` parameters; timestamps
  stored exactly as SQLAlchemy stores them (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), booleans as
  0/1.
* PostgreSQL: inserts with ``COPY ... FROM STDIN`` (measured: 20,000 clock-log rows in 1.3 s
  against 4.0 s for one ``INSERT ... SELECT FROM unnest(arrays)`` and more for a pipelined
  ``executemany``), in the binary format (each value sent in its column type's binary form:
  psycopg formats a row in a fifth of the time the text format takes, and the server parses no
  timestamps; bulk intake's client CPU fell by a fifth), updates with one
  ``UPDATE ... FROM unnest(array, array, ...)``. COPY runs on
  the transaction's own connection; its errors are raised as the SQLAlchemy exception of the
  same kind (``IntegrityError`` for a duplicate id, ``DataError``, ...), so callers' retry and
  fallback logic is unchanged.

Only the column types the bulk paths use are supported (integers, booleans, strings, text,
JSON and :class:`db.base.UTCDateTime`); anything else raises ``TypeError``. JSON values are
stored as SQLAlchemy stores them (``json.dumps``), ``None`` as SQL NULL (read back as
``None`` all the same). Column defaults set in Python (``default=``) are not applied: rows
must carry every NOT NULL column.

:func:`in_ids` is the other half of a set-based statement: a list of ids as one bound
parameter (``= ANY(:ids)`` on PostgreSQL, one array; an expanding ``IN`` on SQLite), so that
a statement over thousands of ids is not thousands of placeholders for the driver to parse.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timezone
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    Row,
    String,
    Table,
    Text,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DataError, DBAPIError

from db.base import UTCDateTime

Converter = Callable[[Any], Any]

#: PostgreSQL: from this many rows an insert uses COPY; below, one INSERT ... SELECT FROM
#: unnest(...) (COPY's extra protocol steps cost more than they save on a handful of rows).
_COPY_FROM = 64


def sqlite_datetime(value: datetime | None) -> str | None:
    """A timestamp as SQLAlchemy stores it on SQLite (UTC, microseconds, space separator)."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # the common case: already UTC ("...+00:00" cut off)
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must carry an offset")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive datetime {value!r}: timestamps must carry an offset")
    return value


def _sqlite_bool(value: object) -> int | None:
    return None if value is None else int(bool(value))


def in_ids(column: Any, name: str, postgres: bool) -> ColumnElement[bool]:
    """``column`` is one of the ids bound as ``name`` (a list): ``= ANY(array)`` on PostgreSQL,
    an expanding ``IN`` elsewhere. The statement is built per dialect (``postgres``) once."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(BigInteger())))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def in_json(column: Any, values: Iterable[Any], postgres: bool = False) -> ColumnElement[bool]:
    """``column IN (SELECT value FROM json_each(?))``, the values bound as one JSON array (an
    expanding ``IN`` of thousands of values has SQLAlchemy render and bind each placeholder
    in Python: 7% of a bulk intake's preparing thread). Needs SQLite 3.38 (json_each built
    in); :data:`SQLITE_JSON` says whether it has it.

    ``postgres``: ``IN (SELECT json_array_elements_text(CAST(:v AS json)))``. psycopg builds a
    text array parameter in Python, element by element (6,000 message ids: 5 ms of the
    client's CPU, 14.7 ms a look-up in all, against 11.5 ms with one JSON text); the planner
    joins the elements to the column's index as it joins an ``unnest``. For text columns."""
    payload = orjson.dumps(list(values)).decode()
    if postgres:
        param = bindparam("json_values", payload, type_=String()).cast(JSON)
        elements = func.json_array_elements_text(param)
        return column.in_(select(elements).scalar_subquery())  # type: ignore[no-any-return]
    each = func.json_each(bindparam("json_values", payload))
    return column.in_(select(each.table_valued("value").c.value).scalar_subquery())  # type: ignore[no-any-return]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _pg_type(table: Table, name: str) -> str:
    column_type = table.c[name].type
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, UTCDateTime):
        return "timestamptz"
    if isinstance(column_type, Boolean):
        return "boolean"
    if isinstance(column_type, Integer):
        return "bigint"
    if isinstance(column_type, String | Text):
        return "text"
    raise TypeError(f"bulk write of {table.name}.{name} ({column_type!r}) is not supported")


def _pg_wire_type(table: Table, name: str) -> str:
    """The type a binary COPY sends a column's values as: the column's own (a binary value
    is read by the column type's receive function, so integers must have its width); text for
    strings and for JSON (serialized already: json's binary form is its text)."""
    column_type = table.c[name].type
    pg = _pg_type(table, name)
    if pg == "bigint":
        return "int8" if isinstance(column_type, BigInteger) else "int4"
    return "text" if pg == "json" else pg


def _sqlite_converter(table: Table, name: str) -> Converter | None:
    column_type = table.c[name].type
    _pg_type(table, name)  # the same set of supported types on both backends
    if isinstance(column_type, UTCDateTime):
        return sqlite_datetime
    if isinstance(column_type, Boolean):
        return _sqlite_bool
    if isinstance(column_type, JSON):
        return _json
    return None


def _pg_converter(table: Table, name: str) -> Converter | None:
    """What a value of ``table.name`` goes through before psycopg: timestamps are checked to
    be aware, JSON values are serialized; the rest goes as it is."""
    column_type = table.c[name].type
    if isinstance(column_type, UTCDateTime):
        return _aware
    if isinstance(column_type, JSON):
        return _json
    return None


def _pg_copy_converter(table: Table, name: str) -> Converter | None:
    """:func:`_pg_converter` for a binary COPY, which also range-checks 32-bit integers (the
    binary format would wrap one out of range where the server refuses it)."""
    column_type = table.c[name].type
    if isinstance(column_type, Integer) and not isinstance(column_type, BigInteger):
        return _int4
    return _pg_converter(table, name)


def _int4(value: Any) -> Any:
    if value is not None and not -(2**31) <= value < 2**31:
        raise ValueError(f"{value!r} is out of range for a 32-bit integer column")
    return value


def _pg_values(table: Table, names: Sequence[str], row: Mapping[str, Any]) -> list[Any]:
    converters = [_pg_converter(table, n) for n in names]
    return [row[n] if f is None else f(row[n]) for n, f in zip(names, converters, strict=True)]


def _columns(table: Table, names: Sequence[str]) -> None:
    for name in names:
        if name not in table.c:
            raise KeyError(f"{table.name} has no column {name!r}")


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the keys of the first one) with one statement."""
    if not rows:
        return
    names = list(rows[0])
    _columns(table, names)
    if conn.dialect.name == "postgresql" and len(rows) < _COPY_FROM:
        conn.exec_driver_sql(*_pg_insert(table, rows))
        return
    insert_tuples(conn, table, names, _tuples(names, rows))


def insert_tuples(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """:func:`insert_rows` for rows given as tuples of the ``names`` columns, in that order
    (the bulk paths' cheaper form: no mapping a row)."""
    if not rows:
        return
    _columns(table, names)
    if conn.dialect.name == "postgresql":
        if len(rows) < _COPY_FROM:
            conn.exec_driver_sql(
                *_pg_insert(table, [dict(zip(names, r, strict=True)) for r in rows])
            )
        else:
            _pg_copy(conn, table, names, rows)
        return
    for sql, params in _sqlite_insert_statements(table, names, rows):
        conn.exec_driver_sql(sql, params)


def insert_later(
    postgres: bool, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Callable[[Connection], None]:
    """:func:`insert_tuples` to run later on a connection, with what can be done beforehand
    done now: every value converted (PostgreSQL: for ``COPY``; SQLite: and every statement's
    parameters built), so that the writing thread of an overlapped intake only sends them (on
    PostgreSQL the server waited for the conversion before each COPY: a tenth of the writing
    thread's time at 1,000,000 records). A value the conversion refuses is raised when the
    insert runs, as the ``DataError`` :func:`insert_tuples` raises."""
    _columns(table, names)
    if postgres:
        if len(rows) < _COPY_FROM:
            return lambda conn: insert_tuples(conn, table, names, rows)
        try:
            values = _converted(rows, [_pg_copy_converter(table, n) for n in names])
        except (TypeError, ValueError, OverflowError) as exc:
            refused = exc

            def fail(conn: Connection) -> None:
                raise DataError(f"COPY {table.name}", None, refused) from refused

            return fail
        return lambda conn: _pg_copy(conn, table, names, values, converted=True)
    statements = _sqlite_insert_statements(table, names, rows)

    def run(conn: Connection) -> None:
        for sql, params in statements:
            conn.exec_driver_sql(sql, params)

    return run


#: SQLite: the most rows a bulk insert statement takes (see _sqlite_insert_statements)
_SQLITE_CHUNK = 1024


def _sqlite_insert_statements(
    table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[str, tuple[Any, ...]]]:
    """``rows`` (not converted yet) as statements inserting up to ``_SQLITE_CHUNK`` rows each:
    ``INSERT ... SELECT * FROM (VALUES (?, ...), ...) LIMIT ?``. Chunk sizes are powers of
    two (the rest after the full chunks goes as 512 + 256 + ... rows, the last few padded with
    NULLs and cut by the limit), so that a table has a handful of statement texts (compiled
    once, then cached by the driver: a 1,000-row VALUES list takes 7 ms to compile) whatever
    the number of rows. A column that is NULL in every row (and has no default) is left out:
    sqlite3 binds ``None`` through its adapter lookup (about a microsecond a value, holding
    the interpreter lock), the cost of a bulk write's many empty timestamps."""
    count = len(rows)
    columns: list[Iterable[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    kept = [i for i, name in enumerate(names) if not _all_null(columns[i], table.c[name])] or [0]
    names = [names[i] for i in kept]
    columns = [columns[i] for i in kept]
    n = len(names)
    if len(_SQLITE_TIMES) > 200_000:
        _SQLITE_TIMES.clear()
    for i, name in enumerate(names):  # a column at a time, each value by C-level lookups
        convert = _sqlite_converter(table, name)
        if convert is sqlite_datetime:  # one instant is in many columns and tables of a batch
            columns[i] = map(_SQLITE_TIMES.__getitem__, columns[i])
        elif convert is _sqlite_bool:
            columns[i] = map(_Memo(convert).__getitem__, columns[i])
        elif convert is not None:
            columns[i] = map(convert, columns[i])
        elif _str_subclass(columns[i]):  # enum members: plain strings, which sqlite3 binds as
            columns[i] = map(_Memo(_plain_str).__getitem__, columns[i])  # they are (no lookup)
    flat = list(chain.from_iterable(zip(*columns, strict=True)))
    if count == 1:
        marks = ", ".join("?" * n)
        return [(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", tuple(flat))]
    out = []
    top = max(_SQLITE_SMALLEST, min(_SQLITE_CHUNK, (32766 - 1) // n))  # 1: the LIMIT's
    row = "(" + ", ".join("?" * n) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM (VALUES "
    start = 0
    while start < count:
        left = count - start
        per = top
        while per > _SQLITE_SMALLEST and per > left:
            per //= 2
        taken = min(per, left)
        params = flat[start * n : (start + taken) * n]
        if taken < per:
            params.extend([None] * (n * (per - taken)))
        params.append(taken)
        out.append((f"{head}{', '.join([row] * per)}) LIMIT ?", tuple(params)))
        start += taken
    return out


#: SQLite: the fewest rows a bulk insert statement has (fewer are padded with NULLs)
_SQLITE_SMALLEST = 8


def _all_null(values: Iterable[Any], column: Any) -> bool:
    """Whether every value is None, for a column that then is NULL when left out."""
    if column.server_default is not None or column.primary_key:
        return False
    return all(v is None for v in values)


def _plain_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _str_subclass(column: Iterable[Any]) -> bool:
    """Whether the first value of ``column`` that is not None is of a subclass of ``str``."""
    for value in column:
        if value is not None:
            return isinstance(value, str) and type(value) is not str
    return False


class _Memo(dict[Any, Any]):
    """``convert`` remembering its results, looked up by ``__getitem__`` (a C call when the
    value was seen: a bulk write's timestamps and flags repeat; one creation time for the
    batch, a clock starting at its message's time)."""

    def __init__(self, convert: Converter) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        result = self[value] = self.convert(value)
        return result


#: SQLite: timestamps converted lately (a message's time is also its clocks' start, its clock
#: log's, its conversation's first or last message time): up to 200,000, then forgotten
_SQLITE_TIMES = _Memo(sqlite_datetime)


# SQLite: a bulk insert is a few statements of many rows each (``VALUES`` lists, see
# _sqlite_insert_statements) and a bulk update one statement reading its rows from one JSON
# array (``json_each``), not an ``executemany``. SQLite then writes the whole batch in one call,
# which releases Python's interpreter lock for all of it; an executemany takes the lock back
# after every row, which costs up to a switch interval a row while another thread runs Python
# (measured: 20,000 rows in 3.6 s instead of 54 ms beside a busy thread; 0.1 s as one
# statement), and keeps a statement journal a row (written to a temporary file).


def _sqlite_json(table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` as one JSON array of arrays, each value as :func:`insert_tuples` stores it on
    SQLite: JSON's true/false read back as 1/0, timestamps as :func:`sqlite_datetime`, JSON
    columns as their text."""
    converters = [_sqlite_converter(table, n) for n in names]
    own = [None if f in (sqlite_datetime, _sqlite_bool) else f for f in converters]
    if any(own):
        rows = _converted(rows, own)
    try:
        payload = orjson.dumps(
            rows,
            default=_Memo(_orjson_datetime).__getitem__,
            option=orjson.OPT_PASSTHROUGH_DATETIME,
        )
    except orjson.JSONEncodeError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValueError | TypeError):
            raise cause from None  # a naive timestamp, a value of no supported type
        raise TypeError(str(exc)) from None  # an integer beyond 64 bits, a lone surrogate
    return payload.decode()


#: ``UPDATE ... FROM`` (SQLite 3.33), ``->>`` and json_each built in (3.38); an older library
#: updates a row a statement, and :func:`in_json` is not used
SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)


def _sqlite_update(
    conn: Connection,
    table: Table,
    order: Sequence[str],
    n_values: int,
    rows: Sequence[Mapping[str, Any]],
    bump: str | None,
) -> int:
    """:func:`update_rows` on SQLite: ``order`` is the columns to set (the first
    ``n_values``), the key, then the expected version if any. One ``UPDATE ... FROM
    json_each(?)`` (a single row, or an older SQLite: an UPDATE a row)."""
    values, key, expect = order[:n_values], order[n_values], order[n_values + 1 :]
    tuples = _tuples(order, rows)
    if len(tuples) == 1 or not SQLITE_JSON:
        sets = ", ".join(f"{n} = ?" for n in values)
        if bump is not None:
            sets += f", {bump} = {bump} + 1"
        where = f"{key} = ?" + (f" AND {bump} = ?" if expect else "")
        return int(
            conn.exec_driver_sql(
                f"UPDATE {table.name} SET {sets} WHERE {where}", _sqlite_tuples(table, order, rows)
            ).rowcount
        )
    sets = ", ".join(f"{n} = v.value ->> {i}" for i, n in enumerate(values))
    if bump is not None:
        sets += f", {bump} = {table.name}.{bump} + 1"
    where = f"{table.name}.{key} = v.value ->> {n_values}"
    if expect:
        where += f" AND {table.name}.{bump} = v.value ->> {n_values + 1}"
    return int(
        conn.exec_driver_sql(
            f"UPDATE {table.name} SET {sets} FROM json_each(?) AS v WHERE {where}",
            (_sqlite_json(table, order, tuples),),
        ).rowcount
    )


def _orjson_datetime(value: Any) -> str | None:
    if isinstance(value, datetime):
        return sqlite_datetime(value)
    raise TypeError(f"{type(value).__name__} is not a supported bulk value")


def _tuples(names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The ``names`` values of each row, in that order."""
    if len(names) == 1:
        return [(row[names[0]],) for row in rows]
    get = itemgetter(*names)
    return [get(row) for row in rows]


def _converted(
    rows: Sequence[Sequence[Any]], converters: Sequence[Converter | None]
) -> Sequence[Sequence[Any]]:
    """``rows`` with each value passed through its column's converter (None: as it is).

    A converter that only checks (:data:`_COLUMN_CHECKS`: awareness of timestamps, the range
    of 32-bit integers) checks its whole column at once and changes nothing; when every
    converter is such a check (PostgreSQL's COPY of an intake batch), the rows are kept as
    they are instead of being taken apart a column at a time and put together again (the
    rebuilding was most of the conversion's cost: 4 s of 1,000,000 records' preparation)."""
    if not rows:
        return []
    transforms: list[tuple[int, Converter]] = []
    for i, f in enumerate(converters):
        if f is None:
            continue
        check = _COLUMN_CHECKS.get(f)
        if check is not None:
            check(list(map(itemgetter(i), rows)))
        else:
            transforms.append((i, f))
    if not transforms:
        return list(map(tuple, rows))
    # a column at a time (a bulk write's columns repeat values: one creation time for the
    # batch, a clock starting at its message's time), each value by C-level lookups
    columns: list[Iterable[Any]] = list(zip(*rows, strict=True))
    for i, f in transforms:
        if f is sqlite_datetime:
            columns[i] = map(_Memo(f).__getitem__, columns[i])
        else:
            columns[i] = map(f, columns[i])
    return list(zip(*columns, strict=True))


def _int4_column(values: list[Any]) -> None:
    """:func:`_int4` for a whole column."""
    present = list(filter(None, values))  # (0 and None need no check)
    if present and not (min(present) >= -(2**31) and max(present) < 2**31):
        for value in present:
            _int4(value)


_TZINFO = attrgetter("tzinfo")


def _aware_column(values: list[Any]) -> None:
    """:func:`_aware` for a whole column: the distinct time zones of its values, by C-level
    calls; a value of a zone that is not a fixed offset (whose offset could be undefined, or
    another type) is checked by itself."""
    try:
        zones = set(map(_TZINFO, filter(None, values)))  # (a datetime is never false)
    except AttributeError:
        raise TypeError("a timestamp column holds a value that is not a datetime") from None
    if any(type(zone) is not timezone for zone in zones):
        for value in values:
            _aware(value)


#: Converters that only check a value, and the check of a whole column that replaces them
_COLUMN_CHECKS: dict[Converter, Callable[[list[Any]], None]] = {
    _int4: _int4_column,
    _aware: _aware_column,
}


def insert_ignore_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    returning: Sequence[str] = (),
) -> list[Row[Any]]:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING [RETURNING returning]`` of ``rows`` (all
    with the keys of the first one) with one statement: the ``returning`` columns of the rows
    actually inserted (a conflicting row returns nothing, so identify rows by their columns).
    PostgreSQL: one ``INSERT ... SELECT`` from a ``VALUES`` list or ``unnest(arrays)``;
    SQLite: SQLAlchemy's own multi-row insert (its DBAPI cannot return rows from an
    executemany)."""
    if not rows:
        return []
    names = list(rows[0])
    _columns(table, names)
    _columns(table, [*conflict, *returning])
    if conn.dialect.name == "postgresql":
        result = conn.exec_driver_sql(*_pg_insert_ignore(table, rows, conflict, returning))
        return list(result.all()) if returning else []
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    if returning:
        return list(conn.execute(stmt.returning(*(table.c[c] for c in returning)), rows).all())
    conn.execute(stmt, rows)
    return []


class StaleRows(Exception):
    """An optimistic-lock update found rows changed since they were read (:func:`update_rows`
    with ``bump`` in the rows): the caller's transaction is to be rolled back and redone."""


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: str = "id",
    bump: str | None = None,
) -> None:
    """``UPDATE table SET <the other keys> WHERE key = row[key]`` for every row, one statement;
    ``bump`` names an integer column to increment as well (an optimistic-lock version). When
    the rows also carry ``bump`` (the version read), only rows still at that version are
    updated, and :class:`StaleRows` is raised if any was not."""
    if not rows:
        return
    names = list(rows[0])
    _columns(table, names)
    expect = bump is not None and bump in names
    values = [n for n in names if n not in (key, bump if expect else None)]
    if not values or key not in names:
        raise ValueError("update_rows needs the key and at least one column to set")
    if bump is not None:
        _columns(table, [bump])
    if len({row[key] for row in rows}) < len(rows):  # one statement: which would win is unsaid
        raise ValueError(f"update_rows names a {table.name} row twice")
    if conn.dialect.name == "postgresql":
        done = conn.exec_driver_sql(*_pg_update(table, rows, key, bump=bump)).rowcount
    else:
        order = [*values, key, *([bump] if expect and bump is not None else [])]
        done = _sqlite_update(conn, table, order, len(values), rows, bump)
    if expect and done != len(rows):
        raise StaleRows(
            f"{len(rows) - done} of {len(rows)} {table.name} rows changed since they were read"
        )


def _pg_insert(
    table: Table, rows: Sequence[Mapping[str, Any]], tag: str = "p"
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: ``INSERT ... SELECT`` of ``rows`` from ``_pg_source`` (parameters named
    ``<tag>...``)."""
    names = list(rows[0])
    source, params = _pg_source(table, names, rows, tag)
    return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM {source} AS v", params


def _pg_insert_ignore(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    returning: Sequence[str] = (),
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: :func:`insert_ignore_rows`'s statement."""
    _columns(table, [*rows[0], *conflict, *returning])
    sql, params = _pg_insert(table, rows)
    sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return sql, params


def _pg_update(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: str,
    tag: str = "p",
    bump: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: ``UPDATE ... FROM`` ``rows`` (``_pg_source``) by ``key`` (and by ``bump``
    too when the rows carry it: see :func:`update_rows`)."""
    names = list(rows[0])
    expect = bump is not None and bump in names
    sets = ", ".join(f"{n} = v.{n}" for n in names if n not in (key, bump if expect else None))
    if bump is not None:
        sets += f", {bump} = {table.name}.{bump} + 1"
    where = f"{table.name}.{key} = v.{key}"
    if expect:
        where += f" AND {table.name}.{bump} = v.{bump}"
    source, params = _pg_source(table, names, rows, tag)
    return (
        f"UPDATE {table.name} SET {sets} FROM {source} AS v({', '.join(names)}) WHERE {where}",
        params,
    )


#: Up to this many rows a PostgreSQL bulk statement binds scalars in a ``VALUES`` list, not
#: one array a column (an array costs the driver more to build than a few scalars).
_VALUES_UP_TO = 4


def _pg_source(
    table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]], tag: str
) -> tuple[str, dict[str, Any]]:
    """The rows as a relation: ``(VALUES (...), ...)`` for a few, ``unnest(arrays)`` else.

    Arrays are sent in binary (``%b``): psycopg builds a text array in Python, escaping each
    element, and a binary one much faster (2,000 e-mail bodies: 15 ms against 2 ms)."""
    types = [_pg_type(table, n) for n in names]
    if len(rows) > _VALUES_UP_TO:
        arrays = ", ".join(f"%({tag}{i})b::{t}[]" for i, t in enumerate(types))
        return f"unnest({arrays})", _pg_arrays(table, names, rows, tag)
    params: dict[str, Any] = {}
    tuples = []
    for r, row in enumerate(rows):
        marks = []
        for i, (t, value) in enumerate(zip(types, _pg_values(table, names, row), strict=True)):
            params[f"{tag}{i}_{r}"] = value
            marks.append(f"%({tag}{i}_{r})s::{t}")
        tuples.append(f"({', '.join(marks)})")
    return f"(VALUES {', '.join(tuples)})", params


class Batch:
    """Writes to run together at the end of a unit of work (deletes by id, inserts, updates by
    key), in the order added. On PostgreSQL, when every insert is small (no COPY), they go as
    one statement of data-modifying CTEs: one round trip whatever their number. Rows of one
    ``update`` must not be touched by another part of the batch (PostgreSQL runs the parts of
    one statement against one snapshot)."""

    def __init__(self) -> None:
        self._parts: list[tuple[str, Table, Any, str]] = []

    def delete(self, table: Table, ids: Sequence[int], key: str = "id") -> None:
        if ids:
            self._parts.append(("delete", table, list(ids), key))

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (all with the keys of the first one)."""
        if rows:
            names = list(rows[0])
            self.insert_tuples(table, names, _tuples(names, rows))

    def insert_tuples(
        self, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows``, tuples of the ``names`` columns in that order."""
        if rows:
            _columns(table, names)
            self._parts.append(("insert", table, (tuple(names), rows), ""))

    def update(self, table: Table, rows: Sequence[Mapping[str, Any]], key: str = "id") -> None:
        if rows:
            names = list(rows[0])
            _columns(table, names)
            if key not in names or len(names) < 2:
                raise ValueError("an update needs the key and at least one column to set")
            self._parts.append(("update", table, rows, key))

    def ready(self, postgres: bool) -> None:
        """Do now what the inserts can do before :meth:`run` (see :func:`insert_later`)."""
        if postgres and self._together(postgres):
            return  # the small inserts go together as one statement
        self._parts = [
            ("op", table, insert_later(postgres, table, *rows), "")
            if kind == "insert" and (not postgres or len(rows[1]) >= _COPY_FROM)
            else (kind, table, rows, key)
            for kind, table, rows, key in self._parts
        ]

    def _together(self, postgres: bool) -> bool:
        """Whether :meth:`run` sends every part as one statement (PostgreSQL, no COPY)."""
        parts = self._parts
        return (
            postgres
            and len(parts) > 1
            and all(
                kind == "update"
                or kind == "delete"
                or (kind == "insert" and len(rows[1]) < _COPY_FROM)
                for kind, _t, rows, _k in parts
            )
        )

    def run(self, conn: Connection) -> None:
        together = self._together(conn.dialect.name == "postgresql")
        parts, self._parts = self._parts, []
        if not together:
            for kind, table, rows, key in parts:
                if kind == "delete":
                    conn.execute(table.delete().where(table.c[key].in_(rows)))
                elif kind == "op":
                    rows(conn)
                elif kind == "insert":
                    insert_tuples(conn, table, *rows)
                else:
                    update_rows(conn, table, rows, key)
            return
        ctes: list[str] = []
        params: dict[str, Any] = {}
        for n, (kind, table, rows, key) in enumerate(parts):
            tag = f"b{n}_"
            if kind == "delete":
                sql = f"DELETE FROM {table.name} WHERE {key} = ANY(%({tag})b::bigint[])"
                part_params: dict[str, Any] = {tag: rows}
            elif kind == "insert":
                names, tuples = rows
                mapped = [dict(zip(names, r, strict=True)) for r in tuples]
                sql, part_params = _pg_insert(table, mapped, tag)
            else:
                sql, part_params = _pg_update(table, rows, key, tag)
            ctes.append(f"w{n} AS ({sql})")
            params.update(part_params)
        conn.exec_driver_sql(f"WITH {', '.join(ctes)} SELECT 1", params)


def _pg_copy(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    converted: bool = False,
) -> None:
    """``COPY`` ``rows`` (tuples of the ``names`` columns) into ``table``; ``converted``:
    the rows went through the converters already (see :func:`insert_later`)."""
    import psycopg

    types = [_pg_wire_type(table, name) for name in names]  # (only the supported types)
    sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
    raw: Any = conn.connection.driver_connection
    try:
        # converted (and so checked) before COPY starts; the converters looked up once
        values = (
            rows if converted else _converted(rows, [_pg_copy_converter(table, n) for n in names])
        )
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types(types)
            write = copy.write_row
            for row_values in values:
                write(row_values)
    except psycopg.Error as exc:
        raise _sa_error(conn, raw, sql, exc) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        # a value the binary format cannot carry (wrong type, out of range): refused as the
        # database refuses one, so callers land the rows one by one as for any bad value
        raise DataError(sql, None, exc) from exc


#: The server ended the session (admin shutdown, crash shutdown, cannot connect now): psycopg
#: may not have marked the connection broken yet when a COPY or a pipeline reports it.
_SERVER_GONE = {"57P01", "57P02", "57P03"}


def _sa_error(conn: Connection, raw: Any, sql: str, exc: Exception) -> Exception:
    """A psycopg error raised outside SQLAlchemy (COPY, a pipeline) as the SQLAlchemy error of
    the same kind, so that callers' retry and fallback logic sees what it always sees. A lost
    connection is invalidated as SQLAlchemy does for its own statements: the rollback that
    follows is then a no-op, and ``Database.write`` retries the transaction."""
    import psycopg

    gone = (
        conn.dialect.is_disconnect(exc, raw, None)  # type: ignore[arg-type]
        or getattr(exc, "sqlstate", None) in _SERVER_GONE
    )
    if gone and not conn.invalidated:
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql, None, exc, psycopg.Error, connection_invalidated=gone, dialect=conn.dialect
    )


def _pg_arrays(
    table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]], tag: str = "p"
) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {}
    for i, name in enumerate(names):
        column = [row[name] for row in rows]
        convert = _pg_converter(table, name)
        params[f"{tag}{i}"] = column if convert is None else [convert(v) for v in column]
    return params


def _sqlite_tuples(
    table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> Sequence[Sequence[Any]]:
    return _converted(_tuples(names, rows), [_sqlite_converter(table, n) for n in names])


def allocate_ids(conn: Connection, wanted: Mapping[str, int]) -> dict[str, list[int]]:
    """Fresh primary keys, ``wanted[table]`` of them per table, in increasing order, so that
    rows can refer to each other (and a caller can build what follows from a row) before they
    are inserted. PostgreSQL: one statement for every table (``nextval`` of each table's
    sequence); SQLite: after ``max(id)``, which cannot move under a write transaction (it
    holds the write lock from ``BEGIN IMMEDIATE``)."""
    if not wanted:
        return {}
    out: dict[str, list[int]] = {table: [] for table in wanted}
    if conn.dialect.name == "postgresql":
        tables = list(wanted)
        rows = conn.exec_driver_sql(
            # each table's sequence looked up once (MATERIALIZED): in a subquery the planner
            # moved the look-up into nextval's argument, once an id (8x the statement's time)
            "WITH v AS MATERIALIZED (SELECT t, n, pg_get_serial_sequence(t, 'id')::regclass AS s"
            " FROM unnest(%(t)s::text[], %(n)s::int[]) AS u(t, n))"
            " SELECT v.t, nextval(v.s) FROM v, generate_series(1, v.n)",
            {"t": tables, "n": [wanted[t] for t in tables]},
        )
        for table, new_id in rows:
            out[table].append(int(new_id))
        for ids in out.values():
            ids.sort()
        return out
    for table, n in wanted.items():
        start = int(conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one())
        out[table] = list(range(start + 1, start + 1 + n))
    return out


class PgPipeline:
    """Statements sent down the transaction's own PostgreSQL connection without waiting for
    each other (psycopg's pipeline mode): the server runs them one after the other, in the
    order sent, while the caller goes on building the next rows. Opened with
    :func:`pg_pipeline`.

    A statement's rows are read with :meth:`rows` (which waits for it); the end of the block
    waits for the rest. A failing statement makes every later one fail, and its error is
    raised, as the SQLAlchemy error of its kind, by :meth:`rows` or at the end of the block;
    the transaction is then aborted and must be rolled back (``Database.write`` does). No
    other use of the connection (ORM, Core) may happen inside the block, and inserts never
    use COPY (not allowed in a pipeline)."""

    def __init__(self, conn: Connection, raw: Any) -> None:
        self._conn = conn
        self._raw = raw

    def send(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Send one statement (psycopg ``%(name)s`` parameters); the cursor for :meth:`rows`."""
        import psycopg

        cursor = self._raw.cursor()
        try:
            cursor.execute(sql, params)
        except psycopg.Error as exc:
            raise _sa_error(self._conn, self._raw, sql, exc) from exc
        return cursor

    def rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        """The rows of a statement sent with :meth:`send` (waits for the server)."""
        import psycopg

        try:
            return list(cursor.fetchall())
        except psycopg.Error as exc:
            raise _sa_error(self._conn, self._raw, "(pipeline)", exc) from exc

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """:func:`insert_rows` in the pipeline (one ``INSERT ... SELECT``, never COPY)."""
        if rows:
            _columns(table, list(rows[0]))
            self.send(*_pg_insert(table, rows))

    def insert_ignore(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        conflict: Sequence[str],
        returning: Sequence[str] = (),
    ) -> Any:
        """:func:`insert_ignore_rows` in the pipeline; the cursor for :meth:`rows` (None when
        there are no rows)."""
        if not rows:
            return None
        return self.send(*_pg_insert_ignore(table, rows, conflict, returning))


@contextmanager
def pg_pipeline(conn: Connection) -> Iterator[PgPipeline]:
    """A :class:`PgPipeline` on ``conn`` (PostgreSQL only) for the block."""
    import psycopg

    if conn.dialect.name != "postgresql":
        raise ValueError("pipeline mode is PostgreSQL's")
    raw: Any = conn.connection.driver_connection
    try:
        with raw.pipeline():
            yield PgPipeline(conn, raw)
    except psycopg.Error as exc:
        raise _sa_error(conn, raw, "(pipeline)", exc) from exc
