"""`python -m governance risks ...` through the CLI entry point (in process): exit codes, messages and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governance.access import identity
from governance.decisions import risks
from governance.record import ledger, verification
from governance.record.store import GovernanceStore




@pytest.fixture
def db(tmp_path) -> Path:
    """A fresh workspace with one model and the demo's people, closed again so a CLI process can open it."""
    path = tmp_path / "ws.duckdb"
    with GovernanceStore(path) as store:
        ledger.refresh_anchor(store)   # as `init` does: the empty chains are anchored before the first record
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
            identity.seed_demo_users(store, tx)
    return path


def test_add_update_history_list_coverage_verify(db, cli):
    added = cli("risks", "add", "--db", str(db), "--title", "<img src=x onerror=alert(1)>", "--category",
                "fairness/bias", "--model", "m", "--owner", "elif.kaya", "--likelihood", "4", "--impact", "3",
                "--clause", "Article 10", "--clause", "MEASURE 2.11", "--by", "farid.haddad", "--json")
    assert added.returncode == 0, added.stderr
    risk = json.loads(added.stdout)
    assert (risk["risk_id"], risk["title"], risk["inherent_score"]) == ("R-001", "<img src=x onerror=alert(1)>", 12)

    updated = cli("risks", "update", "--db", str(db), "R-001", "--status", "assessed", "--likelihood", "2",
                  "--reason", "scored with the team", "--json", env={"LOGNAME": "elif.kaya"})  # --by defaults to it
    assert updated.returncode == 0, updated.stderr
    assert (json.loads(updated.stdout)["status"], json.loads(updated.stdout)["likelihood"]) == ("assessed", 2)

    shown = cli("risks", "history", "--db", str(db), "R-001", "--json")
    listed = cli("risks", "list", "--db", str(db), "--json")
    covered = cli("risks", "coverage", "--db", str(db), "--framework", "euaia", "--json")
    verified = cli("risks", "verify", "--db", str(db))
    for result in (shown, listed, covered, verified):
        assert result.returncode == 0, result.stderr
    with GovernanceStore(db) as store:
        assert json.loads(shown.stdout) == {"risk_id": "R-001", "events": risks.history(store, risk_id="R-001")}
        expected_list = json.loads(json.dumps({"risks": risks.list_risks(store)}, default=str))
        expected_coverage = risks.coverage(store, framework="euaia")
    assert [(e["kind"], e["actor"]) for e in json.loads(shown.stdout)["events"]] == [
        ("created", "farid.haddad (engineering leader)"), ("changed", "elif.kaya (risk owner)"),
        ("changed", "elif.kaya (risk owner)")]
    assert json.loads(listed.stdout) == expected_list
    coverage = json.loads(covered.stdout)
    assert coverage == expected_coverage
    assert {r["ref_id"]: r["status"] for r in coverage["clauses"]}["Article 10"] == "partial"
    assert "3 events, chain intact" in verified.stdout


def test_import_with_one_bad_row_imports_nothing_and_a_good_file_imports_all(db, tmp_path, cli):
    header = "title,category,models,owner,likelihood,impact,clauses\n"
    good = "Drift,performance/drift,m,elif.kaya,2,3,MEASURE 2.11\nLeak,privacy,,farid.haddad,4,5,A.7\n"
    bad_file, good_file = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad_file.write_text(header + "Drift,performance/drift,m,elif.kaya,2,3,MEASURE 2.11\nLeak,privacy,,bob,3.5,5,A.7\n")
    good_file.write_text(header + good)

    refused = cli("risks", "import", "--db", str(db), str(bad_file), "--by", "elif.kaya")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error:") and "Traceback" not in refused.stderr
    assert "nothing was imported" in refused.stderr and "row 3, column likelihood" in refused.stderr
    assert "row 3, column owner: owner 'bob' has no account" in refused.stderr
    with GovernanceStore(db) as store:
        assert store.query_value("SELECT count(*) FROM risk_event") == 0

    imported = cli("risks", "import", "--db", str(db), str(good_file), "--by", "elif.kaya", "--json")
    assert imported.returncode == 0, imported.stderr
    assert [r["risk_id"] for r in json.loads(imported.stdout)["imported"]] == ["R-001", "R-002"]
    with GovernanceStore(db) as store:
        assert [r["title"] for r in risks.list_risks(store)] == ["Drift", "Leak"]
        assert verification.verify_register(store)["ok"]


def test_the_acting_account_and_its_role_decide(db, cli):
    add = ("risks", "add", "--db", str(db), "--title", "Drift", "--category", "performance/drift", "--owner",
           "elif.kaya", "--likelihood", "2", "--impact", "2")
    for by, message in (("nobody", identity.UNKNOWN_USER.format(name="nobody")),
                        ("hugo.tanaka", "acts as 'viewer'; edit risks needs the role")):
        refused = cli(*add, "--by", by)
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr
    assert cli(*add, "--by", "farid.haddad").returncode == 0
    assert cli("risks", "update", "--db", str(db), "R-001", "--status", "assessed", "--reason", "scored",
               "--by", "farid.haddad").returncode == 0
    accept = ("risks", "update", "--db", str(db), "R-001", "--status", "accepted", "--reason", "within appetite")
    refused = cli(*accept, "--by", "farid.haddad")
    assert refused.returncode == 2 and "acts as 'engineering leader'; accept risk needs the role" in refused.stderr
    accepted = cli(*accept, "--by", "amara.okafor", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["status"] == "accepted"
