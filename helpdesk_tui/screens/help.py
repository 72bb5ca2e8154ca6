"""The `?` key map, generated from the action registry (so it never disagrees with the keys)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from helpdesk_tui.actions import ActionSpec, for_scope
from helpdesk_tui.keymap import key_display

SCOPE_TITLE = {
    "queue": "Queue",
    "conversation": "Conversation",
    "search": "Search",
    "app": "Everywhere",
}


def key_text(spec: ActionSpec, keymap: Mapping[str, str] | None = None) -> str:
    """How the action's key is written: the user's remapped key(s) if any."""
    if keymap and spec.id in keymap:
        return key_display(keymap[spec.id])
    if spec.key_display:
        return spec.key_display
    return key_display(spec.key)


def key_table(scopes: list[str], keymap: Mapping[str, str] | None = None) -> Table:
    """A two-column table (key, what it does, and the id to remap it by) for ``scopes``."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for scope in scopes:
        table.add_row(Text(SCOPE_TITLE[scope], style="bold underline"), Text(""))
        for spec in for_scope(scope):
            table.add_row(
                Text(key_text(spec, keymap)),
                Text.assemble(spec.help, (f"  {spec.id}", "dim")),
            )
        table.add_row(Text(""), Text(""))
    return table


class HelpScreen(ModalScreen[None]):
    """Every key of the current screen, then the keys that work everywhere."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > Vertical {
            width: 90%;
            max-width: 100;
            height: 90%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        #help-title { text-style: bold; height: 1; }
        #help-foot { color: $text-muted; height: 1; }
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope
        """The screen the help was opened from."""

    def compose(self) -> ComposeResult:
        scopes = [self.scope, "app"] if self.scope != "app" else ["app"]
        with Vertical():
            yield Static(Text("Keys"), id="help-title")
            with VerticalScroll():
                yield Static(key_table(scopes, getattr(self.app, "keymap", None)))
            yield Static(
                Text('esc close · ctrl+p every action by name · remap: [keys] id = "key"'),
                id="help-foot",
            )

    def action_close(self) -> None:
        self.dismiss(None)
