"""The real `helpdesk` console script, run as a subprocess against a SQLite file (few, fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from db.engine import open_database
from db.migrate import upgrade
from helpdesk_tui.services import agents
from helpdesk_tui.services.context import Context
from helpdesk_tui.settings import Settings
from tests.factories import at, flag, ingest, iso, line, listing, message

HELPDESK = Path(sys.executable).parent / "helpdesk"


class Cli:
    """Runs `helpdesk --db sqlite:///... ARGS` with its user dirs inside tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"sqlite:///{root / 'hd.sqlite3'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        env.update(
            XDG_DATA_HOME=str(root / "data"),
            XDG_CONFIG_HOME=str(root / "config"),
            HOME=str(root),
            NO_COLOR="1",
            COLUMNS="80",
        )
        self.env = env

    def __call__(
        self, *args: str, agent: str | None = None, stdin: bytes | None = None, db: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(HELPDESK)]
        if db:
            cmd += ["--db", self.url]
        if agent:
            cmd += ["--agent", agent]
        proc = subprocess.run(
            [*cmd, *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            cwd=self.root,
            timeout=60,
        )
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
        )


def assert_one_error_line(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].lower().startswith("error"), proc.stderr


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def write_jsonl(path: Path, *records: Any) -> Path:
    path.write_bytes(b"".join(line(r) + b"\n" for r in records))
    return path


def test_subprocess_db_upgrade_agents_and_teams(cli: Cli) -> None:
    first = cli("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "schema upgraded empty ->" in first.stdout
    assert (cli.root / "hd.sqlite3").exists()

    team = cli("teams", "add", "support", "--description", "first line", agent="setup")
    assert team.returncode == 0, team.stderr
    boss = ["boss", "--name", "The Boss", "--role", "admin", "--team", "support"]
    added = cli("agents", "add", *boss, agent="setup")
    assert added.returncode == 0, added.stderr
    assert "added admin boss to team support" in added.stdout
    db = open_database(cli.url)  # a second agent, in-process: fewer subprocesses
    try:
        agents.add_agent(Context(db=db), "boss", "alice", "Alice A", "agent", None)
    finally:
        db.dispose()

    refused = cli("agents", "add", "mallory", "--name", "M", "--role", "admin", agent="alice")
    assert_one_error_line(refused)
    assert "only an admin may manage agents" in refused.stderr

    deactivated = cli("agents", "deactivate", "alice", agent="boss")
    assert deactivated.returncode == 0 and "deactivated alice" in deactivated.stdout

    listed = cli("agents", "list", "--json")
    assert listed.returncode == 0
    assert [
        (a["username"], a["role"], a["team"], a["active"]) for a in json.loads(listed.stdout)
    ] == [
        ("alice", "agent", None, False),
        ("boss", "admin", "support", True),
    ]
    teams = cli("teams", "list").stdout.splitlines()
    assert teams[1].split()[:3] == ["support", "default", "1"]


def test_subprocess_ingest_summary_exit_codes_and_rejects_file(cli: Cli) -> None:
    bad = b'{"id": "m-9", "conversation": '
    feed = cli.root / "feed.jsonl"
    feed.write_bytes(
        line(listing("L-1")) + b"\n" + line(message("m-1", "c-1")) + b"\n" + bad + b"\n"
    )
    rejects = cli.root / "rejects.jsonl"
    assert cli("db", "upgrade").returncode == 0

    run = cli("ingest", str(feed), "--rejects", str(rejects))
    assert run.returncode == 1
    assert run.stdout.strip() == "accepted 2, duplicates 0, rejected 1"
    assert run.stderr.startswith("line 3: not valid JSON")
    assert "Traceback" not in run.stderr
    assert rejects.read_bytes() == bad + b"\n"  # verbatim, ready to re-submit

    again = cli("ingest", str(feed), "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout) == {"accepted": 0, "duplicates": 2, "rejected": 1}

    piped = cli("ingest", "-", stdin=line(message("m-3", "c-3")) + b"\n")
    assert (piped.returncode, piped.stdout.strip()) == (0, "accepted 1, duplicates 0, rejected 0")

    missing = cli("ingest", str(cli.root / "nope.jsonl"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and "nope.jsonl" in missing.stderr


def test_subprocess_queue_json_as_of_and_sla_explain(cli: Cli) -> None:
    # seeded in-process (the CLI's ingest has its own test): fewer subprocesses
    db = open_database(cli.url)
    try:
        upgrade(db)
        run = ingest(
            Context(db=db, settings=Settings(data_dir=cli.root / "data")),
            message("m-n", "c-normal", sent_at=0),
            message("m-u", "c-urgent", sent_at=0, priority="urgent"),
            message("m-h", "c-high", sent_at=0, priority="high"),
        )
        assert run.rejects == []
    finally:
        db.dispose()

    as_of = at(hours=3, minutes=30).isoformat()
    out = cli("queue", "--json", "--as-of", as_of)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["conversation"] for r in rows] == ["c-urgent", "c-high", "c-normal"]
    assert list(rows[0]) == [
        "id",
        "conversation",
        "kind",
        "subject",
        "status",
        "priority",
        "team",
        "assignee",
        "requester",
        "escalation_level",
        "due_at",
        "due_for",
        "seconds_left",
        "breached",
        "at_risk",
    ]
    urgent, high, normal = rows
    assert (urgent["breached"], urgent["seconds_left"], urgent["due_at"]) == (
        True,
        -9000,
        "2026-03-02T08:00:00Z",
    )
    assert (high["breached"], high["at_risk"], high["seconds_left"]) == (False, True, 1800)
    assert (normal["due_for"], normal["at_risk"], normal["breached"]) == (
        "first_response",
        False,
        False,
    )

    table = cli("queue", "--as-of", as_of)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert all(len(x) <= 80 for x in lines)
    assert lines[1].startswith("!") and "c-urgent" in lines[1]
    assert lines[2].startswith("~") and "c-high" in lines[2]
    assert lines[-1].startswith("3 of 3 open conversations")

    explained = cli("sla", "explain", "c-urgent", "--as-of", as_of)
    assert explained.returncode == 0, explained.stderr
    assert "first_response#1: due 2026-03-02 08:00:00Z (breached" in explained.stdout
    assert "started" in explained.stdout


def test_subprocess_a_mistyped_sqlite_path_is_an_error_not_a_new_database(cli: Cli) -> None:
    typo = f"sqlite:///{cli.root / 'hd.sqlite3x'}"
    for args in (["queue"], ["ingest", "-"], ["agents", "list"]):
        proc = cli("--db", typo, *args, db=False, stdin=b"")
        assert_one_error_line(proc)
        assert "hd.sqlite3x does not exist" in proc.stderr and "db upgrade" in proc.stderr
    assert not (cli.root / "hd.sqlite3x").exists()
    env_typo = cli("queue", db=False)  # the user-data default is created on first use
    assert env_typo.returncode == 0, env_typo.stderr
    created = cli("--db", typo, "db", "upgrade", db=False)
    assert created.returncode == 0 and (cli.root / "hd.sqlite3x").exists()
    assert cli("--db", typo, "queue", db=False).returncode == 0


def test_subprocess_unreachable_postgresql_is_one_line_without_traceback(cli: Cli) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/helpdesk"
    proc = cli("--db", url, "queue", db=False)
    assert_one_error_line(proc)
    assert "127.0.0.1" in proc.stderr and "secret" not in proc.stderr


def test_queue_table_fits_80_columns_with_wide_characters() -> None:
    from rich.cells import cell_len

    from db.records import QueuePage, QueueRow
    from helpdesk_tui.queue_text import table_text

    now = at(0)
    row = QueueRow(
        id=1,
        conversation="c-日本語日本語日本語",
        kind="user_admin",
        subject="日本語のテキスト" * 10,
        status="new",
        priority="normal",
        team=None,
        assignee="担当者担当者担当者",
        requester="u-1",
        requester_verified=False,
        escalation_level=0,
        due_at=at(hours=1),
        due_for="first_response",
        target_s=3600,
        risk_at=None,
        waiting_since=now,
        last_message_at=now,
    )
    text = table_text(QueuePage((row,), 1), now)
    assert max(cell_len(x) for x in text.splitlines()) <= 80


def test_subprocess_ingest_stdin_commits_while_the_pipe_is_open(cli: Cli) -> None:
    import sqlite3
    import time

    db = open_database(cli.url)
    upgrade(db)
    db.dispose()
    proc = subprocess.Popen(
        [str(HELPDESK), "--db", cli.url, "ingest", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(line(message("m-1", "c-1")) + b"\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 10  # interpreter start-up included; EOF never comes
        stored = 0
        while time.monotonic() < deadline and not stored:
            time.sleep(0.2)
            with sqlite3.connect(cli.root / "hd.sqlite3") as conn:
                stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert stored == 1, "the message waits for more input or EOF"
    finally:
        proc.kill()
        proc.wait(10)


def test_subprocess_flags_list_and_decide(cli: Cli) -> None:
    db = open_database(cli.url)
    try:
        upgrade(db)
        ctx = Context(db=db, settings=Settings(data_dir=cli.root / "data"))
        agents.add_team(ctx, "setup", "support")
        agents.add_agent(ctx, "setup", "boss", "The Boss", "admin", "support")
        run = ingest(ctx, listing("L-1"), message("m-1", "c-1", sent_at=-120),
                     flag("fl-1", {"listing": "L-1"}, reason="[bold]scam\x1b]0;pwn\x07",
                          flagged_at=iso(at(-60))))  # fmt: skip
        assert run.rejects == []
    finally:
        db.dispose()
    listed = cli("flags", "list")
    assert listed.returncode == 0, listed.stderr
    assert "fl-1" in listed.stdout and "[bold]scam" in listed.stdout
    assert "\x1b" not in listed.stdout and "1 flag(s)" in listed.stdout
    decided = cli("flags", "decide", "fl-1", "removed", "--note", "fake", agent="boss")
    assert decided.returncode == 0, decided.stderr
    assert "fl-1: removed (1 flag(s))" in decided.stdout
    assert "0 flag(s)" in cli("flags", "list").stdout
    again = cli("flags", "decide", "fl-1", "dismissed", agent="boss")
    assert_one_error_line(again)
    assert "already decided" in again.stderr
