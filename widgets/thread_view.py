"""A conversation's messages in order: author, role, local time, age; notes and automatic
messages set apart; attachments listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
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


@dataclass(frozen=True)
class CardStyles:
    """The Rich styles of a card's parts, resolved once per thread (not once per card: a
    widget's component classes cost a stylesheet pass each, which 200 cards feel)."""

    header: Style
    meta: Style
    tag: Style
    attachment: Style


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
    }
    """

    def __init__(self, message: MessageView, tz: tzinfo, now: datetime, styles: CardStyles) -> None:
        self.message = message
        """The message shown."""
        self.kind = message_kind(message)
        """Who wrote it, as a CSS class."""
        self._tz, self._now, self._styles = tz, now, styles
        super().__init__(self.build(), classes=f"-{self.kind}")

    def build(self) -> Text:
        """The card as Text: header line, body, attachments."""
        m, st = self.message, self._styles
        tag = {"note": "INTERNAL NOTE", "auto": "AUTO", "system": "SYSTEM"}.get(self.kind)
        header = Text.assemble(
            safe_text(m.author, st.header, single_line=True),
            (f" · {m.role} · {local(m.sent_at, self._tz)} ({age(m.sent_at, self._now)} ago)",
             st.meta),
        )  # fmt: skip
        if tag:
            header.append(f"  {tag}", st.tag)
        elif m.via == "template":
            header.append("  template", st.meta)
        header.no_wrap = True
        header.overflow = "ellipsis"
        parts = [header, safe_text(m.body)]
        for a in m.attachments:
            parts.append(
                Text.assemble(
                    ("+ ", st.attachment),
                    safe_text(a.name, st.attachment, single_line=True),
                    (f"  {a.mime_type} · {size(a.size)}", st.meta),
                )
            )
        return Text("\n").join(parts)


class EarlierMessages(Static):
    """Stands in for the older messages not mounted yet; home (or scrolling up to it) shows
    more."""

    DEFAULT_CSS = """
    EarlierMessages {
        color: $text-muted;
        text-style: italic;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    """

    def show_count(self, hidden: int) -> None:
        self.update(Text(f"↑ {hidden} earlier message(s): home or scroll up shows more"))

    def on_click(self) -> None:
        parent = self.parent
        if isinstance(parent, ThreadView):
            parent.show_earlier()


class ThreadView(VerticalScroll):
    """The messages of one conversation, oldest first, scrolled to the newest.

    Only the newest ``FIRST`` messages are mounted at first (a widget per message costs
    layout time: 200 took over a second); older ones are mounted ``MORE`` at a time when the
    agent presses home or scrolls up to the top."""

    DEFAULT_CSS = """
    ThreadView {
        height: 1fr;
        padding: 0 1;
        & > .thread-view--header { text-style: bold; }
        & > .thread-view--meta { color: $text-muted; }
        & > .thread-view--tag { color: $warning; text-style: bold; }
        & > .thread-view--attachment { color: $accent; }
    }
    """

    COMPONENT_CLASSES = {
        "thread-view--header",
        "thread-view--meta",
        "thread-view--tag",
        "thread-view--attachment",
    }

    BINDINGS = [
        Binding("home", "home", "Oldest", show=False, id="thread.home"),
    ]

    FIRST = 12
    """Messages mounted when a thread is shown (enough to fill a tall terminal)."""
    MORE = 30
    """Older messages mounted each time the agent asks for more."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=True)
        self.message_ids: tuple[int, ...] = ()
        """Ids of the messages of the thread, in order (mounted or not)."""
        self.hidden: list[MessageView] = []
        """Older messages not mounted yet, oldest first."""
        self._tz: tzinfo | None = None
        self._now: datetime | None = None

    def _card_styles(self) -> CardStyles:
        def style(name: str) -> Style:
            return self.get_component_rich_style(f"thread-view--{name}", partial=True)

        return CardStyles(style("header"), style("meta"), style("tag"), style("attachment"))

    def _cards(self, messages: Sequence[MessageView]) -> list[MessageCard]:
        assert self._tz is not None and self._now is not None
        styles = self._card_styles()
        return [MessageCard(m, self._tz, self._now, styles) for m in messages]

    def show(self, messages: Sequence[MessageView], tz: tzinfo, now: datetime) -> None:
        """Show ``messages``; when only new ones were added, append them."""
        ids = tuple(m.id for m in messages)
        if ids == self.message_ids:
            return
        self._tz, self._now = tz, now
        if ids[: len(self.message_ids)] == self.message_ids and self.message_ids:
            new = list(messages[len(self.message_ids) :])
        else:
            self.remove_children()
            self.hidden = list(messages[: max(len(messages) - self.FIRST, 0)])
            new = list(messages[len(self.hidden) :])
            if self.hidden:
                marker = EarlierMessages()
                marker.show_count(len(self.hidden))
                self.mount(marker)
        self.message_ids = ids
        if new:
            self.mount_all(self._cards(new))
        self.call_after_refresh(self.scroll_end, animate=False)

    def show_earlier(self) -> None:
        """Mount the next ``MORE`` older messages above the ones shown, keeping the message
        that was at the top in view."""
        if not self.hidden:
            return
        marker = self.query_one(EarlierMessages)
        batch, self.hidden = self.hidden[-self.MORE :], self.hidden[: -self.MORE]
        cards = self.query(MessageCard)
        first = cards.first() if cards else None
        self.mount_all(self._cards(batch), after=marker)
        if self.hidden:
            marker.show_count(len(self.hidden))
        else:
            marker.remove()
        if first is not None:
            self.call_after_refresh(self.scroll_to_widget, first, top=True, animate=False)

    def action_home(self) -> None:
        """Home: show earlier messages if some are not shown, else scroll to the oldest."""
        if self.hidden:
            self.show_earlier()
        else:
            self.scroll_home(animate=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.hidden and new_value < 1 <= old_value:
            self.show_earlier()  # scrolled up to the marker
