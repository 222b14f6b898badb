"""The demo tells the gate's story: german-credit v1 completes its validation checklist on the record and passes
its production gate; the adult-income versions fail theirs for the reasons their own history gives; the Overview's
list of versions serving outside their gate is exactly those, and reading it records nothing."""

from __future__ import annotations

import pytest

from governance.decisions import release_gate, risks
from governance.evidence import robustness
from governance.record import ledger
from governance.record.store import GovernanceStore


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


def test_german_credit_v1_passes_its_production_gate(store):
    found = release_gate.gate_findings(store, model="german-credit", version="v1", stage="production")
    assert found["ok"], found["reasons"]
    assert [i["item"] for i in found["checklist"] if i["done"]] == list(release_gate.CHECKLIST)
    assert found["decision"]["outcome"] == "approved" and found["blocking_risks"] == []


def test_its_checklist_was_completed_by_the_demos_people_on_the_record(store):
    run = robustness.list_runs(store, model="german-credit", version="v1")[0]
    assert run["verdict"] == "pass" and run["defined_by"].startswith("farid.haddad")
    detail = robustness.get_run(store, run_id=run["run_id"])
    assert detail["defined_at"] <= detail["ran_at"]          # criteria locked before any result existed
    attested = {e["payload"]["item"]: e["payload"]["by"]
                for e in ledger.entries(store, kind="checklist_attestation", subject="german-credit v1")}
    assert attested == {"explanation reviewed": "Farid Haddad", "risks reviewed": "Elif Kaya"}
    too_small = next(r for r in risks.list_risks(store, model="german-credit", version="v1")
                     if r["title"].startswith("Minority foreign-worker group"))
    assert too_small["status"] == "accepted"
    acceptance = [e for e in risks.history(store, risk_id=too_small["risk_id"])
                  if e["field"] == "status" and e["new_value"] == "accepted"]
    assert acceptance and "supplementary sample" in acceptance[-1]["reason"]


@pytest.mark.parametrize(("version", "stage", "audit"), [("v1", "production", "FA-0001"), ("v2", "staging", "FA-0002")])
def test_adult_income_fails_for_the_reasons_its_history_gives(store, version, stage, audit):
    found = release_gate.gate_findings(store, model="adult-income", version=version, stage=stage)
    assert not found["ok"]
    reasons = " | ".join(found["reasons"])
    assert f"fairness not done ({audit}" in reasons
    assert "robustness not done (no robustness run" in reasons
    assert "blocking risk" in reasons


def test_serving_outside_their_gate_lists_exactly_the_failing_versions_and_records_nothing(store):
    before = len(ledger.entries(store))
    outside = release_gate.serving_outside_their_gate(store)
    assert [(f.model, f.version, f.stage) for f in outside] == [("adult-income", "v1", "production"),
                                                                ("adult-income", "v2", "staging")]
    for f in outside:
        assert list(f.reasons) == release_gate.gate_findings(store, model=f.model, version=f.version,
                                                             stage=f.stage)["reasons"]
    assert len(ledger.entries(store)) == before
