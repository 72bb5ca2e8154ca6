"""Widgets on their own: the thread's window of mounted messages, the queue's countdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult

from db.records import MessageView, QueueRow
from widgets.queue_table import QueueTable
from widgets.thread_view import EarlierMessages, MessageCard, ThreadView

NOW = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)


def message(i: int) -> MessageView:
    return MessageView(i, None, f"Author {i}", "user", f"body {i}", False, "intake",
                       NOW - timedelta(minutes=100 - i))  # fmt: skip


class Thread(App[None]):
    def compose(self) -> ComposeResult:
        yield ThreadView(id="thread")


async def test_thread_mounts_the_newest_first_and_more_on_home() -> None:
    app = Thread()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ThreadView)
        messages = [message(i) for i in range(70)]
        view.show(messages, UTC, NOW)
        await pilot.pause()
        cards = [c.message.id for c in view.query(MessageCard)]
        assert cards == list(range(58, 70))  # the newest FIRST (12), in order
        assert "58 earlier message(s)" in str(view.query_one(EarlierMessages).render())
        view.focus()
        await pilot.press("home")
        await pilot.pause()
        assert [c.message.id for c in view.query(MessageCard)] == list(range(28, 70))
        await pilot.press("home")
        await pilot.pause()
        assert [c.message.id for c in view.query(MessageCard)] == list(range(70))
        assert not view.query(EarlierMessages) and not view.hidden
        view.show([*messages, message(70)], UTC, NOW)  # a new message is appended
        await pilot.pause()
        assert view.query(MessageCard).last().message.id == 70


def row(conv_id: int, due_in_s: int) -> QueueRow:
    return QueueRow(
        id=conv_id, conversation=f"c-{conv_id}", kind="user_admin", subject="s", status="new",
        priority="normal", team=None, assignee=None, requester="r", requester_verified=False,
        escalation_level=0, due_at=NOW + timedelta(seconds=due_in_s), due_for="first_response",
        target_s=3600, risk_at=NOW + timedelta(seconds=due_in_s - 600),
        waiting_since=NOW - timedelta(hours=39, minutes=59), last_message_at=NOW,
    )  # fmt: skip


class Queue(App[None]):
    def compose(self) -> ComposeResult:
        yield QueueTable(id="queue")


async def test_countdown_ticks_without_a_query() -> None:
    app = Queue()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(QueueTable)
        table.show([row(1, 90), row(2, 7200)], NOW)
        await pilot.pause()
        assert table.get_cell("1", "left").plain == "1m"
        assert table.get_cell("1", "waiting").plain == "1d15h"  # whole, compact at 80
        table.tick(NOW + timedelta(seconds=120))
        assert table.get_cell("1", "left").plain == "-30s"  # now breached
        assert table.get_cell("2", "left").plain == "1h 58m"
        assert table.get_cell("1", "waiting").plain == "1d16h"
