"""The `helpdesk` command: the console and the scriptable commands around it."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from helpdesk_tui import paths

F = TypeVar("F", bound=Callable[..., Any])


class Env:
    """Global options, resolved lazily so that `helpdesk --help` stays instant."""

    def __init__(self, db_url: str | None, agent: str | None, config: Path | None) -> None:
        self.db_url = db_url
        self.agent = agent or os.environ.get("HELPDESK_AGENT") or _login()
        self.config = config
        self._ctx: Any = None

    def settings(self) -> Any:
        from helpdesk_tui.settings import load_settings

        return load_settings(self.config)

    def url(self) -> str:
        return self.db_url or self.settings().database_url or paths.default_database_url()

    def context(self, *, migrate: bool = True, create: bool = False) -> Any:
        """Open the database (creating and migrating the default SQLite file on first use).

        A SQLite file named explicitly (``--db``, ``HELPDESK_DATABASE_URL``, the config) must
        exist unless ``create`` is set (``db upgrade``, ``demo``): a typo in the path is an
        error, not a new empty database.
        """
        if self._ctx is None:
            from db.engine import open_database
            from helpdesk_tui.services.context import Context

            settings = self.settings()
            explicit = self.db_url or settings.database_url
            url = explicit or paths.default_database_url()
            if explicit and not create:
                _require_sqlite_file(url)
            _ensure_sqlite_dir(url)
            db = open_database(url)
            _check_reachable(db)
            self._ctx = Context(db=db, settings=settings)
            if migrate:
                _ensure_schema(self._ctx)
        return self._ctx


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "agent"


def _require_sqlite_file(url: str) -> None:
    from db.engine import sqlite_path
    from helpdesk_tui.errors import HelpdeskError

    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise HelpdeskError(
            f"database file {path} does not exist: check the path, or create it with "
            f"`helpdesk --db {url} db upgrade`"
        )


def _ensure_sqlite_dir(url: str) -> None:
    from db.engine import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def _check_reachable(db: Any) -> None:
    from sqlalchemy.exc import DBAPIError

    from db.engine import DatabaseUnavailable, redact

    try:
        with db.engine.connect():
            pass
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()
        raise DatabaseUnavailable(
            f"cannot reach database {redact(db.url)}: {reason[0] if reason else 'unknown error'}"
        ) from None


def _ensure_schema(ctx: Any) -> None:
    from db import migrate
    from helpdesk_tui.errors import HelpdeskError

    if migrate.is_current(ctx.db):
        return
    if ctx.db.is_sqlite:
        migrate.upgrade(ctx.db)
        return
    current = migrate.current_revision(ctx.db)
    raise HelpdeskError(
        f"database schema is at {current or 'nothing'}, this version needs "
        f"{migrate.head_revision()}: run `helpdesk db upgrade`"
    )


def _parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not ISO 8601, e.g. 2026-03-02T09:15:00+02:00"
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; add one, e.g. +02:00 or Z")
    return parsed.astimezone(UTC)


as_of_option = click.option(
    "--as-of", "as_of", metavar="ISO8601", help="Evaluate deadlines at this instant (default: now)."
)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar="HELPDESK_DATABASE_URL",
    metavar="URL",
    help="Database URL (sqlite:///path or postgresql+psycopg://...). "
    "Env: HELPDESK_DATABASE_URL. Default: a SQLite file in the user data dir.",
)
@click.option("--agent", metavar="USERNAME", help="Act as this agent (default: your login name).")
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    envvar="HELPDESK_CONFIG",
    help="TOML config file (default: the user config dir).",
)
@click.version_option(package_name="helpdesk-tui")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, agent: str | None, config: Path | None) -> None:
    """helpdesk-tui: a terminal-first helpdesk for a classifieds marketplace.

    Run without a command to open the console.
    """
    ctx.obj = Env(db_url, agent, config)
    if ctx.invoked_subcommand is None:
        from helpdesk_tui.console import run_console

        run_console(ctx.obj)


@cli.command()
@click.pass_obj
def info(env: Env) -> None:
    """Print the paths and the database in use."""
    from db.engine import redact

    click.echo(f"database     {redact(env.url())}")
    click.echo(f"config       {env.config or paths.config_file()}")
    click.echo(f"data dir     {paths.data_dir()}")
    click.echo(f"attachments  {env.settings().attachment_dir}")
    click.echo(f"agent        {env.agent}")


# -- db ---------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Schema management."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(env: Env) -> None:
    """Create or upgrade the schema to the newest version."""
    from db import migrate
    from db.engine import redact

    ctx = env.context(migrate=False, create=True)
    before = migrate.current_revision(ctx.db)
    migrate.upgrade(ctx.db)
    after = migrate.current_revision(ctx.db)
    where = redact(ctx.db.url)
    if before == after:
        click.echo(f"{where}: schema already at {after}")
    else:
        click.echo(f"{where}: schema upgraded {before or 'empty'} -> {after}")


@db.command("current")
@click.pass_obj
def db_current(env: Env) -> None:
    """Print the schema revision of the database and of this version."""
    from db import migrate

    ctx = env.context(migrate=False)
    click.echo(
        f"database {migrate.current_revision(ctx.db) or 'empty'}, code {migrate.head_revision()}"
    )


# -- intake -----------------------------------------------------------------------------------
@cli.command()
@click.argument("source", metavar="FILE|-")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write rejected lines verbatim to this file, for re-submission.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def ingest(env: Env, source: str, rejects: Path | None, as_json: bool) -> None:
    """Load marketplace records (JSON Lines) from FILE, or from stdin with '-'."""
    from helpdesk_tui.services.intake import Intake

    if source != "-" and not Path(source).is_file():
        raise click.BadParameter(f"no such file: {source}", param_hint="FILE")
    ctx = env.context()
    reject_file = rejects.open("wb") if rejects else None

    def on_reject(line: int, raw: bytes, reason: str) -> None:
        click.echo(f"line {line}: {reason}", err=True)
        if reject_file is not None:
            reject_file.write(raw.rstrip(b"\r\n") + b"\n")
            reject_file.flush()

    if source == "-":
        # Streaming: commits as lines arrive; SIGINT/SIGTERM commit what was read and stop.
        # The summary goes to stderr; stdout carries --json progress events (one per commit,
        # then a summary event), or else the summary line too (unless both are a terminal).
        import threading

        from helpdesk_tui.services.streaming import StreamingIntake, stop_on_signals

        def on_batch(event: dict[str, Any]) -> None:
            click.echo(json.dumps(event))
            sys.stdout.flush()

        stop = threading.Event()
        restore = stop_on_signals(stop)
        try:
            summary = StreamingIntake(ctx, on_reject, on_batch if as_json else None).run(
                sys.stdin.fileno(), stop
            )
        finally:
            restore()
            if reject_file is not None:
                reject_file.close()
        click.echo(summary.line(), err=True)
        if as_json:
            click.echo(json.dumps({"event": "summary", **summary.as_dict()}))
        elif not (sys.stdout.isatty() and sys.stderr.isatty()):
            click.echo(summary.line())
        sys.exit(1 if summary.rejected else 0)
    intake = Intake(ctx, on_reject)
    try:
        with open(source, "rb") as fh:
            summary = intake.run(fh)
    finally:
        if reject_file is not None:
            reject_file.close()
    click.echo(json.dumps(summary.as_dict()) if as_json else summary.line())
    sys.exit(1 if summary.rejected else 0)


# -- queue ------------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (documented keys).")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--team", metavar="TEAM")
@click.option("--assignee", metavar="USERNAME")
@click.option("--unassigned", is_flag=True)
@click.option("--kind", type=click.Choice(["user_admin", "buyer_seller", "issue_report", "flag"]))
@click.option("--breached", is_flag=True, help="Only conversations past their deadline.")
@click.option(
    "--at-risk", is_flag=True, help="Only conversations in the last share of their target."
)
@as_of_option
@click.pass_obj
def queue(
    env: Env,
    as_json: bool,
    limit: int,
    team: str | None,
    assignee: str | None,
    unassigned: bool,
    kind: str | None,
    breached: bool,
    at_risk: bool,
    as_of: str | None,
) -> None:
    """Print the open queue in SLA order (earliest deadline first)."""
    from helpdesk_tui.queue_text import table_text
    from helpdesk_tui.services import queue as q

    if assignee and unassigned:
        raise click.UsageError("use --assignee or --unassigned, not both")
    if breached and at_risk:
        raise click.UsageError("use --breached or --at-risk, not both")
    ctx = env.context()
    now = _parse_as_of(as_of) or ctx.now()
    f = q.QueueFilter(
        team=team,
        assignee=assignee,
        unassigned=unassigned,
        kind=kind,
        breached=breached,
        at_risk=at_risk,
    )
    result = q.page(ctx, f, as_of=now, limit=limit)
    if as_json:
        click.echo(json.dumps([q.as_json(r, now) for r in result.rows], indent=1))
        return
    click.echo(table_text(result, now))


# -- agents and teams ---------------------------------------------------------------------------
@cli.group()
def agents() -> None:
    """Manage agents (admins only, once an admin exists)."""


@agents.command("add")
@click.argument("username")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--role", type=click.Choice(["agent", "lead", "admin"]), default="agent", show_default=True
)
@click.option("--team", metavar="TEAM", help="Team name (create it with `helpdesk teams add`).")
@click.option("--email", metavar="ADDRESS", help="Where escalations and at-risk alerts go.")
@click.pass_obj
def agents_add(
    env: Env, username: str, name: str, role: str, team: str | None, email: str | None
) -> None:
    """Add an agent."""
    from helpdesk_tui.services import agents as svc

    svc.add_agent(env.context(), env.agent, username, name, role, team, email=email)
    click.echo(f"added {role} {username}" + (f" to team {team}" if team else ""))


@agents.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def agents_list(env: Env, as_json: bool) -> None:
    """List agents."""
    from helpdesk_tui.services import agents as svc

    rows = svc.list_agents(env.context())
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=1))
        return
    click.echo(f"{'USERNAME':<16} {'NAME':<24} {'ROLE':<6} {'TEAM':<14} ACTIVE")
    for r in rows:
        click.echo(
            f"{r.username[:16]:<16} {r.display_name[:24]:<24} {r.role:<6} "
            f"{(r.team or '-')[:14]:<14} {'yes' if r.active else 'no'}"
        )


@agents.command("deactivate")
@click.argument("username")
@click.pass_obj
def agents_deactivate(env: Env, username: str) -> None:
    """Deactivate an agent (they can no longer act)."""
    from helpdesk_tui.services import agents as svc

    svc.set_agent(env.context(), env.agent, username, active=False)
    click.echo(f"deactivated {username}")


@agents.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["agent", "lead", "admin"]))
@click.pass_obj
def agents_set_role(env: Env, username: str, role: str) -> None:
    """Change an agent's role (takes effect at their next action)."""
    from helpdesk_tui.services import agents as svc

    svc.set_agent(env.context(), env.agent, username, role=role)
    click.echo(f"{username} is now {role}")


@cli.group()
def teams() -> None:
    """Manage teams."""


@teams.command("add")
@click.argument("name")
@click.option("--description", default="")
@click.option("--calendar", default="default", show_default=True, help="Business calendar name.")
@click.pass_obj
def teams_add(env: Env, name: str, description: str, calendar: str) -> None:
    """Add a team."""
    from helpdesk_tui.services import agents as svc

    svc.add_team(env.context(), env.agent, name, description, calendar)
    click.echo(f"added team {name}")


@teams.command("list")
@click.pass_obj
def teams_list(env: Env) -> None:
    """List teams."""
    from helpdesk_tui.services import agents as svc

    click.echo(f"{'TEAM':<16} {'CALENDAR':<12} {'AGENTS':>6}  DESCRIPTION")
    for t in svc.list_teams(env.context()):
        click.echo(f"{t.name[:16]:<16} {t.calendar[:12]:<12} {t.agents:>6}  {t.description[:40]}")


# -- flags --------------------------------------------------------------------------------------
@cli.group()
def flags() -> None:
    """Moderation cases: flagged messages, listings and parties."""


@flags.command("list")
@click.option("--all", "show_all", is_flag=True, help="Decided flags too.")
@click.pass_obj
def flags_list(env: Env, show_all: bool) -> None:
    """Flags waiting for a decision, oldest first."""
    from helpdesk_tui.services import moderation
    from widgets.sanitize import clean

    rows = moderation.list_flags(env.context(), pending_only=not show_all)
    click.echo(f"{'FLAG':<14} {'TARGET':<8} {'FLAGGED (UTC)':<17} {'DECISION':<10} REASON")
    for r in rows:
        when = r.flagged_at.strftime("%Y-%m-%d %H:%M")
        flag, reason = clean(r.flag, single_line=True), clean(r.reason, single_line=True)
        decision = r.state
        click.echo(f"{flag[:14]:<14} {r.target:<8} {when:<17} {decision:<10} {reason[:30]}")
    click.echo(f"{len(rows)} flag(s)")


@flags.command("decide")
@click.argument("flag")
@click.argument("decision", type=click.Choice(["removed", "warned", "suspended", "dismissed"]))
@click.option("--note", default="", help="Why (kept in the case as an internal note).")
@click.pass_obj
def flags_decide(env: Env, flag: str, decision: str, note: str) -> None:
    """Decide FLAG (flag id or moderation case id) and resolve its case."""
    from helpdesk_tui.services import moderation

    ctx = env.context()
    done = moderation.decide(ctx, env.agent, moderation.case_id(ctx, flag), decision, note)
    extra = f"; suspended {done.suspended}" if done.suspended else ""
    click.echo(f"{flag}: {decision} ({done.flags} flag(s)){extra}")


# -- sla ----------------------------------------------------------------------------------------
@cli.group()
def sla() -> None:
    """Explain and recompute SLA clocks."""


@sla.command("explain")
@click.argument("conversation")
@as_of_option
@click.pass_obj
def sla_explain(env: Env, conversation: str, as_of: str | None) -> None:
    """Show why each clock of CONVERSATION (external id) stands where it does."""
    from helpdesk_tui.services import explain

    ctx = env.context()
    click.echo(explain.explain_text(ctx, conversation, _parse_as_of(as_of) or ctx.now()))


@sla.command("recompute")
@click.pass_obj
def sla_recompute(env: Env) -> None:
    """Recompute the clocks of every open conversation (after a policy or calendar change)."""
    from helpdesk_tui.services import explain

    n = explain.recompute_open(env.context())
    click.echo(f"recomputed {n} open conversations")


# -- demo -----------------------------------------------------------------------------------------
@cli.command()
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same marketplace.")
@click.option("--no-console", is_flag=True, help="Build the demo database and exit.")
@click.option("--fresh", is_flag=True, help="Rebuild even if the demo database exists.")
@click.pass_obj
def demo(env: Env, seed: int, no_console: bool, fresh: bool) -> None:
    """Build a realistic demo marketplace and open the console on it."""
    from helpdesk_tui import demo as demo_mod

    if env.db_url is None:
        env.db_url = f"sqlite:///{paths.data_dir() / 'demo.sqlite3'}"
        path = paths.data_dir() / "demo.sqlite3"
        if fresh and path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    ctx = env.context(create=True)
    built = demo_mod.build_if_empty(ctx, seed=seed)
    from db.engine import redact

    click.echo(
        ("built demo marketplace in " if built else "demo marketplace already in ")
        + redact(ctx.db.url),
        err=True,
    )
    if not no_console:
        env.agent = demo_mod.DEMO_AGENT
        from helpdesk_tui.console import run_console
        from helpdesk_tui.demo_sim import start_simulation

        # Simulated customers read the agents' replies and sometimes answer or rate them.
        stop_sim = start_simulation(ctx, seed=seed)
        try:
            run_console(env)
        finally:
            stop_sim()


def main() -> None:
    """Entry point: one clear line on stderr and a non-zero exit instead of a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        sys.exit(_report(exc))


def _report(exc: BaseException) -> int:
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from db.engine import DatabaseUnavailable
    from helpdesk_tui.errors import HelpdeskError
    from helpdesk_tui.settings import ConfigError

    if isinstance(exc, HelpdeskError):
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, ConfigError | DatabaseUnavailable):
        click.echo(f"error: {exc}", err=True)
        return 1
    if isinstance(exc, DBAPIError):
        lines = str(exc.orig or exc).strip().splitlines()
        click.echo(f"error: database: {lines[0] if lines else type(exc).__name__}", err=True)
        return 1
    if isinstance(exc, SQLAlchemyError | OSError):
        click.echo(
            f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", err=True
        )
        return 1
    if os.environ.get("HELPDESK_DEBUG"):
        raise exc
    click.echo(
        f"error: unexpected {type(exc).__name__}: {exc} (set HELPDESK_DEBUG=1 for details)",
        err=True,
    )
    return 70


def _register_extensions() -> None:
    """Command groups that live in their own modules (reports/health, scheduler)."""
    import importlib

    for name in (
        "helpdesk_tui.cli_reports",
        "helpdesk_tui.cli_scheduler",
        "helpdesk_tui.cli_outbound",
    ):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


_register_extensions()
