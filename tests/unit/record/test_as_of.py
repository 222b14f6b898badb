"""The record as it stood at the end of a day (issue 26): after changes made through the services over six days,
the record as of each day equals a snapshot of the live record taken through the ordinary read services at the end
of that day, on either engine (DuckDB, PostgreSQL).

The workspace clock (governance.record.clock, the one clock) is moved from day to day, so every entry, event and
row is stamped on the day it was made. The snapshots are read from the live services and tables while each day
ends; `record_as_of` is asked only afterwards, on the finished workspace, so it can only answer from what the
ledger and the risk register recorded (a fold that ignored the cut-off, a validity judged on the wrong day or a
committee read from today's table would differ from some day's snapshot)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance import alerts
from governance.access import identity, tokens
from governance.decisions import committee, release_gate, review_state, risks, voting
from governance.errors import InvalidInputError
from governance.evidence import explanations, fairness, fairness_policy, model_registry, robustness
from governance.evidence.fairness_inputs import evaluation_set_data
from governance.monitoring import inventory
from governance.record import as_of as record_cutoff, clock, ledger, verification
from governance.record.repositories import reviews as review_rows
from governance.record.postgres_store import PostgresStore
from governance.record.store import GovernanceStore
from governance.reports.as_of import account_dict, record_as_of
from tests.conftest import ENGINES

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
GRACE, FARID, CHAIR, BEN, CHEN, ELIF = (PEOPLE[n] for n in ("grace.lindqvist", "farid.haddad", "amara.okafor",
                                                            "ben.hartmann", "chen.wei", "elif.kaya"))
DAYS = [date(2026, 11, 2) + timedelta(days=n) for n in range(6)]
DEMO = {"method": "demo"}


def _files() -> tuple[bytes, bytes]:
    """A small logistic regression and its held-out evaluation set."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.normal(size=300), "age": rng.normal(size=300)})
    y = (frame["income"] + 0.3 * rng.normal(size=300) > 0).astype(int)
    fitted = LogisticRegression().fit(frame, y)
    evaluation = frame.assign(y_true=y, sex=np.where(rng.random(300) < 0.5, "f", "m"))
    return sio.dumps(fitted), evaluation.to_csv(index=False).encode()


def first_day(store, *, risk_owner: str) -> None:
    """Day 1 of the small as-of workspaces of the CLI and page tests: the demo's people, model m v1 with its
    evaluation set, the demo committee, and risk R-001 of m scored 3 × 3 (owned by `risk_owner`)."""
    people = {u.user_name: u for u in identity.DEMO_USERS}
    content, evaluation = _files()
    with store.write() as tx:
        identity.seed_demo_users(store, tx)
    model_registry.register_model(store, model="m", version="v1", content=content, file_name="m.skops",
                                  actor=people["grace.lindqvist"], evaluation=evaluation, evaluation_name="eval.csv")
    committee.seed_demo_committee(store)
    risks.add_risk(store, risk=risks.NewRisk(title="Proxy bias", category="fairness/bias", owner=risk_owner,
                                             likelihood=3, impact=3, models=["m"]), actor=people["farid.haddad"])


class Clock:
    """The workspace clock, set by the test: every service reads clock.now()."""

    def __init__(self, monkeypatch):
        self.moment = datetime.combine(DAYS[0], time(8), tzinfo=timezone.utc)
        monkeypatch.setattr(clock, "now", lambda: self.moment)

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        self.moment = datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def _move(store, *, model: str, version: str, to_stage: str, review: dict) -> None:
    """A stage change on an approval, as the demo's set-up writes one (the gate's checklist needs evidence this
    small workspace does not hold): the row and its ledger entry in one write."""
    with store.write() as tx:
        from_stage = review_rows.stage_of(store, model=model, version=version)
        review_rows.move_stage(tx, model=model, version=version, stage=to_stage)
        ledger.append(store, actor="test set-up", kind="stage_change", subject=f"{model} {version}",
                      payload={"model": model, "version": version, "from_stage": from_stage, "to_stage": to_stage,
                               "review_id": review["review_id"], "evidence_hash": review["evidence_hash"],
                               "reason": "approved", "changed_at": clock.now_iso_seconds()},
                      idempotency_key=f"stage_change:{model}:{version}:{to_stage}")


def _vote(store, review_id: str, user, vote: str = "approve", **kw) -> dict:
    return voting.vote(store, review_id=review_id, actor=user, vote=vote, reason="read the evidence", reauth=DEMO,
                       **kw)


# --- the live record, read as the pages and the CLI read it --------------------------------------------------------
def _token_fields(t: tokens.TokenInfo) -> tuple:
    """What the ledger holds of a token (its last use and the account name of who issued it are the table's)."""
    return (t.token_id, t.name, t.user_name, t.prefix, t.created_at.replace(microsecond=0),
            t.expires_at and t.expires_at.replace(microsecond=0), t.revoked_at and t.revoked_at.replace(microsecond=0),
            t.state)


def _account_fields(account: identity.Account) -> tuple:
    """What the ledger holds of an account (the e-mail address is the table's only)."""
    return (account.user, account.disabled)


def snapshot(store) -> dict:
    versions = inventory.list_versions(store)
    models = sorted(versions["model"].unique())
    audits = fairness.list_audits(store)
    return {
        "stages": {(r.model, r.version): r.stage for r in versions.itertuples()},
        "reviews": review_state.list_reviews(store),
        "review_details": [review_state.review(store, review_id=r["review_id"]) for r in
                           review_state.list_reviews(store)],
        "risks": risks.list_risks(store),
        "fairness_policies": {m: fairness_policy.policy_in_force(store, model=m).as_dict() for m in models},
        "retraining_policies": {m: release_gate.policy(store, model=m) for m in models},
        "alert_rules": {m: alerts.rules(store, model=m) for m in models},
        "alert_schedule": alerts.schedule(store),
        "accounts": [_account_fields(a) for a in identity.accounts(store)],
        "committee": committee.members(store),
        "committee_rules": committee.rules(store),
        "tokens": [_token_fields(t) for t in tokens.list_tokens(store)],
        "fairness_audits": [(a["audit_id"], a["verdict"]) for a in audits.to_dict("records")],
        "robustness_runs": [(r["run_id"], r["status"], r["verdict"]) for r in robustness.list_runs(store)],
        "explanations": sorted(e["explanation_id"] for m, v in versions[["model", "version"]].itertuples(index=False)
                               for e in [explanations.stored_explanation(store, model=m, version=v, rows=40)] if e),
    }


def as_of_view(store, day: date) -> dict:
    found = record_as_of(store, day=day)
    before = found.before
    return {
        "stages": found.stages,
        "reviews": found.reviews,
        "review_details": [review_state.review(store, review_id=r["review_id"], today=day, before=before)
                           for r in found.reviews],
        "risks": found.risks,
        "fairness_policies": found.fairness_policies,
        "retraining_policies": found.retraining_policies,
        "alert_rules": found.alert_rules,
        "alert_schedule": found.alert_schedule,
        "accounts": [_account_fields(a) for a in found.accounts],
        "committee": found.committee,
        "committee_rules": found.committee_rules,
        "tokens": [_token_fields(t) for t in found.tokens],
        "fairness_audits": [(a["audit_id"], a["verdict"]) for a in found.fairness_audits],
        "robustness_runs": [(r["run_id"], r["status"], r["verdict"]) for r in found.robustness_runs],
        "explanations": sorted(e["explanation_id"] for e in found.explanations),
    }


# --- six days of changes ---------------------------------------------------------------------------------------------
def _workspace(engine: str, folder, request):
    """A new workspace on `engine`, and how to drop it afterwards: a DuckDB file, or a database of its own on the
    test worker's PostgreSQL server (module-scoped, so not postgres_url's per-test database)."""
    if engine == "duckdb":
        return GovernanceStore(folder / "ws.duckdb"), lambda: None
    server = request.getfixturevalue("postgres_server")
    name = f"t_as_of_{uuid.uuid4().hex[:12]}"
    return PostgresStore(server.create_database(name), lake=folder / "lake"), lambda: server.drop_database(name)


@pytest.fixture(scope="module", params=ENGINES)
def history(request, tmp_path_factory):
    """The workspace after six days of changes, and the snapshot taken at the end of each day, on each engine."""
    monkeypatch = pytest.MonkeyPatch()
    opened, drop = _workspace(request.param, tmp_path_factory.mktemp("as_of"), request)
    now = Clock(monkeypatch)
    content, evaluation = _files()
    snapshots = {}
    try:
        with opened as store:
            d1, d2, d3, d4, d5, d6 = DAYS
            # day 1: people, a model, the committee and its rules, a risk, alert rules, a retraining policy
            now.at(d1, 9)
            with store.write() as tx:
                identity.seed_demo_users(store, tx)
            model_registry.register_model(store, model="m", version="v1", content=content, file_name="m.skops",
                                          actor=GRACE, evaluation=evaluation, evaluation_name="eval.csv",
                                          sensitive=["sex"])
            committee.seed_demo_committee(store)
            committee.set_rule(store, key="decision_validity_days", value="2", actor=GRACE)
            r1 = risks.add_risk(store, risk=risks.NewRisk(title="Proxy bias", category="fairness/bias",
                                                          owner="farid.haddad", likelihood=3, impact=3, models=["m"],
                                                          next_review=str(d3)), actor=FARID)["risk_id"]
            alerts.set_rules(store, model="m", changes={"slo_breach": {"severity": "critical"}}, actor=FARID)
            release_gate.set_policy(store, model="m", policy={"max_model_age_days": 90}, actor=FARID)
            now.at(d1, 23)
            snapshots[d1] = snapshot(store)

            # day 2: a review approved; a second version; the risk re-scored; a token that expires on day 4
            now.at(d2, 9)
            rv1 = review_state.request_review(store, model="m", version="v1", gate="validation", actor=FARID)
            for user in (CHAIR, BEN, CHEN):
                _vote(store, rv1["review_id"], user)
            model_registry.register_model(store, model="m", version="v2", content=content, file_name="m.skops",
                                          actor=GRACE, evaluation=evaluation, evaluation_name="eval.csv",
                                          sensitive=["sex"])
            risks.update_risk(store, risk_id=r1, changes={"likelihood": 4}, actor=FARID, reason="seen in the data")
            issued = tokens.create_token(store, name="ci", user_name="farid.haddad", actor=GRACE, expires_days=2)
            now.at(d2, 23)
            snapshots[d2] = snapshot(store)

            # day 3: v1 moves; a new committee member; a fairness policy; an explanation; a control due on day 4
            now.at(d3, 9)
            _move(store, model="m", version="v1", to_stage="validation",
                  review=review_state.review(store, review_id=rv1["review_id"]))
            zoe = identity.add_user(store, user_name="zoe", display_name="Zoe Member", role="committee member",
                                    source="demo", actor=GRACE)
            committee.add_member(store, user_name=zoe.user_name, actor=GRACE)
            fairness_policy.set_policy(store, model="m", criteria="demographic_parity_ratio>=0.9",
                                       reason="the committee's bar", actor=CHAIR)
            alerts.set_schedule(store, every_minutes=30, actor=FARID)
            explanations.explain_version(store, model="m", version="v1", actor=FARID, rows=40)
            risks.add_control(store, risk_id=r1, title="reweigh", owner="farid.haddad", due=str(d4), actor=FARID)
            rv2 = review_state.request_review(store, model="m", version="v2", gate="validation", actor=FARID)
            _vote(store, rv2["review_id"], CHAIR, "approve_with_conditions",
                  conditions=[{"text": "watch drift", "owner": "farid.haddad", "due": str(d4)}])
            now.at(d3, 23)
            snapshots[d3] = snapshot(store)

            # day 4: an account disabled, a member removed, a rule changed, the risk assessed, a second risk, the
            # token expires (10:00) and rv2 decided with a condition due today
            now.at(d4, 9)
            committee.remove_member(store, user_name="zoe", actor=GRACE)
            identity.set_disabled(store, user_name="zoe", disabled=True, actor=GRACE)
            committee.set_rule(store, key="quorum_fraction", value="0.6", actor=CHAIR)
            risks.update_risk(store, risk_id=r1, changes={"status": "assessed", "impact": 5}, actor=FARID,
                              reason="assessed by the committee")
            risks.add_risk(store, risk=risks.NewRisk(title="Latency", category="performance/drift",
                                                     owner="elif.kaya", likelihood=2, impact=2, models=["m v2"]),
                           actor=FARID)
            fairness.run_new_audit(store, data=evaluation_set_data(store, model="m", version="v1"), actor=FARID,
                                   sensitive=["sex"], criteria="demographic_parity_ratio>=0.99")
            _vote(store, rv2["review_id"], BEN)
            _vote(store, rv2["review_id"], CHEN)
            alerts.set_rules(store, model="m", changes={"drift_act": {"enabled": False}}, actor=FARID)
            now.at(d4, 23)
            snapshots[d4] = snapshot(store)

            # day 5: rv1's decision has expired (decided on day 2, valid 2 days), rv2's condition is overdue;
            # nothing else changes but the policy
            now.at(d5, 9)
            release_gate.set_policy(store, model="m", policy={"max_model_age_days": 30}, actor=FARID)
            robustness.run_robustness(store, model="m", version="v1", actor=FARID)
            fairness_policy.set_policy(store, model="m", criteria="demographic_parity_ratio>=0.8",
                                       reason="back to the default bar", actor=CHAIR)
            now.at(d5, 23)
            snapshots[d5] = snapshot(store)

            # day 6: the condition met; zoe enabled again; the token revoked; a review left open (votes pending)
            now.at(d6, 9)
            review_state.update_condition(store, condition_id=f"{rv2['review_id']}-C1", status="met",
                                          reason="dashboard live", actor=ELIF)
            identity.set_disabled(store, user_name="zoe", disabled=False, actor=GRACE)
            tokens.revoke_token(store, token_id=issued.token_id, actor=GRACE)
            rv3 = review_state.request_review(store, model="m", version="v1", gate="staging", actor=FARID)
            _vote(store, rv3["review_id"], CHAIR)
            now.at(d6, 23)
            snapshots[d6] = snapshot(store)

            now.at(d6 + timedelta(days=1), 12)   # the as-of views are asked the next day
            assert verification.verify(store)["ok"]
            yield store, snapshots
    finally:
        monkeypatch.undo()
        drop()


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_the_record_as_of_each_day_equals_the_snapshot_taken_that_day(history, day):
    store, snapshots = history
    expected, found = snapshots[day], as_of_view(store, day)
    for part in expected:
        assert found[part] == expected[part], part


def test_the_days_differ_so_the_comparison_can_fail(history):
    """Each part the test compares changed on some day: an as-of view that ignored the day would fail above."""
    _, snapshots = history
    for part in snapshots[DAYS[0]]:
        assert len({repr(snapshots[d][part]) for d in DAYS}) > 1, part
    # and the figures that matter to an auditor, read independently of the fold from the snapshots
    scores = [[(r["risk_id"], r["likelihood"] * r["impact"], r["status"]) for r in snapshots[d]["risks"]]
              for d in DAYS]
    assert scores[0] == [("R-001", 9, "identified")] and scores[1] == [("R-001", 12, "identified")]
    assert scores[3][0] == ("R-001", 20, "assessed")
    validity = [{r["review_id"]: r["validity"] for r in snapshots[d]["reviews"]} for d in DAYS]
    assert validity[1]["RV-0001"] == "valid" and validity[4]["RV-0001"] == "expired"
    assert validity[2]["RV-0002"] == "pending" and validity[3]["RV-0002"] == "valid"
    assert [snapshots[d]["stages"][("m", "v1")] for d in DAYS] == ["development"] * 2 + ["validation"] * 4
    assert ("m", "v2") not in snapshots[DAYS[0]]["stages"]


def test_the_open_reviews_tally_counts_the_committee_of_that_day(history):
    store, _ = history
    found = record_as_of(store, day=DAYS[5])
    open_review = next(r for r in found.reviews if r["status"] == "open")
    detail = review_state.review(store, review_id=open_review["review_id"], today=DAYS[5], before=found.before)
    assert [m["user_name"] for m in found.committee] == ["amara.okafor", "ben.hartmann", "chen.wei", "dolores.ruiz"]
    assert detail["tally"]["remaining"] == len(found.committee) - 1


def test_a_day_before_the_record_or_after_today_is_refused(history):
    store, _ = history
    with pytest.raises(InvalidInputError, match="before this workspace's record begins"):
        record_as_of(store, day=DAYS[0] - timedelta(days=1))
    with pytest.raises(InvalidInputError, match="after today"):
        record_as_of(store, day=DAYS[-1] + timedelta(days=2))
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD"):
        record_as_of(store, day="30/11/2026")
    assert record_as_of(store, day=str(DAYS[2])).day == DAYS[2]
    assert record_cutoff.end_of(DAYS[2]) == datetime(2026, 11, 5)


def test_as_dict_is_plain_json(history):
    import json

    store, _ = history
    found = record_as_of(store, day=DAYS[3])
    text = json.dumps(found.as_dict())
    assert json.loads(text)["as_of"] == str(DAYS[3])
    assert [a for a in json.loads(text)["accounts"] if a["user_name"] == "zoe"][0]["disabled"] is True
    assert account_dict(found.accounts[0])["user_name"]
