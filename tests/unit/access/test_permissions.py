"""Every cell of the role x action table, through the real services on a real demo workspace.

One account per role tries every action. A role the table allows must get past the permission check (the
service may still refuse for another reason, e.g. a review already open: that is not a permission refusal);
a role it does not allow must be refused with PermissionDeniedError and change nothing. The observed table must
equal identity.PERMISSIONS, which the README shows (tests/unit/access/test_identity.py holds the two together).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from governance.access import identity
from governance.access.identity import PermissionDeniedError, User
from governance.decisions import committee, review_state, risks, stage_changes, voting
from governance.errors import GovernanceError
from governance.evidence import fairness, model_registry
from governance.monitoring import service_levels
from governance.record.store import GovernanceStore

ROLE_USERS = {role: User(f"as-{role.replace(' ', '-')}", f"Acting {role}", role, "demo") for role in identity.ROLES}
CHAIR, ADMIN = identity.DEMO_USERS[0], next(u for u in identity.DEMO_USERS if u.role == "admin")
MEMBERS = [u for u in identity.DEMO_USERS if u.role == "committee member"]


@pytest.fixture
def store(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as opened:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with opened.write() as tx:
            tx.executemany("INSERT INTO app_user VALUES (?, ?, ?, 'demo', NULL, ?, 'test', false, NULL)",
                           [[u.user_name, u.display_name, u.role, now] for u in ROLE_USERS.values()])
        on_committee = {m["user_name"] for m in committee.members(opened)}
        for user in [CHAIR, *MEMBERS, ROLE_USERS["committee member"], ROLE_USERS["committee chair"]]:
            if user.user_name not in on_committee:
                committee.add_member(opened, user_name=user.user_name, actor=ADMIN)
        yield opened


def _attempts(store: GovernanceStore) -> tuple[dict, dict]:
    """(action -> what must be in place first, action -> a function that tries it as the given user)."""
    data = fairness.evaluation_set_data(store, model="adult-income", version="v2")
    definition = fairness.make_definition(data=data, sensitive=["sex"], bootstrap=200)
    assessed = risks.add_risk(store, actor=CHAIR, risk=risks.NewRisk(
        title="A risk to accept", category="operational", owner="elif.kaya", likelihood=2, impact=2))["risk_id"]
    risks.update_risk(store, risk_id=assessed, changes={"status": "assessed"}, actor=CHAIR, reason="assessed")
    due = (date.today() + timedelta(days=30)).isoformat()
    state: dict = {}

    def request_review(user):
        state["review"] = review_state.request_review(store, model="adult-income", version="v2", gate="production",
                                                      actor=user)["review_id"]

    def vote(user):   # abstaining counts towards the quorum, so it cannot decide the review on its own
        voting.vote(store, review_id=_open_review(store), actor=user, vote="abstain", reason="permission test",
                    reauth={"method": "demo"})

    def decide_with_a_condition():
        """Before anyone tries to update a condition: the committee approves the open review with one."""
        review_id = _open_review(store)
        for member in [CHAIR, *MEMBERS]:   # until the committee has decided
            if voting.vote(store, review_id=review_id, actor=member, vote="approve_with_conditions",
                           reason="approve once latency is back within its objective", reauth={"method": "demo"},
                           conditions=[{"text": "latency p95 below 300 ms for 7 days", "owner": "farid.haddad",
                                        "due": due}])["decision"]:
                break
        state["condition"] = review_state.review(store, review_id=review_id)["conditions"][0]["condition_id"]

    def update_condition(user):
        review_state.update_condition(store, condition_id=state["condition"], status="met", reason="measured",
                                      actor=user)

    return {"update condition": decide_with_a_condition}, {
        "configure monitoring": lambda user: service_levels.set_service_level(
            store, model="adult-income", kpi="accuracy", target=0.8, actor=user),
        "register model": lambda user: model_registry.register_model(
            store, model="new-model", version="v1", content=b"not a model", file_name="m.skops", actor=user),
        "run audit": lambda user: fairness.define_audit(store, definition=definition, actor=user),
        "edit risks": lambda user: risks.add_risk(store, actor=user, risk=risks.NewRisk(
            title=f"Raised by {user.role}", category="privacy", owner="elif.kaya", likelihood=3, impact=3)),
        "accept risk": lambda user: risks.update_risk(store, risk_id=assessed, changes={"status": "accepted"},
                                                      actor=user, reason="within appetite"),
        "request review": request_review,
        "vote": vote,
        "manage committee": lambda user: committee.set_rule(store, key="decision_validity_days", value=365,
                                                            actor=user),
        "update condition": update_condition,
        "change stage": lambda user: stage_changes.advance_stage(store, model="adult-income", version="v2",
                                                                 to_stage="production", actor=user, reason="approved"),
        "manage users": lambda user: identity.add_user(store, user_name=f"new-{user.user_name}", display_name="",
                                                       role="viewer", actor=user, password="correct horse battery"),
    }


def _open_review(store: GovernanceStore) -> str:
    return next(r["review_id"] for r in review_state.list_reviews(store, model="adult-income", version="v2")
                if r["outcome"] is None)


def test_every_role_can_do_exactly_what_the_table_says(store):
    preparations, attempts = _attempts(store)
    assert set(attempts) == set(identity.PERMISSIONS), "every action of the table is exercised"
    observed, other_refusals = {}, []
    for action in identity.PERMISSIONS:   # in table order: a review is requested before it is voted on
        allowed = []
        preparations.get(action, lambda: None)()
        for role, user in ROLE_USERS.items():
            ledger_before = store.query_value("SELECT count(*) FROM ledger")
            try:
                attempts[action](user)
            except PermissionDeniedError:
                assert store.query_value("SELECT count(*) FROM ledger") == ledger_before, (action, role)
                continue
            except GovernanceError as exc:   # past the permission check, refused for another reason
                other_refusals.append((action, role, str(exc)))
            allowed.append(role)
        observed[action] = tuple(allowed)
    assert observed == identity.PERMISSIONS
    # The other refusals are the expected ones: a model file that is not a model, a risk already accepted, a
    # second request of an open review, a condition already met, a version already moved. Nothing else.
    for action, role, message in other_refusals:
        assert action in ("register model", "accept risk", "request review", "update condition", "change stage"), \
            (action, role, message)
