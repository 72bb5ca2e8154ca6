"""Tests for helpdesk_tui.sla.calendar: business-time arithmetic, holidays, DST and config."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk_tui.sla.calendar import (
    ALWAYS_OPEN,
    DEFAULT_CALENDAR,
    END_OF_DAY,
    BusinessCalendar,
)

SAST = ZoneInfo("Africa/Johannesburg")  # UTC+2 all year, no DST
LONDON = ZoneInfo("Europe/London")
US = timedelta(microseconds=1)
H = 3600.0

CLOSED: tuple[tuple[time, time], ...] = ()
OFFICE = ((time(8), time(17)),)
LUNCH_DAY = ((time(8), time(12)), (time(13), time(17)))

# Mon-Fri 08:00-17:00 in Johannesburg, no public holidays.
WEEKDAYS = BusinessCalendar(weekly=(OFFICE,) * 5 + (CLOSED,) * 2, country=None)
# Mon-Fri 08:00-12:00 + 13:00-17:00 UTC, no public holidays.
LUNCH = BusinessCalendar(tz="UTC", weekly=(LUNCH_DAY,) * 5 + (CLOSED,) * 2, country=None)
# 24x7 in London, but forced off the fast path by an irrelevant closed date.
LONDON_24x7 = BusinessCalendar(
    tz="Europe/London",
    weekly=ALWAYS_OPEN.weekly,
    country=None,
    closed_dates=frozenset({date(1990, 1, 1)}),
)
# Every night 00:30-03:00 in London: straddles both DST transitions (01:00 local).
LONDON_NIGHT = BusinessCalendar(
    tz="Europe/London", weekly=(((time(0, 30), time(3)),),) * 7, country=None
)
# Every night 01:30-03:00 in London: starts inside the spring gap / the autumn overlap.
LONDON_LATE = BusinessCalendar(
    tz="Europe/London", weekly=(((time(1, 30), time(3)),),) * 7, country=None
)
# US Eastern office with US holidays and a few extra closures: DST with a 02:00 transition.
NEW_YORK = BusinessCalendar(
    tz="America/New_York",
    weekly=(LUNCH_DAY,) * 5 + (((time(1), time(4)),), CLOSED),
    country="US",
    closed_dates=frozenset({date(2026, 12, 24), date(2027, 7, 2)}),
)


def sast(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=SAST)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=UTC)


def london(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=LONDON)


# --- basics -----------------------------------------------------------------------------------


def test_defaults() -> None:
    assert DEFAULT_CALENDAR.tz == "Africa/Johannesburg"
    assert DEFAULT_CALENDAR.weekly == (((time(8), time(22)),),) * 7
    assert DEFAULT_CALENDAR.country == "ZA"
    assert ALWAYS_OPEN.weekly == (((time(0), END_OF_DAY),),) * 7
    assert ALWAYS_OPEN.country is None


def test_is_open_is_half_open() -> None:
    assert not WEEKDAYS.is_open(sast(2026, 3, 2, 7, 59, 59))
    assert WEEKDAYS.is_open(sast(2026, 3, 2, 8))
    assert WEEKDAYS.is_open(sast(2026, 3, 2, 16, 59, 59, 999999))
    assert not WEEKDAYS.is_open(sast(2026, 3, 2, 17))


def test_results_are_utc_and_inputs_in_any_zone() -> None:
    # 08:00 SAST == 06:00 UTC == 15:00 JST (+09:00)
    result = WEEKDAYS.add(datetime(2026, 3, 2, 15, tzinfo=ZoneInfo("Asia/Tokyo")), H)
    assert result == utc(2026, 3, 2, 7)
    assert result.tzinfo is UTC
    assert WEEKDAYS.next_open(sast(2026, 3, 2, 9)).tzinfo is UTC
    assert ALWAYS_OPEN.add(sast(2026, 3, 2, 9), 0).tzinfo is UTC
    assert all(
        s.tzinfo is UTC for s, _ in WEEKDAYS.open_intervals(sast(2026, 3, 2), sast(2026, 3, 9))
    )


@pytest.mark.parametrize("calendar", [WEEKDAYS, ALWAYS_OPEN])
def test_naive_datetimes_rejected(calendar: BusinessCalendar) -> None:
    naive, aware = datetime(2026, 3, 2, 9), utc(2026, 3, 2, 9)
    with pytest.raises(ValueError, match="naive"):
        calendar.is_open(naive)
    with pytest.raises(ValueError, match="naive"):
        calendar.next_open(naive)
    with pytest.raises(ValueError, match="naive"):
        calendar.add(naive, 10)
    with pytest.raises(ValueError, match="naive"):
        calendar.between(naive, aware)
    with pytest.raises(ValueError, match="naive"):
        calendar.between(aware, naive)
    with pytest.raises(ValueError, match="naive"):
        list(calendar.open_intervals(aware, naive))


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_add_rejects_bad_seconds(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds must be a finite number"):
        WEEKDAYS.add(utc(2026, 3, 2), seconds)


def test_between_is_zero_for_empty_or_reversed_ranges() -> None:
    a, b = sast(2026, 3, 2, 9), sast(2026, 3, 2, 10)
    for calendar in (WEEKDAYS, ALWAYS_OPEN):
        assert calendar.between(a, a) == 0
        assert calendar.between(b, a) == 0
        assert list(calendar.open_intervals(b, a)) == []


# --- weekends, lunch breaks -------------------------------------------------------------------


def test_weekend_closure() -> None:
    # Fri 2026-03-06 16:00 SAST + 2 h: 1 h on Friday (16:00-17:00), weekend closed,
    # 1 h on Monday 08:00-09:00 -> Mon 2026-03-09 09:00 SAST == 07:00 UTC.
    start = sast(2026, 3, 6, 16)
    assert WEEKDAYS.add(start, 2 * H) == sast(2026, 3, 9, 9)
    assert WEEKDAYS.between(start, sast(2026, 3, 9, 9)) == 2 * H
    assert not WEEKDAYS.is_open(sast(2026, 3, 7, 12))
    assert WEEKDAYS.next_open(sast(2026, 3, 7, 12)) == utc(2026, 3, 9, 6)
    # A whole week holds 5 x 9 h.
    assert WEEKDAYS.between(sast(2026, 3, 2), sast(2026, 3, 9)) == 45 * H


def test_lunch_break() -> None:
    mon = (2026, 3, 2)  # a Monday
    # Before opening: 07:00 + 1 h -> opens 08:00, +1 h -> 09:00.
    assert LUNCH.add(utc(*mon, 7), H) == utc(*mon, 9)
    # During lunch: 12:30 + 30 min -> reopens 13:00, +30 min -> 13:30.
    assert LUNCH.add(utc(*mon, 12, 30), H / 2) == utc(*mon, 13, 30)
    # Exactly at closing: 17:00 + 1 h -> Tue 08:00 + 1 h -> Tue 09:00.
    assert LUNCH.add(utc(*mon, 17), H) == utc(2026, 3, 3, 9)
    # 11:30 + 1 h: 30 min before lunch, 30 min after -> 13:30.
    assert LUNCH.add(utc(*mon, 11, 30), H) == utc(*mon, 13, 30)
    # 11:00 + 1 h ends exactly at the start of lunch: the result is the interval end 12:00.
    assert LUNCH.add(utc(*mon, 11), H) == utc(*mon, 12)
    # Friday 16:00 + 2 h -> 1 h Friday, then Monday 08:00 + 1 h.
    assert LUNCH.add(utc(2026, 3, 6, 16), 2 * H) == utc(2026, 3, 9, 9)
    # Zero seconds: the start itself when open, else the next opening.
    assert LUNCH.add(utc(*mon, 9), 0) == utc(*mon, 9)
    assert LUNCH.add(utc(*mon, 12), 0) == utc(*mon, 13)
    assert LUNCH.add(utc(*mon, 17), 0) == utc(2026, 3, 3, 8)
    # A day holds 4 h + 4 h; intervals are clipped to the query range.
    assert LUNCH.between(utc(*mon), utc(2026, 3, 3)) == 8 * H
    assert list(LUNCH.open_intervals(utc(*mon, 10), utc(*mon, 14))) == [
        (utc(*mon, 10), utc(*mon, 12)),
        (utc(*mon, 13), utc(*mon, 14)),
    ]


# --- public holidays --------------------------------------------------------------------------


def test_za_holidays_come_from_the_package() -> None:
    za = holidays.country_holidays("ZA", years=[2026, 2027])
    for day in ("2026-04-27", "2026-08-10", "2026-12-25", "2026-12-26", "2027-01-01"):
        assert date.fromisoformat(day) in za
    assert not DEFAULT_CALENDAR.is_open(sast(2026, 4, 27, 12))  # Freedom Day (Monday)
    assert not DEFAULT_CALENDAR.is_open(sast(2026, 8, 9, 12))  # Women's Day (Sunday)
    assert not DEFAULT_CALENDAR.is_open(sast(2026, 8, 10, 12))  # ... observed on Monday
    assert DEFAULT_CALENDAR.is_open(sast(2026, 8, 11, 12))


def test_freedom_day() -> None:
    # Sun 2026-04-26 21:00 + 2 h: 1 h until 22:00, Mon 27 Apr (Freedom Day) closed,
    # Tue 28 Apr 08:00 + 1 h -> 09:00 SAST == 07:00 UTC.
    assert DEFAULT_CALENDAR.add(sast(2026, 4, 26, 21), 2 * H) == utc(2026, 4, 28, 7)
    # 26th and 28th are open 14 h each, the 27th not at all.
    assert DEFAULT_CALENDAR.between(sast(2026, 4, 26), sast(2026, 4, 29)) == 28 * H


def test_christmas_and_year_end() -> None:
    # Thu 2026-12-24 21:00 + 3 h: 1 h on the 24th, Fri 25 and Sat 26 closed (Christmas,
    # Day of Goodwill), Sun 27 08:00 + 2 h -> 10:00 SAST.
    assert DEFAULT_CALENDAR.add(sast(2026, 12, 24, 21), 3 * H) == sast(2026, 12, 27, 10)
    # Thu 2026-12-31 21:30 + 1 h: 30 min on New Year's Eve, 2027-01-01 closed,
    # Sat 2027-01-02 08:00 + 30 min -> 08:30 SAST == 06:30 UTC.
    assert DEFAULT_CALENDAR.add(sast(2026, 12, 31, 21, 30), H) == utc(2027, 1, 2, 6, 30)
    assert DEFAULT_CALENDAR.next_open(sast(2026, 12, 31, 22)) == sast(2027, 1, 2, 8)
    # 31 Dec 14 h + 1 Jan 0 h + 2 Jan 14 h.
    assert DEFAULT_CALENDAR.between(sast(2026, 12, 31), sast(2027, 1, 3)) == 28 * H


def test_extra_closed_dates_and_subdivisions() -> None:
    cal = BusinessCalendar(closed_dates=frozenset({date(2026, 3, 3)}))
    assert not cal.is_open(sast(2026, 3, 3, 12))
    assert cal.next_open(sast(2026, 3, 2, 22)) == sast(2026, 3, 4, 8)
    # St Andrew's Day (30 Nov 2026, a Monday) is a holiday in Scotland, not in England.
    scotland = BusinessCalendar(tz="Europe/London", country="GB", subdivision="SCT")
    england = BusinessCalendar(tz="Europe/London", country="GB", subdivision="ENG")
    assert not scotland.is_open(london(2026, 11, 30, 12))
    assert england.is_open(london(2026, 11, 30, 12))


# --- daylight saving --------------------------------------------------------------------------


def test_dst_days_are_23_and_25_hours() -> None:
    # Sun 2026-03-29: 01:00 GMT jumps to 02:00 BST, so local midnight-to-midnight is 23 h.
    assert LONDON_24x7.between(london(2026, 3, 29), london(2026, 3, 30)) == 23 * H
    # Sun 2026-10-25: 02:00 BST falls back to 01:00 GMT, so the local day is 25 h.
    assert LONDON_24x7.between(london(2026, 10, 25), london(2026, 10, 26)) == 25 * H
    assert LONDON_24x7.between(london(2026, 6, 1), london(2026, 6, 2)) == 24 * H
    # Adjacent days are merged: one interval 00:00 GMT -> 23:00 UTC (00:00 BST on the 30th).
    assert list(LONDON_24x7.open_intervals(london(2026, 3, 29), london(2026, 3, 30))) == [
        (utc(2026, 3, 29), utc(2026, 3, 29, 23))
    ]
    # The fast path agrees: real elapsed time.
    assert ALWAYS_OPEN.between(london(2026, 3, 29), london(2026, 3, 30)) == 23 * H
    assert ALWAYS_OPEN.between(london(2026, 10, 25), london(2026, 10, 26)) == 25 * H


def test_dst_interval_across_the_transition() -> None:
    # 00:30-03:00 is normally 2.5 h.
    assert LONDON_NIGHT.between(london(2026, 6, 1), london(2026, 6, 2)) == 2.5 * H
    # Spring: 00:30 GMT (00:30 UTC) -> 03:00 BST (02:00 UTC) = 1.5 h.
    assert LONDON_NIGHT.between(london(2026, 3, 29), london(2026, 3, 30)) == 1.5 * H
    assert LONDON_NIGHT.add(london(2026, 3, 29), 1.5 * H) == utc(2026, 3, 29, 2)
    # Autumn: 00:30 BST (23:30 UTC on the 24th) -> 03:00 GMT (03:00 UTC) = 3.5 h.
    assert LONDON_NIGHT.between(london(2026, 10, 25), london(2026, 10, 26)) == 3.5 * H
    assert LONDON_NIGHT.next_open(utc(2026, 10, 24, 12)) == utc(2026, 10, 24, 23, 30)


def test_dst_gap_and_ambiguous_start() -> None:
    # Spring: 01:30 does not exist; fold=0 reads it with the GMT offset -> 01:30 UTC
    # (02:30 BST). Open until 03:00 BST == 02:00 UTC: 30 min.
    assert LONDON_LATE.next_open(utc(2026, 3, 29)) == utc(2026, 3, 29, 1, 30)
    assert LONDON_LATE.between(london(2026, 3, 29), london(2026, 3, 30)) == 0.5 * H
    # Autumn: 01:30 happens twice; the first (BST, 00:30 UTC) is used.
    # Open until 03:00 GMT == 03:00 UTC: 2.5 h.
    assert LONDON_LATE.next_open(utc(2026, 10, 25)) == utc(2026, 10, 25, 0, 30)
    assert LONDON_LATE.between(london(2026, 10, 25), london(2026, 10, 26)) == 2.5 * H


# --- long targets and performance -------------------------------------------------------------


def test_thirty_day_targets() -> None:
    start = sast(2026, 3, 2, 9)
    assert ALWAYS_OPEN.add(start, 30 * 86400) == start + timedelta(days=30)
    assert ALWAYS_OPEN.between(start, start + timedelta(days=30)) == 30 * 86400
    # 30 open days of 14 h from Mon 2026-06-01 08:00: June has 30 days minus Youth Day
    # (Tue 16 June) = 29 open days, the 30th is Wed 1 July -> ends 22:00 SAST (20:00 UTC),
    # exactly at the interval end.
    result = DEFAULT_CALENDAR.add(sast(2026, 6, 1, 8), 30 * 14 * H)
    assert result == utc(2026, 7, 1, 20)
    assert not DEFAULT_CALENDAR.is_open(result)
    assert DEFAULT_CALENDAR.is_open(result - US)
    # 30 business days of 9 h from Mon 2026-03-02 08:00 = 6 weeks -> Fri 2026-04-10 17:00.
    assert WEEKDAYS.add(sast(2026, 3, 2, 8), 30 * 9 * H) == sast(2026, 4, 10, 17)


def test_never_open_calendar_raises() -> None:
    never = BusinessCalendar(weekly=(CLOSED,) * 7, country=None)
    with pytest.raises(ValueError, match=r"^calendar has no opening hours$"):
        never.add(utc(2026, 1, 1), 60)
    with pytest.raises(ValueError, match=r"^calendar has no opening hours$"):
        never.next_open(utc(2026, 1, 1))
    assert not never.is_open(utc(2026, 1, 1))
    assert never.between(utc(2026, 1, 1), utc(2027, 1, 1)) == 0
    with pytest.raises(ValueError, match="no opening hours"):
        never.add(utc(2026, 1, 1), 0)


def test_closed_for_years_gives_up() -> None:
    first = date(2026, 1, 1)
    closed = frozenset(first + timedelta(days=n) for n in range(4 * 366))
    cal = BusinessCalendar(tz="UTC", weekly=(OFFICE,) * 7, country=None, closed_dates=closed)
    with pytest.raises(ValueError, match="no opening hours within 3 years"):
        cal.next_open(utc(2026, 1, 1))
    with pytest.raises(ValueError, match="no opening hours within 3 years"):
        cal.add(utc(2026, 1, 1), 60)
    # Bounded queries still work (and see the reopening after the closure).
    # Closed 2026-01-01 .. 2030-01-03 (1464 days); open 4..30 Jan 2030: 27 days x 9 h.
    assert cal.between(utc(2026, 1, 1), utc(2030, 1, 31)) == 27 * 9 * H
    assert cal.next_open(utc(2029, 12, 1)) == utc(2030, 1, 4, 8)


# --- config -----------------------------------------------------------------------------------

LONDON_TOML = """
timezone = "Europe/London"
holidays = "GB"
subdivision = "ENG"
closed = [2026-12-24, "2026-12-31"]

[hours]
mon = ["08:00-12:00", "13:00-17:00"]
tue = ["13:00-17:00", "08:00-12:00"]
wed = ["08:00-17:00"]
thu = ["08:00-17:00"]
fri = ["08:00-16:30:30"]
sat = ["10:00-24:00"]
"""


def test_from_config_toml() -> None:
    cal = BusinessCalendar.from_config(tomllib.loads(LONDON_TOML))
    assert cal.tz == "Europe/London"
    assert cal.country == "GB"
    assert cal.subdivision == "ENG"
    assert cal.closed_dates == {date(2026, 12, 24), date(2026, 12, 31)}
    assert cal.weekly[0] == LUNCH_DAY
    assert cal.weekly[1] == LUNCH_DAY  # sorted
    assert cal.weekly[4] == ((time(8), time(16, 30, 30)),)
    assert cal.weekly[5] == ((time(10), END_OF_DAY),)
    assert cal.weekly[6] == ()  # missing day -> closed
    # Sat 2026-03-07 10:00 GMT -> 24:00: 14 h.
    assert cal.between(london(2026, 3, 7), london(2026, 3, 8)) == 14 * H


def test_config_round_trip() -> None:
    cal = BusinessCalendar.from_config(tomllib.loads(LONDON_TOML))
    config = cal.to_config()
    assert config["hours"]["tue"] == ["08:00-12:00", "13:00-17:00"]
    assert config["hours"]["fri"] == ["08:00-16:30:30"]
    assert config["hours"]["sat"] == ["10:00-24:00"]
    assert config["hours"]["sun"] == []
    assert config["closed"] == ["2026-12-24", "2026-12-31"]
    assert BusinessCalendar.from_config(config) == cal
    for calendar in (DEFAULT_CALENDAR, ALWAYS_OPEN, LUNCH, NEW_YORK, LONDON_NIGHT):
        assert BusinessCalendar.from_config(calendar.to_config()) == calendar


def test_from_config_defaults_and_no_holidays() -> None:
    assert BusinessCalendar.from_config({}) == DEFAULT_CALENDAR
    assert BusinessCalendar.from_config({"holidays": ""}).country is None
    assert BusinessCalendar.from_config({"holidays": False}).country is None
    assert BusinessCalendar.from_config({"holidays": "GB", "subdivision": ""}).subdivision is None
    only_monday = BusinessCalendar.from_config({"hours": {"mon": ["09:00-17:00"]}})
    assert only_monday.weekly == (((time(9), time(17)),),) + (CLOSED,) * 6


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"timezone": 2}, "timezone: expected str, got 2"),
        ({"hours": ["08:00-17:00"]}, "hours: expected Mapping"),
        ({"hours": {"funday": []}}, "hours: unknown day 'funday'"),
        ({"hours": {"mon": "08:00-17:00"}}, "hours.mon: expected list"),
        ({"hours": {"mon": ["9-5"]}}, "hours.mon: bad interval '9-5'"),
        ({"hours": {"tue": ["25:00-26:00"]}}, "hours.tue: bad time in interval '25:00-26:00'"),
        ({"hours": {"mon": ["09:00-08:00"]}}, "hours.mon: interval 09:00-08:00 must end after it"),
        ({"hours": {"wed": ["09:00-09:00"]}}, "hours.wed: interval 09:00-09:00 must end after it"),
        ({"hours": {"thu": ["24:00-24:00"]}}, "hours.thu: bad time in interval '24:00-24:00'"),
        (
            {"hours": {"fri": ["08:00-12:00", "11:00-13:00"]}},
            "hours.fri: overlapping intervals 08:00-12:00 and 11:00-13:00",
        ),
        ({"holidays": "XX"}, "holidays: unknown country code 'XX'"),
        ({"holidays": True}, "holidays: expected a country code"),
        ({"holidays": "GB", "subdivision": "XYZ"}, "subdivision: unknown subdivision 'XYZ' of GB"),
        ({"closed": "2026-12-24"}, "closed: expected list"),
        ({"closed": ["24/12/2026"]}, "closed: bad date '24/12/2026'"),
    ],
)
def test_from_config_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        BusinessCalendar.from_config(data)
    assert str(excinfo.value).startswith(message)
    assert "\n" not in str(excinfo.value)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="expected 7 days"):
        BusinessCalendar(weekly=(OFFICE,) * 5)
    with pytest.raises(ValueError, match="whole seconds"):
        BusinessCalendar(weekly=(((time(8), time(9, 0, 0, 5)),),) * 7)
    # Touching intervals are fine; unsorted ones are sorted.
    cal = BusinessCalendar(weekly=(((time(12), time(13)), (time(8), time(12))),) * 7)
    assert cal.weekly[0] == ((time(8), time(12)), (time(12), time(13)))


# --- properties -------------------------------------------------------------------------------

CALENDARS = [DEFAULT_CALENDAR, WEEKDAYS, LUNCH, LONDON_NIGHT, LONDON_LATE, NEW_YORK, ALWAYS_OPEN]
ZONES = [UTC, SAST, LONDON, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]
instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2028, 12, 31),
    timezones=st.sampled_from(ZONES),
)
durations = st.floats(min_value=0, max_value=40 * 86400, allow_nan=False)
calendars = st.sampled_from(CALENDARS)
PROPS = settings(max_examples=150, deadline=None, database=None)


@PROPS
@given(calendars, instants, durations)
def test_between_inverts_add(cal: BusinessCalendar, start: datetime, seconds: float) -> None:
    assert cal.between(start, cal.add(start, seconds)) == pytest.approx(seconds, abs=1e-6)


@PROPS
@given(calendars, instants, durations, durations)
def test_add_is_monotonic(cal: BusinessCalendar, start: datetime, n1: float, n2: float) -> None:
    n1, n2 = sorted((n1, n2))
    assert start <= cal.add(start, n1) <= cal.add(start, n2)


@PROPS
@given(calendars, instants, durations.filter(lambda n: n >= 1e-6))
def test_add_never_lands_in_a_closed_period(
    cal: BusinessCalendar, start: datetime, seconds: float
) -> None:
    result = cal.add(start, seconds)
    assert result > start
    # In (interval start, interval end]: open, or exactly at an interval end; either way
    # the instant just before it is open.
    assert cal.is_open(result - US)


@PROPS
@given(calendars, instants)
def test_next_open(cal: BusinessCalendar, at: datetime) -> None:
    found = cal.next_open(at)
    assert found >= at
    assert cal.is_open(found)
    # Compare in UTC: == between zones is always False for imaginary (DST-gap) inputs.
    assert (found == at.astimezone(UTC)) == cal.is_open(at)
    assert cal.between(at, found) == 0
    assert cal.add(at, 0) == found


@PROPS
@given(calendars, instants, instants, instants)
def test_between_is_additive_and_bounded(
    cal: BusinessCalendar, x: datetime, y: datetime, z: datetime
) -> None:
    # Sort/subtract in UTC: subtraction within one ZoneInfo zone is wall-clock arithmetic.
    a, b, c = sorted(t.astimezone(UTC) for t in (x, y, z))
    ab, bc, ac = cal.between(a, b), cal.between(b, c), cal.between(a, c)
    assert ab + bc == pytest.approx(ac, abs=1e-6)
    assert 0 <= ab <= (b - a).total_seconds()
    assert cal.between(c, a) == 0


@PROPS
@given(calendars, instants, st.integers(min_value=1, max_value=20 * 86400))
def test_open_intervals_are_disjoint_open_and_sum_to_between(
    cal: BusinessCalendar, start: datetime, span: int
) -> None:
    end = start + timedelta(seconds=span)
    intervals = list(cal.open_intervals(start, end))
    total = sum(((e - s).total_seconds() for s, e in intervals), 0.0)
    assert total == pytest.approx(cal.between(start, end), abs=1e-6)
    for s, e in intervals:
        assert start <= s < e <= end
        assert cal.is_open(s) and cal.is_open(e - US)
    for (_, e1), (s2, _) in pairwise(intervals):
        assert e1 < s2  # maximal: touching intervals are merged
        assert not cal.is_open(e1)


@PROPS
@given(instants, durations)
def test_24x7_slow_path_matches_plain_arithmetic(start: datetime, seconds: float) -> None:
    # A calendar open 00:00-24:00 every day covers every instant, DST or not.
    # (Add in UTC: aware arithmetic in a ZoneInfo zone is wall-clock arithmetic.)
    expected = start.astimezone(UTC) + timedelta(seconds=seconds)
    assert LONDON_24x7.add(start, seconds) == expected
    assert ALWAYS_OPEN.add(start, seconds) == expected
    assert LONDON_24x7.between(start, expected) == pytest.approx((expected - start).total_seconds())
    assert ALWAYS_OPEN.between(start, expected) == (expected - start).total_seconds()
    assert LONDON_24x7.is_open(start) and ALWAYS_OPEN.is_open(start)
