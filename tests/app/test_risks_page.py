"""The Risks page, headless: what it lists is what the risk service stores, and its forms reach the service.

Expected values come from the service itself (list_risks, history, coverage), read apart from the page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from governance import risks
from governance.errors import InvalidInputError
from governance.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page

PAGE = "app_pages/risks.py"


def open_risks(db, monkeypatch, tab: str | None = None) -> AppTest:
    app = open_page(PAGE, db, monkeypatch, session={"rk_tab": tab} if tab else None)
    assert_clean(app)
    return app


def widget(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def stored(db) -> list[dict]:
    with GovernanceStore(db) as store:
        return risks.list_risks(store)


def fill_new_risk(app: AppTest, *, title: str, who: str = "Ada Lovelace") -> None:
    widget(app.text_input, "Title").input(title)
    widget(app.text_area, "Description").input("Approval rates differ by sex on the adult model.")
    widget(app.selectbox, "Category").set_value("fairness/bias")
    widget(app.text_input, "Owner").input("Model risk team")
    widget(app.multiselect, "Models").set_value(["adult-income"])
    widget(app.slider, "Likelihood").set_value(4)
    widget(app.slider, "Impact").set_value(5)
    widget(app.multiselect, "Framework clauses").set_value(["MEASURE 2.11"])
    widget(app.text_input, "Your name").input(who)


def test_the_demo_has_no_risks_and_says_how_to_add_one(demo_workspace, monkeypatch):
    app = open_risks(demo_workspace, monkeypatch)
    assert not app.error
    assert any("No risks recorded yet" in i.value for i in app.info)
    assert not app.dataframe and not app.metric
    assert [s.value for s in app.subheader] == ["Add a risk"]
    assert button(app, "Add risk")


def test_adding_a_risk_through_the_form_stores_it(demo_copy, monkeypatch):
    app = open_risks(demo_copy, monkeypatch)
    fill_new_risk(app, title="Disparate approval rates")
    button(app, "Add risk").click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    [risk] = stored(demo_copy)
    assert (risk["risk_id"], risk["title"], risk["category"], risk["owner"]) == \
           ("R-001", "Disparate approval rates", "fairness/bias", "Model risk team")
    assert (risk["likelihood"], risk["impact"], risk["inherent_score"], risk["inherent_level"]) == (4, 5, 20, "critical")
    assert risk["models"] == ["adult-income"] and risk["clauses"] == ["MEASURE 2.11"]
    assert risk["created_by"] == "Ada Lovelace" and risk["status"] == "identified"
    assert any("R-001 recorded" in s.value for s in app.success)
    table = next(d.value for d in app.dataframe if "inherent_score" in d.value.columns)
    row = table.set_index("risk_id").loc["R-001"]
    assert (row["title"], row["inherent_score"], row["inherent_level"]) == ("Disparate approval rates", 20, "critical")
    assert len(app.get("plotly_chart")) == 2  # inherent and residual heat maps


@pytest.mark.parametrize("title", ["", "x" * 201])
def test_a_bad_title_shows_the_services_message_and_writes_nothing(demo_copy, monkeypatch, title):
    with GovernanceStore(demo_copy) as store, pytest.raises(InvalidInputError) as raised:
        risks.add_risk(store, risk=risks.NewRisk(title=title, category="fairness/bias", owner="Model risk team",
                                                 likelihood=4, impact=5), actor="Ada Lovelace")
    app = open_risks(demo_copy, monkeypatch)
    fill_new_risk(app, title=title)
    button(app, "Add risk").click().run()
    assert_clean(app)
    assert [e.value for e in app.error] == [str(raised.value)]
    assert stored(demo_copy) == []


def test_the_detail_shows_the_timeline_of_a_change_made_through_the_form(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        risks.add_risk(store, risk=risks.NewRisk(title="Drift in age", category="performance/drift",
                                                 owner="ML ops", likelihood=2, impact=3), actor="Grace Hopper")
    app = open_risks(demo_copy, monkeypatch)
    assert app.selectbox(key="rk_risk").value == "R-001"
    app.selectbox(key="rk_u_status_R-001").set_value("assessed")
    app.slider(key="rk_u_likelihood_R-001").set_value(4)
    app.text_area(key="rk_u_reason_R-001").input("Drift monitor fired twice in a month")
    app.text_input(key="rk_u_who_R-001").input("Grace Hopper")
    button(app, "Record the change").click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    with GovernanceStore(demo_copy) as store:
        events = risks.history(store, risk_id="R-001")
        risk = risks.get_risk(store, risk_id="R-001")
    assert (risk["status"], risk["likelihood"]) == ("assessed", 4)
    changed = [e for e in events if e["kind"] == "changed"]
    assert {e["field"] for e in changed} == {"status", "likelihood"}
    timeline = next(d.value for d in app.dataframe if "reason" in d.value.columns and "who" in d.value.columns)
    assert len(timeline) == len(events) == 3
    status_row = timeline[timeline["field"] == "status"].iloc[0]
    assert (status_row["old"], status_row["new"]) == ("identified", "assessed")
    assert status_row["reason"] == "Drift monitor fired twice in a month"
    assert status_row["who"] == "Grace Hopper (other)"


def test_accepting_needs_an_accepting_role(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        risks.add_risk(store, risk=risks.NewRisk(title="Drift in age", category="performance/drift",
                                                 owner="ML ops", likelihood=2, impact=3), actor="Grace Hopper")
        risks.update_risk(store, risk_id="R-001", changes={"status": "assessed"}, actor="Grace Hopper",
                          reason="scored")
    app = open_risks(demo_copy, monkeypatch)
    app.selectbox(key="rk_u_status_R-001").set_value("accepted")
    app.text_area(key="rk_u_reason_R-001").input("Within appetite")
    app.text_input(key="rk_u_who_R-001").input("Grace Hopper")
    button(app, "Record the change").click().run()
    assert_clean(app)
    assert len(app.error) == 1 and "accepting a risk needs the role" in app.error[0].value
    app.selectbox(key="rk_u_role_R-001").set_value("committee chair")
    button(app, "Record the change").click().run()
    assert not app.error, [e.value for e in app.error]
    assert stored(demo_copy)[0]["status"] == "accepted"


def test_coverage_tab_shows_the_services_counts(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        risks.add_risk(store, risk=risks.NewRisk(title="Unfair outcomes", category="fairness/bias", owner="Risk",
                                                 likelihood=3, impact=3, clauses=("MEASURE 2.11",)),
                       actor="Ada Lovelace")
        expected = risks.coverage(store, framework="nist")
    app = open_risks(demo_copy, monkeypatch, tab="Framework coverage")
    labels = {m.label: m.value for m in app.metric}
    assert {k: int(labels[k.capitalize()]) for k in ("covered", "partial", "gap")} == expected["counts"]
    table = app.dataframe[0].value.set_index("clause")
    assert table.loc["MEASURE 2.11", "status"] == "partial"
    assert len(table) == len(expected["clauses"])


def test_actions_list_open_controls_overdue_first(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        risks.add_risk(store, risk=risks.NewRisk(title="Unfair outcomes", category="fairness/bias", owner="Risk",
                                                 likelihood=3, impact=3), actor="Ada Lovelace")
        risks.add_control(store, risk_id="R-001", title="Later", owner="Bob", due="2999-01-01", actor="Ada")
        risks.add_control(store, risk_id="R-001", title="Late", owner="Zoe", due="2000-01-01", actor="Ada")
    app = open_risks(demo_copy, monkeypatch, tab="Actions")
    actions = next(d.value for d in app.dataframe if "due" in d.value.columns)
    assert list(actions["title"]) == ["Late", "Later"]
    assert list(actions["overdue"]) == [True, False]
