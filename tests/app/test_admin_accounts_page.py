"""The Admin page's accounts and committee rules, headless, on a private copy of the demo: an admin disables an
account (it can no longer sign in) and enables it again, the last admin cannot be disabled, the committee's chair
changes the quorum rules; each change is the service's (identity.set_disabled, committee.set_rule) and recorded in
the ledger with who made it; a viewer may do neither."""

from __future__ import annotations

import pytest

from governance.access import identity
from governance.decisions import committee
from governance.errors import GovernanceError
from governance.record import ledger
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page

PAGE = "pages/admin.py"
ADMIN, CHAIR, VIEWER = "grace.lindqvist", "amara.okafor", "hugo.tanaka"
PASSWORD = "a password for lin the member"


def _toggle(app):
    return app.button(key="ad_account_toggle")


def _choose(app, user_name: str):
    app.selectbox(key="ad_account").set_value(user_name).run()
    return app


def test_an_admin_disables_an_account_which_then_cannot_sign_in_and_enables_it_again(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        identity.add_user(store, user_name="lin", display_name="Lin", role="committee member",
                          actor=identity.get_user(store, user_name=ADMIN), password=PASSWORD)
    app = open_page(PAGE, demo_copy, monkeypatch, user=ADMIN)
    assert_clean(app)
    assert {"Accounts", "Committee rules"} <= {s.value for s in app.subheader}
    listing = next(d.value for d in app.dataframe if "state" in d.value.columns)
    with GovernanceStore(demo_copy) as store:
        expected = store.query_rows("SELECT user_name FROM app_user ORDER BY lower(display_name)")
    assert list(listing["account"]) == [r[0] for r in expected] and set(listing["state"]) == {"enabled"}

    app = _choose(app, "lin")
    assert _toggle(app).label == "Disable lin" and not _toggle(app).disabled
    _toggle(app).click().run()
    assert_clean(app)
    assert any("lin is disabled" in s.value for s in app.success)
    listing = next(d.value for d in app.dataframe if "state" in d.value.columns)
    assert listing.set_index("account").loc["lin", "state"] == "disabled"
    with GovernanceStore(demo_copy) as store:
        with pytest.raises(identity.PermissionDeniedError, match="disabled"):
            identity.authenticate(store, user_name="lin", password=PASSWORD)
        newest = ledger.entries(store, kind="account_change")[-1]
        assert (newest["actor"], newest["subject"], newest["payload"]["change"]) == (
            "grace.lindqvist (admin)", "lin", "disabled")

    assert _toggle(app).label == "Enable lin"
    _toggle(app).click().run()
    assert_clean(app)
    with GovernanceStore(demo_copy) as store:
        assert identity.authenticate(store, user_name="lin", password=PASSWORD).user_name == "lin"
        assert [e["payload"]["change"] for e in ledger.entries(store, kind="account_change", subject="lin")] == [
            "add", "disabled", "enabled"]

    # the workspace's one admin: refused by the service, said on the page, nothing changed
    app = _choose(app, ADMIN)
    _toggle(app).click().run()
    assert_clean(app)
    assert [e.value for e in app.error] and "last enabled admin" in app.error[0].value
    with GovernanceStore(demo_copy) as store:
        assert identity.get_user(store, user_name=ADMIN).role == "admin"


def test_the_chair_changes_the_committee_rules_and_a_viewer_cannot(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        before = committee.rules(store)
        entries = len(ledger.entries(store, kind="committee_change"))
    viewer = open_page(PAGE, demo_copy, monkeypatch, user=VIEWER)
    assert_clean(viewer)
    assert viewer.button(key="FormSubmitter:ad_committee_rules-Record the rules").disabled
    assert _toggle(viewer).disabled

    app = open_page(PAGE, demo_copy, monkeypatch, user=CHAIR)
    assert_clean(app)
    fraction = next(n for n in app.number_input if n.label.startswith("Quorum"))
    assert fraction.value == pytest.approx(before["quorum_fraction"])
    fraction.set_value(0.65)
    next(n for n in app.number_input if n.label.startswith("A decision is valid")).set_value(180)
    app.button(key="FormSubmitter:ad_committee_rules-Record the rules").click().run()
    assert_clean(app)
    assert any("Recorded quorum_fraction, decision_validity_days" in s.value for s in app.success)
    with GovernanceStore(demo_copy) as store:
        after = committee.rules(store)
        changes = ledger.entries(store, kind="committee_change")[entries:]
    assert after == {**before, "quorum_fraction": 0.65, "decision_validity_days": 180}
    assert [(c["actor"], c["payload"]["key"], c["payload"]["value"]) for c in changes] == [
        ("amara.okafor (committee chair)", "quorum_fraction", "0.65"),
        ("amara.okafor (committee chair)", "decision_validity_days", "180")]
    # the page shows what the service now holds
    assert "more than 0.65" in " ".join(c.value for c in app.caption)
    with GovernanceStore(demo_copy) as store, pytest.raises(GovernanceError):
        committee.set_rule(store, key="quorum_fraction", value="0.9", actor=identity.get_user(store, user_name=VIEWER))
