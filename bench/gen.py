"""Synthetic intake files for the benchmarks: N conversations with ~M messages each."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

KINDS = ("user_admin", "issue_report", "buyer_seller")


def records(
    conversations: int,
    per_conversation: int = 10,
    *,
    seed: int = 1,
    start: datetime | None = None,
    agent: str | None = None,
) -> Iterator[bytes]:
    """Listings first, then each conversation's messages in time order."""
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 5, 6, tzinfo=UTC)
    listings = max(conversations // 20, 1)
    for i in range(listings):
        yield json.dumps({
            "type": "listing", "id": f"L-{i}", "title": f"Listing {i}",
            "seller": {"id": f"s-{i}", "name": f"Seller {i}"},
            "created_at": start.isoformat(),
        }).encode()  # fmt: skip
    span = timedelta(days=28).total_seconds()
    for c in range(conversations):
        kind = KINDS[c % 3]
        t0 = start + timedelta(seconds=rng.random() * span)
        for m in range(per_conversation):
            sent = t0 + timedelta(minutes=17 * m)
            reply = m % 2 == 1
            if kind == "buyer_seller":
                sender = (
                    {"id": f"s-{c % listings}", "role": "seller"}
                    if reply
                    else {"id": f"b-{c}", "role": "buyer", "name": f"Buyer {c}"}
                )
            elif reply and agent:
                sender = {"id": agent, "role": "agent"}
            else:
                sender = {"id": f"u-{c}", "role": "user", "name": f"User {c}"}
            rec = {
                "id": f"m-{c}-{m}",
                "conversation": f"c-{c}",
                "from": sender,
                "body": f"message {m} of conversation {c}",
                "sent_at": sent.isoformat(),
            }
            if m == 0:
                rec.update(kind=kind, subject=f"Subject {c}")
                if kind == "buyer_seller":
                    rec["listing"] = f"L-{c % listings}"
            yield json.dumps(rec).encode()
