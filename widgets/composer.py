"""The reply editor: a multi-line text area that reports changes after a pause (for drafts)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static, TextArea


class Composer(Vertical):
    """A reply or internal-note editor; posts ``Composer.Changed`` ~1 s after typing stops."""

    DEFAULT_CSS = """
    Composer {
        height: 7;
        border-top: hkey $primary 50%;
        &:focus-within { height: 11; border-top: hkey $primary; }
        &.-internal { border-top: hkey $warning; }
        #composer-mode { height: 1; padding: 0 1; color: $text-muted; }
        &.-internal #composer-mode { color: $warning; text-style: bold; }
        TextArea { height: 1fr; border: none; padding: 0 1; }
        TextArea:focus { border: none; }
    }
    """

    internal: reactive[bool] = reactive(False)
    """Whether the text is an internal note (never sent to the customer)."""

    DEBOUNCE_S = 1.0
    """Seconds of quiet before a change is reported."""

    @dataclass
    class Changed(Message):
        """The text (or the note/reply mode) changed and typing paused."""

        composer: Composer
        text: str
        internal: bool

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, Composer.Changed)

    def __init__(self, *, send_key: str = "ctrl+s", id: str | None = None) -> None:
        super().__init__(id=id)
        self.send_key = send_key
        """The key shown in the mode line as the way to send."""
        self._timer: Timer | None = None
        self._quiet = False
        self._loaded: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="composer-mode")
        yield TextArea(id="composer-text", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        if self.app.is_headless:
            area.cursor_blink = False
        self._show_mode()

    @property
    def area(self) -> TextArea:
        return self.query_one("#composer-text", TextArea)

    @property
    def text(self) -> str:
        return self.area.text

    def watch_internal(self) -> None:
        self.set_class(self.internal, "-internal")
        if self.is_mounted:
            self._show_mode()
            self._schedule()

    def _show_mode(self) -> None:
        mode = "Internal note (not sent to the customer)" if self.internal else "Reply to customer"
        self.query_one("#composer-mode", Static).update(
            Text.assemble(mode, f" · {self.send_key} send · esc leave editor")
        )

    def load(self, text: str, internal: bool) -> None:
        """Put ``text`` in the editor without reporting it as a change (restoring a draft)."""
        self._quiet = True
        self.internal = internal
        self._quiet = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.area.text != text:
            self._loaded = text
            self.area.load_text(text)

    def insert(self, text: str) -> None:
        """Insert ``text`` at the cursor (a rendered template), then focus the editor."""
        self.area.insert(text)
        self.area.focus()

    def begin(self, internal: bool) -> None:
        """Focus the editor in reply or note mode."""
        self.internal = internal
        self.area.focus()

    def clear(self) -> None:
        self.load("", self.internal)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        loaded, self._loaded = self._loaded, None
        if loaded is not None and self.text == loaded:
            return  # the echo of load(), not typing
        self._schedule()

    def _schedule(self) -> None:
        if self._quiet:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.DEBOUNCE_S, self.flush)

    def flush(self) -> None:
        """Report the current text now (pending debounce or not)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.post_message(self.Changed(self, self.text, self.internal))

    @property
    def pending(self) -> bool:
        """Whether a change is waiting for its debounce."""
        return self._timer is not None
