"""With live updates on, a message ingested elsewhere appears in the open queue by itself."""

from __future__ import annotations

import json

from helpdesk_tui.app import HelpdeskApp
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake


async def test_live_console_shows_new_conversations_without_a_key(console_ctx: Context) -> None:
    app = HelpdeskApp(console_ctx, agent="ann", poll_interval=0, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        line = {
            "id": "live-1", "conversation": "c-live", "kind": "user_admin",
            "subject": "Arrived while watching", "from": {"id": "u-live", "role": "user"},
            "body": "hello", "sent_at": console_ctx.now().isoformat(),
        }  # fmt: skip
        Intake(console_ctx).run([json.dumps(line).encode()])
        for _ in range(60):  # SQLite: the listener polls every 2 s
            await pilot.pause(0.1)
            table = app.screen.query_one("QueueTable")
            if any("Arrived while watching" in str(row) for row in _rows(table)):
                break
        assert any("Arrived while watching" in str(row) for row in _rows(table))


def _rows(table: object) -> list[list[object]]:
    return [table.get_row_at(i) for i in range(table.row_count)]  # type: ignore[attr-defined]
