"""outbound stream: outbox positions, consumers, dead letters, NOTIFY on new outbound rows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UNSEQUENCED = sa.text("channel = 'outbound' AND position IS NULL")

_PG_NOTIFY = [
    """
    CREATE OR REPLACE FUNCTION helpdesk_outbound_notify() RETURNS trigger AS $$
    BEGIN
        -- ids are not sent: followers sequence and read by position; equal payloads in one
        -- transaction are merged by PostgreSQL, so a bulk insert costs one notification.
        PERFORM pg_notify('helpdesk_outbound', 'new');
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER outbox_outbound_notify
    AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.channel = 'outbound')
    EXECUTE FUNCTION helpdesk_outbound_notify()
    """,
]


def upgrade() -> None:
    # Plain ALTER TABLE (no batch rebuild): a nullable column and indexes work on both.
    op.add_column("outbox", sa.Column("position", BigId, nullable=True))
    op.create_index("ix_outbox_position", "outbox", ["position"], unique=True)
    op.create_index(
        "ix_outbox_unsequenced",
        "outbox",
        ["id"],
        postgresql_where=_UNSEQUENCED,
        sqlite_where=_UNSEQUENCED,
    )
    op.create_table(
        "outbound_consumers",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", BigId, nullable=False),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbound_consumers")),
    )
    op.create_table(
        "outbound_dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.Column("position", BigId, nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consumer"],
            ["outbound_consumers.name"],
            name=op.f("fk_outbound_dead_letters_consumer_outbound_consumers"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_outbound_dead_letters_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_dead_letters")),
        sa.UniqueConstraint(
            "consumer", "outbox_id", name=op.f("uq_outbound_dead_letters_consumer_outbox_id")
        ),
    )
    op.create_index(
        "ix_outbound_dead_letters_status", "outbound_dead_letters", ["status", "consumer"]
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_NOTIFY:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_outbound_notify ON outbox")
        op.execute("DROP FUNCTION IF EXISTS helpdesk_outbound_notify()")
    op.drop_index("ix_outbound_dead_letters_status", table_name="outbound_dead_letters")
    op.drop_table("outbound_dead_letters")
    op.drop_table("outbound_consumers")
    op.drop_index("ix_outbox_unsequenced", table_name="outbox")
    op.drop_index("ix_outbox_position", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("position")
