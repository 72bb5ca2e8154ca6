"""reports_format.to_json writes what the standard library's json.dumps(indent=2,
ensure_ascii=True) writes: same text, ASCII only, whatever a customer typed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from helpdesk_tui.services.reports_format import to_json

HOSTILE = '\x1b[31mred\x1b[0m \u202egnp.exe \x00 \x7f é 😀 \ud7ff \ue000 "quoted" \\ back\n'


def test_hostile_text_is_escaped_like_the_standard_library() -> None:
    data: dict[str, Any] = {
        "sellers": [{"name": HOSTILE, "pct": 87.5, "n": 3, "none": None, "ok": True}],
        "empty": {},
        "list": [],
        "by_hour": {str(h): h for h in range(24)},
    }
    out = to_json(data)
    assert out == json.dumps(data, indent=2, ensure_ascii=True)
    assert out.isascii() and "\x1b" not in out and json.loads(out) == data


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9).map(
        lambda f: round(f, 1)
    ),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(values)
def test_same_text_as_json_dumps(value: Any) -> None:
    assert to_json(value) == json.dumps(value, indent=2, ensure_ascii=True)
