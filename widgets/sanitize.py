"""The one choke point for untrusted text: control sequences become visible, inert markers.

Neither Rich nor Textual strips terminal escape sequences, and both parse plain strings as
markup. Every piece of customer text goes through :func:`clean` and is then wrapped in a
``Text``/``Content`` object (:func:`safe_text`), never formatted into markup.
"""

from __future__ import annotations

import re
import unicodedata

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

#: C0 controls except TAB and LF, DEL, C1 controls; bidi controls; zero-width characters;
#: line/paragraph separators; BOM. Each is replaced by a visible marker.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"  # invisible tag characters
)
_NAMES = {"\x1b": "ESC", "\x00": "NUL", "\x7f": "DEL", "\x9b": "CSI", "\x9d": "OSC", "\x90": "DCS"}


def _marker(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ␛ for ESC, ␀ for NUL ...
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\u27e8U+{code:04X}\u27e9"  # ⟨U+202E⟩ for bidi, zero-width and C1 controls


def clean(text: str | None, *, single_line: bool = False) -> str:
    """``text`` with every control, bidi or invisible character replaced by a visible marker.

    Printable text (including ``[bold]`` and other markup-looking text) is kept character for
    character; it is only safe once wrapped in ``Text``/``Content``.
    """
    if not text:
        return ""
    out = _UNSAFE.sub(_marker, text.replace("\r\n", "\n"))  # CRLF is a plain line end
    if single_line:
        out = out.replace("\n", " \u23ce ").replace("\t", " ")
    # Unassigned and private-use code points are shown as markers too.
    if any(unicodedata.category(c) in ("Cn", "Co", "Cs") for c in out):
        out = "".join(
            f"\u27e8U+{ord(c):04X}\u27e9" if unicodedata.category(c) in ("Cn", "Co", "Cs") else c
            for c in out
        )
    return out


def safe_text(text: str | None, style: str | Style = "", *, single_line: bool = False) -> Text:
    """A Rich ``Text`` of cleaned customer text: never parsed as markup."""
    return Text(clean(text, single_line=single_line), style=style, no_wrap=single_line)


def truncate(text: str, width: int) -> str:
    """Cut to ``width`` terminal cells with an ellipsis (wide characters count two)."""
    if cell_len(text) <= width:
        return text
    if width < 1:
        return ""
    kept, used = [], 0
    for ch in text:
        used += cell_len(ch)
        if used > width - 1:
            break
        kept.append(ch)
    return "".join(kept) + "\u2026"
