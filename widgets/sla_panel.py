"""The conversation's side panel: requester, listing and seller, SLA clocks, escalations,
and who else has the conversation open."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from db.records import ClockView, ConversationDetail, PartyView
from widgets.sanitize import safe_text
from widgets.timefmt import local, short_duration

#: Human names of SLA targets.
TARGET_LABEL = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
    "seller_reply": "seller reply",
    "moderation": "moderation",
}


class SlaPanel(VerticalScroll):
    """Facts about one conversation, rebuilt from a ``ConversationDetail``."""

    DEFAULT_CSS = """
    SlaPanel {
        width: 36;
        padding: 0 1;
        border-left: vkey $primary 40%;
        & > Static { width: 1fr; }
        & > .sla-panel--heading { text-style: bold; color: $primary; }
        & > .sla-panel--muted { color: $text-muted; }
        & > .sla-panel--breached { color: $error; text-style: bold; }
        & > .sla-panel--at-risk { color: $warning; }
        & > .sla-panel--good { color: $success; }
        & > .sla-panel--viewer { color: $warning; text-style: bold; }
    }
    """

    COMPONENT_CLASSES = {
        "sla-panel--heading",
        "sla-panel--muted",
        "sla-panel--breached",
        "sla-panel--at-risk",
        "sla-panel--good",
        "sla-panel--viewer",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: ConversationDetail | None = None
        """The conversation shown."""
        self.viewers: tuple[str, ...] = ()
        """Other agents who have it open."""
        self._body = Static(Text("loading…"))

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, detail: ConversationDetail, tz: tzinfo, now: datetime, at_risk: float) -> None:
        """Rebuild from ``detail``; ``at_risk`` is the share of a target that counts as risky."""
        self.detail, self.viewers = detail, detail.viewers
        self._tz, self._now, self._risk = tz, now, at_risk
        self._body.update(self.build())

    def show_viewers(self, viewers: tuple[str, ...]) -> None:
        if self.detail is None or viewers == self.viewers:
            return
        self.viewers = viewers
        self._body.update(self.build())

    def _s(self, name: str) -> Style:
        return self.get_component_rich_style(f"sla-panel--{name}", partial=True)

    def build(self) -> Text:
        d = self.detail
        if d is None:
            return Text("loading…")
        lines: list[Text] = []
        if self.viewers:
            lines.append(
                Text.assemble(
                    ("Also viewing: ", self._s("viewer")),
                    safe_text(", ".join(self.viewers), self._s("viewer"), single_line=True),
                )
            )
            lines.append(Text())
        lines.append(Text("Requester", style=self._s("heading")))
        lines += self._party(d.requester)
        if d.kind == "buyer_seller" or d.listing_title:
            lines.append(Text("Listing", style=self._s("heading")))
            lines.append(
                Text.assemble(
                    safe_text(d.listing_title or "-", single_line=True),
                    (f" ({d.listing_id})" if d.listing_id else "", self._s("muted")),
                )
            )
            if d.seller is not None:
                lines.append(Text("Seller", style=self._s("heading")))
                lines += self._party(d.seller)
        lines.append(Text("SLA clocks", style=self._s("heading")))
        if not d.clocks:
            lines.append(Text("no clocks", style=self._s("muted")))
        for clock in d.clocks:
            lines.append(self._clock(clock))
        lines.append(Text("Escalations", style=self._s("heading")))
        if not d.escalations:
            lines.append(Text("none", style=self._s("muted")))
        for e in d.escalations:
            who = "auto" if e.automatic else (e.by or "?")
            lines.append(
                Text.assemble(
                    (f"L{e.level} ", self._s("at-risk")),
                    (f"{local(e.at, self._tz)} by ", self._s("muted")),
                    safe_text(who, single_line=True),
                    (" → ", self._s("muted")),
                    safe_text(e.to or "-", single_line=True),
                )
            )
            lines.append(Text.assemble("  ", safe_text(e.reason, self._s("muted"))))
        return Text("\n").join(lines)

    def _party(self, p: PartyView) -> list[Text]:
        name = safe_text(p.name or p.external_id, single_line=True)
        badges = Text()
        if p.verified:
            badges.append(" ✓ verified", self._s("good"))
        if p.suspended:
            badges.append(" SUSPENDED", self._s("breached"))
        first = Text.assemble(name, badges)
        second = Text.assemble(
            safe_text(p.external_id, self._s("muted"), single_line=True),
            (f" · {p.other_conversations} other conversation(s)", self._s("muted")),
        )
        return [first, second]

    def _clock(self, c: ClockView) -> Text:
        label = TARGET_LABEL.get(c.target, c.target)
        if c.state in ("running", "paused") and c.due_at is not None:
            left = (c.due_at - self._now).total_seconds()
            if left <= 0:
                style, verdict = self._s("breached"), f"BREACHED {short_duration(left)}"
            elif left < c.target_s * self._risk:
                style, verdict = self._s("at-risk"), f"{short_duration(left)} left"
            else:
                style, verdict = Style(), f"{short_duration(left)} left"
            state = " (paused)" if c.state == "paused" else ""
            return Text.assemble(
                f"{label}: ",
                (verdict, style),
                (f"{state}\n  due {local(c.due_at, self._tz)}", self._s("muted")),
            )
        if c.state == "met":
            late = (c.elapsed_s or 0) > c.target_s
            return Text.assemble(
                f"{label}: ",
                ("met late" if late else "met", self._s("breached" if late else "good")),
                (f" after {short_duration(c.elapsed_s or 0)}", self._s("muted")),
            )
        return Text.assemble(f"{label}: ", (c.state, self._s("muted")))
