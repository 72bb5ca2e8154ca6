"""User key remapping: the ``[keys]`` table of the config file (action id = "key,key")."""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpdesk_tui import paths
from helpdesk_tui.actions import ACTIONS, SCOPES, for_scope

#: Textual key names shown as the character they stand for.
KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "space": "space",
}


@dataclass(frozen=True)
class Keymap:
    """Keys by action id, and what was wrong with the table (one line each)."""

    keys: dict[str, str] = field(default_factory=dict)
    """Action id (``queue.filter``) -> comma-separated keys (``ctrl+f`` or ``/,ctrl+f``)."""
    problems: tuple[str, ...] = ()
    """Entries that were ignored, and why."""


def parse_keys(raw: Any) -> Keymap:
    """Validate a parsed ``[keys]`` table: known action ids, keys as a string or a list."""
    if not isinstance(raw, Mapping):
        return Keymap(problems=("[keys] must be a table of action id = key",))
    known = {a.id for a in ACTIONS}
    keys: dict[str, str] = {}
    problems: list[str] = []
    for action_id, value in raw.items():
        if action_id not in known:
            problems.append(f"[keys] {action_id!r} is not an action id (see ? for the ids)")
            continue
        names = _keys_of(value)
        if names is None:
            problems.append(f'[keys] {action_id}: give a key like "ctrl+f" or a list of keys')
            continue
        keys[action_id] = names
    return Keymap(keys, (*problems, *clashes(keys)))


def key_name(key: str) -> str:
    """Textual's name for a key: ``?`` -> ``question_mark``, ``ctrl+f`` unchanged."""
    key = key.strip()
    if len(key) == 1 and not key.isalnum():
        return unicodedata.name(key).lower().replace(" ", "_").replace("-", "_")
    return key


def clashes(keys: Mapping[str, str]) -> list[str]:
    """Keys the remapping gives to two actions of one screen (the app-wide ones included)."""
    out: list[str] = []
    for scope in (s for s in SCOPES if s != "app"):
        used: dict[str, list[str]] = {}
        for spec in for_scope(scope) + for_scope("app"):
            for key in (keys.get(spec.id) or spec.key).split(","):
                used.setdefault(key_name(key), []).append(spec.id)
        for key, ids in used.items():
            if len(ids) > 1 and any(i in keys for i in ids):
                out.append(f"[keys] {key_display(key)} is given to {' and '.join(ids)}: "
                           "only one of them gets it")  # fmt: skip
    return out


def _keys_of(value: Any) -> str | None:
    """``"ctrl+f"``, ``"/,ctrl+f"`` or ``["/", "ctrl+f"]`` -> ``"/,ctrl+f"``; None if malformed."""
    listed = value if isinstance(value, list) else [value]
    if not listed or not all(isinstance(v, str) for v in listed):
        return None
    names = [k.strip() for v in listed for k in v.split(",")]
    if not all(names) or any(" " in k for k in names):
        return None
    return ",".join(names)


def load_keymap(path: Path | None = None) -> Keymap:
    """The ``[keys]`` table of the config file (``paths.config_file()`` by default); a missing
    file or table is an empty keymap, an unreadable file a problem (never an exception)."""
    path = path or paths.config_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Keymap()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Keymap(problems=(f"keys not remapped: cannot read {path}: {exc}",))
    return parse_keys(data.get("keys", {}))


def key_display(keys: str) -> str:
    """``question_mark,ctrl+f`` -> ``?, ctrl+f``."""
    return ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))
