"""The registry, presence, and failures that must become messages (never a traceback exit)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from db.engine import DatabaseUnavailable
from helpdesk_tui.actions import ACTIONS, for_scope
from helpdesk_tui.app import HelpdeskApp
from helpdesk_tui.commands import ActionsProvider
from helpdesk_tui.errors import InvalidInput
from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.screens.filters import parse
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.screens.search import SearchScreen
from helpdesk_tui.services import queue, threads
from helpdesk_tui.services.context import Context
from tests.app.conftest import make_app
from widgets.sla_panel import SlaPanel

TARGETS = {
    "app": HelpdeskApp,
    "queue": QueueScreen,
    "conversation": ConversationScreen,
    "search": SearchScreen,
}


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("spec", ACTIONS, ids=lambda s: s.id)
def test_every_registered_action_exists(spec) -> None:  # type: ignore[no-untyped-def]
    name = spec.action.split("(")[0]
    assert hasattr(TARGETS[spec.scope], f"action_{name}"), spec.id


def test_ids_are_unique_and_keys_do_not_clash() -> None:
    assert len({a.id for a in ACTIONS}) == len(ACTIONS)
    for scope in ("queue", "conversation", "search"):
        keys = [k for a in for_scope(scope) + for_scope("app") for k in a.key.split(",")]
        assert len(keys) == len(set(keys)), scope


def test_filter_terms() -> None:
    parsed = parse("priority:urgent kind:buyer assignee:me refund  status:pending_customer")
    assert parsed.changes("ann") == {
        "priority": "urgent",
        "kind": "buyer_seller",
        "assignee": "ann",
        "status": "pending_customer",
        "text": "refund",
    }
    assert parse("assignee:none team:support").changes("ann") == {
        "unassigned": True,
        "team": "support",
    }
    with pytest.raises(InvalidInput, match="priority:soon"):
        parse("priority:soon")
    with pytest.raises(InvalidInput, match="unknown filter field"):
        parse("colour:red")


async def test_palette_lists_the_screens_actions(console_ctx: Context) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        provider = ActionsProvider(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert "Filter (/)" in titles and "Help (?)" in titles
        assert "Search messages (f)" in titles
        assert len(titles) == len(for_scope("queue")) + len(for_scope("app")) - 1
        hits = [hit.text async for hit in provider.search("escalate")]
        assert not any(h.startswith("Escalate") for h in hits)  # a conversation action
        await pilot.press("enter")
        await settle(pilot)
        provider = ActionsProvider(app.screen)
        hits = [hit.text async for hit in provider.search("escalate")]
        assert hits and hits[0] == "Escalate (e)"


async def test_database_failure_is_a_toast(console_ctx: Context, monkeypatch) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)

        def down(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise DatabaseUnavailable("database sqlite:///x kept failing after 4 tries: gone")

        monkeypatch.setattr(queue, "page", down)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("kept failing after 4 tries" in m for m in messages), messages


async def test_presence_shows_other_viewers_and_clears_on_leave(console_ctx: Context) -> None:
    ctx = console_ctx
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        threads.touch_presence(ctx, "bob", 1)  # bob has c-1 open in his console
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationScreen) and screen.conv_id == 1
        assert screen.query_one(SlaPanel).viewers == ("bob",)
        assert threads.load_detail(ctx, 1, viewer="bob").viewers == ("ann",)
        await pilot.press("escape")
        await settle(pilot)
        assert threads.load_detail(ctx, 1, viewer="bob").viewers == ()


async def test_permission_denied_is_a_toast(console_ctx: Context) -> None:
    """An agent may not escalate to management (level 2): one clear line, nothing stored."""
    app = make_app(console_ctx, "bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+l", *"needs a manager", "enter")
        await settle(pilot)
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("only a lead may escalate to management" in m for m in messages), messages
