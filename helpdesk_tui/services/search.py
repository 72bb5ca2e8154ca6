"""Full-text search over subjects and message bodies: FTS5 on SQLite, tsvector on PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, bindparam, select, text
from sqlalchemy.orm import Session

from db.models import Conversation
from helpdesk_tui.services.context import Context

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SearchHit:
    """One conversation that matches, with its best snippet."""

    conversation_id: int
    conversation: str
    subject: str
    status: str
    kind: str
    snippet: str
    rank: float
    last_message_at: datetime | None


def terms(query: str) -> list[str]:
    """The words of a query (punctuation and search-syntax characters are dropped)."""
    return [w.lower() for w in _WORD.findall(query)][:12]


def search(ctx: Context, query: str, *, limit: int = 50) -> list[SearchHit]:
    """Conversations whose subject or messages contain every word of ``query`` (the last word
    as a prefix), best matches first."""
    words = terms(query)
    if not words:
        return []
    with ctx.db.read() as s:
        scored = _sqlite(s, words, limit) if ctx.db.is_sqlite else _postgres(s, words, limit)
        if not scored:
            return []
        rows = {
            r.id: r
            for r in s.execute(
                select(
                    Conversation.id, Conversation.external_id, Conversation.subject,
                    Conversation.status, Conversation.kind, Conversation.last_message_at,
                ).where(Conversation.id.in_(list(scored)))
            )
        }  # fmt: skip
    hits = [
        SearchHit(cid, r.external_id, r.subject, r.status, r.kind, snippet, rank, r.last_message_at)
        for cid, (rank, snippet) in scored.items()
        if (r := rows.get(cid)) is not None
    ]
    hits.sort(key=lambda h: (-h.rank, -(h.conversation_id)))
    return hits[:limit]


def _best(rows: list[Row[tuple[int, float, str]]], scored: dict[int, tuple[float, str]]) -> None:
    for cid, rank, snippet in rows:
        if cid not in scored or rank > scored[cid][0]:
            scored[cid] = (float(rank), snippet or "")


def _sqlite(s: Session, words: list[str], limit: int) -> dict[int, tuple[float, str]]:
    match = " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"*'
    scored: dict[int, tuple[float, str]] = {}
    # bm25() is lower-is-better; negate it so that higher is better everywhere.
    messages = s.execute(
        text(
            "SELECT m.conversation_id, -bm25(messages_fts) AS rank,"
            " snippet(messages_fts, 0, '', '', '…', 12) FROM messages_fts"
            " JOIN messages m ON m.id = messages_fts.rowid"
            " WHERE messages_fts MATCH :q ORDER BY rank DESC LIMIT :n"
        ),
        {"q": match, "n": limit * 4},
    ).all()
    _best(messages, scored)
    subjects = s.execute(
        text(
            "SELECT rowid, -bm25(conversations_fts) * 2 AS rank, subject FROM conversations_fts"
            " WHERE conversations_fts MATCH :q ORDER BY rank DESC LIMIT :n"
        ),
        {"q": match, "n": limit},
    ).all()
    _best(subjects, scored)
    return scored


def _postgres(s: Session, words: list[str], limit: int) -> dict[int, tuple[float, str]]:
    query = " & ".join([*words[:-1], f"{words[-1]}:*"])
    scored: dict[int, tuple[float, str]] = {}
    # Rank on the stored tsvector (migration 0005), then make headlines for the top rows only.
    messages = s.execute(
        text(
            "SELECT m.conversation_id, top.rank,"
            " ts_headline('simple', m.body, q, 'StartSel=\"\",StopSel=\"\",MaxWords=18,MinWords=6')"
            " FROM (SELECT m.id, ts_rank(m.body_tsv, q) AS rank"
            "       FROM messages m, to_tsquery('simple', :q) q"
            "       WHERE m.body_tsv @@ q ORDER BY rank DESC LIMIT :n) AS top"
            " JOIN messages m ON m.id = top.id, to_tsquery('simple', :q) q"
        ).bindparams(bindparam("q"), bindparam("n")),
        {"q": query, "n": limit * 4},
    ).all()
    _best(messages, scored)
    subjects = s.execute(
        text(
            "SELECT c.id, ts_rank(to_tsvector('simple', c.subject), q) * 2 AS rank, c.subject"
            " FROM conversations c, to_tsquery('simple', :q) q"
            " WHERE to_tsvector('simple', c.subject) @@ q ORDER BY rank DESC LIMIT :n"
        ),
        {"q": query, "n": limit},
    ).all()
    _best(subjects, scored)
    return scored
