"""Remapping keys from the config file's [keys] table (applied with App.set_keymap)."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from helpdesk_tui.app import HelpdeskApp
from helpdesk_tui.commands import ActionsProvider
from helpdesk_tui.keymap import clashes, load_keymap, parse_keys
from helpdesk_tui.screens.help import HelpScreen
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.services.context import Context

CONFIG = """
[console]
timezone = "Africa/Johannesburg"

[keys]
"queue.filter" = "ctrl+f"
"queue.take" = ["a", "ctrl+t"]
"queue.status" = "a"          # clashes with queue.take's "a"
"nonsense.action" = "x"
"queue.mark" = 3
"""


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def test_parse_and_load(tmp_path: Path) -> None:
    assert clashes({}) == []  # the registry's own keys never clash
    assert load_keymap(tmp_path / "missing.toml").keys == {}
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    keymap = load_keymap(config)
    assert keymap.keys == {"queue.filter": "ctrl+f", "queue.take": "a,ctrl+t", "queue.status": "a"}
    assert any("'nonsense.action' is not an action id" in p for p in keymap.problems)
    assert any("queue.mark" in p for p in keymap.problems)
    assert any("a is given to queue.take and queue.status" in p for p in keymap.problems)
    assert parse_keys("x").problems == ("[keys] must be a table of action id = key",)
    config.write_text("[keys\n", encoding="utf-8")
    assert "cannot read" in load_keymap(config).problems[0]


async def test_remapped_keys_work_and_show(console_ctx: Context, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    app = HelpdeskApp(console_ctx, "ann", clock=console_ctx.now, poll_interval=0,
                      config_path=config)  # fmt: skip
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        box = screen.query_one("#filter", Input)
        await pilot.press("slash")
        await pilot.pause()
        assert not box.display  # "/" no longer filters
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert box.display and box.has_focus
        await pilot.press("escape")
        await pilot.pause()

        titles = [hit.text async for hit in ActionsProvider(screen).discover()]
        assert "Filter (ctrl+f)" in titles and "Take (a, ctrl+t)" in titles

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()

        toasts = [n.message for n in app._notifications]
        assert any("'nonsense.action' is not an action id" in t for t in toasts), toasts
        assert any("a is given to queue.take and queue.status" in t for t in toasts), toasts
        assert app.is_running
