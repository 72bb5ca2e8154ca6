"""SLA policies: the business defaults, [sla] config tables and their errors, durations."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk_tui.sla.policy import (
    DEFAULT_POLICY,
    HOUR,
    Policy,
    Rule,
    format_duration,
    parse_duration,
)

# -- defaults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["user_admin", "issue_report"])
@pytest.mark.parametrize(
    ("priority", "hours"), [("urgent", 1), ("high", 4), ("normal", 24), ("low", 24)]
)
def test_default_response_targets(kind: str, priority: str, hours: int) -> None:
    for target in ("first_response", "next_response"):
        assert DEFAULT_POLICY.rule(kind, priority, target) == Rule(hours * HOUR)
    assert DEFAULT_POLICY.rule(kind, priority, "resolution") == Rule(
        24 * HOUR, pause_when_pending=True
    )


@pytest.mark.parametrize("priority", ["urgent", "high", "normal", "low"])
def test_default_seller_and_moderation_targets(priority: str) -> None:
    assert DEFAULT_POLICY.rule("buyer_seller", priority, "seller_reply") == Rule(4 * HOUR)
    assert DEFAULT_POLICY.rule("flag", priority, "moderation") == Rule(12 * HOUR)
    assert DEFAULT_POLICY.rule("buyer_seller", priority, "resolution") is None
    assert DEFAULT_POLICY.rule("flag", priority, "first_response") is None


def test_default_knobs() -> None:
    assert DEFAULT_POLICY.at_risk_fraction == 0.25
    assert DEFAULT_POLICY.reopen_window_s == 7 * 86400
    assert Policy.from_config({}) == DEFAULT_POLICY


def test_describe_names_the_rule_and_the_policy_version() -> None:
    text = DEFAULT_POLICY.describe("user_admin", "urgent", "first_response")
    assert text.startswith("user_admin/urgent first_response 1h calendar")
    assert DEFAULT_POLICY.version in text and len(DEFAULT_POLICY.version) == 8
    assert DEFAULT_POLICY.describe("flag", "low", "resolution") == "flag/low resolution"


# -- from_config ---------------------------------------------------------------------------------


def test_rules_override_defaults_for_the_named_kinds_and_priorities() -> None:
    policy = Policy.from_config(
        {
            "at_risk": 0.5,
            "reopen_window": "3d",
            "rule": [
                {
                    "kinds": ["user_admin"],
                    "target": "first_response",
                    "priorities": ["urgent", "high"],
                    "duration": "30m",
                    "clock": "business",
                },
                {"kind": "buyer_seller", "target": "seller_reply", "duration": "2h"},
            ],
        }
    )
    assert policy.at_risk_fraction == 0.5 and policy.reopen_window_s == 3 * 86400
    assert policy.rule("user_admin", "urgent", "first_response") == Rule(1800, business=True)
    assert policy.rule("user_admin", "high", "first_response") == Rule(1800, business=True)
    assert policy.rule("user_admin", "normal", "first_response") == Rule(24 * HOUR)
    assert policy.rule("issue_report", "urgent", "first_response") == Rule(HOUR)
    for priority in ("urgent", "high", "normal", "low"):
        assert policy.rule("buyer_seller", priority, "seller_reply") == Rule(2 * HOUR)
    assert policy.version != DEFAULT_POLICY.version


def test_later_rules_win() -> None:
    policy = Policy.from_config(
        {
            "rule": [
                {"kinds": ["flag"], "target": "moderation", "duration": "6h"},
                {"kinds": ["flag"], "target": "moderation", "duration": "2h"},
            ]
        }
    )
    assert policy.rule("flag", "normal", "moderation") == Rule(2 * HOUR)


def test_resolution_rules_pause_by_default_and_can_opt_out() -> None:
    pausing = Policy.from_config(
        {"rule": [{"kinds": ["issue_report"], "target": "resolution", "duration": "48h"}]}
    )
    assert pausing.rule("issue_report", "low", "resolution") == Rule(
        48 * HOUR, pause_when_pending=True
    )
    plain = Policy.from_config(
        {
            "rule": [
                {
                    "kinds": ["issue_report"],
                    "target": "resolution",
                    "duration": "48h",
                    "pause": False,
                }
            ]
        }
    )
    assert plain.rule("issue_report", "low", "resolution") == Rule(48 * HOUR)


def test_same_config_same_version() -> None:
    raw: dict[str, Any] = {"rule": [{"kinds": ["flag"], "target": "moderation", "duration": "1h"}]}
    assert Policy.from_config(raw).version == Policy.from_config(raw).version


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param({"at_risk": 0}, "between 0 and 1", id="at_risk_0"),
        pytest.param({"at_risk": 1.5}, "between 0 and 1", id="at_risk_big"),
        pytest.param({"reopen_window": "soon"}, "bad duration", id="bad_window"),
        pytest.param(
            {"rule": [{"kinds": ["user_admin"], "target": "first_response"}]},
            "sla.rule #1: duration is required",
            id="no_duration",
        ),
        pytest.param(
            {"rule": [{"kinds": ["user_admin"], "target": "lunch", "duration": "1h"}]},
            "sla.rule #1: target must be one of",
            id="bad_target",
        ),
        pytest.param(
            {"rule": [{"kinds": ["chat"], "target": "first_response", "duration": "1h"}]},
            "'chat' is not one of",
            id="bad_kind",
        ),
        pytest.param(
            {"rule": [{"target": "first_response", "duration": "1h"}]},
            "name at least one",
            id="no_kinds",
        ),
        pytest.param(
            {
                "rule": [
                    {
                        "kinds": ["user_admin"],
                        "priorities": ["asap"],
                        "target": "first_response",
                        "duration": "1h",
                    }
                ]
            },
            "'asap' is not one of",
            id="bad_priority",
        ),
        pytest.param(
            {
                "rule": [
                    {
                        "kinds": ["user_admin"],
                        "target": "first_response",
                        "duration": "1h",
                        "clock": "wall",
                    }
                ]
            },
            "clock must be 'calendar' or 'business'",
            id="bad_clock",
        ),
        pytest.param(
            {
                "rule": [
                    {"kinds": ["flag"], "target": "moderation", "duration": "1h"},
                    {"kinds": ["flag"], "target": "moderation", "duration": "1h", "hours": 3},
                ]
            },
            "sla.rule #2: unknown key 'hours'",
            id="unknown_key_second_rule",
        ),
        pytest.param(
            {"rule": [{"kinds": ["flag"], "target": "moderation", "duration": "fast"}]},
            "bad duration 'fast'",
            id="bad_rule_duration",
        ),
    ],
)
def test_config_errors_say_where_and_what(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Policy.from_config(raw)
    assert message in str(info.value)


# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("45s", 45),
        ("90m", 5400),
        ("90min", 5400),
        ("4h", 4 * HOUR),
        ("1.5h", 5400),
        (" 2 h ", 2 * HOUR),
        ("7d", 7 * 86400),
        ("2w", 14 * 86400),
        (3600, 3600),
        (2.5, 2),
    ],
)
def test_parse_duration(text: str | int | float, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "4 hours", "-1h", "4h30m", "1e3s", "four"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (5400, "1h 30m"),
        (HOUR, "1h"),
        (4 * HOUR, "4h"),
        (86400 + 3 * HOUR + 5 * 60, "1d 3h"),
        (-25 * 60, "-25m"),
        (-(2 * HOUR + 1), "-2h"),
        (59.9, "59s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [60, 3600, 4 * 3600, 86400, 7 * 86400, 90 * 60])
def test_format_then_parse_round_trips_whole_units(seconds: int) -> None:
    text = format_duration(seconds)
    total = sum(parse_duration(part) for part in text.split())
    assert total == seconds


@pytest.mark.parametrize("value", [-1, -3600, -0.5, float("nan"), float("inf")])
def test_parse_duration_rejects_negative_and_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(value)


def test_negative_rule_duration_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="bad duration"):
        Policy.from_config(
            {"rule": [{"kinds": ["flag"], "target": "moderation", "duration": -3600}]}
        )
