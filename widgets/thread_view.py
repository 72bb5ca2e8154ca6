"""A conversation's messages in order: author, role, local time, age; notes and automatic
messages set apart; attachments listed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from db.records import MessageView
from widgets.sanitize import safe_text
from widgets.timefmt import age, local, size

#: Labels for how a message came in when it was not typed by a person.
AUTOMATIC = {"auto_ack": "automatic acknowledgement"}


def message_kind(message: MessageView) -> str:
    """``note``, ``auto``, ``system``, ``agent`` or ``customer`` (used as the card's class)."""
    if message.internal:
        return "note"
    if message.via == "auto_ack":
        return "auto"
    if message.role == "system":
        return "system"
    if message.role == "agent":
        return "agent"
    return "customer"


class MessageCard(Static):
    """One message; its class says who wrote it and whether it is public."""

    DEFAULT_CSS = """
    MessageCard {
        padding: 0 1;
        margin: 0 0 1 0;
        border-left: thick $primary 50%;
        &.-customer { border-left: thick $secondary; }
        &.-agent { border-left: thick $primary; }
        &.-note { border-left: thick $warning; background: $warning 10%; }
        &.-auto, &.-system { border-left: thick $surface-lighten-2; color: $text-muted; }
        & > .message-card--header { text-style: bold; }
        & > .message-card--meta { color: $text-muted; }
        & > .message-card--tag { color: $warning; text-style: bold; }
        & > .message-card--attachment { color: $accent; }
    }
    """

    COMPONENT_CLASSES = {
        "message-card--header",
        "message-card--meta",
        "message-card--tag",
        "message-card--attachment",
    }

    def __init__(self, message: MessageView, tz: tzinfo, now: datetime) -> None:
        self.message = message
        """The message shown."""
        self.kind = message_kind(message)
        """Who wrote it, as a CSS class."""
        self._tz, self._now = tz, now
        super().__init__(classes=f"-{self.kind}")

    def on_mount(self) -> None:
        self.update(self.build())

    def build(self) -> Text:
        """The card as Text: header line, body, attachments."""
        m = self.message

        def style(name: str) -> Style:
            return self.get_component_rich_style(f"message-card--{name}", partial=True)

        tag = {"note": "INTERNAL NOTE", "auto": "AUTO", "system": "SYSTEM"}.get(self.kind)
        header = Text.assemble(
            safe_text(m.author, style("header"), single_line=True),
            (f" · {m.role} · {local(m.sent_at, self._tz)} ({age(m.sent_at, self._now)} ago)",
             style("meta")),
        )  # fmt: skip
        if tag:
            header.append(f"  {tag}", style("tag"))
        elif m.via == "template":
            header.append("  template", style("meta"))
        header.no_wrap = True
        header.overflow = "ellipsis"
        parts = [header, safe_text(m.body)]
        for a in m.attachments:
            parts.append(
                Text.assemble(
                    ("+ ", style("attachment")),
                    safe_text(a.name, style("attachment"), single_line=True),
                    (f"  {a.mime_type} · {size(a.size)}", style("meta")),
                )
            )
        return Text("\n").join(parts)


class ThreadView(VerticalScroll):
    """The messages of one conversation, oldest first, scrolled to the newest."""

    DEFAULT_CSS = """
    ThreadView { height: 1fr; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=True)
        self.message_ids: tuple[int, ...] = ()
        """Ids of the messages shown, in order."""

    def show(self, messages: Sequence[MessageView], tz: tzinfo, now: datetime) -> None:
        """Show ``messages``; when only new ones were added, append them."""
        ids = tuple(m.id for m in messages)
        if ids == self.message_ids:
            return
        if ids[: len(self.message_ids)] == self.message_ids and self.message_ids:
            new = messages[len(self.message_ids) :]
        else:
            self.remove_children()
            new = messages
        self.message_ids = ids
        if new:
            self.mount_all([MessageCard(m, tz, now) for m in new])
        self.call_after_refresh(self.scroll_end, animate=False)
