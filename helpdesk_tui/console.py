"""Starts the Textual console (the app lives in helpdesk_tui.app)."""

from __future__ import annotations

from typing import Any


def run_console(env: Any) -> None:
    """Open the console for ``env.agent`` on ``env``'s database."""
    from helpdesk_tui.app import HelpdeskApp

    ctx = env.context()
    HelpdeskApp(ctx, agent=env.agent, config_path=env.config, live=True).run()
