"""Portable SQL pieces for the reports: durations, local-time buckets and medians.

PostgreSQL does the time-zone arithmetic itself (``timezone(zone, ts)``); SQLite has no zone
database, so its local time is the stored UTC time shifted by the zone's offset, with one
``CASE`` branch per offset in force during the period (a DST change adds a branch).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, String, case, cast, func, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from db.base import UTCDateTime

#: The local-time bucket format: local date and hour, ``YYYY-MM-DD HH``.
BUCKET_LEN = 13


def seconds_between(dialect: str, start: Any, stop: Any) -> ColumnElement[Any]:
    """``stop - start`` in seconds (float), on either backend."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", stop) - func.extract("epoch", start), Float)
    # julianday() is a float of days: round away the binary noise below a millisecond
    return func.round((func.julianday(stop) - func.julianday(start)) * 86400.0, 3)


def offset_segments(tz: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """``[(from_utc, offset_s), ...]``: the zone's UTC offset over ``[start, end)``.

    The first segment starts at ``start``; each later one at a transition (exact to the
    second, found by bisection between hourly probes).
    """
    zone = ZoneInfo(tz)

    def offset(at: datetime) -> int:
        off = at.astimezone(zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    segments = [(start, offset(start))]
    probe = start
    step = timedelta(hours=1)
    while probe < end:
        nxt = min(probe + step, end)
        if offset(nxt) != segments[-1][1]:
            lo, hi = probe, nxt  # offset(lo) == current, offset(hi) differs
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    break
                if offset(mid) == segments[-1][1]:
                    lo = mid
                else:
                    hi = mid
            segments.append((hi, offset(hi)))
        probe = nxt
    return segments


def boundary_index(column: Any, boundaries: list[datetime]) -> ColumnElement[Any]:
    """How many of the sorted ``boundaries`` are <= ``column``: a few comparisons a row."""
    if not boundaries:
        return literal(0)
    whens = [
        (column < literal(b.astimezone(UTC), UTCDateTime()), i) for i, b in enumerate(boundaries)
    ]
    return case(*whens, else_=len(boundaries))


class TimeBuckets:
    """Cheap per-row time buckets, turned into local (date, hour) per *group* in Python.

    SQL groups rows by the UTC hour (or quarter hour when the zone's offset in the period is
    not a whole number of hours: every modern offset is a multiple of 15 minutes), which costs
    a substring on SQLite and a division on PostgreSQL instead of a time-zone conversion per
    row. Exact for instants in ``[start - 1 day, end + 1 day)``.
    """

    def __init__(self, dialect: str, tz: str, start: datetime, end: datetime) -> None:
        self.dialect = dialect
        self.zone = ZoneInfo(tz)
        offsets = {off for _, off in offset_segments(tz, start - timedelta(days=1),
                                                      end + timedelta(days=1))}  # fmt: skip
        self.step = 3600 if all(off % 3600 == 0 for off in offsets) else 900
        self._local: dict[Any, tuple[str, int]] = {}

    def key(self, column: Any) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return func.floor(func.date_part("epoch", column) / self.step)
        if self.step == 3600:
            return func.substr(column, 1, 13)  # 'YYYY-MM-DD HH' of the stored UTC text
        minute = cast(func.substr(column, 15, 2), Integer)
        return func.substr(column, 1, 14).op("||")(cast(minute // 15, String))

    def utc(self, key: Any) -> datetime:
        if self.dialect == "postgresql":
            return datetime.fromtimestamp(int(key) * self.step, UTC)
        text = str(key)
        if self.step == 3600:
            return datetime.fromisoformat(text + ":00").replace(tzinfo=UTC)
        quarter = int(text[14:])
        return datetime.fromisoformat(text[:13] + f":{15 * quarter:02d}").replace(tzinfo=UTC)

    def local(self, key: Any) -> tuple[str, int]:
        """``(local ISO date, local hour)`` of a bucket."""
        found = self._local.get(key)
        if found is None:
            at = self.utc(key).astimezone(self.zone)
            found = self._local[key] = (at.date().isoformat(), at.hour)
        return found


def prefer_scan(session: Session, table: Any, period: ColumnElement[bool]) -> bool:
    """Whether the rows of ``table`` in ``period`` (a range on one indexed column) are over
    a tenth of the table (SQLite).

    Counting the range reads the index only. The table's size comes from ``sqlite_stat1``
    when the database was analysed, else from the span of its rowids. Above a tenth, one
    sequential scan beats an index range scan that must look each row up in the table."""
    rows = _analysed_rows(session, table.__tablename__)
    if rows is None:
        low, high = session.execute(select(func.min(table.id), func.max(table.id))).one()
        rows = (high - low + 1) if high is not None else 0
    if rows < 20_000:
        return False
    hits = session.scalar(select(func.count()).select_from(table).where(period))
    return bool(hits and hits * 10 > rows)


def _analysed_rows(session: Session, name: str) -> int | None:
    try:
        stat = session.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t LIMIT 1"), {"t": name}
        ).scalar()
    except DBAPIError:
        return None  # never analysed: no sqlite_stat1 table
    try:
        return int(str(stat).split()[0]) if stat else None
    except ValueError:
        return None
