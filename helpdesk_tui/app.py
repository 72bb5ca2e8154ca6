"""The Textual console: the app holds the context, opens screens and reports failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual import on, work
from textual.app import App
from textual.worker import Worker, WorkerState

from helpdesk_tui.actions import bindings
from helpdesk_tui.commands import ActionsProvider
from helpdesk_tui.screens.base import describe
from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.screens.help import HelpScreen
from helpdesk_tui.screens.queue import QueueScreen
from helpdesk_tui.services import threads
from helpdesk_tui.services.context import Context


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

    def on_mount(self) -> None:
        self.push_screen(QueueScreen())

    def open_conversation(self, conv_id: int) -> None:
        self.push_screen(ConversationScreen(conv_id))

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
