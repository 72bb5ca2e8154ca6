"""Full-text search over subjects and message bodies, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from helpdesk_tui.services import search
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake


def _ingest(ctx: Context, *records: dict[str, object]) -> None:
    summary = Intake(ctx).run([json.dumps(r).encode() for r in records])
    assert summary.rejected == 0


def _msg(mid: str, conv: str, body: str, subject: str = "Question", at: str = "09:00") -> dict:
    return {
        "id": mid, "conversation": conv, "kind": "user_admin", "subject": subject,
        "from": {"id": f"u-{conv}", "role": "user", "name": "Ann"}, "body": body,
        "sent_at": f"2026-03-02T{at}:00+02:00",
    }  # fmt: skip


def test_finds_words_in_bodies_and_subjects_ranked(ctx: Context) -> None:
    _ingest(
        ctx,
        _msg("m1", "c1", "My refund for the bicycle has not arrived", subject="Refund"),
        _msg("m2", "c2", "How do I change the price of my listing?", subject="Price change"),
        _msg("m3", "c3", "Refund refund refund please, the seller vanished", subject="Scam"),
        _msg("m4", "c3", "Still waiting", at="10:00"),
    )
    hits = search.search(ctx, "refund")
    assert {h.conversation for h in hits} == {"c1", "c3"}
    assert search.search(ctx, "price listing")[0].conversation == "c2"
    assert search.search(ctx, "bicyc")[0].conversation == "c1"  # the last word is a prefix
    assert search.search(ctx, "refund bicycle")[0].conversation == "c1"  # every word must match
    assert [h.conversation for h in search.search(ctx, "scam")] == ["c3"]  # subject only


def test_search_syntax_in_the_query_is_plain_text(ctx: Context) -> None:
    _ingest(ctx, _msg("m1", "c1", 'order NEAR delivery OR "quotes" (parens)'))
    for query in ['"', "NEAR(", "a OR", "(parens)", "*", "-x", "col:val", "'; DROP TABLE x"]:
        search.search(ctx, query)  # never a syntax error
    assert [h.conversation for h in search.search(ctx, '"parens"')] == ["c1"]
    assert search.search(ctx, "   ") == []


def test_messages_added_later_are_found(ctx: Context) -> None:
    _ingest(ctx, _msg("m1", "c1", "hello"))
    assert search.search(ctx, "tractor") == []
    _ingest(ctx, _msg("m2", "c1", "I want to sell a tractor", at="11:00"))
    assert [h.conversation for h in search.search(ctx, "tractor")] == ["c1"]


def test_a_word_in_more_messages_than_are_ranked_ranks_the_newest(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(ctx, *(_msg(f"m{i}", f"c{i}", "parcel " * (5 - i) + "lost", subject=f"S{i}",
                        at=f"0{i}:00") for i in range(5)))  # fmt: skip
    everything = [h.conversation for h in search.search(ctx, "parcel")]
    assert everything[0] == "c0"  # the most "parcel"s ranks first
    assert sorted(everything) == ["c0", "c1", "c2", "c3", "c4"]
    monkeypatch.setattr(search, "CANDIDATES", 2)
    newest = [h.conversation for h in search.search(ctx, "parcel")]
    assert newest == ["c3", "c4"]  # only the two newest matches are ranked, best first


def test_bulk_intake_and_console_replies_are_both_indexed(ctx: Context) -> None:
    """Intake indexes its batch with one statement (SQLite: the insert triggers stand aside
    while ``fts_deferred`` holds a row); every other insert is indexed by its trigger."""
    from sqlalchemy import text

    from helpdesk_tui.services import agents, conversations

    agents.add_team(ctx, "alice", "support")
    agents.add_agent(ctx, "alice", "alice", "Alice", "agent", "support")
    _ingest(ctx, *(_msg(f"m{i}", f"c{i}", f"lost parcel {i}", subject=f"Gearbox {i}")
                   for i in range(30)))  # fmt: skip
    assert len(search.search(ctx, "parcel")) == 30
    assert len(search.search(ctx, "gearbox")) == 30
    with ctx.db.read() as s:
        conv_id = s.execute(text("SELECT id FROM conversations WHERE external_id = 'c7'")).scalar()
        if s.get_bind().dialect.name == "sqlite":
            assert s.execute(text("SELECT count(*) FROM fts_deferred")).scalar() == 0
    conversations.send(ctx, "alice", conv_id, "the courier found the tractor")
    assert [h.conversation for h in search.search(ctx, "tractor")] == ["c7"]
