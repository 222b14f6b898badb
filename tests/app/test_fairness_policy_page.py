"""The Fairness page and the model's fairness policy: it shows the policy in force and the standing result of each
version, marks an audit weaker than the policy of its lock time, and lets the committee chair (not a viewer) record
a new policy with a reason. Expected texts come from the services, read apart from the page."""

from __future__ import annotations

from governance.decisions import release_gate
from governance.evidence import fairness, fairness_policy as fp
from governance.record import ledger
from governance.record.store import GovernanceStore
from components.formatting import plain
from tests.app.test_pages import assert_clean, open_page
from tests.conftest import LEADER

PAGE = "pages/fairness.py"
MODEL = "adult-income"


def open_fairness(db, monkeypatch, user: str = "amara.okafor", **session):
    app = open_page(PAGE, db, monkeypatch, session={"fa_model": MODEL, **session}, user=user)
    assert_clean(app)
    return app


def texts(app) -> str:
    return "\n".join(m.value for m in app.markdown) + "\n".join(c.value for c in app.caption)


def test_the_page_shows_the_policy_in_force_and_each_versions_standing_result(demo_workspace, monkeypatch):
    with GovernanceStore(demo_workspace) as store:
        policy = fp.policy_in_force(store, model=MODEL)
        standing = {v: release_gate.standing_fairness_result(store, model=MODEL, version=v) for v in ("v1", "v2")}
    app = open_fairness(demo_workspace, monkeypatch)
    shown = texts(app)
    assert "**In force:** demographic_parity_ratio ≥ 0.8; equalized_odds_difference ≤ 0.1; " \
           "equal_opportunity_difference ≤ 0.1 · 95% intervals · minimum group size at most 30" in shown
    assert policy.set_by == "Amara Okafor (committee chair)" and policy.reason.split(",")[0] in shown
    for version, result in standing.items():
        assert f"**{version}: {result.audit_id} stands ({result.verdict})" in shown
    history = app.dataframe[0].value.set_index("audit_id")
    assert set(history.loc[["FA-0001", "FA-0002"], "policy"]) == {"at least as strict: counts"}


def test_an_audit_weaker_than_the_policy_is_marked_and_set_aside(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        data = fairness.evaluation_set_data(store, model=MODEL, version="v2")
        weak = fairness.run_new_audit(store, data=data, actor=LEADER, sensitive=["sex"], bootstrap=200,
                                      criteria="demographic_parity_ratio>=0.05")["audit_id"]
    app = open_fairness(demo_copy, monkeypatch, fa_version="v2", fa_audit=weak)
    history = app.dataframe[0].value.set_index("audit_id")
    assert history.loc[weak, "policy"] == fp.WEAKER_MARK
    assert history.loc["FA-0002", "policy"] == "at least as strict: counts"
    assert any(w.value.startswith(f"**{fp.WEAKER_MARK}.**") and
               plain("demographic_parity_ratio>=0.05 is looser than demographic_parity_ratio>=0.8") in w.value
               for w in app.warning), [w.value for w in app.warning]
    shown = texts(app)
    assert "**v2: FA-0002 stands (fail), does not complete the checklist.**" in shown
    assert f"set aside {weak} (pass): {plain(fp.WEAKER_MARK)}" in shown


def test_the_chair_records_a_policy_with_a_reason_and_a_viewer_cannot(demo_copy, monkeypatch):
    viewer = open_fairness(demo_copy, monkeypatch, user="hugo.tanaka")
    assert next(b for b in viewer.button if b.label == "Record the policy").disabled

    app = open_fairness(demo_copy, monkeypatch)
    record = next(b for b in app.button if b.label == "Record the policy")
    assert not record.disabled
    record.click().run()   # no reason: refused with the service's words, nothing recorded
    assert any(fp.NO_REASON in e.value for e in app.error)
    app.text_area(key=f"fa_policy_reason_{MODEL}").set_value("smaller groups must be judged too")
    app.number_input(key=f"fa_policy_min_group_{MODEL}").set_value(20)
    next(b for b in app.button if b.label == "Record the policy").click().run()
    assert_clean(app)
    with GovernanceStore(demo_copy) as store:
        entry = ledger.entries(store, kind=fp.KIND, subject=MODEL)[-1]["payload"]
        in_force = fp.policy_in_force(store, model=MODEL)
    assert entry["reason"] == "smaller groups must be judged too" and entry["set_by"] == \
        "Amara Okafor (committee chair)"
    assert in_force.min_group_size == 20 and in_force.criteria == fairness.parse_criteria(fairness.DEFAULT_CRITERIA)
    assert "minimum group size at most 20" in texts(app)
