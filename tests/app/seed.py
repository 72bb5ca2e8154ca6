"""Deterministic console data: agents, templates and a handful of conversations at a fixed clock."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from db.engine import open_database
from db.migrate import upgrade
from db.models import Template
from helpdesk_tui.services import agents, templates
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.intake import Intake
from helpdesk_tui.settings import Settings

#: Monday 2 March 2026, 09:15 in Johannesburg.
NOW = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)
SAST = ZoneInfo("Africa/Johannesburg")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"

#: Every kind of hostile text the console must show inert.
HOSTILE = (
    "[@click=app.quit]x[/] [bold]B[/] [TODO] Q3 \x1b]52;c;SGVsbG8=\x07 \x1b[2J \x9b31m "
    "\u202eevil\u202c zero\u200bwidth"
)


def iso(minutes_before_now: float) -> str:
    return (NOW - timedelta(minutes=minutes_before_now)).astimezone(SAST).isoformat()


def msg(mid: str, conv: str, minutes_ago: float, body: str, **extra: Any) -> dict[str, Any]:
    sender = extra.pop("sender", {"id": "u-1", "role": "user", "name": "Zanele Dlamini"})
    rec = {
        "id": mid,
        "conversation": conv,
        "from": sender,
        "body": body,
        "sent_at": iso(minutes_ago),
    }
    rec.update(extra)
    return rec


def records(hostile: bool = False) -> list[dict[str, Any]]:
    zee = {"id": "u-1", "role": "user", "name": "Zanele Dlamini", "verified": True}
    sipho = {"id": "u-2", "role": "buyer", "name": "Sipho Nkosi"}
    thabo = {"id": "u-3", "role": "user", "name": "Thabo Mokoena"}
    out: list[dict[str, Any]] = [
        {
            "type": "listing",
            "id": "L-1",
            "title": "Toyota Hilux 2.4 GD-6 2019",
            "seller": {"id": "u-9", "name": "Lerato Motors"},
            "active": True,
            "messaging": True,
            "created_at": iso(60 * 24 * 3),
        },
        msg(
            "m-1",
            "c-1",
            30,
            "I paid for a featured ad on Friday and it never went live.\nPlease refund me.",
            kind="user_admin",
            subject="Refund for featured ad",
            priority="urgent",
            sender=zee,
        ),
        msg(
            "m-2",
            "c-2",
            60 * 5,
            "Is the bakkie still available? Can I view it on Saturday?",
            kind="buyer_seller",
            subject="Hilux still available?",
            listing="L-1",
            sender=sipho,
        ),
        msg(
            "m-3",
            "c-3",
            120,
            "The app crashes when I upload photos. Screenshot attached.",
            kind="issue_report",
            subject="App crashes on photo upload",
            priority="high",
            sender=thabo,
            attachments=[{"name": "crash.png", "content_base64": base64.b64encode(PNG).decode()}],
        ),
        msg(
            "m-4",
            "c-4",
            60 * 20,
            "Where can I find my invoices?",
            kind="user_admin",
            subject="Invoices for last quarter",
            priority="low",
            sender=thabo,
        ),
        msg("m-5", "c-1", 10, "Any news? I need this sorted today.", sender=zee),
    ]
    if hostile:
        out.append(
            msg(
                "m-h",
                "c-h",
                45,
                "body " + HOSTILE,
                kind="user_admin",
                subject="S " + HOSTILE,
                priority="urgent",
                sender={"id": "u-h", "role": "user", "name": "N " + HOSTILE},
            ),
        )
    return out  # fmt: skip


def seed(ctx: Context, *, hostile: bool = False) -> None:
    agents.add_team(ctx, "setup", "support")
    agents.add_team(ctx, "setup", "marketplace")
    agents.add_agent(ctx, "setup", "ann", "Ann Lead", "lead", "support")
    agents.add_agent(ctx, "setup", "bob", "Bob Agent", "agent", "support")
    templates.add_template(
        ctx, "ann", "Refund on its way",
        "Hi {{ customer_name }},\n\nYour refund for {{ conversation_ref }} is on its way.\n\n"
        "{{ agent_name }}",
        shortcut="refund", category="billing",
    )  # fmt: skip
    templates.add_template(
        ctx,
        "ann",
        "Listing availability",
        "Hi {{ customer_name }}, the seller {{ seller_name }} will confirm "
        "whether {{ listing_title }} is available.",
        shortcut="avail",
    )
    # A template stored before validation existed: it names an unknown placeholder.
    ctx.db.write(
        lambda s: s.add(Template(name="Old order template", shortcut="order",
                                 body="Your order {{ order_number }} shipped."))
    )  # fmt: skip
    lines = [json.dumps(r).encode() + b"\n" for r in records(hostile)]
    summary = Intake(ctx).run(lines)
    assert summary.rejected == 0, summary.line()


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_context(tmp: Path, *, hostile: bool = False) -> Context:
    """A migrated SQLite database under ``tmp`` with the seed data, on a fixed clock."""
    db = open_database(f"sqlite:///{tmp / 'console.sqlite3'}")
    upgrade(db)
    ctx = Context(db=db, settings=Settings(data_dir=tmp / "data"), now=FixedClock())
    seed(ctx, hostile=hostile)
    return ctx
