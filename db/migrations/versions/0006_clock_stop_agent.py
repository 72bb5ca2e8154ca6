"""sla_clocks.stop_agent_id: the agent whose message met the clock, kept with the clock

The monthly report credits each met response clock to the agent who wrote the message that
met it. It joined every clock to its stopping message for that: on a month of a million
messages, hashing a third of them took a third of the report. The clock replay now stores
the author with the clock; this migration fills it in for the clocks already stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch rebuild): a nullable column works on both databases.
    op.add_column("sla_clocks", sa.Column("stop_agent_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE sla_clocks SET stop_agent_id = (SELECT m.author_agent_id FROM messages m"
        " WHERE m.id = sla_clocks.stop_message_id AND m.role = 'agent')"
        " WHERE stop_message_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_column("stop_agent_id")
