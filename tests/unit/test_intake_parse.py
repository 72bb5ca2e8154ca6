"""Pure tests of one intake line -> a record or a one-line reason (no database)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk_tui.services import intake_parse
from helpdesk_tui.services.intake_parse import (
    FeedbackIn,
    FlagIn,
    Limits,
    ListingIn,
    MessageIn,
    Rejected,
    parse_line,
    sanitize_filename,
)

LIMITS = Limits()


def msg(**changes: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": "m-1",
        "conversation": "c-1",
        "kind": "user_admin",
        "subject": "Help",
        "from": {"id": "u-1", "role": "user", "name": "Ann", "verified": True},
        "body": "hello",
        "sent_at": "2026-03-02T09:15:00+02:00",
    }
    for key, value in changes.items():
        if value is None:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


def parse(record: dict[str, Any] | bytes, limits: Limits = LIMITS, line: int = 7) -> Any:
    raw = record if isinstance(record, bytes) else json.dumps(record).encode()
    return parse_line(raw, line, limits)


def reason(record: dict[str, Any] | bytes, limits: Limits = LIMITS) -> str:
    with pytest.raises(Rejected) as info:
        parse(record, limits)
    text = str(info.value)
    assert "\n" not in text
    return text


# -- good records ---------------------------------------------------------------------------------


def test_message_defaults_to_type_message_and_keeps_the_offset() -> None:
    rec = parse(msg(priority="high", category="account"))
    assert isinstance(rec, MessageIn)
    assert rec.line == 7
    assert (rec.id, rec.conversation, rec.kind, rec.priority, rec.category) == (
        "m-1",
        "c-1",
        "user_admin",
        "high",
        "account",
    )
    assert rec.sender.id == "u-1" and rec.sender.verified is True and rec.sender_role == "user"
    assert rec.sent_at == datetime(2026, 3, 2, 7, 15, tzinfo=UTC)
    assert rec.sent_at.utcoffset() == timedelta(hours=2)


def test_z_suffix_is_utc() -> None:
    rec = parse(msg(sent_at="2026-03-02T07:15:00Z"))
    assert rec.sent_at == datetime(2026, 3, 2, 7, 15, tzinfo=timezone.utc)  # noqa: UP017


def test_follow_up_message_needs_no_kind_and_may_have_an_empty_body() -> None:
    rec = parse(msg(kind=None, subject=None, body=""))
    assert rec.kind is None and rec.subject is None and rec.body == ""


def test_listing_feedback_and_flag_records() -> None:
    listing = parse(
        {
            "type": "listing",
            "id": "L-1",
            "title": "Bakkie",
            "seller": {"id": "u-9", "name": "Sipho"},
            "active": False,
            "messaging": True,
            "created_at": "2026-03-01T08:00:00+02:00",
        }
    )
    assert isinstance(listing, ListingIn)
    assert (listing.id, listing.title, listing.seller.id, listing.active) == (
        "L-1",
        "Bakkie",
        "u-9",
        False,
    )
    fb = parse(
        {
            "type": "feedback",
            "id": "f-1",
            "conversation": "c-1",
            "nps": 0,
            "submitted_at": "2026-03-02T10:00:00+02:00",
        }
    )
    assert isinstance(fb, FeedbackIn) and fb.nps == 0 and fb.rating is None
    fl = parse(
        {
            "type": "flag",
            "id": "fl-1",
            "target": {"party": "u-3"},
            "reason": "spam",
            "reporter": "u-2",
            "flagged_at": "2026-03-02T10:00:00+02:00",
        }
    )
    assert isinstance(fl, FlagIn) and (fl.target_type, fl.target_id) == ("party", "u-3")


def test_blank_line_is_not_a_record() -> None:
    assert parse(b"") is None
    assert parse(b"  \t ") is None


def test_attachment_is_decoded() -> None:
    content = b"\x89PNG\r\n\x1a\n"
    rec = parse(
        msg(
            attachments=[{"name": "../r.png", "content_base64": base64.b64encode(content).decode()}]
        )
    )
    (att,) = rec.attachments
    assert att.name == "r.png" and att.content == content


# -- bad records ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b'{"id": "m-1", ', "not valid JSON", id="truncated_json"),
        pytest.param(b"{'id': 'm-1'}", "not valid JSON", id="single_quotes"),
        pytest.param(b"[1, 2]", "a record must be a JSON object", id="array"),
        pytest.param(b"42", "a record must be a JSON object", id="number"),
        pytest.param(b"null", "a record must be a JSON object", id="null"),
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep_array"),
        pytest.param(b'{"a":' * 50_000, "not valid JSON", id="deep_object"),
        pytest.param(b'{"type": {"a": 1}}', "unknown type {'a': 1}", id="type_object"),
        pytest.param(b'{"type": [1]}', "unknown type [1]", id="type_list"),
        pytest.param(b'{"id":"m-1","body":"\xff"}', "invalid UTF-8 at byte 20", id="bad_utf8"),
        pytest.param(b"\xef\xbb\xbf{}", "not valid JSON", id="bom"),
        pytest.param(
            json.dumps(msg(body="a\u0000b")).encode(), "'body' contains a NUL", id="nul_body"
        ),
        pytest.param(
            json.dumps(msg(subject="x\u0000")).encode(), "'subject' contains a NUL", id="nul_subj"
        ),
        pytest.param(
            json.dumps(msg(body="\ud800")).encode(), "'body' contains a lone surrogate", id="lone"
        ),
        pytest.param(
            json.dumps(msg(**{"from": {"id": "u-\udfff", "role": "user"}})).encode(),
            "lone surrogate",
            id="lone_in_from_id",
        ),
    ],
)
def test_raw_lines_rejected(raw: bytes, expected: str) -> None:
    assert expected in reason(raw)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(msg(type="ticket"), "unknown type 'ticket'", id="unknown_type"),
        pytest.param(msg(type=3), "unknown type 3", id="type_not_a_string"),
        pytest.param(msg(colour="red"), "unknown key 'colour'", id="unknown_key"),
        pytest.param(
            msg(**{"from": {"id": "u-1", "role": "user", "foo": 1}}), "foo", id="from.foo"
        ),
        pytest.param(msg(**{"from": "u-1"}), "'from' must be an object", id="from_string"),
        pytest.param(msg(sent_at="2026-03-02T09:15:00"), "no UTC offset", id="naive"),
        pytest.param(msg(sent_at="2026-03-02"), "no UTC offset", id="date_only"),
        pytest.param(msg(sent_at="soon"), "not an ISO 8601 time", id="not_a_time"),
        pytest.param(msg(sent_at=1700000000), "'sent_at' must be a string", id="epoch"),
        pytest.param(msg(sent_at="9999-12-31T00:00:00Z"), "out of range", id="year_9999"),
        pytest.param(msg(sent_at="0001-01-01T00:30:00+01:00"), "out of range", id="year_1"),
        pytest.param(msg(sent_at="1969-12-31T23:59:59Z"), "out of range", id="before_1970"),
        pytest.param(msg(id=None), "missing 'id'", id="missing_id"),
        pytest.param(msg(id=""), "'id' is empty", id="empty_id"),
        pytest.param(msg(id="  "), "'id' is empty", id="blank_id"),
        pytest.param(msg(id=5), "'id' must be a string", id="numeric_id"),
        pytest.param(msg(conversation=None), "missing 'conversation'", id="missing_conv"),
        pytest.param(msg(sent_at=None), "missing 'sent_at'", id="missing_sent_at"),
        pytest.param(msg(**{"from": {"role": "user"}}), "'id'", id="missing_from_id"),
        pytest.param(msg(**{"from": {"id": "u-1"}}), "'role'", id="missing_role"),
        pytest.param(msg(**{"from": {"id": "u-1", "role": "admin"}}), "role", id="bad_role"),
        pytest.param(
            msg(**{"from": {"id": "u-1", "role": "user", "verified": "yes"}}),
            "verified",
            id="verified_not_bool",
        ),
        pytest.param(msg(kind="chat"), "'kind' must be one of", id="bad_kind"),
        pytest.param(msg(kind="flag"), "'kind' must be one of", id="kind_flag_by_message"),
        pytest.param(msg(priority="asap"), "'priority' must be", id="bad_priority"),
        pytest.param(msg(body=["x"]), "'body' must be a string", id="body_list"),
        pytest.param(msg(attachments={}), "'attachments' must be a list", id="attachments_obj"),
        pytest.param(msg(attachments=["x"]), "attachment 1 must be an object", id="att_str"),
        pytest.param(
            msg(attachments=[{"name": "a", "content_base64": "@@@"}]),
            "not valid base64",
            id="bad_base64",
        ),
        pytest.param(
            msg(attachments=[{"name": "a", "content_base64": "", "size": 1}]),
            "size",
            id="att_unknown_key",
        ),
        pytest.param(msg(id="m" * 191), "over the limit of 190", id="long_id"),
        pytest.param(msg(subject="s" * 501), "'subject' is 501 characters", id="long_subject"),
        pytest.param(msg(category="c" * 101), "'category'", id="long_category"),
    ],
)
def test_message_records_rejected(record: dict[str, Any], expected: str) -> None:
    assert expected in reason(record)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param({"type": "listing", "id": "L-1"}, "'seller'", id="listing_no_seller"),
        pytest.param(
            {
                "type": "listing",
                "id": "L-1",
                "title": "t",
                "seller": {"id": "u"},
                "created_at": "2026-03-01T08:00:00+02:00",
                "active": "yes",
            },
            "'active' must be true or false",
            id="listing_active_str",
        ),
        pytest.param(
            {"type": "feedback", "id": "f", "conversation": "c", "submitted_at": "x"},
            "needs a 'rating'",
            id="feedback_no_scores",
        ),
        pytest.param(
            {"type": "feedback", "id": "f", "conversation": "c", "rating": 0},
            "'rating' must be a whole number from 1 to 5",
            id="rating_0",
        ),
        pytest.param(
            {"type": "feedback", "id": "f", "conversation": "c", "rating": 4.5},
            "'rating'",
            id="rating_float",
        ),
        pytest.param(
            {"type": "feedback", "id": "f", "conversation": "c", "rating": True},
            "'rating'",
            id="rating_bool",
        ),
        pytest.param(
            {"type": "feedback", "id": "f", "conversation": "c", "nps": 11},
            "'nps' must be a whole number from 0 to 10",
            id="nps_11",
        ),
        pytest.param(
            {"type": "flag", "id": "fl", "target": {"message": "m", "listing": "L"}},
            "'target' must be one of",
            id="flag_two_targets",
        ),
        pytest.param(
            {"type": "flag", "id": "fl", "target": {"post": "p"}},
            "unknown key target.'post'",
            id="flag_unknown_target",
        ),
        pytest.param(
            {"type": "flag", "id": "fl", "target": "m-1"},
            "'target' must be one of",
            id="flag_target_str",
        ),
        pytest.param(
            {
                "type": "flag",
                "id": "fl",
                "target": {"party": "u"},
                "reason": "spam",
                "reporter": "u-2",
                "flagged_at": "2026-03-02T10:00:00",
            },
            "no UTC offset",
            id="flag_naive",
        ),
    ],
)
def test_other_records_rejected(record: dict[str, Any], expected: str) -> None:
    assert expected in reason(record)


def test_body_limit_counts_utf8_bytes() -> None:
    limits = Limits(body_bytes=10)
    assert parse(msg(body="ü" * 5), limits).body == "ü" * 5  # 10 bytes
    assert "11 bytes, over the limit of 10" in reason(msg(body="ü" * 5 + "x"), limits)


def test_default_body_limit_is_64_kib() -> None:
    assert parse(msg(body="x" * 65536)).body
    assert "over the limit of 65536" in reason(msg(body="x" * 65537))


def test_attachment_limit() -> None:
    limits = Limits(attachment_bytes=8)
    ok = {"name": "a", "content_base64": base64.b64encode(b"12345678").decode()}
    big = {"name": "b", "content_base64": base64.b64encode(b"123456789").decode()}
    assert parse(msg(attachments=[ok]), limits).attachments[0].content == b"12345678"
    assert "attachment 2 is over the limit of 8 bytes" in reason(msg(attachments=[ok, big]), limits)


def test_huge_attachment_is_refused_before_decoding() -> None:
    limits = Limits(attachment_bytes=1024)
    assert "over the limit" in reason(
        msg(attachments=[{"name": "a", "content_base64": "A" * 100_000}]), limits
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("receipt.png", "receipt.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("/", "attachment"),
        ("..", "attachment"),
        (".bashrc", "bashrc"),
        ("a\x00b\x1b\x9bc.txt", "abc.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("x" * 300, "x" * 200),
        ("  spaced.txt  ", "spaced.txt"),
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(msg(**{"k" * 5000: 1}), id="huge_unknown_key"),
        pytest.param(msg(type="t" * 5000), id="huge_type"),
        pytest.param(msg(**{"\x1b]52;c;ZXZpbA==\x07": 1}), id="osc52_key"),
        pytest.param(msg(type="\x1b[2J\u202e"), id="csi_type"),
        pytest.param(
            {"type": "flag", "id": "fl", "target": {"\x1b[2J" + "x" * 5000: "m"}},
            id="hostile_flag_target",
        ),
        pytest.param(msg(sent_at="\x1b[2J" * 100), id="hostile_time"),
        pytest.param(msg(kind="\x9b2J" * 100), id="hostile_kind"),
    ],
)
def test_reasons_are_short_and_free_of_control_characters(record: dict[str, Any]) -> None:
    """Reasons go to stderr and into logs: hostile input must not reach the terminal."""
    text = reason(record)
    assert len(text) < 300
    assert text.isprintable(), repr(text)


# -- the one-pass check of the common message record ------------------------------------------
_TEXT_VALUES = [
    None,
    "",
    " ",
    "u-1",
    "x" * 100,
    "x" * 101,
    "x" * 190,
    "x" * 191,
    "x" * 200,
    "x" * 201,
    "x" * 500,
    "x" * 501,
    "agent",
    "seller",
    "urgent",
    "buyer_seller",
    "bogus",
    "2026-03-02T09:15:00+02:00",
    0,
    True,
    [],
    {},
    1.5,
    2**64,
    -(2**63) - 1,
    10**30,
]  # fmt: skip  (beyond 64 bits: floats to orjson)
_TEXT = st.sampled_from(_TEXT_VALUES) | st.text(max_size=6)
_TIMES = st.one_of(
    _TEXT,
    st.sampled_from(["2026-03-02T09:15:00Z", "2026-03-02T09:15:00", "2026-03-02 09:15+02:00",
                     "1969-12-31T23:00:00+00:00", "3000-01-01T00:00:00+00:00", "not a time"]),
)  # fmt: skip
_FIELDS = {
    "type": st.sampled_from(["message", "listing", 3]),
    "id": _TEXT, "conversation": _TEXT, "kind": _TEXT, "subject": _TEXT, "listing": _TEXT,
    "body": st.one_of(_TEXT, st.just("é" * 20_000)), "sent_at": _TIMES, "priority": _TEXT,
    "category": _TEXT, "attachments": st.sampled_from([[], None, [1], "x"]), "colour": _TEXT,
}  # fmt: skip


def _with_and_without_the_one_pass_check(rec: dict[str, Any]) -> tuple[object, object]:
    raw = json.dumps(rec).encode()

    def outcome() -> object:
        try:
            return parse_line(raw, 7, LIMITS)
        except Rejected as exc:
            return str(exc)

    with_shortcut = outcome()
    with patch.object(intake_parse, "_fast_message", lambda *_: None):
        return with_shortcut, outcome()


_DROP = object()


@given(
    st.dictionaries(st.sampled_from(sorted(_FIELDS)), st.none(), max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries({k: st.one_of(st.just(_DROP), _FIELDS[k]) for k in keys})
    ),
    st.dictionaries(
        st.sampled_from(["id", "role", "name", "verified", "email"]),
        st.one_of(st.just(_DROP), _TEXT),
        max_size=2,
    ),
    st.booleans(),
)
@settings(max_examples=1500, deadline=None)
def test_one_pass_check_accepts_exactly_what_the_full_validation_accepts(
    changes: dict[str, Any], sender_changes: dict[str, Any], odd_sender: bool
) -> None:
    """``parse_line`` tries a one-pass check on message records first: with or without it,
    every line gets the same record or the same reason. (A valid record with a few fields
    changed, dropped or added, so that both accepted and rejected lines are common.)"""
    rec = {k: v for k, v in {**msg(), **changes}.items() if v is not _DROP}
    sender = {k: v for k, v in {**rec["from"], **sender_changes}.items() if v is not _DROP}
    rec["from"] = "u-1" if odd_sender else sender
    with_shortcut, without = _with_and_without_the_one_pass_check(rec)
    assert with_shortcut == without
    if isinstance(without, MessageIn):
        assert without.sent_at.utcoffset() == with_shortcut.sent_at.utcoffset()  # type: ignore[union-attr]


def test_one_pass_check_every_single_change_of_a_valid_record() -> None:
    """Each field (and each sender field) of a valid record dropped or set to each of the
    boundary values: the same record or reason with and without the one-pass check."""
    values = [_DROP, *_TEXT_VALUES, "2026-03-02T09:15:00Z", "2026-03-02T09:15:00",
              "1969-12-31T23:00:00+00:00", "é" * 20_000, [1], "x"]  # fmt: skip
    for key in [*_FIELDS, "from.id", "from.role", "from.name", "from.verified", "from.email"]:
        for value in values:
            rec = msg()
            target, name = (rec["from"], key[5:]) if key.startswith("from.") else (rec, key)
            if value is _DROP:
                target.pop(name, None)
            else:
                target[name] = value
            with_shortcut, without = _with_and_without_the_one_pass_check(rec)
            assert with_shortcut == without, (key, value)


def test_the_common_message_record_takes_the_one_pass_check() -> None:
    rec = msg(priority="high", category="account", listing="L-1")
    fast = intake_parse._fast_message(rec, 7, LIMITS)
    assert fast is not None and fast == parse(rec)
    # escapes can hide a NUL or a lone surrogate: such lines always get the full validation
    for body in ("a\x00b", "a\ud800b"):
        with pytest.raises(Rejected, match="'body' contains"):
            parse(msg(body=body))
