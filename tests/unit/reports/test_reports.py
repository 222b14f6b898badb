"""The model version report (JSON): the governance record of one version, checked against the services and an
independent count, with small groups withheld."""

from __future__ import annotations

import hashlib
import json

import pytest

from governance import reports
from governance.errors import InvalidInputError
from governance.evidence import fairness
from governance.record import verification
from governance.record.store import GovernanceStore


@pytest.fixture(scope="module")
def report(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        yield reports.model_report(store, model="german-credit", version="v1")


def test_the_report_carries_the_versions_record(report, demo_workspace):
    assert (report["schema_version"], report["kind"]) == (1, "model")
    assert json.loads(json.dumps(report)) == report   # plain JSON values only
    with GovernanceStore(demo_workspace) as store:
        assert report["model_card"]["stage"] == store.query_value(
            "SELECT stage FROM model_version WHERE model = 'german-credit' AND version = 'v1'")
        audits = fairness.list_audits(store, model="german-credit", version="v1")
        assert [a["audit_id"] for a in report["fairness_audits"]] == list(audits["audit_id"])
        stored = fairness.get_audit(store, audit_id=report["fairness_audits"][0]["audit_id"])
        assert report["fairness_audits"][0]["evidence_hash"] == stored["evidence_hash"]
        assert report["ledger"] == verification.verify(store) and report["ledger"]["ok"]
    [decision] = report["decisions"]          # the demo's RV-0002, with Dolores Ruiz recused
    assert decision["decision"]["outcome"] == "approved"
    meanings = {s["printed_name"]: s["meaning"] for s in decision["signatures"]}
    assert meanings["Dolores Ruiz"] == "recused"
    for signature in decision["signatures"]:  # manifested: who, as what, when, meaning, why, on which evidence
        assert set(reports.SIGNATURE_FIELDS) <= set(signature) and all(signature[k] for k in reports.SIGNATURE_FIELDS)
        assert signature["evidence_hash"] == decision["evidence_hash"]
    assert report["risks"] and all(any(m.startswith("german-credit") for m in r["models"]) for r in report["risks"])
    assert report["privacy"] == {"suppress_below": 10, "note": None}   # the smallest group has 15 people


def test_groups_below_the_threshold_are_withheld(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        # independent count of the smallest group in the evaluation set the audit ran on
        small = store.query_value("SELECT count(*) FROM evaluation_row WHERE model = 'german-credit' AND "
                                  "version = 'v1' AND sensitive->>'foreign_worker' = 'no'")
        assert small == 15
        withheld = reports.model_report(store, model="german-credit", version="v1", suppress_below=small + 1)
        with pytest.raises(InvalidInputError, match="whole number from 1 to 1,000"):
            reports.model_report(store, model="german-credit", version="v1", suppress_below=0)
    groups = [g for a in withheld["fairness_audits"] for g in a["groups"]]
    hidden = [g for g in groups if g.get("suppressed")]
    assert [g["group"] for g in hidden] == [{"foreign_worker": "no"}]
    assert hidden[0]["n"] == f"< {small + 1}" and "metrics" not in hidden[0]
    assert all(isinstance(g["n"], int) and g["n"] > small for g in groups if not g.get("suppressed"))
    assert withheld["privacy"]["note"].startswith(f"Groups with fewer than {small + 1} people")


def test_the_cli_writes_the_report_and_says_what_it_wrote(demo_copy, tmp_path, cli):
    out = tmp_path / "report.json"
    result = cli("--db", demo_copy, "report", "--kind", "model", "--model", "adult-income", "--version", "v2",
                 "--format", "json", "--out", out, "--by", "farid.haddad", "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    assert written["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() and written["bytes"] > 1000
    document = json.loads(out.read_text())
    assert [d["decision"]["outcome"] for d in document["decisions"]] == ["rejected", "approved_with_conditions"]
    refused = cli("--db", demo_copy, "report", "--model", "adult-income", "--version", "v9", "--out", out,
                  "--by", "farid.haddad")
    assert refused.returncode == 2 and refused.stderr.startswith("error:") and "v9" in refused.stderr
