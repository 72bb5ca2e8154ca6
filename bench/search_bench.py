"""Full-text search benchmark: `python -m bench.search_bench` (prints JSON).

Builds N messages (default 1,000,000: 50,000 conversations x 20 messages) of varied text
through the real intake, on SQLite and PostgreSQL, then times
``helpdesk_tui.services.search.search`` (the console's search, limit 50) for several kinds of
query and prints the median per kind:

- ``common``: one word found in roughly 2-10% of the messages;
- ``stopword``: one of the most frequent words (found in most messages) — the worst case;
- ``rare``: one word found in a handful of messages;
- ``multi``: two or three words that each are common, together much rarer;
- ``prefix``: a word stub (the last word of every query is matched as a prefix).

The text comes from a vocabulary with Zipf-like frequencies (marketplace words first, then
made-up words), so frequent words are frequent and most words are rare, plus "needle" words
put in a known handful of messages. Building 1M messages through intake takes a while:
``--sqlite PATH`` and ``--pg-db NAME`` keep the built database and reuse it on the next run
(migrations are applied to a reused database first). After a build, PostgreSQL gets
``VACUUM ANALYZE`` (what autovacuum would do soon after a bulk load).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("HELPDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 1, 8, tzinfo=UTC)
CHUNK = 20_000


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: The most frequent words first (Zipf rank order), as support mail would have them.
COMMON = _words(
    "the i to and a my is of it for you in have not this on was with but me please that "
    "be can at order from seller item payment refund account when what no so they are "
    "paid days still listing buyer delivery received just money back help phone did an "
    "will would has there your if been do week any or all get why again price message "
    "ad car yesterday sent number how time now up need contact urgent want had one bank "
    "card address photos wrong never reply someone scam fake blocked login password email "
    "verify courier parcel tracking damaged broken cancel cancelled charged twice deposit "
    "transfer iphone samsung laptop sofa fridge bicycle apartment rent deal offer meeting "
    "collect pickup location cape town johannesburg durban pretoria today tomorrow monday "
    "friday weekend invoice receipt screenshot attached photo warranty condition original "
    "box charger battery screen cracked model colour size brand new used working report "
    "spam suspicious pay upfront whatsapp link strange asked code otp police stolen"
)
#: Words placed in a known handful of messages each (never produced by the vocabulary).
NEEDLES = ("quokkafrost", "zephyrlattice", "marzipanova", "obsidianwren", "tangerinequill")
NEEDLE_EVERY = 100_003  # one message in this many carries a needle (about 10 at 1M)


def made_up_words(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct pronounceable words of 1-3 syllables (the long tail)."""
    onsets = _words("b c d f g h j k l m n p r s t v w z br ch dr fl gr kl pl sh st th tr")
    vowels = _words("a e i o u ai ea ou")
    codas = ["", "", "n", "r", "s", "l", "m", "k", "nd", "st"]
    seen = set(COMMON) | set(NEEDLES)
    out: list[str] = []
    while len(out) < n:
        w = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
            for _ in range(rng.randint(1, 3))
        )
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


class Text:
    """Message bodies and subjects drawn from a Zipf-like vocabulary (s = 1.05)."""

    def __init__(self, seed: int = 7, vocabulary: int = 30_000) -> None:
        self.rng = random.Random(seed)
        self.words = list(COMMON) + made_up_words(vocabulary - len(COMMON), self.rng)
        self.cum = list(itertools.accumulate(1 / (r + 1) ** 1.05 for r in range(len(self.words))))
        self.n = 0

    def body(self) -> str:
        """3-60 words in sentences; now and then an order number, a price or a needle."""
        rng = self.rng
        self.n += 1
        words = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(3, 60))
        if rng.random() < 0.1:
            words.insert(rng.randrange(len(words)), f"#{rng.randint(100000, 999999)}")
        if rng.random() < 0.1:
            words.insert(rng.randrange(len(words)), f"R{rng.randint(50, 90000)}")
        if self.n % NEEDLE_EVERY == 0:
            needle = NEEDLES[(self.n // NEEDLE_EVERY) % len(NEEDLES)]
            words.insert(rng.randrange(len(words)), needle)
        sentences, i = [], 0
        while i < len(words):
            k = rng.randint(4, 14)
            part = words[i : i + k]
            sentences.append(" ".join(part).capitalize() + rng.choice(".?!."))
            i += k
        return " ".join(sentences)

    def subject(self) -> str:
        """2-6 words of the vocabulary, without the 30 most frequent ones."""
        words = [w for w in self.rng.choices(self.words, cum_weights=self.cum, k=12)
                 if w not in self.words[:30]]  # fmt: skip
        return " ".join(words[: self.rng.randint(2, 6)] or ["question"]).capitalize()


def records(conversations: int, per: int, *, agent: str, seed: int = 7) -> Iterator[bytes]:
    """Listings, then each conversation's ``per`` messages in time order (customers and the
    agent or the seller taking turns)."""
    text = Text(seed)
    rng = random.Random(seed + 1)
    start = datetime(2026, 1, 5, 6, tzinfo=UTC)
    listings = max(conversations // 20, 1)
    for i in range(listings):
        yield json.dumps({
            "type": "listing", "id": f"L-{i}", "title": f"Listing {i}",
            "seller": {"id": f"s-{i}", "name": f"Seller {i}"},
            "created_at": start.isoformat(),
        }).encode()  # fmt: skip
    span = timedelta(days=28).total_seconds()
    kinds = ("user_admin", "issue_report", "buyer_seller")
    for c in range(conversations):
        kind = kinds[c % 3]
        t0 = start + timedelta(seconds=rng.random() * span)
        for m in range(per):
            reply = m % 2 == 1
            if kind == "buyer_seller":
                sender = (
                    {"id": f"s-{c % listings}", "role": "seller"}
                    if reply
                    else {"id": f"b-{c}", "role": "buyer", "name": f"Buyer {c}"}
                )
            elif reply:
                sender = {"id": agent, "role": "agent"}
            else:
                sender = {"id": f"u-{c}", "role": "user", "name": f"User {c}"}
            rec: dict[str, Any] = {
                "id": f"m-{c}-{m}",
                "conversation": f"c-{c}",
                "from": sender,
                "body": text.body(),
                "sent_at": (t0 + timedelta(minutes=11 * m)).isoformat(),
            }
            if m == 0:
                rec.update(kind=kind, subject=text.subject())
                if kind == "buyer_seller":
                    rec["listing"] = f"L-{c % listings}"
            yield json.dumps(rec).encode()


#: The queries timed, by kind (words from the vocabulary above; see the module docstring).
QUERIES: dict[str, list[str]] = {
    "common": ["refund", "courier", "iphone", "password", "tracking", "blocked"],
    "stopword": ["the", "my", "please"],
    "rare": list(NEEDLES),
    "multi": [
        "refund bank",
        "seller scam",
        "courier parcel damaged",
        "payment still",
        "iphone screen cracked",
        "login password",
    ],
    "prefix": ["refu", "deliv", "trac", "pass"],
}


def build(ctx: Any, conversations: int, per: int) -> dict[str, Any]:
    from helpdesk_tui.services import agents
    from helpdesk_tui.services.intake import Intake

    t = time.perf_counter()
    agents.add_team(ctx, "bench", "support")
    agents.add_agent(ctx, "bench", "bench", "Bench Agent", "lead", "support")
    accepted = 0
    lines = records(conversations, per, agent="bench")
    while chunk := list(itertools.islice(lines, CHUNK)):
        summary = Intake(ctx).run(chunk)
        accepted += summary.accepted
        if summary.rejected:
            raise SystemExit(f"intake rejected records: {summary.line()}")
        print(f"  … {accepted} records", file=sys.stderr, flush=True)
    return {"records": accepted, "build_s": round(time.perf_counter() - t, 1)}


def measure(ctx: Any, repeat: int, kinds: list[str]) -> dict[str, Any]:
    from helpdesk_tui.services import search

    out: dict[str, Any] = {}
    with ctx.db.read() as s:
        out["messages"] = s.execute(_text("SELECT count(*) FROM messages")).scalar_one()
        out["conversations"] = s.execute(_text("SELECT count(*) FROM conversations")).scalar_one()
    queries = {k: QUERIES[k] for k in kinds}
    for q in itertools.chain(*queries.values()):  # warm the caches once
        search.search(ctx, q)
    for kind, mine_q in queries.items():
        samples: list[float] = []
        per_query: dict[str, Any] = {}
        for q in mine_q:
            mine: list[float] = []
            for _ in range(repeat):
                t = time.perf_counter()
                hits = search.search(ctx, q)
                mine.append((time.perf_counter() - t) * 1000)
            samples += mine
            per_query[q] = {"ms_median": round(statistics.median(mine), 2), "hits": len(hits),
                            "top": hits[0].conversation if hits else None}  # fmt: skip
        out[kind] = {
            "ms_median": round(statistics.median(samples), 2),
            "ms_p95": round(sorted(samples)[int(len(samples) * 0.95) - 1], 2),
            "queries": per_query,
        }
    return out


def _text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def run_sqlite(
    path: Path | None, conversations: int, per: int, repeat: int, kinds: list[str]
) -> dict[str, Any]:
    from db.engine import open_database
    from db.migrate import upgrade
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        file = path or Path(tmp) / "search-bench.sqlite3"
        reused = file.exists()
        db = open_database(f"sqlite:///{file}")
        t = time.perf_counter()
        upgrade(db)
        migrate_s = time.perf_counter() - t
        ctx = Context(db=db, settings=Settings(data_dir=file.parent / "data"), now=lambda: NOW)
        built: dict[str, Any] = {"reused": reused, "upgrade_s": round(migrate_s, 1)}
        if not reused:
            built.update(build(ctx, conversations, per))
        try:
            return {"backend": "sqlite", **built, **measure(ctx, repeat, kinds)}
        finally:
            db.dispose()


def run_postgres(
    name: str | None, conversations: int, per: int, repeat: int, kinds: list[str]
) -> dict[str, Any]:
    import psycopg

    from db.engine import open_database
    from db.migrate import upgrade
    from helpdesk_tui.services.context import Context
    from helpdesk_tui.settings import Settings

    keep = name is not None
    name = name or f"hd_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        reused = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not reused:
            conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = base.replace("postgresql://", "postgresql+psycopg://") + "/" + name
    db = open_database(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            upgrade(db)
            migrate_s = time.perf_counter() - t
            ctx = Context(db=db, settings=Settings(data_dir=Path(tmp) / "data"), now=lambda: NOW)
            built: dict[str, Any] = {"reused": bool(reused), "upgrade_s": round(migrate_s, 1)}
            if not reused:
                built.update(build(ctx, conversations, per))
                with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")
            return {"backend": "postgresql", "database": name if keep else None, **built,
                    **measure(ctx, repeat, kinds)}  # fmt: skip
    finally:
        db.dispose()
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--per", type=int, default=20, help="messages per conversation")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--repeat", type=int, default=15, help="runs of each query")
    p.add_argument("--sqlite", type=Path, help="reuse (or build and keep) this SQLite file")
    p.add_argument("--pg-db", help="reuse (or build and keep) this PostgreSQL database")
    p.add_argument("--kinds", default=",".join(QUERIES), help="query kinds to time")
    args = p.parse_args(argv)
    conversations = max(args.messages // args.per, 1)
    kinds = [k for k in args.kinds.split(",") if k in QUERIES]
    results = []
    for backend in (b.strip() for b in args.backends.split(",") if b.strip()):
        if backend == "sqlite":
            results.append(run_sqlite(args.sqlite, conversations, args.per, args.repeat, kinds))
        elif backend in ("postgres", "postgresql"):
            results.append(run_postgres(args.pg_db, conversations, args.per, args.repeat, kinds))
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    print(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "messages_built": conversations * args.per,
        "results": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
