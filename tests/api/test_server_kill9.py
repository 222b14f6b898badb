"""A server killed with SIGKILL in the middle of a burst of writes loses none it acknowledged: a new server on the
same workspace starts despite the dead one's `.server.json`, serves every acknowledged write, and both hash chains
verify. While a server runs, a command on the workspace file names that server's URL; after a clean stop the
`.server.json` is gone and the file is free again.

`python -m governance serve` execs Streamlit, so the pid of the process the test starts is the server's.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from governance.record import server_file
from tests.api.conftest import LEADER, RISK_OWNER, VIEWER, cli, fresh_copy, issue_token, serve
from tests.servers import stop_server

WRITERS = 8
ACKNOWLEDGED_BEFORE_KILL = 40


@pytest.fixture(scope="module")
def workspace(demo_workspace, module_dir):
    db = fresh_copy(demo_workspace, module_dir)
    return db, {user: issue_token(db, user) for user in (LEADER, RISK_OWNER, VIEWER)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_acknowledged_writes_survive_kill_9_and_a_restart_serves_them(workspace, module_dir):
    db, tokens = workspace
    first = serve(db, module_dir, tokens=tokens)
    before = {r["risk_id"] for r in first.result("risks list", as_user=VIEWER)["result"]["risks"]}
    acknowledged: dict[str, str] = {}   # risk id -> title, for every add answered 200
    attempted: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()

    def writer(number: int) -> None:
        user = (LEADER, RISK_OWNER)[number % 2]
        for n in range(1000):
            title = f"Burst risk {number}-{n}"
            with lock:
                attempted.add(title)
            try:
                answer = first.command("risks add", {"title": title, "category": "security", "owner": RISK_OWNER,
                                                     "likelihood": 3, "impact": 2}, as_user=user, timeout=30)
            except OSError:   # the server is gone: refused, reset, or cut off mid-answer
                return
            if answer.status == 200:
                with lock:
                    acknowledged[answer.body["result"]["risk_id"]] = title
                    if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                        enough.set()
            else:
                assert answer.status < 500, answer.text

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=90), f"only {len(acknowledged)} writes acknowledged in 90 s"
        os.kill(first.process.pid, signal.SIGKILL)   # while the writers are still writing
        first.process.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive()
    finally:
        if first.process.poll() is None:
            stop_server(first.process)
    assert first.process.returncode == -signal.SIGKILL
    with lock:
        acknowledged = dict(acknowledged)
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL

    # The killed server could not remove its file: it names a process that is gone, and nothing heeds it.
    stale = server_file.read(workspace=db)
    assert stale is not None and (stale["url"], stale["pid"]) == (first.url, first.process.pid)
    assert not _alive(stale["pid"]) and server_file.live_url(workspace=db) is None

    second = serve(db, module_dir, tokens=tokens)
    try:
        assert second.url != first.url
        assert server_file.read(workspace=db)["pid"] == second.process.pid

        # A command on the file is told which server holds it now: the new one, and how to go through it.
        held = cli("--db", db, "risks", "list")
        assert held.returncode == 2 and held.stdout == ""
        assert held.stderr.startswith("error: ") and f"--server {second.url}" in held.stderr, held.stderr
        assert first.url not in held.stderr and "copy" not in held.stderr.lower()
        assert "Traceback" not in held.stderr

        # Every write acknowledged before the kill is there, under its id; nothing appeared that was not sent.
        risks = second.result("risks list", as_user=VIEWER)["result"]["risks"]
        ids = [r["risk_id"] for r in risks]
        assert len(ids) == len(set(ids))
        titles = {r["risk_id"]: r["title"] for r in risks}
        lost = {risk_id: title for risk_id, title in acknowledged.items() if titles.get(risk_id) != title}
        assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
        new = {titles[i] for i in set(ids) - before}
        assert new <= attempted and len(new) >= len(acknowledged)

        for command in ("verify", "risks verify"):
            through = cli(*command.split(), "--json", env=second.through(VIEWER))
            assert through.returncode == 0, (command, through.stdout, through.stderr)
            assert json.loads(through.stdout)["ok"] is True

        # It keeps taking writes after the restart.
        after = second.command("risks add", {"title": "After the restart", "category": "security",
                                             "owner": RISK_OWNER, "likelihood": 1, "impact": 1}, as_user=LEADER)
        assert after.status == 200 and after.body["result"]["risk_id"] not in titles
    finally:
        stop_server(second.process)

    # A clean stop (SIGTERM) removes the server's file and frees the workspace for commands on the file.
    assert second.process.returncode in (0, -signal.SIGTERM), second.output()
    assert not server_file.path_for(db).exists(), second.output()
    local = cli("--db", db, "risks", "verify", "--json")
    assert local.returncode == 0 and json.loads(local.stdout)["ok"] is True, local.stderr


def test_a_stale_server_file_does_not_block_commands_on_the_workspace(workspace, module_dir):
    """A server file whose process is gone (a crash, a reboot) is ignored, not obeyed."""
    db, _ = workspace
    dead = cli("--db", db, "status", "--json")   # a short-lived process: its pid is now nobody's
    assert dead.returncode == 0
    server_file.path_for(db).write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 12345,
                                                    "workspace": str(db)}))
    try:
        result = cli("--db", db, "status")
        assert result.returncode == 0, result.stderr
        assert "127.0.0.1:9" not in result.stdout + result.stderr
    finally:
        Path(server_file.path_for(db)).unlink(missing_ok=True)
