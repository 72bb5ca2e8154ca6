"""The outbound stream: records from every producer, commit order (sequencer), consumers that
resume after a crash, the real `helpdesk outbound --follow` killed mid-stream; SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from db.models import Conversation, OutboxItem
from helpdesk_tui.services import agents, conversations, outbound
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.notify import enqueue_outbound
from tests.factories import attachment, ingest, listing, message

HELPDESK = Path(sys.executable).parent / "helpdesk"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# -- helpers (also used by test_webhook) -------------------------------------------------------
def seed(ctx: Context) -> int:
    """A team, an agent and one user_admin conversation; returns the conversation's id."""
    agents.add_team(ctx, "setup", "support")
    agents.add_agent(ctx, "setup", "alice", "Alice Agent", "admin", "support")
    run = ingest(ctx, message("m-1", "c-1", subject="Refund please"))
    assert run.rejects == []
    with ctx.db.read() as s:
        return int(s.scalar(select(Conversation.id).where(Conversation.external_id == "c-1")))


def add_notifications(
    ctx: Context, count: int, *, prefix: str | None = None, size: int = 0
) -> list[str]:
    """``count`` outbound notifications in one transaction (one multi-row insert, like a
    producer's batch); returns their record ids in id order."""
    prefix = prefix or uuid.uuid4().hex[:8]
    keys = [f"test:{prefix}:{i}" for i in range(count)]
    pad = "x" * size

    def fn(s: Any) -> None:
        conv_id = s.scalar(select(Conversation.id).order_by(Conversation.id).limit(1))
        now = ctx.now()
        s.execute(
            insert(OutboxItem.__table__),
            [
                {"idempotency_key": key, "channel": "outbound", "type": "notification",
                 "conversation_id": conv_id, "recipient": "u-9", "subject": "",
                 "body": f"notice {i}{pad}", "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now,
                 "payload": {"system": True, "to": {"id": "u-9", "role": "seller"}}}
                for i, key in enumerate(keys)
            ],
        )  # fmt: skip

    ctx.db.write(fn)
    return keys


def collect(ctx: Context, **kwargs: Any) -> list[dict[str, Any]]:
    lines: list[bytes] = []
    outbound.stream(ctx, lines.append, **kwargs)
    return [json.loads(x) for x in lines]


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def cli_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(XDG_DATA_HOME=str(root / "xdg-data"), XDG_CONFIG_HOME=str(root / "xdg-config"),
               HOME=str(root))  # fmt: skip
    return env


# -- records -----------------------------------------------------------------------------------
def test_records_of_every_producer_in_commit_order_and_never_internal_notes(
    ctx: Context,
) -> None:
    conv_id = seed(ctx)
    ingest(ctx, listing("L-1", seller="u-9"), message("m-2", "c-2", kind="buyer_seller",
           role="buyer", sender="u-2", listing="L-1"))  # fmt: skip
    conversations.send(ctx, "alice", conv_id, "We are on it.")
    conversations.send(ctx, "alice", conv_id, "internal: customer is a VIP", internal=True)
    with ctx.db.read() as s:
        bs_id = s.scalar(select(Conversation.id).where(Conversation.external_id == "c-2"))
    conversations.send(ctx, "alice", bs_id, "Hi buyer, the seller was told.")
    add_notifications(ctx, 1, prefix="n")
    conversations.set_status(ctx, "alice", conv_id, "resolved")
    conversations.set_status(ctx, "alice", conv_id, "closed")  # no second survey

    records = collect(ctx)

    assert [r["type"] for r in records] == ["reply", "reply", "notification", "survey_request"]
    assert [r["position"] for r in records] == [1, 2, 3, 4]
    reply, bs_reply, note, survey = records
    assert reply["conversation"] == "c-1"
    assert reply["to"] == {"id": "u-1", "role": "user"}
    assert reply["from"] == {"agent": "alice", "name": "Alice Agent"}
    assert reply["body"] == "We are on it."
    assert reply["attachments"] == []
    assert reply["sent_at"].endswith("+00:00")
    assert reply["id"].startswith("reply:")
    assert bs_reply["to"] == {"id": "u-2", "role": "buyer"}
    assert note["to"] == {"id": "u-9", "role": "seller"} and note["from"] == {"system": True}
    assert survey["id"] == f"survey:{conv_id}:1"
    assert survey["to"] == {"id": "u-1", "role": "user"}
    assert set(reply) == {"id", "type", "conversation", "to", "from", "body", "sent_at",
                          "attachments", "position"}  # fmt: skip
    assert all("VIP" not in json.dumps(r) for r in records)
    with ctx.db.read() as s:  # the note made no outbound row at all
        assert s.scalar(select(OutboxItem.id).where(OutboxItem.body.contains("VIP"))) is None


def test_reply_attachments_and_internal_message_rows_are_filtered(ctx: Context) -> None:
    conv_id = seed(ctx)
    ingest(ctx, message("m-3", "c-1", kind=None, role="agent", sender="alice",
                        attachments=[attachment("a.png", PNG)]))  # fmt: skip

    def fn(s: Any) -> None:  # a producer bug: outbound rows pointing at messages
        from db.models import Message

        with_file = s.scalar(select(Message.id).where(Message.external_id == "m-3"))
        note = Message(conversation_id=conv_id, role="agent", body="secret", internal=True,
                       via="console", sent_at=ctx.now(), author_name="a")  # fmt: skip
        s.add(note)
        s.flush()
        for key, mid in (("reply:file", with_file), ("reply:note", note.id)):
            enqueue_outbound(s, key=key, type="reply", recipient="u-1", body="b", now=ctx.now(),
                             conversation_id=conv_id, message_id=mid,
                             payload={"agent": "alice", "name": "Alice"})  # fmt: skip

    ctx.db.write(fn)
    records = collect(ctx)
    assert [r["id"] for r in records] == ["reply:file"]
    (att,) = records[0]["attachments"]
    assert att["name"] == "a.png" and att["mime_type"] == "image/png" and att["size"] == len(PNG)
    assert len(att["sha256"]) == 64


def test_survey_request_once_per_resolution(ctx: Context) -> None:
    conv_id = seed(ctx)
    for status in ("resolved", "open", "resolved", "resolved"):
        conversations.set_status(ctx, "alice", conv_id, status)
    ids = [r["id"] for r in collect(ctx) if r["type"] == "survey_request"]
    assert ids == [f"survey:{conv_id}:1", f"survey:{conv_id}:2"]


# -- the sequencer -----------------------------------------------------------------------------
def test_commit_order_a_transaction_that_took_an_id_earlier_but_commits_later_is_delivered(
    ctx: Context,
) -> None:
    if not ctx.db.is_postgres:
        pytest.skip("SQLite serialises writers: ids commit in order there")
    seed(ctx)
    outbound.ensure_consumer(ctx, "c")
    early = ctx.db.write_engine.connect()
    trans = early.begin()
    early_id = early.execute(
        text(
            "INSERT INTO outbox (idempotency_key, channel, type, recipient, subject, body, "
            "status, attempts, next_attempt_at, created_at) VALUES ('slow', 'outbound', "
            "'notification', 'u-1', '', 'slow', 'pending', 0, now(), now()) RETURNING id"
        )
    ).scalar_one()
    try:
        (late_key,) = add_notifications(ctx, 1)  # a higher id, committed first
        first = collect(ctx, consumer="c")
        assert [r["id"] for r in first] == [late_key]
        with ctx.db.read() as s:
            late_id = s.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key == late_key))
        assert late_id > early_id  # a reader going by id would now skip the early one for ever
        trans.commit()
    finally:
        early.close()
    second = collect(ctx, consumer="c")
    assert [r["id"] for r in second] == ["slow"]
    assert second[0]["position"] > first[0]["position"]
    assert outbound.consumer_position(ctx.db, "c") == second[0]["position"]


def test_concurrent_writers_and_sequencers_give_unique_gapless_positions(ctx: Context) -> None:
    seed(ctx)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(10):
                add_notifications(ctx, 5)
                outbound.sequence(ctx.db)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    outbound.sequence(ctx.db)
    with ctx.db.read() as s:
        rows = s.execute(
            select(OutboxItem.id, OutboxItem.position).where(OutboxItem.channel == "outbound")
        ).all()
    positions = sorted(p for _, p in rows)
    assert positions == list(range(1, 201))


# -- consumers ---------------------------------------------------------------------------------
def test_consumer_position_follows_flushed_lines_and_resumes(ctx: Context) -> None:
    seed(ctx)
    keys = add_notifications(ctx, 250)
    written: list[bytes] = []

    def crashing(line: bytes) -> None:
        if len(written) == 130:
            raise OSError("disk full")
        written.append(line)

    with pytest.raises(OSError):
        outbound.stream(ctx, crashing, consumer="c", save_every=100)
    assert outbound.consumer_position(ctx.db, "c") == 130  # exactly what was written
    rest = collect(ctx, consumer="c")
    assert [r["position"] for r in rest] == list(range(131, 251))
    seen = [json.loads(x)["id"] for x in written] + [r["id"] for r in rest]
    assert seen == keys
    assert collect(ctx, consumer="c") == []
    assert len(collect(ctx, consumer="c", from_start=True)) == 250
    assert outbound.consumer_position(ctx.db, "c") == 250


def test_follow_sees_new_records_quickly_and_stops_on_request(ctx: Context) -> None:
    seed(ctx)
    add_notifications(ctx, 3, prefix="old")
    got: list[dict[str, Any]] = []
    stop = threading.Event()
    worker = threading.Thread(
        target=lambda: outbound.stream(
            ctx, lambda b: got.append(json.loads(b)), follow=True, stop=stop, poll_interval=0.1
        )
    )
    worker.start()
    try:
        time.sleep(0.3)
        new = add_notifications(ctx, 2, prefix="new")
        assert wait_for(lambda: len(got) >= 2, 5)
        assert [r["id"] for r in got] == new  # follow without a consumer: only what comes next
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()


def test_real_consumer_killed_mid_stream_resumes_without_loss(ctx: Context, tmp_path: Path) -> None:
    seed(ctx)
    keys = add_notifications(ctx, 600, size=1000)  # ~750 KB: far more than a pipe holds
    cmd = [str(HELPDESK), "--db", ctx.db.url, "outbound", "--consumer", "c", "--follow"]
    env = cli_env(tmp_path)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    first: list[dict[str, Any]] = []
    try:
        for _ in range(150):
            first.append(json.loads(proc.stdout.readline()))
        # the rest does not fit the pipe: the consumer is blocked mid-stream, mid-batch
        time.sleep(0.3)
    finally:
        proc.kill()
        proc.wait(10)
    # what it flushed before it died is in the pipe: the position never passed it
    first += [json.loads(x) for x in proc.stdout.read().splitlines()]
    assert len(first) < 600
    saved = outbound.consumer_position(ctx.db, "c")
    assert saved is not None and saved <= first[-1]["position"]

    # resume (following) and stop with SIGTERM once it caught up: a clean exit that saved
    # the position of the last printed line
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    rest: list[dict[str, Any]] = []
    try:
        while not rest or rest[-1]["id"] != keys[-1]:
            rest.append(json.loads(proc.stdout.readline()))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
    assert rest[0]["position"] == saved + 1  # resumes right after the saved position
    seen = {r["id"] for r in first} | {r["id"] for r in rest}
    assert seen == set(keys)  # nothing lost (repeats allowed, by id)
    assert outbound.consumer_position(ctx.db, "c") == rest[-1]["position"] == 600
