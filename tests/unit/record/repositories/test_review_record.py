"""The review and committee repositories (governance/record/repositories/reviews.py, committee.py): what the
services read of the record, checked against the services' own answers and the ledger."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from governance.decisions import committee, review_state, voting
from governance.record import ledger
from governance.record.repositories import committee as committee_record, reviews as review_record
from governance.record.store import GovernanceStore
from tests.unit.decisions.test_signoffs import BEN, DEMO, FARID, GRACE, light_workspace


@pytest.fixture
def ws(tmp_path):
    with GovernanceStore(light_workspace(tmp_path / "ws.duckdb")) as store:
        yield store


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
