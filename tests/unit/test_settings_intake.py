"""``[intake]`` settings: batch and overlap, and a one-line error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk_tui.settings import ConfigError, load_settings, settings_from_mapping


def test_intake_overlap_defaults_on_and_can_be_turned_off() -> None:
    assert settings_from_mapping({}).intake_overlap is True
    got = settings_from_mapping({"intake": {"overlap": False, "batch": 500}})
    assert (got.intake_overlap, got.intake_batch) == (False, 500)


def test_a_quoted_overlap_is_refused_with_what_to_write(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[intake]\noverlap = "false"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[intake\] overlap must be true or false"):
        load_settings(config)
