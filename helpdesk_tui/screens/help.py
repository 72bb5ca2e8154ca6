"""The `?` key map, generated from the action registry (so it never disagrees with the keys)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from helpdesk_tui.actions import ActionSpec, for_scope

SCOPE_TITLE = {"queue": "Queue", "conversation": "Conversation", "app": "Everywhere"}


def key_text(spec: ActionSpec) -> str:
    if spec.key_display:
        return spec.key_display
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc"}
    return ", ".join(names.get(k, k) for k in spec.key.split(","))


def key_table(scopes: list[str]) -> Table:
    """A two-column table (key, what it does) for ``scopes``."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for scope in scopes:
        table.add_row(Text(SCOPE_TITLE[scope], style="bold underline"), Text(""))
        for spec in for_scope(scope):
            table.add_row(Text(key_text(spec)), Text(spec.help))
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
                yield Static(key_table(scopes))
            yield Static(Text("esc close · ctrl+p every action by name"), id="help-foot")

    def action_close(self) -> None:
        self.dismiss(None)
