"""Intake through services.intake.Intake on SQLite and PostgreSQL: good, duplicate and bad lines,
partial files, whole-or-nothing records, attachments and concurrent intake."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from db.engine import open_database
from db.enums import Kind, MessageRole, Status
from db.models import (
    Agent,
    Attachment,
    Conversation,
    Feedback,
    Flag,
    Listing,
    Message,
    Party,
    SlaClock,
)
from helpdesk_tui.services import agents
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from tests.factories import (
    PNG,
    at,
    attachment,
    conversation,
    count,
    feedback,
    flag,
    ingest,
    line,
    listing,
    message,
    messages,
)


def with_settings(ctx: Context, **changes: object) -> Context:
    return Context(db=ctx.db, settings=replace(ctx.settings, **changes), now=ctx.now)


def table_counts(ctx: Context) -> dict[str, int]:
    return {
        m.__name__: count(ctx, m)
        for m in (Party, Listing, Conversation, Message, Attachment, Feedback, Flag, SlaClock)
    }


# -- good lines ----------------------------------------------------------------------------------


def test_good_records_of_every_type_land(ctx: Context) -> None:
    run = ingest(
        ctx,
        listing("L-1", seller="u-9", category="vehicles"),
        message(
            "m-1",
            "c-1",
            sender="u-1",
            subject="Cannot log in",
            priority="high",
            category="account",
        ),
        message("m-2", "c-2", sender="u-2", role="buyer", kind="buyer_seller", listing="L-1"),
        feedback("f-1", "c-1", rating=4, nps=8, comment="quick"),
        flag("fl-1", {"message": "m-1"}, reason="abuse", reporter="u-3"),
    )
    assert run.rejects == []
    assert run.summary.as_dict() == {"accepted": 5, "duplicates": 0, "rejected": 0}

    with ctx.db.read() as s:
        lst = s.scalar(select(Listing).where(Listing.external_id == "L-1"))
        assert lst is not None
        assert lst.seller.external_id == "u-9"
        assert lst.category == "vehicles"
        assert lst.active and lst.messaging_enabled

    c1 = conversation(ctx, "c-1")
    assert (c1.kind, c1.subject, c1.priority, c1.category) == (
        "user_admin",
        "Cannot log in",
        "high",
        "account",
    )
    assert c1.status == Status.NEW.value and c1.is_open
    assert c1.first_message_at == at(0)
    (m1,) = messages(ctx, "c-1")
    assert m1.role == MessageRole.CUSTOMER.value and m1.body == "body of m-1"
    assert m1.sent_at == at(0) and not m1.internal

    c2 = conversation(ctx, "c-2")
    assert c2.kind == Kind.BUYER_SELLER.value
    with ctx.db.read() as s:
        c2 = s.get(Conversation, c2.id)
        assert c2 is not None and c2.listing is not None and c2.counterpart is not None
        assert c2.listing.external_id == "L-1"
        assert c2.counterpart.external_id == "u-9"  # the listing's seller
        fb = s.scalar(select(Feedback).where(Feedback.external_id == "f-1"))
        assert fb is not None and (fb.rating, fb.nps, fb.comment) == (4, 8, "quick")
        assert fb.conversation_id == c1.id
        fl = s.scalar(select(Flag).where(Flag.external_id == "fl-1"))
        assert fl is not None and fl.reason == "abuse" and fl.target_message_id == m1.id
        assert fl.conversation_id is not None
        flag_conv = s.get(Conversation, fl.conversation_id)
        assert flag_conv is not None and flag_conv.kind == Kind.FLAG.value


def test_flag_targets_listing_and_party(ctx: Context) -> None:
    run = ingest(
        ctx,
        listing("L-1", seller="u-9"),
        flag("fl-1", {"listing": "L-1"}),
        flag("fl-2", {"party": "u-9"}),
    )
    assert run.rejects == [] and run.summary.accepted == 3
    with ctx.db.read() as s:
        flags = {f.external_id: f for f in s.scalars(select(Flag))}
        lst = s.scalar(select(Listing))
        assert lst is not None
        assert flags["fl-1"].target_listing_id == lst.id
        assert flags["fl-2"].target_party_id == lst.seller_id


def test_agent_message_imports_history_and_opens_the_conversation(ctx: Context) -> None:
    agents.add_agent(ctx, "root", "alice", "Alice A", "agent", None)
    run = ingest(
        ctx,
        message("m-1", "c-1", sent_at=0),
        message("m-2", "c-1", sender="alice", role="agent", kind=None, sent_at=10),
    )
    assert run.rejects == []
    msgs = messages(ctx, "c-1")
    assert [m.role for m in msgs] == ["customer", "agent"]
    assert msgs[1].author_name == "Alice A"
    with ctx.db.read() as s:
        alice = s.scalar(select(Agent).where(Agent.username == "alice"))
        assert alice is not None and msgs[1].author_agent_id == alice.id
    assert conversation(ctx, "c-1").status == Status.OPEN.value


# -- duplicates ----------------------------------------------------------------------------------


def _a_file() -> list[dict[str, object]]:
    return [
        listing("L-1"),
        message("m-1", "c-1"),
        message("m-2", "c-2", role="buyer", kind="buyer_seller", listing="L-1"),
        feedback("f-1", "c-1"),
        flag("fl-1", {"listing": "L-1"}),
    ]


def test_same_file_twice_changes_nothing(ctx: Context) -> None:
    first = ingest(ctx, *_a_file())
    assert first.summary.accepted == 5
    before = table_counts(ctx)
    second = ingest(ctx, *_a_file())
    assert second.summary.as_dict() == {"accepted": 0, "duplicates": 5, "rejected": 0}
    assert table_counts(ctx) == before


def test_same_id_twice_in_one_file_lands_once(ctx: Context) -> None:
    run = ingest(
        ctx,
        message("m-1", body="first"),
        message("m-1", body="second copy"),
        listing("L-1"),
        listing("L-1", title="changed"),
        feedback("f-1"),
        feedback("f-1", rating=1),
        flag("fl-1"),
        flag("fl-1"),
    )
    assert run.summary.as_dict() == {"accepted": 4, "duplicates": 4, "rejected": 0}
    assert count(ctx, Listing) == 1 and count(ctx, Feedback) == 1 and count(ctx, Flag) == 1
    with ctx.db.read() as s:
        assert s.scalar(select(Message.body).where(Message.external_id == "m-1")) == "first"
        assert s.scalar(select(Listing.title)) == "Listing L-1"
        assert s.scalar(select(Feedback.rating)) == 5


# -- bad lines -----------------------------------------------------------------------------------

SURROGATE_LINE = (
    b'{"id":"m-x","conversation":"c-x","kind":"user_admin","from":{"id":"u-1","role":"user"},'
    b'"body":"bad \\ud800 here","sent_at":"2026-03-02T09:00:00+02:00"}'
)
NUL_LINE = SURROGATE_LINE.replace(b"\\ud800", b"\\u0000")
INVALID_UTF8_LINE = SURROGATE_LINE.replace(b"\\ud800", b"\xff\xfe")

BAD_LINES: list[tuple[str, bytes | dict[str, object], str]] = [
    ("invalid_json", b'{"id": "m-x", "conversation": ', "not valid JSON"),
    ("non_object", b'["m-x", "c-x"]', "JSON object"),
    ("non_object_string", b'"just a string"', "JSON object"),
    ("unknown_type", {**message("m-x"), "type": "ticket"}, "unknown type 'ticket'"),
    ("unknown_key", {**message("m-x"), "colour": "red"}, "'colour'"),
    (
        "unknown_nested_key",
        {**message("m-x"), "from": {"id": "u-1", "role": "user", "foo": 1}},
        "'foo'",
    ),
    ("unknown_listing_key", {**listing("L-x"), "price": 5}, "'price'"),
    (
        "unknown_attachment_key",
        message("m-x", attachments=[{**attachment("a.txt", b"x"), "mime": "text/plain"}]),
        "'mime'",
    ),
    ("naive_time", {**message("m-x"), "sent_at": "2026-03-02T09:00:00"}, "offset"),
    ("far_future_time", {**message("m-x"), "sent_at": "9999-12-31T00:00:00Z"}, "out of range"),
    ("deeply_nested", b"[" * 100_000, "nested too deeply"),
    ("type_not_hashable", b'{"type": {"a": 1}}', "unknown type"),
    ("bad_time", {**message("m-x"), "sent_at": "yesterday"}, "ISO 8601"),
    (
        "missing_conversation",
        {k: v for k, v in message("m-x").items() if k != "conversation"},
        "'conversation'",
    ),
    ("missing_id", {k: v for k, v in message("m-x").items() if k != "id"}, "'id'"),
    ("missing_from", {k: v for k, v in message("m-x").items() if k != "from"}, "'from'"),
    ("bad_role", message("m-x", role="admin"), "role"),
    ("bad_kind", message("m-x", kind="chat"), "'kind'"),
    ("bad_priority", message("m-x", priority="asap"), "'priority'"),
    ("nul_in_string", NUL_LINE, "NUL"),
    ("lone_surrogate", SURROGATE_LINE, "surrogate"),
    ("invalid_utf8", INVALID_UTF8_LINE, "UTF-8"),
    ("new_conversation_without_kind", message("m-x", "c-new", kind=None), "needs 'kind'"),
    (
        "buyer_seller_without_listing",
        message("m-x", "c-new", role="buyer", kind="buyer_seller"),
        "listing",
    ),
    ("unknown_listing", message("m-x", "c-new", listing="L-nope"), "unknown listing 'L-nope'"),
    ("feedback_unknown_conversation", feedback("f-x", "c-nope"), "unknown conversation"),
    ("feedback_rating_out_of_range", feedback("f-x", "c-1", rating=6), "'rating'"),
    ("feedback_without_scores", feedback("f-x", "c-1", rating=None, nps=None), "rating"),
    ("flag_unknown_message", flag("fl-x", {"message": "m-nope"}), "unknown message"),
    ("flag_unknown_listing", flag("fl-x", {"listing": "L-nope"}), "unknown listing"),
    ("flag_unknown_party", flag("fl-x", {"party": "u-nope"}), "unknown party"),
    ("flag_bad_target", flag("fl-x", {"post": "p-1"}), "target"),
    (
        "agent_unknown_username",
        message("m-x", "c-1", sender="ghost", role="agent", kind=None),
        "unknown agent 'ghost'",
    ),
    (
        "agent_starts_conversation",
        message("m-x", "c-new", sender="alice", role="agent"),
        "conversation 'c-new' is unknown",
    ),
    ("bad_base64", message("m-x", attachments=[{"name": "a", "content_base64": "!!"}]), "base64"),
    ("too_long_id", message("m-" + "x" * 300), "'id'"),
    ("too_long_subject", message("m-x", "c-new", subject="s" * 600), "'subject'"),
    (
        "too_long_name",
        message("m-x", "c-new", **{"from": {"id": "u-5", "role": "user", "name": "n" * 400}}),
        "'name'",
    ),
    ("too_long_flag_id", flag("fl-" + "x" * 200, {"listing": "L-1"}), "'id'"),
]


def test_every_kind_of_bad_line_is_rejected_and_good_lines_land(ctx: Context) -> None:
    """One file: each bad line is followed by a good one. Every bad line is reported with its
    number, its reason and its raw bytes; every good line lands; the bad ones leave nothing."""
    agents.add_agent(ctx, "root", "alice", "Alice", "agent", None)
    before = ingest(ctx, listing("L-1"), message("m-0", "c-1", sent_at=0))
    assert before.rejects == []
    snapshot = table_counts(ctx)

    lines: list[bytes | dict[str, object]] = []
    for i, (_name, bad, _expected) in enumerate(BAD_LINES):
        lines += [bad, message(f"g-{i}", "c-1", sent_at=i + 1, kind=None)]
    run = ingest(ctx, *lines)

    n = len(BAD_LINES)
    assert run.summary.as_dict() == {"accepted": n, "duplicates": 0, "rejected": n}
    got = {number: (raw, reason) for number, raw, reason in run.rejects}
    assert sorted(got) == [2 * i + 1 for i in range(n)]
    for i, (name, bad, expected) in enumerate(BAD_LINES):
        raw, reason = got[2 * i + 1]
        assert raw == line(bad), name  # verbatim, for --rejects
        assert expected in reason, f"{name}: {reason!r}"
        assert "\n" not in reason and len(reason) < 300, name
    after = table_counts(ctx)
    assert after["Message"] == snapshot["Message"] + n
    for model in ("Conversation", "Party", "Listing", "Feedback", "Flag", "Attachment"):
        assert after[model] == snapshot[model], model
    assert {m.external_id for m in messages(ctx)} == {"m-0"} | {f"g-{i}" for i in range(n)}


def test_body_and_attachment_over_the_limits_are_rejected(ctx: Context) -> None:
    small = with_settings(ctx, body_limit_bytes=100, attachment_limit_bytes=16)
    run = ingest(
        small,
        message("m-1", body="é" * 50, attachments=[attachment("ok.bin", b"x" * 16)]),  # 100 B
        message("m-2", "c-2", body="é" * 50 + "x"),  # 101 bytes
        message("m-3", "c-3", attachments=[attachment("big.bin", b"x" * 17)]),
    )
    assert run.summary.as_dict() == {"accepted": 1, "duplicates": 0, "rejected": 2}
    reasons = run.reasons
    assert sorted(reasons) == [2, 3]
    assert "101 bytes" in reasons[2] and "100" in reasons[2]
    assert "limit" in reasons[3] and "16" in reasons[3]
    assert count(small, Attachment) == 1
    assert [m.external_id for m in messages(ctx)] == ["m-1"]


def test_partial_file_last_line_truncated(ctx: Context, tmp_path: Path) -> None:
    """A real file (CRLF line ends, blank lines) whose writer died mid-record: the complete
    lines land, blank lines are skipped, the truncated last line is rejected."""
    truncated = line(message("m-3", "c-3"))[:37]
    path = tmp_path / "feed.jsonl"
    path.write_bytes(
        b"\r\n".join(
            [line(listing("L-1")), b"", line(message("m-1")), b"  ", line(message("m-2", "c-2"))]
        )
        + b"\r\n"
        + truncated
    )
    rejects: list[tuple[int, bytes, str]] = []
    with path.open("rb") as fh:
        summary = Intake(ctx, lambda n, raw, why: rejects.append((n, raw, why))).run(fh)
    assert summary.as_dict() == {"accepted": 3, "duplicates": 0, "rejected": 1}
    assert [(n, raw) for n, raw, _ in rejects] == [(6, truncated)]
    assert "not valid JSON" in rejects[0][2]
    assert {m.external_id for m in messages(ctx)} == {"m-1", "m-2"}


# -- a record lands whole or not at all -----------------------------------------------------------


def test_rejected_records_leave_no_trace(ctx: Context) -> None:
    ingest(ctx, listing("L-1"))
    snapshot = table_counts(ctx)
    run = ingest(
        ctx,
        # new party u-new and conversation c-new would be created, but the listing is unknown
        message("m-1", "c-new", sender="u-new", listing="L-nope"),
        # reporter u-rep would be created, but the target is unknown
        flag("fl-1", {"party": "u-nope"}, reporter="u-rep"),
        # attachment is fine, but the listing is unknown: the file may be stored, no row
        message(
            "m-2",
            "c-new2",
            sender="u-new2",
            role="buyer",
            kind="buyer_seller",
            listing="L-nope",
            attachments=[attachment("a.png", PNG)],
        ),
    )
    assert run.summary.rejected == 3
    assert table_counts(ctx) == snapshot
    with ctx.db.read() as s:
        assert s.scalars(select(Party.external_id)).all() == ["u-9"]


# -- attachments ---------------------------------------------------------------------------------


SANITISED_NAMES = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/report.pdf", "report.pdf"),
    ("..", "attachment"),
    ("evil\u202egnp.exe", "evilgnp.exe"),
    ("a\x1b[31mred.txt", "a[31mred.txt"),
]


def test_attachments_sniffed_sanitised_and_stored_content_addressed(ctx: Context) -> None:
    text = b"plain receipt text\n"
    odd = [attachment(name, f"file {i}".encode()) for i, (name, _) in enumerate(SANITISED_NAMES)]
    run = ingest(
        ctx,
        message("m-1", attachments=[attachment("x.txt", PNG), attachment("notes.png", text)]),
        message("m-2", "c-2", attachments=[attachment("again.png", PNG), *odd]),
    )
    assert run.rejects == []
    with ctx.db.read() as s:
        atts = s.scalars(select(Attachment).order_by(Attachment.id)).all()
        s.expunge_all()
    # MIME type from the content, never from the name
    assert [(a.name, a.mime_type, a.size) for a in atts[:3]] == [
        ("x.txt", "image/png", len(PNG)),
        ("notes.png", "text/plain", len(text)),
        ("again.png", "image/png", len(PNG)),
    ]
    assert [a.name for a in atts[3:]] == [expected for _, expected in SANITISED_NAMES]
    root = ctx.settings.attachment_dir.resolve()
    contents = [PNG, text, PNG] + [f"file {i}".encode() for i in range(len(SANITISED_NAMES))]
    for a, content in zip(atts, contents, strict=True):
        digest = hashlib.sha256(content).hexdigest()
        assert a.sha256 == digest
        stored = (root / a.stored_path).resolve()
        assert stored.is_relative_to(root)
        assert digest in stored.name
        assert stored.read_bytes() == content
        assert "/" not in a.name and "\\" not in a.name
    # content-addressed: the PNG sent twice is stored once
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == len(set(contents))
    assert not (ctx.settings.data_dir.parent / "etc").exists()


# -- concurrency ---------------------------------------------------------------------------------


def test_threads_two_intakes_of_the_same_file_store_each_record_once(ctx: Context) -> None:
    records = [listing(f"L-{i}", seller=f"s-{i % 3}") for i in range(5)]
    for i in range(40):
        records.append(
            message(
                f"m-{i}",
                f"c-{i % 10}",
                sender=f"u-{i % 7}",
                sent_at=i,
                kind="user_admin",
                attachments=[attachment("same.png", PNG)] if i % 5 == 0 else [],
            )
        )
    records += [feedback(f"f-{i}", f"c-{i}") for i in range(3)]
    records += [flag(f"fl-{i}", {"listing": f"L-{i}"}) for i in range(3)]
    lines = [line(r) + b"\n" for r in records]
    fast = with_settings(ctx, intake_batch=7)

    results: list[object] = []
    barrier = threading.Barrier(2)

    def worker(own_engine: bool) -> None:
        # the second intake has its own engine and pool, as a second process would
        db = open_database(ctx.db.url) if own_engine else ctx.db
        try:
            intake = Intake(
                Context(db=db, settings=fast.settings, now=ctx.now),
                lambda n, raw, why: results.append((n, why)),
            )
            barrier.wait()
            results.append(intake.run(lines))
        except BaseException as exc:  # surfaced below
            results.append(exc)
        finally:
            if own_engine:
                db.dispose()

    threads = [threading.Thread(target=worker, args=(i == 1,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    summaries = [r for r in results if hasattr(r, "accepted")]
    assert len(summaries) == 2, results
    assert sum(s.accepted for s in summaries) == len(records)  # type: ignore[attr-defined]
    assert sum(s.duplicates for s in summaries) == len(records)  # type: ignore[attr-defined]
    assert sum(s.rejected for s in summaries) == 0  # type: ignore[attr-defined]
    assert count(ctx, Message) == 40 + 3  # 3 flag reports
    assert count(ctx, Listing) == 5
    assert count(ctx, Conversation) == 10 + 3
    assert count(ctx, Party) == 3 + 7  # sellers, users (the flag reporter u-2 is one)
    assert count(ctx, Feedback) == 3 and count(ctx, Flag) == 3
    assert count(ctx, Attachment) == 8
    files = [p for p in ctx.settings.attachment_dir.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [PNG]
