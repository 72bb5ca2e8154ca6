"""PostgreSQL's overlapped bulk intake (a batch prepared while the one before it is written)
stores exactly what one batch after another stores, and lands everything when a batch fails."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import inspect

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


def _postgres_only(ctx: Context) -> None:
    if not ctx.db.is_postgres:
        pytest.skip("overlapped intake is PostgreSQL's (SQLite has one writer)")


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


def _empty(ctx: Context) -> None:
    name = ctx.db.engine.url.database
    assert name is not None
    ctx.db.dispose()
    _empty_pg(name)


def test_an_overlapped_load_stores_what_a_serial_load_stores(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo marketplace (listings, threads over many batches, replies and console work
    between loads, reopened threads, flags, feedback) built with 7-record batches, once one
    batch after another and once overlapped: the same rows, ids included."""
    _postgres_only(ctx)
    overlapped_runs: list[int] = []
    real = Intake._run_overlapped

    def counted(self: Intake, batches: Any) -> None:
        overlapped_runs.append(1)
        real(self, batches)

    monkeypatch.setattr(Intake, "_run_overlapped", counted)
    snapshots = []
    for overlap in (False, True):
        _empty(ctx)
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
    import json

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
    ctx: Context, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A batch whose overlapped write (or preparation) fails once is landed the ordinary way,
    and so is the batch prepared on its word: the same rows, summary and rejects as a serial
    load, rejects in line order."""
    _postgres_only(ctx)
    small = replace(ctx.settings, intake_batch=5)
    _empty(ctx)
    serial_ctx = replace(ctx, settings=replace(small, intake_overlap=False))
    expected = _load(serial_ctx)
    expected_rows = _snapshot(serial_ctx)
    expected_ids = _external_ids(serial_ctx)

    _empty(ctx)
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
