"""SLA sweep benchmark: `python -m bench.sweep_bench` (prints JSON).

Issue #5's target: one SLA sweep (``helpdesk_tui.services.sweep.run``, the job the scheduler
runs every 30 s: breach marking plus the escalations that follow) over 100,000 open
conversations with 1,000 newly breached, under 200 ms on PostgreSQL.

The data, built once per backend through the real intake (listings, then one or two messages
per conversation), as seen at the sweep instant ``NOW`` (the previous sweep ran at
``PREV = NOW - 30 s``):

- ``--breach`` conversations (1,000) whose only running clock falls due in ``(PREV, NOW]``:
  user_admin / issue_report answered once by an agent (their resolution clock, 24 h, runs),
  and buyer_seller threads the seller never answered (seller_reply, 4 h). At ``NOW`` each is
  newly breached and escalated to level 1 (support: ``sla_breached`` to the support lead, an
  e-mail, an audit event; buyer_seller: ``seller_unresponsive``, routed to support, the seller
  notified by an outbound record and an e-mail). So 1,000 conversations = 1,000 clocks.
- ``--backlog`` conversations (2,000) that breached 1-10 h before ``PREV`` and were escalated
  to level 1 by the previous sweep (none reaches level 2 at ``NOW``): the sweep must skip them.
- the rest, up to ``--conversations`` (100,000) open in total, with running clocks due after
  ``NOW``.

After the build the previous sweep runs at ``PREV`` (escalating the backlog) and, on
PostgreSQL, ``VACUUM ANALYZE`` (what autovacuum does soon after a bulk load). That state is
kept as a template (PostgreSQL ``CREATE DATABASE ... TEMPLATE``, a SQLite file copy); each
repetition measures a fresh copy:

1. ``idle_sweep_ms``: a sweep at ``PREV + 1 s`` (nothing to do; warms the connection pool);
2. ``sweep_ms``: the timed sweep at ``NOW``; its report must say ``breached == --breach``,
   ``level 1 == --breach``, ``level 2 == 0``, nothing failed (checked, else the run fails);
3. ``after_sweep_ms``: a sweep at ``NOW + 1 s``, which must find nothing more.

Before each repetition the copy's writes are flushed to disk and PostgreSQL checkpoints
(``settle``): without it the timed sweep's commits queue behind gigabytes of copy writes, and
the figure says more about the copy than the sweep.

``--template NAME`` (PostgreSQL) / ``--sqlite-template PATH`` reuse (or build and keep) the
template, so iterations skip the build. Wall-clock figures on a shared machine grow with the
load: ``load_average`` is printed before and after; ``sweep_cpu_ms`` is this process's CPU
time for the timed sweep (the database server's share is not in it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.reports_bench import _migrate_template
from db.engine import Database, open_database
from db.migrate import upgrade
from helpdesk_tui.scheduler_settings import SchedulerSettings, SmtpSettings
from helpdesk_tui.services import sweep
from helpdesk_tui.services.context import Context
from helpdesk_tui.settings import Settings

PG_ADMIN = os.environ.get("HELPDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: The sweep instant (a Tuesday); the previous sweep ran one interval before.
NOW = datetime(2026, 2, 3, 8, tzinfo=UTC)
INTERVAL = timedelta(seconds=30)
PREV = NOW - INTERVAL
H = 3600
CFG = SchedulerSettings(
    smtp=SmtpSettings(host=None, sender="helpdesk@example.com", party_domain="relay.example.com")
)
CHUNK = 20_000
SUPPORT_KINDS = ("user_admin", "issue_report")


def _ts(when: datetime) -> str:
    return when.isoformat()


def records(conversations: int, breach: int, backlog: int, seed: int = 5) -> Iterator[bytes]:
    """Listings, then every conversation's messages (see the module docstring)."""
    rng = random.Random(seed)
    listings = max(conversations // 20, 1)
    for i in range(listings):
        yield json.dumps({
            "type": "listing", "id": f"L-{i}", "title": f"Listing {i}",
            "seller": {"id": f"s-{i}", "name": f"Seller {i}"},
            "created_at": _ts(NOW - timedelta(days=30)),
        }).encode()  # fmt: skip
    for c in range(conversations):
        kind = ("user_admin", "issue_report", "buyer_seller")[c % 3]
        target = 4 * H if kind == "buyer_seller" else 24 * H
        if c < breach:  # due in (PREV + 1 s, NOW]: whole seconds 0..28 before NOW
            t0 = NOW - timedelta(seconds=target + rng.randrange(0, 29))
        elif c < breach + backlog:  # breached 1-10 h before PREV
            t0 = PREV - timedelta(seconds=target + rng.uniform(1 * H, 10 * H))
        else:  # due after NOW
            t0 = NOW - timedelta(seconds=rng.uniform(0.05, 0.95) * target)
        t0 = t0.replace(microsecond=0)
        first: dict[str, Any] = {
            "id": f"m-{c}-0", "conversation": f"c-{c}", "kind": kind, "subject": f"Subject {c}",
            "body": f"first message of conversation {c}", "sent_at": _ts(t0),
        }  # fmt: skip
        if kind == "buyer_seller":
            first["from"] = {"id": f"b-{c}", "role": "buyer", "name": f"Buyer {c}"}
            first["listing"] = f"L-{c % listings}"
            yield json.dumps(first).encode()
            continue
        first["from"] = {"id": f"u-{c}", "role": "user", "name": f"User {c}"}
        yield json.dumps(first).encode()
        # an agent answers within the hour: the response is met, the resolution clock runs
        reply = t0 + timedelta(minutes=5 + c % 50)
        yield json.dumps({
            "id": f"m-{c}-1", "conversation": f"c-{c}", "body": "We are looking into it.",
            "from": {"id": "bench", "role": "agent"}, "sent_at": _ts(reply),
        }).encode()  # fmt: skip


def seed_people(ctx: Context) -> None:
    """Teams, a lead per team (with e-mail), an admin, the answering agent."""
    from sqlalchemy import update

    from db.models import Agent
    from helpdesk_tui.services import agents

    for team in ("support", "marketplace", "trust-safety"):
        agents.add_team(ctx, "root", team)
    agents.add_agent(ctx, "root", "boss", "Boss Admin", "admin", None)
    agents.add_agent(ctx, "boss", "lena", "Lena Lead", "lead", "support")
    agents.add_agent(ctx, "boss", "mark", "Mark Lead", "lead", "marketplace")
    agents.add_agent(ctx, "boss", "bench", "Bench Agent", "agent", "support")

    def emails(s: Any) -> None:
        for name in ("boss", "lena", "mark", "bench"):
            s.execute(
                update(Agent).where(Agent.username == name).values(email=f"{name}@example.com")
            )

    ctx.db.write(emails)


def context(db: Database, data_dir: Path) -> Context:
    return Context(db=db, settings=Settings(data_dir=data_dir), now=lambda: NOW)


def build(db: Database, data_dir: Path, n: int, breach: int, backlog: int) -> dict[str, Any]:
    """Fill an empty (migrated) database and run the previous sweep."""
    from helpdesk_tui.services.intake import Intake

    ctx = context(db, data_dir)
    t = time.perf_counter()
    seed_people(ctx)
    lines = records(n, breach, backlog)
    accepted = 0
    while chunk := list(itertools.islice(lines, CHUNK)):
        summary = Intake(ctx).run(chunk)
        accepted += summary.accepted
        if summary.rejected:
            raise SystemExit(f"intake rejected records: {summary.line()}")
        print(f"  … {accepted} records", file=sys.stderr, flush=True)
    intake_s = time.perf_counter() - t
    t = time.perf_counter()
    prev = sweep.run(ctx, CFG, PREV)
    prev_s = time.perf_counter() - t
    if prev.breached != backlog or prev.escalated.get(1) != backlog or prev.failed:
        raise SystemExit(f"previous sweep did not set up the backlog: {prev.line()}")
    return {
        "records": accepted,
        "intake_s": round(intake_s, 1),
        "records_per_s": round(accepted / intake_s),
        "previous_sweep_s": round(prev_s, 2),
    }


# -- backends --------------------------------------------------------------------------------------
def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _pg_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


class Backend:
    """Builds the template once and hands out fresh copies of it."""

    def __init__(self, kind: str, args: argparse.Namespace, workdir: Path) -> None:
        self.kind = kind
        self.args = args
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.built: dict[str, Any] = {"reused": True}
        self.keep = False
        if kind == "postgres":
            self.keep = args.template is not None
            self.template = args.template or f"hd_sweep_tpl_{uuid.uuid4().hex[:8]}"
        else:
            self.keep = args.sqlite_template is not None
            self.template_path = args.sqlite_template or workdir / "sweep-template.sqlite3"

    def prepare(self) -> None:
        a = self.args
        if self.kind == "postgres":
            if _pg_exists(self.template):
                _migrate_template(_pg_url(self.template))
                return
            _pg_admin(f'CREATE DATABASE "{self.template}"')
            db = open_database(_pg_url(self.template))
            try:
                upgrade(db)
                self.built = build(db, self.data_dir, a.conversations, a.breach, a.backlog)
            except BaseException:
                db.dispose()
                _pg_admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
                raise
            db.dispose()
            import psycopg

            with psycopg.connect(
                PG_ADMIN.rsplit("/", 1)[0] + "/" + self.template, autocommit=True
            ) as conn:
                conn.execute("VACUUM ANALYZE")
            return
        if self.template_path.exists():
            _migrate_template(f"sqlite:///{self.template_path}")
            return
        db = open_database(f"sqlite:///{self.template_path}")
        try:
            upgrade(db)
            self.built = build(db, self.data_dir, a.conversations, a.breach, a.backlog)
        finally:
            db.dispose()

    def copy(self) -> tuple[Database, Any]:
        """A fresh database from the template, and how to drop it."""
        if self.kind == "postgres":
            name = f"hd_sweep_{uuid.uuid4().hex[:8]}"
            _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            db = open_database(_pg_url(name))

            def drop() -> None:
                db.dispose()
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            return db, drop
        path = self.workdir / f"sweep-{uuid.uuid4().hex[:8]}.sqlite3"
        for suffix in ("", "-wal"):
            src = Path(str(self.template_path) + suffix)
            if src.exists():
                shutil.copyfile(src, str(path) + suffix)
        db = open_database(f"sqlite:///{path}")

        def drop_file() -> None:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

        return db, drop_file

    def finish(self) -> None:
        if self.kind == "postgres" and not self.keep and _pg_exists(self.template):
            _pg_admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


def settle(kind: str) -> None:
    """Let the copy's writes reach the disk before timing (else the timed commits wait behind
    them), and start from a checkpoint: every page the sweep touches is then its first change
    since the checkpoint and costs a full-page image in the WAL, as in production, where a
    sweep's thousand random conversations were rarely touched since the last checkpoint."""
    if kind == "postgres":
        _pg_admin("CHECKPOINT")
    os.sync()
    time.sleep(0.5)


def _timed(ctx: Context, when: datetime) -> tuple[float, float, sweep.SweepReport]:
    t, cpu = time.perf_counter(), time.process_time()
    report = sweep.run(ctx, CFG, when)
    return (time.perf_counter() - t) * 1000, (time.process_time() - cpu) * 1000, report


def measure(backend: Backend, repeat: int, breach: int) -> dict[str, Any]:
    idle, timed, cpu, after = [], [], [], []
    report_line = ""
    for _ in range(repeat):
        db, drop = backend.copy()
        try:
            upgrade(db)  # a template from before a new migration gets it here (not timed)
            settle(backend.kind)
            ctx = context(db, backend.data_dir)
            ms, _, rep = _timed(ctx, PREV + timedelta(seconds=1))
            if rep.breached or any(rep.escalated.values()) or rep.failed:
                raise SystemExit(f"{backend.kind}: the idle sweep did something: {rep.line()}")
            idle.append(ms)
            ms, cpu_ms, rep = _timed(ctx, NOW)
            report_line = rep.line()
            if (rep.breached, rep.escalated.get(1), rep.escalated.get(2), rep.failed) != (
                breach, breach, 0, {},
            ):  # fmt: skip
                raise SystemExit(f"{backend.kind}: unexpected sweep result: {report_line}")
            timed.append(ms)
            cpu.append(cpu_ms)
            ms, _, rep = _timed(ctx, NOW + timedelta(seconds=1))
            if rep.breached or any(rep.escalated.values()) or rep.failed:
                raise SystemExit(f"{backend.kind}: the next sweep did something: {rep.line()}")
            after.append(ms)
        finally:
            drop()
    return {
        "sweep_ms_median": round(statistics.median(timed), 1),
        "sweep_ms_min": round(min(timed), 1),
        "sweep_ms_max": round(max(timed), 1),
        "sweep_ms": [round(x, 1) for x in timed],
        "sweep_cpu_ms_median": round(statistics.median(cpu), 1),
        "idle_sweep_ms_median": round(statistics.median(idle), 1),
        "after_sweep_ms_median": round(statistics.median(after), 1),
        "report": report_line,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--conversations", type=int, default=100_000, help="open conversations")
    p.add_argument("--breach", type=int, default=1_000, help="newly breached at the sweep")
    p.add_argument("--backlog", type=int, default=2_000, help="breached and escalated before")
    p.add_argument("--backends", default="postgres,sqlite")
    p.add_argument("--repeat", type=int, default=5, help="timed sweeps (one fresh copy each)")
    p.add_argument("--template", help="PostgreSQL template database to reuse (or build, keep)")
    p.add_argument("--sqlite-template", type=Path, help="SQLite template file to reuse/keep")
    args = p.parse_args(argv)
    if args.breach + args.backlog > args.conversations:
        p.error("--breach + --backlog must not exceed --conversations")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if kind not in ("postgres", "sqlite"):
                p.error(f"unknown backend {kind!r}")
            backend = Backend(kind, args, Path(tmp))
            try:
                backend.prepare()
                load_before = [round(x, 2) for x in os.getloadavg()]
                figures = measure(backend, args.repeat, args.breach)
                load_after = [round(x, 2) for x in os.getloadavg()]
            finally:
                backend.finish()
            results.append({
                "backend": kind, "open_conversations": args.conversations,
                "newly_breached": args.breach, "backlog_escalated_before": args.backlog,
                "repeat": args.repeat, "load_average_before": load_before,
                "load_average_after": load_after, **backend.built, **figures,
            })  # fmt: skip
    print(json.dumps({"when": datetime.now(UTC).isoformat(timespec="seconds"),
                      "target_ms": 200, "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
