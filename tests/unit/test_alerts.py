"""Alert episodes: a condition alerts once while it lasts, again only when its severity rises, and closes when it
clears; a dry run writes nothing; what is queued is in the outbox, once per episode and recipient."""

from __future__ import annotations

import json

import pytest

from governance import alert_delivery, alerts, identity, risks
from governance.errors import InvalidInputError
from governance.identity import PermissionDeniedError
from governance.store import GovernanceStore
from tests.conftest import AUDITOR, LEADER, VIEWER, forget_alerts

HOOK = "https://hooks.example.org/quorum"
ADMIN = identity.User("grace.lindqvist", "Grace Lindqvist", "admin", "demo")


def test_the_demo_has_checked_its_rules_once(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        opened = alerts.episodes(store)
        assert opened and all(e["closed_at"] is None for e in opened)
        # queued, by the default rules, to the roles' accounts; nothing sent: no SMTP is configured
        assert {d["status"] for d in alert_delivery.history(store)} == {"pending"}
        assert all(not d["attempts"] for d in alert_delivery.history(store))


def test_a_condition_alerts_once_escalates_and_closes(demo_copy, cli):
    forget_alerts(demo_copy)
    with GovernanceStore(demo_copy) as store:
        before = store.data_version()
        preview = alerts.check(store, dry_run=True)
        assert store.data_version() == before and not alerts.episodes(store)   # a dry run writes nothing
        whats = {a["what"] for a in preview["alerts"]}
        # the demo: hours_per_week at 'act', failing fairness audits, RV-0001 stale, overdue risk controls
        assert {"drift_act", "fairness_fail", "decision_stale", "overdue_control"} <= whats
        with pytest.raises(PermissionDeniedError):
            alerts.set_rules(store, model="adult-income", changes={"drift_act": {"recipients": [HOOK]}},
                             actor=VIEWER)
        with pytest.raises(InvalidInputError, match="severity must be one of"):
            alerts.set_rules(store, model="adult-income", changes={"drift_act": {"severity": "loud"}}, actor=LEADER)
        alerts.set_rules(store, model="adult-income", actor=LEADER,
                         changes={"drift_act": {"recipients": [HOOK, "oncall@example.org"]}})

        first = alerts.check(store)
        drift = sorted(k for k in first["opened"] if ":drift:" in k)
        drift_sent = [d for d in alert_delivery.history(store) if ":drift:" in d["alert_key"]]
        assert len(drift) == 2 and len(drift_sent) == 4          # two drifting versions × two recipients
        # the other conditions go to their roles by default: the risk owner hears of the overdue controls
        assert {d["recipient"] for d in alert_delivery.history(store) if ":control:" in d["alert_key"]} == {
            "elif.kaya@example.org"}
        assert sorted(first["opened"]) == sorted(a["alert_key"] for a in preview["alerts"])
        again = alerts.check(store)
        assert again["opened"] == [] and again["queued"] == 0 and again["escalated"] == []

        alerts.set_rules(store, model="adult-income", actor=LEADER, changes={"drift_act": {"severity": "critical"}})
        raised = alerts.check(store)
        assert sorted(raised["escalated"]) == drift and raised["queued"] == 4 and raised["opened"] == []
        queued = [d for d in alert_delivery.history(store) if ":drift:" in d["alert_key"]]
        assert sorted({d["alert_key"] for d in queued}) == sorted(
            [f"{k}:warning" for k in drift] + [f"{k}:critical" for k in drift])
        assert {(d["channel"], d["recipient"]) for d in queued} == {("webhook", HOOK), ("email", "oncall@example.org")}

        overdue = next(a for a in raised["alerts"] if a["what"] == "overdue_control")
        risk_id, control_id = overdue["alert_key"].split(":")[2:4]
        risks.update_control(store, risk_id=risk_id, control_id=control_id, status="done", actor=AUDITOR,
                             reason="done")
        cleared = alerts.check(store)
        assert overdue["alert_key"] in cleared["closed"] and overdue["alert_key"] not in cleared["opened"]
        closed = [e for e in alerts.episodes(store) if e["alert_key"] == overdue["alert_key"]]
        assert closed and closed[0]["closed_at"] is not None
        assert all(e["closed_at"] is None for e in alerts.episodes(store, open_only=True))

    listed = cli("--db", demo_copy, "alerts", "list", "--open", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["episodes"]) == cleared["open"]
    dry = cli("--db", demo_copy, "alerts", "check", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["opened"] == []


def test_recipients_by_role_or_name_reach_their_addresses_and_whoever_cannot_be_reached_is_named(demo_copy):
    forget_alerts(demo_copy)
    with GovernanceStore(demo_copy) as store:
        with pytest.raises(InvalidInputError, match="'nobody.here' is not a recipient"):
            alerts.set_rules(store, model="adult-income", actor=LEADER,
                             changes={"drift_act": {"recipients": ["nobody.here"]}})
        with pytest.raises(InvalidInputError, match="sensitivity .* must be a number from 2.0 to 10.0"):
            alerts.set_rules(store, model="adult-income", actor=LEADER, changes={"anomaly": {"sensitivity": 1}})
        alerts.set_rules(store, model="adult-income", actor=LEADER, changes={"drift_act": {
            "recipients": ["committee member", "elif.kaya", "ops@example.org", HOOK]}})
        identity.set_email(store, user_name="chen.wei", email=None, actor=ADMIN)
        # an independent count: the committee members' addresses, as stored
        members = [r[0] for r in store.query_rows("SELECT email FROM app_user WHERE role = 'committee member' "
                                                  "AND email IS NOT NULL ORDER BY lower(display_name)")]
        assert len(members) == 2
        reached, unreachable = alerts.addresses(store, recipients=alerts.rules(store, model="adult-income")[
            "drift_act"]["recipients"])
        assert reached == members + ["elif.kaya@example.org", "ops@example.org", HOOK]
        assert unreachable == ["chen.wei (no e-mail address)"]

        first = alerts.check(store)
        drift = [k for k in first["opened"] if ":drift:" in k]
        assert sorted(u["alert_key"] for u in first["unreachable"]) == sorted(drift)
        queued = {(d["channel"], d["recipient"]) for d in alert_delivery.history(store) if ":drift:" in d["alert_key"]}
        assert queued == {("email", a) for a in members + ["elif.kaya@example.org", "ops@example.org"]} | {
            ("webhook", HOOK)}
