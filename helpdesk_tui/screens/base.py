"""What every console screen shares: the app's context and one worker-failure handler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual import on
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from db.engine import DatabaseUnavailable
from helpdesk_tui.errors import HelpdeskError
from widgets.sanitize import clean

if TYPE_CHECKING:
    from helpdesk_tui.app import HelpdeskApp
    from helpdesk_tui.services.context import Context


def describe(exc: BaseException) -> str:
    """One clean line for the user: our own errors say what to do; others name the failure."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, HelpdeskError | DatabaseUnavailable):
        line = first or type(exc).__name__
    else:
        line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        if "OperationalError" in line or "database" in line.lower():
            line = f"database problem, your work is kept: {line}"
    return clean(line, single_line=True)[:300]


class ConsoleScreen(Screen[Any]):
    """Base screen: typed access to the app, and worker errors become toasts."""

    @property
    def hd(self) -> HelpdeskApp:
        return cast("HelpdeskApp", self.app)

    @property
    def ctx(self) -> Context:
        return self.hd.ctx

    @property
    def agent(self) -> str:
        return self.hd.agent

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.hd.report_failure(event.worker.error)
