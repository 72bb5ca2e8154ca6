"""Queue and clock benchmark at scale: `python -m bench.queue_bench --cache DIR`. Prints JSON.

Issue #3's targets, with 100,000 open conversations and 1,000,000 messages: the
`helpdesk queue --limit 200` query under 10 ms median on both databases (the query and the
whole command measured separately), and recomputing clocks on one new message under 2 ms
median.

The database is the one `bench.reports_bench` builds (``--messages 1000000`` at 10 messages
per conversation: 100,000 conversations, all open, built through the real intake and
ANALYZEd); ``--cache DIR`` shares its cache, so a database built by either harness serves
both. Each run works on a fresh copy.

Figures (medians over ``--repeat`` runs):

- ``queue_page_ms``: the page statement alone (``LIMIT 200``, what the console and the
  command show first);
- ``queue_fetch_ms``: ``queue.fetch_page``, the page plus the total counted up to the cap
  (what `helpdesk queue` and the console run);
- ``queue_command_ms``: the whole `helpdesk queue --limit 200 --json` process (interpreter
  and library start-up included);
- ``recompute_ms``: ``sla.recompute`` of one conversation right after a new message was
  inserted in the same transaction (untimed), for a different conversation each run, agent
  replies and customer follow-ups alternating: the clock work one new message causes;
- ``recompute_tx_ms``: the same transaction whole, from ``Database.write`` to its commit
  (pool checkout, the insert, the recompute, the commit and its WAL flush).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.reports_bench import AS_OF, bench_database
from db.models import Conversation, Message, Party
from helpdesk_tui.services import queue, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.settings import Settings

_INSERT = insert(Message.__table__)


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3)


def run_backend(backend: str, messages: int, per: int, repeat: int, cache: Path | None) -> Any:
    n = max(messages // per, 1)
    out: dict[str, Any] = {"backend": backend, "conversations": n, "messages": n * per}
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database(backend, tmp, n, per, cache, out) as db,
    ):
        ctx = Context(db=db, settings=Settings(data_dir=Path(tmp) / "data"), now=lambda: AS_OF)
        f = queue.QueueFilter()
        out["load_average"] = os.getloadavg()[0]
        page_q, _count_q = queue._statements(f)
        page, fetch = [], []
        with db.read() as s:
            out["open_conversations"] = len(
                s.execute(select(Conversation.id).where(Conversation.is_open.is_(True))).all()
            )
            conn = s.connection()
            for _ in range(repeat):
                t = time.perf_counter()
                conn.execute(page_q, {"now": AS_OF, "lim": 200, "off": 0}).all()
                page.append((time.perf_counter() - t) * 1000)
            for _ in range(repeat):
                t = time.perf_counter()
                result = queue.fetch_page(s, f, AS_OF, limit=200)
                fetch.append((time.perf_counter() - t) * 1000)
            targets = [r.id for r in queue.fetch_page(s, f, AS_OF, limit=repeat).rows]
            requesters = dict(
                s.execute(
                    select(Conversation.id, Party.id)
                    .join(Party, Party.id == Conversation.requester_id)
                    .where(Conversation.id.in_(targets))
                ).all()
            )
        out["queue_total"] = result.total
        out["queue_page_ms_median"], out["queue_page_ms_p95"] = _median(page), _p95(page)
        out["queue_fetch_ms_median"], out["queue_fetch_ms_p95"] = _median(fetch), _p95(fetch)
        command = []
        for _ in range(max(3, repeat // 10)):
            t = time.perf_counter()
            subprocess.run(
                [str(Path(sys.executable).parent / "helpdesk"), "--db", db.url, "queue",
                 "--limit", "200", "--json", "--as-of", AS_OF.isoformat()],
                check=True, capture_output=True,
                env={**os.environ, "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp},
            )  # fmt: skip
            command.append((time.perf_counter() - t) * 1000)
        out["queue_command_ms_median"] = _median(command)
        inner, whole = [], []
        for i, conv_id in enumerate(targets):
            agent = i % 2 == 0
            sent = AS_OF - timedelta(minutes=1)
            params = {
                "external_id": f"bench-recompute-{os.getpid()}-{i}",
                "conversation_id": conv_id,
                "author_party_id": None if agent else requesters[conv_id],
                "author_name": "bench",
                "role": "agent" if agent else "customer",
                "body": "one more message",
                "internal": False,
                "via": "intake",
                "sent_at": sent,
                "created_at": sent,
            }

            def one(s: Any, params: dict[str, Any] = params, conv_id: int = conv_id) -> None:
                s.execute(_INSERT, params)
                t = time.perf_counter()
                sla.recompute(s, ctx.settings, [conv_id], cause="bench")
                inner.append((time.perf_counter() - t) * 1000)

            t = time.perf_counter()
            db.write(one)
            whole.append((time.perf_counter() - t) * 1000)
        out["recompute_ms_median"], out["recompute_ms_p95"] = _median(inner), _p95(inner)
        out["recompute_tx_ms_median"] = _median(whole)
        out["load_average_end"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--per", type=int, default=10, help="messages per conversation")
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--repeat", type=int, default=100)
    p.add_argument("--cache", type=Path, help="build each database once in DIR and reuse it")
    args = p.parse_args(argv)
    results = [
        run_backend(b.strip(), args.messages, args.per, args.repeat, args.cache)
        for b in args.backends.split(",")
        if b.strip()
    ]
    print(
        json.dumps(
            {"when": datetime.now(UTC).isoformat(timespec="seconds"), "results": results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
