"""The queue as a keyed DataTable: every cell a ``Text``, rows diffed in place, live countdown."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

from db.records import QueueRow
from widgets.sanitize import safe_text
from widgets.timefmt import age, short_duration

#: Short labels for conversation kinds.
KIND_LABEL = {
    "user_admin": "support",
    "buyer_seller": "buyer",
    "issue_report": "issue",
    "flag": "flag",
}
#: Short labels for priorities (the column is narrow).
PRIORITY_LABEL = {"urgent": "URG", "high": "high", "normal": "norm", "low": "low"}

#: (key, label, width at 80 columns); the subject (width None) takes what is left.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("left", "Left", 8),
    ("priority", "Pri", 4),
    ("kind", "Kind", 7),
    ("subject", "Subject", None),
    ("requester", "Requester", 11),
    ("assignee", "Assignee", 8),
    ("waiting", "Wait", 6),
    ("esc", "Esc", 3),
)
#: Below this width the Wait column is compact (``1d15h``); from it on, spaced (``1d 15h``).
COMPACT_BELOW = 100
#: Cells kept for the vertical scrollbar (see ``scrollbar-size-vertical`` below).
SCROLLBAR = 1
CELL_PADDING = 1


def column_widths(width: int) -> dict[str, int]:
    """Cells per column for a table ``width`` cells wide: every value whole, names widen a
    little on wide terminals, the subject takes the rest (at least 12 cells)."""
    widths = {key: w for key, _, w in COLUMNS if w}
    if width >= COMPACT_BELOW:
        widths["waiting"] = 7  # "23h 59m"
    padding = 2 * CELL_PADDING * len(COLUMNS)
    spare = max(width - sum(widths.values()) - padding - SCROLLBAR - 40, 0)  # beyond 40
    widths["requester"] += min(spare // 3, 10)
    widths["assignee"] += min(spare // 6, 4)
    widths["subject"] = max(width - sum(widths.values()) - padding - SCROLLBAR, 12)
    return widths


class QueueTable(DataTable[Text]):
    """Open conversations in deadline order, keyed by conversation id."""

    DEFAULT_CSS = """
    QueueTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        & > .queue-table--breached { color: $error; text-style: bold; }
        & > .queue-table--at-risk { color: $warning; }
        & > .queue-table--urgent { color: $error; }
        & > .queue-table--high { color: $warning; }
        & > .queue-table--verified { color: $success; }
        & > .queue-table--muted { color: $text-muted; }
        & > .queue-table--marked { background: $accent 30%; text-style: bold; }
    }
    """

    COMPONENT_CLASSES = {
        "queue-table--breached",
        "queue-table--at-risk",
        "queue-table--urgent",
        "queue-table--high",
        "queue-table--verified",
        "queue-table--muted",
        "queue-table--marked",
    }

    BINDINGS = [Binding("enter", "select_cursor", "Open", id="queue-table.open")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        self.queue_rows: dict[int, QueueRow] = {}
        """The rows shown, by conversation id."""
        self.marked: set[int] = set()
        """Conversation ids marked for a bulk action."""
        self.compact = True
        """Times in the Wait column without spaces (narrow terminals)."""
        self._now: datetime | None = None

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(Text(label), width=width or 12, key=key)
        self._fit_subject(self.size.width)

    def on_resize(self, event: Resize) -> None:
        self._fit_subject(event.size.width)

    def _fit_subject(self, width: int) -> None:
        """Share ``width`` between the columns (see :func:`column_widths`)."""
        if not self.columns:
            return
        widths = column_widths(width)
        changed = False
        for key, column in self.columns.items():
            wanted = widths.get(str(key.value))
            if wanted is not None and column.width != wanted:
                column.width, column.auto_width, changed = wanted, False, True
        compact = width < COMPACT_BELOW
        if compact != self.compact:
            self.compact = compact
            if self._now is not None:
                self.tick(self._now)
        if changed:
            self._require_update_dimensions = True
            self.refresh()

    # -- reading -----------------------------------------------------------------------------
    @property
    def selected_id(self) -> int | None:
        """The conversation under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def ordered_ids(self) -> list[int]:
        """Conversation ids in display order."""
        return [int(row.key.value) for row in self.ordered_rows if row.key.value is not None]

    def targets(self) -> list[int]:
        """Marked rows in display order, or the row under the cursor."""
        if self.marked:
            return [i for i in self.ordered_ids() if i in self.marked]
        selected = self.selected_id
        return [selected] if selected is not None else []

    # -- writing -----------------------------------------------------------------------------
    def show(self, rows: Sequence[QueueRow], now: datetime) -> None:
        """Diff ``rows`` into the table: update, add, remove and reorder by key, keeping the
        selected conversation selected wherever it moves."""
        self._now = now
        selected = self.selected_id
        wanted = {row.id: row for row in rows}
        with self.app.batch_update():
            for conv_id in [i for i in self.queue_rows if i not in wanted]:
                self.remove_row(str(conv_id))
                del self.queue_rows[conv_id]
            for row in rows:
                old = self.queue_rows.get(row.id)
                cells = self._cells(row, now)
                if old is None:
                    self.add_row(*cells, key=str(row.id))
                else:
                    for (key, _, _), cell in zip(COLUMNS, cells, strict=True):
                        self.update_cell(str(row.id), key, cell)
                self.queue_rows[row.id] = row
            self.marked &= set(wanted)
            self._apply_order([row.id for row in rows])
            if selected is not None and selected in wanted:
                self.move_cursor(row=self.get_row_index(str(selected)), animate=False)
            elif self.row_count:
                self.move_cursor(row=min(self.cursor_row, self.row_count - 1), animate=False)

    def _apply_order(self, ids: list[int]) -> None:
        """Put rows in the database's order. DataTable can only sort by cell values, and the
        order here is the SQL order (deadline, id), so set the row locations directly."""
        if self.ordered_ids() == ids:
            return
        self._row_locations = TwoWayDict({RowKey(str(i)): n for n, i in enumerate(ids)})
        self._update_count += 1
        self.refresh()

    def tick(self, now: datetime) -> None:
        """Advance the countdown and waiting columns from the stored times (no query); only
        cells whose text or colour changed are touched (each update costs a table redraw)."""
        self._now = now
        marked = self._style("marked")
        changes: list[tuple[str, str, Text]] = []
        for conv_id, row in self.queue_rows.items():
            for column, cell in (
                ("left", self._left(row, now)),
                ("waiting", self._waiting(row, now)),
            ):
                if conv_id in self.marked:
                    cell.stylize(marked)
                _finish(cell)
                key = str(conv_id)
                try:
                    old = self.get_cell(key, column)
                except (KeyError, CellDoesNotExist):
                    continue
                if old.plain != cell.plain or old.spans != cell.spans or old.style != cell.style:
                    changes.append((key, column, cell))
        if changes:
            with self.app.batch_update():
                for key, column, cell in changes:
                    self.update_cell(key, column, cell)

    def toggle_mark(self) -> int | None:
        """Mark or unmark the row under the cursor; returns its id."""
        conv_id = self.selected_id
        if conv_id is None:
            return None
        self.marked ^= {conv_id}
        self._restyle(conv_id)
        return conv_id

    def clear_marks(self) -> None:
        marked, self.marked = self.marked, set()
        for conv_id in marked:
            self._restyle(conv_id)

    def _restyle(self, conv_id: int) -> None:
        row = self.queue_rows.get(conv_id)
        if row is None or self._now is None:
            return
        for (key, _, _), cell in zip(COLUMNS, self._cells(row, self._now), strict=True):
            self.update_cell(str(conv_id), key, cell)

    # -- cells -------------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"queue-table--{name}", partial=True)

    def _left(self, row: QueueRow, now: datetime) -> Text:
        left = row.seconds_left(now)
        if left is None:
            return Text("-", style=self._style("muted"))
        if row.breached(now):
            return Text(short_duration(left), style=self._style("breached"))
        if row.at_risk(now):
            return Text(short_duration(left), style=self._style("at-risk"))
        return Text(short_duration(left))

    def _waiting(self, row: QueueRow, now: datetime) -> Text:
        return Text(age(row.waiting_since, now, compact=self.compact))

    def _cells(self, row: QueueRow, now: datetime) -> list[Text]:
        priority_style = {"urgent": "urgent", "high": "high"}.get(row.priority)
        requester = safe_text(row.requester, single_line=True)
        if row.requester_verified:
            requester = Text.assemble(("✓ ", self._style("verified")), requester)
        subject = safe_text(row.subject, single_line=True)
        if row.id in self.marked:
            subject = Text.assemble("● ", subject)
        cells = [
            self._left(row, now),
            Text(
                PRIORITY_LABEL.get(row.priority, row.priority),
                style=self._style(priority_style) if priority_style else "",
            ),
            Text(KIND_LABEL.get(row.kind, row.kind)),
            subject,
            requester,
            safe_text(row.assignee or "-", single_line=True),
            self._waiting(row, now),
            Text(str(row.escalation_level) if row.escalation_level else "-"),
        ]
        if row.id in self.marked:
            marked = self._style("marked")
            for cell in cells:
                cell.stylize(marked)
        for cell in cells:
            _finish(cell)
        return cells


def _finish(cell: Text) -> Text:
    """One line, cut with an ellipsis if it must be (values are sized to fit whole)."""
    cell.no_wrap = True
    cell.overflow = "ellipsis"
    return cell
