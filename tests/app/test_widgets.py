"""Widgets on their own: the thread's window of rendered messages, the queue's countdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult

from db.records import MessageView, QueueRow
from widgets.queue_table import QueueTable
from widgets.thread_view import ThreadView

NOW = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)


def message(i: int) -> MessageView:
    return MessageView(i, None, f"Author {i}", "user", f"body {i}", False, "intake",
                       NOW - timedelta(minutes=100 - i))  # fmt: skip


class Thread(App[None]):
    def compose(self) -> ComposeResult:
        yield ThreadView(id="thread")


async def test_thread_shows_the_newest_first_and_more_on_home() -> None:
    app = Thread()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ThreadView)
        messages = [message(i) for i in range(70)]
        view.show(messages, UTC, NOW)
        await pilot.pause()
        assert [m.id for m in view.shown] == list(range(58, 70))  # the newest FIRST (12)
        assert "58 earlier message(s)" in view.lines[0].text
        assert view.scroll_y == view.max_scroll_y > 0  # scrolled to the newest
        assert "body 69" in "\n".join(s.text for s in app.screen._compositor.render_strips())
        view.focus()
        await pilot.press("home")
        await pilot.pause()
        assert [m.id for m in view.shown] == list(range(28, 70))
        await pilot.press("home")
        await pilot.pause()
        assert [m.id for m in view.shown] == list(range(70))
        assert not view.hidden and "earlier message" not in view.lines[0].text
        await pilot.press("home")  # everything is shown: home scrolls to the oldest
        await pilot.pause()
        assert view.scroll_y == 0 and "Author 0" in view.lines[0].text
        await pilot.press("end")
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        await pilot.press("up", "up")
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y - 2  # the keyboard scrolls the thread
        await pilot.press("end")
        view.show([*messages, message(70)], UTC, NOW)  # a new message is appended
        await pilot.pause()
        assert view.shown[-1].id == 70 and view.scroll_y == view.max_scroll_y


async def test_thread_sets_notes_and_automatic_messages_apart() -> None:
    app = Thread()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ThreadView)
        note = MessageView(1, None, "Ann", "agent", "a note", True, "console", NOW)
        auto = MessageView(2, None, "helpdesk", "system", "got it", False, "auto_ack", NOW)
        reply = MessageView(3, None, "Ann", "agent", "hello", False, "console", NOW)
        view.show([note, auto, reply], UTC, NOW)
        await pilot.pause()
        text = "\n".join(s.text for s in view.lines)
        assert "INTERNAL NOTE" in text and "AUTO" in text
        bars = [s for s in view.lines if s.text.startswith("█")]
        note_bg = {seg.style.bgcolor for seg in bars[0] if seg.style}
        reply_bg = {seg.style.bgcolor for seg in bars[-1] if seg.style}
        assert note_bg != reply_bg  # a note has its own background
        colours = [bar._segments[0].style.color for bar in (bars[0], bars[2], bars[-1])]
        assert len(set(colours)) == 3  # note, automatic and agent bars differ


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
