"""Business-hours calendar: opening hours, public holidays and business-time arithmetic."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ALWAYS_OPEN", "DEFAULT_CALENDAR", "END_OF_DAY", "BusinessCalendar"]

END_OF_DAY = time.max
"""An interval end of ``time.max`` means 24:00, i.e. the midnight that ends the day."""

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CLOSED_DAYS = 3 * 366
_DAY = timedelta(days=1)
_INTERVAL_RE = re.compile(r"(\d\d):(\d\d)(?::(\d\d))?-(\d\d):(\d\d)(?::(\d\d))?")

Interval = tuple[time, time]
Span = tuple[datetime, datetime]


def _every_day(start: time, end: time) -> tuple[tuple[Interval, ...], ...]:
    return tuple(((start, end),) for _ in DAYS)


_ALL_DAY = _every_day(time(0), END_OF_DAY)


@lru_cache(maxsize=512)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holidays (observed days included) of one country/subdivision and year."""
    import holidays  # deferred: importing it costs ~150 ms at every CLI start

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours in one time zone, closed on public holidays and extra dates.

    ``weekly[0]`` is Monday .. ``weekly[6]`` Sunday; each day holds sorted, non-overlapping
    wall-clock intervals ``[start, end)`` in ``tz``; an end of ``END_OF_DAY`` means 24:00.
    Wall times become instants via zoneinfo with ``fold=0``: an ambiguous time (fall back)
    is its first occurrence, and a non-existent time (spring-forward gap) is read with the
    pre-transition offset, i.e. moved forward by the gap (01:30 in a 01:00-02:00 gap is
    02:30 new time). Intervals that collapse or overlap after conversion are trimmed.
    Business seconds are real elapsed seconds inside open intervals.
    """

    tz: str = "Africa/Johannesburg"
    weekly: tuple[tuple[Interval, ...], ...] = _every_day(time(8), time(22))
    country: str | None = "ZA"
    subdivision: str | None = None
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"timezone: unknown time zone {self.tz!r}") from None
        if len(self.weekly) != len(DAYS):
            raise ValueError(f"hours: expected 7 days (Monday first), got {len(self.weekly)}")
        object.__setattr__(
            self,
            "weekly",
            tuple(_checked_day(d, i) for d, i in zip(DAYS, self.weekly, strict=True)),
        )
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))
        # The default (ZA, no subdivision) is known good; skipping its check keeps the
        # `holidays` import (~150 ms) off the start-up path of every CLI command.
        if self.country is not None and (self.country, self.subdivision) != ("ZA", None):
            _check_holidays(self.country, self.subdivision)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build from a TOML table; missing keys keep the defaults, missing days are closed.

        ``{"timezone": "Europe/London", "hours": {"mon": ["08:00-12:00", "13:00-24:00"], ...},
        "holidays": "GB" (or "" / false for none), "subdivision": "ENG", "closed": ["2026-12-24"]}``
        Raises ValueError naming the offending field and value.
        """
        kwargs: dict[str, Any] = {}
        if "timezone" in data:
            kwargs["tz"] = _expect(data["timezone"], str, "timezone")
        if "hours" in data:
            kwargs["weekly"] = _parse_hours(data["hours"])
        if "holidays" in data:
            country = data["holidays"]
            if country not in (False, None) and not isinstance(country, str):
                raise ValueError(f"holidays: expected a country code, '' or false, got {country!r}")
            kwargs["country"] = country or None
        if "subdivision" in data:
            kwargs["subdivision"] = _expect(data["subdivision"], str, "subdivision") or None
        if "closed" in data:
            kwargs["closed_dates"] = frozenset(
                map(_parse_date, _expect(data["closed"], list, "closed"))
            )
        return cls(**kwargs)

    def to_config(self) -> dict[str, Any]:
        """The ``from_config`` table for this calendar."""
        config: dict[str, Any] = {
            "timezone": self.tz,
            "hours": {
                d: [f"{_fmt(a)}-{_fmt(b)}" for a, b in day]
                for d, day in zip(DAYS, self.weekly, strict=True)
            },
            "holidays": self.country or "",
            "closed": [d.isoformat() for d in sorted(self.closed_dates)],
        }
        if self.subdivision is not None:
            config["subdivision"] = self.subdivision
        return config

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` lies inside an opening interval (intervals are half-open)."""
        at = _utc(at)
        if self._always_open:
            return True
        local = at.astimezone(self._zone).date()
        return any(
            s <= at < e for d in (local - _DAY, local, local + _DAY) for s, e in _day_spans(self, d)
        )

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself if open, else the start of the next opening interval (UTC)."""
        at = _utc(at)
        if self._always_open:
            return at
        return next(self._walk(at))[0]

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` business seconds have elapsed since ``start`` (UTC).

        The result lies in ``(interval start, interval end]``; ``add(s, 0) == next_open(s)``.
        """
        start = _utc(start)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        remaining = timedelta(seconds=seconds)
        if self._always_open:
            return start + remaining
        if not remaining:
            return self.next_open(start)
        for s, e in self._walk(start):
            if remaining <= e - s:
                return s + remaining
            remaining -= e - s
        raise AssertionError("unreachable: _walk is unbounded")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds in ``[start, end)``; 0 if ``end <= start``."""
        start, end = _utc(start), _utc(end)
        if self._always_open:
            return max((end - start).total_seconds(), 0.0)
        return sum((e - s for s, e in self.open_intervals(start, end)), timedelta()).total_seconds()

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[Span]:
        """Maximal open UTC intervals clipped to ``[start, end)``, in order."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return
        if self._always_open:
            yield start, end
            return
        pending: Span | None = None
        for s, e in self._walk(start, until=end):
            if s >= end:
                break
            if pending is not None and pending[1] == s:
                pending = (pending[0], min(e, end))
                continue
            if pending is not None:
                yield pending
            pending = (s, min(e, end))
        if pending is not None:
            yield pending

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @cached_property
    def _always_open(self) -> bool:
        return self.country is None and not self.closed_dates and self.weekly == _ALL_DAY

    def _walk(self, after: datetime, until: datetime | None = None) -> Iterator[Span]:
        """Ordered, disjoint open spans ending after ``after``, the first clipped to start there.

        Unbounded unless ``until`` is given; raises ValueError when the calendar stays closed.
        """
        if not any(self.weekly):
            if until is None:
                raise ValueError("calendar has no opening hours")
            return
        day = after.astimezone(self._zone).date() - _DAY
        last = until.astimezone(self._zone).date() + _DAY if until is not None else date.max
        last_end, closed_run = after, 0
        while day <= last:
            closed_run += 1
            for s, e in _day_spans(self, day):
                s = max(s, last_end)
                if e > s:
                    yield s, e
                    last_end, closed_run = e, 0
            if until is None and closed_run > MAX_CLOSED_DAYS:
                raise ValueError(
                    f"calendar has no opening hours within 3 years of {after.isoformat()}"
                )
            day += _DAY


@lru_cache(maxsize=4096)
def _day_spans(cal: BusinessCalendar, day: date) -> tuple[Span, ...]:
    """UTC spans of one local day's opening intervals (empty on holidays and closed dates)."""
    if day in cal.closed_dates or (
        cal.country and day in _holidays(cal.country, cal.subdivision, day.year)
    ):
        return ()
    zone = cal._zone

    def instant(d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=zone).astimezone(UTC)

    return tuple(
        (instant(day, a), instant(day + _DAY, time(0)) if b == END_OF_DAY else instant(day, b))
        for a, b in cal.weekly[day.weekday()]
    )


def _check_holidays(country: str, subdivision: str | None) -> None:
    try:
        _holidays(country, None, 2000)
    except NotImplementedError:
        raise ValueError(f"holidays: unknown country code {country!r}") from None
    try:
        _holidays(country, subdivision, 2000)
    except NotImplementedError:
        raise ValueError(f"subdivision: unknown subdivision {subdivision!r} of {country}") from None


def _checked_day(name: str, intervals: tuple[Interval, ...]) -> tuple[Interval, ...]:
    ordered = tuple(sorted(intervals))
    for a, b in ordered:
        if a.microsecond or (b.microsecond and b != END_OF_DAY):
            raise ValueError(f"hours.{name}: interval times must be whole seconds")
        if a == END_OF_DAY or b <= a:
            raise ValueError(f"hours.{name}: interval {_fmt(a)}-{_fmt(b)} must end after it starts")
    for (a1, b1), (a2, b2) in pairwise(ordered):
        if a2 < b1:
            overlap = f"{_fmt(a1)}-{_fmt(b1)} and {_fmt(a2)}-{_fmt(b2)}"
            raise ValueError(f"hours.{name}: overlapping intervals {overlap}")
    return ordered


def _parse_hours(hours: Any) -> tuple[tuple[Interval, ...], ...]:
    hours = _expect(hours, Mapping, "hours")
    unknown = sorted(set(hours) - set(DAYS), key=str)
    if unknown:
        raise ValueError(f"hours: unknown day {unknown[0]!r} (expected one of {', '.join(DAYS)})")
    return tuple(
        tuple(_parse_interval(d, v) for v in _expect(hours.get(d, []), list, f"hours.{d}"))
        for d in DAYS
    )


def _parse_interval(day: str, text: Any) -> Interval:
    match = _INTERVAL_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"hours.{day}: bad interval {text!r} (expected 'HH:MM-HH:MM')")
    h1, m1, s1, h2, m2, s2 = (int(g or 0) for g in match.groups())
    try:
        end = END_OF_DAY if (h2, m2, s2) == (24, 0, 0) else time(h2, m2, s2)
        return time(h1, m1, s1), end
    except ValueError:
        raise ValueError(f"hours.{day}: bad time in interval {text!r}") from None


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"closed: bad date {value!r} (expected 'YYYY-MM-DD')") from None


def _expect(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def _fmt(t: time) -> str:
    return "24:00" if t == END_OF_DAY else t.isoformat("seconds" if t.second else "minutes")


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed (need a time zone): {at.isoformat()}")
    return at.astimezone(UTC)


DEFAULT_CALENDAR = BusinessCalendar()
ALWAYS_OPEN = BusinessCalendar(tz="UTC", weekly=_ALL_DAY, country=None)
