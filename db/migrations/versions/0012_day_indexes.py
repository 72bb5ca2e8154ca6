"""a period's messages are found by their UTC day, not by their instant

``ix_messages_sent_at (sent_at)`` is replaced by an index on a generated day column,
``messages.sent_day`` (days since 1970-01-01 in UTC; virtual on SQLite, stored on
PostgreSQL). The reports, which read a period's messages, ask for the day range and then the
instants (``db.models.in_days``).

A bulk load of history writes timestamps in random order: each conversation's messages
together, conversations starting anywhere in the period. An index on the instants took each
batch's entries all over itself, and SQLite wrote thousands of its pages again at every commit
(at 1,000,000 messages, 12 of the 21 us a message cost SQLite's writing thread; a batch of
6,000 messages touched about 4,400 of the index's 9,400 pages). Within a day the entries are
in id order, so a batch appends at the end of each day it touches: 8.4 against 8.2 us a
message with no such index at all, 21-31 with the old one (a 1,000,000-message database, ten
batches of 6,000 appended, SQLite).

The clocks keep ``ix_sla_clocks_started (started_at)``: the queue header and the health check
count the clocks started since local midnight, a few hours that a day index would have read
as two whole UTC days (PostgreSQL, 1,000,000 messages: 40,815 clocks fetched to count 7,367,
the health check 617 -> 871 ms).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _day(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    # stored as UTC text; the date alone (SQLite rounds an instant to milliseconds)
    return f"CAST(strftime('%s', substr({column}, 1, 10)) AS INTEGER) / 86400"


def upgrade() -> None:
    # SQLite adds a virtual column in place (no rebuild); PostgreSQL computes and stores it
    # (its only kind before 18)
    stored = op.get_bind().dialect.name == "postgresql"
    generated = sa.Computed(sa.text(_day("sent_at")), persisted=stored)
    op.add_column("messages", sa.Column("sent_day", sa.Integer(), generated))
    op.create_index("ix_messages_sent_day", "messages", ["sent_day"])
    op.drop_index("ix_messages_sent_at", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_sent_at", "messages", ["sent_at"])
    op.drop_index("ix_messages_sent_day", table_name="messages")
    op.drop_column("messages", "sent_day")
