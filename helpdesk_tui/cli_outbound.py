"""`helpdesk outbound` (the pull stream, dead letters) and `helpdesk deliver` (webhooks)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading

import click

from helpdesk_tui.cli import Env, cli


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so that the interpreter's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@cli.command("outbound")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new records (Ctrl-C stops).")
@click.option(
    "--consumer",
    metavar="NAME",
    help="Resume from NAME's stored position and advance it after each flushed line.",
)
@click.option("--from-start", is_flag=True, help="Start at the first record (rewinds --consumer).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON Lines (the stream always is; with --dead-letters instead of a table).",
)
@click.option("--dead-letters", is_flag=True, help="List webhook dead letters and exit.")
@click.option("--retry", "retry_id", type=int, metavar="ID", help="Queue dead letter ID again.")
@click.pass_obj
def outbound_command(
    env: Env,
    follow: bool,
    consumer: str | None,
    from_start: bool,
    as_json: bool,
    dead_letters: bool,
    retry_id: int | None,
) -> None:
    """Print what the helpdesk says to marketplace parties as JSON Lines, in commit order.

    Records: public replies, auto-acknowledgements, FAQ suggestions, seller notifications
    and survey requests, each {"id", "type", "conversation", "to", "from", "body",
    "sent_at", "attachments", "position"} (see docs/integration.md). Without --consumer it
    prints everything (with --follow: only what comes next, unless --from-start).
    """
    from helpdesk_tui.services import outbound
    from helpdesk_tui.services.streaming import stop_on_signals

    if dead_letters and retry_id is not None:
        raise click.UsageError("use --dead-letters or --retry, not both")
    ctx = env.context()
    if retry_id is not None:
        letter = outbound.retry_dead_letter(ctx, retry_id)
        click.echo(
            f"dead letter #{letter.id} ({letter.record_id}) queued for the next "
            f"`helpdesk deliver --consumer {letter.consumer}`"
        )
        return
    if dead_letters:
        letters = outbound.dead_letters(ctx.db, consumer)
        if as_json:
            for d in letters:
                click.echo(json.dumps(d.as_json()))
            return
        click.echo(
            f"{'ID':>5} {'CONSUMER':<12} {'STATUS':<9} {'TRIES':>5} {'HTTP':>4}  RECORD / ERROR"
        )
        for d in letters:
            click.echo(
                f"{d.id:>5} {d.consumer[:12]:<12} {d.status:<9} {d.attempts:>5} "
                f"{d.http_status or '-':>4}  {d.record_id}  {d.last_error[:60]}"
            )
        return

    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        report = outbound.stream(
            ctx, write, consumer=consumer, from_start=from_start, follow=follow, stop=stop
        )
    finally:
        restore()
    if report.broken_pipe:
        _silence_stdout()


@cli.command("deliver")
@click.option("--webhook", "url", required=True, metavar="URL", help="Receiver (http or https).")
@click.option(
    "--secret-env",
    required=True,
    metavar="VAR",
    help="Environment variable holding the HMAC secret (never on the command line).",
)
@click.option(
    "--consumer",
    default="webhook",
    show_default=True,
    metavar="NAME",
    help="Name of the stored position.",
)
@click.option("--once", is_flag=True, help="Deliver what is pending, then exit.")
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
    help="Requests in flight.",
)  # fmt: skip
@click.option(
    "--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True,
    help="Seconds per request.",
)  # fmt: skip
@click.option(
    "--max-tries", type=click.IntRange(1, 100), default=3, show_default=True,
    help="Tries before a 4xx answer (other than 408/429) makes a record a dead letter.",
)  # fmt: skip
@click.option(
    "--backoff", type=click.FloatRange(0.001, 60), default=0.5, show_default=True,
    help="First retry delay in seconds; doubles per try (with jitter) up to 30 s.",
)  # fmt: skip
@click.pass_obj
def deliver_command(
    env: Env,
    url: str,
    secret_env: str,
    consumer: str,
    once: bool,
    concurrency: int,
    timeout: float,
    max_tries: int,
    backoff: float,
) -> None:
    """POST each outbound record to a webhook, signed (HMAC-SHA256), at least once.

    Retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff; other
    4xx answers go to the dead letters (`helpdesk outbound --dead-letters`, `--retry ID`).
    """
    from helpdesk_tui.errors import InvalidInput
    from helpdesk_tui.services import webhook
    from helpdesk_tui.services.streaming import stop_on_signals

    secret = os.environ.get(secret_env, "")
    if not secret:
        raise InvalidInput(f"environment variable {secret_env} (the webhook secret) is not set")
    settings = webhook.settings_from(
        url,
        secret,
        concurrency=concurrency,
        timeout=timeout,
        permanent_tries=max_tries,
        backoff_base=backoff,
    )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    ctx = env.context()
    stop = threading.Event()
    restore = stop_on_signals(stop)
    deliverer = webhook.Deliverer(ctx, settings, consumer=consumer, stop=stop)
    try:
        report = deliverer.run(once=once)
    finally:
        deliverer.close()
        restore()
    click.echo(report.line())
    for error in report.errors[:5]:
        click.echo(f"error: {error}", err=True)
    sys.exit(1 if once and report.pending else 0)
