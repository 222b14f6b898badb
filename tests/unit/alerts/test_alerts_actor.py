"""Who ran a check is recorded on the episodes it opens, sees and closes: the CLI's checked --by account (the real
CLI in a subprocess), the signed-in account on the page, or the server's scheduler under its system name. A check
that writes with nobody named is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from governance import alerts
from governance.access import identity
from governance.access.identity import PermissionDeniedError
from governance.alerts.scheduler import Scheduler
from governance.errors import InvalidInputError
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, VIEWER, forget_alerts

ROOT = Path(__file__).resolve().parents[3]
ADMIN = identity.User("grace.lindqvist", "Grace Lindqvist", "admin", "demo")
PASSWORD = "a long enough password 42"
SCHEDULED = "quorum-scheduler (scheduler)"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "governance", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def actors(store) -> set[tuple]:
    return set(store.query_rows("SELECT opened_by, last_seen_by, closed_by FROM alert_episode"))


def test_the_cli_check_records_its_checked_account(demo_copy):
    forget_alerts(demo_copy)
    with GovernanceStore(demo_copy) as store:
        identity.add_user(store, user_name="ops.lead", display_name="Ops Lead", role="engineering leader",
                          actor=ADMIN, password=PASSWORD)
        identity.add_user(store, user_name="ops.viewer", display_name="Ops Viewer", role="viewer",
                          actor=ADMIN, password=PASSWORD)
    wrong = cli("alerts", "check", "--db", str(demo_copy), "--by", "ops.lead", env={"QUORUM_PASSWORD": "wrong"})
    assert wrong.returncode == 2, wrong.stderr
    viewer = cli("alerts", "check", "--db", str(demo_copy), "--by", "ops.viewer", env={"QUORUM_PASSWORD": PASSWORD})
    assert viewer.returncode == 2 and "configure monitoring" in viewer.stderr, viewer.stderr
    with GovernanceStore(demo_copy) as store:
        assert store.query_value("SELECT count(*) FROM alert_episode") == 0   # refused: nothing written
    dry = cli("alerts", "check", "--db", str(demo_copy), "--dry-run", "--json")   # writes nothing: no account
    assert dry.returncode == 0, dry.stderr
    done = cli("alerts", "check", "--db", str(demo_copy), "--by", "ops.lead", "--json",
               env={"QUORUM_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    opened = json.loads(done.stdout)["opened"]
    assert opened and sorted(opened) == sorted(a["alert_key"] for a in json.loads(dry.stdout)["alerts"])
    with GovernanceStore(demo_copy) as store:
        assert actors(store) == {("ops.lead (engineering leader)", "ops.lead (engineering leader)", None)}


def test_the_scheduler_and_the_page_account_are_recorded(demo_copy):
    with GovernanceStore(demo_copy) as store:
        # the demo's own check stands for the server's first scheduled one
        assert actors(store) == {(SCHEDULED, SCHEDULED, None)}
    forget_alerts(demo_copy)
    with GovernanceStore(demo_copy) as store:
        scheduler = Scheduler(store)
        scheduler.last_check = float("-inf")   # due now
        scheduler.tick()
        assert scheduler.last_result["opened"]
        assert actors(store) == {(SCHEDULED, SCHEDULED, None)}
        # an episode that clears is closed by whoever checks then
        key = scheduler.last_result["opened"][0]
        found = [f for f in alerts.findings(store) if f["alert_key"] != key]
        result = alerts.check(store, actor=LEADER, found=found)
        assert result["closed"] == [key]
        rows = {r[0]: r[1:] for r in store.query_rows(
            "SELECT alert_key, opened_by, last_seen_by, closed_by FROM alert_episode")}
        assert rows[key] == (SCHEDULED, SCHEDULED, LEADER.recorded_as)
        assert {v for k, v in rows.items() if k != key} == {(SCHEDULED, LEADER.recorded_as, None)}


def test_a_check_that_writes_names_who_runs_it(demo_copy):
    forget_alerts(demo_copy)
    with GovernanceStore(demo_copy) as store:
        before = store.data_version()
        with pytest.raises(InvalidInputError, match="needs who runs it"):
            alerts.check(store)
        with pytest.raises(InvalidInputError, match="needs who runs it"):
            alerts.check(store, actor="farid.haddad")   # a bare name is not a checked account
        with pytest.raises(PermissionDeniedError):
            alerts.check(store, actor=VIEWER)
        assert store.data_version() == before
        assert alerts.check(store, dry_run=True)["alerts"]   # a dry run writes nothing and needs nobody
