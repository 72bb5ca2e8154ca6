"""The one action registry: it feeds the key bindings, the command palette and the help screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

#: Where an action lives: the whole app, or the queue, conversation or search screen.
SCOPES = ("app", "queue", "conversation", "search")


@dataclass(frozen=True)
class ActionSpec:
    """One thing an agent can do, with its key."""

    id: str
    """Stable id (``queue.open``): users remap keys by id (``App.set_keymap``)."""
    scope: str
    """``app``, ``queue``, ``conversation`` or ``search``."""
    key: str
    """Default key(s), comma-separated as in Textual bindings."""
    action: str
    """The Textual action run on the scope's screen (or the app)."""
    label: str
    """Short footer label."""
    help: str
    """One sentence for the help screen and the palette."""
    show: bool = True
    """Shown in the footer."""
    key_display: str | None = None
    """How the key is written in the footer and help (default: Textual's)."""
    priority: bool = False
    """Checked before the focused widget's own keys."""
    title: str | None = None
    """Name in the command palette (default: the label)."""

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.label,
            show=self.show,
            key_display=self.key_display,
            priority=self.priority,
            id=self.id,
            tooltip=self.help,
        )


A = ActionSpec
ACTIONS: tuple[ActionSpec, ...] = (
    # -- everywhere --------------------------------------------------------------------------
    A("app.help", "app", "question_mark", "help", "Help", "Show every key (this screen).",
      key_display="?"),
    A("app.palette", "app", "ctrl+p", "command_palette", "Commands",
      "Open the command palette: every action by name.", show=False),
    A("app.quit", "app", "ctrl+q", "quit", "Quit", "Leave the console (drafts are kept).",
      show=False),
    A("app.search", "app", "f", "search", "Search",
      "Search subjects and message bodies (full text, best first); enter opens a result.",
      title="Search messages"),
    A("app.reports", "app", "R", "reports", "Reports",
      "Open the reports: a period's figures against their targets, volume, agents and sellers.",
      key_display="R", show=False, title="Reports"),
    # -- queue -------------------------------------------------------------------------------
    A("queue.open", "queue", "enter", "open", "Open", "Open the selected conversation."),
    A("queue.filter", "queue", "slash", "filter", "Filter",
      "Filter by text and field:value terms (priority:urgent kind:buyer_seller assignee:me "
      "status:pending_customer team:support).", key_display="/"),
    A("queue.view_all", "queue", "1", "view('all')", "Views",
      "View: every open conversation (views 1 all, 2 mine, 3 unassigned, 4 breached, "
      "5 at risk).", key_display="1-5"),
    A("queue.view_mine", "queue", "2", "view('mine')", "Mine", "View: assigned to me.",
      show=False),
    A("queue.view_unassigned", "queue", "3", "view('unassigned')", "Unassigned",
      "View: nobody's yet.", show=False),
    A("queue.view_breached", "queue", "4", "view('breached')", "Breached",
      "View: past their SLA deadline.", show=False),
    A("queue.view_at_risk", "queue", "5", "view('at_risk')", "At risk",
      "View: close to their deadline.", show=False),
    A("queue.team", "queue", "T", "cycle_team", "Team", "Cycle through the teams' queues.",
      key_display="T", show=False),
    A("queue.mark", "queue", "space", "mark", "Mark", "Mark or unmark the row for bulk actions."),
    A("queue.take", "queue", "a", "take", "Take",
      "Assign the marked rows (or the selected one) to me."),
    A("queue.priority", "queue", "p", "priority", "Priority",
      "Set the priority of the marked rows (or the selected one).", show=False),
    A("queue.status", "queue", "s", "status", "Status",
      "Set the status of the marked rows (or the selected one)."),
    A("queue.template", "queue", "t", "template", "Template",
      "Reply to the marked rows (or the selected one) with a template, filled for each "
      "conversation; a preview comes first.", title="Apply template as reply"),
    A("queue.clear", "queue", "escape", "clear", "Clear",
      "Clear the marks, then the filter.", show=False),
    A("queue.refresh", "queue", "ctrl+r", "refresh", "Refresh", "Reload the queue now.",
      show=False),
    # -- conversation ------------------------------------------------------------------------
    A("conversation.send", "conversation", "ctrl+s", "send", "Send",
      "Send the reply or note in the editor (the editor's top line says so too).",
      priority=True, show=False),
    A("conversation.reply", "conversation", "r", "reply", "Reply",
      "Write a reply to the customer."),
    A("conversation.note", "conversation", "n", "note", "Note",
      "Write an internal note (never sent to the customer)."),
    A("conversation.template", "conversation", "t", "template", "Template",
      "Insert a reply template, filled for this conversation."),
    A("conversation.take", "conversation", "a", "take", "Take", "Assign the conversation to me."),
    A("conversation.assign", "conversation", "A", "assign", "Assign",
      "Assign to another agent (leads).", show=False),
    A("conversation.status", "conversation", "s", "status", "Status", "Change the status."),
    A("conversation.priority", "conversation", "p", "priority", "Priority",
      "Change the priority.", show=False),
    A("conversation.escalate", "conversation", "e", "escalate", "Escalate",
      "Escalate to the team lead (1) or management (2, leads); a reason is required."),
    A("conversation.decide", "conversation", "d", "decide", "Decide",
      "Decide a flag's moderation case: remove the content, warn or suspend (leads) its "
      "author, or dismiss; resolves the case and tells the reporter.", show=False),
    A("conversation.attachment", "conversation", "o", "save_attachment", "Files",
      "Save one of the thread's attachments to a folder (an existing file is never replaced).",
      title="Save attachment"),
    A("conversation.explain", "conversation", "x", "explain", "Explain SLA",
      "Show how each deadline was computed, from the clock event log.", show=False),
    A("conversation.panel", "conversation", "i", "toggle_panel", "Info",
      "Show or hide the side panel.", show=False),
    A("conversation.next", "conversation", "right_square_bracket", "neighbour(1)", "Next",
      "Open the next conversation in queue order.", key_display="]", show=False),
    A("conversation.previous", "conversation", "left_square_bracket", "neighbour(-1)", "Prev",
      "Open the previous conversation in queue order.", key_display="[", show=False),
    A("conversation.back", "conversation", "escape", "back", "Back",
      "Leave the editor, or go back to the queue.", show=False),
    # -- search ------------------------------------------------------------------------------
    A("search.open", "search", "enter", "open", "Open", "Open the selected conversation."),
    A("search.results", "search", "down", "results", "Results",
      "Move from the search box to the results (then down the results).", key_display="↓",
      priority=True),
    A("search.edit", "search", "slash", "edit", "Edit", "Back to the search box.",
      key_display="/"),
    A("search.back", "search", "escape", "back", "Back", "Go back to where you were."),
)  # fmt: skip


def for_scope(scope: str) -> list[ActionSpec]:
    """The actions of one scope, in registry order."""
    return [a for a in ACTIONS if a.scope == scope]


def bindings(scope: str) -> list[BindingType]:
    """The key bindings of one scope."""
    return [a.binding() for a in for_scope(scope)]


def by_id(action_id: str) -> ActionSpec:
    return next(a for a in ACTIONS if a.id == action_id)
