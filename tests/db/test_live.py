"""Live updates: NOTIFY payloads, the listener (PostgreSQL LISTEN + catch-up, SQLite poll),
notifications missed while disconnected caught up on reconnect."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from db.models import Conversation, Message
from helpdesk_tui.services import live
from helpdesk_tui.services.context import Context
from tests.db.test_sweep import must_ingest
from tests.factories import at, message


class Received:
    """Collects what the callback got, thread-safely."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        with self.lock:
            self.calls.append(list(ids))

    @property
    def ids(self) -> list[int]:
        with self.lock:
            return [i for call in self.calls for i in call]


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def add_messages(ctx: Context, count: int, *, notify: bool = True) -> list[int]:
    """Messages written by the helpdesk in one transaction, NOTIFYing like intake will."""

    def fn(s: Any) -> list[int]:
        conv_id = s.scalar(select(Conversation.id).order_by(Conversation.id).limit(1))
        msgs = [
            Message(conversation_id=conv_id, role="system", body=f"note {i}", internal=True,
                    via="console", sent_at=at(minutes=i), author_name="t")
            for i in range(count)
        ]  # fmt: skip
        s.add_all(msgs)
        s.flush()
        ids = [m.id for m in msgs]
        if notify:
            live.notify_new_messages(s, ids)
        return ids

    return ctx.db.write(fn)


def listening(listener: live.MessageListener) -> bool:
    return listener.state in ("listening", "polling") and listener.high_water is not None


@pytest.fixture
def seeded(ctx: Context) -> Context:
    must_ingest(ctx, message("m-1", "c-1", sent_at=0), message("m-2", "c-1", sent_at=1))
    return ctx


def test_payloads_stay_under_the_limit_and_keep_every_id() -> None:
    ids = list(range(10**9, 10**9 + 5000))
    chunks = live.payloads(ids)
    assert len(chunks) > 1
    assert all(len(c.encode()) < 8000 for c in chunks)
    assert [i for c in chunks for i in live.parse_payload(c)] == ids
    assert live.payloads([]) == []
    assert live.parse_payload("1,x,,3") == [1, 3]


def test_new_messages_reach_a_running_listener_but_not_history(seeded: Context) -> None:
    got = Received()
    listener = live.MessageListener(seeded.db, got, poll_interval=0.2, catchup_interval=3600)
    listener.start_thread()
    try:
        assert wait_for(lambda: listening(listener))
        ids = add_messages(seeded, 3)
        assert wait_for(lambda: sorted(got.ids) == ids, timeout=5)
        time.sleep(0.5)
        assert sorted(got.ids) == ids  # history (m-1, m-2) never delivered, nothing twice
    finally:
        listener.stop()
    assert listener.state == "stopped"


def test_notify_is_sent_in_the_writers_transaction_on_postgres(seeded: Context) -> None:
    if not seeded.db.is_postgres:
        assert seeded.db.write(lambda s: live.notify_new_messages(s, [1, 2])) == 0
        return
    got = Received()
    # catch-up only on connect: whatever arrives later must come by NOTIFY
    listener = live.MessageListener(seeded.db, got, catchup_interval=3600)
    listener.start_thread()
    try:
        assert wait_for(lambda: listener.state == "listening")
        rolled_back: list[int] = []

        def aborted(s: Any) -> None:
            live.notify_new_messages(s, [999999])
            rolled_back.append(1)
            raise RuntimeError("rollback")

        with pytest.raises(RuntimeError):
            seeded.db.write(aborted)
        ids = add_messages(seeded, 2)
        assert wait_for(lambda: got.ids == ids, timeout=5)
        assert 999999 not in got.ids and rolled_back
    finally:
        listener.stop()


def test_messages_missed_while_stopped_are_caught_up(seeded: Context) -> None:
    got = Received()
    listener = live.MessageListener(seeded.db, got, poll_interval=0.2, catchup_interval=3600)
    listener.start_thread()
    assert wait_for(lambda: listening(listener))
    first = add_messages(seeded, 1)
    assert wait_for(lambda: got.ids == first)
    listener.stop()

    missed = add_messages(seeded, 4)  # NOTIFY goes nowhere: nobody listens
    assert got.ids == first

    listener.start_thread()  # reconnect: LISTEN, then catch up from the high-water mark
    try:
        assert wait_for(lambda: got.ids == first + missed)
        # a fresh listener can resume from a stored high-water mark too
        other = Received()
        resumed = live.MessageListener(seeded.db, other, start_after=first[0],
                                       catchup_interval=3600, poll_interval=0.2)  # fmt: skip
        resumed.start_thread()
        try:
            assert wait_for(lambda: other.ids == missed)
        finally:
            resumed.stop()
    finally:
        listener.stop()


def test_listener_reconnects_after_its_connection_is_killed(seeded: Context) -> None:
    if not seeded.db.is_postgres:
        pytest.skip("PostgreSQL only: SQLite has no server connection to lose")
    got = Received()
    listener = live.MessageListener(seeded.db, got, catchup_interval=3600, reconnect_delay=0.2)
    listener.start_thread()
    try:
        assert wait_for(lambda: listener.state == "listening")
        before = add_messages(seeded, 1)
        assert wait_for(lambda: got.ids == before)
        pid = listener.backend_pid
        with seeded.db.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        lost = add_messages(seeded, 3)  # sent while the listener is (or soon is) gone
        assert wait_for(lambda: listener.backend_pid not in (None, pid))
        after = add_messages(seeded, 1)
        assert wait_for(lambda: sorted(got.ids) == before + lost + after)
        time.sleep(0.3)
        assert len(got.ids) == len(set(got.ids)) == 5
    finally:
        listener.stop()


def test_async_run_calls_an_async_callback(seeded: Context) -> None:
    import asyncio

    async def main() -> list[int]:
        seen: list[int] = []
        done = asyncio.Event()

        async def on_messages(ids: list[int]) -> None:
            seen.extend(ids)
            done.set()

        listener = live.MessageListener(seeded.db, on_messages, poll_interval=0.2)
        task = asyncio.create_task(listener.run())
        for _ in range(200):
            if listening(listener):
                break
            await asyncio.sleep(0.05)
        ids = await asyncio.to_thread(add_messages, seeded, 2)
        await asyncio.wait_for(done.wait(), 10)
        listener.stop()
        await asyncio.wait_for(task, 5)
        assert seen == ids
        return seen

    assert len(asyncio.run(main())) == 2
