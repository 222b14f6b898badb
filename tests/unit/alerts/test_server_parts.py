"""The server's parts that need no running server: the file that names it, its scheduler, the alert schedule
setting and the OpenAPI document made from the command line's parsers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from governance import alerts
from governance.access.identity import PermissionDeniedError
from governance.alerts import scheduler
from governance.cli import main as cli
from governance.errors import InvalidInputError
from governance.record import server_file
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, VIEWER


def test_the_server_file_names_a_live_server_and_a_stale_one_is_ignored(tmp_path):
    workspace = tmp_path / "ws.duckdb"
    assert server_file.live_url(workspace=workspace) is None and server_file.served_elsewhere(workspace) is None
    server_file.write(workspace=workspace, url="http://127.0.0.1:8765")
    assert server_file.live_url(workspace=workspace) == "http://127.0.0.1:8765"
    refusal = server_file.served_elsewhere(workspace)
    assert "served by the Quorum server at http://127.0.0.1:8765" in str(refusal) and "--server" in str(refusal)
    assert "copy" not in str(refusal)

    # A server killed with SIGKILL leaves its file: a process that is gone serves nothing.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    server_file.path_for(workspace).write_text(f'{{"url": "http://127.0.0.1:1", "pid": {gone.pid}}}')
    assert server_file.live_url(workspace=workspace) is None
    server_file.remove(workspace=workspace)            # not ours: left for its owner (or ignored)
    assert server_file.path_for(workspace).exists()
    server_file.write(workspace=workspace, url="http://127.0.0.1:8765")
    server_file.remove(workspace=workspace)
    assert not server_file.path_for(workspace).exists()
    server_file.path_for(workspace).write_text("not json")
    assert server_file.live_url(workspace=workspace) is None


def test_the_schedule_is_hourly_by_default_recorded_by_a_leader_and_bounded(demo_copy):
    with GovernanceStore(demo_copy) as store:
        assert alerts.schedule(store) == {"every_minutes": 60, "set_by": None, "set_at": None}
        with pytest.raises(PermissionDeniedError):
            alerts.set_schedule(store, every_minutes=30, actor=VIEWER)
        for bad in (0, 4, 1441, 7.5, True, "30"):
            with pytest.raises(InvalidInputError, match="every 5 to 1440 minutes"):
                alerts.set_schedule(store, every_minutes=bad, actor=LEADER)
        recorded = alerts.set_schedule(store, every_minutes=30, actor=LEADER)
        assert recorded["every_minutes"] == 30 and recorded["set_by"] == LEADER.recorded_as
        assert alerts.schedule(store)["every_minutes"] == 30


def test_the_scheduler_checks_the_rules_when_due_and_not_before(demo_copy):
    with GovernanceStore(demo_copy) as store:
        before = store.query_value("SELECT count(*) FROM alert_episode")
        clock = scheduler.Scheduler(store)
        clock.tick()                                   # just started: the first check is one period away
        assert clock.last_result is None
        clock.last_check = time.monotonic() - 3601     # an hour later
        clock.tick()
        assert clock.last_result is not None and clock.last_result["dry_run"] is False
        independent = store.query_value("SELECT count(*) FROM alert_episode WHERE closed_at IS NULL")
        assert clock.last_result["open"] == independent
        assert store.query_value("SELECT count(*) FROM alert_episode") >= before
        checked_at = clock.last_check
        clock.tick()                                   # not due again
        assert clock.last_check == checked_at


def test_the_scheduler_thread_starts_and_stops(demo_copy):
    with GovernanceStore(demo_copy) as store:
        running = scheduler.start(store, tick_seconds=0.05)
        try:
            assert scheduler.running() is running
            time.sleep(0.2)
        finally:
            scheduler.stop()
        assert scheduler.running() is None and not running._thread.is_alive()


def test_the_openapi_document_has_every_command_with_its_own_fields():
    from api.commands import fields_of
    from api.openapi import document

    parser = cli.build_parser()
    made = document(parser)
    paths = made["paths"]
    assert "/api/v1/commands/init" not in paths and "/api/v1/commands/serve" not in paths
    for words in (("status",), ("kpis",), ("signoff", "vote"), ("risks", "add"), ("report",), ("tokens", "create"),
                  ("checklist", "attest"), ("verify",)):
        operation = paths[f"/api/v1/commands/{'/'.join(words)}"]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["arguments"]
        sub = parser
        for word in words:
            sub = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction").choices[word]
        assert set(schema["properties"]) == {a.dest for a in fields_of(sub)}, words
    vote = paths["/api/v1/commands/signoff/vote"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(vote["properties"]["secrets"]["properties"]) == {"QUORUM_PASSWORD"}
    assert vote["properties"]["arguments"]["properties"]["vote"]["enum"][0] == "approve"
    assert "202" in paths["/api/v1/commands/audit/run"]["post"]["responses"]
    assert made["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def test_a_command_on_a_workspace_a_live_server_holds_names_its_url(demo_copy):
    """The file alone decides the message only when the workspace really is held (here, by a process that opens
    it and names itself the server)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from governance.record.store import GovernanceStore; from governance.record import server_file;"
         "s = GovernanceStore(sys.argv[2]); server_file.write(workspace=s.path, url='http://127.0.0.1:9999');"
         "print('holding', flush=True); time.sleep(60)", os.getcwd(), str(demo_copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = subprocess.run([sys.executable, "-m", "governance", "--db", str(demo_copy), "risks", "list"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "served by the Quorum server at http://127.0.0.1:9999" in result.stderr
        assert "QUORUM_TOKEN" in result.stderr
    finally:
        holder.kill()
        holder.wait()
