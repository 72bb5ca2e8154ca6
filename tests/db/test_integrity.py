"""References kept without a foreign key (migrations 0009 and 0011) point at what they name:
every message's author at a stored party or agent, every clock and clock-log row at a stored
conversation, every clock's starting and stopping message at a stored message of the clock's
own conversation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import text

from helpdesk_tui import demo
from helpdesk_tui.services import sla
from helpdesk_tui.services.context import Context

ORPHANS = {
    "messages without their conversation": (
        "SELECT count(*) FROM messages m"
        " WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = m.conversation_id)"
    ),
    "messages whose author party is missing": (
        "SELECT count(*) FROM messages m WHERE m.author_party_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM parties p WHERE p.id = m.author_party_id)"
    ),
    "messages whose author agent is missing": (
        "SELECT count(*) FROM messages m WHERE m.author_agent_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = m.author_agent_id)"
    ),
    "clocks without their conversation": (
        "SELECT count(*) FROM sla_clocks k"
        " WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = k.conversation_id)"
    ),
    "clock log rows without their conversation": (
        "SELECT count(*) FROM clock_events e"
        " WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = e.conversation_id)"
    ),
    "clocks whose starting message is missing or another conversation's": (
        "SELECT count(*) FROM sla_clocks k WHERE k.start_message_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM messages m WHERE m.id = k.start_message_id"
        " AND m.conversation_id = k.conversation_id)"
    ),
    "clocks whose stopping message is missing or another conversation's": (
        "SELECT count(*) FROM sla_clocks k WHERE k.stop_message_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM messages m WHERE m.id = k.stop_message_id"
        " AND m.conversation_id = k.conversation_id)"
    ),
}


def _orphans(ctx: Context) -> dict[str, int]:
    with ctx.db.engine.connect() as conn:
        return {what: int(conn.execute(text(sql)).scalar_one()) for what, sql in ORPHANS.items()}


@pytest.mark.parametrize("overlap", [False, True])
def test_the_demo_leaves_no_dangling_clock_references(ctx: Context, overlap: bool) -> None:
    """The demo marketplace (bulk intake in small batches, serial or overlapped, console
    replies, reopened threads, flags), then every clock recomputed: nothing dangles, and the
    references are there to check (not all NULL)."""
    run = replace(ctx, settings=replace(ctx.settings, intake_batch=7, intake_overlap=overlap))
    demo.build(run, seed=5)
    with ctx.db.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM conversations")).scalars().all()
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM clock_events),"
                " (SELECT count(stop_message_id) FROM sla_clocks)"
            )
        ).one()
    assert counts[0] > 100 and counts[1] > 10
    ctx.db.write(lambda s: sla.recompute(s, ctx.settings, list(ids)))
    assert _orphans(ctx) == dict.fromkeys(ORPHANS, 0)
