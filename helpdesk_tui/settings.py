"""Configuration from a TOML file into a frozen, documented dataclass."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpdesk_tui import paths
from helpdesk_tui.sla.calendar import DEFAULT_CALENDAR, BusinessCalendar
from helpdesk_tui.sla.policy import DEFAULT_POLICY, Policy, parse_duration


class ConfigError(ValueError):
    """The config file is wrong; the message says where and what to fix."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the business's defaults."""

    database_url: str | None = None
    """``[database] url``; the CLI's ``--db`` and ``HELPDESK_DATABASE_URL`` win over it."""
    data_dir: Path = field(default_factory=paths.data_dir)
    """Where attachments (and the default SQLite database) live."""
    body_limit_bytes: int = 64 * 1024
    """``[intake] body_limit``: longest accepted message body, in UTF-8 bytes."""
    attachment_limit_bytes: int = 10 * 1024 * 1024
    """``[intake] attachment_limit``: largest accepted attachment."""
    intake_batch: int = 6000
    """``[intake] batch``: records committed together by the bulk path."""
    intake_overlap: bool = True
    """``[intake] overlap``: prepare each batch of a file while the one before it is written
    (two threads, two connections; PostgreSQL and SQLite); false: one batch after the other."""
    policy: Policy = DEFAULT_POLICY
    """``[sla]``: targets, at-risk share, reopen window."""
    calendars: Mapping[str, BusinessCalendar] = field(
        default_factory=lambda: {"default": DEFAULT_CALENDAR}
    )
    """``[calendars.NAME]``: business calendars; teams name one (``default`` otherwise)."""
    routing: Mapping[str, str] = field(
        default_factory=lambda: {
            "user_admin": "support",
            "issue_report": "support",
            "buyer_seller": "marketplace",
            "flag": "trust-safety",
        }
    )
    """``[routing]``: the team (by name) new conversations of each kind go to."""
    reporting_tz: str = "Africa/Johannesburg"
    """``[reports] timezone``: the zone report periods are cut in."""
    display_tz: str = "Africa/Johannesburg"
    """``[console] timezone``: the zone times are shown in (agents may override)."""
    health: Mapping[str, int | None] = field(default_factory=dict)
    """``[health]``: ``helpdesk health`` thresholds set in the config, by the name of the
    field of ``services.health.Thresholds`` (``warn_breached``, ``warn_oldest_wait_s``, ...);
    ``None`` turns that check off. Flags override them; absent ones keep their defaults."""

    @property
    def attachment_dir(self) -> Path:
        return self.data_dir / "attachments"

    def calendar(self, name: str | None) -> BusinessCalendar:
        """The named calendar, or the default one."""
        return self.calendars.get(name or "default") or self.calendars["default"]


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file if there is one; defaults otherwise."""
    path = path or paths.config_file()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        return settings_from_mapping(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"config {path}: {exc}") from exc


_SECTIONS = {
    "database",
    "intake",
    "sla",
    "calendars",
    "reports",
    "console",
    "paths",
    "smtp",
    "routing",
    "scheduler",
    "triage",
    "keys",
    "health",
}

#: ``[health]`` keys (the flags' names) -> (the ``Thresholds`` field, whether a duration).
HEALTH_KEYS: dict[str, tuple[str, bool]] = {
    "warn_breached": ("warn_breached", False),
    "crit_breached": ("crit_breached", False),
    "warn_at_risk": ("warn_at_risk", False),
    "crit_at_risk": ("crit_at_risk", False),
    "warn_oldest_wait": ("warn_oldest_wait_s", True),
    "crit_oldest_wait": ("crit_oldest_wait_s", True),
    "warn_scheduler_age": ("warn_scheduler_age_s", True),
    "crit_scheduler_age": ("crit_scheduler_age_s", True),
}


def settings_from_mapping(data: Mapping[str, Any]) -> Settings:
    """Build settings from parsed TOML."""
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ValueError(f"unknown section [{sorted(unknown)[0]}]")
    intake = data.get("intake", {})
    calendars = {"default": DEFAULT_CALENDAR}
    for name, raw in data.get("calendars", {}).items():
        calendars[name] = BusinessCalendar.from_config(raw)
    kwargs: dict[str, Any] = {
        "database_url": data.get("database", {}).get("url"),
        "policy": Policy.from_config(data.get("sla", {})),
        "calendars": calendars,
        "reporting_tz": data.get("reports", {}).get("timezone", "Africa/Johannesburg"),
        "display_tz": data.get("console", {}).get("timezone", "Africa/Johannesburg"),
    }
    if "routing" in data:
        kwargs["routing"] = {**Settings().routing, **data["routing"]}
    if "data_dir" in data.get("paths", {}):
        kwargs["data_dir"] = Path(data["paths"]["data_dir"]).expanduser()
    if "body_limit" in intake:
        kwargs["body_limit_bytes"] = _size(intake["body_limit"])
    if "attachment_limit" in intake:
        kwargs["attachment_limit_bytes"] = _size(intake["attachment_limit"])
    if "batch" in intake:
        kwargs["intake_batch"] = int(intake["batch"])
    if "overlap" in intake:
        if not isinstance(intake["overlap"], bool):
            raise ValueError(f"[intake] overlap must be true or false, not {intake['overlap']!r}")
        kwargs["intake_overlap"] = intake["overlap"]
    if "health" in data:
        kwargs["health"] = _health(data["health"])
    return Settings(**kwargs)


def _health(raw: Any) -> dict[str, int | None]:
    """``[health]``: counts are whole numbers >= 0, ages and waits seconds or durations
    (``"4h"``), ``false`` turns a check off."""
    if not isinstance(raw, Mapping):
        raise ValueError("[health] must be a table")
    out: dict[str, int | None] = {}
    for key, value in raw.items():
        if key not in HEALTH_KEYS:
            raise ValueError(f"unknown key {key!r} in [health] (known: {', '.join(HEALTH_KEYS)})")
        name, duration = HEALTH_KEYS[key]
        if value is False:
            out[name] = None
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[name] = value
        elif duration and isinstance(value, str):
            try:
                out[name] = parse_duration(value)
            except ValueError:
                raise ValueError(
                    f"health.{key} must be seconds >= 0, a duration like '4h', or false; "
                    f"not {value!r}"
                ) from None
        else:
            what = "seconds >= 0, a duration like '4h'," if duration else "a whole number >= 0"
            raise ValueError(f"health.{key} must be {what} or false; not {value!r}")
    return out


def _size(value: Any) -> int:
    """``65536``, ``"64KiB"``, ``"10MiB"`` -> bytes."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    for suffix, factor in (("kib", 1024), ("mib", 1024**2), ("kb", 1000), ("mb", 1000**2)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"bad size {value!r}: use bytes or KiB/MiB, e.g. '64KiB'") from None


__all__ = ["ConfigError", "Settings", "load_settings", "parse_duration", "settings_from_mapping"]
