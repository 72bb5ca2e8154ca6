"""the clocks' deadline index holds running clocks only

``ix_sla_clocks_due (state, due_at)`` indexed every clock, though every query that reads it
asks for running clocks past or near a deadline (the sweep's breach fence, its escalation
candidates, the deadline alerts); met and stopped clocks are most of the table and never
looked up by deadline. ``ix_sla_clocks_running_due (state, due_at) WHERE state = 'running'``
serves the same queries (they say ``state = 'running'`` as a literal, see
``db.models.clock_running``: with a bound parameter a PostgreSQL generic plan cannot use the
index, and SQLite plans by the value bound). ``state`` stays its first column: with
``(due_at)`` alone SQLite's planner took the escalation candidates from every open
conversation instead (``python -m bench.sweep_bench``, 100,000 open: a sweep with nothing to
do 14 -> 619 ms, the timed sweep 160 -> 751 ms); PostgreSQL's sweep is unchanged (222 against
230 ms median the same hour). In the bench's data 12% of the clocks run (20,000 of 170,000 at
30,000 conversations); a clock is in the index while it runs. Measured (SQLite, 301,500
records, interleaved): 16,754 / 18,004 records/s with the full index, 19,188 / 19,333 with
the partial one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_RUNNING = sa.text("state = 'running'")


def upgrade() -> None:
    op.drop_index("ix_sla_clocks_due", table_name="sla_clocks")
    op.create_index(
        "ix_sla_clocks_running_due",
        "sla_clocks",
        ["state", "due_at"],
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_running_due", table_name="sla_clocks")
    op.create_index("ix_sla_clocks_due", "sla_clocks", ["state", "due_at"])
