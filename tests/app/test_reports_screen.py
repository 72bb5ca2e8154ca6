"""The reports screen: R from the queue, the month's figures against their targets, sorting,
moving through periods, and the export to a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Sparkline, Static

from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.screens.reports import ReportsScreen, cell
from helpdesk_tui.services.context import Context
from tests.app.conftest import make_app
from tests.app.seed import make_context


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def open_reports(pilot: Pilot[None]) -> ReportsScreen:
    """R on the queue, then wait for the report's message."""
    await settle(pilot)
    await pilot.press("R")
    screen = pilot.app.screen
    assert isinstance(screen, ReportsScreen)
    for _ in range(200):
        await settle(pilot)
        if screen.report is not None:
            return screen
        await pilot.pause(0.02)
    raise AssertionError("the report never arrived")


def text_of(screen: ReportsScreen, selector: str) -> str:
    content = screen.query_one(selector, Static).render()
    return str(getattr(content, "plain", content))


async def test_r_opens_the_month_with_figures_and_export(
    console_ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(console_ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_reports(pilot)
        assert "SCMR-5 monthly report 2026-03" in text_of(screen, "#reports-title")
        seller = screen.query_one("#fig-seller", Static)
        assert "Seller replied within 4 h" in text_of(screen, "#fig-seller")
        assert "0%" in text_of(screen, "#fig-seller")
        assert seller.has_class("-missed") and not seller.has_class("-met")
        assert not screen.query_one("#fig-responded", Static).has_class("-missed")
        assert sum(screen.query_one("#by-day", Sparkline).data or []) == 5
        assert len(screen.query_one("#by-hour", Sparkline).data or []) == 24
        sellers = screen.query_one("#sellers", DataTable)
        assert sellers.row_count == 1
        assert sellers.get_row_at(0)[1].plain == "Lerato Motors"

        await pilot.press("x")
        await pilot.pause()
        out = tmp_path / "scmr5-2026-03.md"
        assert out.is_file()
        assert "Lerato Motors" in out.read_text(encoding="utf-8")
        assert any(str(out) in str(n.message) for n in app._notifications)

        await pilot.press("x")  # an existing file is never replaced
        await pilot.pause()
        assert (tmp_path / "scmr5-2026-03-1.md").is_file()

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)


async def test_periods_and_sorting(console_ctx: Context) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert screen.period.label == "2026-02"
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert screen.period.label == "2026-04"
        await pilot.press("w")
        await settle(pilot)
        assert screen.period.kind == "week" and screen.period.label == "2026-W14"
        await pilot.press("q")
        await settle(pilot)
        assert screen.period.label == "2026-Q2"  # 1 April (in week 14) stays the anchor
        await pilot.press("m", "right_square_bracket")
        await settle(pilot)
        assert screen.period.label == "2026-05"
        for _ in range(100):
            if screen.report is not None and screen.report["period"]["label"] == "2026-05":
                break
            await pilot.pause(0.02)
        assert screen.report is not None

        # sorting: s on the focused table sorts by the cursor column, again reverses
        table = screen.query_one("#agents", DataTable)
        table.clear()
        for name, replies in (("bo", 2), ("al", 7), ("cy", None)):
            table.add_row(cell(name, "name"), cell(replies, "num"),
                          *(cell(None, "num") for _ in range(5)))  # fmt: skip
        table.focus()
        table.cursor_coordinate = table.cursor_coordinate._replace(column=1)
        await pilot.press("s")
        await pilot.pause()
        assert [table.get_row_at(i)[0].plain for i in range(3)] == ["bo", "al", "cy"]
        await pilot.press("s")
        await pilot.pause()
        assert [table.get_row_at(i)[0].plain for i in range(3)] == ["cy", "al", "bo"]


def test_reports_screen_snapshot(snap_compare, tmp_path: Path) -> None:
    """R on the queue at 120x40: the title "SCMR-5 monthly report 2026-03 2026-03-01 to
    2026-03-31 (Africa/Johannesburg)", the figures with their targets (Seller replied within
    4 h 0%, target 90%, MISSED in red; the others "-" with no verdict, Escalations 0), the
    messages-by-day sparkline (5 in all) and by-hour sparkline (peak 4:00), the empty Agents
    table and the Sellers table with u-9 Lerato Motors (warning), and the footer's keys."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_reports(pilot)

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
