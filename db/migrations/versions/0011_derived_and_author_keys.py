"""drop the foreign keys of a clock's conversation and of a message's author

``sla_clocks.conversation_id`` is written only by the SLA engine (``services/sla.py``), for the
conversation it has just read or inserted in the same transaction: the reasoning of migration
0009, which dropped the clock log's key to the conversation and the clocks' keys to their
messages, and kept this one. A clock is derived state, recomputed from the conversation's
history at any time.

``messages.author_party_id`` and ``messages.author_agent_id`` are written by the intake, for
the party it has just upserted or read in the same transaction, and by the console services,
for the acting agent; nothing deletes parties or agents (agents are deactivated). The
message's own key to its conversation stays, as do every key of conversations, listings,
flags, feedback, escalations and the outbox.

Each key's check was a look-up of the parent row, locked FOR KEY SHARE, for every row: on
PostgreSQL the foreign-key triggers were 35% of the server's time in a profile of a bulk
load. Measured (PostgreSQL, batches of 6,000): at 301,500 records the clocks' key cost 2.8 /
1.3 s of server CPU (17.1 / 14.8 s with it, 14.3 / 13.5 s without), the authors' 1.0 / 2.1 s
more; at 1,005,000 records the authors' keys 8.0 s (55.2 s with them, 47.2 s without).
``tests/db/test_integrity.py`` checks all three references after loads on both databases.

SQLite rebuilds both tables (batch mode); the rebuild drops a table's triggers, so the
messages' full-text triggers are created again as they were. PostgreSQL drops the
constraints in place.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DROPPED = (
    ("sla_clocks", "fk_sla_clocks_conversation_id_conversations", "conversations",
     "conversation_id"),
    ("messages", "fk_messages_author_party_id_parties", "parties", "author_party_id"),
    ("messages", "fk_messages_author_agent_id_agents", "agents", "author_agent_id"),
)  # fmt: skip


def _triggers(table: str) -> list[str]:
    """SQLite: the statements that create ``table``'s triggers (a rebuild drops them)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return []
    sql = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t ORDER BY name"
    return [str(row[0]) for row in bind.execute(text(sql), {"t": table})]


def upgrade() -> None:
    for table in ("sla_clocks", "messages"):
        triggers = _triggers(table)
        with op.batch_alter_table(table) as batch:
            for name in (n for t, n, _p, _c in _DROPPED if t == table):
                batch.drop_constraint(name, type_="foreignkey")
        for statement in triggers:
            op.execute(statement)


def downgrade() -> None:
    for table in ("sla_clocks", "messages"):
        triggers = _triggers(table)
        with op.batch_alter_table(table) as batch:
            for name, parent, column in ((n, p, c) for t, n, p, c in _DROPPED if t == table):
                batch.create_foreign_key(name, parent, [column], ["id"])
        for statement in triggers:
            op.execute(statement)
