"""drop the foreign key of a clock's conversation

``sla_clocks.conversation_id`` is written only by the SLA engine (``services/sla.py``), for
the conversation it has just read or inserted in the same transaction, and nothing deletes
conversations: the reasoning of migration 0009, which dropped the clock log's key to the
conversation and the clocks' keys to their messages, and kept this one. A clock is derived
state (recomputed from the conversation's history at any time), and its key's check was the
largest single part left of a bulk intake's server work on PostgreSQL: a look-up of the
conversation, locked FOR KEY SHARE, for every clock (570,000 per 1,000,000 messages; the
foreign-key triggers were 35% of the server's time in a profile of a load). Measured
(PostgreSQL, 301,500 records, batches of 6,000, interleaved): server CPU 17.1 / 14.8 s with
it, 14.3 / 13.5 s without. Every reference a message or a conversation makes keeps its key;
``tests/db/test_integrity.py`` checks the clocks' conversations after loads on both databases.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_NAME = "fk_sla_clocks_conversation_id_conversations"


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL drops the constraint in place
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_constraint(_NAME, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.create_foreign_key(_NAME, "conversations", ["conversation_id"], ["id"])
