"""Full-text search: type words, see ranked conversations, enter opens one."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from helpdesk_tui.actions import bindings
from helpdesk_tui.messages import SearchResultsLoaded
from helpdesk_tui.screens.base import ConsoleScreen
from helpdesk_tui.services import search
from widgets.sanitize import safe_text
from widgets.search_results import SearchResults

#: Most conversations listed for one query.
LIMIT = 50


class SearchScreen(ConsoleScreen):
    """A search box over a results table; the search runs in a thread as you type."""

    SCOPE = "search"
    BINDINGS = bindings("search")

    DEBOUNCE_S = 0.25
    """Seconds of quiet typing before the search runs."""

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.initial = query
        """What the box starts with."""
        self.shown_query: str | None = None
        """The query whose results the table shows (None: nothing searched yet)."""
        self._timer: Timer | None = None
        self._open_when_loaded = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Search subjects and messages"), id="search-title")
        yield Input(
            value=self.initial,
            placeholder="words to find (the last one may be the start of a word)",
            id="search-query",
        )
        yield Static(Text("type to search"), id="search-status")
        yield SearchResults(id="search-results")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.hd.leave_conversation()
        if self.initial.strip():
            self._search(self.initial.strip())

    def on_screen_resume(self) -> None:
        self.hd.leave_conversation()

    @property
    def query_text(self) -> str:
        return self.query_one("#search-query", Input).value.strip()

    # -- searching ---------------------------------------------------------------------------
    @on(Input.Changed, "#search-query")
    def _typed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.DEBOUNCE_S, self._run)

    def _run(self) -> None:
        self._timer = None
        query = self.query_text
        if not query:
            self.shown_query = None
            self.query_one(SearchResults).show([])
            self._status(Text("type to search"))
            return
        if query != self.shown_query:
            self._status(Text("searching…"))
            self._search(query)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, query: str) -> None:
        self.post_message(SearchResultsLoaded(query, search.search(self.ctx, query, limit=LIMIT)))

    def on_search_results_loaded(self, message: SearchResultsLoaded) -> None:
        if message.query != self.query_text:
            return  # the agent has typed on since
        self.shown_query = message.query
        table = self.query_one(SearchResults)
        table.show(message.hits)
        self.refresh_bindings()
        n = table.row_count
        what = {0: "no conversation matches", 1: "1 conversation matches"}.get(
            n, f"{n} conversations match"
        )
        more = " (the best shown)" if n >= LIMIT else ""
        self._status(
            Text.assemble(what, " “", safe_text(message.query, single_line=True), "”", more)
        )
        if self._open_when_loaded:
            self._open_when_loaded = False
            self.action_open()

    def _status(self, text: Text) -> None:
        text.no_wrap, text.overflow = True, "ellipsis"
        self.query_one("#search-status", Static).update(text)

    @on(Input.Submitted, "#search-query")
    def _submitted(self) -> None:
        """Enter in the box opens the best result (searching first if typing is pending)."""
        if self.query_text and self.query_text != self.shown_query:
            self._open_when_loaded = True
            if self._timer is not None:
                self._timer.stop()
            self._run()
            return
        self.action_open()

    # -- moving and opening ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers ↓ in the box (when there are results) and / in the results."""
        in_box = self.query_one(Input).has_focus
        if action == "results":
            return in_box and self.query_one(SearchResults).row_count > 0
        if action == "edit":
            return not in_box
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#search-results")
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        conv_id = self.query_one(SearchResults).selected_id
        if conv_id is None:
            return
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) > 1 else None
        if getattr(below, "conv_id", None) == conv_id:
            self.app.pop_screen()  # that conversation is right underneath: go back to it
        else:
            self.hd.open_conversation(conv_id)

    def action_results(self) -> None:
        """Down in the box: into the results (a priority binding, as the box would take the
        key; in the results it is disabled, so the table moves its cursor)."""
        table = self.query_one(SearchResults)
        if table.row_count:
            table.focus()

    def action_edit(self) -> None:
        self.query_one(Input).focus()

    def action_back(self) -> None:
        self.app.pop_screen()
