"""The queue's header line: open, unassigned, breached, at risk, share answered in time today."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from db.records import QueueHealth


class HealthBar(Static):
    """Queue health on the first line, the current view and filter on the second."""

    DEFAULT_CSS = """
    HealthBar {
        height: 2;
        padding: 0 1;
        background: $panel;
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

    def show(self, health: QueueHealth, view: Text, shown: int, total: int) -> None:
        """Draw ``health`` and, below it, ``view`` (already safe Text) with the row counts."""
        self.health = health
        label = self.get_component_rich_style("health-bar--label", partial=True)

        def figure(value: int, name: str, component: str | None = None) -> Text:
            style = (
                self.get_component_rich_style(f"health-bar--{component}", partial=True)
                if component and value
                else ""
            )
            return Text.assemble((str(value), style), (f" {name}", label))

        pct = health.within_target_today_pct
        pct_text = Text.assemble(
            ("-" if pct is None else f"{pct:g}%", ""), (" in target today", label)
        )
        sep = Text("  ·  ", style=label)
        first = Text.assemble(
            figure(health.open, "open"),
            sep,
            figure(health.unassigned, "unassigned"),
            sep,
            figure(health.breached, "breached", "breached"),
            sep,
            figure(health.at_risk, "at risk", "at-risk"),
            sep,
            pct_text,
        )
        count = Text(f"  {shown} of {total}" if shown < total else f"  {total} shown", style=label)
        second = Text.assemble(view, count)
        both = Text("\n").join([first, second])
        both.no_wrap, both.overflow = True, "ellipsis"
        self.update(both)
