"""drop the foreign keys of the SLA engine's derived references (clock log -> conversation,
clock -> starting and stopping message)

``clock_events.conversation_id``, ``sla_clocks.start_message_id`` and
``sla_clocks.stop_message_id`` are written only by the SLA engine (``services/sla.py``), from
the conversation and messages it has just read or inserted in the same transaction, and nothing
deletes conversations or messages; the clock log is append-only, as the audit log (whose
targets were never foreign keys). Their checks were the largest single part of a bulk
intake's server work on PostgreSQL: about two million look-ups of a parent row (locked FOR KEY
SHARE) per million messages. Measured (PostgreSQL, 301,500 records, batches of 6,000,
interleaved): server CPU 14.2 / 15.3 s with them, 10.6 / 12.0 s without. The clock's
``conversation_id`` and every reference a message or conversation makes keep their keys;
``tests/db/test_integrity.py`` checks the derived references after loads on both databases.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_DROPPED = (
    ("clock_events", "fk_clock_events_conversation_id_conversations", "conversations",
     "conversation_id"),
    ("sla_clocks", "fk_sla_clocks_start_message_id_messages", "messages", "start_message_id"),
    ("sla_clocks", "fk_sla_clocks_stop_message_id_messages", "messages", "stop_message_id"),
)  # fmt: skip


def upgrade() -> None:
    for table in ("clock_events", "sla_clocks"):
        # SQLite rebuilds the table (batch mode); PostgreSQL drops the constraints in place
        with op.batch_alter_table(table) as batch:
            for name in (n for t, n, _p, _c in _DROPPED if t == table):
                batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in ("clock_events", "sla_clocks"):
        with op.batch_alter_table(table) as batch:
            for name, parent, column in ((n, p, c) for t, n, p, c in _DROPPED if t == table):
                batch.create_foreign_key(name, parent, [column], ["id"])
