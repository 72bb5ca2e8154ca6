"""Fixtures for console tests: a seeded SQLite database on a fixed clock, and the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpdesk_tui.app import HelpdeskApp
from helpdesk_tui.services.context import Context
from tests.app.seed import make_context


@pytest.fixture
def console_ctx(tmp_path: Path) -> Iterator[Context]:
    ctx = make_context(tmp_path)
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def hostile_ctx(tmp_path: Path) -> Iterator[Context]:
    ctx = make_context(tmp_path, hostile=True)
    yield ctx
    ctx.db.dispose()


def make_app(ctx: Context, agent: str = "ann") -> HelpdeskApp:
    """The console with polling off and the countdown pinned to the context's clock."""
    return HelpdeskApp(ctx, agent=agent, clock=ctx.now, poll_interval=0)
