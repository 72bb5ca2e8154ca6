"""The Textual console: the app holds the context, opens screens and reports failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.worker import Worker, WorkerState, get_current_worker

from helpdesk_tui.actions import bindings
from helpdesk_tui.commands import ActionsProvider
from helpdesk_tui.keymap import key_display, load_keymap
from helpdesk_tui.messages import ConversationLoaded, ConversationPreloaded
from helpdesk_tui.screens.base import ConsoleScreen, describe
from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.screens.help import HelpScreen
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.screens.reports import ReportsScreen
from helpdesk_tui.screens.search import SearchScreen
from helpdesk_tui.services import threads
from helpdesk_tui.services.context import Context
from widgets.sanitize import clean


class HelpdeskApp(App[None]):
    """The agent's console: the queue first, conversations on top of it."""

    CSS_PATH = "app.tcss"
    TITLE = "helpdesk"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {ActionsProvider}

    def __init__(
        self,
        ctx: Context,
        agent: str,
        *,
        clock: Callable[[], datetime] | None = None,
        poll_interval: float = 2.0,
        config_path: Path | None = None,
        live: bool = False,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        """Database, settings and the services' clock."""
        self.agent = agent
        """The username everything is done as."""
        self.clock = clock or ctx.now
        """What the screens count down against (a fixed instant in tests)."""
        self.poll_interval = poll_interval
        """Seconds between queue polls (0: no polling)."""
        self.sub_title = agent
        loaded = load_keymap(config_path)
        self.keymap: dict[str, str] = loaded.keys
        """The user's keys by action id (the config file's ``[keys]``), over the defaults."""
        self._keymap_problems = loaded.problems
        self._clashes_told: set[frozenset[str]] = set()
        self.live = live
        """Push updates (LISTEN/NOTIFY, SQLite poll) and the in-process scheduler jobs."""
        self._listener: Any = None
        self._jobs: Any = None

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        for problem in self._keymap_problems:
            self.notify(clean(problem, single_line=True), title="Config", severity="warning",
                        markup=False, timeout=10)  # fmt: skip
        self.push_screen(QueueScreen())
        if self.live:
            self._start_live()

    # -- live updates and scheduler jobs -----------------------------------------------------
    def _start_live(self) -> None:
        """New messages refresh the queue at once; the scheduler's jobs run in this process
        (fenced in the database, so any number of consoles can run them)."""
        from helpdesk_tui import jobs
        from helpdesk_tui.services import live

        self._listener = live.MessageListener(self.ctx.db, self._ids_arrived)
        self._listener.start_thread()
        try:
            self._jobs = jobs.start_in_console(self.ctx, on_report=self._job_reported)
        except Exception as exc:  # a bad [scheduler] config must not stop the console
            self.report_failure(exc)

    def _ids_arrived(self, ids: list[int]) -> None:
        """Called on the listener's thread: hop to the event loop."""
        self.call_from_thread(self._refresh_queue)

    def _refresh_queue(self) -> None:
        screen = self.screen
        if isinstance(screen, QueueScreen):
            screen.poll_now()

    def _job_reported(self, report: Any) -> None:
        if not report.ok:
            self.notify(clean(report.text(), single_line=True), title="Scheduler",
                        severity="warning", markup=False, timeout=8)  # fmt: skip

    def on_unmount(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        if self._jobs is not None:
            self._jobs.shutdown()

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        """A remapped key took a key another action had: say so once (the remap wins)."""
        ids = frozenset(b.id or b.action for b in clashed_bindings)
        if ids in self._clashes_told:
            return
        self._clashes_told.add(ids)
        keys = ", ".join(sorted({key_display(b.key) for b in clashed_bindings}))
        what = ", ".join(sorted(ids))
        self.notify(
            clean(f"[keys] {keys} now does another action, so {what} lost its key: "
                  "pick another key in the config file", single_line=True),
            title="Config", severity="warning", markup=False, timeout=10,
        )  # fmt: skip

    def open_conversation(self, conv_id: int) -> None:
        """Read the conversation in a worker, then show it with its data: one layout pass,
        and the database work does not compete with building the screen."""
        self._preload(conv_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="app-open")
    def _preload(self, conv_id: int) -> None:
        detail = threads.load_detail(self.ctx, conv_id, viewer=self.agent)
        draft = threads.load_draft(self.ctx, self.agent, conv_id)
        if not get_current_worker().is_cancelled:
            self.post_message(ConversationPreloaded(ConversationLoaded(detail, draft, True)))

    def on_conversation_preloaded(self, message: ConversationPreloaded) -> None:
        loaded = message.loaded
        self.push_screen(ConversationScreen(loaded.detail.id, preloaded=loaded))

    def action_search(self) -> None:
        """Open the search screen over the queue or a conversation (not over a dialog)."""
        screen = self.screen
        if isinstance(screen, SearchScreen):
            screen.action_edit()
        elif isinstance(screen, ConsoleScreen):
            self.push_screen(SearchScreen())

    def action_reports(self) -> None:
        """Open the reports over the queue or a conversation (not over a dialog or itself)."""
        screen = self.screen
        if isinstance(screen, ConsoleScreen) and not isinstance(screen, ReportsScreen):
            self.push_screen(ReportsScreen())

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(getattr(self.screen, "SCOPE", "app")))

    # -- failures ----------------------------------------------------------------------------
    def report_failure(self, exc: BaseException) -> None:
        """A failed action is a toast with one clean line; the console keeps running."""
        self.notify(describe(exc), title="Not done", severity="error", markup=False, timeout=8)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_failure(event.worker.error)

    # -- app-level workers (they outlive the screen that asked) ------------------------------
    @work(thread=True, exit_on_error=False, group="app-presence")
    def leave_conversation(self) -> None:
        """No conversation is open any more (the queue is showing)."""
        threads.touch_presence(self.ctx, self.agent, None)

    @work(thread=True, exit_on_error=False, group="app-draft")
    def save_draft_later(self, conv_id: int, text: str, internal: bool) -> None:
        if text.strip():
            threads.save_draft(self.ctx, self.agent, conv_id, text, internal)
        else:
            threads.discard_draft(self.ctx, self.agent, conv_id)
