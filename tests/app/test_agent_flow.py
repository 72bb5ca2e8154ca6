"""Pilot tests that work the console like an agent, then check the database."""

from __future__ import annotations

from sqlalchemy import select
from textual.pilot import Pilot

from db.engine import DatabaseUnavailable
from db.models import Conversation, Draft, Escalation, Message
from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.screens.modals import ConfirmModal
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.services import conversations
from helpdesk_tui.services.context import Context
from tests.app.conftest import make_app
from widgets.composer import Composer
from widgets.queue_table import QueueTable
from widgets.template_picker import TemplatePicker


async def settle(pilot: Pilot[None], rounds: int = 3) -> None:
    """Let workers finish and their messages be handled (no sleeping on wall time)."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def conv(ctx: Context, external_id: str) -> Conversation:
    with ctx.db.read() as s:
        row = s.scalar(select(Conversation).where(Conversation.external_id == external_id))
        assert row is not None
        s.expunge(row)
        return row


def assignee_of(ctx: Context, external_id: str) -> str | None:
    from db.models import Agent

    with ctx.db.read() as s:
        return s.scalar(
            select(Agent.username)
            .join(Conversation, Conversation.assignee_id == Agent.id)
            .where(Conversation.external_id == external_id)
        )


def agent_messages(ctx: Context, external_id: str) -> list[tuple[str, str, bool]]:
    """(body, via, internal) of the agents' messages, oldest first."""
    with ctx.db.read() as s:
        return [
            tuple(row)
            for row in s.execute(
                select(Message.body, Message.via, Message.internal)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.external_id == external_id, Message.role == "agent")
                .order_by(Message.id)
            )
        ]


async def test_take_reply_escalate_resolve(console_ctx: Context) -> None:
    ctx = console_ctx
    app = make_app(ctx, "bob")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        assert table.row_count == 4

        await pilot.press("slash", *"priority:urgent", "enter")
        await settle(pilot)
        assert [table.queue_rows[i].conversation for i in table.ordered_ids()] == ["c-1"]

        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.detail is not None and screen.detail.external_id == "c-1"

        await pilot.press("a")
        await settle(pilot)
        assert assignee_of(ctx, "c-1") == "bob"

        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TemplatePicker)
        await pilot.press(*"refund", "enter")
        await pilot.pause()
        composer = screen.query_one(Composer)
        assert "Your refund for c-1 is on its way" in composer.text
        await pilot.press("ctrl+s")
        await settle(pilot)
        sent = agent_messages(ctx, "c-1")
        assert len(sent) == 1
        body, via, internal = sent[0]
        assert body.startswith("Hi Zanele Dlamini,") and via == "template" and not internal
        assert composer.text == ""

        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*"customer waited all weekend", "enter")
        await settle(pilot)
        with ctx.db.read() as s:
            escalations = [tuple(r) for r in s.execute(select(Escalation.level, Escalation.reason))]
        assert escalations == [(1, "customer waited all weekend")]

        await pilot.press("s")
        await pilot.pause()
        await pilot.press("down", "down", "down", "enter")  # open, pending, on hold, resolved
        await settle(pilot)
        assert conv(ctx, "c-1").status == "resolved"

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        assert app.is_running


async def test_internal_note_is_not_public(console_ctx: Context) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the first row: c-2, the breached buyer question
        await settle(pilot)
        await pilot.press("n", *"seller is slow, chase tomorrow", "ctrl+s")
        await settle(pilot)
    notes = agent_messages(console_ctx, "c-2")
    assert notes == [("seller is slow, chase tomorrow", "console", True)]


async def test_draft_survives_and_retry_sends_once(console_ctx: Context, monkeypatch) -> None:
    """A send that fails after the database stored it keeps the draft; the retry stores the
    message exactly once (idempotency key)."""
    ctx = console_ctx
    monkeypatch.setattr(Composer, "DEBOUNCE_S", 0.01)
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # c-1
        await settle(pilot)
        await pilot.press("r", *"We are on it")
        await pilot.pause(0.1)
        await settle(pilot)
    with ctx.db.read() as s:
        drafts = list(s.scalars(select(Draft.body)))
    assert drafts == ["We are on it"]

    real_send = conversations.send
    calls = {"n": 0}

    def flaky_send(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        result = real_send(*args, **kwargs)
        if calls["n"] == 1:
            raise DatabaseUnavailable("connection lost after commit")
        return result

    monkeypatch.setattr(conversations, "send", flaky_send)
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.query_one(Composer).text == "We are on it"  # restored
        await pilot.press("r", "ctrl+s")
        await settle(pilot)
        assert screen.query_one(Composer).text == "We are on it"  # kept after the failure
        assert app.is_running
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert screen.query_one(Composer).text == ""
    assert [body for body, _, _ in agent_messages(ctx, "c-1")] == ["We are on it"]


async def test_collision_asks_before_sending(console_ctx: Context) -> None:
    ctx = console_ctx
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # c-1
        await settle(pilot)
        conversations.assign(ctx, "bob", conv(ctx, "c-1").id, "bob")  # meanwhile, bob takes it
        await pilot.press("r", *"Hello", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert agent_messages(ctx, "c-1") == []
        await pilot.press("y")
        await settle(pilot)
    assert [body for body, _, _ in agent_messages(ctx, "c-1")] == ["Hello"]


async def test_unknown_placeholder_is_a_message_not_a_crash(console_ctx: Context) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press(*"order", "enter")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, TemplatePicker)  # still open: nothing inserted
        preview = str(picker.query_one("#picker-preview").render())
        assert "unknown placeholder" in preview and "order_number" in preview
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConversationScreen)
        assert app.is_running


async def test_bulk_take_previews_then_applies(console_ctx: Context) -> None:
    ctx = console_ctx
    app = make_app(ctx, "bob")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "a")  # mark c-2 and c-1, take them
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        preview = "\n".join(line.plain for line in modal.lines)
        assert "c-2" in preview and "c-1" in preview and "nobody → bob" in preview
        await pilot.press("y")
        await settle(pilot)
    assert assignee_of(ctx, "c-1") == "bob" and assignee_of(ctx, "c-2") == "bob"
    assert assignee_of(ctx, "c-3") is None


async def test_views_and_selection_kept_on_refresh(console_ctx: Context) -> None:
    ctx = console_ctx
    app = make_app(ctx, "bob")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        await pilot.press("down", "down")  # c-3
        assert table.queue_rows[table.selected_id].conversation == "c-3"
        assert table.cursor_row == 2
        conversations.set_priority(ctx, "bob", conv(ctx, "c-3").id, "urgent")  # now breached
        await pilot.press("ctrl+r")
        await settle(pilot)
        order = [table.queue_rows[i].conversation for i in table.ordered_ids()]
        assert order == ["c-2", "c-3", "c-1", "c-4"]
        assert table.queue_rows[table.selected_id].conversation == "c-3"
        assert table.cursor_row == 1
        await pilot.press("4")  # breached
        await settle(pilot)
        assert [table.queue_rows[i].conversation for i in table.ordered_ids()] == ["c-2", "c-3"]
        await pilot.press("3", "slash", *"bogus:1", "enter")  # a bad term is a message
        await settle(pilot)
        assert app.is_running and table.row_count == 4


async def test_decide_a_flag_from_the_conversation(console_ctx: Context) -> None:
    from db.models import Flag
    from tests.app.seed import iso
    from tests.factories import flag, ingest

    run = ingest(console_ctx, flag("fl-9", {"listing": "L-1"}, reason="scam", reporter="u-3",
                                   flagged_at=iso(30)))  # fmt: skip
    assert run.rejects == []
    app = make_app(console_ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"kind:flag", "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConversationScreen)
        await pilot.press("d")  # remove, warn, suspend (leads), dismiss
        await settle(pilot)
        await pilot.press("down", "down", "down", "enter")  # dismiss
        await settle(pilot)
    assert conv(console_ctx, "flag:fl-9").status == "resolved"
    with console_ctx.db.read() as s:
        decided = s.scalar(select(Flag).where(Flag.external_id == "fl-9"))
        assert decided is not None and decided.decision == "dismissed"
