"""Search as an agent uses it: type words, see the ranked hits, enter opens the conversation."""

from __future__ import annotations

import json

from textual.pilot import Pilot
from textual.widgets import Input

from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.screens.search import SearchScreen
from helpdesk_tui.services import threads
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from tests.app.conftest import make_app
from tests.app.seed import HOSTILE, msg
from tests.app.test_hostile_text import VERBATIM, assert_inert, screen_text
from widgets.search_results import SearchResults


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def searched(pilot: Pilot[None], screen: SearchScreen, query: str) -> None:
    """Wait until the table shows the results for ``query`` (debounce, then the worker)."""
    for _ in range(100):
        if screen.shown_query == query:
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"no results for {query!r}")


def search_for(screen: object, query: str) -> None:
    """Put ``query`` in the box as if typed (one Changed event instead of one per key)."""
    assert isinstance(screen, SearchScreen)
    screen.query_one(Input).value = query


async def test_type_a_word_see_the_hit_enter_opens_it(console_ctx: Context, monkeypatch) -> None:
    monkeypatch.setattr(SearchScreen, "DEBOUNCE_S", 0.02)
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await pilot.press(*"frid")  # "Friday", in c-1's first message (the last word: a prefix)
        await searched(pilot, screen, "frid")
        table = screen.query_one(SearchResults)
        assert table.row_count == 1
        assert [c.plain for c in table.get_row_at(0)][:3] == [
            "c-1",
            "new",
            "Refund for featured ad",
        ]
        assert "Friday" in table.get_row_at(0)[3].plain

        await pilot.press("enter")
        await settle(pilot)
        conv = app.screen
        assert isinstance(conv, ConversationScreen)
        assert conv.detail is not None and conv.detail.external_id == "c-1"

        # From the conversation, f searches again; enter on the conversation right underneath
        # goes back to it instead of stacking a second copy.
        depth = len(app.screen_stack)
        await pilot.press("f")
        search_for(app.screen, "frid")
        await searched(pilot, app.screen, "frid")
        assert threads.load_detail(console_ctx, conv.conv_id, viewer="bob").viewers == ()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is conv and len(app.screen_stack) == depth
        # Back on the conversation: presence says ann has it open again.
        assert threads.load_detail(console_ctx, conv.conv_id, viewer="bob").viewers == ("ann",)

        await pilot.press("f")
        search_for(app.screen, "photo")
        await searched(pilot, app.screen, "photo")
        await pilot.press("down", "enter")  # down: from the box to the results
        await settle(pilot)
        assert isinstance(app.screen, ConversationScreen)
        assert app.screen.detail is not None and app.screen.detail.external_id == "c-3"
        # esc walks back: the results, c-1, the first results, the queue.
        for back_to in (SearchScreen, ConversationScreen, SearchScreen, QueueScreen):
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, back_to)


async def test_search_results_show_hostile_text_inert(console_ctx: Context) -> None:
    record = msg("m-h", "c-h", 5, "zebra " + HOSTILE, kind="user_admin", subject="S " + HOSTILE)
    Intake(console_ctx).run([json.dumps(record).encode()])
    app = make_app(console_ctx)
    async with app.run_test(size=(220, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        search_for(app.screen, "zebra")
        await searched(pilot, app.screen, "zebra")
        text = screen_text(app)
        assert_inert(text)
        assert VERBATIM[0] in text and "[bold]B[/]" in text
        assert app.is_running
