"""The intake's clocks for conversations it creates are replayed from the batch in memory
(``sla.replay_new``), those of conversations stored before from the database
(``sla.recompute``). Both must give exactly what a full replay from the database gives: after
any intake, recomputing every conversation must change nothing — no clock row, no clock log
line, no queue field."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from db.models import ClockEvent, Conversation, Message, SlaClock
from helpdesk_tui.services import agents, sla
from helpdesk_tui.services.context import Context
from tests.factories import feedback, flag, ingest, listing, message

_CONV_FIELDS = (
    "external_id",
    "status",
    "is_open",
    "due_at",
    "due_for",
    "due_target_s",
    "risk_at",
    "queue_due_at",
    "waiting_since",
    "first_message_at",
    "last_message_at",
)
_CLOCK_FIELDS = tuple(
    c.name for c in SlaClock.__table__.c if c.name not in ("id", "breached_at", "alerted_at")
)
_EVENT_FIELDS = tuple(c.name for c in ClockEvent.__table__.c if c.name not in ("recorded_at",))


def _workload() -> list[dict[str, Any]]:
    """Every kind of conversation, replies, same-instant messages, messages arriving out of
    order, a conversation spread over many batches, flags on a message and a listing."""
    recs: list[dict[str, Any]] = [listing("L-1", seller="s-1"), listing("L-2", seller="s-2")]
    agent = {"sender": "alice", "role": "agent", "kind": None}
    recs += [
        message("a1", "c-1", sent_at=0),
        message("a2", "c-1", sent_at=5, **agent),
        message("a3", "c-1", sent_at=30, kind=None),
        message("a4", "c-1", sent_at=30, **agent),  # same instant as the customer's
        message("a0", "c-1", sent_at=-10, kind=None),  # late: sent before the first one
        message("b1", "c-2", sender="u-2", role="buyer", kind="buyer_seller", listing="L-1"),
        message("b2", "c-2", sender="s-1", role="seller", kind=None, sent_at=240),
        message("b3", "c-2", sender="u-2", role="buyer", kind=None, sent_at=600),
        message("i1", "c-3", sender="u-3", kind="issue_report", priority="high", sent_at=60),
        flag("fl-1", target={"message": "a1"}, reporter="u-4"),
        flag("fl-2", target={"listing": "L-2"}, reporter="u-5"),
        feedback("f-1", "c-1"),
    ]
    for i in range(12):  # one long thread, spread over batches
        if i % 3 == 2:
            recs.append(message(f"d{i}", "c-4", sent_at=7 * i, **agent))
        else:
            kind = {"kind": None} if i else {}
            recs.append(message(f"d{i}", "c-4", sender="u-6", sent_at=7 * i, **kind))
    recs.append(message("a5", "c-1", sent_at=2 * 24 * 60, kind=None))  # next day
    return recs


def _snapshot(ctx: Context) -> tuple[list[Any], list[Any], list[Any]]:
    with ctx.db.read() as s:
        convs = sorted(
            tuple(getattr(c, f) for f in _CONV_FIELDS) for c in s.scalars(select(Conversation))
        )
        clocks_t = SlaClock.__table__
        clocks = sorted(
            tuple(r) for r in s.execute(select(*(clocks_t.c[f] for f in _CLOCK_FIELDS))).all()
        )
        events_t = ClockEvent.__table__
        events = sorted(
            tuple(r) for r in s.execute(select(*(events_t.c[f] for f in _EVENT_FIELDS))).all()
        )
    return convs, clocks, events


@pytest.mark.parametrize("batch", [1, 4, 1000])
def test_intake_clocks_equal_a_full_replay(ctx: Context, batch: int) -> None:
    agents.add_team(ctx, "root", "support")
    agents.add_team(ctx, "root", "marketplace")
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", "support")
    ctx = Context(db=ctx.db, settings=replace(ctx.settings, intake_batch=batch), now=ctx.now)
    run = ingest(ctx, *_workload())
    assert run.rejects == []
    before = _snapshot(ctx)
    assert before[1], "the workload starts clocks"
    with ctx.db.read() as s:
        ids = list(s.scalars(select(Conversation.id)))
        sent: dict[int, list[Any]] = {}
        for cid, at in s.execute(select(Message.conversation_id, Message.sent_at)):
            sent.setdefault(cid, []).append(at)
        for conv in s.scalars(select(Conversation)):
            assert (conv.first_message_at, conv.last_message_at) == (
                min(sent[conv.id]),
                max(sent[conv.id]),
            ), conv.external_id
    ctx.db.write(lambda s: sla.recompute(s, ctx.settings, ids, cause="check"))
    assert _snapshot(ctx) == before


def test_same_clocks_whatever_the_batch_size(ctx: Context) -> None:
    """One batch (everything replayed from memory) and batches of one (every message after the
    first replayed from the database) store the same clocks and log the final state alike."""
    agents.add_agent(ctx, "root", "alice", "Alice Agent", "agent", None)
    records = _workload()
    one = Context(db=ctx.db, settings=replace(ctx.settings, intake_batch=1000), now=ctx.now)
    assert ingest(one, *records).rejects == []
    # the same workload again under other ids, one record a transaction
    renamed = [_rename(r) for r in records]
    single = Context(db=ctx.db, settings=replace(ctx.settings, intake_batch=1), now=ctx.now)
    assert ingest(single, *renamed).rejects == []
    _convs, clocks, events = _snapshot(ctx)

    with ctx.db.read() as s:
        ext = dict(s.execute(select(Conversation.id, Conversation.external_id)).all())
        msg = dict(s.execute(select(Message.id, Message.external_id)).all())

    def split(rows: list[Any], conv_at: int, msg_at: tuple[int, ...]) -> tuple[list[Any], ...]:
        """Rows of the original and of the renamed copy, with ids replaced by external ids
        (the copy's prefix removed) so that both can be compared."""
        a, b = [], []
        for row in rows:
            row = list(row)
            key = ext[row[conv_at]]
            row[conv_at] = key.replace("flag:z", "flag:").removeprefix("z")
            for i in msg_at:
                if row[i] is not None:
                    row[i] = (msg[row[i]] or "").removeprefix("z")
            for i, value in enumerate(row):
                if isinstance(value, str):
                    row[i] = re.sub(r"#\d+", "#", value.replace("message z", "message "))
            (b if key.startswith(("z", "flag:z")) else a).append(tuple(row))
        return sorted(a, key=repr), sorted(b, key=repr)

    names = list(_CLOCK_FIELDS)
    at_conv, at_msgs = (
        names.index("conversation_id"),
        (
            names.index("start_message_id"),
            names.index("stop_message_id"),
        ),
    )
    original, copy = split(clocks, at_conv, at_msgs)
    assert original and original == copy
    ev_names = list(_EVENT_FIELDS)
    original, copy = split([e[1:] for e in events], ev_names.index("conversation_id") - 1, ())
    # the log is append-only: one record at a time it also keeps what intermediate states
    # said (a start that a late message moved earlier), but every line of the final state
    assert original and set(original) <= set(copy)


def _rename(rec: dict[str, Any]) -> dict[str, Any]:
    rec = dict(rec)
    kind = rec.get("type", "message")
    if kind == "listing":
        return {**rec, "id": "z" + rec["id"]}
    rec["id"] = "z" + rec["id"]
    if kind == "message":
        rec["conversation"] = "z" + rec["conversation"]
        if rec.get("listing"):
            rec["listing"] = "z" + rec["listing"]
    elif kind == "feedback":
        rec["conversation"] = "z" + rec["conversation"]
    elif kind == "flag":
        ((target_type, target_id),) = rec["target"].items()
        rec["target"] = {target_type: "z" + target_id}
    return rec
