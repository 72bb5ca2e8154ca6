"""Triage rules: configured keywords/regexes/listing category/verified -> category, team, priority.

Entry point::

    triage.run(ctx, sched_settings, now)   # -> TriageReport

Applies to conversations that are still ``new`` (nobody answered), started within
``[scheduler] new_window`` and not triaged yet. Rules are tried in config order; for each of
category, team and priority the first matching rule that sets it wins. The text matched is the
subject and the public customer messages so far.

Once per conversation: the conversation row is locked (``SELECT ... FOR UPDATE``; SQLite
serialises writers anyway), then the absence of a ``conversation_events`` row with
``field='triage'`` is checked again inside the transaction; the triage event is written in the
same transaction, so a second scheduler finds it and skips. A change bumps ``version`` (Core
UPDATE), is logged as conversation events (priority/team/category) and in the audit log (actor
``scheduler``), and a priority or team change recomputes the SLA clocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, select, true, update
from sqlalchemy.orm import Session

from db.enums import MessageRole, Status
from db.models import Conversation, ConversationEvent, Message, Team
from helpdesk_tui.scheduler_settings import SchedulerSettings, TriageRule
from helpdesk_tui.services import audit, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.notify import table
from helpdesk_tui.services.sweep import ACTOR, run_per_item

log = logging.getLogger(__name__)

TRIAGE_FIELD = "triage"


@dataclass
class TriageReport:
    triaged: int = 0
    changed: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.triaged and not self.failed and self.warnings:
            return self.warnings[0]
        text = f"triaged {self.triaged} ({self.changed} changed)"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.warnings:
            text += f"; {self.warnings[0]}"
        return text


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one conversation."""

    category: str | None = None
    team: str | None = None
    priority: str | None = None
    rules: tuple[str, ...] = ()


def decide(
    rules: tuple[TriageRule, ...],
    *,
    text: str,
    kind: str,
    listing_category: str | None,
    verified: bool | None,
) -> Decision:
    """Per field, the first matching rule that sets it (pure: tested without a database)."""
    category = team = priority = None
    matched: list[str] = []
    for rule in rules:
        if not rule.matches(
            text=text, kind=kind, listing_category=listing_category, verified=verified
        ):
            continue
        matched.append(rule.name)
        category = category or rule.category
        team = team or rule.team
        priority = priority or rule.priority
    return Decision(category, team, priority, tuple(matched))


def candidates(s: Session, cfg: SchedulerSettings, now: datetime) -> list[int]:
    since = now - timedelta(seconds=cfg.new_window_s)
    triaged = exists().where(
        ConversationEvent.conversation_id == Conversation.id,
        ConversationEvent.field == TRIAGE_FIELD,
    )
    return list(
        s.scalars(
            select(Conversation.id)
            .where(
                Conversation.status == Status.NEW.value,
                Conversation.is_open == true(),
                Conversation.first_message_at >= since,
                Conversation.first_message_at <= now,
                ~triaged,
            )
            .order_by(Conversation.id)
        )
    )


def conversation_text(s: Session, conv: Conversation, limit: int = 20) -> str:
    """Subject and the public customer messages so far (what rules and FAQ matching read)."""
    bodies = s.scalars(
        select(Message.body)
        .where(
            Message.conversation_id == conv.id,
            Message.internal.is_(False),
            Message.role == MessageRole.CUSTOMER.value,
        )
        .order_by(Message.sent_at, Message.id)
        .limit(limit)
    )
    return "\n".join([conv.subject or "", *bodies])


def run(ctx: Context, cfg: SchedulerSettings, now: datetime) -> TriageReport:
    """Triage every new, untriaged conversation once."""
    report = TriageReport()
    if not cfg.triage:
        report.warnings.append("no [[triage.rule]] configured")
        return report
    with ctx.db.read() as s:
        ids = candidates(s, cfg, now)
        teams = {name: tid for tid, name in s.execute(select(Team.id, Team.name))}
    if not ids:
        return report
    changed: dict[int, bool] = {}
    unknown_teams: set[str] = set()

    def one(s: Session, conv_id: int) -> bool:
        # the fence: lock the row, then re-check inside this transaction
        s.execute(select(Conversation.id).where(Conversation.id == conv_id).with_for_update())
        if s.scalar(
            select(ConversationEvent.id)
            .where(
                ConversationEvent.conversation_id == conv_id,
                ConversationEvent.field == TRIAGE_FIELD,
            )
            .limit(1)
        ):
            return False
        conv = s.get(Conversation, conv_id)
        if conv is None:
            return False
        s.refresh(conv)  # the lock above makes this read current
        if conv.status != Status.NEW.value:
            return False  # answered since the candidate query: no longer new
        decision = decide(
            cfg.triage,
            text=conversation_text(s, conv),
            kind=conv.kind,
            listing_category=conv.listing.category if conv.listing else None,
            verified=conv.requester.verified if conv.requester else None,
        )
        values: dict[str, object] = {}
        before: dict[str, object] = {}
        after: dict[str, object] = {}
        events: list[tuple[str, str | None, str | None]] = []
        if decision.category and decision.category != conv.category:
            values["category"] = decision.category
            events.append(("category", conv.category, decision.category))
        if decision.team:
            team_id = teams.get(decision.team)
            if team_id is None:
                unknown_teams.add(decision.team)
            elif team_id != conv.team_id:
                values["team_id"] = team_id
                old_name = next((n for n, t in teams.items() if t == conv.team_id), None)
                events.append(("team", old_name, decision.team))
        if decision.priority and decision.priority != conv.priority:
            values["priority"] = decision.priority
            events.append(("priority", conv.priority, decision.priority))
        summary = f"rules: {', '.join(decision.rules)}" if decision.rules else "no rule matched"
        s.add(
            ConversationEvent(
                conversation_id=conv_id, field=TRIAGE_FIELD, old=None, new=summary[:200], at=now
            )
        )
        changed[conv_id] = bool(values)
        if not values:
            return True
        for name, old, new in events:
            s.add(ConversationEvent(conversation_id=conv_id, field=name, old=old, new=new, at=now))
            before[name], after[name] = old, new
        s.execute(
            update(table(Conversation))
            .where(Conversation.id == conv_id)
            .values(**values, version=Conversation.version + 1, updated_at=now)
        )
        audit.record(
            s,
            ACTOR,
            "conversation.triage",
            "conversation",
            conv_id,
            before=before,
            after=after,
            detail=summary,
        )
        if "priority" in values or "team_id" in values:
            s.flush()
            sla.recompute(s, ctx.settings, [conv_id], cause=f"triage ({summary})"[:200])
        return True

    result = run_per_item(ctx, ids, one)
    report.triaged = len(result.done)
    report.changed = sum(1 for i in result.done if changed.get(i))
    report.failed = result.failed
    if unknown_teams:
        report.warnings.append(
            f"unknown team(s) in triage rules: {', '.join(sorted(unknown_teams))}"
        )
    return report


__all__ = ["Decision", "TriageReport", "candidates", "conversation_text", "decide", "run"]
