"""SLA policies: per conversation kind, priority and target, a duration and a clock type."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from db.enums import Kind, Priority, Target

HOUR = 3600
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "min": 60, "h": HOUR, "d": 86400, "w": 7 * 86400, None: 1}


def parse_duration(text: str | int | float) -> int:
    """``"90m"``, ``"4h"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(text, int | float):
        if isinstance(text, bool) or not math.isfinite(text) or text < 0:
            raise ValueError(f"bad duration {text!r}: use a number of seconds >= 0 or e.g. '4h'")
        return int(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"bad duration {text!r}: use a number with s, m, h, d or w (e.g. '4h')")
    return int(float(match.group(1)) * _UNIT[match.group(2)])


def format_duration(seconds: float) -> str:
    """Seconds -> a short human string: ``1h``, ``4h``, ``90m``, ``2d 3h``."""
    s = int(abs(seconds))
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, HOUR)
    minutes, secs = divmod(rem, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    if not parts:
        parts = [f"{secs}s"]
    return ("-" if seconds < 0 else "") + " ".join(parts[:2])


@dataclass(frozen=True)
class Rule:
    """One target: how long, counted on the calendar or in business hours, paused when?"""

    seconds: int
    business: bool = False
    pause_when_pending: bool = False

    def describe(self) -> str:
        clock = "business" if self.business else "calendar"
        return f"{format_duration(self.seconds)} {clock}"


RuleKey = tuple[str, str, str]  # (kind, priority, target)


@dataclass(frozen=True)
class Policy:
    """Targets by (kind, priority, target), plus the at-risk share and the reopen window."""

    rules: Mapping[RuleKey, Rule]
    at_risk_fraction: float = 0.25
    reopen_window_s: int = 7 * 86400
    version: str = field(default="")
    #: describe() memo: the policy never changes, and clocks describe it for every clock.
    _described: dict[RuleKey, str] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def rule(self, kind: str, priority: str, target: str) -> Rule | None:
        return self.rules.get((kind, priority, target))

    def describe(self, kind: str, priority: str, target: str) -> str:
        key = (kind, priority, target)
        text = self._described.get(key)
        if text is None:
            rule = self.rule(kind, priority, target)
            where = f"{kind}/{priority} {target}"
            text = f"{where} {rule.describe()} (policy {self.version})" if rule else where
            self._described[key] = text
        return text

    @classmethod
    def build(
        cls,
        rules: Mapping[RuleKey, Rule],
        at_risk_fraction: float = 0.25,
        reopen_window_s: int = 7 * 86400,
    ) -> Policy:
        digest = hashlib.sha256(
            json.dumps(
                sorted(
                    (list(k), r.seconds, r.business, r.pause_when_pending) for k, r in rules.items()
                )
            ).encode()
        ).hexdigest()[:8]
        return cls(dict(rules), at_risk_fraction, reopen_window_s, digest)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Policy:
        """Defaults overridden by ``[[sla.rule]]`` tables (later rules win)::

        [sla]
        at_risk = 0.25
        reopen_window = "7d"
        [[sla.rule]]
        kinds = ["user_admin", "issue_report"]
        target = "first_response"
        priorities = ["urgent"]      # optional: all priorities
        duration = "30m"
        clock = "business"           # or "calendar"
        """
        rules = dict(default_rules())
        for i, raw in enumerate(data.get("rule", []), start=1):
            rules.update(_rules_from_table(raw, i))
        at_risk = float(data.get("at_risk", 0.25))
        if not 0 < at_risk < 1:
            raise ValueError(f"sla.at_risk must be between 0 and 1, got {at_risk}")
        reopen = parse_duration(data.get("reopen_window", "7d"))
        return cls.build(rules, at_risk, reopen)


def _rules_from_table(raw: Mapping[str, Any], index: int) -> dict[RuleKey, Rule]:
    where = f"sla.rule #{index}"
    unknown = set(raw) - {"kinds", "kind", "target", "priorities", "duration", "clock", "pause"}
    if unknown:
        raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    kinds = _choices(raw.get("kinds", raw.get("kind", [])), Kind, f"{where} kinds")
    priorities = _choices(raw.get("priorities", [p.value for p in Priority]), Priority, where)
    target = str(raw.get("target", ""))
    if target not in {t.value for t in Target}:
        raise ValueError(f"{where}: target must be one of {', '.join(t.value for t in Target)}")
    if "duration" not in raw:
        raise ValueError(f'{where}: duration is required (e.g. duration = "4h")')
    clock = raw.get("clock", "calendar")
    if clock not in ("calendar", "business"):
        raise ValueError(f"{where}: clock must be 'calendar' or 'business', got {clock!r}")
    pause = bool(raw.get("pause", target == Target.RESOLUTION))
    rule = Rule(parse_duration(raw["duration"]), clock == "business", pause)
    return {(k, p, target): rule for k in kinds for p in priorities}


def _choices(value: Any, enum: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    allowed = {m.value for m in enum}
    for item in items:
        if item not in allowed:
            raise ValueError(f"{where}: {item!r} is not one of {', '.join(sorted(allowed))}")
    if not items:
        raise ValueError(f"{where}: name at least one")
    return items


def default_rules() -> Iterable[tuple[RuleKey, Rule]]:
    """The business's targets (see the seeds): 24 h answers, 4 h sellers, 12 h moderation."""
    response = {"urgent": HOUR, "high": 4 * HOUR, "normal": 24 * HOUR, "low": 24 * HOUR}
    for kind in (Kind.USER_ADMIN, Kind.ISSUE_REPORT):
        for priority in Priority:
            seconds = response[priority.value]
            yield (kind.value, priority.value, Target.FIRST_RESPONSE.value), Rule(seconds)
            yield (kind.value, priority.value, Target.NEXT_RESPONSE.value), Rule(seconds)
            yield (
                (kind.value, priority.value, Target.RESOLUTION.value),
                Rule(24 * HOUR, pause_when_pending=True),
            )
    for priority in Priority:
        yield (Kind.BUYER_SELLER.value, priority.value, Target.SELLER_REPLY.value), Rule(4 * HOUR)
        yield (Kind.FLAG.value, priority.value, Target.MODERATION.value), Rule(12 * HOUR)


DEFAULT_POLICY = Policy.build(dict(default_rules()))
