"""The Risks page, headless: what it lists is what the risk service stores, its forms reach the service as the
signed-in account, and what an account's role may not do is greyed out.

Expected values come from the service itself (list_risks, history, coverage), read apart from the page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.formatting import plain
from governance.access import identity
from governance.decisions import risks
from governance.errors import InvalidInputError
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page
from tests.unit.decisions.test_risk_proposals import empty_register

PAGE = "pages/risks.py"
PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
LEADER = PEOPLE["farid.haddad"]   # open_page's default user: may edit risks, may not accept them


def open_risks(db, monkeypatch, tab: str | None = None, *, user: str = LEADER.user_name) -> AppTest:
    app = open_page(PAGE, db, monkeypatch, session={"rk_tab": tab} if tab else None, user=user)
    assert_clean(app)
    return app


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def stored(db) -> list[dict]:
    with GovernanceStore(db) as store:
        return risks.list_risks(store)


def add(db, **fields) -> None:
    """A risk recorded through the service, as the default user."""
    with GovernanceStore(db) as store:
        risks.add_risk(store, risk=risks.NewRisk(**{"category": "performance/drift", "owner": "elif.kaya",
                                                    "likelihood": 2, "impact": 3, **fields}), actor=LEADER)


def fill_new_risk(app: AppTest, *, title: str) -> None:
    """The add form by its keys: the detail's update form below has fields of the same labels."""
    app.text_input(key="rk_new_title_0").input(title)
    app.text_area(key="rk_new_description_0").input("Approval rates differ by sex on the adult model.")
    app.selectbox(key="rk_new_category_0").set_value("fairness/bias")
    app.selectbox(key="rk_new_owner_0").set_value("elif.kaya")
    app.multiselect(key="rk_new_models_0").set_value(["adult-income"])
    app.slider(key="rk_new_likelihood_0").set_value(4)
    app.slider(key="rk_new_impact_0").set_value(5)
    app.multiselect(key="rk_new_clauses_0").set_value(["MEASURE 2.11"])


def test_an_empty_register_says_how_to_start_one(demo_copy, monkeypatch):
    empty_register(demo_copy)
    app = open_risks(demo_copy, monkeypatch)
    assert not app.error
    assert any(i.value == "No risks recorded yet — add one below, import a CSV or propose risks from monitoring."
               for i in app.info)
    assert not app.dataframe and not app.metric
    assert [s.value for s in app.subheader] == ["Add a risk"]
    assert not button(app, "Add risk").disabled and not button(app, "Propose from monitoring").disabled


def test_the_demo_register_is_listed(demo_workspace, monkeypatch):
    app = open_risks(demo_workspace, monkeypatch)
    table = next(d.value for d in app.dataframe if "inherent_score" in d.value.columns)
    assert list(table["risk_id"]) == [r["risk_id"] for r in stored(demo_workspace)]


def test_adding_a_risk_through_the_form_stores_it_as_the_signed_in_account(demo_copy, monkeypatch):
    before = {r["risk_id"] for r in stored(demo_copy)}
    app = open_risks(demo_copy, monkeypatch)
    fill_new_risk(app, title="Disparate approval rates")
    button(app, "Add risk").click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    [risk] = [r for r in stored(demo_copy) if r["risk_id"] not in before]
    assert (risk["title"], risk["category"], risk["owner"]) == ("Disparate approval rates", "fairness/bias",
                                                                 "elif.kaya")
    assert (risk["likelihood"], risk["impact"], risk["inherent_score"]) == (4, 5, 20)
    assert risk["models"] == ["adult-income"] and risk["clauses"] == ["MEASURE 2.11"]
    assert risk["created_by"] == "farid.haddad (engineering leader)" and risk["status"] == "identified"
    assert any(f"{risk['risk_id']} recorded" in s.value for s in app.success)
    table = next(d.value for d in app.dataframe if "inherent_score" in d.value.columns)
    row = table.set_index("risk_id").loc[risk["risk_id"]]
    assert (row["title"], row["inherent_score"], row["inherent_level"]) == ("Disparate approval rates", 20, "critical")
    assert len(app.get("plotly_chart")) == 2  # inherent and residual heat maps


def test_owners_are_offered_as_accounts(demo_copy, monkeypatch):
    app = open_risks(demo_copy, monkeypatch)
    owner = app.selectbox(key="rk_new_owner_0")
    with GovernanceStore(demo_copy) as store:
        users = identity.list_users(store)
    assert owner.options == [u.signature_name for u in users] and owner.value is None
    assert "Elif Kaya (risk owner)" in owner.options


@pytest.mark.parametrize("title", ["", "x" * 201])
def test_a_bad_title_shows_the_services_message_and_writes_nothing(demo_copy, monkeypatch, title):
    before = stored(demo_copy)
    with GovernanceStore(demo_copy) as store, pytest.raises(InvalidInputError) as raised:
        risks.add_risk(store, risk=risks.NewRisk(title=title, category="fairness/bias", owner="elif.kaya",
                                                 likelihood=4, impact=5), actor=LEADER)
    app = open_risks(demo_copy, monkeypatch)
    fill_new_risk(app, title=title)
    button(app, "Add risk").click().run()
    assert_clean(app)
    assert [e.value for e in app.error] == [plain(raised.value)]
    assert stored(demo_copy) == before


def test_the_detail_shows_the_timeline_of_a_change_made_through_the_form(demo_copy, monkeypatch):
    empty_register(demo_copy)
    add(demo_copy, title="Drift in age")
    app = open_risks(demo_copy, monkeypatch)
    assert app.selectbox(key="rk_risk").value == "R-001"
    app.selectbox(key="rk_u_status_R-001").set_value("assessed")
    app.slider(key="rk_u_likelihood_R-001").set_value(4)
    app.selectbox(key="rk_u_owner_R-001").set_value("amara.okafor")
    app.text_area(key="rk_u_reason_R-001").input("Drift monitor fired twice in a month")
    button(app, "Record the change").click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    with GovernanceStore(demo_copy) as store:
        events = risks.history(store, risk_id="R-001")
        risk = risks.get_risk(store, risk_id="R-001")
    assert (risk["status"], risk["likelihood"], risk["owner"]) == ("assessed", 4, "amara.okafor")
    changed = [e for e in events if e["kind"] == "changed"]
    assert {e["field"] for e in changed} == {"status", "likelihood", "owner"}
    timeline = next(d.value for d in app.dataframe if "reason" in d.value.columns and "who" in d.value.columns)
    assert len(timeline) == len(events) == 4
    status_row = timeline[timeline["what changed"] == "status: identified → assessed"].iloc[0]
    assert status_row["reason"] == "Drift monitor fired twice in a month"
    assert "owner: elif.kaya → amara.okafor" in set(timeline["what changed"])
    assert status_row["who"] == "farid.haddad (engineering leader)"


def test_only_a_role_that_may_accept_is_offered_accepting(demo_copy, monkeypatch):
    empty_register(demo_copy)
    add(demo_copy, title="Drift in age")
    with GovernanceStore(demo_copy) as store:
        risks.update_risk(store, risk_id="R-001", changes={"status": "assessed"}, actor=LEADER, reason="scored")
    app = open_risks(demo_copy, monkeypatch)
    assert "accepted" not in app.selectbox(key="rk_u_status_R-001").options   # an engineering leader
    app = open_risks(demo_copy, monkeypatch, user="elif.kaya")
    app.selectbox(key="rk_u_status_R-001").set_value("accepted")
    app.text_area(key="rk_u_reason_R-001").input("Within appetite")
    button(app, "Record the change").click().run()
    assert not app.error, [e.value for e in app.error]
    assert stored(demo_copy)[0]["status"] == "accepted"
    with GovernanceStore(demo_copy) as store:
        assert risks.history(store, risk_id="R-001")[-1]["actor"] == "elif.kaya (risk owner)"


def test_a_viewer_sees_every_write_control_disabled(demo_copy, monkeypatch):
    app = open_risks(demo_copy, monkeypatch, user="hugo.tanaka")
    assert not app.error, [e.value for e in app.error]
    for risk_id in (stored(demo_copy)[0]["risk_id"],
                    next(r["risk_id"] for r in stored(demo_copy) if r["status"] == "proposed")):
        app.selectbox(key="rk_risk").set_value(risk_id).run()
        labels = {b.label for b in app.main.button}   # the sidebar's "Sign out" is not the page's
        assert {"Add risk", "Propose from monitoring", "Add control", "Link evidence", "Import"} <= labels
        assert ("Accept" in labels) == (risk_id != stored(demo_copy)[0]["risk_id"])
        enabled = [b.label for b in app.main.button if not b.disabled]
        assert enabled == [], enabled
        assert "Needs the role engineering leader or risk owner" in button(app, "Add risk").help


def test_propose_from_monitoring_then_accept_and_dismiss_proposals(demo_copy, monkeypatch):
    empty_register(demo_copy)
    app = open_risks(demo_copy, monkeypatch)
    button(app, "Propose from monitoring").click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    proposed = stored(demo_copy)
    assert proposed and {r["status"] for r in proposed} == {"proposed"}
    ids = [r["risk_id"] for r in proposed]
    assert app.success[0].value.startswith(f"Monitoring proposed {', '.join(ids)}.")
    linked = [f"Linked {plain(e['ref'])} to {r['risk_id']}." for r in proposed for e in r["evidence"][1:]]
    assert linked and all(line in app.success[0].value for line in linked)
    table = next(d.value for d in app.dataframe if "inherent_score" in d.value.columns)
    assert list(table["risk_id"]) == ids and set(table["status"]) == {"proposed"}

    first, second = ids[:2]
    app.selectbox(key="rk_risk").set_value(first).run()
    app.text_area(key=f"rk_p_reason_{first}").input("Confirmed against the audit")
    button(app, "Accept").click().run()   # no owner chosen yet
    assert [e.value for e in app.error] == [plain(risks.NO_OWNER.format(status="identified"))]
    app.selectbox(key=f"rk_p_owner_{first}").set_value("elif.kaya")
    button(app, "Accept").click().run()
    assert not app.error, [e.value for e in app.error]
    app.selectbox(key="rk_risk").set_value(second).run()
    app.text_area(key=f"rk_p_reason_{second}").input("Known incident, not a model risk")
    button(app, "Dismiss").click().run()
    assert not app.error, [e.value for e in app.error]
    after = {r["risk_id"]: r for r in stored(demo_copy)}
    assert (after[first]["status"], after[first]["owner"]) == ("identified", "elif.kaya")
    assert (after[second]["status"], after[second]["status_reason"]) == ("dismissed",
                                                                         "Known incident, not a model risk")

    button(app, "Propose from monitoring").click().run()   # again: everything is on record already
    assert app.success[0].value == "Monitoring found nothing new to propose."
    assert len(stored(demo_copy)) == len(ids)


def test_coverage_tab_shows_the_services_counts(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        expected = risks.coverage(store, framework="nist")
    app = open_risks(demo_copy, monkeypatch, tab="Framework coverage")
    labels = {m.label: m.value for m in app.metric}
    assert {k: int(labels[k.capitalize()]) for k in ("covered", "partial", "gap")} == expected["counts"]
    table = app.dataframe[0].value.set_index("clause")
    assert table["status"].to_dict() == {c["ref_id"]: c["status"] for c in expected["clauses"]}


def test_actions_list_open_controls_overdue_first(demo_copy, monkeypatch):
    empty_register(demo_copy)
    add(demo_copy, title="Unfair outcomes")
    with GovernanceStore(demo_copy) as store:
        for title, owner, due in (("Later", "farid.haddad", "2999-01-01"), ("Late", "elif.kaya", "2000-01-01")):
            risks.add_control(store, risk_id="R-001", title=title, owner=owner, due=due, actor=LEADER)
    app = open_risks(demo_copy, monkeypatch, tab="Actions")
    actions = next(d.value for d in app.dataframe if "due" in d.value.columns)
    assert list(actions["title"]) == ["Late", "Later"]
    assert list(actions["overdue"]) == [True, False]
