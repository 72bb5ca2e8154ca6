"""Save a conversation's attachment to a folder: the dialog, and a copy that never overwrites."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from db.records import AttachmentView, MessageView
from helpdesk_tui.errors import InvalidInput, NotFound
from helpdesk_tui.screens.modals import DIALOG_CSS
from helpdesk_tui.services.intake_parse import sanitize_filename
from widgets.sanitize import safe_text
from widgets.timefmt import local, size

#: Longest file name most file systems accept, in bytes.
NAME_MAX = 255


@dataclass(frozen=True)
class AttachmentChoice:
    """One attachment of the thread, with the message it came with."""

    attachment: AttachmentView
    author: str
    message: MessageView


@dataclass(frozen=True)
class SaveRequest:
    """Save ``attachment`` into ``folder`` (the dialog's result)."""

    attachment: AttachmentView
    folder: Path


def attachments_of(messages: Sequence[MessageView]) -> list[AttachmentChoice]:
    """Every attachment of a thread, oldest message first."""
    return [AttachmentChoice(a, m.author, m) for m in messages for a in m.attachments]


def default_folder() -> Path:
    """``~/Downloads`` when there is one, else the current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


def _fit(stem: str, suffix: str, extra: str) -> str:
    """``stem + extra + suffix``, the stem shortened to keep the name within NAME_MAX bytes."""
    while stem and len(f"{stem}{extra}{suffix}".encode()) > NAME_MAX:
        stem = stem[:-1]
    return f"{stem}{extra}{suffix}"


def save_copy(store: Path, attachment: AttachmentView, folder: Path) -> Path:
    """Copy the stored file to ``folder/<sanitised name>``; an existing file is never
    overwritten (`` (1)``, `` (2)`` ... are appended). Returns the new file's path.

    The name's directory parts are dropped (``../../x`` saves ``x``); the file is created with
    ``O_EXCL``, so neither an existing file nor a symlink planted at the target is followed.
    """
    folder = folder.expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"no such folder: {folder}")
    root = store.resolve()
    source = (root / attachment.stored_path).resolve()
    if not source.is_relative_to(root) or not source.is_file():
        raise NotFound(f"the stored file of {sanitize_filename(attachment.name)} is missing")
    name = sanitize_filename(attachment.name)
    stem, suffix = (name, "") if "." not in name[1:] else name.rsplit(".", 1)
    suffix = f".{suffix}" if suffix else ""
    if len(suffix.encode()) > 32:  # not an extension: keep the name whole
        stem, suffix = name, ""
    with source.open("rb") as src:
        for n in range(1000):
            target = folder / _fit(stem, suffix, f" ({n})" if n else "")
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return target
    raise InvalidInput(f"{folder} already holds 1000 files named like {name}")


class AttachmentModal(ModalScreen[SaveRequest | None]):
    """Choose an attachment and a folder; enter saves, tab moves to the folder, esc cancels."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="AttachmentModal")
        + """
    AttachmentModal #attachment-into { margin-top: 1; }
    """
    )
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="attachment.cancel")]

    def __init__(self, choices: Sequence[AttachmentChoice], folder: Path, tz: tzinfo) -> None:
        super().__init__()
        self.choices = list(choices)
        """The attachments offered, oldest first."""
        self.folder = folder
        """The folder offered first."""
        self.tz = tz

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Save an attachment"), classes="dialog-title")
            yield OptionList(*[Option(self._label(c), id=str(i))
                               for i, c in enumerate(self.choices)])  # fmt: skip
            yield Static(Text("into the folder"), classes="dialog-help", id="attachment-into")
            yield Input(value=str(self.folder), placeholder="folder", id="attachment-folder")
            yield Static(classes="dialog-error", id="attachment-error")
            yield Static(
                Text("enter save · tab folder · esc cancel"),
                classes="dialog-help",
            )

    def _label(self, choice: AttachmentChoice) -> Text:
        a = choice.attachment
        label = Text.assemble(
            safe_text(a.name, "bold", single_line=True),
            (f"  {a.mime_type} · {size(a.size)} · ", "dim"),
            safe_text(choice.author, "dim", single_line=True),
            (f" · {local(choice.message.sent_at, self.tz)}", "dim"),
        )
        label.no_wrap, label.overflow = True, "ellipsis"
        return label

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = len(self.choices) - 1  # the newest first
        options.focus()

    @on(OptionList.OptionSelected)
    @on(Input.Submitted, "#attachment-folder")
    def _save(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None or not 0 <= index < len(self.choices):
            return
        folder = Path(self.query_one("#attachment-folder", Input).value.strip()).expanduser()
        if not folder.is_dir():
            self.query_one("#attachment-error", Static).update(
                Text.assemble("no such folder: ", safe_text(str(folder), single_line=True))
            )
            self.query_one("#attachment-folder", Input).focus()
            return
        self.dismiss(SaveRequest(self.choices[index].attachment, folder))

    def action_cancel(self) -> None:
        self.dismiss(None)
