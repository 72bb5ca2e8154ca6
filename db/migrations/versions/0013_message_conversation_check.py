"""PostgreSQL: a message's conversation is checked a statement at a time, not a row at a time

``messages.conversation_id`` must name a stored conversation. The foreign key checked that
with a trigger a row: a look-up of the conversation, locked FOR KEY SHARE, for every message.
In a bulk load that was the largest remaining part of the server's time (a profile of a
1,005,000-record intake: the foreign-key triggers 18% of the server's CPU; server CPU 43.5 /
49.9 s with the key, 38.4 / 38.4 s without).

PostgreSQL now checks the same rule with statement-level triggers over the statement's
transition table: one anti-join of the rows a statement inserted or updated against
``conversations`` (a COPY of 6,000 messages: one query, not 6,000), and, on the parent side,
one check that the conversations a statement deletes have no messages. The errors are the
foreign key's own (SQLSTATE 23503, the same constraint name), so callers see an
``IntegrityError`` as before.

What the key did and the triggers do not: lock the conversation until the message's
transaction ends. A conversation deleted by one transaction while another inserts a message
into it, neither seeing the other, would leave the message dangling. Nothing deletes
conversations (they are closed, never removed) and no id is ever updated (ids come from the
sequence); ``tests/db/test_integrity.py`` checks the reference after loads on both databases.

SQLite keeps the foreign key of the initial schema (its check is a look-up of the parent's
rowid in the same process, a small part of a load; dropping it would mean rebuilding the
table). The models no longer declare the key: they describe what both databases have, and
the schema test compares what they declare (SQLite's key is the initial schema's).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEY = "fk_messages_conversation_id_conversations"

_CHECK_MESSAGES = f"""
CREATE FUNCTION messages_conversation_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.conversation_id INTO missing FROM new_messages n
    WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = n.conversation_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION
            'insert or update on table "messages" violates foreign key constraint "{_KEY}"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format(
                      'Key (conversation_id)=(%s) is not present in table "conversations".',
                      missing),
                  TABLE = 'messages', CONSTRAINT = '{_KEY}';
    END IF;
    RETURN NULL;
END
$$
"""

_CHECK_CONVERSATIONS = f"""
CREATE FUNCTION conversations_messages_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kept bigint;
BEGIN
    SELECT o.id INTO kept FROM old_conversations o
    WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = o.id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION
            'update or delete on table "conversations" violates foreign key constraint'
            ' "{_KEY}" on table "messages"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format(
                      'Key (id)=(%s) is still referenced from table "messages".', kept),
                  TABLE = 'conversations', CONSTRAINT = '{_KEY}';
    END IF;
    RETURN NULL;
END
$$
"""

_TRIGGERS = (
    ("messages_conversation_insert", "INSERT", "messages", "NEW TABLE AS new_messages",
     "messages_conversation_check"),
    ("messages_conversation_update", "UPDATE", "messages", "NEW TABLE AS new_messages",
     "messages_conversation_check"),
    ("conversations_messages_delete", "DELETE", "conversations",
     "OLD TABLE AS old_conversations", "conversations_messages_check"),
)  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps the foreign key (see above)
    op.execute(_CHECK_MESSAGES)
    op.execute(_CHECK_CONVERSATIONS)
    for name, event, table, transition, function in _TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    # the triggers first: a message written meanwhile is checked one way or the other
    op.execute(f"ALTER TABLE messages DROP CONSTRAINT {_KEY}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE messages ADD CONSTRAINT {_KEY}"
        " FOREIGN KEY (conversation_id) REFERENCES conversations (id)"
    )
    for name, _event, table, _transition, _function in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION messages_conversation_check()")
    op.execute("DROP FUNCTION conversations_messages_check()")
