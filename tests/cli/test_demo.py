"""`helpdesk demo`: the demo marketplace is realistic, deterministic by seed, and built once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from db.engine import open_database
from db.migrate import upgrade
from db.models import (
    Agent,
    Attachment,
    Conversation,
    Escalation,
    Feedback,
    Flag,
    Listing,
    Message,
    SlaClock,
    Team,
)
from helpdesk_tui import demo
from helpdesk_tui.cli import cli
from helpdesk_tui.services import templates
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.queue import QueueFilter, page
from helpdesk_tui.settings import Settings

#: Monday 2 March 2026, 09:15 in Johannesburg.
NOW = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)

pytestmark = pytest.mark.xdist_group("demo")


def _context(path: Path, now: datetime = NOW) -> Context:
    db = open_database(f"sqlite:///{path / 'demo.sqlite3'}")
    upgrade(db)
    return Context(db=db, settings=Settings(data_dir=path), now=lambda: now)


def _count(ctx: Context, model: type, *where: object) -> int:
    with ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _subjects(ctx: Context) -> list[str]:
    with ctx.db.read() as s:
        return list(s.scalars(select(Conversation.subject).order_by(Conversation.id)))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    ctx = _context(tmp_path_factory.mktemp("demo"))
    assert demo.build_if_empty(ctx, seed=7) is True
    yield ctx
    ctx.db.dispose()


def test_staff_teams_and_templates(built: Context) -> None:
    with built.db.read() as s:
        roles = sorted(s.scalars(select(Agent.role)))
        teams = set(s.scalars(select(Team.name)))
        lead = s.scalar(select(Agent.role).where(Agent.username == demo.DEMO_AGENT))
    assert roles == ["admin", "agent", "agent", "agent", "lead", "lead"]
    assert teams == {"support", "marketplace", "trust-safety"}
    assert lead == "lead"
    rows = templates.list_templates(built)
    assert len(rows) >= 15
    assert len(templates.list_templates(built, tag="faq")) >= 5
    assert len(templates.list_templates(built, tag="ack")) == 1
    for t in rows:  # every template renders with the documented placeholders only
        templates.render(t.body, {k: "x" for k in templates.PLACEHOLDERS})


def test_listings_and_conversations(built: Context) -> None:
    assert 55 <= _count(built, Listing) <= 70
    assert 400 <= _count(built, Conversation) <= 600
    assert 40 <= _count(built, Conversation, Conversation.is_open.is_(True)) <= 70
    for kind in ("user_admin", "issue_report", "buyer_seller", "flag"):
        assert _count(built, Conversation, Conversation.kind == kind) > 10
    assert _count(built, Flag) > 10
    assert _count(built, Feedback) > 50
    assert _count(built, Escalation) > 5
    assert _count(built, Message, Message.internal.is_(True)) > 5
    with built.db.read() as s:
        first = s.scalar(select(func.min(Conversation.first_message_at)))
        avg_rating = s.scalar(select(func.avg(Feedback.rating)))
        mime = list(s.scalars(select(Attachment.mime_type)))
    assert first is not None and first.replace(tzinfo=UTC) <= NOW - timedelta(days=80)
    assert 4.0 <= float(avg_rating) <= 4.8
    assert mime == ["image/png"]


def test_history_answers_mostly_in_time(built: Context) -> None:
    with built.db.read() as s:
        met = list(
            s.execute(
                select(SlaClock.elapsed_s, SlaClock.target_s).where(
                    SlaClock.target == "first_response", SlaClock.state == "met"
                )
            )
        )
    in_time = sum(1 for elapsed, target in met if elapsed <= target) / len(met)
    assert len(met) > 200
    assert 0.82 <= in_time <= 0.97


def test_queue_right_now(built: Context) -> None:
    def total(**kw: object) -> int:
        return page(built, QueueFilter(**kw)).total  # type: ignore[arg-type]

    assert total(breached=True) >= 3
    assert total(at_risk=True) >= 3
    assert total(assignee=demo.DEMO_AGENT) >= 5
    assert total(unassigned=True) >= 5
    assert total(status="pending_customer") >= 3
    assert total(status="new") >= 5
    assert total(priority="urgent") >= 1
    assert total(priority="high") >= 1
    assert total(kind="flag") >= 1
    open_rows = page(built, QueueFilter()).rows
    assert any(r.escalation_level >= 1 for r in open_rows)
    assert any(r.escalation_level == 2 for r in open_rows)
    assert any(r.kind == "buyer_seller" and r.at_risk(NOW) for r in open_rows)
    assert any(r.kind != "buyer_seller" and r.at_risk(NOW) for r in open_rows)


def test_hostile_text_is_stored_verbatim(built: Context) -> None:
    with built.db.read() as s:
        conv = s.scalar(select(Conversation).where(Conversation.subject.contains("[bold]")))
        assert conv is not None and conv.is_open
        body = s.scalar(select(Message.body).where(Message.conversation_id == conv.id))
    assert body is not None and "\x1b[31m" in body


def test_second_build_does_nothing(built: Context) -> None:
    before = _count(built, Conversation)
    assert demo.build_if_empty(built, seed=7) is False
    assert demo.build_if_empty(built, seed=8) is False
    assert _count(built, Conversation) == before


def test_cli_demo_on_a_built_database(built: Context, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["--db", built.db.url, "demo", "--no-console"],
        env={"HELPDESK_CONFIG": str(tmp_path / "none.toml"), "HELPDESK_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert "demo marketplace already in" in result.output


def test_same_seed_same_marketplace(built: Context, tmp_path: Path) -> None:
    later = NOW + timedelta(days=3, hours=5, minutes=13)  # a Thursday afternoon
    again = _context(tmp_path, now=later)
    try:
        assert demo.build_if_empty(again, seed=7) is True
        assert sorted(_subjects(again)) == sorted(_subjects(built))
        with again.db.read() as s:
            bodies = sorted(s.scalars(select(Message.body).where(Message.internal.is_(False))))
        with built.db.read() as s:
            expected = sorted(s.scalars(select(Message.body).where(Message.internal.is_(False))))
        assert bodies == expected
        assert 40 <= _count(again, Conversation, Conversation.is_open.is_(True)) <= 70
        assert page(again, QueueFilter(breached=True)).total >= 3
        assert page(again, QueueFilter(at_risk=True)).total >= 3
    finally:
        again.db.dispose()


def test_same_seed_same_instant_same_order(built: Context, tmp_path: Path) -> None:
    again = _context(tmp_path)
    try:
        demo.build(again, seed=7)
        assert _subjects(again) == _subjects(built)
        assert [r.subject for r in page(again, QueueFilter()).rows] == [
            r.subject for r in page(built, QueueFilter()).rows
        ]
    finally:
        again.db.dispose()
