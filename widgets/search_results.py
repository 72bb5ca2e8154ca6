"""Search results as a DataTable: conversation reference, status, subject and snippet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable

from widgets.sanitize import safe_text

#: Short labels for conversation statuses (the column is narrow).
STATUS_LABEL = {
    "pending_customer": "pending",
    "on_hold": "on hold",
}

#: (key, label, width); the subject and snippet share what is left.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("ref", "Ref", 9),
    ("status", "Status", 8),
    ("subject", "Subject", None),
    ("snippet", "Snippet", None),
)


class Hit(Protocol):
    """What a result row needs (the search service's hits have these attributes)."""

    @property
    def conversation_id(self) -> int: ...
    @property
    def conversation(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def snippet(self) -> str: ...


class SearchResults(DataTable[Text]):
    """Matching conversations, best first, keyed by conversation id; every cell a safe Text."""

    DEFAULT_CSS = """
    SearchResults {
        height: 1fr;
        & > .search-results--muted { color: $text-muted; }
    }
    """

    COMPONENT_CLASSES = {"search-results--muted"}

    BINDINGS = [Binding("enter", "select_cursor", "Open", id="search-results.open")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.hit_ids: list[int] = []
        """Conversation ids shown, best first."""

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(Text(label), width=width or 12, key=key)
        self._fit(self.size.width)

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Subject gets two fifths of what the fixed columns leave, the snippet the rest."""
        if not self.columns:
            return
        fixed = sum(w for _, _, w in COLUMNS if w) + 2 * self.cell_padding * len(COLUMNS)
        spare = max(width - fixed - 2, 24)  # 2: the vertical scrollbar
        widths = {"subject": max(spare * 2 // 5, 12), "snippet": max(spare - spare * 2 // 5, 12)}
        for key, column in self.columns.items():
            wanted = widths.get(str(key.value))
            if wanted is not None and column.width != wanted:
                column.width, column.auto_width = wanted, False
                self._require_update_dimensions = True
        self.refresh()

    @property
    def selected_id(self) -> int | None:
        """The conversation under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def show(self, hits: Sequence[Hit]) -> None:
        """Replace the rows with ``hits`` (results are few: at most one page)."""
        muted = self.get_component_rich_style("search-results--muted", partial=True)
        with self.app.batch_update():
            self.clear()
            self.hit_ids = []
            for hit in hits:
                if hit.conversation_id in self.hit_ids:
                    continue
                in_subject = hit.snippet.strip() == hit.subject.strip()
                cells = [
                    safe_text(hit.conversation, "bold", single_line=True),
                    Text(STATUS_LABEL.get(hit.status, hit.status.replace("_", " "))),
                    safe_text(hit.subject, single_line=True),
                    Text("(in the subject)", muted)
                    if in_subject
                    else safe_text(hit.snippet, muted, single_line=True),
                ]
                for cell in cells:
                    cell.no_wrap, cell.overflow = True, "ellipsis"
                self.add_row(*cells, key=str(hit.conversation_id))
                self.hit_ids.append(hit.conversation_id)
            if self.row_count:
                self.move_cursor(row=0, animate=False)
