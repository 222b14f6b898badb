"""How the demo's versions reach their stages: german-credit v1 through the service, whose gate passes; adult-income
v1 and v2 by the demo's set-up, with the gate's refusal on the record; and the one condition met in the demo
recorded by someone other than its owner and the review's requester."""

from __future__ import annotations

import pytest

from governance.decisions import release_gate, review_state
from governance.record import ledger, record_state
from governance.record.store import GovernanceStore


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


def test_each_move_says_whether_the_gate_let_it_through(store):
    moves = {(e["payload"]["model"], e["payload"]["version"]): e for e in ledger.entries(store, kind="stage_change")}
    assert sorted(moves) == [("adult-income", "v1"), ("adult-income", "v2"), ("german-credit", "v1")]

    german = moves[("german-credit", "v1")]
    assert german["actor"] == "farid.haddad (engineering leader)"
    assert german["payload"]["gate"] == {"ok": True, "reasons": []}
    assert release_gate.gate_findings(store, model="german-credit", version="v1", stage="production")["ok"]

    for version, stage in (("v1", "production"), ("v2", "staging")):
        move = moves[("adult-income", version)]
        assert move["actor"] == "demo set-up" and move["payload"]["to_stage"] == stage
        gate = move["payload"]["gate"]
        assert gate["ok"] is False and gate["reasons"]
        assert all(r.startswith(("checklist:", "blocking risk")) for r in gate["reasons"])
        # what the service would answer now, for the same stage
        assert gate["reasons"] == release_gate.gate_findings(store, model="adult-income", version=version,
                                                             stage=stage)["reasons"]
    assert record_state.differences(store) == []


def test_the_met_condition_was_not_closed_by_its_owner_or_requester(store):
    reviews = [review_state.review(store, review_id=s["review_id"]) for s in review_state.list_reviews(store)]
    closed = [(r, c) for r in reviews for c in r["conditions"] if c["status"] != "open"]
    assert len(closed) == 1
    review, condition = closed[0]
    owner_and_requester = {condition["owner"], review["request"]["requested_by_user"]}
    closer = next(e["actor"] for e in ledger.entries(store, kind="condition_update")
                  if e["payload"]["condition_id"] == condition["condition_id"])
    assert condition["updated_by"] == "Amara Okafor (committee chair)" and condition["update_reason"]
    assert not any(name in closer for name in owner_and_requester), (closer, owner_and_requester)
