"""full-text search: FTS5 on SQLite, tsvector GIN indexes on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SQLITE = [
    # External-content FTS5 tables: the text lives in messages/conversations, the index here.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE conversations_fts USING fts5(subject, content='conversations',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF body ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    " INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN"
    " INSERT INTO conversations_fts(rowid, subject) VALUES (new.id, new.subject); END",
    "CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN"
    " INSERT INTO conversations_fts(conversations_fts, rowid, subject)"
    " VALUES ('delete', old.id, old.subject); END",
    "CREATE TRIGGER conversations_fts_au AFTER UPDATE OF subject ON conversations BEGIN"
    " INSERT INTO conversations_fts(conversations_fts, rowid, subject)"
    " VALUES ('delete', old.id, old.subject);"
    " INSERT INTO conversations_fts(rowid, subject) VALUES (new.id, new.subject); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    "INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')",
]

_POSTGRES = [
    "CREATE INDEX ix_messages_body_fts ON messages USING gin (to_tsvector('simple', body))",
    "CREATE INDEX ix_conversations_subject_fts ON conversations"
    " USING gin (to_tsvector('simple', subject))",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in (
        _SQLITE if dialect == "sqlite" else _POSTGRES if dialect == "postgresql" else []
    ):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in (
            "messages_fts_ai",
            "messages_fts_ad",
            "messages_fts_au",
            "conversations_fts_ai",
            "conversations_fts_ad",
            "conversations_fts_au",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
        op.execute("DROP TABLE IF EXISTS conversations_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_body_fts")
        op.execute("DROP INDEX IF EXISTS ix_conversations_subject_fts")
