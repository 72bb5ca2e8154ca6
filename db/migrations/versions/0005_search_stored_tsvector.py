"""search on PostgreSQL: a stored tsvector of each message body, indexed (GIN)

The expression index on ``to_tsvector('simple', body)`` found the rows, but ranking them
parsed every matching body again (``ts_rank(to_tsvector(body), q)``): seconds for a common
word at a million messages. A stored generated column is parsed once, on write. SQLite keeps
its FTS5 tables (0003) and is not touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE messages ADD COLUMN body_tsv tsvector"
        " GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED"
    )
    op.execute("CREATE INDEX ix_messages_body_tsv ON messages USING gin (body_tsv)")
    op.execute("DROP INDEX IF EXISTS ix_messages_body_fts")
    op.execute("ANALYZE messages")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX ix_messages_body_fts ON messages USING gin (to_tsvector('simple', body))"
    )
    op.execute("DROP INDEX IF EXISTS ix_messages_body_tsv")
    op.execute("ALTER TABLE messages DROP COLUMN body_tsv")
