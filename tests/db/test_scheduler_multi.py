"""Several real `helpdesk scheduler` processes against one database: every effect exactly once,
the leader lock handed over when the leader is killed, catch-up after downtime done once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from db.engine import Database
from db.models import (
    ConversationEvent,
    Escalation,
    Message,
    OutboxItem,
    SchedulerState,
    SlaClock,
)
from helpdesk_tui.services.context import Context
from tests.db.test_autoack_triage import seed_templates
from tests.db.test_notify import SmtpServer
from tests.db.test_sweep import must_ingest, n, rows, seed_people
from tests.factories import at, conversation, iso, listing, message

HELPDESK = str(Path(sys.executable).parent / "helpdesk")
NOW = at(hours=40)


def write_config(path: Path, smtp_port: int) -> Path:
    path.write_text(
        f"""
[scheduler]
sweep_interval = "1s"
new_interval = "1s"
notify_interval = "1s"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "helpdesk@example.com"
party_domain = "relay.example.com"
timeout = "5s"

[[triage.rule]]
name = "refunds"
keywords = ["refund"]
category = "payments"
priority = "high"
""",
        encoding="utf-8",
    )
    return path


def seed_scenario(ctx: Context) -> None:
    """One of everything, as seen at NOW (= BASE + 40 h)."""
    seed_people(ctx)
    seed_templates(ctx)
    minutes = 40 * 60
    must_ingest(
        ctx,
        listing("L-1", seller="u-9"),
        listing("L-2", seller="u-8"),
        # A: support, 40 h unanswered: level 1 and level 2 (outside the 24 h "new" window)
        message("a-1", "A", sent_at=0, body="I want a refund"),
        # B: buyer asked 5 h ago: seller_unresponsive, routed to support, seller told
        message("b-1", "B", role="buyer", kind="buyer_seller", listing="L-1",
                sent_at=minutes - 5 * 60),
        # C: support, 20 h old: at risk (24 h target, 4 h left), acknowledged, triaged
        message("c-1", "C", sent_at=minutes - 20 * 60, body="Hello there"),
        # D: issue report a minute ago: triaged (refund -> high), acknowledged with articles
        message("d-1", "D", kind="issue_report", sent_at=minutes - 1,
                body="refund for my password reset email that never arrives"),
        # E: new buyer inquiry: the seller hears of it
        message("e-1", "E", role="buyer", kind="buyer_seller", listing="L-2",
                sent_at=minutes - 10),
    )  # fmt: skip


def run_schedulers(
    db: Database, config: Path, count: int, as_of: datetime, *extra: str
) -> list[str]:
    env = {**os.environ, "HELPDESK_DATA_DIR": str(config.parent / "data")}
    cmd = [HELPDESK, "--db", db.url, "--config", str(config), "scheduler", "--once",
           "--as-of", iso(as_of), *extra]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        for _ in range(count)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"rc={p.returncode}\n{out}\n{err}"
        outs.append(out)
    return outs


def total(outs: list[str], job: str, pattern: str) -> int:
    """Sum a number reported by ``job`` over every process's output."""
    found = 0
    for out in outs:
        for line in out.splitlines():
            if line.startswith(f"{job}:"):
                m = re.search(pattern, line)
                if m:
                    found += int(m.group(1))
    return found


def assert_exactly_once(ctx: Context, smtp: SmtpServer, outs: list[str]) -> None:
    ids = {x: conversation(ctx, x).id for x in "ABCDE"}
    escalations = sorted((e.conversation_id, e.level, e.reason) for e in rows(ctx, Escalation))
    assert escalations == [
        (ids["A"], 1, "sla_breached"),
        (ids["A"], 2, "still_unanswered"),
        (ids["B"], 1, "seller_unresponsive"),
    ]
    acks = Counter(m.conversation_id for m in rows(ctx, Message, Message.via == "auto_ack"))
    assert acks == {ids["C"]: 1, ids["D"]: 1}
    triaged = Counter(
        e.conversation_id for e in rows(ctx, ConversationEvent, ConversationEvent.field == "triage")
    )
    assert triaged == {ids[x]: 1 for x in "BCDE"}
    assert conversation(ctx, "D").priority == "high"
    assert n(ctx, SlaClock, SlaClock.alerted_at.is_not(None)) == 1
    outbound = Counter(o.type for o in rows(ctx, OutboxItem, OutboxItem.channel == "outbound"))
    assert outbound["auto_ack"] == 2 and outbound["notification"] == 3  # B, E inquiries; B late
    assert outbound["faq_suggestion"] >= 1
    mails = rows(ctx, OutboxItem, OutboxItem.channel == "email")
    assert sorted(m.type for m in mails) == sorted(
        ["escalation", "escalation", "escalation", "seller_unresponsive", "new_inquiry",
         "new_inquiry", "at_risk"]
    )  # fmt: skip
    assert {m.status for m in mails} == {"sent"}
    received = smtp.handler.ids()
    assert len(received) == len(set(received)) == 7  # each e-mail delivered once
    # what the processes reported adds up to the same effects
    assert total(outs, "sweep", r"level 1: (\d+)") == 2
    assert total(outs, "sweep", r"level 2: (\d+)") == 1
    assert total(outs, "autoack", r"acknowledged (\d+)") == 2
    assert total(outs, "alerts", r"alerted (\d+)") == 1
    assert total(outs, "notify", r"sent (\d+)") == 7


@pytest.fixture
def smtp_server() -> Any:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def test_two_schedulers_one_leader_every_effect_once(
    ctx: Context, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    seed_scenario(ctx)
    config = write_config(tmp_path / "config.toml", smtp_server.port)
    outs = run_schedulers(ctx.db, config, 2, NOW)
    assert_exactly_once(ctx, smtp_server, outs)
    # while both ran, the lock let one lead and the other stand by (a slow starter may only
    # begin after the first one exited and released the lock: then it leads in its turn)
    assert sum("standby" in out for out in outs) <= 1, outs
    assert any("heartbeat: beat as" in out for out in outs), outs


def test_four_schedulers_without_the_lock_are_fenced_by_the_database(
    ctx: Context, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    seed_scenario(ctx)
    config = write_config(tmp_path / "config.toml", smtp_server.port)
    outs = run_schedulers(ctx.db, config, 4, NOW, "--ignore-leader")
    assert not any("standby" in out for out in outs)
    assert_exactly_once(ctx, smtp_server, outs)
    # a second round finds nothing left to do
    again = run_schedulers(ctx.db, config, 2, NOW + timedelta(minutes=1), "--ignore-leader")
    assert total(again, "sweep", r"breached (\d+)") == 0
    assert total(again, "notify", r"sent (\d+)") == 0
    assert len(smtp_server.handler.messages) == 7


def test_restart_after_downtime_catches_up_once(ctx: Context, tmp_path: Path) -> None:
    seed_people(ctx)
    must_ingest(ctx, message("a-1", "A", sent_at=0), message("b-1", "B", sent_at=30))
    config = write_config(tmp_path / "config.toml", 1)  # nothing listens: mail waits
    # the scheduler was down for three days: one run finds everything overdue, once
    (out,) = run_schedulers(ctx.db, config, 1, at(days=3))
    assert "escalated level 1: 2, level 2: 2" in out, out
    assert "breached 4" in out
    (again,) = run_schedulers(ctx.db, config, 1, at(days=3, minutes=1))
    assert "breached 0, escalated level 1: 0, level 2: 0" in again
    assert n(ctx, Escalation) == 4
    # SMTP is down: each run tries one e-mail, which gets a retry scheduled; none is lost
    assert n(ctx, OutboxItem, OutboxItem.status == "failed") == 2
    assert n(ctx, OutboxItem, OutboxItem.status.in_(("sent", "dead"))) == 0


def heartbeat(db: Database) -> tuple[str, datetime] | None:
    with db.read() as s:
        row = s.execute(
            select(SchedulerState.holder, SchedulerState.beat_at).where(
                SchedulerState.name == "heartbeat"
            )
        ).first()
        return (row[0], row[1]) if row else None


def wait_holder(db: Database, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beat = heartbeat(db)
        if beat and beat[0].endswith(f":{pid}"):
            return True
        time.sleep(0.2)
    return False


def test_killing_the_leader_hands_over(ctx: Context, tmp_path: Path) -> None:
    seed_people(ctx)
    config = write_config(tmp_path / "config.toml", 1)
    env = {**os.environ, "HELPDESK_DATA_DIR": str(tmp_path / "data")}
    cmd = [HELPDESK, "--db", ctx.db.url, "--config", str(config), "scheduler"]
    logs = [open(tmp_path / f"s{i}.log", "w") for i in range(2)]  # noqa: SIM115
    first = subprocess.Popen(cmd, stdout=logs[0], stderr=subprocess.STDOUT, env=env)
    second = None
    try:
        assert wait_holder(ctx.db, first.pid, 30), (tmp_path / "s0.log").read_text()
        second = subprocess.Popen(cmd, stdout=logs[1], stderr=subprocess.STDOUT, env=env)
        standby = lambda: "standby" in (tmp_path / "s1.log").read_text()  # noqa: E731
        deadline = time.monotonic() + 30
        while not standby() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert standby(), "the second scheduler should stand by"
        time.sleep(1.5)  # a few sweeps: the first one keeps leading
        beat = heartbeat(ctx.db)
        assert beat and beat[0].endswith(f":{first.pid}")

        first.send_signal(signal.SIGKILL)  # no clean-up: the lock dies with the process
        first.wait(10)
        killed_at = time.monotonic()
        assert wait_holder(ctx.db, second.pid, 15), (tmp_path / "s1.log").read_text()
        # within one sweep (1 s) plus start-up; generous: CI machines may be loaded
        assert time.monotonic() - killed_at < 15

        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
        assert "stopping (SIGTERM)" in (tmp_path / "s1.log").read_text()
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        for f in logs:
            f.close()


def test_leader_lock_is_exclusive_and_survives_a_lost_connection(ctx: Context) -> None:
    from helpdesk_tui.leader import PgLeader, leader_for

    one, two = leader_for(ctx.db), leader_for(ctx.db)
    try:
        assert one.ensure() and one.ensure()
        assert not two.ensure()
        if isinstance(one, PgLeader):
            # the server drops the leader's session (a restart, a network cut): the lock is
            # gone with it; the next ensure() notices, reconnects and competes again
            pid = one._conn.info.backend_pid
            with ctx.db.engine.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            assert two.ensure()
            assert not one.ensure()
            two.release()
            assert one.ensure()
        else:
            one.release()
            assert two.ensure() and not one.ensure()
    finally:
        one.release()
        two.release()


def test_console_scheduler_runs_jobs_off_the_event_loop(ctx: Context, clock: Any) -> None:
    import asyncio

    from helpdesk_tui.jobs import JobReport, start_in_console
    from helpdesk_tui.scheduler_settings import SchedulerSettings

    seed_people(ctx)
    must_ingest(ctx, message("a-1", "A", sent_at=0))
    cfg = SchedulerSettings(sweep_interval_s=1, new_interval_s=1, notify_interval_s=1)
    clock.now = at(hours=25)  # the jobs read the context's clock

    async def main() -> tuple[list[JobReport], float]:
        reports: list[JobReport] = []
        console = start_in_console(ctx, on_report=reports.append, cfg=cfg)
        worst = 0.0
        try:
            for _ in range(100):  # the loop keeps ticking while the jobs work in threads
                before = time.monotonic()
                await asyncio.sleep(0.02)
                worst = max(worst, time.monotonic() - before - 0.02)
                if {"sweep", "autoack", "notify"} <= {r.job for r in reports}:
                    break
        finally:
            console.shutdown()
        return reports, worst

    reports, worst = asyncio.run(main())
    jobs = {r.job: r for r in reports}
    assert {"heartbeat", "sweep", "autoack", "notify"} <= set(jobs), reports
    assert all(r.ok for r in reports), reports
    # A job run on the loop would freeze it for the whole job; threads keep it ticking.
    # Generous bound: a loaded machine stalls any loop a little.
    assert worst < 2.0
    assert "escalated level 1: 1" in jobs["sweep"].line
