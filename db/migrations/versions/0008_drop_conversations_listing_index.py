"""drop ix_conversations_listing_id: no query looks conversations up by listing

Every conversation update that is not HOT (an escalation, a clock recompute that moves the
queue key) and every new conversation writes an entry in each of the table's indexes. No query
reads ``conversations`` by ``listing_id`` (a conversation's listing is joined through the
listing's primary key; listings are never deleted, so the foreign key never looks for
referencing conversations), so this index was only written. Measured on the SLA sweep
(1,000 escalations): 1,000 B-tree insertions fewer, server CPU 158 -> 138 ms (median of 5,
interleaved, load average 1.5-1.9).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_conversations_listing_id", table_name="conversations")


def downgrade() -> None:
    op.create_index("ix_conversations_listing_id", "conversations", ["listing_id"])
