"""`helpdesk report ...` and `helpdesk health` (registered on import by helpdesk_tui.cli)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from helpdesk_tui.cli import Env, _parse_as_of, as_of_option, cli

F = TypeVar("F", bound=Callable[..., Any])


def _report_options(fn: F) -> F:
    for option in reversed(
        (
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["table", "json", "csv", "md"]),
                default="table",
                show_default=True,
            ),
            click.option("--team", metavar="TEAM", help="Only this team's conversations."),
            as_of_option,
            click.option(
                "--tz",
                metavar="ZONE",
                help="Time zone the period is cut in (default: [reports] timezone, "
                "Africa/Johannesburg).",
            ),
        )
    ):
        fn = option(fn)
    return fn


def _run_report(env: Env, period_fn: Any, value: str, fmt: str, team: str | None,
                as_of: str | None, tz: str | None) -> None:  # fmt: skip
    from helpdesk_tui.services import reports, reports_format

    period = period_fn(value, tz or env.settings().reporting_tz)
    when = _parse_as_of(as_of)
    ctx = env.context()
    data = reports.build(ctx, period, as_of=when or ctx.now(), team=team)
    click.echo(reports_format.render(data, fmt), nl=False)


@cli.group()
def report() -> None:
    """Reports: the SCMR-5 month, the weekly check-in, the quarter, a conversation export."""


@report.command("scmr5")
@click.option("--month", required=True, metavar="YYYY-MM")
@_report_options
@click.pass_obj
def report_scmr5(env: Env, month: str, fmt: str, team: str | None, as_of: str | None,
                 tz: str | None) -> None:  # fmt: skip
    """The SCMR-5 monthly report for a calendar month."""
    from helpdesk_tui.services import reports_period

    _run_report(env, reports_period.month, month, fmt, team, as_of, tz)


@report.command("weekly")
@click.option("--week", required=True, metavar="YYYY-Www")
@_report_options
@click.pass_obj
def report_weekly(env: Env, week: str, fmt: str, team: str | None, as_of: str | None,
                  tz: str | None) -> None:  # fmt: skip
    """The weekly check-in for an ISO week (Monday to Sunday)."""
    from helpdesk_tui.services import reports_period

    _run_report(env, reports_period.week, week, fmt, team, as_of, tz)


@report.command("quarter")
@click.option("--quarter", required=True, metavar="YYYY-Qn")
@_report_options
@click.pass_obj
def report_quarter(env: Env, quarter: str, fmt: str, team: str | None, as_of: str | None,
                   tz: str | None) -> None:  # fmt: skip
    """The quarterly report (average response compared with the 3 h quarterly target)."""
    from helpdesk_tui.services import reports_period

    _run_report(env, reports_period.quarter, quarter, fmt, team, as_of, tz)


@report.command("conversations")
@click.option("--from", "first", required=True, metavar="DATE", help="First day (YYYY-MM-DD).")
@click.option("--to", "last", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option("--team", metavar="TEAM")
@as_of_option
@click.option("--tz", metavar="ZONE", help="Time zone the days are cut in.")
@click.pass_obj
def report_conversations(env: Env, first: str, last: str, fmt: str, team: str | None,
                         as_of: str | None, tz: str | None) -> None:  # fmt: skip
    """One row per conversation started in [--from, --to] (whole local days)."""
    from helpdesk_tui.services import reports_export, reports_format, reports_period

    period = reports_period.date_range(first, last, tz or env.settings().reporting_tz)
    reports_export.check_range(period)
    when = _parse_as_of(as_of)
    ctx = env.context()
    rows = reports_export.conversations(ctx, period, as_of=when or ctx.now(), team=team)
    if fmt == "json":
        click.echo(reports_format.to_json(rows))
    else:
        click.echo(reports_format.rows_csv(reports_export.COLUMNS, rows), nl=False)


# -- health -------------------------------------------------------------------------------------
class _PluginCommand(click.Command):
    """Usage errors exit 3 (UNKNOWN), as monitoring plugins must."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = 3  # type: ignore[misc]
            raise


def _threshold(name: str, default: int, what: str) -> Callable[[F], F]:
    return click.option(
        name,
        type=click.IntRange(min=0),
        default=None,
        help=f"Alert when {what} is above this [default: [health] "
        f"{name[2:].replace('-', '_')} in the config, else {default}].",
    )


@cli.command(cls=_PluginCommand)
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON.")
@_threshold("--warn-breached", 0, "the number of breached conversations")
@_threshold("--crit-breached", 10, "the number of breached conversations")
@_threshold("--warn-at-risk", 10, "the number of conversations at risk")
@_threshold("--crit-at-risk", 50, "the number of conversations at risk")
@_threshold("--warn-oldest-wait", 4 * 3600, "the oldest wait (seconds)")
@_threshold("--crit-oldest-wait", 24 * 3600, "the oldest wait (seconds)")
@_threshold("--warn-scheduler-age", 300, "the scheduler heartbeat's age (seconds)")
@_threshold("--crit-scheduler-age", 900, "the scheduler heartbeat's age (seconds)")
@as_of_option
@click.pass_obj
def health(env: Env, /, as_json: bool, as_of: str | None, **flags: int | None) -> None:
    """Queue health in the Nagios plugin format; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

    Thresholds: a flag, else the config's ``[health]`` table, else the default.
    Read-only: it never creates, migrates or writes the database.
    """
    from dataclasses import replace

    from db.base import utcnow
    from helpdesk_tui.services import health as svc
    from helpdesk_tui.settings import HEALTH_KEYS

    thresholds = svc.Thresholds()
    try:
        now = _parse_as_of(as_of) or utcnow()
        settings = env.settings()
        given = {HEALTH_KEYS[k][0]: v for k, v in flags.items() if v is not None}
        thresholds = replace(thresholds, **{**settings.health, **given})
        url = env.db_url or settings.database_url or _default_url()
        result = svc.check(url, settings, now, thresholds)
    except Exception as exc:  # bad --as-of, unreadable or wrong config: still one plugin line
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        result = svc.unknown(message.splitlines()[0] if message else type(exc).__name__)
    if as_json:
        click.echo(json.dumps(svc.as_json(result), indent=1, ensure_ascii=True))
    else:
        click.echo(svc.text(result))
    sys.exit(result.exit_code)


def _default_url() -> str:
    from helpdesk_tui import paths

    return paths.default_database_url()
