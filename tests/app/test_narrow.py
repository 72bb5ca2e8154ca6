"""80 columns: whole time values, a table without a horizontal scrollbar, one health line."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from db.records import QueueHealth
from widgets.health_bar import HealthBar
from widgets.queue_table import COLUMNS, SCROLLBAR, column_widths
from widgets.timefmt import short_duration

DAY = 86400


@pytest.mark.parametrize(
    ("seconds", "compact", "spaced"),
    [
        (45, "45s", "45s"),
        (12 * 60, "12m", "12m"),
        (DAY + 15 * 3600 + 59, "1d15h", "1d 15h"),
        (23 * 3600 + 59 * 60, "23h59m", "23h 59m"),
        (99 * DAY + 23 * 3600, "99d23h", "99d 23h"),
        (123 * DAY + 5 * 3600, "123d", "123d 5h"),
        (-(10 * 3600 + 31 * 60), "-10h31m", "-10h 31m"),
    ],
)
def test_durations(seconds: int, compact: str, spaced: str) -> None:
    assert short_duration(seconds, compact=True) == compact
    assert short_duration(seconds) == spaced


@pytest.mark.parametrize("width", [80, 99, 100, 120, 200])
def test_columns_fill_the_width_exactly(width: int) -> None:
    widths = column_widths(width)
    assert sum(widths.values()) + 2 * len(COLUMNS) + SCROLLBAR == width
    # Every Wait value below 100 days fits whole (compact below 100 columns).
    longest = short_duration(99 * DAY + 23 * 3600, compact=width < 100)
    assert len(longest) <= widths["waiting"]
    assert len("-23h 59m") <= widths["left"]


class Bar(App[None]):
    def compose(self) -> ComposeResult:
        yield HealthBar(id="health")


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (80, "100000 open · 100000 unass. · 5000 breached · 3000 at risk · 82.4% in target"),
        (120, "100000 open  ·  100000 unassigned  ·  5000 breached  ·  3000 at risk  ·  "
              "82.4% in target today"),
    ],
)  # fmt: skip
async def test_health_line_fits_on_one_line(width: int, expected: str) -> None:
    app = Bar()
    async with app.run_test(size=(width, 4)) as pilot:
        bar = app.query_one(HealthBar)
        view = Text("View All open · filter " + "x" * 200)
        bar.show(QueueHealth(100000, 100000, 5000, 3000, 82.4), view, 200, 100000)
        await pilot.pause()
        first, second = [strip.text.rstrip() for strip in bar.render_lines(bar.region)][:2]
        assert first.strip() == expected
        assert second.endswith("200 of 100000")  # the count stays whole; the filter is cut
