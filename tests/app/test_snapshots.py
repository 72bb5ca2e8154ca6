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
    """The queue: the health line on one line (4 open, 4 unassigned, 1 breached, 1 at risk, -
    in target today), the view line "View All open  4 shown", then c-2 breached (-1h, red)
    first, c-1 urgent (URG red), c-3 high, c-4 low last with its 4h in amber (at risk); the
    verified ✓ before Zanele Dlamini; Wait values whole (compact "20h" style at 80x24, spaced
    at 120x40); no horizontal scrollbar; the footer with enter Open, / Filter, 1-5 Views,
    space Mark, a Take, s Status, t Template, ? Help, f Search. Nothing essential cut off at
    80x24."""
    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_conversation_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Conversation c-1 "Refund for featured ad": the title and a status line that starts with
    the deadline (first response due in 30m · new · urgent · support · assignee nobody · team
    support); two customer messages by Zanele Dlamini with local times 08:45 and 09:05 and
    their ages; at 120x40 the side panel (requester ✓ verified, first response and resolution
    clocks with due times, no escalations); at 80x24 the panel is hidden; the composer "Reply
    to customer · ctrl+s send" and the footer with r Reply, n Note, t Template, a Take,
    s Status, e Escalate, ? Help, f Search (no o Files: c-1 has no attachments)."""
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
    """`?` on the queue at 80x24: the Queue keys (enter, /, 1-5 views, T, space, a, p, s, t
    ...) each with its id dimmed after the help text (queue.open, queue.filter ...: the ids
    [keys] remaps), then the keys that work everywhere; the foot line "esc close · ctrl+p
    every action by name · remap: [keys] id = "key""; generated from the action registry."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_search_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """`f` then "photo": the title, the box with "photo", "1 conversation matches “photo”", and
    one row c-3, open, "App crashes on photo upload", with the snippet "The app crashes when I
    upload photos…"; the results have focus (after ↓) and the footer shows enter Open, / Edit,
    esc Back, ? Help, f Search."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f", *"photo")
        await pilot.pause(0.4)  # the search box's debounce
        await settle(pilot)
        await pilot.press("down")
        await pilot.pause()

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_attachment_modal(snap_compare, tmp_path: Path, monkeypatch) -> None:
    """`o` on c-3 at 80x24: "Save an attachment", the one attachment crash.png · image/png ·
    29 B · Thabo Mokoena · Mon 02 Mar 07:15, "into the folder" /home/agent/Downloads, and the
    help line "enter save · tab folder · esc cancel"; the footer of c-3 behind it has o Files."""
    from helpdesk_tui.screens import conversation

    monkeypatch.setattr(conversation, "default_folder", lambda: Path("/home/agent/Downloads"))

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # c-3
        await settle(pilot)
        await pilot.press("o")
        await pilot.pause()

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_bulk_template_confirm(snap_compare, tmp_path: Path) -> None:
    """c-2 and c-1 marked, `t`, "refund", enter at 80x24: the confirm dialog "Send “Refund on
    its way” as a reply to 2 conversation(s)?", one line per conversation (c-2, c-1 · reply),
    then the first reply filled for c-2 (Hi Sipho Nkosi, … c-2 … Ann Lead) and "Go ahead?
    y yes · n no"."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("space", "space", "t")
        await settle(pilot)
        await pilot.press(*"refund", "enter")
        await pilot.pause()

    app = make_app(make_context(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
