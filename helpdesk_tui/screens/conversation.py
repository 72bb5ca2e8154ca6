"""One conversation: the thread, the side panel, the composer, and every action on it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Resize
from textual.widgets import Footer, Static

from db.records import ConversationDetail
from helpdesk_tui.actions import bindings
from helpdesk_tui.errors import Collision
from helpdesk_tui.keymap import key_display
from helpdesk_tui.messages import (
    AgentsLoaded,
    AttachmentSaved,
    CollisionFound,
    ConversationChanged,
    ConversationLoaded,
    DraftSaved,
    ExplanationLoaded,
    MessageSent,
    NeighbourFound,
    TemplatesLoaded,
    ViewersLoaded,
)
from helpdesk_tui.screens.attachments import (
    AttachmentModal,
    SaveRequest,
    attachments_of,
    default_folder,
    save_copy,
)
from helpdesk_tui.screens.base import ConsoleScreen
from helpdesk_tui.screens.modals import (
    ChoiceModal,
    ConfirmModal,
    EscalateModal,
    EscalationRequest,
    ExplainModal,
)
from helpdesk_tui.services import agents, conversations, explain, moderation, templates, threads
from widgets.composer import Composer
from widgets.queue_table import KIND_LABEL
from widgets.sanitize import clean, safe_text
from widgets.sla_panel import SlaPanel
from widgets.template_picker import TemplateChoice, TemplatePicker
from widgets.thread_view import ThreadView
from widgets.timefmt import short_duration

#: Seconds between presence heartbeats (presence expires after 90 s).
HEARTBEAT_S = 30.0
#: Below this width the side panel is hidden until `i` is pressed.
NARROW = 100


class ConversationScreen(ConsoleScreen):
    """Read and work one conversation; `escape` goes back to the queue."""

    SCOPE = "conversation"
    BINDINGS = bindings("conversation")

    def __init__(self, conv_id: int, *, preloaded: ConversationLoaded | None = None) -> None:
        super().__init__()
        self.conv_id = conv_id
        """The conversation shown."""
        self.preloaded = preloaded
        """Its data when it was read before the screen opened (shown on mount)."""
        self.detail: ConversationDetail | None = None
        """The last loaded state."""
        self.seen_version: int | None = None
        """The version the agent has seen: changes by others since then are collisions."""
        self.draft_key: str | None = None
        """The draft's idempotency key: a retried send stores the message once."""
        self.template_id: int | None = None
        """The template inserted into the composer, if any (recorded on the message)."""
        self.show_panel: bool | None = None
        """Side panel forced on/off by `i` (None: by width)."""
        self._draft_lock = threading.Lock()
        self._generation = 0
        self._sending = False
        self._covered = False

    def compose(self) -> ComposeResult:
        yield Static(Text("loading…"), id="conv-title")
        with Horizontal(id="conv-body"):
            yield ThreadView(id="thread")
            yield SlaPanel(id="panel")
        send_key = self.hd.keymap.get("conversation.send", "ctrl+s")
        yield Composer(send_key=key_display(send_key), id="composer")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.preloaded is not None:
            self.on_conversation_loaded(self.preloaded)
            self.preloaded = None
        else:
            self._load(first=True)
        self._heartbeat(viewers=False)  # the first load brings the viewers
        self.set_interval(HEARTBEAT_S, self._beat)
        self._layout(self.size.width)
        self.query_one(ThreadView).focus()

    def on_resize(self, event: Resize) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        visible = self.show_panel if self.show_panel is not None else width >= NARROW
        self.set_class(not visible, "-no-panel")

    def action_toggle_panel(self) -> None:
        self.show_panel = self.has_class("-no-panel")
        self._layout(self.size.width)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.settings.display_tz)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    # -- loading -----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self, first: bool = False) -> None:
        detail = threads.load_detail(self.ctx, self.conv_id, viewer=self.agent)
        draft = threads.load_draft(self.ctx, self.agent, self.conv_id) if first else None
        self.post_message(ConversationLoaded(detail, draft, first))

    def _beat(self) -> None:
        """Presence heartbeat, only while no other console screen (search, another
        conversation) is on top: presence names one conversation per agent."""
        if not self._covered:
            self._heartbeat()

    def on_screen_suspend(self) -> None:
        self._covered = isinstance(self.app.screen, ConsoleScreen) and self.app.screen is not self

    def on_screen_resume(self) -> None:
        if self._covered:
            self._covered = False
            self._heartbeat()

    @work(thread=True, exclusive=True, exit_on_error=False, group="presence")
    def _heartbeat(self, viewers: bool = True) -> None:
        threads.touch_presence(self.ctx, self.agent, self.conv_id)
        if viewers:
            others = threads.load_detail(self.ctx, self.conv_id, viewer=self.agent).viewers
            self.post_message(ViewersLoaded(self.conv_id, others))

    def on_conversation_loaded(self, message: ConversationLoaded) -> None:
        d = message.detail
        self.detail, self.seen_version = d, d.version
        now = self.hd.clock()
        self._show_title()
        self.query_one(ThreadView).show(d.messages, self.tz, now)
        risk = self.ctx.settings.policy.at_risk_fraction
        self.query_one(SlaPanel).show(d, self.tz, now, risk)
        self.refresh_bindings()  # `o` shows only when there are attachments
        if message.first and message.draft is not None and message.draft.body:
            self.draft_key = message.draft.idempotency_key
            self.composer.load(message.draft.body, message.draft.internal)
            self.notify("your unsent draft was restored", markup=False)

    def on_viewers_loaded(self, message: ViewersLoaded) -> None:
        if message.conv_id == self.conv_id and self.detail is not None:
            self.query_one(SlaPanel).show_viewers(message.viewers)
            self._show_title()

    def _show_title(self) -> None:
        d = self.detail
        if d is None:
            return
        now = self.hd.clock()
        first = Text.assemble(
            safe_text(d.external_id, "bold", single_line=True),
            "  ",
            safe_text(d.subject, "bold", single_line=True),
        )
        # The deadline first: on a narrow terminal the end of the line is cut off.
        second = Text()
        if d.due_at is not None:
            left = (d.due_at - now).total_seconds()
            what = (d.due_for or "").replace("_", " ")
            verdict = f"BREACHED {short_duration(left)}" if left < 0 else (
                f"due in {short_duration(left)}")  # fmt: skip
            second.append(f"{what} {verdict}", "bold" if left < 0 else "")
            second.append(" · ", "dim")
        second.append_text(
            Text.assemble(
                (d.status.replace("_", " "), "bold"),
                (" · ", "dim"),
                d.priority,
                (" · ", "dim"),
                KIND_LABEL.get(d.kind, d.kind),
                (" · ", "dim"),
                safe_text(f"assignee {d.assignee or 'nobody'}", single_line=True),
            )
        )
        if d.escalation_level:
            second.append(f" · L{d.escalation_level}", "bold")
        if d.team:
            second.append_text(Text.assemble((" · team ", "dim"), safe_text(d.team)))
        viewers = self.query_one(SlaPanel).viewers
        if viewers:
            second.append_text(
                Text.assemble(
                    ("  also viewing: ", "bold"), safe_text(", ".join(viewers), single_line=True)
                )
            )
        title = Text("\n").join([first, second])
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#conv-title", Static).update(title)

    # -- drafts ------------------------------------------------------------------------------
    @on(Composer.Changed)
    def _composer_changed(self, event: Composer.Changed) -> None:
        self._save_draft(event.text, event.internal, self._generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="draft")
    def _save_draft(self, text: str, internal: bool, generation: int) -> None:
        with self._draft_lock:
            if generation != self._generation:
                return  # the text was sent meanwhile: do not resurrect it as a draft
            if text.strip():
                key = threads.save_draft(self.ctx, self.agent, self.conv_id, text, internal)
            else:
                threads.discard_draft(self.ctx, self.agent, self.conv_id)
                key = ""
        self.post_message(DraftSaved(key))

    def on_draft_saved(self, message: DraftSaved) -> None:
        self.draft_key = message.idempotency_key or None

    def _save_before_leaving(self) -> None:
        """A debounced change not yet saved is saved by an app worker (outlives the screen)."""
        if self.composer.pending:
            text, internal = self.composer.text, self.composer.internal
            self.hd.save_draft_later(self.conv_id, text, internal)

    # -- composing and sending ---------------------------------------------------------------
    def action_reply(self) -> None:
        self.composer.begin(internal=False)

    def action_note(self) -> None:
        self.composer.begin(internal=True)

    def action_send(self) -> None:
        text, internal = self.composer.text, self.composer.internal
        if not text.strip():
            self.notify("the message is empty: write something first", severity="warning")
            return
        if self._sending:
            return
        self._sending = True
        self._send(text, internal, self.seen_version, self.draft_key, self.template_id)

    @work(thread=True, exit_on_error=False, group="send")
    def _send(
        self, text: str, internal: bool, expected: int | None, key: str | None,
        template_id: int | None,
    ) -> None:  # fmt: skip
        try:
            with self._draft_lock:
                if key is None:
                    key = threads.save_draft(self.ctx, self.agent, self.conv_id, text, internal)
                    self.post_message(DraftSaved(key))
                sent = conversations.send(
                    self.ctx, self.agent, self.conv_id, text, internal=internal,
                    expected_version=expected, idempotency_key=key, template_id=template_id,
                )  # fmt: skip
                self._generation += 1
        except Collision as exc:
            self.post_message(
                CollisionFound(
                    str(exc),
                    exc.changes,
                    lambda: self._send(text, internal, None, key, template_id),
                    "send",
                )
            )
            return
        finally:
            self._sending = False
        self.post_message(MessageSent(internal, sent.duplicate))

    def on_message_sent(self, message: MessageSent) -> None:
        self.draft_key, self.template_id = None, None
        self.composer.clear()
        what = "note added" if message.internal else "reply sent"
        if message.duplicate:
            what += " (it had already been stored: sent once)"
        self.notify(what, markup=False)
        self.query_one(ThreadView).focus()
        self._load()

    def on_collision_found(self, message: CollisionFound) -> None:
        lines = [safe_text(message.message)]
        lines += [Text.assemble("• ", safe_text(c, single_line=True)) for c in message.changes]
        question = "Send anyway?" if message.action == "send" else "Go ahead anyway?"

        def answered(yes: bool | None) -> None:
            if yes:
                message.retry()
            else:
                self.notify("nothing changed; your draft is kept", markup=False)
                self._load()

        self.app.push_screen(
            ConfirmModal("Someone else changed this conversation", lines, question=question),
            answered,
        )

    # -- changes -----------------------------------------------------------------------------
    def _change(self, what: str, fn: Callable[[int | None], object]) -> None:
        self._run_change(what, fn, self.seen_version)

    @work(thread=True, exit_on_error=False, group="change")
    def _run_change(
        self, what: str, fn: Callable[[int | None], object], expected: int | None
    ) -> None:
        try:
            fn(expected)
        except Collision as exc:
            retry = lambda: self._run_change(what, fn, None)  # noqa: E731
            self.post_message(CollisionFound(str(exc), exc.changes, retry, what))
            return
        self.post_message(ConversationChanged(what))

    def on_conversation_changed(self, message: ConversationChanged) -> None:
        self.notify(message.what, markup=False)
        self._load()

    def action_take(self) -> None:
        me, cid = self.agent, self.conv_id
        self._change(
            f"assigned to {me}",
            lambda v: conversations.assign(self.ctx, me, cid, me, expected_version=v),
        )

    def action_assign(self) -> None:
        self._load_agents()

    @work(thread=True, exclusive=True, exit_on_error=False, group="agents")
    def _load_agents(self) -> None:
        names = [a.username for a in agents.list_agents(self.ctx, include_inactive=False)]
        self.post_message(AgentsLoaded(names))

    def on_agents_loaded(self, message: AgentsLoaded) -> None:
        current = self.detail.assignee if self.detail else None
        choices = [(n, n) for n in message.usernames] + [("-", "nobody (release)")]
        me, cid = self.agent, self.conv_id

        def chosen(who: str | None) -> None:
            if who is None:
                return
            target = None if who == "-" else who
            self._change(
                f"assigned to {target or 'nobody'}",
                lambda v: conversations.assign(self.ctx, me, cid, target, expected_version=v),
            )

        self.app.push_screen(ChoiceModal("Assign to", choices, current=current), chosen)

    def action_status(self) -> None:
        me, cid = self.agent, self.conv_id

        def chosen(status: str | None) -> None:
            if status and (self.detail is None or status != self.detail.status):
                self._change(
                    f"status {status.replace('_', ' ')}",
                    lambda v: conversations.set_status(self.ctx, me, cid, status,
                                                       expected_version=v),
                )  # fmt: skip

        choices = [(s.value, s.value.replace("_", " ")) for s in conversations.SETTABLE]
        current = self.detail.status if self.detail else None
        self.app.push_screen(ChoiceModal("Status", choices, current=current), chosen)

    def action_priority(self) -> None:
        me, cid = self.agent, self.conv_id

        def chosen(priority: str | None) -> None:
            if priority and (self.detail is None or priority != self.detail.priority):
                self._change(
                    f"priority {priority}",
                    lambda v: conversations.set_priority(self.ctx, me, cid, priority,
                                                         expected_version=v),
                )  # fmt: skip

        choices = [(p, p) for p in ("urgent", "high", "normal", "low")]
        current = self.detail.priority if self.detail else None
        self.app.push_screen(ChoiceModal("Priority", choices, current=current), chosen)

    def action_escalate(self) -> None:
        me, cid = self.agent, self.conv_id
        level = 1 if self.detail is None or self.detail.escalation_level < 1 else 2

        def chosen(request: EscalationRequest | None) -> None:
            if request is not None:
                self._change(
                    f"escalated to level {request.level}",
                    lambda _v: conversations.escalate(
                        self.ctx, me, cid, request.level, request.reason
                    ),
                )

        self.app.push_screen(EscalateModal(level=level), chosen)

    def action_decide(self) -> None:
        me, cid = self.agent, self.conv_id

        def chosen(decision: str | None) -> None:
            if decision:
                self._change(
                    f"flag decided: {decision}",
                    lambda v: moderation.decide(self.ctx, me, cid, decision, expected_version=v),
                )

        choices = [(k, label) for k, (label, _told) in moderation.DECISIONS.items()]
        self.app.push_screen(ChoiceModal("Moderation decision", choices), chosen)

    # -- attachments -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "decide":
            return (
                self.detail is not None
                and self.detail.kind == "flag"
                and self.detail.status not in ("resolved", "closed")
            )
        if action == "save_attachment":
            return self.detail is not None and bool(attachments_of(self.detail.messages))
        return True

    def action_save_attachment(self) -> None:
        choices = attachments_of(self.detail.messages) if self.detail else []
        if not choices:
            self.notify("this conversation has no attachments", markup=False)
            return

        def chosen(request: SaveRequest | None) -> None:
            if request is not None:
                self._save_attachment(request)

        self.app.push_screen(AttachmentModal(choices, default_folder(), self.tz), chosen)

    @work(thread=True, exit_on_error=False, group="attachment")
    def _save_attachment(self, request: SaveRequest) -> None:
        store = self.ctx.settings.attachment_dir
        self.post_message(AttachmentSaved(save_copy(store, request.attachment, request.folder)))

    def on_attachment_saved(self, message: AttachmentSaved) -> None:
        self.notify(f"saved to {clean(str(message.path), single_line=True)}", markup=False)

    # -- templates, explanation, neighbours --------------------------------------------------
    def action_template(self) -> None:
        self._load_templates()

    @work(thread=True, exclusive=True, exit_on_error=False, group="templates")
    def _load_templates(self) -> None:
        found = templates.list_templates(self.ctx)
        values = templates.context_for(self.ctx, self.conv_id, self.agent)
        self.post_message(TemplatesLoaded(found, values))

    def on_templates_loaded(self, message: TemplatesLoaded) -> None:
        if not message.templates:
            self.notify("there are no templates yet", severity="warning")
            return
        values = message.values

        def chosen(choice: TemplateChoice | None) -> None:
            if choice is not None:
                self.template_id = choice.template_id
                self.composer.insert(choice.text)

        picker = TemplatePicker(message.templates, lambda body: templates.render(body, values))
        self.app.push_screen(picker, chosen)

    def action_explain(self) -> None:
        self._load_explanation()

    @work(thread=True, exclusive=True, exit_on_error=False, group="explain")
    def _load_explanation(self) -> None:
        self.post_message(ExplanationLoaded(explain.explain(self.ctx, self.conv_id)))

    def on_explanation_loaded(self, message: ExplanationLoaded) -> None:
        self.app.push_screen(ExplainModal(message.explanation, self.tz, self.hd.clock()))

    def action_neighbour(self, step: int) -> None:
        self._find_neighbour(step)

    @work(thread=True, exclusive=True, exit_on_error=False, group="neighbour")
    def _find_neighbour(self, step: int) -> None:
        prev, nxt = threads.neighbour_ids(self.ctx, self.conv_id)
        self.post_message(NeighbourFound(nxt if step > 0 else prev, step))

    def on_neighbour_found(self, message: NeighbourFound) -> None:
        if message.conv_id is None:
            where = "last" if message.step > 0 else "first"
            self.notify(f"this is the {where} open conversation in the queue", markup=False)
            return
        self._save_before_leaving()
        self.app.switch_screen(ConversationScreen(message.conv_id))

    def action_back(self) -> None:
        if self.composer.area.has_focus:
            self.query_one(ThreadView).focus()
            return
        self._save_before_leaving()
        self.app.pop_screen()
