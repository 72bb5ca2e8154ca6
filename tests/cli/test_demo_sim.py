"""The demo's simulated customers answer outbound records through the real intake, once each."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from db.engine import open_database
from db.enums import MessageRole
from db.migrate import upgrade
from db.models import Conversation, Feedback, Message
from helpdesk_tui import demo_data, demo_sim
from helpdesk_tui.services import agents, conversations, outbound
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from helpdesk_tui.settings import Settings

NOW = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)


def _context(path: Path) -> Context:
    db = open_database(f"sqlite:///{path / 'sim.sqlite3'}")
    upgrade(db)
    return Context(db=db, settings=Settings(data_dir=path), now=lambda: NOW)


def _ingest(ctx: Context, *records: dict[str, object]) -> None:
    rejects: list[str] = []
    Intake(ctx, lambda n, raw, why: rejects.append(why)).run(
        json.dumps(r).encode() for r in records
    )
    assert rejects == []


def _conversation(ctx: Context) -> int:
    _ingest(
        ctx,
        {
            "id": "m-1",
            "conversation": "c-1",
            "kind": "user_admin",
            "subject": "Refund not received",
            "from": {"id": "u-1", "role": "user", "name": "Ann Mokoena"},
            "body": "I paid last week and nothing happened.",
            "sent_at": "2026-03-02T08:00:00+02:00",
        },
    )
    agents.add_team(ctx, "sipho", "support")
    agents.add_agent(ctx, "sipho", "sipho", "Sipho Ndlovu", "admin", "support")
    with ctx.db.read() as s:
        return s.execute(
            select(Conversation.id).where(Conversation.external_id == "c-1")
        ).scalar_one()


def _customer_messages(ctx: Context, conv_id: int) -> list[tuple[str | None, str]]:
    """(external id, body) of the customer's messages, oldest first."""
    with ctx.db.read() as s:
        return [
            (r.external_id, r.body)
            for r in s.execute(
                select(Message.external_id, Message.body)
                .where(Message.conversation_id == conv_id, Message.role == MessageRole.CUSTOMER)
                .order_by(Message.id)
            )
        ]


def test_customer_answers_a_reply_once(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    conv_id = _conversation(ctx)
    conversations.send(ctx, "sipho", conv_id, "Please send the proof of payment.")
    assert len(_customer_messages(ctx, conv_id)) == 1

    rng = random.Random(7)
    reacted = demo_sim.simulate_once(ctx, rng, answer_rate=1.0)
    assert reacted == 1
    messages = _customer_messages(ctx, conv_id)
    assert len(messages) == 2
    external_id, body = messages[-1]
    assert external_id is not None and external_id.startswith("sim:")
    assert body in demo_sim.THANKS or body in demo_data.OPEN_FOLLOWUPS

    position = outbound.consumer_position(ctx.db, demo_sim.CONSUMER)
    assert position == outbound.head(ctx.db)
    # the record was handled: a second pass answers nothing again
    assert demo_sim.simulate_once(ctx, rng, answer_rate=1.0) == 0
    assert len(_customer_messages(ctx, conv_id)) == 2


def test_same_seed_same_answers(tmp_path: Path) -> None:
    bodies = []
    for name in ("a", "b"):
        path = tmp_path / name
        path.mkdir()
        ctx = _context(path)
        conv_id = _conversation(ctx)
        conversations.send(ctx, "sipho", conv_id, "Please send the proof of payment.")
        demo_sim.simulate_once(ctx, random.Random(3), answer_rate=1.0)
        bodies.append([b for _, b in _customer_messages(ctx, conv_id)])
    assert bodies[0] == bodies[1]


def test_no_answer_at_rate_zero_still_advances(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    conv_id = _conversation(ctx)
    conversations.send(ctx, "sipho", conv_id, "Please send the proof of payment.")
    assert demo_sim.simulate_once(ctx, random.Random(7), answer_rate=0.0) == 0
    assert len(_customer_messages(ctx, conv_id)) == 1
    assert outbound.consumer_position(ctx.db, demo_sim.CONSUMER) == outbound.head(ctx.db)


def test_survey_request_gets_feedback(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    conv_id = _conversation(ctx)
    conversations.send(ctx, "sipho", conv_id, "Refunded, it shows in 3 days.")
    conversations.set_status(ctx, "sipho", conv_id, "resolved")
    demo_sim.simulate_once(ctx, random.Random(7), answer_rate=0.0, feedback_rate=1.0)
    with ctx.db.read() as s:
        ratings = list(
            s.scalars(select(Feedback.rating).where(Feedback.conversation_id == conv_id))
        )
    assert len(ratings) == 1 and 1 <= (ratings[0] or 0) <= 5


def test_thread_starts_at_the_end_and_stops(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    conv_id = _conversation(ctx)
    conversations.send(ctx, "sipho", conv_id, "Please send the proof of payment.")
    stop = demo_sim.start_simulation(ctx, interval=0.05, answer_rate=1.0)
    try:
        # history before the start is not answered
        assert outbound.consumer_position(ctx.db, demo_sim.CONSUMER) == outbound.head(ctx.db)
        conversations.send(ctx, "sipho", conv_id, "Any luck with the proof?")
        deadline = time.monotonic() + 10
        while len(_customer_messages(ctx, conv_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop()
    assert len(_customer_messages(ctx, conv_id)) == 2
