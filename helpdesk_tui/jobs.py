"""The scheduler's jobs and their APScheduler wiring (a server process or inside the console).

Entry points
------------
``helpdesk scheduler`` (see cli_scheduler.py) and tests::

    jobs = SchedulerJobs(ctx, load_scheduler_settings(path))
    for report in jobs.run_all():          # every job once (``--once``)
        print(report.text())
    blocking_scheduler(jobs).start()       # until SIGINT/SIGTERM

The console (Textual, inside its running event loop, e.g. in ``on_mount``)::

    self.jobs = start_in_console(ctx, on_report=lambda r: self.post_message(JobDone(r)))
    ...
    self.jobs.shutdown()                   # on unmount/exit

``start_in_console`` uses an ``AsyncIOScheduler`` whose jobs await ``asyncio.to_thread``: the
database work runs in a worker thread and never blocks the event loop; ``on_report`` is
called in the event loop (post a Textual message from it; never touch widgets from a job).

Jobs (grouped so that dependent jobs run in order; each group is one APScheduler job with
``max_instances=1, coalesce=True`` so it never overlaps itself):

- ``sweep`` group every ``sweep_interval`` (30 s): ``heartbeat``, ``sweep`` (breaches,
  escalations), ``alerts`` (at-risk);
- ``new`` group every ``new_interval`` (10 s): ``triage``, ``autoack``, ``inquiries``;
- ``notify`` group every ``notify_interval`` (15 s): ``notify`` (outbox -> SMTP);
- ``deliver`` group every ``deliver_interval`` (5 s): ``deliver`` (outbound stream -> the
  webhook in ``[scheduler] webhook_url``, when configured).

Every job writes, so only the leader (see leader.py) runs them; the others report
"standby". The lock is not the guarantee: each effect is fenced in the database, so catch-up
after downtime comes from database state, never from replaying missed runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from db.models import SchedulerState
from helpdesk_tui.leader import AlwaysLeader, Leader, holder_name, leader_for
from helpdesk_tui.scheduler_settings import SchedulerSettings
from helpdesk_tui.services import autoack, notify, sweep, triage
from helpdesk_tui.services.context import Context
from helpdesk_tui.services.notify import table

log = logging.getLogger(__name__)

JOB_NAMES = (
    "heartbeat", "triage", "autoack", "inquiries", "sweep", "alerts", "notify", "deliver",
)  # fmt: skip
GROUPS: dict[str, tuple[str, ...]] = {
    "sweep": ("heartbeat", "sweep", "alerts"),
    "new": ("triage", "autoack", "inquiries"),
    "notify": ("notify",),
    "deliver": ("deliver",),
}
HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class JobReport:
    """The outcome of one job run, as one line."""

    job: str
    line: str
    ok: bool = True
    skipped: bool = False
    seconds: float = 0.0

    def text(self) -> str:
        return f"{self.job}: {self.line}"


class SchedulerJobs:
    """The jobs bound to one context; each run returns a JobReport and never raises."""

    def __init__(
        self,
        ctx: Context,
        cfg: SchedulerSettings | None = None,
        *,
        leader: Leader | None = None,
        ignore_leader: bool = False,
        now: Callable[[], datetime] | None = None,
        holder: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.cfg = cfg or SchedulerSettings()
        self.leader = AlwaysLeader() if ignore_leader else (leader or leader_for(ctx.db))
        self.now = now or ctx.now
        self.holder = holder or holder_name()
        self._was_leader: bool | None = None

    # -- leadership ------------------------------------------------------------------------
    def is_leader(self) -> bool:
        leading = self.leader.ensure()
        if leading != self._was_leader:
            log.info("scheduler %s is %s", self.holder, "the leader" if leading else "standby")
            self._was_leader = leading
        return leading

    def close(self) -> None:
        self.leader.release()

    # -- running ---------------------------------------------------------------------------
    def run(self, name: str) -> JobReport:
        """Run one job now (if this process leads)."""
        if name not in JOB_NAMES:
            raise ValueError(f"unknown job {name!r}")
        if not self.is_leader():
            return JobReport(name, "skipped: standby (another scheduler is the leader)",
                             skipped=True)  # fmt: skip
        started = time.monotonic()
        now = self.now()
        try:
            line = getattr(self, f"_job_{name}")(now)
        except Exception as exc:
            log.exception("job %s failed", name)
            text = str(exc).strip().splitlines()
            return JobReport(name, f"error: {type(exc).__name__}: {text[0] if text else ''}",
                             ok=False, seconds=time.monotonic() - started)  # fmt: skip
        report = JobReport(name, line, seconds=time.monotonic() - started)
        if name != HEARTBEAT:
            self._record(f"job:{name}", wall_clock(), line)
        return report

    def run_group(self, names: tuple[str, ...]) -> list[JobReport]:
        return [self.run(n) for n in names]

    def run_all(self) -> list[JobReport]:
        """Every job once, in dependency order (``helpdesk scheduler --once``)."""
        return [self.run(n) for n in JOB_NAMES]

    def _record(self, name: str, now: datetime, value: str) -> None:
        try:
            self.ctx.db.write(lambda s: upsert_state(s, name, self.holder, now, value))
        except Exception as exc:  # bookkeeping only
            log.warning("could not record %s: %s", name, exc)

    # -- the jobs --------------------------------------------------------------------------
    def _job_heartbeat(self, now: datetime) -> str:
        # liveness is about the real clock, also under --as-of
        value = f"interval={self.cfg.sweep_interval_s}s"
        beat = wall_clock()
        self.ctx.db.write(lambda s: upsert_state(s, HEARTBEAT, self.holder, beat, value))
        return f"beat as {self.holder}"

    def _job_triage(self, now: datetime) -> str:
        return triage.run(self.ctx, self.cfg, now).line()

    def _job_autoack(self, now: datetime) -> str:
        return autoack.run(self.ctx, self.cfg, now).line()

    def _job_inquiries(self, now: datetime) -> str:
        return notify.notify_new_inquiries(self.ctx, self.cfg, now).line()

    def _job_sweep(self, now: datetime) -> str:
        return sweep.run(self.ctx, self.cfg, now).line()

    def _job_alerts(self, now: datetime) -> str:
        return sweep.alert_at_risk(self.ctx, self.cfg, now).line()

    def _job_notify(self, now: datetime) -> str:
        return notify.send_pending(
            self.ctx, self.cfg.smtp, now, sender_name=self.cfg.sender_name
        ).line()

    def _job_deliver(self, now: datetime) -> str:
        """Push the outbound stream to the configured webhook (``helpdesk deliver --once``)."""
        import os

        from helpdesk_tui.services import webhook

        if not self.cfg.webhook_url:
            return "skipped: no [scheduler] webhook_url configured"
        secret = os.environ.get(self.cfg.webhook_secret_env, "")
        if not secret:
            raise ValueError(f"environment variable {self.cfg.webhook_secret_env} is not set")
        settings = webhook.settings_from(self.cfg.webhook_url, secret)
        deliverer = webhook.Deliverer(self.ctx, settings, consumer=self.cfg.webhook_consumer)
        try:
            return deliverer.run(once=True).line()
        finally:
            deliverer.close()


def wall_clock() -> datetime:
    return datetime.now(UTC)


def upsert_state(s: Session, name: str, holder: str, now: datetime, value: str) -> None:
    """Insert or update one SchedulerState row."""
    state = table(SchedulerState)
    values = {"name": name, "holder": holder[:200], "beat_at": now, "value": value[:200]}
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(state)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(state)
    stmt = stmt.values(**values)
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": stmt.excluded.holder, "beat_at": stmt.excluded.beat_at,
                  "value": stmt.excluded.value},
        )
    )  # fmt: skip


def _intervals(cfg: SchedulerSettings) -> dict[str, int]:
    return {
        "sweep": cfg.sweep_interval_s,
        "new": cfg.new_interval_s,
        "notify": cfg.notify_interval_s,
        "deliver": cfg.deliver_interval_s,
    }


OnReport = Callable[[JobReport], Any]


def blocking_scheduler(jobs: SchedulerJobs, on_report: OnReport | None = None) -> Any:
    """A BlockingScheduler running the job groups at their intervals, first run at once."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    intervals = _intervals(jobs.cfg)
    for group, names in GROUPS.items():

        def run_group(names: tuple[str, ...] = names) -> None:
            for report in jobs.run_group(names):
                if on_report is not None:
                    on_report(report)

        scheduler.add_job(
            run_group,
            "interval",
            seconds=intervals[group],
            id=group,
            name=group,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=intervals[group],
            next_run_time=datetime.now().astimezone(),
        )
    return scheduler


class ConsoleScheduler:
    """The jobs inside the console's event loop (an AsyncIOScheduler); ``shutdown()`` at exit."""

    def __init__(self, jobs: SchedulerJobs, on_report: OnReport | None = None) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.jobs = jobs
        self.on_report = on_report
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        intervals = _intervals(jobs.cfg)
        for group, names in GROUPS.items():

            async def run_group(names: tuple[str, ...] = names) -> None:
                reports = await asyncio.to_thread(jobs.run_group, names)
                if self.on_report is not None:
                    for report in reports:
                        self.on_report(report)

            self.scheduler.add_job(
                run_group,
                "interval",
                seconds=intervals[group],
                id=group,
                name=group,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=intervals[group],
                next_run_time=datetime.now().astimezone(),
            )

    def start(self) -> None:
        self.scheduler.start()

    @property
    def is_leader(self) -> bool:
        return self.jobs.leader.is_leader

    def shutdown(self) -> None:
        try:
            self.scheduler.shutdown(wait=False)
        finally:
            self.jobs.close()


def start_in_console(
    ctx: Context,
    *,
    on_report: OnReport | None = None,
    cfg: SchedulerSettings | None = None,
) -> ConsoleScheduler:
    """Start the jobs in the running event loop (call from the Textual app, e.g. on_mount)."""
    if cfg is None:
        from helpdesk_tui.scheduler_settings import load_scheduler_settings

        cfg = load_scheduler_settings()
    console = ConsoleScheduler(SchedulerJobs(ctx, cfg), on_report)
    console.start()
    return console


__all__ = [
    "GROUPS",
    "JOB_NAMES",
    "ConsoleScheduler",
    "JobReport",
    "SchedulerJobs",
    "blocking_scheduler",
    "start_in_console",
    "upsert_state",
]
