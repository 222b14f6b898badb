"""The register fed by monitoring, on the demo's real findings: proposals, links, idempotence, decisions.

The demo ships with a register that monitoring has already fed; these tests start from the demo's data with
an empty register, so that each finding is new."""

from __future__ import annotations

import json

import pytest

from governance.access import identity
from governance.decisions import risks
from governance.decisions.risk_proposals import findings, propose_from_monitoring
from governance.errors import InvalidInputError
from governance.evidence.fairness import list_audits
from governance.record import hash_chain, ledger_keys, verification
from governance.record.canonical import canonical_json
from governance.record.store import GovernanceStore

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}


def empty_register(path) -> None:
    """The demo's monitoring data as it was before anyone kept a register: its events removed, and the anchor
    signed again for the emptied register (as only a holder of the ledger key can), so the record verifies."""
    with GovernanceStore(path) as store:
        with store.write() as tx:
            tx.execute("DELETE FROM risk_event")
        key = ledger_keys.load()
        head = store.query_rows("SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1")[0]
        heads = {"ledger": {"seq": head[0], "hash": head[1]}, "risk register": {"seq": 0, "hash": "0" * 64}}
        hash_chain.anchor_path(store).write_text(json.dumps(
            {"chains": heads, "mac": key.mac(hash_chain.ANCHOR, canonical_json(heads))}))
    # closed and opened again before the next write: DuckDB's index only forgets the deleted keys then


@pytest.fixture
def store(demo_copy):
    empty_register(demo_copy)
    with GovernanceStore(demo_copy) as opened:
        yield opened


def test_findings_are_the_demos_episodes(store):
    found = findings(store)
    failing = set(list_audits(store).query("verdict == 'fail'")["audit_id"])
    assert {f.ref for f in found if f.kind == "fairness_audit"} == failing and failing
    drift = [f for f in found if f.kind == "drift"]
    assert {f.model for f in drift} == {"adult-income"}          # the drift episode is Adult's only
    for f in drift:   # only the shifted inputs (age, hours per week) and the score they move reach 'act'
        features = set(f.note.split(" in: ")[1].split(", "))
        assert "hours_per_week" in features and features <= {"age", "hours_per_week", "prediction score"}
    breached = {(f.model, f.note.split(",")[0]) for f in found if f.kind == "kpi_breach"}
    refs = " ".join(f.ref for f in found if f.kind == "kpi_breach")
    assert "latency_p95_ms 2026-09-14" in refs and "german-credit v1 error_rate 2026-08-10" in refs, breached


def test_each_finding_is_proposed_or_linked_once_and_never_duplicated(store):
    found = findings(store)
    result = propose_from_monitoring(store)
    register = risks.list_risks(store)
    assert [r["risk_id"] for r in register] == result["proposed"]
    assert all(r["status"] == "proposed" and r["created_by"] == identity.MONITORING.display_name
               and r["owner"] is None for r in register)
    # one open risk per (model, category): later findings of the same kind are linked to it as evidence
    keys = [(r["models"][0].split(" ")[0], r["category"]) for r in register]
    assert len(keys) == len(set(keys))
    evidence = sorted((e["kind"], e["ref"]) for r in register for e in r["evidence"])
    assert evidence == sorted((f.kind, f.ref) for f in found)
    assert len(result["linked"]) == len(found) - len(result["proposed"])
    again = propose_from_monitoring(store)
    assert again == {"proposed": [], "linked": []}
    assert verification.verify_register(store)["ok"]


def test_a_person_accepts_or_dismisses_a_proposal_with_a_reason(store):
    first, second = propose_from_monitoring(store)["proposed"][:2]
    amara = PEOPLE["amara.okafor"]
    with pytest.raises(InvalidInputError, match="say why"):
        risks.update_risk(store, risk_id=first, changes={"status": "dismissed"}, actor=amara, reason=" ")
    with pytest.raises(InvalidInputError, match="not to 'mitigating'"):
        risks.update_risk(store, risk_id=first, changes={"status": "mitigating"}, actor=amara, reason="why not")
    with pytest.raises(InvalidInputError, match="needs an owner"):
        risks.update_risk(store, risk_id=first, changes={"status": "identified"}, actor=amara, reason="real")
    kept = risks.update_risk(store, risk_id=first, changes={"status": "identified", "owner": "elif.kaya"},
                             actor=amara, reason="confirmed against the audit")
    gone = risks.update_risk(store, risk_id=second, changes={"status": "dismissed"}, actor=amara,
                             reason="known, covered by R-001")
    assert (kept["status"], kept["owner"]) == ("identified", "elif.kaya") and gone["status"] == "dismissed"
    assert gone["status_reason"] == "known, covered by R-001"
    assert [e["field"] for e in risks.history(store, risk_id=second)][-1] == "status"


def test_a_failing_audit_of_an_uploaded_file_is_left_out_it_names_no_model(store):
    from governance.evidence import fairness
    from governance.evidence.fairness_inputs import frame_data

    # 40 women, 10 selected; 40 men, 30 selected: fails the four-fifths rule, and names no model
    rows = [(sex, int(i < selected), int(i < selected)) for sex, selected in (("F", 10), ("M", 30)) for i in range(40)]
    sex, truth, predicted = zip(*rows)
    data = frame_data(y_true=truth, y_pred=predicted, sensitive={"sex": sex}, name="decisions.csv")
    audit = fairness.run_new_audit(store, data=data, actor=PEOPLE["farid.haddad"], sensitive=["sex"], bootstrap=200)
    assert audit["verdict"] == "fail" and audit["definition"]["source"]["model"] is None

    assert audit["audit_id"] not in {f.ref for f in findings(store)}
    result = propose_from_monitoring(store)        # before: "there is no model 'nan nan'", for everyone
    assert result["proposed"]
    register = risks.list_risks(store)
    assert not any(audit["audit_id"] == e["ref"] for r in register for e in r["evidence"])
    assert all("nan" not in m for r in register for m in r["models"])
