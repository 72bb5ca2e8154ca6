"""SQLite: full-text indexing of a bulk intake batch with one statement, not a trigger per row

The FTS5 triggers of 0003 index every inserted message and conversation with one statement
each; a bulk intake batch of 2,000 messages spent four times as long in them as in inserting
the rows. While the table ``fts_deferred`` holds a row, the insert triggers stand aside and the
writer indexes its rows itself (``INSERT INTO messages_fts SELECT ...``). The bulk writer adds
and removes that row inside its own write transaction, so no other connection ever sees it:
every other insert is indexed by its trigger as before. PostgreSQL: nothing changes (its
full-text indexes are expression indexes).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_DEFERRED = "WHEN NOT EXISTS (SELECT 1 FROM fts_deferred)"


def _insert_triggers(when: str) -> list[str]:
    return [
        "DROP TRIGGER messages_fts_ai",
        f"CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages {when} BEGIN"
        " INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END",
        "DROP TRIGGER conversations_fts_ai",
        f"CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations {when} BEGIN"
        " INSERT INTO conversations_fts(rowid, subject) VALUES (new.id, new.subject); END",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE fts_deferred (writer INTEGER NOT NULL)")
    for statement in _insert_triggers(_DEFERRED):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in _insert_triggers(""):
        op.execute(statement)
    op.execute("DROP TABLE fts_deferred")
