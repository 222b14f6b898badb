"""Issue 22 §4: the rules of signing, stated once in governance/decisions (voting, review_state) and taken from
there by the Sign-offs page and the CLI alike: how a signer re-authenticates (reauthentication_method), who may vote
on a review now (why_no_vote, the facts `vote` enforces) and the approval a version's current stage stands on
(standing_approval).
The CLI runs as a real process (before the page, which keeps the workspace open); the page under AppTest."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from components.formatting import plain
from governance.access import identity
from governance.decisions import committee, review_state, voting
from governance.errors import GovernanceError
from governance.monitoring.inventory import list_versions
from governance.record import ledger
from governance.record.store import GovernanceStore
from tests.app.test_signoffs_page import (BEN, CHEN, GRACE, HUGO, PASSWORD, PEOPLE, buttons, db, open_review,  # noqa: F401
                                          open_signoffs, stored, texts)
from tests.unit.cli.test_cli import cli

LOCAL, OIDC, DEMO = "ines.local", "jo@example.org", BEN.user_name
# The rule as the README states it: a local account re-enters its password anywhere; an identity-provider account
# signs in the app (a recent sign-in); a demo person signs without a password in the demo workspace, never through
# a server. None: it cannot sign there.
EXPECTED = {LOCAL: {"app": "password", "terminal": "password", "server": "password"},
            OIDC: {"app": "oidc", "terminal": None, "server": None},
            DEMO: {"app": "demo", "terminal": "demo", "server": None}}


@pytest.fixture
def members(db):
    with GovernanceStore(db) as store:
        identity.add_user(store, user_name=LOCAL, display_name="Ines Local", role="committee member", actor=GRACE,
                          password=PASSWORD)
        identity.add_user(store, user_name=OIDC, display_name="Jo Provider", role="committee member", actor=GRACE,
                          source="oidc")
        identity.add_user(store, user_name="kai.seatless", display_name="Kai Seatless", role="committee member",
                          actor=GRACE, password=PASSWORD)
        for name in (LOCAL, OIDC):
            committee.add_member(store, user_name=name, actor=GRACE)
    return db


def method(store, user_name: str, where: str) -> str | None:
    try:
        return voting.reauthentication_method(store, signer=identity.get_user(store, user_name=user_name),
                                              where=where)
    except GovernanceError as refused:
        assert str(refused) == voting.CANNOT_SIGN_HERE.format(who=user_name)
        return None


def test_the_page_and_the_cli_ask_each_signer_for_what_the_service_says(members, monkeypatch):
    with GovernanceStore(members) as store:
        assert {u: {w: method(store, u, w) for w in voting.SIGNING_PLACES} for u in EXPECTED} == EXPECTED
    review_id = open_review(members)["review_id"]

    vote = ("--db", str(members), "signoff", "vote", review_id, "--vote", "abstain", "--reason", "not my field")
    refused = cli(*vote, "--by", OIDC)
    assert refused.returncode == 2
    assert refused.stderr == f"error: {voting.CANNOT_SIGN_HERE.format(who=OIDC)}\n"
    assert cli(*vote, "--by", LOCAL, env={"QUORUM_PASSWORD": PASSWORD}).returncode == 0
    assert cli(*vote, "--by", DEMO).returncode == 0
    signed = {v["user_name"]: v["auth_method"] for v in stored(members, review_id)["votes"]}
    assert signed == {LOCAL: EXPECTED[LOCAL]["terminal"], DEMO: EXPECTED[DEMO]["terminal"]}

    other = open_review_for_the_page(members, review_id)
    sessions = {LOCAL: "password", OIDC: "oidc", CHEN.user_name: "demo"}
    for user_name, session_method in sessions.items():
        app = open_signoffs(members, monkeypatch, user=user_name, params={"review": other},
                            auth={"method": session_method, "signed_in_at": time.time() - 30})
        password_box = [t for t in app.text_input if t.key == f"so_v_password_{other}"]
        shown = texts(app)
        expected = EXPECTED.get(user_name, EXPECTED[DEMO])["app"]
        assert buttons(app, "Sign"), user_name
        assert bool(password_box) == (expected == "password"), user_name
        assert ("Demo mode signs without a password" in shown) == (expected == "demo"), user_name
        assert ("Signed with your recent identity-provider sign-in" in shown) == (expected == "oidc"), user_name


def open_review_for_the_page(db, signed: str) -> str:
    """A review nobody has signed yet: open_review settles the one the CLI signed and requests the next."""
    assert stored(db, signed)["votes"]
    return open_review(db)["review_id"]


def test_the_page_says_who_may_vote_as_the_service_decides_and_vote_agrees(members, monkeypatch):
    review_id = open_review(members)["review_id"]
    with GovernanceStore(members) as store:
        voting.vote(store, review_id=review_id, actor=BEN, vote="abstain", reason="not my field",
                    reauth={"method": "demo"})
        review = review_state.review(store, review_id=review_id)
        users = {u: identity.get_user(store, user_name=u) for u in (BEN.user_name, HUGO.user_name, "kai.seatless",
                                                                    CHEN.user_name)}
        answers = {u: voting.why_no_vote(store, review=review, user=user) for u, user in users.items()}
    assert answers == {BEN.user_name: voting.SIGNED_ALREADY,
                       HUGO.user_name: voting.NOT_A_VOTER.format(role="viewer"),
                       "kai.seatless": committee.NOT_ON_COMMITTEE.format(who="Kai Seatless", role="committee member"),
                       CHEN.user_name: None}
    with GovernanceStore(members) as store:   # `vote` refuses exactly those the page tells they cannot vote
        for user_name, why in answers.items():
            user = users[user_name]
            reauth = {"method": "demo"} if user.source == "demo" else {"method": "password", "password": PASSWORD}
            if why is None:
                continue
            with pytest.raises(GovernanceError):
                voting.vote(store, review_id=review_id, actor=user, vote="approve", reason="may I?", reauth=reauth)
    for user_name, why in answers.items():
        session = "demo" if users[user_name].source == "demo" else "password"
        app = open_signoffs(members, monkeypatch, user=user_name, params={"review": review_id},
                            auth={"method": session, "signed_in_at": time.time()})
        if why is None:
            assert buttons(app, "Sign"), user_name
        else:
            assert not buttons(app, "Sign") and plain(why) in [c.value for c in app.caption], user_name


def test_the_stage_gates_show_the_approval_each_stage_stands_on(members, monkeypatch):
    """Read apart from the service: per version, the newest decision in the ledger for the gate of the stage it
    is in; it stands when it approved."""
    with GovernanceStore(members) as store:
        versions = list_versions(store)
        decisions = ledger.entries(store, kind="decision")
        reviews = review_state.list_reviews(store)
    expected = {}
    for v in versions.itertuples(index=False):
        mine = [d for d in decisions if (d["payload"]["model"], d["payload"]["version"], d["payload"]["gate"])
                == (v.model, v.version, v.stage)]
        stands = mine and mine[-1]["payload"]["outcome"] != "rejected"
        expected[(v.model, v.version)] = mine[-1]["subject"] if stands else None
        found = review_state.standing_approval(reviews, model=v.model, version=v.version, stage=v.stage)
        assert (found or {}).get("review_id") == expected[(v.model, v.version)]
    assert any(expected.values())   # the demo has versions that stand on an approval
    app = open_signoffs(members, monkeypatch, "Stage gates")
    table = app.dataframe[0].value
    shown = dict(zip(zip(table["Model"], table["Version"]), table["Approval for the current stage"]))
    for key, review_id in expected.items():
        if review_id is None:
            assert shown[key] == "— (no review on record)", key
        else:
            assert shown[key].startswith(f"{review_id}: "), key
