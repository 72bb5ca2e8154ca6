"""The overlapped bulk intake (a batch prepared while the one before it is written, on
PostgreSQL and on SQLite) stores exactly what one batch after another stores, and lands
everything when a batch fails."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from db.engine import open_database, sqlite_path
from db.models import Base
from helpdesk_tui import demo
from helpdesk_tui.services import intake as intake_module
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from tests.conftest import _empty_pg
from tests.factories import flag, listing, message

#: Set from the process clock, not from the facts, or random (a console reply's idempotency
#: key): they differ between any two builds.
WALL_CLOCK = {"created_at", "updated_at", "recorded_at", "idempotency_key"}


def _snapshot(ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in id order, without the wall-clock columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with ctx.db.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name not in names:
                continue
            cols = [c.name for c in table.columns if c.name not in WALL_CLOCK]
            order = "id" if "id" in table.c else cols[0]
            rows = conn.exec_driver_sql(
                f"SELECT {', '.join(cols)} FROM {table.name} ORDER BY {order}"
            ).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def _empty(ctx: Context, sqlite_template: Path) -> None:
    """The test database as fresh (ids from 1 again)."""
    ctx.db.dispose()
    path = sqlite_path(ctx.db.url)
    if path is not None:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(sqlite_template, path)
        return
    name = ctx.db.engine.url.database
    assert name is not None
    _empty_pg(name)


def test_an_overlapped_load_stores_what_a_serial_load_stores(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path
) -> None:
    """The demo marketplace (listings, threads over many batches, replies and console work
    between loads, reopened threads, flags, feedback) built with 7-record batches, once one
    batch after another and once overlapped: the same rows, ids included."""
    overlapped_runs: list[int] = []
    real = Intake._run_overlapped

    def counted(self: Intake, batches: Any) -> None:
        overlapped_runs.append(1)
        real(self, batches)

    monkeypatch.setattr(Intake, "_run_overlapped", counted)
    snapshots = []
    for overlap in (False, True):
        _empty(ctx, sqlite_template)
        run = replace(ctx, settings=replace(ctx.settings, intake_batch=7, intake_overlap=overlap))
        made = demo.build(run, seed=3)
        assert made["conversations"] > 50
        assert bool(overlapped_runs) is overlap
        snapshots.append(_snapshot(run))
    serial, overlapped = snapshots
    assert serial.keys() == overlapped.keys()
    for table in serial:
        assert overlapped[table] == serial[table], table
    assert len(serial["messages"]) > 300 and serial["sla_clocks"] and serial["clock_events"]


def _records() -> list[bytes]:
    recs: list[dict[str, Any]] = [listing("L-1")]
    for c in range(12):
        for m in range(3):
            recs.append(message(f"m-{c}-{m}", f"c-{c}", sent_at=c * 60 + m))
    recs.append(flag("fl-1"))
    recs.append({"type": "message", "id": "bad"})  # rejected by parsing
    recs.append(message("m-0-0", "c-0", sent_at=0))  # a duplicate
    return [json.dumps(r).encode() for r in recs]


def _load(ctx: Context) -> tuple[str, list[tuple[int, str]]]:
    rejects: list[tuple[int, str]] = []
    summary = Intake(ctx, lambda line, raw, why: rejects.append((line, why))).run(_records())
    return summary.line(), rejects


@pytest.mark.parametrize("failing", ["write", "prepare"])
def test_a_failing_overlapped_batch_is_landed_again(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, failing: str, sqlite_template: Path
) -> None:
    """A batch whose overlapped write (or preparation) fails once is landed the ordinary way,
    and so is the batch prepared on its word: the same rows, summary and rejects as a serial
    load, rejects in line order."""
    small = replace(ctx.settings, intake_batch=5)
    _empty(ctx, sqlite_template)
    serial_ctx = replace(ctx, settings=replace(small, intake_overlap=False))
    expected = _load(serial_ctx)
    expected_rows = _snapshot(serial_ctx)
    expected_ids = _external_ids(serial_ctx)

    _empty(ctx, sqlite_template)
    overlapped = replace(ctx, settings=replace(small, intake_overlap=True))
    calls = {"n": 0}
    real = getattr(intake_module._BatchWriter, failing)

    def once(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError(f"{failing} failed once")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(intake_module._BatchWriter, failing, once)
    got = _load(overlapped)
    assert calls["n"] > 3
    assert got == expected
    assert [line for line, _ in got[1]] == sorted(line for line, _ in got[1])
    rows = _snapshot(overlapped)
    # the failed batch's ids were allocated twice: compare without the surrogate keys
    for table in expected_rows:
        assert len(rows[table]) == len(expected_rows[table]), table
    assert _external_ids(overlapped) == expected_ids


def _external_ids(ctx: Context) -> dict[str, list[str]]:
    with ctx.db.engine.connect() as conn:
        return {
            t: sorted(map(str, conn.exec_driver_sql(f"SELECT external_id FROM {t}").scalars()))
            for t in ("messages", "conversations", "parties", "listings", "flags")
        }


def _lines(*recs: Any) -> list[bytes]:
    return [r if isinstance(r, bytes) else json.dumps(r).encode() for r in recs]


def _with(ctx: Context, **changes: Any) -> Context:
    return replace(ctx, settings=replace(ctx.settings, **changes))


def _stored(ctx: Context) -> list[str]:
    with ctx.db.engine.connect() as conn:
        return sorted(conn.execute(text("SELECT external_id FROM messages")).scalars())


@pytest.mark.parametrize("overlap", [False, True])
def test_a_batch_landed_record_by_record_reports_rejects_in_line_order(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, overlap: bool
) -> None:
    """The batch as a whole is refused (as on a DataError): a line rejected by parsing and a
    line rejected by the walk are still reported in line order (1 before 2)."""
    real = Intake._apply_batch
    monkeypatch.setattr(
        Intake, "_apply_batch", lambda self, b: None if len(b) > 1 else real(self, b)
    )
    got: list[int] = []
    Intake(_with(ctx, intake_batch=3, intake_overlap=overlap), lambda n, r, w: got.append(n)).run(
        _lines(
            b"{bad",
            message("m-1", "c-1", listing="L-none"),
            message("m-2", "c-2"),
            message("m-3", "c-3"),
            message("m-4", "c-3", kind=None),
        )
    )
    assert got == [1, 2]


def test_a_batch_is_committed_before_the_next_one_is_read(ctx: Context) -> None:
    """The caller's lines fail while the second batch is read: the first batch, complete,
    was committed (as before the overlapped intake; run() now reads two batches ahead)."""

    def lines():  # type: ignore[no-untyped-def]
        yield from _lines(message("m-1", "c-1"), message("m-2", "c-1", kind=None),
                          message("m-3", "c-2"))  # fmt: skip
        raise OSError("read error")

    with pytest.raises(OSError):
        Intake(_with(ctx, intake_batch=2, intake_overlap=False)).run(lines())
    assert _stored(ctx) == ["m-1", "m-2"]


@pytest.mark.parametrize("stop", [OSError, KeyboardInterrupt])
def test_the_batch_in_flight_is_reported_when_the_run_stops(
    ctx: Context, stop: type[BaseException]
) -> None:
    """Ctrl-C, or the caller's lines raising, while a batch is in flight: that batch commits
    (the writing thread is waited for), so it is reported as a serial run reports it."""

    def lines():  # type: ignore[no-untyped-def]
        yield from _lines(message("m-1", "c-1"), message("m-2", "c-1", kind=None), b"{bad",
                          message("m-3", "c-2"), message("m-4", "c-2", kind=None))  # fmt: skip
        raise stop()

    got: list[int] = []
    intake = Intake(_with(ctx, intake_batch=2), lambda n, r, w: got.append(n))
    with pytest.raises(stop):
        intake.run(lines())
    assert _stored(ctx) == ["m-1", "m-2", "m-3", "m-4"]
    assert (intake.summary.accepted, got) == (4, [3])


def test_a_flag_on_a_message_of_the_batch_in_flight_is_prepared_overlapped(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flag on a message the batch in flight stores: prepared on the carried id (the
    preparation used to look the id up in the database, fail while the batch was in flight
    and land the batch serially)."""
    real_write = intake_module._BatchWriter.write

    def slow(self: Any, session: Any) -> Any:
        out = real_write(self, session)
        time.sleep(0.2)  # a large batch: the next one is prepared before this one commits
        return out

    landed: list[int] = []
    real_land = Intake._land
    monkeypatch.setattr(intake_module._BatchWriter, "write", slow)
    monkeypatch.setattr(
        Intake, "_land", lambda self, b, r: (landed.append(len(b)), real_land(self, b, r))[1]
    )
    got: list[int] = []
    Intake(_with(ctx, intake_batch=1), lambda n, r, w: got.append(n)).run(
        _lines(message("m-1", "c-1"), flag("fl-1", {"message": "m-1"}))
    )
    assert got == [] and landed == []
    with ctx.db.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM flags WHERE target_message_id IS NOT NULL")
            ).scalar()
            == 1
        )


def test_concurrent_overlapped_runs_restore_the_switch_interval(ctx: Context) -> None:
    """Two overlapped runs in one process (threads): the interval is the original after."""
    before = sys.getswitchinterval()
    recs = _lines(*(message(f"m-{i}", f"c-{i}") for i in range(40)))

    def go() -> None:
        db = open_database(str(ctx.db.engine.url.render_as_string(hide_password=False)))
        Intake(replace(_with(ctx, intake_batch=2), db=db)).run(recs)
        db.dispose()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("overlap", [False, True])
def test_a_conversation_changed_by_a_console_during_the_batch_is_not_overwritten(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, overlap: bool
) -> None:
    """Between a batch's preload and its write an agent resolves a conversation the batch
    reopens: the batch's status update finds the version moved, and the batch is landed
    again on what the agent wrote (one outcome, as if one had come after the other)."""
    from db.models import Conversation
    from helpdesk_tui.services import agents, conversations

    sqlite = not ctx.db.is_postgres
    if sqlite and not overlap:
        pytest.skip("SQLite: a serial batch holds the write lock from its preload to its commit")
    agents.add_team(ctx, "root", "support")
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", "support")
    run = _with(ctx, intake_batch=2, intake_overlap=overlap)
    Intake(run).run(_lines(message("m-1", "c-1", sent_at=0), message("m-2", "c-2", sent_at=0)))
    with ctx.db.read() as s:
        conv_id = s.scalar(select(Conversation.id).where(Conversation.external_id == "c-1"))
    conversations.set_status(ctx, "alice", conv_id, "pending_customer")
    real = intake_module._BatchWriter.write
    calls: list[int] = []

    def console_writes_first(self: Any, session: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the agent resolves c-1 after the batch read it as pending
            conversations.set_status(ctx, "alice", conv_id, "resolved")
        return real(self, session)

    real_commit = Intake._commit

    def console_commits_first(self: Intake, writer: Any) -> Any:
        # SQLite: the batch's write holds the write lock, so the agent comes in between the
        # batch's preparation (no lock) and its write
        calls.append(1)
        if len(calls) == 1:
            conversations.set_status(ctx, "alice", conv_id, "resolved")
        return real_commit(self, writer)

    if sqlite:
        monkeypatch.setattr(Intake, "_commit", console_commits_first)
    else:
        monkeypatch.setattr(intake_module._BatchWriter, "write", console_writes_first)
    reply = message("m-3", "c-1", kind=None, sent_at=60)  # the customer answers: reopens
    summary = Intake(run).run(_lines(reply, message("m-4", "c-3", sent_at=0)))
    assert (summary.accepted, summary.rejected) == (2, 0) and len(calls) >= (1 if sqlite else 2)
    with ctx.db.read() as s:
        c1 = s.get(Conversation, conv_id)
        assert c1 is not None
        # landed again on the agent's "resolved": the customer's later message reopens it,
        # and the version counts both writes
        assert (c1.status, c1.resolved_at) == ("open", None)
    events = _status_events(ctx, conv_id)
    assert events[-2:] == [("pending_customer", "resolved"), ("resolved", "open")]


def _status_events(ctx: Context, conv_id: int) -> list[tuple[str | None, str | None]]:
    from db.models import ConversationEvent

    with ctx.db.read() as s:
        return [
            (old, new)
            for old, new in s.execute(
                select(ConversationEvent.old, ConversationEvent.new)
                .where(
                    ConversationEvent.conversation_id == conv_id,
                    ConversationEvent.field == "status",
                )
                .order_by(ConversationEvent.id)
            )
        ]


def _threads(ctx: Context) -> dict[str, str]:
    """Each stored message's conversation (external ids)."""
    with ctx.db.engine.connect() as conn:
        return dict(
            conn.exec_driver_sql(
                "SELECT m.external_id, c.external_id FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
            ).all()
        )


def test_rows_stored_by_another_writer_meanwhile_do_not_clash(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a batch is prepared ahead (SQLite: its ids picked above the batch in flight's),
    another intake process stores threads: the batch's ids are taken, it is landed again on
    fresh ones, and every message ends up on its own conversation."""
    landed_again: list[int] = []
    real_land = Intake._land
    monkeypatch.setattr(
        Intake, "_land", lambda self, b, r: (landed_again.append(len(b)), real_land(self, b, r))[1]
    )
    real_commit = Intake._commit
    commits: list[int] = []
    other = _with(ctx, intake_overlap=False)

    def another_writer_first(self: Intake, writer: Any) -> Any:
        commits.append(1)
        if len(commits) == 2:  # prepared while the first batch was written
            Intake(other).run(_lines(*(message(f"o-{i}", f"oc-{i}") for i in range(3))))
        return real_commit(self, writer)

    monkeypatch.setattr(Intake, "_commit", another_writer_first)
    ours = [message(f"m-{i}", f"c-{i // 2}", sent_at=i) for i in range(12)]
    summary = Intake(_with(ctx, intake_batch=4)).run(_lines(*ours))
    assert (summary.accepted, summary.rejected, summary.duplicates) == (12, 0, 0)
    expected = {f"m-{i}": f"c-{i // 2}" for i in range(12)}
    expected |= {f"o-{i}": f"oc-{i}" for i in range(3)}
    assert _threads(ctx) == expected
    if not ctx.db.is_postgres:  # PostgreSQL's ids come from sequences: nothing to clash
        # the other intake's 3 records; the batch whose ids were taken, and the one prepared
        # on its word, landed the ordinary way
        assert landed_again == [3, 4, 4]


def test_sqlite_checkpoints_are_put_back_after_an_overlapped_run(ctx: Context) -> None:
    """During an overlapped SQLite run the writing connection checkpoints rarely; after it,
    every pooled connection checkpoints at SQLite's default again."""
    if ctx.db.is_postgres:
        pytest.skip("SQLite's WAL")
    Intake(_with(ctx, intake_batch=3)).run(_lines(*(message(f"m-{i}", "c-1") for i in range(20))))
    conns = [ctx.db.engine.connect() for _ in range(3)]  # the run's two, and another
    try:
        assert [c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() for c in conns] == [
            1000
        ] * 3
    finally:
        for c in conns:
            c.close()


def test_sqlite_wal_is_truncated_past_its_bound(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An overlapped SQLite run whose WAL file outgrows the bound truncates it after the
    commit that crossed it, and loses nothing."""
    if ctx.db.is_postgres:
        pytest.skip("SQLite's WAL")
    path = sqlite_path(ctx.db.url)
    sizes: dict[str, int] = {}
    real_bound = Intake._bound_wal

    def measured(self: Intake) -> None:
        before = os.path.getsize(f"{path}-wal")
        real_bound(self)
        sizes["before"] = max(sizes.get("before", 0), before)
        sizes["after"] = os.path.getsize(f"{path}-wal")

    monkeypatch.setattr(Intake, "_bound_wal", measured)
    monkeypatch.setattr(intake_module, "_SQLITE_WAL_BOUND", 64 * 1024)
    recs = [message(f"m-{i}", f"c-{i // 3}", body="x" * 2000, sent_at=i) for i in range(300)]
    summary = Intake(_with(ctx, intake_batch=50)).run(_lines(*recs))
    assert summary.accepted == 300
    assert sizes["before"] > 64 * 1024 and sizes["after"] == 0
    assert len(_threads(ctx)) == 300


def test_sqlite_wal_truncation_does_not_wait_out_a_long_reader(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console holding a read transaction on an old snapshot all through a load: the WAL
    is not truncated under it, and the truncation's wait (it holds the write lock) stays
    short: another writer, patient for 2 s, writes all through the load (it failed with
    "database is locked" while a truncation waited out the 30 s busy timeout, and while one
    was tried after every commit). The load lands whole; once the reader is gone, the next
    load's commit truncates the WAL."""
    if ctx.db.is_postgres:
        pytest.skip("SQLite's WAL")
    path = sqlite_path(ctx.db.url)
    after: list[int] = []
    real_bound = Intake._bound_wal

    def measured(self: Intake) -> None:
        real_bound(self)
        after.append(os.path.getsize(f"{path}-wal"))

    monkeypatch.setattr(Intake, "_bound_wal", measured)
    monkeypatch.setattr(intake_module, "_SQLITE_WAL_BOUND", 64 * 1024)
    Intake(ctx).run(_lines(message("m-first", "c-first", sent_at=0)))
    setup = sqlite3.connect(str(path))
    setup.execute("CREATE TABLE scratch (n INTEGER)")
    setup.commit()
    setup.close()
    loading = threading.Event()
    wrote: list[int] = []
    errors: list[BaseException] = []

    def other_writer() -> None:
        conn = sqlite3.connect(str(path), timeout=2, isolation_level=None)
        try:
            while loading.is_set():
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO scratch VALUES (?)", (len(wrote),))
                conn.execute("COMMIT")
                wrote.append(1)
                time.sleep(0.01)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            conn.close()

    reader = sqlite3.connect(str(path), isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM messages").fetchone() == (1,)
        recs = [message(f"m-{i}", f"c-{i // 3}", body="x" * 2000, sent_at=i) for i in range(300)]
        loading.set()
        worker = threading.Thread(target=other_writer)
        worker.start()
        try:
            summary = Intake(_with(ctx, intake_batch=50)).run(_lines(*recs))
        finally:
            loading.clear()
            worker.join(10)
        assert errors == []
        assert wrote  # it wrote while the load ran
        assert summary.accepted == 300
        # (the first commit's WAL may go: the reader was on the newest snapshot until then)
        assert len(after) > 1 and all(size > 0 for size in after[1:])  # not under the reader
        assert reader.execute("SELECT count(*) FROM messages").fetchone() == (1,)  # its snapshot
    finally:
        reader.close()
    after.clear()
    more = [message(f"n-{i}", f"d-{i // 3}", body="y" * 2000, sent_at=i) for i in range(120)]
    assert Intake(_with(ctx, intake_batch=50)).run(_lines(*more)).accepted == 120
    assert after and after[-1] == 0
    assert len(_threads(ctx)) == 1 + 300 + 120  # every message
    with ctx.db.engine.connect() as conn:  # the pooled connections keep their busy timeout
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_an_agent_replies_while_a_large_file_loads(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent sends replies (their own write transactions, on another connection) all
    through an overlapped multi-batch load: every reply lands, the load lands whole, and the
    agent's conversation keeps its replies in order."""
    from helpdesk_tui.services import agents, conversations

    agents.add_team(ctx, "root", "support")
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", "support")
    Intake(ctx).run(_lines(message("first", "agent-c", sent_at=0)))
    with ctx.db.read() as s:
        from db.models import Conversation

        conv_id = s.scalar(select(Conversation.id).where(Conversation.external_id == "agent-c"))
    assert conv_id is not None
    sent: list[Any] = []
    errors: list[BaseException] = []
    loading = threading.Event()
    done = threading.Event()

    def agent() -> None:
        loading.wait(10)
        try:
            while not done.is_set() and len(sent) < 200:
                sent.append(conversations.send(ctx, "alice", conv_id, f"reply {len(sent)}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=agent)
    worker.start()
    recs = [message(f"m-{i}", f"c-{i // 5}", sent_at=i, kind="user_admin") for i in range(3000)]
    real = Intake._commit

    def started(self: Intake, writer: Any) -> Any:
        loading.set()
        return real(self, writer)

    monkeypatch.setattr(Intake, "_commit", started)
    try:
        summary = Intake(_with(ctx, intake_batch=250)).run(_lines(*recs))
    finally:
        done.set()
        worker.join(30)
    assert errors == []
    assert (summary.accepted, summary.rejected) == (3000, 0)
    assert len(sent) >= 1, "no reply went in during the load"
    with ctx.db.engine.connect() as conn:
        bodies = (
            conn.execute(
                text("SELECT body FROM messages WHERE conversation_id = :c ORDER BY id"),
                {"c": conv_id},
            )
            .scalars()
            .all()
        )
        stored = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
    assert bodies[1:] == [f"reply {i}" for i in range(len(sent))]
    assert stored == 3001 + len(sent)


def test_a_failing_wal_truncation_does_not_unland_a_committed_batch(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the WAL check after a commit fails (an I/O error): the batch committed, so it
    is reported accepted, not landed again as duplicates."""
    if ctx.db.is_postgres:
        pytest.skip("SQLite's WAL")

    def broken(self: Intake) -> None:
        raise OSError("disk trouble")

    monkeypatch.setattr(Intake, "_bound_wal", broken)
    recs = [message(f"m-{i}", f"c-{i // 3}", sent_at=i) for i in range(12)]
    summary = Intake(_with(ctx, intake_batch=4)).run(_lines(*recs))
    assert (summary.accepted, summary.duplicates, summary.rejected) == (12, 0, 0)
