"""A conversation's messages in order: author, role, local time, age; notes and automatic
messages set apart; attachments listed.

The thread is one line-API widget (``ScrollView``): each message is rendered to lines once
(per width) and only the lines in view are painted. A widget per message cost a style pass,
a layout box and a compositor region each, which made opening a long thread slow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from db.records import MessageView
from widgets.sanitize import safe_text
from widgets.timefmt import age, local, size

#: Labels for how a message came in when it was not typed by a person.
AUTOMATIC = {"auto_ack": "automatic acknowledgement"}

#: The left bar of a message (a thick left border).
BAR = "█"


def message_kind(message: MessageView) -> str:
    """``note``, ``auto``, ``system``, ``agent`` or ``customer`` (how the message is set apart)."""
    if message.internal:
        return "note"
    if message.via == "auto_ack":
        return "auto"
    if message.role == "system":
        return "system"
    if message.role == "agent":
        return "agent"
    return "customer"


def message_text(m: MessageView, tz: tzinfo, now: datetime, st: CardStyles) -> Text:
    """A message as Text: header line (author, role, local time, age, tag), body (sanitised),
    one line per attachment."""
    kind = message_kind(m)
    tag = {"note": "INTERNAL NOTE", "auto": "AUTO", "system": "SYSTEM"}.get(kind)
    header = Text.assemble(
        safe_text(m.author, st.header, single_line=True),
        (f" · {m.role} · {local(m.sent_at, tz)} ({age(m.sent_at, now)} ago)", st.meta),
    )
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


@dataclass(frozen=True)
class CardStyles:
    """The Rich styles of a message's parts and of each kind of message, resolved from the
    widget's component classes once per rendering (not once per message)."""

    header: Style
    meta: Style
    tag: Style
    attachment: Style
    earlier: Style
    bars: dict[str, Style]
    """The left bar's colour by message kind."""
    bodies: dict[str, Style]
    """The whole message's base style by kind (a note's background, automatic text muted)."""


@dataclass
class _Block:
    """One shown message and its lines at the current width."""

    message: MessageView
    lines: list[Strip]


class ThreadView(ScrollView, can_focus=True):
    """The messages of one conversation, oldest first, scrolled to the newest.

    Only the newest ``FIRST`` messages are rendered at first (rendering text costs); older
    ones are added ``MORE`` at a time when the agent presses home or scrolls up to the top
    line, which says how many are not shown yet."""

    DEFAULT_CSS = """
    ThreadView {
        height: 1fr;
        padding: 0 1;
        scrollbar-gutter: stable;
        & > .thread-view--header { text-style: bold; }
        & > .thread-view--meta { color: $text-muted; }
        & > .thread-view--tag { color: $warning; text-style: bold; }
        & > .thread-view--attachment { color: $accent; }
        & > .thread-view--earlier { color: $text-muted; text-style: italic; }
        & > .thread-view--customer { color: $secondary; }
        & > .thread-view--agent { color: $primary; }
        & > .thread-view--note { color: $warning; background: $warning 10%; }
        & > .thread-view--auto { color: $surface-lighten-2; }
        & > .thread-view--muted { color: $text-muted; }
    }
    """

    COMPONENT_CLASSES = {
        "thread-view--header",
        "thread-view--meta",
        "thread-view--tag",
        "thread-view--attachment",
        "thread-view--earlier",
        "thread-view--customer",
        "thread-view--agent",
        "thread-view--note",
        "thread-view--auto",
        "thread-view--muted",
    }

    BINDINGS = [
        Binding("home", "home", "Oldest", show=False, id="thread.home"),
    ]

    FIRST = 12
    """Messages rendered when a thread is shown (enough to fill a tall terminal)."""
    MORE = 30
    """Older messages rendered each time the agent asks for more."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.message_ids: tuple[int, ...] = ()
        """Ids of the messages of the thread, in order (shown or not)."""
        self.hidden: list[MessageView] = []
        """Older messages not shown yet, oldest first."""
        self._blocks: list[_Block] = []
        self._tz: tzinfo | None = None
        self._now: datetime | None = None
        self._width = 0
        """The width the blocks' lines were rendered at (0: not rendered)."""
        self._lines: list[Strip] = []
        self._styles: CardStyles | None = None

    # -- what is shown -------------------------------------------------------------------------
    @property
    def shown(self) -> list[MessageView]:
        """The messages shown (rendered), oldest first."""
        return [b.message for b in self._blocks]

    @property
    def ready(self) -> bool:
        """Whether every shown message has its lines at the current width."""
        return self._width > 0 and self._width == self._content_width()

    @property
    def lines(self) -> list[Strip]:
        """Every line of the thread as shown (marker, messages, gaps), top to bottom."""
        return self._lines

    def show(self, messages: Sequence[MessageView], tz: tzinfo, now: datetime) -> None:
        """Show ``messages``; when only new ones were added, append them."""
        ids = tuple(m.id for m in messages)
        if ids == self.message_ids:
            return
        self._tz, self._now = tz, now
        at_end = self.scroll_y >= self.max_scroll_y
        if ids[: len(self.message_ids)] == self.message_ids and self.message_ids:
            new = list(messages[len(self.message_ids) :])
        else:
            self._blocks = []
            self.hidden = list(messages[: max(len(messages) - self.FIRST, 0)])
            new = list(messages[len(self.hidden) :])
            at_end = True
        self.message_ids = ids
        self._blocks += [_Block(m, []) for m in new]
        width = self._content_width()
        if width > 0 and self._width == width:
            self._render_blocks(self._blocks[len(self._blocks) - len(new) :], width)
        else:
            self._width = 0  # rendered when the size is known (on_resize)
        self._relayout(stick_to_end=at_end)

    def show_earlier(self) -> None:
        """Show the next ``MORE`` older messages above the ones shown, keeping the line that
        was at the top in view."""
        if not self.hidden:
            return
        batch, self.hidden = self.hidden[-self.MORE :], self.hidden[: -self.MORE]
        blocks = [_Block(m, []) for m in batch]
        before = len(self._lines)
        self._blocks[:0] = blocks
        if self._width:
            self._render_blocks(blocks, self._width)
        self._relayout(stick_to_end=False)
        self.scroll_to(y=self.scroll_y + len(self._lines) - before, animate=False,
                       immediate=True, force=True)  # fmt: skip

    def action_home(self) -> None:
        """Home: show earlier messages if some are not shown, else scroll to the oldest."""
        if self.hidden:
            self.show_earlier()
        else:
            self.scroll_home(animate=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.hidden and new_value < 1 <= old_value:
            self.call_later(self.show_earlier)  # scrolled up to the marker

    def on_click(self, event: events.Click) -> None:
        if self.hidden and event.y + self.scroll_offset.y == 0:
            self.show_earlier()  # the marker line

    # -- rendering -----------------------------------------------------------------------------
    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def _card_styles(self) -> CardStyles:
        if self._styles is None:

            def rich(name: str) -> Style:
                return self.get_component_rich_style(f"thread-view--{name}", partial=True)

            base = self.background_colors[1]

            def colour(name: str, *, background: bool = False) -> Style:
                styles = self.get_component_styles(f"thread-view--{name}")
                fg = (base + styles.color).rich_color
                if not background:
                    return Style(color=fg)
                return Style(bgcolor=(base + styles.background).rich_color)

            muted = colour("muted")
            self._styles = CardStyles(
                rich("header"), rich("meta"), rich("tag"), rich("attachment"),
                rich("earlier"),
                bars={"customer": colour("customer"), "agent": colour("agent"),
                      "note": colour("note"), "auto": colour("auto"), "system": colour("auto")},
                bodies={"customer": Style(), "agent": Style(),
                        "note": colour("note", background=True), "auto": muted, "system": muted},
            )  # fmt: skip
        return self._styles

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None  # the theme or the stylesheet changed: render again
        if self._width:
            self._width = 0
            self.call_later(self._rerender)

    def _rerender(self) -> None:
        width = self._content_width()
        if width > 0 and self._width != width:
            at_end = self.scroll_y >= self.max_scroll_y
            self._render_blocks(self._blocks, width)
            self._relayout(stick_to_end=at_end)

    def on_resize(self, event: events.Resize) -> None:
        self._rerender()

    def _render_blocks(self, blocks: Sequence[_Block], width: int) -> None:
        """Render ``blocks`` to lines ``width`` cells wide: the kind's bar, a cell of padding
        each side, the text wrapped in between."""
        self._width = width
        if self._tz is None or self._now is None:
            return
        st = self._card_styles()
        console = self.app.console
        inner = max(width - 3, 1)
        options = console.options.update(width=inner, highlight=False, markup=False)
        for block in blocks:
            kind = message_kind(block.message)
            base = st.bodies[kind]
            bar, pad = Segment(BAR, st.bars[kind] + base), Segment(" ", base)
            text = message_text(block.message, self._tz, self._now, st)
            block.lines = [
                Strip([bar, pad, *line, pad], width)
                for line in console.render_lines(text, options, style=base, pad=True)
            ]

    def _relayout(self, *, stick_to_end: bool) -> None:
        """Join the blocks' lines (marker first, a blank line after each message), size the
        virtual canvas and repaint."""
        lines: list[Strip] = []
        if self.hidden and self._width:
            st = self._card_styles()
            marker = Text(f"↑ {len(self.hidden)} earlier message(s): home or scroll up shows more",
                          style=st.earlier, no_wrap=True, overflow="ellipsis")  # fmt: skip
            lines.append(Strip(marker.render(self.app.console), marker.cell_len))
            lines.append(Strip.blank(0))
        if self._width:
            for block in self._blocks:
                lines += block.lines
                lines.append(Strip.blank(0))
        self._lines = lines
        self.virtual_size = Size(self._width, len(lines))
        if stick_to_end:
            self.scroll_to(y=max(len(lines) - self.scrollable_content_region.height, 0),
                           animate=False, immediate=True, force=True)  # fmt: skip
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self.rich_style
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, style)
        line = self._lines[index].crop_extend(scroll_x, scroll_x + width, style)
        return line.apply_style(style)
