"""`helpdesk health`: queue health for on-call, as a Nagios/Icinga plugin line. Never writes.

Exit codes follow the plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the
database cannot be reached, its schema is not the one this version needs, or the check
itself failed). A threshold ``N`` alerts when the value is above ``N`` (the Nagios range
``0..N`` is fine), so ``--warn-breached 0`` warns on the first breach.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.engine import make_url

from db.engine import Database, open_database, redact, sqlite_path
from db.enums import ClockState, Target
from db.models import Conversation, SchedulerState, SlaClock
from helpdesk_tui.services.context import Context
from helpdesk_tui.settings import Settings
from helpdesk_tui.sla.policy import format_duration

OK, WARNING, CRITICAL, UNKNOWN = "OK", "WARNING", "CRITICAL", "UNKNOWN"
EXIT = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
#: The scheduler's liveness row (written by the scheduler, read here).
HEARTBEAT = "heartbeat"
RESPONSE_TARGETS = (
    Target.FIRST_RESPONSE.value,
    Target.NEXT_RESPONSE.value,
    Target.SELLER_REPLY.value,
)


@dataclass(frozen=True)
class Thresholds:
    """Alert when a value is above its threshold; ``None`` disables that check."""

    warn_breached: int | None = 0
    crit_breached: int | None = 10
    warn_at_risk: int | None = 10
    crit_at_risk: int | None = 50
    warn_oldest_wait_s: int | None = 4 * 3600
    crit_oldest_wait_s: int | None = 24 * 3600
    warn_scheduler_age_s: int | None = 300
    crit_scheduler_age_s: int | None = 900


@dataclass(frozen=True)
class Metrics:
    open: int
    breached: int
    at_risk: int
    unassigned: int
    oldest_wait_s: int
    oldest_conversation: str | None
    within_target_pct: float | None
    scheduler_age_s: int | None
    scheduler_holder: str | None
    breached_by_target: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    state: str
    summary: str
    metrics: Metrics | None
    thresholds: Thresholds
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    as_of: datetime | None = None

    @property
    def exit_code(self) -> int:
        return EXIT[self.state]


class Unavailable(Exception):
    """The database cannot be used for the check; the message is the one line to show."""


def open_for_check(url: str) -> Database:
    """Open ``url`` without creating anything: a missing SQLite file is an error here."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None or not path.is_file():
            raise Unavailable(f"no database at {redact(url)}")
    try:
        db = open_database(url, pool_size=1)
        with db.engine.connect():
            pass
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise Unavailable(
            f"cannot reach database {redact(url)}: {reason[0] if reason else type(exc).__name__}"
        ) from None
    return db


def check_schema(db: Database) -> None:
    from db import migrate

    try:
        current = migrate.current_revision(db)
    except Exception as exc:
        raise Unavailable(f"cannot read the schema version: {_first_line(exc)}") from None
    if current != migrate.head_revision():
        raise Unavailable(
            f"database schema is at {current or 'nothing'}, this version needs "
            f"{migrate.head_revision()}: run `helpdesk db upgrade`"
        )


def measure(ctx: Context, now: datetime) -> Metrics:
    """Read the numbers (read-only session): one grouped pass over the open conversations
    (counts by what their deadline is for, and the oldest wait), the row of the oldest wait,
    today's response clocks and the scheduler's heartbeat."""
    c = Conversation
    with ctx.db.read() as s:
        groups = s.execute(
            select(
                c.due_for,
                func.count(c.id),
                func.count(c.id).filter(c.assignee_id.is_(None)),
                func.count(c.id).filter(c.due_at <= now),
                func.count(c.id).filter(and_(c.risk_at <= now, c.due_at > now)),
                func.min(c.waiting_since),
            )
            .where(c.is_open == true())
            .group_by(c.due_for)
        ).all()
        waits = [g[5] for g in groups if g[5] is not None]
        oldest_at = min(waits) if waits else None
        oldest = None
        if oldest_at is not None:
            # by the rowid order, not the queue index: stops at the first match
            oldest = s.scalar(
                select(c.external_id).where(c.waiting_since == oldest_at).order_by(c.id).limit(1)
            )
        within = _within_target_today(s, now, ctx.settings.display_tz)
        beat = s.execute(
            select(SchedulerState.beat_at, SchedulerState.holder).where(
                SchedulerState.name == HEARTBEAT
            )
        ).first()
    wait = max(int((now - oldest_at).total_seconds()), 0) if oldest_at else 0
    age = max(int((now - beat[0]).total_seconds()), 0) if beat else None
    return Metrics(
        open=sum(int(g[1]) for g in groups),
        breached=sum(int(g[3]) for g in groups),
        at_risk=sum(int(g[4]) for g in groups),
        unassigned=sum(int(g[2]) for g in groups),
        oldest_wait_s=wait,
        oldest_conversation=oldest,
        within_target_pct=within,
        scheduler_age_s=age,
        scheduler_holder=beat[1] if beat else None,
        breached_by_target={str(g[0]): int(g[3]) for g in sorted(groups, key=_key) if g[3]},
    )


def _key(group: Any) -> str:
    return str(group[0] or "")


def _within_target_today(s: Any, now: datetime, tz: str) -> float | None:
    """Response clocks started since local midnight: met in target / (met + missed), the
    figure the console's header shows (``queue.health``)."""
    local = now.astimezone(ZoneInfo(tz))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    met = and_(SlaClock.state == ClockState.MET.value, SlaClock.stopped_at <= now)
    in_time, missed = s.execute(
        select(
            func.count(SlaClock.id).filter(and_(met, SlaClock.elapsed_s <= SlaClock.target_s)),
            func.count(SlaClock.id).filter(
                or_(
                    and_(met, SlaClock.elapsed_s > SlaClock.target_s),
                    and_(
                        or_(SlaClock.stopped_at.is_(None), SlaClock.stopped_at > now),
                        SlaClock.state != ClockState.STOPPED.value,
                        SlaClock.due_at <= now,
                    ),
                )
            ),
        ).where(
            SlaClock.target.in_(RESPONSE_TARGETS),
            SlaClock.started_at >= start,
            SlaClock.started_at < now,
        )
    ).one()
    total = int(in_time) + int(missed)
    return round(100.0 * int(in_time) / total, 1) if total else None


def evaluate(m: Metrics, t: Thresholds, now: datetime) -> Health:
    checks = (
        ("breached", m.breached, t.warn_breached, t.crit_breached, str),
        ("at risk", m.at_risk, t.warn_at_risk, t.crit_at_risk, str),
        ("oldest waiting", m.oldest_wait_s, t.warn_oldest_wait_s, t.crit_oldest_wait_s, _dur),
        (
            "scheduler heartbeat age",
            m.scheduler_age_s,
            t.warn_scheduler_age_s,
            t.crit_scheduler_age_s,
            _dur,
        ),
    )
    state, reasons = OK, []
    for label, value, warn, crit, fmt in checks:
        if value is None:
            continue
        if crit is not None and value > crit:
            reasons.append(f"CRITICAL: {label} {fmt(value)} > {fmt(crit)}")
            state = CRITICAL
        elif warn is not None and value > warn:
            reasons.append(f"WARNING: {label} {fmt(value)} > {fmt(warn)}")
            if state == OK:
                state = WARNING
    summary = (
        f"{m.open} open, {m.breached} breached, {m.at_risk} at risk, "
        f"oldest waiting {m.oldest_wait_s // 60}m"
    )
    details = [
        *reasons,
        "breached by target: "
        + (", ".join(f"{k} {v}" for k, v in m.breached_by_target.items()) or "none"),
        f"unassigned: {m.unassigned}",
        "oldest waiting: "
        + (
            f"{_dur(m.oldest_wait_s)} (conversation {_safe(m.oldest_conversation)})"
            if m.oldest_conversation
            else "nobody is waiting"
        ),
        "answered within target today: "
        + ("-" if m.within_target_pct is None else f"{m.within_target_pct:g}%"),
        "scheduler: "
        + (
            "no heartbeat recorded"
            if m.scheduler_age_s is None
            else f"last heartbeat {_dur(m.scheduler_age_s)} ago"
            + (f" ({clean(m.scheduler_holder, single_line=True)})" if m.scheduler_holder else "")
        ),
    ]
    return Health(state, summary, m, t, tuple(reasons), tuple(details), now)


def unknown(reason: str, thresholds: Thresholds | None = None) -> Health:
    return Health(UNKNOWN, clean(reason, single_line=True), None, thresholds or Thresholds())


def check(url: str, settings: Settings, now: datetime, thresholds: Thresholds) -> Health:
    """The whole check; any failure is an UNKNOWN with one line, never a traceback."""
    try:
        db = open_for_check(url)
    except Unavailable as exc:
        return unknown(str(exc), thresholds)
    try:
        check_schema(db)
        metrics = measure(Context(db=db, settings=settings, now=lambda: now), now)
    except Unavailable as exc:
        return unknown(str(exc), thresholds)
    except Exception as exc:
        return unknown(f"check failed: {type(exc).__name__}: {_first_line(exc)}", thresholds)
    finally:
        db.dispose()
    return evaluate(metrics, thresholds, now)


def perfdata(h: Health) -> str:
    m, t = h.metrics, h.thresholds
    if m is None:
        return ""

    def item(label: str, value: Any, uom: str = "", warn: Any = None, crit: Any = None,
             maximum: Any = None) -> str:  # fmt: skip
        shown = (
            "U"
            if value is None
            else f"{value:g}{uom}"
            if isinstance(value, float)
            else (f"{value}{uom}")
        )
        if warn is None and crit is None and maximum is None:
            return f"{label}={shown}"
        parts = [shown, _opt(warn), _opt(crit), "0", _opt(maximum)]
        return f"{label}=" + ";".join(parts).rstrip(";")

    return " ".join(
        [
            item("open", m.open),
            item("breached", m.breached, "", t.warn_breached, t.crit_breached),
            item("at_risk", m.at_risk, "", t.warn_at_risk, t.crit_at_risk),
            item("unassigned", m.unassigned),
            item("oldest_wait_s", m.oldest_wait_s, "s", t.warn_oldest_wait_s, t.crit_oldest_wait_s),
            item("within_target_pct", m.within_target_pct, "%", maximum=100),
            item(
                "scheduler_age_s",
                m.scheduler_age_s,
                "s",
                t.warn_scheduler_age_s,
                t.crit_scheduler_age_s,
            ),
        ]
    )


def text(h: Health) -> str:
    """The plugin output: the status line with performance data, then the details."""
    line = f"HELPDESK {h.state} - {h.summary}"
    perf = perfdata(h)
    if perf:
        line += f" | {perf}"
    return "\n".join([line, *h.details])


def as_json(h: Health) -> dict[str, Any]:
    m = h.metrics
    return {
        "status": h.state,
        "exit_code": h.exit_code,
        "summary": h.summary,
        "as_of": None
        if h.as_of is None
        else h.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "open": m.open if m else None,
        "breached": m.breached if m else None,
        "at_risk": m.at_risk if m else None,
        "unassigned": m.unassigned if m else None,
        "oldest_wait_s": m.oldest_wait_s if m else None,
        "oldest_conversation": m.oldest_conversation if m else None,
        "within_target_pct": m.within_target_pct if m else None,
        "scheduler_age_s": m.scheduler_age_s if m else None,
        "breached_by_target": m.breached_by_target if m else {},
        "reasons": list(h.reasons),
        "details": list(h.details),
        "thresholds": asdict(h.thresholds),
    }


def clean(value: str | None, *, single_line: bool = True) -> str:
    """Customer-supplied text made inert for a terminal (imported late: it pulls in Rich)."""
    from widgets.sanitize import clean as _clean

    return _clean(value, single_line=single_line)


def _safe(value: str | None) -> str:
    return clean(value, single_line=True)


def _opt(value: Any) -> str:
    return "" if value is None else str(value)


def _dur(seconds: int) -> str:
    return format_duration(seconds) if seconds >= 60 else f"{seconds}s"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
