"""Automatic acknowledgements with help articles, and triage rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from db.models import AuditEvent, ConversationEvent, Message, OutboxItem, Team
from helpdesk_tui.scheduler_settings import (
    SchedulerSettings,
    scheduler_settings_from_mapping,
)
from helpdesk_tui.services import autoack, templates, triage
from helpdesk_tui.services.context import Context
from tests.db.test_sweep import must_ingest, n, rows, seed_people
from tests.factories import at, clocks, conversation, listing, message

ACK = (
    'Hi {{ customer_name }}, we got your message about "{{ subject }}" '
    "(ref {{ conversation_ref }}).\n{{ agent_name }}"
)
ARTICLES = {
    "Password reset": ("account", "faq account",
                       "Hi {{ customer_name }}, we sent a new password reset link to your email."),
    "Renew an expired ad": ("listings", "faq listings",
                            "Open My Ads > Expired and tap Renew to renew the ad."),
    "Refund status": ("payments", "faq payments",
                      "Your refund was processed; banks take 5 working days to pay it out."),
    "Login problems": ("account", "faq account",
                       "If you cannot log in, reset your password or check your email address."),
    "Internal macro": ("general", "", "Not an article: password reset email login"),
}  # fmt: skip


def seed_templates(ctx: Context) -> None:
    templates.add_template(ctx, "root", "Acknowledgement", ACK, tags="ack", shortcut="ack")
    for name, (category, tags, body) in ARTICLES.items():
        templates.add_template(ctx, "root", name, body, category=category, tags=tags)


CFG = SchedulerSettings()


@pytest.fixture
def seeded(ctx: Context) -> Context:
    seed_people(ctx)
    seed_templates(ctx)
    return ctx


PASSWORD = "I can't reset my password, the reset email never arrives"
PASSWORD_AND_REFUND = PASSWORD + ". And what is the status of my refund for the Boost?"


def test_autoack_once_with_matching_help_articles(seeded: Context) -> None:
    ctx = seeded
    must_ingest(ctx, message("m-1", "c-1", sent_at=0, subject="Password", body=PASSWORD_AND_REFUND))
    conv = conversation(ctx, "c-1")

    report = autoack.run(ctx, CFG, at(minutes=1))
    assert (report.acknowledged, report.suggestions) == (1, 2)
    (ack,) = rows(ctx, Message, Message.via == "auto_ack")
    assert (ack.role, ack.internal, ack.idempotency_key) == ("system", False, f"autoack:{conv.id}")
    assert ack.body.startswith('Hi Name u-1, we got your message about "Password" (ref c-1)')
    assert "- Password reset" in ack.body and "- Refund status" in ack.body
    # sharing only generic words (password, email with "Login problems") is not enough
    assert "Login" not in ack.body and "Renew" not in ack.body and "Internal" not in ack.body
    outbound = {o.type: o for o in rows(ctx, OutboxItem, OutboxItem.channel == "outbound")}
    assert outbound["auto_ack"].message_id == ack.id and outbound["auto_ack"].recipient == "u-1"
    faqs = rows(ctx, OutboxItem, OutboxItem.type == "faq_suggestion")
    assert sorted(f.payload["template"] for f in faqs) == ["Password reset", "Refund status"]
    assert any("new password reset link" in f.body for f in faqs)
    assert n(ctx, AuditEvent, AuditEvent.action == "conversation.auto_ack") == 1

    assert autoack.run(ctx, CFG, at(minutes=2)).acknowledged == 0
    assert n(ctx, Message, Message.via == "auto_ack") == 1
    assert n(ctx, OutboxItem) == 3


def test_autoack_never_meets_the_first_response_clock(seeded: Context) -> None:
    ctx = seeded
    must_ingest(ctx, message("m-1", "c-1", sent_at=0, body=PASSWORD))
    before = clocks(ctx, "c-1")[("first_response", 1)]
    autoack.run(ctx, CFG, at(minutes=1))
    after = clocks(ctx, "c-1")[("first_response", 1)]
    assert after.state == "running" and after.due_at == before.due_at == at(hours=24)
    assert conversation(ctx, "c-1").due_for == "first_response"


def test_autoack_only_new_recent_support_conversations(seeded: Context) -> None:
    ctx = seeded
    must_ingest(
        ctx,
        listing("L-1"),
        message("m-1", "old", sent_at=-2 * 24 * 60),  # two days old: outside the window
        message("m-2", "answered", sent_at=0),
        message("m-3", "answered", sender="alice", role="agent", kind=None, sent_at=1),
        message("m-4", "bs", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
        message("m-5", "fresh", sent_at=0, kind="issue_report"),
    )
    report = autoack.run(ctx, CFG, at(minutes=5))
    assert report.acknowledged == 1
    (ack,) = rows(ctx, Message, Message.via == "auto_ack")
    assert ack.conversation_id == conversation(ctx, "fresh").id


def test_autoack_without_ack_template_uses_builtin_text(ctx: Context) -> None:
    must_ingest(ctx, message("m-1", "c-1", sent_at=0))
    cfg = SchedulerSettings(sender_name="Helpdesk Bot")
    assert autoack.run(ctx, cfg, at(minutes=1)).acknowledged == 1
    (ack,) = rows(ctx, Message, Message.via == "auto_ack")
    assert "We have received it" in ack.body and ack.body.endswith("Helpdesk Bot")
    assert ack.author_name == "Helpdesk Bot"


def test_suggest_caps_at_three_and_needs_overlap() -> None:
    title = frozenset({"password", "reset"})
    arts = [
        autoack.Article(i, f"Password topic {i}", "", title, title | {"email", f"word{i}"})
        for i in range(5)
    ]
    assert len(autoack.suggest("password reset email", arts, limit=5, min_score=1)) == 3
    assert autoack.suggest("my car is broken", arts, limit=3, min_score=1) == []
    assert autoack.suggest("password", arts, limit=3, min_score=0) == []  # one word is not enough
    # a rare word outranks a common one
    (best,) = autoack.suggest("reset word3 password", arts, limit=1, min_score=1)
    assert best.id == 3


def test_concurrent_autoack_runs_make_one_message(seeded: Context) -> None:
    ctx = seeded
    must_ingest(ctx, *(message(f"m-{i}", f"c-{i}", sent_at=i, body=PASSWORD) for i in range(6)))
    errors: list[BaseException] = []

    def go() -> None:
        try:
            autoack.run(ctx, CFG, at(minutes=10))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert n(ctx, Message, Message.via == "auto_ack") == 6
    assert n(ctx, OutboxItem, OutboxItem.type == "auto_ack") == 6


# -- triage ----------------------------------------------------------------------------------------
RULES: dict[str, Any] = {
    "triage": {
        "rule": [
            {"name": "refunds", "keywords": ["refund", "chargeback"], "category": "payments",
             "priority": "urgent"},
            {"name": "unverified scams", "regex": r"scam+er", "verified": False,
             "team": "trust-safety", "priority": "low", "category": "fraud"},
            {"name": "cars", "listing_categories": ["vehicles"], "kinds": ["buyer_seller"],
             "category": "motoring"},
        ]
    }
}  # fmt: skip


def test_triage_rules_set_category_team_priority_once(seeded: Context) -> None:
    ctx = seeded
    cfg = scheduler_settings_from_mapping(RULES)
    must_ingest(
        ctx,
        message("m-1", "c-1", sent_at=0, body="Where is my refund? This seller is a scammer"),
        message("m-2", "c-2", sent_at=0, body="Hello, how do I change my photo?"),
    )
    before = conversation(ctx, "c-1")
    assert clocks(ctx, "c-1")[("first_response", 1)].due_at == at(hours=24)

    report = triage.run(ctx, cfg, at(minutes=1))
    assert (report.triaged, report.changed) == (2, 1)
    conv = conversation(ctx, "c-1")
    trust = rows(ctx, Team, Team.name == "trust-safety")[0]
    # per field the first matching rule wins: refunds sets category and priority first
    assert (conv.category, conv.priority, conv.team_id) == ("payments", "urgent", trust.id)
    assert conv.version == before.version + 1
    # the priority change recomputed the clocks: urgent first response is 1 h
    assert clocks(ctx, "c-1")[("first_response", 1)].due_at == at(hours=1)
    fields = {
        e.field: (e.old, e.new)
        for e in rows(ctx, ConversationEvent, ConversationEvent.conversation_id == conv.id)
    }
    assert fields["priority"] == ("normal", "urgent")
    assert fields["team"] == ("support", "trust-safety")
    assert fields["triage"][1] == "rules: refunds, unverified scams"
    untouched = conversation(ctx, "c-2")
    assert untouched.category is None and untouched.priority == "normal"
    assert n(ctx, AuditEvent, AuditEvent.action == "conversation.triage") == 1

    assert triage.run(ctx, cfg, at(minutes=2)).triaged == 0
    assert n(ctx, ConversationEvent, ConversationEvent.field == "triage") == 2


def test_triage_listing_category_and_kind(seeded: Context) -> None:
    ctx = seeded
    cfg = scheduler_settings_from_mapping(RULES)
    must_ingest(
        ctx,
        listing("L-1", category="vehicles"),
        message("m-1", "c-1", role="buyer", kind="buyer_seller", listing="L-1", sent_at=0),
    )
    triage.run(ctx, cfg, at(minutes=1))
    assert conversation(ctx, "c-1").category == "motoring"


def test_triage_concurrent_runs_triage_once(seeded: Context) -> None:
    ctx = seeded
    cfg = scheduler_settings_from_mapping(RULES)
    must_ingest(ctx, *(message(f"m-{i}", f"c-{i}", sent_at=i, body="refund") for i in range(5)))
    threads = [
        threading.Thread(target=triage.run, args=(ctx, cfg, at(minutes=10))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ctx.db.read() as s:
        per_conv = list(
            s.execute(
                select(ConversationEvent.conversation_id, ConversationEvent.field).where(
                    ConversationEvent.field.in_(("triage", "priority"))
                )
            )
        )
    assert len(per_conv) == 10  # one triage and one priority event for each of 5
    assert n(ctx, AuditEvent, AuditEvent.action == "conversation.triage") == 5


def test_triage_decide_is_first_match_per_field() -> None:
    cfg = scheduler_settings_from_mapping(RULES)
    d = triage.decide(
        cfg.triage, text="refund please", kind="user_admin", listing_category=None, verified=True
    )
    assert (d.category, d.priority, d.team, d.rules) == ("payments", "urgent", None, ("refunds",))
    none = triage.decide(
        cfg.triage, text="scammer", kind="user_admin", listing_category=None, verified=True
    )
    assert none.rules == ()


def test_bad_triage_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown key 'keyword'"):
        scheduler_settings_from_mapping({"triage": {"rule": [{"keyword": "x"}]}})
    with pytest.raises(ValueError, match="sets nothing"):
        scheduler_settings_from_mapping({"triage": {"rule": [{"keywords": ["x"]}]}})
    with pytest.raises(ValueError, match=r"smtp\.tls"):
        scheduler_settings_from_mapping({"smtp": {"tls": "maybe"}})
