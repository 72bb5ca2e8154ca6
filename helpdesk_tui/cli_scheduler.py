"""`helpdesk scheduler [--once] [--as-of ISO8601]`: the jobs without a console open."""

from __future__ import annotations

import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import click

from helpdesk_tui.cli import Env, _parse_as_of, as_of_option, cli


@cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once, print a line per job, exit.")
@as_of_option
@click.option(
    "--ignore-leader",
    is_flag=True,
    hidden=True,
    help="Run the jobs even when another scheduler leads (diagnostics and tests: every "
    "effect is fenced in the database, so this is safe, only wasteful).",
)
@click.pass_obj
def scheduler(env: Env, once: bool, as_of: str | None, ignore_leader: bool) -> None:
    """Run the scheduler: SLA sweep and escalations, at-risk alerts, triage,
    auto-acknowledgements, notifications and the heartbeat.

    Only one scheduler (the leader) acts at a time; start as many as you like.
    """
    from helpdesk_tui import paths
    from helpdesk_tui.jobs import SchedulerJobs, blocking_scheduler
    from helpdesk_tui.scheduler_settings import load_scheduler_settings

    when = _parse_as_of(as_of)
    if when is not None and not once:
        raise click.UsageError("--as-of only makes sense with --once")
    cfg = load_scheduler_settings(env.config or paths.config_file())
    ctx = env.context()
    now = (lambda: when) if when is not None else None
    jobs = SchedulerJobs(ctx, cfg, ignore_leader=ignore_leader, now=now)
    if once:
        failed = False
        try:
            if not jobs.is_leader():
                click.echo("leader: standby (another scheduler holds the lock): jobs skipped")
            for report in jobs.run_all():
                click.echo(report.text())
                failed = failed or not report.ok
        finally:
            jobs.close()
        sys.exit(1 if failed else 0)

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    quiet_prefixes = ("skipped: standby", "sent 0, retry later 0, dead 0")

    def on_report(report: Any) -> None:
        if report.ok and (report.skipped or _idle(report.line, quiet_prefixes)):
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{stamp} {report.text()}")

    sched = blocking_scheduler(jobs, on_report)

    def stop(signum: int, _frame: Any) -> None:
        click.echo(f"scheduler {jobs.holder}: stopping ({signal.Signals(signum).name})", err=True)
        sched.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(
        f"scheduler {jobs.holder}: {'leader' if jobs.is_leader() else 'standby'}; "
        f"sweep every {cfg.sweep_interval_s}s, new conversations every {cfg.new_interval_s}s, "
        f"e-mail every {cfg.notify_interval_s}s",
        err=True,
    )
    try:
        sched.start()
    finally:
        jobs.close()


def _idle(line: str, quiet: tuple[str, ...]) -> bool:
    """Nothing happened: keep the log of a long-running scheduler quiet."""
    if line.startswith(quiet):
        return True
    digits = [c for c in line if c.isdigit()]
    return line.startswith(("beat as", "no [[triage", "auto-acknowledgement switched")) or (
        bool(digits) and set(digits) == {"0"}
    )
