"""The sweep reads running clocks by deadline through the partial index
``ix_sla_clocks_running_due`` (migration 0010) on both databases. Its statements must say
``state = 'running'`` written out (a PostgreSQL generic plan cannot match a bound parameter
against the index's condition), so each statement the sweep and the alerts run against the
clocks' deadlines is captured and its plan checked: none reads every clock, and the breach
fence uses the index."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from db.engine import Database
from helpdesk_tui.services import sweep
from helpdesk_tui.services.context import Context
from tests.db.test_sweep import CFG, must_ingest, seed_people
from tests.factories import at, message


@contextmanager
def _statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if "sla_clocks" in sql and "due_at <=" in sql and not many:
            seen.append((sql, params))

    for engine in {db.engine, db.write_engine}:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in {db.engine, db.write_engine}:
            event.remove(engine, "before_cursor_execute", record)


def _plan(db: Database, sql: str, params: Any) -> str:
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            out = "\n".join(str(r[-1]) for r in rows)
        else:
            # a sequential scan is cheapest on a table this small: rule it out, so that the
            # plan shows whether the index can serve the statement at all
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            out = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
        conn.rollback()
    return out


def test_sweep_and_alerts_find_due_clocks_through_the_partial_index(ctx: Context) -> None:
    seed_people(ctx)
    must_ingest(ctx, message("m-1", "c-1", sent_at=0))
    with _statements(ctx.db) as seen:
        report = sweep.run(ctx, CFG, at(hours=25))
        sweep.alert_at_risk(ctx, CFG, at(hours=25))
    assert report.breached == 2  # first response and resolution, both 24 h
    if ctx.db.engine.dialect.name == "postgresql":
        # the PostgreSQL sweep sends its breach fence through a psycopg pipeline, past
        # SQLAlchemy's events
        seen.append(sweep._breach_sql(at(hours=25)))
    assert seen, "the sweep read no clock by deadline"
    fences = 0
    for sql, params in seen:
        assert "'running'" in sql, sql
        plan = _plan(ctx.db, sql, params)
        assert "SCAN sla_clocks" not in plan and "Seq Scan on sla_clocks" not in plan, plan
        if "queue_due_at" in sql:
            continue  # the alerts start from conversations near their (stored) deadline
        # the breach fence and the escalation candidates start from the clocks past due, not
        # from every open conversation (at 100,000 open a sweep with nothing to do took 619
        # ms on SQLite when the candidates were looked up the other way round)
        assert "ix_sla_clocks_running_due" in plan, plan
        fences += "UPDATE sla_clocks SET breached_at" in sql
    assert fences >= 1  # the breach fence ran
