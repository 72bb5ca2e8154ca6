"""Automatic acknowledgement of new support conversations, with up to three help articles.

Entry point::

    autoack.run(ctx, sched_settings, now)   # -> AckReport

A support conversation (user_admin, issue_report) that is still ``new`` (nobody answered),
started within ``[scheduler] new_window`` and has no acknowledgement yet gets one message:
``role='system'``, ``via='auto_ack'``, public, body rendered from the configured template
(``[scheduler] ack_template``, else the first active template tagged ``ack``, else a built-in
text), followed by the names of up to ``faq_limit`` (max 3) help articles — active templates
tagged ``faq`` — chosen by keyword overlap with the customer's subject and messages. The
marketplace gets it through the outbound stream: one ``auto_ack`` record and one
``faq_suggestion`` record per article (body: the rendered article).

Once: the message is inserted with ``idempotency_key = 'autoack:<conversation id>'`` (unique)
by ``INSERT ... ON CONFLICT DO NOTHING RETURNING``; only the process whose row was inserted
queues the outbound records, audits, and NOTIFYs consoles. The SLA engine never lets an
``auto_ack`` message meet a clock; the clocks are recomputed anyway so the log shows it.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, select, true
from sqlalchemy.orm import Session

from db.enums import MessageRole, Status, Via
from db.models import Conversation, Message, Template
from helpdesk_tui.errors import InvalidInput
from helpdesk_tui.scheduler_settings import SchedulerSettings
from helpdesk_tui.services import audit, live, sla
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.notify import enqueue_outbound, insert_ignore, table
from helpdesk_tui.services.sweep import ACTOR, SUPPORT_KINDS, run_per_item
from helpdesk_tui.services.templates import render
from helpdesk_tui.services.triage import conversation_text

log = logging.getLogger(__name__)

DEFAULT_ACK = (
    'Hi {{ customer_name }},\n\nThanks for your message about "{{ subject }}" (ref '
    "{{ conversation_ref }}). We have received it and an agent will reply as soon as "
    "possible; there is no need to send it again.\n\n{{ agent_name }}"
)
MAX_FAQ = 3

_WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each few for
    from further get got had has have having he her here hers him his how i if in into is it
    its just me more most my no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours hi hello thanks thank please dear regards
    customer name agent listing title seller ref conversation subject still tried try want
    need help one two day days week since already ago yet never always just don didn can't
    isn aren wasn doesn won let know like going get make made see said say says ive im
    """.split()  # noqa: SIM905
)


def tokens(text: str) -> set[str]:
    """Lower-case content words (stop words dropped, a trailing plural 's' folded)."""
    out = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    return out


@dataclass(frozen=True)
class Article:
    """A help article (an active template tagged ``faq``) as words to match against."""

    id: int
    name: str
    body: str
    title_words: frozenset[str]
    words: frozenset[str]


def article(t: Template) -> Article:
    tags = " ".join(x for x in t.tags.split() if x != "faq")
    title = frozenset(tokens(t.name))
    return Article(
        t.id,
        t.name,
        t.body,
        title,
        title | tokens(f"{t.category} {tags} {_PLACEHOLDER.sub(' ', t.body)}"),
    )


#: A word of the article's name counts this much more than a word of its body.
TITLE_WEIGHT = 3.0


def suggest(text: str, articles: list[Article], limit: int, min_score: float) -> list[Article]:
    """Up to ``limit`` (at most 3) articles sharing words with ``text``.

    Each shared word scores its rarity among the articles (``ln(1 + N/df)``), times
    TITLE_WEIGHT when it is in the article's name; an article needs two shared words and
    ``min_score``. Measured on the demo's help articles, 7 keeps the obvious matches and drops
    the ones that share only a generic word such as "account" or "payment".
    """
    words = tokens(text)
    if not words or not articles:
        return []
    df: dict[str, int] = {}
    for a in articles:
        for w in a.words:
            df[w] = df.get(w, 0) + 1
    n = len(articles)
    scored = []
    for a in articles:
        shared = words & a.words
        if len(shared) < 2:
            continue
        score = sum(
            math.log(1 + n / df[w]) * (TITLE_WEIGHT if w in a.title_words else 1.0) for w in shared
        )
        if score >= min_score:
            scored.append((-score, a.name, a))
    scored.sort(key=lambda x: (x[0], x[1]))
    return [a for _s, _n, a in scored[: min(limit, MAX_FAQ)]]


@dataclass
class AckReport:
    acknowledged: int = 0
    suggestions: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    note: str = ""

    def line(self) -> str:
        if self.note:
            return self.note
        text = f"acknowledged {self.acknowledged} ({self.suggestions} help article(s) suggested)"
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def ack_key(conv_id: int) -> str:
    return f"autoack:{conv_id}"


def candidates(s: Session, cfg: SchedulerSettings, now: datetime) -> list[int]:
    since = now - timedelta(seconds=cfg.new_window_s)
    acked = exists().where(
        Message.conversation_id == Conversation.id, Message.via == Via.AUTO_ACK.value
    )
    return list(
        s.scalars(
            select(Conversation.id)
            .where(
                Conversation.kind.in_(SUPPORT_KINDS),
                Conversation.status == Status.NEW.value,
                Conversation.is_open == true(),
                Conversation.first_message_at >= since,
                Conversation.first_message_at <= now,
                ~acked,
            )
            .order_by(Conversation.id)
        )
    )


def _ack_template(s: Session, cfg: SchedulerSettings) -> Template | None:
    q = select(Template).where(Template.active.is_(True)).order_by(Template.id)
    if cfg.ack_template:
        named = s.scalar(q.where(Template.name == cfg.ack_template))
        if named is not None:
            return named
        log.warning("ack template %r not found: using a template tagged 'ack'", cfg.ack_template)
    for t in s.scalars(q.where(Template.tags.like("%ack%"))):
        if "ack" in t.tags.split():
            return t
    return None


def placeholders(conv: Conversation, cfg: SchedulerSettings) -> dict[str, str]:
    listing = conv.listing
    return {
        "customer_name": (conv.requester.name or conv.requester.external_id)
        if conv.requester
        else "",
        "listing_title": listing.title if listing else "",
        "seller_name": (listing.seller.name or listing.seller.external_id) if listing else "",
        "agent_name": cfg.sender_name,
        "conversation_ref": conv.external_id,
        "subject": conv.subject,
    }


def _render(body: str, values: dict[str, str]) -> str:
    try:
        return render(body, values)
    except InvalidInput as exc:
        log.warning("template failed (%s): using the built-in acknowledgement", exc)
        return render(DEFAULT_ACK, values)


def run(ctx: Context, cfg: SchedulerSettings, now: datetime) -> AckReport:
    """Acknowledge every new support conversation once."""
    report = AckReport()
    if not cfg.autoack:
        report.note = "auto-acknowledgement switched off ([scheduler] autoack = false)"
        return report
    with ctx.db.read() as s:
        ids = candidates(s, cfg, now)
        if not ids:
            return report
        template = _ack_template(s, cfg)
        ack_body, ack_id, ack_name = (
            (template.body, template.id, template.name) if template else (DEFAULT_ACK, None, "")
        )
        faq_rows = [
            t
            for t in s.scalars(
                select(Template)
                .where(Template.active.is_(True), Template.tags.like("%faq%"))
                .order_by(Template.name)
            )
            if "faq" in t.tags.split()
        ]
        articles = [article(t) for t in faq_rows]
    suggested: dict[int, int] = {}

    def one(s: Session, conv_id: int) -> bool:
        conv = s.get(Conversation, conv_id)
        if conv is None or conv.status != Status.NEW.value:
            return False  # answered since the candidate query
        values = placeholders(conv, cfg)
        picks = (
            suggest(conversation_text(s, conv), articles, cfg.faq_limit, cfg.faq_min_score)
            if cfg.faq_limit
            else []
        )
        body = _render(ack_body, values)
        if picks:
            body += "\n\nThese help articles may answer your question while you wait:\n"
            body += "\n".join(f"- {a.name}" for a in picks)
        msg_id = insert_ignore(
            s,
            table(Message),
            {
                "conversation_id": conv_id,
                "author_name": cfg.sender_name,
                "role": MessageRole.SYSTEM.value,
                "body": body,
                "internal": False,
                "via": Via.AUTO_ACK.value,
                "template_id": ack_id,
                "sent_at": now,
                "created_at": now,
                "idempotency_key": ack_key(conv_id),
            },
            ["idempotency_key"],
        )
        if msg_id is None:
            return False  # another scheduler acknowledged it
        requester = conv.requester.external_id if conv.requester else ""
        to = {"id": requester, "role": "user"}
        enqueue_outbound(
            s,
            key=ack_key(conv_id),
            type="auto_ack",
            recipient=requester,
            body=body,
            now=now,
            conversation_id=conv_id,
            message_id=msg_id,
            payload={"system": True, "to": to, "template": ack_name,
                     "articles": [a.name for a in picks]},
        )  # fmt: skip
        for a in picks:
            enqueue_outbound(
                s,
                key=f"faq:{conv_id}:{a.id}",
                type="faq_suggestion",
                recipient=requester,
                body=_render(a.body, values),
                now=now,
                conversation_id=conv_id,
                message_id=msg_id,
                payload={"system": True, "to": to, "template": a.name, "template_id": a.id},
            )
        audit.record(
            s,
            ACTOR,
            "conversation.auto_ack",
            "conversation",
            conv_id,
            after={"message": msg_id, "articles": [a.name for a in picks]},
        )
        live.notify_new_messages(s, [msg_id])
        suggested[conv_id] = len(picks)
        return True

    def after(s: Session, done: list[int]) -> None:
        sla.recompute(s, ctx.settings, done, cause="auto-acknowledgement (does not meet clocks)")

    result = run_per_item(ctx, ids, one, after=after)
    report.acknowledged = len(result.done)
    report.suggestions = sum(suggested.get(i, 0) for i in result.done)
    report.failed = result.failed
    return report


__all__ = ["DEFAULT_ACK", "AckReport", "Article", "article", "run", "suggest", "tokens"]
