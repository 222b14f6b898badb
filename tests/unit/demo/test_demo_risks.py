"""The demo's risk register: a realistic mix of states, owners who are the demo's people, overdue work, accepted
and closed risks, monitoring's proposals with their evidence, and an intact hash chain."""

from __future__ import annotations

from collections import Counter

import pytest

from governance.access import identity
from governance.decisions import risks
from governance.decisions.risk_proposals import propose_from_monitoring
from governance.evidence.fairness import list_audits
from governance.record import verification
from governance.record.store import GovernanceStore


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


@pytest.fixture(scope="module")
def register(store) -> list[dict]:
    return risks.list_risks(store)


def test_the_register_has_a_realistic_mix(register):
    assert 14 <= len(register) <= 20
    statuses = Counter(r["status"] for r in register)
    assert statuses["accepted"] >= 2 and statuses["closed"] >= 1 and statuses["withdrawn"] >= 1
    assert statuses["dismissed"] == 1 and statuses["proposed"] >= 1
    assert sum(statuses[s] for s in ("identified", "assessed", "mitigating")) >= 6
    assert {m.split(" ")[0] for r in register for m in r["models"]} == {"adult-income", "german-credit"}
    assert any(r["review_overdue"] for r in register) and any(r["overdue_controls"] for r in register)
    assert any(c["status"] == "done" for r in register for c in r["controls"])
    assert all(r["residual_score"] for r in register if r["status"] == "accepted")


def test_owners_and_actors_are_the_demos_people(store, register):
    people = {u.user_name for u in identity.DEMO_USERS}
    assert {r["owner"] for r in register if r["status"] not in ("proposed", "dismissed")} <= people
    assert {c["owner"] for r in register for c in r["controls"]} <= people
    for r in register:
        if r["status"] == "accepted":   # by someone whose role may accept, with a reason
            last = [e for e in risks.history(store, risk_id=r["risk_id"]) if e["field"] == "status"][-1]
            assert last["actor"].split(" (")[1].rstrip(")") in identity.PERMISSIONS["accept risk"]
            assert r["status_reason"]


def test_monitoring_proposed_with_evidence_and_a_person_decided_some(store, register):
    monitoring = [r for r in register if r["created_by"] == identity.MONITORING.display_name]
    assert {r["status"] for r in monitoring} == {"proposed", "identified", "dismissed"}
    waiting = [r for r in monitoring if r["status"] == "proposed"]
    assert waiting and all(r["evidence"] and r["owner"] is None for r in waiting)
    accepted = next(r for r in monitoring if r["status"] == "identified")
    assert accepted["owner"] and accepted["category"] == "performance/drift"
    # the failing fairness audits are evidence on the register, by their real ids
    failing = set(list_audits(store).query("verdict == 'fail'")["audit_id"])
    assert failing <= {e["ref"] for r in register for e in r["evidence"] if e["kind"] == "fairness_audit"}


def test_every_clause_exists_and_the_chain_is_intact(store, register):
    # recording the register loaded the framework clauses, so reading them writes nothing here
    assert store.query_value("SELECT count(*) FROM framework_clause")
    known = set(risks.clauses(store)["ref_id"])
    assert {c for r in register for c in r["clauses"]} <= known
    assert verification.verify_register(store)["ok"]


def test_monitoring_finds_nothing_new_in_the_demo(demo_copy):
    with GovernanceStore(demo_copy) as store:
        assert propose_from_monitoring(store) == {"proposed": [], "linked": []}
