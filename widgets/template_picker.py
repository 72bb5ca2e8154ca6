"""Pick a reply template: fuzzy filter over name, shortcut and text, with a live preview."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from db.records import TemplateView
from widgets.sanitize import clean, safe_text


@dataclass(frozen=True)
class TemplateChoice:
    """The template picked and its text filled for this conversation."""

    template_id: int
    name: str
    text: str


def rank(templates: Sequence[TemplateView], query: str) -> list[TemplateView]:
    """Templates matching ``query`` (fuzzy, over name, shortcut and body), best first."""
    if not query.strip():
        return list(templates)
    matcher = Matcher(query)
    scored = []
    for t in templates:
        score = max(
            matcher.match(t.name) * 1.2,
            matcher.match(t.shortcut or "") * 1.5,
            matcher.match(t.body[:400]),
        )
        if score > 0:
            scored.append((score, t))
    scored.sort(key=lambda pair: -pair[0])
    return [t for _, t in scored]


class TemplatePicker(ModalScreen[TemplateChoice | None]):
    """Type to filter; up/down to choose; enter inserts the filled text; esc cancels."""

    DEFAULT_CSS = """
    TemplatePicker {
        align: center middle;
        & > Vertical {
            width: 90%;
            max-width: 110;
            height: 90%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        #picker-title { text-style: bold; height: 1; }
        #picker-body { height: 1fr; }
        #picker-list { width: 2fr; min-width: 20; height: 1fr; }
        #picker-preview { width: 3fr; height: 1fr; padding: 0 1; border-left: vkey $primary 40%; }
        #picker-preview.-error { color: $error; }
        #picker-help { height: 1; color: $text-muted; }
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "move(1)", "Next", show=False, priority=True),
        Binding("up", "move(-1)", "Previous", show=False, priority=True),
    ]

    def __init__(
        self,
        templates: Sequence[TemplateView],
        render: Callable[[str], str],
        *,
        title: str = "Insert a template",
        verb: str = "insert",
    ) -> None:
        super().__init__()
        self.title_text = title
        """The dialog's title (our words, not customer text)."""
        self.verb = verb
        """What enter does, for the help line."""
        self.templates = list(templates)
        """Every template offered."""
        self.render_body = render
        """Fills a template body for this conversation; raises with a one-line message."""
        self.shown: list[TemplateView] = list(templates)
        """The templates matching the current filter."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="picker-title")
            yield Input(placeholder="type to filter by name, shortcut or text", id="picker-query")
            with Horizontal(id="picker-body"):
                yield OptionList(id="picker-list")
                yield Static(id="picker-preview")
            yield Static(Text(f"enter {self.verb} · ↑↓ choose · esc cancel"), id="picker-help")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    @on(Input.Changed, "#picker-query")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def _fill(self, query: str) -> None:
        self.shown = rank(self.templates, query)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(Option(self._label(t), id=str(t.id)) for t in self.shown)
        if self.shown:
            options.highlighted = 0
        self._preview()

    @staticmethod
    def _label(t: TemplateView) -> Text:
        label = Text.assemble(
            safe_text(t.name, single_line=True),
            (f"  /{clean(t.shortcut, single_line=True)}" if t.shortcut else "", "dim"),
        )
        label.no_wrap, label.overflow = True, "ellipsis"
        return label

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if not self.shown:
            return
        current = options.highlighted or 0
        options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._preview()

    def _current(self) -> TemplateView | None:
        index = self.query_one(OptionList).highlighted
        if index is None or not 0 <= index < len(self.shown):
            return None
        return self.shown[index]

    def _rendered(self, template: TemplateView) -> tuple[str | None, str | None]:
        """(text, None) or (None, the one-line reason it cannot be filled)."""
        try:
            return self.render_body(template.body), None
        except Exception as exc:  # the renderer's errors are one-line messages for the user
            return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def _preview(self) -> None:
        preview = self.query_one("#picker-preview", Static)
        template = self._current()
        if template is None:
            preview.update(Text("no template matches"))
            preview.remove_class("-error")
            return
        text, error = self._rendered(template)
        preview.set_class(error is not None, "-error")
        preview.update(safe_text(error if error is not None else text))

    @on(Input.Submitted, "#picker-query")
    @on(OptionList.OptionSelected)
    def _choose(self) -> None:
        template = self._current()
        if template is None:
            return
        text, error = self._rendered(template)
        if error is not None or text is None:
            self.notify(clean(error, single_line=True), severity="error", markup=False)
            return
        self.dismiss(TemplateChoice(template.id, template.name, text))

    def action_cancel(self) -> None:
        self.dismiss(None)
