"""The home screen: the live SLA queue with views, a filter, and bulk actions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Input
from textual.worker import get_current_worker

from db.engine import DatabaseUnavailable
from db.records import QueueRow
from helpdesk_tui.actions import bindings
from helpdesk_tui.errors import HelpdeskError
from helpdesk_tui.messages import (
    BulkApplied,
    BulkTemplatesLoaded,
    HealthLoaded,
    QueueLoaded,
    TeamsLoaded,
)
from helpdesk_tui.screens.base import ConsoleScreen, describe
from helpdesk_tui.screens.filters import VIEW_LABEL, VIEWS, ParsedFilter, parse
from helpdesk_tui.screens.modals import ChoiceModal, ConfirmModal
from helpdesk_tui.services import agents, conversations, queue, templates
from helpdesk_tui.services.queue import QueueFilter
from widgets.health_bar import HealthBar
from widgets.queue_table import QueueTable
from widgets.sanitize import clean, safe_text, truncate
from widgets.template_picker import TemplateChoice, TemplatePicker

#: Most rows the table holds; the database sorts and the header shows the total.
WINDOW = 200
#: Seconds between health recounts on polls and reloads (they count every open conversation:
#: most of a second at 100,000); a user's refresh or a bulk action recounts at once.
HEALTH_EVERY_S = 15.0
PRIORITIES = ("urgent", "high", "normal", "low")


class QueueScreen(ConsoleScreen):
    """Open conversations by SLA deadline; new ones appear without a key press."""

    SCOPE = "queue"
    BINDINGS = bindings("queue")

    def __init__(self) -> None:
        super().__init__()
        self.view = "all"
        """The one-key view (``all``, ``mine``, ``unassigned``, ``breached``, ``at_risk``)."""
        self.team: str | None = None
        """The team whose queue is shown (None: every team)."""
        self.teams: list[str] = []
        """Teams to cycle through."""
        self.parsed = ParsedFilter({}, "")
        """The `/` filter."""
        self.filter_text = ""
        """What the agent typed after `/`."""
        self.known: dict[int, Any] = {}
        """Last message time of every conversation seen, to say what arrived."""
        self.total = 0
        self.total_capped = False
        """How many conversations the current view matches (the table holds a window)."""
        self._health_at: float | None = None

    def compose(self) -> ComposeResult:
        yield HealthBar(id="health")
        yield QueueTable(id="queue")
        yield Input(
            placeholder="filter: text priority:urgent kind:buyer assignee:me status:… team:…",
            id="filter",
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.set_interval(1.0, self._tick)
        if self.hd.poll_interval > 0:
            self.set_interval(self.hd.poll_interval, self._poll)
        self._load_teams()

    def on_screen_resume(self) -> None:
        self.reload()
        self.hd.leave_conversation()

    # -- loading -----------------------------------------------------------------------------
    def current_filter(self) -> QueueFilter:
        fields: dict[str, Any] = {
            k: (self.agent if v == "me" else v) for k, v in VIEWS[self.view].items()
        }
        query = QueueFilter(**fields)
        if self.team:
            query = query.with_(team=self.team)
        return query.with_(**self.parsed.changes(self.agent))

    def reload(self, *, health: bool = False) -> None:
        """Read the rows again; the health figures too when ``health`` or they are old (the
        very first count waits for the first rows: the rows are what the agent needs first)."""
        self._load_queue(self.current_filter(), polled=False)
        if self._health_at is not None:
            self._recount(force=health)

    def poll_now(self) -> None:
        """Something arrived (push): read the rows now, as a poll would."""
        self._poll()

    def _poll(self) -> None:
        if not self.is_current:
            return  # a conversation is open on top: the queue reloads when it comes back
        self._load_queue(self.current_filter(), polled=True)
        self._recount()

    def _recount(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or self._health_at is None or now - self._health_at >= HEALTH_EVERY_S:
            self._health_at = now
            self._load_health()

    def _tick(self) -> None:
        if not self.is_current:
            return
        self.query_one(QueueTable).tick(self.hd.clock())

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue")
    def _load_queue(self, query: QueueFilter, polled: bool) -> None:
        now = self.hd.clock()
        page = queue.page(self.ctx, query, as_of=now, limit=WINDOW)
        if not get_current_worker().is_cancelled:
            self.post_message(QueueLoaded(page, query, now, polled))

    @work(thread=True, exclusive=True, exit_on_error=False, group="health")
    def _load_health(self) -> None:
        self.post_message(HealthLoaded(queue.health(self.ctx, as_of=self.hd.clock())))

    def on_health_loaded(self, message: HealthLoaded) -> None:
        self.query_one(HealthBar).show_health(message.health)

    @work(thread=True, exclusive=True, exit_on_error=False, group="teams")
    def _load_teams(self) -> None:
        self.post_message(TeamsLoaded([t.name for t in agents.list_teams(self.ctx)]))

    def on_teams_loaded(self, message: TeamsLoaded) -> None:
        self.teams = message.teams

    def on_queue_loaded(self, message: QueueLoaded) -> None:
        if message.query != self.current_filter():
            return  # read for a view the agent has since left
        rows = message.page.rows
        if message.polled:
            self._announce(rows)
        for row in rows:
            self.known[row.id] = row.last_message_at
        table = self.query_one(QueueTable)
        table.show(rows, self.hd.clock())
        if self._health_at is None:
            self._recount()
        self.total = message.page.total
        self.total_capped = message.page.total_capped
        self.query_one(HealthBar).show_view(
            self._view_label(), len(rows), self.total, self.total_capped
        )

    def _announce(self, rows: tuple[QueueRow, ...]) -> None:
        """Toast what arrived since the last poll: new conversations, new messages."""
        new = [r for r in rows if r.id not in self.known]
        updated = [
            r
            for r in rows
            if r.id in self.known
            and r.last_message_at is not None
            and self.known[r.id] is not None
            and r.last_message_at > self.known[r.id]
        ]
        if not new and not updated:
            return
        parts = []
        if new:
            first = truncate(clean(new[0].subject, single_line=True), 40)
            more = f" and {len(new) - 1} more" if len(new) > 1 else ""
            parts.append(f"{len(new)} new conversation{'s' if len(new) > 1 else ''}: "
                         f"“{first}”{more}")  # fmt: skip
        if updated:
            parts.append(
                f"new messages in {len(updated)} conversation{'s' if len(updated) > 1 else ''}"
            )
        self.notify("; ".join(parts), title="Arrived", markup=False)

    def _view_label(self) -> Text:
        label = Text.assemble(("View ", "dim"), (VIEW_LABEL[self.view], "bold"))
        if self.team:
            label.append_text(Text.assemble((" · team ", "dim"), safe_text(self.team)))
        if self.filter_text:
            label.append_text(
                Text.assemble((" · filter ", "dim"), safe_text(self.filter_text, single_line=True))
            )
        table = self.query_one(QueueTable)
        if table.marked:
            label.append(f" · {len(table.marked)} marked", "bold")
        return label

    def _show_view(self) -> None:
        table = self.query_one(QueueTable)
        self.query_one(HealthBar).show_view(
            self._view_label(), table.row_count, self.total, self.total_capped
        )

    def _relabel(self) -> None:
        self._show_view()
        self.reload()

    # -- views and filter --------------------------------------------------------------------
    def action_view(self, view: str) -> None:
        self.view = view
        self._relabel()

    def action_cycle_team(self) -> None:
        cycle: list[str | None] = [None, *self.teams]
        index = cycle.index(self.team) if self.team in cycle else 0
        self.team = cycle[(index + 1) % len(cycle)]
        self.notify(f"team: {clean(self.team or 'all teams', single_line=True)}", markup=False)
        self._relabel()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.filter_text
        box.display = True
        box.focus()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            parsed = parse(event.value)
        except HelpdeskError as exc:
            self.notify(describe(exc), severity="error", markup=False)
            return
        self.parsed, self.filter_text = parsed, event.value.strip()
        self._close_filter()
        self._relabel()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = False
        self.query_one(QueueTable).focus()

    def action_clear(self) -> None:
        table = self.query_one(QueueTable)
        if self.query_one("#filter", Input).display:
            self._close_filter()
        elif table.marked:
            table.clear_marks()
            self._relabel()
        elif self.filter_text or self.team or self.view != "all":
            self.parsed, self.filter_text, self.team, self.view = (
                ParsedFilter({}, ""),
                "",
                None,
                "all",
            )
            self._relabel()

    def action_refresh(self) -> None:
        self.reload(health=True)

    # -- opening -----------------------------------------------------------------------------
    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        conv_id = self.query_one(QueueTable).selected_id
        if conv_id is not None:
            self.hd.open_conversation(conv_id)

    def action_mark(self) -> None:
        table = self.query_one(QueueTable)
        if table.toggle_mark() is not None and table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._show_view()

    # -- bulk actions ------------------------------------------------------------------------
    def _targets(self) -> list[QueueRow]:
        table = self.query_one(QueueTable)
        rows = [table.queue_rows[i] for i in table.targets() if i in table.queue_rows]
        if not rows:
            self.notify("nothing selected", severity="warning")
        return rows

    def _preview(self, rows: list[QueueRow], change: Callable[[QueueRow], str]) -> list[Text]:
        """One line per row: reference, subject, and what happens to it."""
        return [
            Text.assemble(
                safe_text(r.conversation, "bold", single_line=True),
                " ",
                safe_text(truncate(clean(r.subject, single_line=True), 36)),
                ("  " + change(r), "dim"),
            )
            for r in rows
        ]

    def _confirm(
        self, title: str, rows: list[QueueRow], change: Callable[[QueueRow], tuple[str, str]],
        apply: Callable[[int], object], what: str,
    ) -> None:  # fmt: skip
        """Preview ``change`` (old, new) on each row, then apply it in a worker if confirmed."""

        def describe_change(r: QueueRow) -> str:
            old, new = change(r)
            return f"{old} → {new}" if old != new else f"{old} (unchanged)"

        self._ask(title, self._preview(rows, describe_change), [r.id for r in rows], apply, what)

    def _ask(
        self, title: str, lines: list[Text], ids: list[int], apply: Callable[[int], object],
        what: str,
    ) -> None:  # fmt: skip
        def done(yes: bool | None) -> None:
            if yes:
                self._apply_bulk(what, ids, apply)

        self.app.push_screen(ConfirmModal(title, lines), done)

    @work(thread=True, exit_on_error=False, group="bulk")
    def _apply_bulk(self, what: str, ids: list[int], apply: Callable[[int], object]) -> None:
        done, failures = 0, []
        for conv_id in ids:
            try:
                apply(conv_id)
                done += 1
            except (HelpdeskError, DatabaseUnavailable) as exc:
                failures.append(f"#{conv_id}: {describe(exc)}")
        self.post_message(BulkApplied(what, done, failures))

    def on_bulk_applied(self, message: BulkApplied) -> None:
        """One toast: how many were done, how many failed and the first reason."""
        summary = f"{message.what}: {message.done} conversation(s)"
        if message.failures:
            n = len(message.failures)
            summary += f"; {n} failed, the first: {message.failures[0]}"
        self.notify(summary, markup=False, severity="error" if message.failures else "information",
                    timeout=10 if message.failures else 5)  # fmt: skip
        self.query_one(QueueTable).clear_marks()
        self._show_view()
        self.reload(health=True)

    def action_take(self) -> None:
        rows = self._targets()
        if rows:
            me = self.agent
            self._confirm(
                f"Assign {len(rows)} conversation(s) to you ({me})?",
                rows,
                lambda r: (r.assignee or "nobody", me),
                lambda i: conversations.assign(self.ctx, me, i, me),
                f"assigned to {me}",
            )

    def action_priority(self) -> None:
        rows = self._targets()
        if not rows:
            return

        def chosen(priority: str | None) -> None:
            if priority:
                self._confirm(
                    f"Set priority {priority} on {len(rows)} conversation(s)?",
                    rows,
                    lambda r: (r.priority, priority),
                    lambda i: conversations.set_priority(self.ctx, self.agent, i, priority),
                    f"priority {priority}",
                )

        current = rows[0].priority if len(rows) == 1 else None
        self.app.push_screen(
            ChoiceModal("Priority", [(p, p) for p in PRIORITIES], current=current), chosen
        )

    def action_status(self) -> None:
        rows = self._targets()
        if not rows:
            return

        def chosen(status: str | None) -> None:
            if status:
                self._confirm(
                    f"Set status {status} on {len(rows)} conversation(s)?",
                    rows,
                    lambda r: (r.status, status),
                    lambda i: conversations.set_status(self.ctx, self.agent, i, status),
                    f"status {status}",
                )

        choices = [(s.value, s.value.replace("_", " ")) for s in conversations.SETTABLE]
        current = rows[0].status if len(rows) == 1 else None
        self.app.push_screen(ChoiceModal("Status", choices, current=current), chosen)

    def action_template(self) -> None:
        rows = self._targets()
        if rows:
            self._load_templates(rows)

    @work(thread=True, exclusive=True, exit_on_error=False, group="templates")
    def _load_templates(self, rows: list[QueueRow]) -> None:
        found = templates.list_templates(self.ctx)
        values = templates.context_for(self.ctx, rows[0].id, self.agent)
        self.post_message(BulkTemplatesLoaded(rows, found, values))

    def on_bulk_templates_loaded(self, message: BulkTemplatesLoaded) -> None:
        """Pick a template (previewed for the first row), confirm, then send to each row."""
        if not message.templates:
            self.notify("there are no templates yet", severity="warning")
            return
        rows, values = message.rows, message.values
        bodies = {t.id: t.body for t in message.templates}

        def chosen(choice: TemplateChoice | None) -> None:
            if choice is not None:
                self._confirm_template(rows, choice, bodies[choice.template_id])

        picker = TemplatePicker(
            message.templates,
            lambda body: templates.render(body, values),
            title=f"Reply to {len(rows)} conversation(s) with a template",
            verb="choose",
        )
        self.app.push_screen(picker, chosen)

    def _confirm_template(self, rows: list[QueueRow], choice: TemplateChoice, body: str) -> None:
        me, tid, run = self.agent, choice.template_id, uuid.uuid4().hex[:16]
        name = truncate(clean(choice.name, single_line=True), 40)
        lines = self._preview(rows, lambda r: "reply")
        lines += [
            Text(""),
            Text.assemble(("First reply, to ", "bold"),
                          safe_text(rows[0].conversation, "bold", single_line=True),
                          (" (each is filled for its own conversation):", "bold")),
            safe_text(choice.text),
        ]  # fmt: skip

        def send(conv_id: int) -> object:
            text = templates.render(body, templates.context_for(self.ctx, conv_id, me))
            return conversations.send(
                self.ctx, me, conv_id, text, template_id=tid,
                idempotency_key=f"bulk-{run}-{conv_id}",
            )  # fmt: skip

        self._ask(
            f"Send “{name}” as a reply to {len(rows)} conversation(s)?",
            lines,
            [r.id for r in rows],
            send,
            f"“{name}” sent",
        )
