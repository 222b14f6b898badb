"""The release checks on the pages: the Overview says which models meet a retraining trigger and why, and the
Sign-offs page shows a version's validation checklist and records an attestation (in the ledger)."""

from __future__ import annotations

from governance.decisions import release_gate
from governance.record import ledger
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page


def test_the_overview_names_the_models_to_retrain_and_why(demo_workspace, monkeypatch):
    with GovernanceStore(demo_workspace) as store:
        expected = {f["model"]: f for f in release_gate.all_triggers(store)}
    app = open_page("pages/overview.py", demo_workspace, monkeypatch)
    assert_clean(app)
    warnings = [w.value for w in app.warning]
    for model, found in expected.items():
        shown = [w for w in warnings if w.startswith(f"{model} {found['version']} meets")]
        assert bool(shown) == found["retrain"], (model, warnings)
    assert any("hours\\_per\\_week" in w or "hours_per_week" in w for w in warnings)


def test_a_committee_chair_attests_on_the_stage_gates_tab(demo_copy, monkeypatch):
    app = open_page("pages/signoffs.py", demo_copy, monkeypatch, user="amara.okafor",
                    session={"so_tab": "Stage gates", "so_c_version": "adult-income v1"})
    assert_clean(app)
    text = " ".join(m.value for m in app.markdown)
    assert "explanation reviewed" in text and "nobody has attested to it" in text
    app.selectbox(key="so_c_item").set_value("explanation reviewed")
    app.text_input(key="so_c_note").input("top inputs match the credit policy")
    next(b for b in app.button if b.label == "Record the attestation").click().run()
    assert_clean(app)
    assert any("Recorded: explanation reviewed of adult-income v1" in s.value for s in app.success)
    with GovernanceStore(demo_copy) as store:
        [entry] = ledger.entries(store, kind="checklist_attestation", subject="adult-income v1")
        assert entry["payload"]["by"] == "Amara Okafor" and entry["actor"] == "amara.okafor (committee chair)"
        item = next(i for i in release_gate.checklist(store, model="adult-income", version="v1")["items"]
                    if i["item"] == "explanation reviewed")
    assert item["done"] and "top inputs match the credit policy" in item["detail"]


def test_a_leader_records_a_retraining_policy_on_the_admin_page(demo_copy, monkeypatch):
    app = open_page("pages/admin.py", demo_copy, monkeypatch, session={"ad_policy_model": "german-credit"})
    assert_clean(app)
    next(n for n in app.number_input if n.label.startswith("Retrain when the model is older")).set_value(30)
    app.text_area[0].input("Retrain monthly.")
    next(b for b in app.button if b.label == "Record the policy").click().run()
    assert_clean(app)
    assert any("Recorded the retraining policy of german-credit" in s.value for s in app.success)
    with GovernanceStore(demo_copy) as store:
        recorded = release_gate.policy(store, model="german-credit")
        found = release_gate.retraining_triggers(store, model="german-credit")
    assert recorded["max_model_age_days"] == 30 and recorded["text"] == "Retrain monthly."
    assert recorded["set_by"] == "Farid Haddad (engineering leader)"
    assert any(t["met"] and t["trigger"] == "model older than 30 days" for t in found["triggers"])


def test_the_overview_lists_the_open_alerts(demo_copy, monkeypatch):
    from governance import alerts

    with GovernanceStore(demo_copy) as store:
        checked = alerts.check(store, actor=alerts.SCHEDULER)
    app = open_page("pages/overview.py", demo_copy, monkeypatch)
    assert_clean(app)
    shown = [m.value for m in (*app.error, *app.warning, *app.info)]
    for alert in checked["alerts"]:
        line = [s for s in shown if s.startswith(f"\\[{alert['severity']}\\]") or s.startswith(f"[{alert['severity']}]")]
        assert line, (alert, shown)
    assert len([s for s in shown if "open since" in s]) == checked["open"]
