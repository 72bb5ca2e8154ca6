"""Bulk "apply a template as reply" on marked queue rows: pick, preview, send, report."""

from __future__ import annotations

from sqlalchemy import select
from textual.pilot import Pilot

from db.engine import DatabaseUnavailable
from db.models import Conversation, Message
from helpdesk_tui.screens.modals import ConfirmModal
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.services import conversations
from helpdesk_tui.services.context import Context
from tests.app.conftest import make_app
from widgets.queue_table import QueueTable
from widgets.template_picker import TemplatePicker


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def replies(ctx: Context) -> dict[str, list[tuple[str, str]]]:
    """Agents' (body, via) per conversation reference."""
    out: dict[str, list[tuple[str, str]]] = {}
    with ctx.db.read() as s:
        for ref, body, via in s.execute(
            select(Conversation.external_id, Message.body, Message.via)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.role == "agent")
            .order_by(Message.id)
        ):
            out.setdefault(ref, []).append((body, via))
    return out


async def test_template_reply_to_marked_rows(console_ctx: Context, monkeypatch) -> None:
    ctx = console_ctx
    real_send = conversations.send

    def send(ctx_, username, conv_id, body, **kw):  # type: ignore[no-untyped-def]
        if "c-3" in body:
            raise DatabaseUnavailable("database went away")
        return real_send(ctx_, username, conv_id, body, **kw)

    monkeypatch.setattr(conversations, "send", send)
    app = make_app(ctx, "bob")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "space", "t")  # mark c-2, c-1, c-3
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, TemplatePicker)
        await pilot.press(*"refund", "enter")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert "to 3 conversation(s)" in modal.title_text
        preview = "\n".join(line.plain for line in modal.lines)
        assert "c-2" in preview and "c-1" in preview and "c-3" in preview
        assert "Hi Sipho Nkosi,\n\nYour refund for c-2 is on its way." in preview  # the first
        assert replies(ctx) == {}  # nothing sent before the answer
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen) and not screen.query_one(QueueTable).marked
        toasts = [n.message for n in app._notifications]
    sent = replies(ctx)
    assert sorted(sent) == ["c-1", "c-2"]
    assert sent["c-1"] == [("Hi Zanele Dlamini,\n\nYour refund for c-1 is on its way.\n\nBob Agent",
                            "template")]  # fmt: skip
    assert sent["c-2"][0][0].startswith("Hi Sipho Nkosi,") and sent["c-2"][0][1] == "template"
    assert any(
        "“Refund on its way” sent: 2 conversation(s); 1 failed, the first: #3: database went" in t
        for t in toasts
    ), toasts
