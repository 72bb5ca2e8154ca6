"""The demo's live marketplace: simulated customers who answer what the helpdesk sends them.

A daemon thread reads the outbound stream as the consumer ``demo-customers`` every few
seconds. For some public replies and auto-acknowledgements the recipient writes back (a
follow-up question, or "thanks, that solved it"), and for some survey requests they leave
feedback -- all through the real intake, exactly as the marketplace would. Choices come from
one ``random.Random``: the same seed and the same records give the same answers.

Record ids derive from the outbound record id, so a record handled twice (delivery is at least
once) is a duplicate for the intake, never a second message.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

from helpdesk_tui import demo_data as data
from helpdesk_tui.services import outbound
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake

log = logging.getLogger(__name__)

#: The outbound consumer whose position the simulation keeps.
CONSUMER = "demo-customers"
#: Outbound record types a simulated customer may react to.
ANSWERED = ("reply", "auto_ack")
SURVEY = "survey_request"
#: Default share of replies/auto-acks answered and of survey requests rated.
ANSWER_RATE = 0.35
FEEDBACK_RATE = 0.6
#: Share of answers to a public reply that are "thanks, that solved it".
THANKS_RATE = 0.4

THANKS = (
    "Thanks, that solved it!",
    "That worked, thank you so much.",
    "Sorted now, thanks for the help.",
    "Ngiyabonga, it's working now.",
    "Baie dankie, all good now.",
)
#: Ratings 3-5 mostly (weights), and an NPS range per rating.
_RATINGS = ((5, 50), (4, 30), (3, 14), (2, 4), (1, 2))
_NPS = {5: (9, 10), 4: (7, 9), 3: (5, 8), 2: (2, 6), 1: (0, 4)}


def simulate_once(
    ctx: Context,
    rng: random.Random,
    *,
    answer_rate: float = ANSWER_RATE,
    feedback_rate: float = FEEDBACK_RATE,
    batch: int = 500,
) -> int:
    """One pass over the new outbound records of ``demo-customers``; how many got an answer.

    A consumer that does not exist yet starts at the beginning of the stream (see
    ``start_simulation`` for one that starts at the current end). The position moves past
    every record read, answered or not, once the answers have landed.
    """
    db = ctx.db
    outbound.sequence(db)
    position = outbound.ensure_consumer(ctx, CONSUMER)
    reacted = 0
    while True:
        entries = outbound.read(db, position, batch)
        if not entries:
            return reacted
        records = []
        for entry in entries:
            record = _react(ctx, rng, entry.record, answer_rate, feedback_rate)
            if record is not None:
                records.append(record)
        if records:
            _ingest(ctx, records)
            reacted += len(records)
        position = entries[-1].position
        outbound.save_position(ctx, CONSUMER, position)
        if len(entries) < batch:
            return reacted


def start_simulation(
    ctx: Context,
    *,
    seed: int = 7,
    interval: float = 5.0,
    answer_rate: float = ANSWER_RATE,
    feedback_rate: float = FEEDBACK_RATE,
) -> Callable[[], None]:
    """Start the simulated customers on a daemon thread; returns a function that stops it.

    A new ``demo-customers`` consumer starts at the current end of the stream, so the demo's
    history (hundreds of resolutions) does not all get an answer at once; an existing one
    resumes where it stopped.
    """
    _start_at_end(ctx)
    rng = random.Random(seed)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                n = simulate_once(ctx, rng, answer_rate=answer_rate, feedback_rate=feedback_rate)
                if n:
                    log.info("demo: simulated customers answered %d record(s)", n)
            except Exception:
                log.exception("demo: simulated customers failed; trying again")

    thread = threading.Thread(target=loop, name="demo-customers", daemon=True)
    thread.start()

    def stop_simulation() -> None:
        stop.set()
        thread.join(timeout=max(5.0, interval))

    return stop_simulation


def _start_at_end(ctx: Context) -> None:
    try:
        if outbound.consumer_position(ctx.db, CONSUMER) is None:
            outbound.sequence(ctx.db)
            outbound.ensure_consumer(ctx, CONSUMER)
            outbound.save_position(ctx, CONSUMER, outbound.head(ctx.db))
    except Exception:
        log.exception("demo: could not place the simulated customers at the stream's end")


def _react(
    ctx: Context,
    rng: random.Random,
    record: dict[str, Any],
    answer_rate: float,
    feedback_rate: float,
) -> dict[str, Any] | None:
    """The intake record a simulated party sends back for ``record`` (None: no answer)."""
    kind, conversation = record.get("type"), record.get("conversation")
    to = record.get("to") or {}
    if not conversation or not to.get("id"):
        return None
    now = _now(ctx)
    if kind == SURVEY:
        if rng.random() >= feedback_rate:
            return None
        rating = rng.choices([r for r, _ in _RATINGS], weights=[w for _, w in _RATINGS])[0]
        return {
            "type": "feedback",
            "id": f"sim-fb:{record['id']}"[:200],
            "conversation": conversation,
            "rating": rating,
            "nps": rng.randint(*_NPS[rating]),
            "comment": rng.choice(data.FEEDBACK_COMMENTS[rating]),
            "submitted_at": now,
        }
    if kind not in ANSWERED or rng.random() >= answer_rate:
        return None
    role = "buyer" if to.get("role") == "buyer" else "user"
    if kind == "reply" and rng.random() < THANKS_RATE:
        body = rng.choice(THANKS)
    elif role == "buyer":
        body = rng.choice(data.BUYER_FOLLOWUPS)[0]
    else:
        body = rng.choice(data.OPEN_FOLLOWUPS)
    return {
        "id": f"sim:{record['id']}"[:200],
        "conversation": conversation,
        "from": {"id": to["id"], "role": role},
        "body": body,
        "sent_at": now,
    }


def _now(ctx: Context) -> str:
    at = ctx.now()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.isoformat()


def _ingest(ctx: Context, records: list[dict[str, Any]]) -> None:
    def rejected(line: int, _raw: bytes, why: str) -> None:
        log.warning("demo: intake refused simulated record %d: %s", line, why)

    Intake(ctx, rejected).run(json.dumps(r, ensure_ascii=False).encode() for r in records)


__all__ = ["CONSUMER", "simulate_once", "start_simulation"]
