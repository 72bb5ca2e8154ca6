"""Intake tells open consoles about new messages at once: NOTIFY in the intake transaction."""

from __future__ import annotations

import json
import time

import pytest

from helpdesk_tui.services import live
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from tests.db.test_live import Received, wait_for


def _line(mid: str, minute: int) -> bytes:
    return json.dumps(
        {
            "id": mid, "conversation": f"c-{mid}", "kind": "user_admin", "subject": "Hi",
            "from": {"id": "u-1", "role": "user", "name": "Ann"}, "body": "hello",
            "sent_at": f"2026-03-02T09:{minute:02d}:00+02:00",
        }
    ).encode()  # fmt: skip


def test_ingested_messages_reach_a_listening_console(ctx: Context) -> None:
    if not ctx.db.is_postgres:
        pytest.skip("PostgreSQL only: SQLite consoles poll")
    got = Received()
    # A long catch-up interval: only the NOTIFY can deliver within the wait below.
    listener = live.MessageListener(ctx.db, got, catchup_interval=3600, poll_interval=3600)
    listener.start_thread()
    try:
        time.sleep(0.5)  # LISTEN is in place
        summary = Intake(ctx).run([_line("m1", 1), _line("m2", 2)])
        assert summary.accepted == 2
        assert wait_for(lambda: sorted(got.ids) == sorted(summary.message_ids), timeout=5)
    finally:
        listener.stop()
