"""Saving an attachment: the dialog from the conversation screen, and a copy that never
overwrites and never follows path components of the customer's file name."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from db.records import AttachmentView
from helpdesk_tui.errors import InvalidInput, NotFound
from helpdesk_tui.screens.attachments import AttachmentModal, save_copy
from helpdesk_tui.screens.conversation import ConversationScreen
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from tests.app.conftest import make_app
from tests.app.seed import msg


def png_1x1() -> bytes:
    """A complete, valid 1x1 RGBA PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))  # fmt: skip


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_save_an_ingested_png_twice(console_ctx: Context, tmp_path: Path) -> None:
    png = png_1x1()
    record = msg("m-png", "c-1", 5, "here is the receipt", sender={"id": "u-1", "role": "user"},
                 attachments=[{"name": "receipt.png",
                               "content_base64": base64.b64encode(png).decode()}])  # fmt: skip
    assert Intake(console_ctx).run([json.dumps(record).encode()]).rejected == 0
    out = tmp_path / "out"
    out.mkdir()
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # c-1
        await settle(pilot)
        assert isinstance(app.screen, ConversationScreen)
        for _ in range(2):
            await pilot.press("o")
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, AttachmentModal)
            assert [c.attachment.name for c in modal.choices] == ["receipt.png"]
            assert modal.choices[0].attachment.mime_type == "image/png"
            modal.query_one(Input).value = str(out)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ConversationScreen)
        toasts = [n.message for n in app._notifications]
    assert sorted(p.name for p in out.iterdir()) == ["receipt (1).png", "receipt.png"]
    assert (out / "receipt.png").read_bytes() == png
    assert (out / "receipt (1).png").read_bytes() == png
    assert f"saved to {out / 'receipt (1).png'}" in toasts


async def test_no_attachments_hides_the_key(console_ctx: Context) -> None:
    app = make_app(console_ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # c-2: no attachments
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.check_action("save_attachment", ()) is False
        await pilot.press("o")
        await pilot.pause()
        assert app.screen is screen


def test_save_copy_drops_path_parts_and_stays_in_the_store(tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    (store / "ab").mkdir(parents=True)
    out.mkdir()
    (store / "ab" / "abcd").write_bytes(b"data")
    (tmp_path / "secret").write_bytes(b"secret")

    def view(name: str, stored: str = "ab/abcd") -> AttachmentView:
        return AttachmentView(1, name, "text/plain", 4, "abcd", stored)

    assert save_copy(store, view("../../evil.txt"), out) == out / "evil.txt"
    assert save_copy(store, view("..\\..\\evil.txt"), out) == out / "evil (1).txt"
    assert save_copy(store, view("\u202etxt.exe"), out) == out / "txt.exe"
    assert save_copy(store, view(".."), out) == out / "attachment"
    long = save_copy(store, view("é" * 150 + ".txt"), out).name  # 304 bytes: too long
    assert long.endswith("é.txt") and len(long.encode()) <= 255
    (out / "link.txt").symlink_to(tmp_path / "secret")
    assert save_copy(store, view("link.txt"), out) == out / "link (1).txt"
    assert (tmp_path / "secret").read_bytes() == b"secret"  # the symlink was not followed
    with pytest.raises(NotFound):
        save_copy(store, view("x.txt", "../secret"), out)
    with pytest.raises(InvalidInput, match="no such folder"):
        save_copy(store, view("x.txt"), tmp_path / "nowhere")
    assert not list(tmp_path.glob("evil*"))
