"""The review and committee repositories (governance/record/repositories/reviews.py, committee.py): what the
services read of the record, checked against the services' own answers and the ledger, on both engines."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from governance.access import identity
from governance.decisions import committee, review_state, voting
from governance.record import ledger
from governance.record.repositories import committee as committee_record, reviews as review_record
from tests.unit.decisions.test_signoffs import BEN, DEMO, FARID, GRACE


@pytest.fixture
def ws(engine_store):
    """What test_signoffs.light_workspace writes into a DuckDB file (model m, version v1 at staging, the demo's
    people and committee), written into each engine (conftest.py)."""
    store = engine_store
    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
        tx.execute("INSERT INTO model_version VALUES ('m', 'v1', 'lr', 'd', now(), 'staging', '{}')")
        identity.seed_demo_users(store, tx)
        ledger.append(store, actor="test set-up", kind="stage_change", subject="m v1",
                      payload={"model": "m", "version": "v1", "from_stage": "development", "to_stage": "staging"},
                      idempotency_key="stage_change:m:v1:staging:set-up")
    committee.seed_demo_committee(store)
    return store


def test_committee_record_is_what_the_service_shows(ws):
    stored = committee_record.members(ws)
    shown = committee.members(ws)
    assert [m.user_name for m in stored] == [m["user_name"] for m in shown]
    assert [(m.display_name, m.role, m.added_by) for m in stored] == [
        (m["display_name"], m["role"], m["added_by"]) for m in shown]
    assert set(asdict(stored[0])) == {"user_name", "display_name", "role", "added_at", "added_by"}
    assert committee_record.is_member(ws, user_name=BEN.user_name)
    assert not committee_record.is_member(ws, user_name=FARID.user_name)
    assert committee_record.changes_recorded(ws) == len(ledger.entries(ws, kind="committee_change")) == 4
    assert committee_record.stored_rules(ws) == {}
    committee.set_rule(ws, key="quorum_fraction", value="0.6", actor=GRACE)
    assert committee_record.stored_rules(ws) == {"quorum_fraction": "0.6"}


@pytest.mark.parametrize("engine_store", [
    "duckdb", "postgresql"], indirect=True)
def test_review_record_holds_the_reviews_entries(ws):
    assert review_record.review_record(ws, review_id="RV-0001") is None
    assert review_record.requests_recorded(ws) == 0
    made = review_state.request_review(ws, model="m", version="v1", gate="production", actor=FARID)
    voting.vote(ws, review_id=made["review_id"], actor=BEN, vote="approve", reason="fine", reauth=DEMO)
    found = review_record.review_record(ws, review_id=made["review_id"])
    assert found.request["payload"]["evidence_hash"] == made["evidence_hash"]
    assert [s["payload"]["user_name"] for s in found.signatures] == [BEN.user_name]
    assert found.decision is None and found.condition_updates == ()
    assert review_record.requests_recorded(ws) == 1


def test_stage_of_reads_the_version_table(ws):
    assert review_record.stage_of(ws, model="m", version="v1") == "staging"
    assert review_record.stage_of(ws, model="m", version="v9") is None
