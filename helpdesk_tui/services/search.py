"""Full-text search over subjects and message bodies: FTS5 on SQLite, tsvector on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from db.models import Conversation, Message
from helpdesk_tui.services.context import Context

_WORD = re.compile(r"\w+", re.UNICODE)
#: How many matches are ranked: the most recently stored ones. A word found in more messages
#: than this (a common word at a million messages) ranks the newest, so search stays fast.
CANDIDATES = 2000


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


def snippet(body: str, words: list[str], size: int = 12) -> str:
    """About ``size`` words of ``body`` around the first word that matches (the last query
    word as a prefix), with "…" where it was cut -- as FTS5's snippet() would show it."""
    tokens = list(_WORD.finditer(body))
    if not tokens:
        return body[:80]
    exact, last = set(words[:-1]), words[-1]

    def hit(w: str) -> bool:
        w = w.lower()
        return w in exact or w.startswith(last)

    first = next((i for i, t in enumerate(tokens) if hit(t.group())), 0)
    start = 0 if first < size - 3 else first - 3
    end = min(len(tokens), start + size)
    text_ = body[tokens[start].start() : tokens[end - 1].end()]
    return ("…" if start > 0 else "") + text_ + ("…" if end < len(tokens) else "")


def _best(rows: Iterable[Sequence[Any]], scored: dict[int, tuple[float, str]]) -> None:
    for cid, rank, snippet in rows:
        if cid not in scored or rank > scored[cid][0]:
            scored[cid] = (float(rank), snippet or "")


def _sqlite(s: Session, words: list[str], limit: int) -> dict[int, tuple[float, str]]:
    match = " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"*'
    scored: dict[int, tuple[float, str]] = {}
    # bm25() is lower-is-better; negate it so that higher is better everywhere. Only the
    # newest CANDIDATES matches are ranked (rowid order is storage order), then snippets are
    # made for the best rows only.
    top = s.execute(
        text(
            "SELECT id, rank FROM (SELECT rowid AS id, -bm25(messages_fts) AS rank"
            " FROM messages_fts WHERE messages_fts MATCH :q ORDER BY rowid DESC LIMIT :cap)"
            " ORDER BY rank DESC, id DESC LIMIT :n"
        ),
        {"q": match, "cap": CANDIDATES, "n": limit * 4},
    ).all()
    if top:
        rank_of = {r[0]: float(r[1]) for r in top}
        bodies = s.execute(
            select(Message.id, Message.conversation_id, Message.body).where(
                Message.id.in_(list(rank_of))
            )
        ).all()
        _best([(cid, rank_of[mid], snippet(body, words)) for mid, cid, body in bodies], scored)
    subjects = s.execute(
        text(
            "SELECT id, rank, subject FROM (SELECT rowid AS id, -bm25(conversations_fts) * 2"
            " AS rank, subject FROM conversations_fts WHERE conversations_fts MATCH :q"
            " ORDER BY rowid DESC LIMIT :cap) ORDER BY rank DESC, id DESC LIMIT :n"
        ),
        {"q": match, "cap": CANDIDATES, "n": limit},
    ).all()
    _best(subjects, scored)
    return scored


def _postgres(s: Session, words: list[str], limit: int) -> dict[int, tuple[float, str]]:
    query = " & ".join([*words[:-1], f"{words[-1]}:*"])
    scored: dict[int, tuple[float, str]] = {}
    # Rank the newest CANDIDATES matches on the stored tsvector (migration 0005), then make
    # headlines for the top rows only.
    messages = s.execute(
        text(
            "SELECT m.conversation_id, top.rank,"
            " ts_headline('simple', m.body, q, 'StartSel=\"\",StopSel=\"\",MaxWords=18,MinWords=6')"
            " FROM (SELECT c.id, ts_rank(c.body_tsv, q) AS rank"
            "       FROM (SELECT m.id, m.body_tsv FROM messages m"
            "             WHERE m.body_tsv @@ to_tsquery('simple', :q)"
            "             ORDER BY m.id DESC LIMIT :cap) AS c, to_tsquery('simple', :q) q"
            "       ORDER BY rank DESC, c.id DESC LIMIT :n) AS top"
            " JOIN messages m ON m.id = top.id, to_tsquery('simple', :q) q"
        ).bindparams(bindparam("q"), bindparam("n"), bindparam("cap")),
        {"q": query, "n": limit * 4, "cap": CANDIDATES},
    ).all()
    _best(messages, scored)
    subjects = s.execute(
        text(
            "SELECT c.id, ts_rank(to_tsvector('simple', c.subject), q) * 2 AS rank, c.subject"
            " FROM (SELECT id, subject FROM conversations"
            "       WHERE to_tsvector('simple', subject) @@ to_tsquery('simple', :q)"
            "       ORDER BY id DESC LIMIT :cap) AS c, to_tsquery('simple', :q) q"
            " ORDER BY rank DESC, c.id DESC LIMIT :n"
        ),
        {"q": query, "n": limit, "cap": CANDIDATES},
    ).all()
    _best(subjects, scored)
    return scored
