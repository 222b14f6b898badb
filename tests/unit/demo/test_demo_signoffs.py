"""The demo's review history: the committee's decisions on the three demo versions, written through the sign-off
services into the ledger, with a conditional approval, a rejection, a recusal and a decision the drift made stale;
the ledger verifies on the demo and on a copy, and the versions end at the stages the inventory shows."""

from __future__ import annotations

import pytest

from governance.access import identity
from governance.decisions import committee, review_state
from governance.record import ledger, verification
from governance.record.store import GovernanceStore


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


@pytest.fixture(scope="module")
def reviews(store) -> list[dict]:
    """Every review folded, oldest first."""
    return [review_state.review(store, review_id=r["review_id"]) for r in reversed(review_state.list_reviews(store))]


def _only(reviews, **match) -> list[dict]:
    return [r for r in reviews if all(r[k] == v for k, v in match.items())]


def test_the_committee_is_the_demos_chair_and_members(store):
    assert {m["user_name"] for m in committee.members(store)} == {
        u.user_name for u in identity.DEMO_USERS if u.role in committee.COMMITTEE_ROLES}


def test_adult_v1_approved_and_the_pre_drift_approval_is_stale(reviews):
    v1 = _only(reviews, model="adult-income", version="v1", gate="production")
    assert [r["decision"]["outcome"] for r in v1] == ["approved", "approved"]
    stale, current = v1
    assert stale["as_of"] < "2026-08-30" and stale["validity"]["state"] == "stale"
    assert stale["validity"]["re_review_required"]
    assert any("drift of 'hours_per_week'" in reason and "'act'" in reason for reason in stale["validity"]["reasons"])
    assert not stale["evidence"]["drift"]["features"]  # the committee saw no drift when it approved
    assert current["validity"]["state"] == "valid"
    assert any(f["status"] == "act" for f in current["evidence"]["drift"]["features"])
    assert current["decision"]["dissent"]  # the re-review was not unanimous


def test_adult_v2_approved_for_staging_with_conditions(reviews):
    (staging,) = _only(reviews, model="adult-income", version="v2", gate="staging")
    assert staging["decision"]["outcome"] == "approved_with_conditions"
    assert staging["validity"]["state"] == "valid" and not staging["validity"]["flagged"]
    conditions = staging["conditions"]
    assert len(conditions) >= 2
    assert all(c["owner"] in {u.user_name for u in identity.DEMO_USERS} and c["due"] for c in conditions)
    statuses = {c["status"] for c in conditions}
    assert statuses == {"open", "met"}
    met = next(c for c in conditions if c["status"] == "met")
    assert met["updated_by"] and met["update_reason"]


def test_adult_v2_rejected_for_production_on_latency_and_fairness(reviews):
    (production,) = _only(reviews, model="adult-income", version="v2", gate="production")
    decision = production["decision"]
    assert decision["outcome"] == "rejected" and production["validity"]["state"] == "rejected"
    reasons = " ".join(v["reason"] for v in production["votes"] if v["vote"] == "reject")
    assert "FA-0002" in reasons and "latency" in reasons
    assert any(b["kpi"] == "latency_p95_ms" for b in production["evidence"]["kpis"]["breaches"])
    assert {a["audit_id"]: a["verdict"] for a in production["evidence"]["fairness_audits"]} == {"FA-0002": "fail"}
    assert decision["dissent"]  # one member approved


def test_german_credit_approved_with_a_recusal(reviews):
    (german,) = _only(reviews, model="german-credit", version="v1", gate="production")
    assert german["decision"]["outcome"] == "approved"
    recused = [v for v in german["votes"] if v["vote"] == "recuse"]
    assert len(recused) == 1 and "conflict of interest" in recused[0]["reason"].lower()
    assert german["tally"]["recusals"] == 1 and german["tally"]["members"] == 3


def test_every_vote_is_a_demo_signature_bound_to_its_evidence(reviews):
    votes = [v for r in reviews for v in r["votes"]]
    assert votes and all(v["bound_to_evidence"] and v["auth_method"] == "demo" for v in votes)
    assert all(len(v["reason"]) > 40 for v in votes)  # reasons, not placeholders


def test_final_stages_are_the_inventorys_and_each_move_is_in_the_ledger(store, reviews):
    assert store.query_rows("SELECT model, version, stage FROM model_version ORDER BY 1, 2") == [
        ("adult-income", "v1", "production"), ("adult-income", "v2", "staging"),
        ("german-credit", "v1", "production")]
    moves = [e["payload"] for e in ledger.entries(store, kind="stage_change")]
    assert sorted((m["model"], m["version"], m["from_stage"], m["to_stage"]) for m in moves) == [
        ("adult-income", "v1", "staging", "production"), ("adult-income", "v2", "validation", "staging"),
        ("german-credit", "v1", "staging", "production")]
    approved = {r["review_id"]: r for r in reviews if r["decision"]["outcome"] != "rejected"}
    for m in moves:  # each on a valid approval for that very gate, never on the stale one
        used = approved[m["review_id"]]
        assert (used["model"], used["version"], used["gate"]) == (m["model"], m["version"], m["to_stage"])
        assert used["validity"]["state"] == "valid" and m["evidence_hash"] == used["evidence_hash"]


def test_the_ledger_verifies_on_the_demo_and_on_a_copy(store, demo_copy):
    assert verification.verify(store)["ok"], verification.verify(store)
    with GovernanceStore(demo_copy) as copy:
        result = verification.verify(copy)
        assert result["ok"], result
        assert result["entries"] == verification.verify(store)["entries"] > 0
