"""Configuration of the scheduler jobs: ``[scheduler]``, ``[smtp]`` and ``[[triage.rule]]``.

Read from the same TOML file as :mod:`helpdesk_tui.settings` (which accepts these sections
and ignores them); kept apart so that the scheduler's knobs do not reshape ``Settings``.

.. code-block:: toml

    [scheduler]
    sweep_interval = "30s"      # breach marking, escalations, at-risk alerts, heartbeat
    new_interval = "10s"        # triage, auto-acknowledgements, seller inquiry notices
    notify_interval = "15s"     # outbox -> SMTP
    new_window = "24h"          # how old a still-new conversation may be to be triaged/acked
    autoack = true
    ack_template = "Acknowledgement"   # default: the first active template tagged "ack"
    faq_limit = 3               # help articles suggested with an acknowledgement (0..3)
    faq_min_score = 7           # match score an article needs (see autoack.suggest)
    sender_name = "SayPro Support"
    level2_after = 0.5          # level 2 once a breached clock is late by this share of its target

    [smtp]
    host = "127.0.0.1"          # no host: e-mails stay queued (pending)
    port = 25
    tls = "none"                # none | starttls | ssl
    username = "helpdesk"       # optional
    password_env = "HELPDESK_SMTP_PASSWORD"
    sender = "helpdesk@example.com"
    timeout = "10s"
    party_domain = "relay.example.com"  # optional: <party id>@domain for parties without e-mail
    retry_base = "30s"          # backoff: base * 2**(attempt-1), capped at retry_max
    retry_max = "1h"
    max_attempts = 8            # then the item is dead (visible, retryable by hand)
    sending_timeout = "5m"      # a claim older than this is a crash: dead, never resent

    [[triage.rule]]
    name = "refunds"
    keywords = ["refund", "chargeback"]   # any word, case-insensitive, subject and body
    regex = "order\\s*#?\\d{6,}"          # optional; all given conditions must hold
    kinds = ["user_admin"]                 # optional
    listing_categories = ["vehicles"]      # optional
    verified = false                       # optional: the requester's verified badge
    category = "payments"                  # what a match sets (each optional)
    team = "billing"
    priority = "high"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.enums import Kind, Priority
from helpdesk_tui import paths
from helpdesk_tui.settings import ConfigError
from helpdesk_tui.sla.policy import parse_duration

TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes; without ``host`` nothing is sent and items stay pending."""

    host: str | None = None
    port: int = 25
    tls: str = "none"
    username: str | None = None
    password_env: str | None = None
    sender: str = "helpdesk@localhost"
    timeout_s: float = 10.0
    party_domain: str | None = None
    retry_base_s: int = 30
    retry_max_s: int = 3600
    max_attempts: int = 8
    sending_timeout_s: int = 300

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def password(self) -> str | None:
        import os

        return os.environ.get(self.password_env) if self.password_env else None

    def backoff_s(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return int(min(self.retry_base_s * 2 ** max(attempts - 1, 0), self.retry_max_s))


@dataclass(frozen=True)
class TriageRule:
    """Conditions (all given ones must hold) and what a match sets."""

    name: str
    keywords: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    kinds: tuple[str, ...] = ()
    listing_categories: tuple[str, ...] = ()
    verified: bool | None = None
    category: str | None = None
    team: str | None = None
    priority: str | None = None

    def matches(
        self, *, text: str, kind: str, listing_category: str | None, verified: bool | None
    ) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        if self.listing_categories and (listing_category or "").lower() not in {
            c.lower() for c in self.listing_categories
        }:
            return False
        if self.verified is not None and bool(verified) != self.verified:
            return False
        if self.keywords:
            words = set(re.findall(r"[\w']+", text.lower()))
            if not any(_keyword_in(k, words, text) for k in self.keywords):
                return False
        return not (self.regex is not None and not self.regex.search(text))


def _keyword_in(keyword: str, words: set[str], text: str) -> bool:
    k = keyword.lower().strip()
    if " " in k:  # a phrase: substring match on the lowered text
        return k in text.lower()
    return k in words


@dataclass(frozen=True)
class SchedulerSettings:
    """Everything the scheduler jobs read from the config."""

    sweep_interval_s: int = 30
    new_interval_s: int = 10
    notify_interval_s: int = 15
    new_window_s: int = 86400
    autoack: bool = True
    ack_template: str | None = None
    faq_limit: int = 3
    faq_min_score: float = 7.0
    sender_name: str = "SayPro Support"
    level2_after: float = 0.5
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    triage: tuple[TriageRule, ...] = ()
    webhook_url: str | None = None
    """``[scheduler] webhook_url``: push the outbound stream there (the ``deliver`` job)."""
    webhook_secret_env: str = "HELPDESK_WEBHOOK_SECRET"
    """The environment variable holding the webhook's HMAC secret."""
    webhook_consumer: str = "webhook"
    deliver_interval_s: int = 5


_SCHED_KEYS = {
    "sweep_interval",
    "new_interval",
    "notify_interval",
    "new_window",
    "autoack",
    "ack_template",
    "faq_limit",
    "faq_min_score",
    "sender_name",
    "level2_after",
    "webhook_url",
    "webhook_secret_env",
    "webhook_consumer",
    "deliver_interval",
}
_SMTP_KEYS = {
    "host",
    "port",
    "tls",
    "username",
    "password_env",
    "sender",
    "timeout",
    "party_domain",
    "retry_base",
    "retry_max",
    "max_attempts",
    "sending_timeout",
}
_RULE_KEYS = {
    "name",
    "keywords",
    "regex",
    "kinds",
    "listing_categories",
    "verified",
    "category",
    "team",
    "priority",
}


def load_scheduler_settings(path: Path | None = None) -> SchedulerSettings:
    """Read ``[scheduler]``, ``[smtp]`` and ``[[triage.rule]]`` from the config file."""
    path = path or paths.config_file()
    if not path.exists():
        return SchedulerSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        return scheduler_settings_from_mapping(data)
    except (ValueError, TypeError, KeyError, re.error) as exc:
        raise ConfigError(f"config {path}: {exc}") from exc


def _unknown(section: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in [{section}]")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a string or a list of strings")
    return tuple(value)


def scheduler_settings_from_mapping(data: Mapping[str, Any]) -> SchedulerSettings:
    """Build the scheduler settings from parsed TOML (other sections are ignored)."""
    sched = data.get("scheduler", {})
    _unknown("scheduler", sched, _SCHED_KEYS)
    kwargs: dict[str, Any] = {}
    for key, attr in (
        ("sweep_interval", "sweep_interval_s"),
        ("new_interval", "new_interval_s"),
        ("notify_interval", "notify_interval_s"),
        ("new_window", "new_window_s"),
        ("deliver_interval", "deliver_interval_s"),
    ):
        if key in sched:
            seconds = parse_duration(sched[key])
            if seconds <= 0:
                raise ValueError(f"scheduler.{key} must be positive")
            kwargs[attr] = seconds
    if "autoack" in sched:
        kwargs["autoack"] = bool(sched["autoack"])
    if "ack_template" in sched:
        kwargs["ack_template"] = str(sched["ack_template"])
    if "faq_limit" in sched:
        limit = int(sched["faq_limit"])
        if not 0 <= limit <= 3:
            raise ValueError("scheduler.faq_limit must be between 0 and 3")
        kwargs["faq_limit"] = limit
    if "faq_min_score" in sched:
        kwargs["faq_min_score"] = max(0.0, float(sched["faq_min_score"]))
    if "sender_name" in sched:
        kwargs["sender_name"] = str(sched["sender_name"])
    if "level2_after" in sched:
        share = float(sched["level2_after"])
        if share < 0:
            raise ValueError("scheduler.level2_after must be >= 0")
        kwargs["level2_after"] = share
    for key in ("webhook_url", "webhook_secret_env", "webhook_consumer"):
        if key in sched:
            kwargs[key] = str(sched[key])
    kwargs["smtp"] = _smtp(data.get("smtp", {}))
    triage = data.get("triage", {})
    _unknown("triage", triage, {"rule"})
    rules = triage.get("rule", [])
    if not isinstance(rules, list):
        raise ValueError("triage rules are written [[triage.rule]]")
    kwargs["triage"] = tuple(_rule(raw, i) for i, raw in enumerate(rules, start=1))
    return SchedulerSettings(**kwargs)


def _smtp(raw: Mapping[str, Any]) -> SmtpSettings:
    _unknown("smtp", raw, _SMTP_KEYS)
    kwargs: dict[str, Any] = {}
    for key in ("host", "username", "password_env", "sender", "party_domain"):
        if key in raw:
            kwargs[key] = str(raw[key]) or None
    if kwargs.get("sender") is None:
        kwargs.pop("sender", None)
    if "port" in raw:
        kwargs["port"] = int(raw["port"])
    if "tls" in raw:
        tls = str(raw["tls"]).lower()
        if tls not in TLS_MODES:
            raise ValueError(f"smtp.tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        kwargs["tls"] = tls
    if "timeout" in raw:
        kwargs["timeout_s"] = float(parse_duration(raw["timeout"]))
    for key, attr in (
        ("retry_base", "retry_base_s"),
        ("retry_max", "retry_max_s"),
        ("sending_timeout", "sending_timeout_s"),
    ):
        if key in raw:
            kwargs[attr] = parse_duration(raw[key])
    if "max_attempts" in raw:
        kwargs["max_attempts"] = max(1, int(raw["max_attempts"]))
    return SmtpSettings(**kwargs)


def _rule(raw: Any, index: int) -> TriageRule:
    where = f"triage.rule #{index}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table")
    _unknown(where, raw, _RULE_KEYS)
    name = str(raw.get("name") or f"rule {index}")
    kinds = _strings(raw.get("kinds", []), f"{where} kinds")
    allowed_kinds = {k.value for k in Kind}
    for k in kinds:
        if k not in allowed_kinds:
            raise ValueError(f"{where}: unknown kind {k!r}")
    priority = raw.get("priority")
    if priority is not None and priority not in {p.value for p in Priority}:
        raise ValueError(f"{where}: priority must be urgent, high, normal or low")
    verified = raw.get("verified")
    if verified is not None and not isinstance(verified, bool):
        raise ValueError(f"{where}: verified must be true or false")
    regex = raw.get("regex")
    rule = TriageRule(
        name=name,
        keywords=_strings(raw.get("keywords", []), f"{where} keywords"),
        regex=re.compile(regex, re.IGNORECASE) if regex else None,
        kinds=kinds,
        listing_categories=_strings(
            raw.get("listing_categories", []), f"{where} listing_categories"
        ),
        verified=verified,
        category=raw.get("category"),
        team=raw.get("team"),
        priority=priority,
    )
    if not (rule.category or rule.team or rule.priority):
        raise ValueError(f"{where} ({name}) sets nothing: give category, team or priority")
    return rule


__all__ = [
    "SchedulerSettings",
    "SmtpSettings",
    "TriageRule",
    "load_scheduler_settings",
    "scheduler_settings_from_mapping",
]
