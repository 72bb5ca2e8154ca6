"""Report periods: a month, an ISO week, a quarter or a date range, cut in a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpdesk_tui.errors import InvalidInput

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, cut at local midnights of ``tz``; ``last_day`` is inclusive."""

    kind: str  # month | week | quarter | range
    label: str
    tz: str
    first_day: date
    last_day: date

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.tz)

    def days(self) -> list[date]:
        n = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(n)]

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "label": self.label,
            "tz": self.tz,
            "start": self.start.astimezone(self.zone).isoformat(),
            "end": self.end.astimezone(self.zone).isoformat(),
        }


def check_tz(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInput(
            f"unknown time zone {tz!r}: use an IANA name, e.g. Africa/Johannesburg"
        ) from None
    return tz


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant of 00:00 local on ``day``."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def month(text: str, tz: str) -> Period:
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise InvalidInput(f"bad month {text!r}: use YYYY-MM, e.g. 2026-03")
    year, mon = int(m.group(1)), int(m.group(2))
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return Period("month", f"{year:04d}-{mon:02d}", check_tz(tz), first, nxt - timedelta(days=1))


def week(text: str, tz: str) -> Period:
    m = _WEEK.match(text.strip())
    if not m or int(m.group(1)) < 1900:
        raise InvalidInput(f"bad week {text!r}: use YYYY-Www (ISO week), e.g. 2026-W10")
    year, num = int(m.group(1)), int(m.group(2))
    try:
        first = date.fromisocalendar(year, num, 1)
    except ValueError:
        raise InvalidInput(f"bad week {text!r}: {year} has no ISO week {num}") from None
    return Period("week", f"{year:04d}-W{num:02d}", check_tz(tz), first, first + timedelta(days=6))


def quarter(text: str, tz: str) -> Period:
    m = _QUARTER.match(text.strip())
    if not m or int(m.group(1)) < 1900:
        raise InvalidInput(f"bad quarter {text!r}: use YYYY-Qn, e.g. 2026-Q1")
    year, q = int(m.group(1)), int(m.group(2))
    first = date(year, 3 * q - 2, 1)
    nxt = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return Period("quarter", f"{year:04d}-Q{q}", check_tz(tz), first, nxt - timedelta(days=1))


def date_range(first: str, last: str, tz: str) -> Period:
    """``first`` to ``last`` inclusive (whole local days)."""
    try:
        a, b = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise InvalidInput(f"bad date in {first!r}..{last!r}: use YYYY-MM-DD") from None
    if b < a:
        raise InvalidInput(f"--to {b} is before --from {a}")
    return Period("range", f"{a}..{b}", check_tz(tz), a, b)


def iso_week_label(day: date) -> str:
    year, num, _ = day.isocalendar()
    return f"{year:04d}-W{num:02d}"
