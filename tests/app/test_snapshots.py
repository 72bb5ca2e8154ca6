"""Snapshot tests of the console at 80x24 and 120x40 (fixed clock, no polling, seeded data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.app.conftest import make_app
from tests.app.seed import make_context

SIZES = [(80, 24), (120, 40)]


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def open_refund(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("down", "enter")  # c-1, the second row
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_queue_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """The queue: the health line (4 open, 4 unassigned, 1 breached, 1 at risk), the view line
    "View All open  4 shown", then c-2 breached (-1h, red) first, c-1 urgent (URG red), c-3
    high, c-4 low last with its 4h in amber (at risk); the verified ✓ before Zanele Dlamini;
    the footer with enter Open, / Filter, 1-5 Views, space Mark, a Take, ? Help. Nothing
    essential cut off at 80x24."""
    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_conversation_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Conversation c-1 "Refund for featured ad": the title and a status line (new · urgent ·
    support · assignee nobody · team support · first response due in 30m); two customer
    messages by Zanele Dlamini with local times 08:45 and 09:05 and their ages; at 120x40 the
    side panel (requester ✓ verified, first response and resolution clocks with due times, no
    escalations); at 80x24 the panel is hidden; the composer "Reply to customer · ctrl+s send"
    and the footer with ^s Send, r Reply, n Note, t Template, e Escalate, ? Help."""
    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=open_refund)


def test_template_picker(snap_compare, tmp_path: Path) -> None:
    """The template picker over c-1 at 80x24: the list (Listing availability, Old order
    template, Refund on its way) filtered by "ref" to Refund on its way, and the live preview
    filled for Zanele Dlamini and c-1, signed Ann Lead."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_refund(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press(*"ref")
        await pilot.pause()

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare, tmp_path: Path) -> None:
    """`?` on the queue at 80x24: the Queue keys (enter, /, 1-5 views, T, space, a, p, s ...)
    then the keys that work everywhere; generated from the action registry."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
