"""Dialogs that return typed results: confirm, choose one, escalate, explain the SLA."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from widgets.sanitize import safe_text
from widgets.timefmt import local, short_duration

DIALOG_CSS = """
{name} {{
    align: center middle;
    & > Vertical {{
        width: 80%;
        max-width: 90;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }}
    .dialog-title {{ text-style: bold; height: auto; }}
    .dialog-help {{ color: $text-muted; height: 1; }}
    .dialog-error {{ color: $error; height: auto; }}
    .dialog-body {{ height: auto; max-height: 16; }}
    OptionList {{ height: auto; max-height: 10; }}
}}
"""


class ConfirmModal(ModalScreen[bool]):
    """Shows what will change; y/enter goes ahead, n/esc does not."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmModal")
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, lines: Sequence[Text], *, question: str = "Go ahead?") -> None:
        super().__init__()
        self.title_text = title
        """What is being asked (our own words, not customer text)."""
        self.lines = list(lines)
        """The preview: one safe Text per line."""
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(Text("\n").join(self.lines) if self.lines else Text(""))
            yield Static(Text(f"{self.question}  y yes · n no"), classes="dialog-help")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChoiceModal(ModalScreen[str | None]):
    """Pick one value from a short list; enter picks, esc cancels."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ChoiceModal")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]

    def __init__(
        self, title: str, choices: Sequence[tuple[str, str]], *, current: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        """(value, label) pairs."""
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="dialog-title")
            yield OptionList(
                *[
                    Option(
                        safe_text(label + ("  (now)" if value == self.current else ""),
                                  single_line=True),
                        id=value,
                    )
                    for value, label in self.choices
                ]
            )  # fmt: skip
            yield Static(Text("enter choose · esc cancel"), classes="dialog-help")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        values = [v for v, _ in self.choices]
        options.highlighted = values.index(self.current) if self.current in values else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class EscalationRequest:
    level: int
    reason: str


class EscalateModal(ModalScreen[EscalationRequest | None]):
    """Level 1 (team lead) or 2 (management), and a reason (required)."""

    DEFAULT_CSS = DIALOG_CSS.format(name="EscalateModal")
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="escalate.cancel"),
        Binding("ctrl+l", "level", "Switch level", id="escalate.level"),
    ]

    def __init__(self, *, level: int = 1, may_manage: bool = False) -> None:
        super().__init__()
        self.level = level
        """The level chosen (1 team lead, 2 management)."""
        self.may_manage = may_manage

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(classes="dialog-title", id="escalate-title")
            yield Input(placeholder="reason (required)", id="escalate-reason")
            yield Static(classes="dialog-error", id="escalate-error")
            yield Static(
                Text("enter escalate · ctrl+l switch level 1/2 · esc cancel"),
                classes="dialog-help",
            )

    def on_mount(self) -> None:
        self._title()
        self.query_one(Input).focus()

    def _title(self) -> None:
        who = "team lead" if self.level == 1 else "management"
        note = "" if self.level == 1 or self.may_manage else " (leads only)"
        self.query_one("#escalate-title", Static).update(
            Text(f"Escalate to level {self.level}: {who}{note}")
        )

    def action_level(self) -> None:
        self.level = 2 if self.level == 1 else 1
        self._title()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.query_one("#escalate-error", Static).update(Text("an escalation needs a reason"))
            return
        self.dismiss(EscalationRequest(self.level, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExplainModal(ModalScreen[None]):
    """Each SLA clock and the event log that explains it (started by which message, paused
    when, under which policy)."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ExplainModal")
        + """
    ExplainModal > Vertical { max-width: 110; width: 95%; }
    ExplainModal .dialog-body { max-height: 30; }
    """
    )
    BINDINGS = [Binding("escape,x,q", "close", "Close", id="explain.close")]

    def __init__(self, explanation: object, tz: tzinfo, now: datetime) -> None:
        super().__init__()
        self.explanation = explanation
        self.tz, self.now = tz, now

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("How the deadlines were set"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._body())
            yield Static(Text("esc close"), classes="dialog-help")

    def _body(self) -> Text:
        e = self.explanation
        lines: list[Text] = [
            Text.assemble(
                safe_text(getattr(e, "conversation", ""), "bold", single_line=True),
                ": ",
                safe_text(getattr(e, "subject", ""), single_line=True),
            ),
            Text(""),
            Text("Clocks", style="bold"),
        ]
        for c in getattr(e, "clocks", ()):
            if c.state == "running" and c.due_at is not None:
                left = (c.due_at - self.now).total_seconds()
                verdict = f"due {local(c.due_at, self.tz)} ({short_duration(left)})"
                if left < 0:
                    verdict = "BREACHED, " + verdict
            elif c.state == "met":
                late = (c.elapsed_s or 0) > c.target_s
                verdict = (
                    f"met {local(c.stopped_at, self.tz)} after {short_duration(c.elapsed_s or 0)}"
                    f" ({'late' if late else 'in time'})"
                )
            else:
                verdict = c.state
            lines.append(
                Text.assemble(
                    f"  {c.target}#{c.seq}: {verdict}; target {short_duration(c.target_s)}; ",
                    safe_text(f"policy {c.policy}", "dim", single_line=True),
                )
            )
        lines += [Text(""), Text("Events", style="bold")]
        for ev in getattr(e, "events", ()):
            due = f" → due {local(ev.due_at, self.tz)}" if ev.due_at else ""
            lines.append(
                Text.assemble(
                    f"  {local(ev.at, self.tz)} {ev.target}#{ev.seq} {ev.event}: ",
                    safe_text(ev.cause, single_line=True),
                    due,
                )
            )
        return Text("\n").join(lines)

    def action_close(self) -> None:
        self.dismiss(None)
