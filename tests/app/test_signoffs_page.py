"""The Sign-offs page, headless, on a private copy of the demo: what it shows is what the sign-off service folds
from the ledger, its forms reach the service as the signed-in account with that session's re-authentication,
and what an account's role may not do is greyed out or absent.

Expected values come from the services (review_state.review, list_reviews), read apart from the page. The demo may or
may not bring its own committee and review history: the tests add what they need and count before and after."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import signoff_views as views
from components.formatting import plain
from governance.access import identity
from governance.decisions import committee, release_gate, review_state, stage_changes, voting
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page
from tests.conftest import TEST_LEDGER_KEY
from tests.unit.decisions.test_signoffs import clear_the_gate

PAGE = "pages/signoffs.py"
TABS = ("My queue", "Reviews", "Request a review", "Stage gates", "Ledger")
PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
CHAIR, BEN, CHEN, DOLORES = (PEOPLE[n] for n in ("amara.okafor", "ben.hartmann", "chen.wei", "dolores.ruiz"))
FARID, GRACE, HUGO = PEOPLE["farid.haddad"], PEOPLE["grace.lindqvist"], PEOPLE["hugo.tanaka"]
MODEL, VERSION, GATE = "adult-income", "v2", "production"   # the demo's one version with a further stage
HOSTILE = "<img src=x onerror=alert(1)>"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def db(demo_copy, demo_workspace, monkeypatch) -> Path:
    """The demo copy (with the demo's anchor, should the demo write ledger entries) and its committee."""
    # the run's key (tests/conftest.py): the demo signed its review history with it
    monkeypatch.setenv("QUORUM_LEDGER_KEY", os.environ.get("QUORUM_LEDGER_KEY") or TEST_LEDGER_KEY)
    anchor = Path(f"{demo_workspace}.anchor")
    if anchor.exists():
        shutil.copyfile(anchor, f"{demo_copy}.anchor")
    with GovernanceStore(demo_copy) as store:
        committee.seed_demo_committee(store)
    return demo_copy


def open_review(db) -> dict:
    """An open review of adult-income v2 for production nobody of the demo committee has voted on yet: the
    demo's own if it has one, else one requested now (settling an open one that already has votes)."""
    with GovernanceStore(db) as store:
        for r in review_state.list_reviews(store, model=MODEL, version=VERSION):
            if r["gate"] == GATE and r["status"] == "open":
                if r["votes"] == 0:
                    return review_state.review(store, review_id=r["review_id"])
                settle(store, r["review_id"], "reject")
        return review_state.request_review(store, model=MODEL, version=VERSION, gate=GATE, actor=FARID)


def settle(store, review_id: str, vote: str) -> dict:
    """The demo committee votes until the review is decided."""
    for member in (CHAIR, BEN, CHEN, DOLORES):
        state = review_state.review(store, review_id=review_id)
        if state["status"] != "open":
            break
        if not any(v["user_name"] == member.user_name for v in state["votes"]):
            voting.vote(store, review_id=review_id, actor=member, vote=vote, reason="settled by the test",
                        reauth={"method": "demo"})
    return review_state.review(store, review_id=review_id)


def stored(db, review_id: str) -> dict:
    with GovernanceStore(db) as store:
        return review_state.review(store, review_id=review_id)


def open_signoffs(db, monkeypatch, tab: str | None = None, *, user: str = FARID.user_name,
                  auth: dict | None = None, params: dict | None = None) -> AppTest:
    session = {"so_tab": tab} if tab else {}
    if auth:
        session["quorum_auth"] = {"user_name": user, **auth}
    app = open_page(PAGE, db, monkeypatch, session=session, params=params, user=user)
    assert_clean(app)
    return app


def buttons(app: AppTest, label: str) -> list:
    return [b for b in app.button if b.label == label]


def texts(app: AppTest) -> str:
    """Everything the page rendered as markdown (markdown, captions, alerts), as its source."""
    return "\n".join(e.value for kind in ("markdown", "caption", "success", "info", "warning", "error")
                     for e in getattr(app, kind))


def sign_through_form(app: AppTest, review_id: str, *, vote: str = "approve", reason: str = "evidence reviewed",
                      password: str | None = None) -> None:
    app.radio(key=f"so_v_vote_{review_id}").set_value(vote)
    app.run()
    app.text_area(key=f"so_v_reason_{review_id}").input(reason)
    if password is not None:
        app.text_input(key=f"so_v_password_{review_id}").input(password)
    buttons(app, "Sign")[0].click().run()
    assert_clean(app)


@pytest.mark.parametrize("user", [BEN.user_name, HUGO.user_name, FARID.user_name],
                         ids=["committee member", "viewer", "engineering leader"])
def test_every_tab_renders_cleanly(db, monkeypatch, user):
    r = open_review(db)
    for tab in TABS:
        app = open_signoffs(db, monkeypatch, tab, user=user)
        assert [t.value for t in app.title] == ["Sign-offs"]
        assert not app.error, (tab, [e.value for e in app.error])
    app = open_signoffs(db, monkeypatch, "My queue", user=user)
    if user == BEN.user_name:
        assert r["review_id"] in set(app.dataframe[0].value["Review"])
        assert buttons(app, "Open")
    else:
        assert not app.dataframe and "nothing awaits your signature" in app.info[0].value


def test_a_member_votes_through_the_form_and_the_signature_is_in_the_ledger(db, monkeypatch):
    r = open_review(db)
    app = open_signoffs(db, monkeypatch, user=BEN.user_name, params={"review": r["review_id"]})
    assert app.session_state["so_tab"] == "Reviews" and app.selectbox(key="so_review").value == r["review_id"]
    assert r["evidence_hash"] in [c.value for c in app.code]
    assert any("Demo mode signs without a password" in c.value for c in app.caption)
    sign_through_form(app, r["review_id"], reason="Fairness audit FA-0002 reviewed; drift accepted.")
    assert not app.error, [e.value for e in app.error]
    after = stored(db, r["review_id"])
    [mine] = [v for v in after["votes"] if v["user_name"] == BEN.user_name]
    assert (mine["vote"], mine["meaning"], mine["auth_method"]) == ("approve", "approved", "demo")
    assert mine["evidence_hash"] == r["evidence_hash"] == after["evidence_hash"] and mine["bound_to_evidence"]
    assert mine["reason"] == "Fairness audit FA-0002 reviewed; drift accepted."
    assert any(s.value.startswith("Signed: Ben Hartmann (committee member) approved") for s in app.success)
    # manifested: name, role, meaning, time and the hash it is bound to
    shown = texts(app)
    assert "**Ben Hartmann** (committee member) — **approved**" in shown
    assert f"Signed over evidence SHA-256 {r['evidence_hash']}" in shown
    # a second vote: the form is gone, and the service refuses one anyway
    assert not buttons(app, "Sign") and "You have signed this review." in shown
    app = open_signoffs(db, monkeypatch, "Reviews", user=BEN.user_name, params={"review": r["review_id"]})
    assert not buttons(app, "Sign")
    assert len([v for v in stored(db, r["review_id"])["votes"] if v["user_name"] == BEN.user_name]) == 1


def test_a_chair_vote_that_settles_the_review_flashes_the_decision(db, monkeypatch):
    r = open_review(db)
    with GovernanceStore(db) as store:
        for member in (BEN, CHEN, DOLORES):
            voting.vote(store, review_id=r["review_id"], actor=member, vote="approve", reason="fine",
                        reauth={"method": "demo"})
    app = open_signoffs(db, monkeypatch, user=CHAIR.user_name, params={"review": r["review_id"]})
    sign_through_form(app, r["review_id"], vote="reject", reason="I disagree")
    decision = stored(db, r["review_id"])["decision"]
    assert decision["outcome"] == "approved"
    assert any("Decision reached: **approved**" in s.value for s in app.success)
    assert "- Amara Okafor (rejected): I disagree" in texts(app)   # dissent beside the decision


def test_html_in_a_reason_is_shown_escaped(db, monkeypatch):
    r = open_review(db)
    app = open_signoffs(db, monkeypatch, user=CHEN.user_name, params={"review": r["review_id"]})
    sign_through_form(app, r["review_id"], vote="reject", reason=HOSTILE)
    assert [v["reason"] for v in stored(db, r["review_id"])["votes"]] == [HOSTILE]
    shown = texts(app)
    assert f"Reason: {plain(HOSTILE)}" in shown
    assert HOSTILE not in shown


@pytest.fixture
def local_member(db):
    with GovernanceStore(db) as store:
        identity.add_user(store, user_name="ines.local", display_name="Ines Local", role="committee member",
                          actor=GRACE, password=PASSWORD)
        committee.add_member(store, user_name="ines.local", actor=GRACE)
    return "ines.local"


def test_a_local_account_signs_only_with_its_password(db, monkeypatch, local_member):
    r = open_review(db)
    auth = {"method": "password", "signed_in_at": time.time()}
    app = open_signoffs(db, monkeypatch, user=local_member, auth=auth, params={"review": r["review_id"]})
    sign_through_form(app, r["review_id"], password="not my password at all")
    assert [e.value for e in app.error] == [plain(voting.REAUTH_PASSWORD)]
    assert not stored(db, r["review_id"])["votes"]
    app.text_input(key=f"so_v_password_{r['review_id']}").input(PASSWORD)
    buttons(app, "Sign")[0].click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    [vote] = stored(db, r["review_id"])["votes"]
    assert (vote["user_name"], vote["auth_method"], vote["evidence_hash"]) == (local_member, "password",
                                                                               r["evidence_hash"])


@pytest.fixture
def oidc_member(db):
    with GovernanceStore(db) as store:
        identity.add_user(store, user_name="jo@example.org", display_name="Jo Provider", role="committee member",
                          actor=GRACE, source="oidc")
        committee.add_member(store, user_name="jo@example.org", actor=GRACE)
    return "jo@example.org"


def test_an_old_identity_provider_sign_in_is_asked_to_sign_in_again(db, monkeypatch, oidc_member):
    r = open_review(db)
    stale = {"method": "oidc", "signed_in_at": time.time() - 11 * 60}
    app = open_signoffs(db, monkeypatch, user=oidc_member, auth=stale, params={"review": r["review_id"]})
    assert not buttons(app, "Sign") and buttons(app, "Sign in again")
    assert any("11 minutes old" in w.value and "sign in again" in w.value for w in app.warning)
    assert not stored(db, r["review_id"])["votes"]
    buttons(app, "Sign in again")[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert "quorum_auth" not in app.session_state
    fresh = {"method": "oidc", "signed_in_at": time.time() - 60}
    app = open_signoffs(db, monkeypatch, user=oidc_member, auth=fresh, params={"review": r["review_id"]})
    sign_through_form(app, r["review_id"], vote="abstain", reason="not my field")
    [vote] = stored(db, r["review_id"])["votes"]
    assert (vote["user_name"], vote["auth_method"], vote["meaning"]) == (oidc_member, "oidc", "abstained")


def test_a_viewer_has_no_enabled_write_control(db, monkeypatch):
    r = open_review(db)
    for tab in TABS:
        app = open_signoffs(db, monkeypatch, tab, user=HUGO.user_name, params={"review": r["review_id"]})
        writes = [b for b in app.button if b.label in ("Sign", "Request review", "Record")
                  or b.label.startswith("Advance to")]
        assert all(b.disabled for b in writes), (tab, [b.label for b in writes if not b.disabled])
        assert not buttons(app, "Sign")
    app = open_signoffs(db, monkeypatch, "Request a review", user=HUGO.user_name)
    assert buttons(app, "Request review")[0].disabled
    app = open_signoffs(db, monkeypatch, "Stage gates", user=HUGO.user_name)
    assert buttons(app, "Advance to production")[0].disabled


def test_a_review_requested_through_the_page_has_the_hash_the_service_shows(db, monkeypatch):
    with GovernanceStore(db) as store:
        for r in review_state.list_reviews(store, model=MODEL, version=VERSION):
            if r["gate"] == GATE and r["status"] == "open":
                settle(store, r["review_id"], "reject")
        before = {r["review_id"] for r in review_state.list_reviews(store)}
    app = open_signoffs(db, monkeypatch, "Request a review")
    preview = app.code[0].value
    buttons(app, "Request review")[0].click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    with GovernanceStore(db) as store:
        [new] = [r for r in review_state.list_reviews(store) if r["review_id"] not in before]
        state = review_state.review(store, review_id=new["review_id"])
    assert (state["model"], state["version"], state["gate"]) == (MODEL, VERSION, GATE)
    assert state["evidence_hash"] == preview
    assert state["requested_by"] == FARID.signature_name
    assert any(state["evidence_hash"] in s.value and new["review_id"] in s.value for s in app.success)
    assert app.session_state["so_tab"] == "Reviews" and app.selectbox(key="so_review").value == new["review_id"]
    assert state["evidence_hash"] in [c.value for c in app.code]


def test_stage_gates_refuse_without_a_decision_and_advance_on_an_approval(db, monkeypatch):
    r = open_review(db)
    app = open_signoffs(db, monkeypatch, "Stage gates")
    app.text_input(key="so_a_reason").input("ready")
    buttons(app, "Advance to production")[0].click().run()
    assert_clean(app)
    assert any("cannot move to 'production'" in e.value for e in app.error)
    with GovernanceStore(db) as store:
        settle(store, r["review_id"], "approve")
        refused = release_gate.gate_findings(store, model=MODEL, version=VERSION, stage=GATE)
    app = open_signoffs(db, monkeypatch, "Stage gates")
    table = app.dataframe[0].value.set_index(["Model", "Version"])
    assert table.loc[(MODEL, VERSION), "Newest review for it"] == f"{r['review_id']}: approved"
    # approved, but the gate refuses (the checklist shown above the form is open): the service's answer, as it is
    assert not refused["ok"] and refused["decision"]["review_id"] == r["review_id"]
    app.text_input(key="so_a_reason").input("approved by the committee")
    buttons(app, "Advance to production")[0].click().run()
    assert_clean(app)
    assert [e.value for e in app.error] == [plain(stage_changes.GATE_REFUSED.format(
        model=MODEL, version=VERSION, stage=GATE, reasons="; ".join(refused["reasons"])))]
    with GovernanceStore(db) as store:
        assert store.query_value("SELECT stage FROM model_version WHERE model = ? AND version = ?",
                                 [MODEL, VERSION]) == "staging"
        clear_the_gate(store, model=MODEL, version=VERSION)
    app = open_signoffs(db, monkeypatch, "Stage gates")
    app.text_input(key="so_a_reason").input("approved by the committee")
    buttons(app, "Advance to production")[0].click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    with GovernanceStore(db) as store:
        stage = store.query_value("SELECT stage FROM model_version WHERE model = ? AND version = ?",
                                  [MODEL, VERSION])
    assert stage == "production"
    assert any(f"on {r['review_id']}" in s.value for s in app.success)
    table = app.dataframe[0].value.set_index(["Model", "Version"])   # the approval it now stands on
    assert table.loc[(MODEL, VERSION), "Approval for the current stage"] == f"{r['review_id']}: valid"
    assert table.loc[(MODEL, VERSION), "Next gate"] == "— (final stage)"


def test_a_condition_is_marked_met_through_the_form(db, monkeypatch):
    r = open_review(db)
    due = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    with GovernanceStore(db) as store:
        voting.vote(store, review_id=r["review_id"], actor=BEN, vote="approve_with_conditions",
                    reason="with a condition", reauth={"method": "demo"},
                    conditions=[{"text": "Re-run FA-0002 after retraining", "owner": "elif.kaya", "due": due}])
        settle(store, r["review_id"], "approve")
    condition_id = f"{r['review_id']}-C1"
    # Farid Haddad requested the review: he does not close its condition alone; the page shows the service's refusal
    app = open_signoffs(db, monkeypatch, "Reviews", params={"review": r["review_id"]})
    assert plain(review_state.OWN_CONDITION_RULE) in texts(app)
    conditions = next(d.value for d in app.dataframe if "Condition" in d.value.columns)
    assert list(conditions["Condition"]) == [condition_id] and list(conditions["Status"]) == ["open"]
    app.text_input(key=f"so_c_reason_{r['review_id']}").input("re-run passed")
    buttons(app, "Record")[0].click().run()
    assert_clean(app)
    assert [e.value for e in app.error] == [plain(review_state.OWN_CONDITION.format(
        who=FARID.display_name, why=f"requested {r['review_id']}, which set", condition_id=condition_id,
        status="met"))]
    assert stored(db, r["review_id"])["conditions"][0]["status"] == "open"

    app = open_signoffs(db, monkeypatch, "Reviews", user=CHAIR.user_name, params={"review": r["review_id"]})
    app.text_input(key=f"so_c_reason_{r['review_id']}").input("FA-0009 re-run passed: https://example.org/x")
    buttons(app, "Record")[0].click().run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]
    [condition] = stored(db, r["review_id"])["conditions"]
    assert (condition["status"], condition["updated_by"], condition["update_reason"]) == (
        "met", CHAIR.signature_name, "FA-0009 re-run passed: https://example.org/x")
    shown = next(d.value for d in app.dataframe if "Condition" in d.value.columns).iloc[0]   # what the committee reads
    assert (shown["Status"], shown["Updated by"], shown["Reason"]) == (
        "met", CHAIR.signature_name, condition["update_reason"])


def test_the_ledger_tab_verifies_the_chain(db, monkeypatch):
    open_review(db)
    app = open_signoffs(db, monkeypatch, "Ledger")
    assert any(s.value.startswith("The ledger is intact") for s in app.success)
    with GovernanceStore(db) as store:
        count = store.query_value("SELECT count(*) FROM ledger")
    assert app.dataframe[0].value["Seq"].iloc[0] == count
    buttons(app, "Verify now")[0].click().run()
    assert_clean(app)
    assert any(s.value.startswith("The ledger is intact") for s in app.success)


def test_approve_with_conditions_offers_the_conditions_editor_and_needs_one(db, monkeypatch):
    r = open_review(db)
    app = open_signoffs(db, monkeypatch, user=DOLORES.user_name, params={"review": r["review_id"]})
    sign_through_form(app, r["review_id"], vote="approve_with_conditions", reason="only with a latency fix")
    assert [e.value for e in app.error] == [plain(voting.NEEDS_CONDITIONS)]
    assert not stored(db, r["review_id"])["votes"]
    assert buttons(app, "Sign")   # nothing signed: the form is still there


def conditions_grid(app: AppTest, review_id: str, *rows: dict) -> None:
    """What typing into the conditions grid leaves in its edit state (new rows, as the browser sends them)."""
    app.session_state[f"so_v_conditions_{review_id}"] = {"edited_rows": {}, "added_rows": list(rows),
                                                         "deleted_rows": []}


def test_a_stray_empty_row_in_the_conditions_grid_is_ignored(db, monkeypatch):
    r = open_review(db)
    due = str(date.today() + timedelta(days=30))
    app = open_signoffs(db, monkeypatch, user=DOLORES.user_name, params={"review": r["review_id"]})
    app.radio(key=f"so_v_vote_{r['review_id']}").set_value("approve_with_conditions").run()
    # a filled row, then a row a stray click added: only the due date the grid fills in by default
    conditions_grid(app, r["review_id"], {"text": "Bring p95 latency under 300 ms", "owner": "elif.kaya", "due": due},
                    {"due": due})
    sign_through_form(app, r["review_id"], vote="approve_with_conditions", reason="only with a latency fix")
    assert not app.error, [e.value for e in app.error]    # before: "condition is empty", naming no row
    [vote] = stored(db, r["review_id"])["votes"]
    assert vote["vote"] == "approve_with_conditions"
    assert [(c["text"], c["owner"], c["due"]) for c in vote["conditions"]] == [
        ("Bring p95 latency under 300 ms", "elif.kaya", due)]


def test_a_half_filled_condition_row_is_named_with_what_it_lacks(db, monkeypatch):
    r = open_review(db)
    due = str(date.today() + timedelta(days=30))
    app = open_signoffs(db, monkeypatch, user=DOLORES.user_name, params={"review": r["review_id"]})
    app.radio(key=f"so_v_vote_{r['review_id']}").set_value("approve_with_conditions").run()
    conditions_grid(app, r["review_id"], {"text": "Bring p95 latency under 300 ms", "owner": "elif.kaya", "due": due},
                    {"text": "Re-run the fairness audit", "due": due})
    sign_through_form(app, r["review_id"], vote="approve_with_conditions", reason="only with a latency fix")
    assert [e.value for e in app.error] == [plain(views.CONDITION_ROW_INCOMPLETE.format(row=2, missing="owner"))]
    assert not stored(db, r["review_id"])["votes"]
    assert buttons(app, "Sign")
