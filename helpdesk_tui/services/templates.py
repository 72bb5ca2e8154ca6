"""Reply templates: stored canned answers with placeholders filled by a sandboxed engine."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Agent, Conversation, Template
from db.records import TemplateView
from helpdesk_tui.errors import InvalidInput, NotFound
from helpdesk_tui.services import audit
from helpdesk_tui.services.context import Context
from helpdesk_tui.textpolicy import check_text

#: The placeholders a template may use, with what fills them.
PLACEHOLDERS = {
    "customer_name": "the requester's name",
    "listing_title": "the listing's title (buyer-seller and listing questions)",
    "seller_name": "the listing's seller",
    "agent_name": "your display name",
    "conversation_ref": "the conversation's reference",
    "subject": "the conversation's subject",
}

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class Rendered:
    text: str
    template: TemplateView


def list_templates(ctx: Context, *, tag: str | None = None) -> list[TemplateView]:
    with ctx.db.read() as s:
        q = select(Template).where(Template.active.is_(True)).order_by(Template.name)
        rows = [_view(t) for t in s.scalars(q)]
    if tag:
        rows = [t for t in rows if tag in t.tags.split()]
    return rows


def _view(t: Template) -> TemplateView:
    return TemplateView(t.id, t.name, t.shortcut, t.category, t.tags, t.body)


def validate(body: str) -> None:
    """Refuse a template whose syntax is broken or that names an unknown placeholder."""
    try:
        parsed = _ENV.parse(body)
    except TemplateError as exc:
        raise InvalidInput(f"template syntax error: {exc.message}") from None
    from jinja2 import meta

    unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLACEHOLDERS))
    if unknown:
        raise InvalidInput(
            f"unknown placeholder {{{{ {unknown[0]} }}}}: use one of {', '.join(PLACEHOLDERS)}"
        )


def add_template(
    ctx: Context, actor: str, name: str, body: str, *, shortcut: str | None = None,
    category: str = "general", tags: str = "",
) -> int:  # fmt: skip
    for value, what in ((name, "template name"), (body, "template body")):
        check_text(value, what)
    validate(body)

    def fn(s: Session) -> int:
        if s.scalar(select(Template.id).where(Template.name == name)):
            raise InvalidInput(f"template {name!r} already exists")
        t = Template(name=name, body=body, shortcut=shortcut, category=category, tags=tags)
        s.add(t)
        s.flush()
        audit.record(s, actor, "template.add", "template", t.id, after={"name": name}, at=ctx.now())
        return t.id

    return ctx.db.write(fn)


def context_for(ctx: Context, conv_id: int, username: str) -> dict[str, str]:
    """The placeholder values for one conversation and agent."""
    with ctx.db.read() as s:
        conv = s.get(Conversation, conv_id)
        if conv is None:
            raise NotFound(f"no conversation #{conv_id}")
        agent = s.scalar(select(Agent).where(Agent.username == username))
        listing = conv.listing
        return {
            "customer_name": conv.requester.name or conv.requester.external_id,
            "listing_title": listing.title if listing else "",
            "seller_name": (listing.seller.name or listing.seller.external_id) if listing else "",
            "agent_name": agent.display_name if agent else username,
            "conversation_ref": conv.external_id,
            "subject": conv.subject,
        }


def render(body: str, values: dict[str, str]) -> str:
    """Fill a template; an unknown placeholder or broken syntax is a clear InvalidInput."""
    try:
        return _ENV.from_string(body).render(**values)
    except UndefinedError as exc:
        raise InvalidInput(f"template uses an unknown placeholder: {exc.message}") from None
    except TemplateError as exc:
        raise InvalidInput(f"template error: {exc.message or exc}") from None
