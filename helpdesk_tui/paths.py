"""Where helpdesk-tui keeps its files (platformdirs), in one place."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_data_path

APP = "helpdesk-tui"


def data_dir() -> Path:
    """The user data dir: the default SQLite database and the attachment store live here."""
    return Path(os.environ.get("HELPDESK_DATA_DIR") or user_data_path(APP))


def config_file() -> Path:
    """The TOML config file (optional)."""
    env = os.environ.get("HELPDESK_CONFIG")
    return Path(env) if env else user_config_path(APP) / "config.toml"


def default_database_url() -> str:
    """A SQLite file in the user data dir."""
    return f"sqlite:///{data_dir() / 'helpdesk.sqlite3'}"


def attachment_dir() -> Path:
    """Content-addressed attachment store."""
    return data_dir() / "attachments"
