"""Customer text with markup, escape sequences, C1 and bidi controls is shown inert everywhere."""

from __future__ import annotations

import json
import re

import pytest
from textual.app import App
from textual.pilot import Pilot

from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from tests.app.conftest import make_app
from tests.app.seed import HOSTILE, msg
from widgets.queue_table import QueueTable
from widgets.sanitize import clean

#: What must never reach the terminal: C0 (but LF/TAB), DEL, C1, zero-width, bidi controls.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
#: Printable parts that must appear character for character.
VERBATIM = ("[@click=app.quit]x[/]", "[bold]B[/]", "[TODO] Q3", "]52;c;SGVsbG8=", "[2J")


def screen_text(app: App[None]) -> str:
    """Every cell of the current screen as the terminal would get it (all layers composed)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def assert_inert(text: str) -> None:
    raw = RAW.findall(text)
    assert not raw, f"raw control characters reached the screen: {raw!r}"


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def test_the_fixture_really_is_hostile() -> None:
    assert "\x1b]52;" in HOSTILE and "\x9b" in HOSTILE and "\u202e" in HOSTILE
    assert "\u240b" not in clean(HOSTILE) and "\x1b" not in clean(HOSTILE)


async def test_queue_and_conversation_show_hostile_text_inert(hostile_ctx: Context) -> None:
    app = make_app(hostile_ctx)
    async with app.run_test(size=(220, 50)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        hostile_id = next(i for i, r in table.queue_rows.items() if r.conversation == "c-h")
        for row_key in table.rows:
            for cell in table.get_row(row_key):
                assert_inert(cell.plain)
        text = screen_text(app)
        assert_inert(text)
        for part in VERBATIM:
            assert part in text, part
        assert "␛" in text and "⟨U+202E⟩" in text and "⟨U+009B⟩" in text

        # Clicking the "[@click=app.quit]" text runs nothing.
        table.move_cursor(row=table.get_row_index(str(hostile_id)))
        await pilot.click(QueueTable, offset=(40, 1 + table.cursor_row))
        await pilot.pause()
        assert app.is_running

        while not isinstance(app.screen, ConversationScreen):
            await pilot.press("enter")
            await settle(pilot)
        assert app.screen.conv_id == hostile_id
        text = screen_text(app)
        assert_inert(text)
        for part in VERBATIM:
            assert part in text, part
        assert "body [@click=app.quit]x[/]" in text  # the message body
        assert "N [@click=app.quit]x[/]" in text  # the author name (thread and side panel)

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        assert app.is_running


async def test_arrival_toast_is_inert(console_ctx: Context) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        record = msg("m-x", "c-x", 1, "hi", kind="user_admin", subject="T " + HOSTILE,
                     sender={"id": "u-x", "role": "user", "name": "X " + HOSTILE})  # fmt: skip
        Intake(console_ctx).run([json.dumps(record).encode()])
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        screen._poll()
        await settle(pilot)
        toasts = [n.message for n in app._notifications]
        assert any("1 new conversation" in t for t in toasts), toasts
        for toast in toasts:
            assert_inert(toast)
        assert any("T [@click=app.quit]x[/] [bold]B[/]" in t for t in toasts), toasts
        text = screen_text(app)
        assert_inert(text)
        assert app.is_running


@pytest.mark.parametrize(
    "subject",
    ["[link=https://evil.example]Refund[/link]", "[type=x, v={'a[0]'}]", "[IMPORTANT]", "\x00nul"],
)
async def test_markup_torture_subjects(console_ctx: Context, subject: str) -> None:
    record = msg("m-t", "c-t", 1, "b", kind="user_admin", subject=subject, priority="urgent")
    Intake(console_ctx).run([json.dumps(record).encode()])
    app = make_app(console_ctx)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert_inert(text)
        if "\x00" not in subject:
            assert subject in text
        assert app.is_running
