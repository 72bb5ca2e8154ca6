"""Alembic migrations from an empty database on SQLite and PostgreSQL (databases made here)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from db.base import Base
from db.engine import Database, open_database
from db.migrate import alembic_config, current_revision, head_revision, is_current, upgrade
from db.models import Agent, Conversation, Message, SlaClock, Team, utc_day

PG_ADMIN_URL = os.environ.get("HELPDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: Every model's table; migrations may add more (e.g. full-text search tables).
EXPECTED_TABLES = set(Base.metadata.tables)


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A brand-new, empty database (not from the migrated template)."""
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        yield db
        db.dispose()
        return
    try:
        admin = _admin()
    except Exception as exc:
        if os.environ.get("HELPDESK_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"hd_mig_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    db = open_database(f"{base}/{name}")
    try:
        yield db
    finally:
        db.dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_then_again_is_a_no_op(empty_db: Database) -> None:
    assert current_revision(empty_db) is None
    assert not is_current(empty_db)
    assert _tables(empty_db) == set()

    upgrade(empty_db)

    assert current_revision(empty_db) == head_revision() is not None
    assert is_current(empty_db)
    assert _tables(empty_db) >= EXPECTED_TABLES
    empty_db.write(lambda s: s.add(Team(name="support")))

    upgrade(empty_db)  # second run: nothing to do, nothing lost

    assert is_current(empty_db)
    with empty_db.read() as s:
        assert s.scalars(select(Team.name)).all() == ["support"]


def test_migrated_schema_matches_the_models(empty_db: Database) -> None:
    upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _modelled(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
    """Compare what the models declare; objects only migrations create (search indexes,
    full-text tables) are not the models' business."""
    return not (reflected and other is None)


def test_downgrade_to_base_and_back(empty_db: Database) -> None:
    upgrade(empty_db)
    cfg = alembic_config(empty_db)
    with empty_db.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(empty_db) is None
    assert _tables(empty_db) == set()
    upgrade(empty_db)
    assert is_current(empty_db) and _tables(empty_db) >= EXPECTED_TABLES


def test_0006_fills_in_who_met_each_clock(empty_db: Database, tmp_path: Path) -> None:
    """Clocks stored before 0006 get the agent whose message met them, and only those."""
    from helpdesk_tui.services import agents
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.settings import Settings
    from tests.factories import ingest, message

    upgrade(empty_db)
    ctx = Context(db=empty_db, settings=Settings(data_dir=tmp_path / "data"))
    agents.add_team(ctx, "root", "support")
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", "support")
    run = ingest(
        ctx,
        message("m-1", "c-1", sent_at=0),
        message("m-2", "c-1", sender="alice", role="agent", kind=None, sent_at=60),
        message("m-3", "c-2", sent_at=0),
    )
    assert run.rejects == []
    _downgrade(empty_db, "0005")
    upgrade(empty_db)
    with empty_db.read() as s:
        alice = s.scalar(select(Agent.id).where(Agent.username == "alice"))
        got = {
            (conv, target): who
            for conv, target, who in s.execute(
                select(Conversation.external_id, SlaClock.target, SlaClock.stop_agent_id).join(
                    Conversation, Conversation.id == SlaClock.conversation_id
                )
            )
        }
    assert got[("c-1", "first_response")] == alice
    assert got[("c-2", "first_response")] is None
    assert all(who in (alice, None) for who in got.values())


def _downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db)
    with db.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _ingest_one(db: Database, tmp_path: Path) -> None:
    """A team and one ingested message (a conversation, its clocks and clock log)."""
    from helpdesk_tui.services import agents
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.settings import Settings
    from tests.factories import ingest, message

    ctx = Context(db=db, settings=Settings(data_dir=tmp_path / "data"))
    agents.add_team(ctx, "root", "support")
    assert ingest(ctx, message("m-1", "c-1", sent_at=0)).rejects == []


def _conversation_indexes(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {ix["name"] for ix in inspect(conn).get_indexes("conversations") if ix["name"]}


def test_0008_drops_the_listing_index_and_back(empty_db: Database, tmp_path: Path) -> None:
    """The unused ``ix_conversations_listing_id`` goes (data kept); a downgrade brings it back."""
    upgrade(empty_db)
    assert "ix_conversations_listing_id" not in _conversation_indexes(empty_db)
    assert "ix_conversations_requester_id" in _conversation_indexes(empty_db)
    _ingest_one(empty_db, tmp_path)
    _downgrade(empty_db, "0007")
    assert "ix_conversations_listing_id" in _conversation_indexes(empty_db)
    upgrade(empty_db)
    assert "ix_conversations_listing_id" not in _conversation_indexes(empty_db)
    with empty_db.read() as s:
        assert s.scalars(select(Conversation.external_id)).all() == ["c-1"]


def _foreign_keys(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {fk["name"] for fk in inspect(conn).get_foreign_keys(table) if fk["name"]}


def test_0009_drops_the_derived_clock_keys_and_back(empty_db: Database, tmp_path: Path) -> None:
    """The clock log's and the clocks' message references lose their foreign keys (rows
    kept; the clock's conversation key goes in 0011); a downgrade brings them back."""
    dropped = {
        "clock_events": {"fk_clock_events_conversation_id_conversations"},
        "sla_clocks": {
            "fk_sla_clocks_start_message_id_messages",
            "fk_sla_clocks_stop_message_id_messages",
        },
    }
    upgrade(empty_db)
    assert not _foreign_keys(empty_db, "clock_events") & dropped["clock_events"]
    assert not _foreign_keys(empty_db, "sla_clocks") & dropped["sla_clocks"]
    _ingest_one(empty_db, tmp_path)
    _downgrade(empty_db, "0008")
    for table, names in dropped.items():
        assert names <= _foreign_keys(empty_db, table)
    upgrade(empty_db)
    assert not _foreign_keys(empty_db, "sla_clocks") & dropped["sla_clocks"]
    with empty_db.read() as s:
        assert s.scalar(select(func.count()).select_from(SlaClock)) >= 1


def _clock_indexes(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {ix["name"] for ix in inspect(conn).get_indexes("sla_clocks") if ix["name"]}


def _index_definition(db: Database, name: str) -> str:
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
        else:
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
        return str(conn.execute(text(sql), {"name": name}).scalar())


def test_0010_indexes_running_clocks_only_and_back(empty_db: Database, tmp_path: Path) -> None:
    """The deadline index becomes a partial one over running clocks (rows kept); a
    downgrade brings the full ``(state, due_at)`` index back."""
    upgrade(empty_db)
    assert "ix_sla_clocks_running_due" in _clock_indexes(empty_db)
    # partial: the schema comparison with the models does not look at an index's WHERE
    definition = _index_definition(empty_db, "ix_sla_clocks_running_due")
    assert "WHERE" in definition and "'running'" in definition, definition
    assert "ix_sla_clocks_due" not in _clock_indexes(empty_db)
    _ingest_one(empty_db, tmp_path)
    _downgrade(empty_db, "0009")
    assert "ix_sla_clocks_due" in _clock_indexes(empty_db)
    assert "ix_sla_clocks_running_due" not in _clock_indexes(empty_db)
    upgrade(empty_db)
    assert "ix_sla_clocks_running_due" in _clock_indexes(empty_db)
    with empty_db.read() as s:
        assert s.scalar(select(func.count()).select_from(SlaClock)) >= 1


def _fts_triggers(db: Database) -> set[str]:
    if db.engine.dialect.name != "sqlite":
        return set()
    with db.engine.connect() as conn:
        sql = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
        return {str(r[0]) for r in conn.execute(text(sql))}


def test_0011_drops_the_clock_and_author_keys_and_back(empty_db: Database, tmp_path: Path) -> None:
    """A clock's conversation and a message's author are no longer foreign keys (rows kept,
    the message's conversation key and SQLite's full-text triggers stay); a downgrade brings
    them back."""
    authors = {"fk_messages_author_party_id_parties", "fk_messages_author_agent_id_agents"}
    conversation = "fk_messages_conversation_id_conversations"
    upgrade(empty_db, "0012")  # (0013 moves the conversation key to triggers)
    triggers = _fts_triggers(empty_db)
    assert _foreign_keys(empty_db, "sla_clocks") == set()
    assert _foreign_keys(empty_db, "messages") & ({conversation} | authors) == {conversation}
    _ingest_one(empty_db, tmp_path)
    _downgrade(empty_db, "0010")
    assert _foreign_keys(empty_db, "sla_clocks") == {"fk_sla_clocks_conversation_id_conversations"}
    assert {conversation} | authors <= _foreign_keys(empty_db, "messages")
    assert _fts_triggers(empty_db) == triggers
    upgrade(empty_db, "0012")
    assert _foreign_keys(empty_db, "sla_clocks") == set()
    assert _foreign_keys(empty_db, "messages") & ({conversation} | authors) == {conversation}
    assert _fts_triggers(empty_db) == triggers
    if triggers:  # SQLite: the messages' three full-text triggers (insert, update, delete)
        assert len(triggers) == 3
    with empty_db.read() as s:
        assert s.scalar(select(func.count()).select_from(SlaClock)) >= 1
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def _indexes(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {ix["name"] for ix in inspect(conn).get_indexes(table) if ix["name"]}


def test_0012_indexes_days_instead_of_instants_and_back(empty_db: Database, tmp_path: Path) -> None:
    """The messages' period index is on a generated UTC-day column (rows kept, the days
    filled in for rows stored before; the clocks keep theirs); a downgrade brings the
    instants' index back."""
    upgrade(empty_db)
    _ingest_one(empty_db, tmp_path)
    _downgrade(empty_db, "0011")
    assert "ix_messages_sent_at" in _indexes(empty_db, "messages")
    upgrade(empty_db)  # over rows stored without the day column
    assert "ix_messages_sent_day" in _indexes(empty_db, "messages")
    assert "ix_messages_sent_at" not in _indexes(empty_db, "messages")
    assert "ix_sla_clocks_started" in _indexes(empty_db, "sla_clocks")
    with empty_db.read() as s:
        rows = s.execute(select(Message.sent_at, Message.sent_day)).all()
    assert rows
    assert all(day == utc_day(at) for at, day in rows)


def _bad_messages(db: Database, n: int) -> None:
    """``n`` messages of a conversation that does not exist, with one bulk insert (from 64
    rows a COPY on PostgreSQL, else one INSERT)."""
    from datetime import UTC, datetime

    from db.bulk import insert_tuples

    names = ("external_id", "conversation_id", "author_name", "role", "body", "internal",
             "via", "sent_at", "created_at")  # fmt: skip
    at = datetime(2026, 1, 5, 8, tzinfo=UTC)
    rows = [(f"bad-{i}", 999_999, "", "customer", "x", False, "intake", at, at) for i in range(n)]
    with db.write_engine.begin() as conn:
        insert_tuples(conn, Message.__table__, names, rows)


def _conversation_keys(db: Database) -> tuple[set[str], set[str]]:
    """The messages' foreign keys to conversations, and PostgreSQL's check triggers."""
    keys = _foreign_keys(db, "messages") & {"fk_messages_conversation_id_conversations"}
    if db.engine.dialect.name != "postgresql":
        return keys, set()
    sql = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        " AND tgrelid IN ('messages'::regclass, 'conversations'::regclass)"
    )
    with db.engine.connect() as conn:
        triggers = {str(r[0]) for r in conn.execute(text(sql))} - {"audit_events_append_only"}
    return keys, triggers


_CHECKS = {
    "messages_conversation_insert",
    "messages_conversation_update",
    "conversations_messages_delete",
}


@pytest.mark.parametrize("rows", [1, 100])
def test_0013_a_message_needs_its_conversation_on_both(
    empty_db: Database, tmp_path: Path, rows: int
) -> None:
    """At head a message's conversation is still enforced on both databases (PostgreSQL: by
    statement-level triggers instead of the foreign key; SQLite: by its key), for a single
    insert, a COPY and a move to another conversation, and a conversation with messages
    cannot be deleted; the errors are IntegrityErrors naming the key. A downgrade brings
    PostgreSQL's key back; nothing stored is lost either way."""
    from sqlalchemy.exc import IntegrityError

    postgres = empty_db.engine.dialect.name == "postgresql"
    upgrade(empty_db)
    assert _conversation_keys(empty_db) == (
        (set(), _CHECKS) if postgres else ({"fk_messages_conversation_id_conversations"}, set())
    )
    _ingest_one(empty_db, tmp_path)
    key = r"FOREIGN KEY|fk_messages_conversation_id"  # SQLite's message, PostgreSQL's name
    with pytest.raises(IntegrityError, match=key):
        _bad_messages(empty_db, rows)
    with pytest.raises(IntegrityError, match=key), empty_db.write_engine.begin() as conn:
        conn.execute(text("UPDATE messages SET conversation_id = 999999"))
    with pytest.raises(IntegrityError, match=key), empty_db.write_engine.begin() as conn:
        conn.execute(text("DELETE FROM sla_clocks"))
        conn.execute(text("DELETE FROM clock_events"))
        conn.execute(text("DELETE FROM conversations"))
    with empty_db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
        assert s.scalar(select(func.count()).select_from(Conversation)) == 1
    _downgrade(empty_db, "0012")
    assert _conversation_keys(empty_db) == ({"fk_messages_conversation_id_conversations"}, set())
    with pytest.raises(IntegrityError):
        _bad_messages(empty_db, rows)
    upgrade(empty_db)
    assert _conversation_keys(empty_db)[1] == (_CHECKS if postgres else set())
    with empty_db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
