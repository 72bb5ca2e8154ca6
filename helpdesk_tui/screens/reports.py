"""The reports screen: a period's figures against their targets, volume sparklines, and the
agents' and sellers' tables; the report is computed in a thread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Sparkline, Static
from textual.worker import get_current_worker

from helpdesk_tui.screens.base import ConsoleScreen
from helpdesk_tui.services import reports, reports_format, reports_period
from helpdesk_tui.services.reports_period import Period
from helpdesk_tui.sla.policy import format_duration
from widgets.sanitize import safe_text

#: The screen's own keys (ids ``reports.*``, so they can be remapped like the registry's).
REPORT_BINDINGS: list[BindingType] = [
    Binding("left_square_bracket", "shift(-1)", "Prev", key_display="[", id="reports.previous",
            tooltip="The previous period."),
    Binding("right_square_bracket", "shift(1)", "Next", key_display="]", id="reports.next",
            tooltip="The next period."),
    Binding("w", "kind('week')", "Week", id="reports.week", tooltip="Weekly periods (ISO)."),
    Binding("m", "kind('month')", "Month", id="reports.month", tooltip="Monthly periods."),
    Binding("q", "kind('quarter')", "Quarter", id="reports.quarter",
            tooltip="Quarterly periods."),
    Binding("s", "sort", "Sort", id="reports.sort",
            tooltip="Sort the focused table by the cursor's column (again: reversed)."),
    Binding("x", "export", "Export", id="reports.export",
            tooltip="Write the report as Markdown to the current directory."),
    Binding("escape", "back", "Back", id="reports.back", tooltip="Back to the queue."),
]  # fmt: skip

#: File name prefix of an exported report, by period kind.
EXPORT_PREFIX = {"month": "scmr5", "week": "weekly", "quarter": "quarter"}

#: (id, label, section, key, how to show it)
FIGURES: tuple[tuple[str, str, str, str, str], ...] = (
    ("responded", "Responded within target", "response", "responded_within_target_pct", "pct"),
    ("resolved", "Resolved within 24 h", "response", "resolved_within_24h_pct", "pct"),
    ("seller", "Seller replied within 4 h", "response", "seller_replied_within_4h_pct", "pct"),
    ("frt-avg", "First response, average", "response", "first_response_avg_s", "dur"),
    ("frt-median", "First response, median", "response", "first_response_median_s", "dur"),
    ("art", "Average response", "response", "average_response_s", "dur"),
    ("nps", "NPS", "satisfaction", "nps", "num"),
    ("rating", "Rating, average", "satisfaction", "rating_avg", "num"),
    ("escalations", "Escalations", "escalations", "total", "num"),
    ("flags", "Flags decided within 12 h", "moderation", "decided_within_12h_pct", "pct"),
)

#: (key, header, how to show it)
AGENT_COLUMNS = (
    ("agent", "Agent", "name"),
    ("replies", "Replies", "num"),
    ("first_responses", "First resp.", "num"),
    ("first_response_avg_s", "FRT avg", "dur"),
    ("responded_within_target_pct", "In target", "pct"),
    ("resolved", "Resolved", "num"),
    ("rating_avg", "Rating", "num"),
)
SELLER_COLUMNS = (
    ("seller", "Seller", "name"),
    ("name", "Name", "name"),
    ("inquiries", "Inquiries", "num"),
    ("replied_in_time", "In time", "num"),
    ("missed", "Missed", "num"),
    ("pending", "Pending", "num"),
    ("replied_within_4h_pct", "Within 4 h", "pct"),
    ("average_reply_s", "Avg reply", "dur"),
    ("standing", "Standing", "name"),
)


@dataclass
class ReportLoaded(Message):
    """A report, computed in a worker, for the period labelled ``label``."""

    kind: str
    label: str
    data: dict[str, Any]


def show(value: Any, how: str) -> str:
    """A figure as text: durations as ``1h 49m``, percentages with ``%``, none as ``-``."""
    if value is None:
        return "-"
    if how == "dur":
        return format_duration(value) if abs(value) >= 60 else f"{value:g}s"
    if how == "pct":
        return f"{value:g}%"
    if how == "num" and isinstance(value, float):
        return f"{value:g}"
    return str(value)


def period_for(kind: str, day: date, tz: str) -> Period:
    """The week, month or quarter that holds ``day``."""
    if kind == "week":
        return reports_period.week(reports_period.iso_week_label(day), tz)
    if kind == "quarter":
        return reports_period.quarter(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}", tz)
    return reports_period.month(f"{day.year:04d}-{day.month:02d}", tz)


class Cell(Text):
    """A table cell that sorts by its raw value (None last)."""

    raw: Any = None


def cell(value: Any, how: str) -> Cell:
    if how == "name":
        text = safe_text(str(value) if value is not None else "", single_line=True)
        out = Cell(text.plain, style=text.style, spans=list(text.spans))
    else:
        out = Cell(show(value, how), justify="right")
    out.raw = value
    return out


def sort_key(value: Any) -> tuple[bool, Any]:
    raw = value.raw if isinstance(value, Cell) else value
    return (raw is None, raw if raw is not None else 0)


class ReportsScreen(ConsoleScreen):
    """One period's report; `[`/`]` move through periods, `w`/`m`/`q` change their length."""

    SCOPE = "app"  # the help screen lists the app-wide keys here; the footer shows these
    BINDINGS = REPORT_BINDINGS

    def __init__(self) -> None:
        super().__init__()
        self.kind = "month"
        """``week``, ``month`` or ``quarter``."""
        self.day: date | None = None
        """A day inside the period shown."""
        self.report: dict[str, Any] | None = None
        """The report shown (None: still computing)."""
        self._sorted: dict[str, tuple[Any, bool]] = {}

    @property
    def period(self) -> Period:
        tz = self.ctx.settings.reporting_tz
        day = self.day or self.hd.clock().astimezone(ZoneInfo(tz)).date()
        return period_for(self.kind, day, tz)

    def compose(self) -> ComposeResult:
        yield Static(Text("Reports"), id="reports-title")
        yield Static(Text("computing…"), id="reports-status")
        with VerticalScroll(id="reports-body"):
            yield Static(Text("Figures"), classes="reports-heading")
            for fid, *_ in FIGURES:
                yield Static(Text(""), id=f"fig-{fid}", classes="figure")
            yield Static(Text("Messages by day"), id="by-day-label", classes="reports-heading")
            yield Sparkline([], summary_function=max, id="by-day")
            yield Static(Text("Messages by hour (0-23)"), id="by-hour-label",
                         classes="reports-heading")  # fmt: skip
            yield Sparkline([], summary_function=max, id="by-hour")
            yield Static(Text("Agents"), classes="reports-heading")
            yield DataTable(id="agents", zebra_stripes=True)
            yield Static(Text("Sellers"), classes="reports-heading")
            yield DataTable(id="sellers", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        for table_id, columns in (("agents", AGENT_COLUMNS), ("sellers", SELLER_COLUMNS)):
            table = self.query_one(f"#{table_id}", DataTable)
            for key, header, _how in columns:
                table.add_column(header, key=key)
        self.query_one("#reports-body", VerticalScroll).focus()
        self._load()

    # -- computing ---------------------------------------------------------------------------
    def _load(self) -> None:
        period = self.period
        self.report = None
        self._title(period)
        self._status(Text(f"computing {period.label}…"))
        self._compute(period)

    @work(thread=True, exclusive=True, exit_on_error=False, group="reports")
    def _compute(self, period: Period) -> None:
        data = reports.build(self.ctx, period, as_of=self.ctx.now())
        if not get_current_worker().is_cancelled:
            self.post_message(ReportLoaded(period.kind, period.label, data))

    def on_report_loaded(self, message: ReportLoaded) -> None:
        current = self.period
        if (message.kind, message.label) != (current.kind, current.label):
            return  # the agent has moved on since
        self.report = message.data
        self._show(message.data)

    # -- showing -----------------------------------------------------------------------------
    def _title(self, period: Period) -> None:
        names = {"month": "SCMR-5 monthly report", "week": "Weekly check-in",
                 "quarter": "Quarterly report"}  # fmt: skip
        title = Text.assemble(
            (f"{names[period.kind]} {period.label}", "bold"),
            f"  {period.first_day} to {period.last_day} ({period.tz})",
        )
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#reports-title", Static).update(title)

    def _status(self, text: Text) -> None:
        text.no_wrap, text.overflow = True, "ellipsis"
        self.query_one("#reports-status", Static).update(text)

    def _show(self, data: dict[str, Any]) -> None:
        for fid, label, section, key, how in FIGURES:
            part = data.get(section, {})
            value = part.get(key)
            target = part.get(f"{key}_target")
            met = part.get(f"{key}_met")
            line = Text.assemble(f"{label:<28}", (f"{show(value, how):>10}", "bold"))
            if target is not None:
                verdict = "" if met is None else ("  met" if met else "  MISSED")
                line.append(f"   target {show(target, how)}{verdict}")
            widget = self.query_one(f"#fig-{fid}", Static)
            widget.update(line)
            widget.set_class(met is True, "-met")
            widget.set_class(met is False, "-missed")
        volume = data.get("volume", {})
        by_day = volume.get("by_day", {})
        by_hour = volume.get("by_hour", {})
        self.query_one("#by-day", Sparkline).data = list(by_day.values())
        self.query_one("#by-hour", Sparkline).data = [by_hour.get(str(h), 0) for h in range(24)]
        self.query_one("#by-day-label", Static).update(
            Text(
                f"Messages by day ({volume.get('messages', 0)} in all, busiest day "
                f"{max(by_day.values(), default=0)})"
            )
        )
        peak = volume.get("peak_hour")
        self.query_one("#by-hour-label", Static).update(
            Text(f"Messages by hour, 0-23 (peak {'-' if peak is None else f'{peak}:00'})")
        )
        self._fill("agents", AGENT_COLUMNS, data.get("agents", []))
        self._fill("sellers", SELLER_COLUMNS, data.get("sellers", []))
        self._status(Text(f"as of {data.get('period', {}).get('as_of', '')}"
                          " · [ ] period · w m q length · s sort · x export"))  # fmt: skip

    def _fill(self, table_id: str, columns: Any, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*(cell(row.get(key), how) for key, _h, how in columns))
        previous = self._sorted.get(table_id)
        if previous is not None:
            table.sort(previous[0], key=sort_key, reverse=previous[1])

    # -- sorting -----------------------------------------------------------------------------
    def sort_table(self, table: DataTable[Any], column_key: Any) -> None:
        """Sort by the column; the same column again reverses the order."""
        table_id = table.id or ""
        previous = self._sorted.get(table_id)
        reverse = previous is not None and previous[0] == column_key and not previous[1]
        self._sorted[table_id] = (column_key, reverse)
        table.sort(column_key, key=sort_key, reverse=reverse)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.sort_table(event.data_table, event.column_key)

    def action_sort(self) -> None:
        table = self.focused
        if not isinstance(table, DataTable) or not table.columns:
            table = self.query_one("#agents", DataTable)
            if not table.row_count:
                table = self.query_one("#sellers", DataTable)
            table.focus()
        column = min(table.cursor_coordinate.column, len(table.ordered_columns) - 1)
        self.sort_table(table, table.ordered_columns[column].key)

    # -- periods -----------------------------------------------------------------------------
    def action_shift(self, step: int) -> None:
        period = self.period
        if step < 0:
            self.day = period.first_day - timedelta(days=1)
        else:
            self.day = period.last_day + timedelta(days=1)
        self._load()

    def action_kind(self, kind: str) -> None:
        if kind == self.kind:
            return
        period = self.period
        self.day = self.day or period.first_day
        self.kind = kind
        self._load()

    # -- export ------------------------------------------------------------------------------
    def action_export(self) -> None:
        """The report as Markdown in the current directory (an existing file is never
        replaced: a number is added to the name)."""
        if self.report is None:
            self.notify("The report is still being computed.", title="Export",
                        severity="warning", markup=False)  # fmt: skip
            return
        period = self.period
        stem = f"{EXPORT_PREFIX.get(period.kind, 'report')}-{period.label}"
        try:
            path = Path.cwd() / f"{stem}.md"
            n = 1
            while path.exists():
                path = Path.cwd() / f"{stem}-{n}.md"
                n += 1
            with path.open("x", encoding="utf-8") as fh:
                fh.write(reports_format.render(self.report, "md"))
        except OSError as exc:
            self.hd.report_failure(exc)
            return
        self.notify(safe_text(f"Written to {path}", single_line=True).plain, title="Export",
                    markup=False)  # fmt: skip

    def action_back(self) -> None:
        self.app.pop_screen()
