"""The tables the ledger must agree with (a version's stage, the committee's members and rules): every edit made
behind the services' back is named, one sentence each, and a workspace the services wrote has none.

The workspaces are real: a model registered through model_registry, a committee and its rules set through the
sign-off services, and the demo built by the test session. The expected sentences are built from the ledger read
apart from record_state (plain SQL over the `ledger` table), so a wrong fold cannot agree with itself."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance.access import identity
from governance.decisions import committee
from governance.evidence import model_registry
from governance.record import record_state
from tests.conftest import ENGINES, open_workspace
from tests.unit.record.repositories.conftest import open_engine

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
GRACE = PEOPLE["grace.lindqvist"]   # the demo's admin


def _model_file() -> bytes:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.normal(size=200), "age": rng.normal(size=200)})
    return sio.dumps(LogisticRegression().fit(frame, (frame["income"] > 0).astype(int)))


@pytest.fixture(params=ENGINES)
def ws(request, tmp_path):
    """A workspace written only by the services, on each engine: a registered version (stage development), the
    demo's people, the committee (chair and three members, added by the admin), and two rules set."""
    with open_engine(request.param, tmp_path=tmp_path, request=request) as store:
        with store.write() as tx:
            identity.seed_demo_users(store, tx)
        model_registry.register_model(store, model="m", version="v1", content=_model_file(), file_name="m.skops",
                                      actor=GRACE)
        committee.seed_demo_committee(store)
        committee.set_rule(store, key="quorum_fraction", value="0.6", actor=GRACE)
        committee.set_rule(store, key="decision_validity_days", value="180", actor=GRACE)
        yield store


def _entries(store, kind: str) -> list[tuple[int, dict]]:
    """(seq, payload) of every ledger entry of a kind, oldest first: read straight from the table."""
    return [(seq, json.loads(payload)) for seq, payload in
            store.query_rows("SELECT seq, payload FROM ledger WHERE kind = ? ORDER BY seq", [kind])]


def _added_seq(store, user: str) -> int:
    return max(seq for seq, p in _entries(store, "committee_change") if p["change"] == "add" and p["user_name"] == user)


def _rule_seq(store, key: str) -> int:
    return max(seq for seq, p in _entries(store, "committee_change") if p["change"] == "rule" and p["key"] == key)


# DuckDB's INSERT OR REPLACE as both engines take it.
REPLACE_MEMBER = ("INSERT INTO committee_member VALUES {values} ON CONFLICT (user_name) "
                  "DO UPDATE SET added_at = excluded.added_at, added_by = excluded.added_by")


def _edit(store, sql: str, params=()) -> None:
    with store.write() as tx:
        tx.execute(sql, list(params))


def test_a_workspace_the_services_wrote_has_no_difference(ws):
    assert len(committee.members(ws)) == 4 and committee.rules(ws)["quorum_fraction"] == 0.6
    assert record_state.differences(ws) == []


def test_the_demo_has_no_difference(demo_on_engine):
    with open_workspace(demo_on_engine) as store:
        assert record_state.differences(store) == []


def test_a_stage_set_by_update_on_a_version_never_moved_is_named(ws):
    assert ws.query_value("SELECT stage FROM model_version WHERE model = 'm'") == "development"
    _edit(ws, "UPDATE model_version SET stage = 'production' WHERE model = 'm' AND version = 'v1'")
    assert record_state.differences(ws) == [
        "model_version m v1: the table says stage 'production' but the ledger holds no stage change for it, so it "
        "is still at the stage it was registered with, 'development'"]


def test_the_issues_attack_rejected_v2_set_to_production_by_update_is_named(demo_on_engine):
    with open_workspace(demo_on_engine) as store:
        moves = [(seq, p) for seq, p in _entries(store, "stage_change")
                 if (p["model"], p["version"]) == ("adult-income", "v2")]
        seq, last = moves[-1]
        assert last["to_stage"] == "staging"
        assert record_state.differences(store) == []
        _edit(store, "UPDATE model_version SET stage = 'production' WHERE model = 'adult-income' AND version = 'v2'")
        assert record_state.differences(store) == [
            f"model_version adult-income v2: the table says stage 'production' but the ledger's stage changes end at "
            f"'staging' (entry {seq})"]


def test_a_member_deleted_behind_the_services_back_is_named(ws):
    seq = _added_seq(ws, "ben.hartmann")
    _edit(ws, "DELETE FROM committee_member WHERE user_name = 'ben.hartmann'")
    assert record_state.differences(ws) == [
        f"committee_member ben.hartmann: the table does not list ben.hartmann, but the ledger added them (entry {seq}) "
        "and never removed them"]


def test_a_member_inserted_or_replaced_behind_the_services_back_is_named(ws):
    now = datetime.now()
    _edit(ws, REPLACE_MEMBER.format(values="('elif.kaya', ?, 'grace.lindqvist')"), [now])
    assert record_state.differences(ws) == [
        "committee_member elif.kaya: the table lists elif.kaya on the committee but no ledger entry adds them"]
    _edit(ws, "DELETE FROM committee_member WHERE user_name = 'elif.kaya'")
    assert record_state.differences(ws) == []

    # the same member, replaced with another adder: who added them is part of the record
    seq = _added_seq(ws, "chen.wei")
    added_at = ws.query_value("SELECT added_at FROM committee_member WHERE user_name = 'chen.wei'")
    _edit(ws, REPLACE_MEMBER.format(values="('chen.wei', ?, 'amara.okafor')"), [added_at])
    assert record_state.differences(ws) == [
        f"committee_member chen.wei: the table says added_by 'amara.okafor' but the ledger says 'grace.lindqvist' "
        f"(entry {seq})"]
    earlier = datetime(2020, 1, 1, 9, 30)   # and when: backdated membership is an edit too
    _edit(ws, REPLACE_MEMBER.format(values="('chen.wei', ?, 'grace.lindqvist')"), [earlier])
    assert record_state.differences(ws) == [
        f"committee_member chen.wei: the table says added_at '2020-01-01T09:30:00' but the ledger says "
        f"'{pd.Timestamp(added_at).isoformat()}' (entry {seq})"]


def test_a_removed_member_put_back_by_insert_is_named(ws):
    committee.remove_member(ws, user_name="dolores.ruiz", actor=GRACE)
    assert record_state.differences(ws) == []
    removal = max(seq for seq, p in _entries(ws, "committee_change") if p["change"] == "remove")
    _edit(ws, "INSERT INTO committee_member VALUES ('dolores.ruiz', ?, 'grace.lindqvist')", [datetime.now()])
    assert record_state.differences(ws) == [
        f"committee_member dolores.ruiz: the table lists dolores.ruiz on the committee but the ledger removed them "
        f"(entry {removal})"]
    assert "dolores.ruiz" in {m["user_name"] for m in committee.members(ws)}   # what the tallies would count


def test_rules_replaced_deleted_or_inserted_behind_the_services_back_are_named(ws):
    quorum, validity = _rule_seq(ws, "quorum_fraction"), _rule_seq(ws, "decision_validity_days")
    _edit(ws, "INSERT INTO committee_rule VALUES ('quorum_fraction', '0.2') "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    _edit(ws, "DELETE FROM committee_rule WHERE key = 'decision_validity_days'")
    _edit(ws, "INSERT INTO committee_rule VALUES ('chair_required', 'false')")
    assert record_state.differences(ws) == [
        "committee_rule chair_required: the table says 'false' but the ledger never set this rule, so its default "
        "applies",
        f"committee_rule decision_validity_days: the table has no row (so the default applies) but the ledger set it "
        f"to '180' (entry {validity})",
        f"committee_rule quorum_fraction: the table says '0.2' but the ledger set it to '0.6' (entry {quorum})"]


def test_every_difference_is_listed_at_once(ws):
    _edit(ws, "UPDATE model_version SET stage = 'staging'")
    _edit(ws, "DELETE FROM committee_member")
    _edit(ws, "DELETE FROM committee_rule")
    found = record_state.differences(ws)
    assert len(found) == 1 + 4 + 2
    assert [f.split(":")[0] for f in found] == (
        ["model_version m v1"] + [f"committee_member {u}" for u in
                                  sorted(("amara.okafor", "ben.hartmann", "chen.wei", "dolores.ruiz"))]
        + ["committee_rule decision_validity_days", "committee_rule quorum_fraction"])
