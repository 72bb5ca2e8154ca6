"""widgets.sanitize: hostile customer text becomes visible, inert characters; markup stays text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from widgets.sanitize import clean, safe_text, truncate

#: What must never reach the terminal: C0 (except TAB/LF), DEL, C1, bidi and zero-width controls.
DANGEROUS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)

HOSTILE = [
    pytest.param("\x1b[2J\x1b[H", id="csi_clear_screen"),
    pytest.param("\x1b[31mred\x1b[0m", id="csi_colour"),
    pytest.param("\x1b]52;c;ZXZpbA==\x07", id="osc52_clipboard_bel"),
    pytest.param("\x1b]52;c;ZXZpbA==\x1b\\", id="osc52_clipboard_st"),
    pytest.param("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", id="osc8_link"),
    pytest.param("\x1bP+q544e\x1b\\", id="dcs_7bit"),
    pytest.param("\x90+q544e\x9c", id="dcs_8bit"),
    pytest.param("\x9b2J", id="csi_8bit"),
    pytest.param("\x9d52;c;ZXZpbA==\x9c", id="osc_8bit"),
    pytest.param("\x85\x8d\x8e\x8f\x9f", id="c1_controls"),
    pytest.param("nul\x00byte", id="nul"),
    pytest.param("del\x7fete", id="del"),
    pytest.param("bell\x07 back\x08space", id="bel_bs"),
    pytest.param("over\rwrite", id="carriage_return"),
    pytest.param("user\u202etxt.exe", id="bidi_rlo"),
    pytest.param("\u2066isolate\u2069 \u200fmark\u061c", id="bidi_isolates_marks"),
    pytest.param("zero\u200bwidth\u200d\u2060joiner\ufeff", id="zero_width"),
    pytest.param("line\u2028sep\u2029para", id="line_separators"),
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_clean_leaves_no_control_or_invisible_character(hostile: str) -> None:
    out = clean(hostile)
    assert not DANGEROUS.search(out), repr(out)
    assert "\r" not in out
    # the printable payload is still there to read
    for word in re.findall(r"[a-z]{3,}", hostile):
        assert word in out


@pytest.mark.parametrize("hostile", HOSTILE)
def test_safe_text_renders_no_escape_sequence(hostile: str) -> None:
    console = Console(width=200, color_system=None, force_terminal=False, record=True)
    console.print(safe_text(hostile))
    rendered = console.export_text()
    assert "\x1b" not in rendered and not DANGEROUS.search(rendered.replace("\n", ""))


def test_control_characters_become_visible_markers() -> None:
    assert clean("\x1b[31m") == "\u241b[31m"  # ␛
    assert clean("a\x00b") == "a\u2400b"  # ␀
    assert clean("a\x7fb") == "a\u2421b"  # ␡
    assert clean("\x9b") == "\u27e8U+009B\u27e9"
    assert clean("x\u202ey") == "x\u27e8U+202E\u27e9y"
    assert clean("x\u200by") == "x\u27e8U+200B\u27e9y"


def test_tab_and_newline_survive_multi_line_but_not_single_line() -> None:
    assert clean("a\tb\nc") == "a\tb\nc"
    assert clean("a\r\nb") == "a\nb"
    one = clean("a\tb\nc\r\nd", single_line=True)
    assert "\n" not in one and "\t" not in one
    assert one.startswith("a b") and "c" in one and "d" in one


@pytest.mark.parametrize(
    "markup",
    [
        "[bold]x[/]",
        "[@click=app.quit]y[/]",
        "[link=https://evil.example]z[/link]",
        "[red on white]alarm[/red on white]",
        "\\[escaped]",
        ":warning: :smile:",
        "[b]unclosed",
    ],
)
def test_markup_looking_text_is_kept_verbatim_and_inert(markup: str) -> None:
    assert clean(markup) == markup
    text = safe_text(markup)
    assert isinstance(text, Text)
    assert text.plain == markup
    assert text.spans == []
    assert not text.style
    console = Console(width=200, color_system=None, record=True)
    console.print(text)
    assert console.export_text().rstrip("\n") == markup


def test_safe_text_plain_is_the_cleaned_text() -> None:
    hostile = "\x1b]8;;http://x\x1b\\[bold]hi[/]\u202e"
    text = safe_text(hostile, "bold")
    assert text.plain == clean(hostile)
    assert text.spans == []
    single = safe_text("a\nb", single_line=True)
    assert single.plain == clean("a\nb", single_line=True) and single.no_wrap


def test_empty_and_none() -> None:
    assert clean(None) == "" and clean("") == ""
    assert safe_text(None).plain == ""


def test_ordinary_unicode_is_untouched() -> None:
    text = "Molo! Ngiyabonga — R1 250,00 • café 👍 日本語 עברית"
    assert clean(text) == text


def test_private_use_and_unassigned_become_markers() -> None:
    assert clean("a\ue000b") == "a\u27e8U+E000\u27e9b"
    assert clean("a\U000e0001b") != "a\U000e0001b"  # language tag: invisible


def test_lone_surrogate_becomes_a_marker() -> None:
    out = clean("x\ud800y")
    assert out == "x\u27e8U+D800\u27e9y"
    out.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x3000)))
def test_clean_never_leaves_a_dangerous_character(text: str) -> None:
    out = clean(text)
    assert not DANGEROUS.search(out)
    assert "\r" not in out
    assert clean(out) == out  # idempotent


def test_truncate() -> None:
    assert truncate("hello", 10) == "hello"
    assert truncate("hello world", 6) == "hello\u2026"
    assert len(truncate("hello world", 6)) == 6
    assert truncate("", 3) == ""


@pytest.mark.parametrize("width", [1, 2, 5, 10, 11])
def test_truncate_counts_terminal_cells(width: int) -> None:
    from rich.cells import cell_len

    wide = "日本語のテキスト" * 3  # every character is two cells wide
    out = truncate(wide, width)
    assert cell_len(out) <= width
    assert out.endswith("\u2026")
    assert truncate("日本", 4) == "日本"
