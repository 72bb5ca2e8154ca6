"""The queue's header line: open, unassigned, breached, at risk, share answered in time today."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.events import Resize
from textual.widgets import Static

from db.records import QueueHealth

#: Labels (open, unassigned, breached, at risk, share in target, separator), longest first;
#: the first set that fits the width is used.
LABELS: tuple[tuple[str, ...], ...] = (
    ("open", "unassigned", "breached", "at risk", "in target today", "  ·  "),
    ("open", "unassigned", "breached", "at risk", "in target today", " · "),
    ("open", "unassigned", "breached", "at risk", "in target", " · "),
    ("open", "unass.", "breached", "at risk", "in target", " · "),
    ("open", "unass.", "late", "risk", "ok", " · "),
)


class HealthBar(Static):
    """Queue health on the first line, the current view and filter on the second."""

    DEFAULT_CSS = """
    HealthBar {
        height: 2;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        & > .health-bar--breached { color: $error; text-style: bold; }
        & > .health-bar--at-risk { color: $warning; text-style: bold; }
        & > .health-bar--label { color: $text-muted; }
        & > .health-bar--good { color: $success; }
    }
    """

    COMPONENT_CLASSES = {
        "health-bar--breached",
        "health-bar--at-risk",
        "health-bar--label",
        "health-bar--good",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("loading the queue…"), id=id)
        self.health: QueueHealth | None = None
        """The last health figures shown."""
        self._view = Text()
        self._count = (0, 0)
        self._capped = False

    def show(self, health: QueueHealth, view: Text, shown: int, total: int) -> None:
        """Draw ``health`` and, below it, ``view`` (already safe Text) with the row counts."""
        self.health, self._view, self._count = health, view, (shown, total)
        self._draw()

    def show_health(self, health: QueueHealth) -> None:
        """New health figures (the first line)."""
        self.health = health
        self._draw()

    def show_view(self, view: Text, shown: int, total: int, capped: bool = False) -> None:
        """A new view line: ``view`` (already safe Text) and the row counts (``capped``: at
        least ``total`` match)."""
        self._view, self._count, self._capped = view, (shown, total), capped
        self._draw()

    def on_resize(self, event: Resize) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.content_size.width or self.size.width or 80
        label = self.get_component_rich_style("health-bar--label", partial=True)
        if self.health is None:
            first = Text("queue health: counting…", style=label)
        else:
            first = next(
                (line for labels in LABELS
                 if cell_len((line := self._figures(labels)).plain) <= width),
                self._figures(LABELS[-1]),
            )  # fmt: skip
        shown, total = self._count
        more = "+" if self._capped else ""
        count = Text(
            f"  {shown} of {total}{more}" if shown < total or more else f"  {total} shown",
            style=label,
        )
        view = self._view.copy()
        if cell_len(view.plain) + count.cell_len > width:  # the counts stay whole
            view.truncate(max(width - count.cell_len, 1), overflow="ellipsis")
        both = Text("\n").join([first, Text.assemble(view, count)])
        both.no_wrap, both.overflow = True, "ellipsis"
        self.update(both)

    def _figures(self, labels: tuple[str, ...]) -> Text:
        """The health line with one set of labels (see LABELS)."""
        health = self.health
        assert health is not None
        label = self.get_component_rich_style("health-bar--label", partial=True)
        names, sep = labels[:-1], labels[-1]

        def figure(value: int, name: str, component: str | None = None) -> Text:
            style = (
                self.get_component_rich_style(f"health-bar--{component}", partial=True)
                if component and value
                else ""
            )
            return Text.assemble((str(value), style), (f" {name}", label))

        pct = health.within_target_today_pct
        pct_text = Text.assemble(("-" if pct is None else f"{pct:g}%", ""), (f" {names[4]}", label))
        return Text(sep, style=label).join(
            [
                figure(health.open, names[0]),
                figure(health.unassigned, names[1]),
                figure(health.breached, names[2], "breached"),
                figure(health.at_risk, names[3], "at-risk"),
                pct_text,
            ]
        )
