"""Overdue controls, one rule for the register and for alerts: only an open risk has overdue controls, so a
closed, withdrawn or dismissed risk raises no alert. The expected set is worked out here from the register's
own controls (status, due date) and the risk's status, not through `risks.overdue_controls`."""

from __future__ import annotations

from datetime import date, timedelta

from governance import alerts
from governance.access import identity
from governance.decisions import risks
from governance.record.store import GovernanceStore

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
OWNER = PEOPLE["elif.kaya"]   # a risk owner: may edit, accept and close risks
ENDED = {"closed", "withdrawn", "dismissed"}


def _alerted(store, today: date) -> set[tuple[str, str]]:
    return {(f["evidence"]["risk_id"], f["evidence"]["control_id"])
            for f in alerts.findings(store, today=today) if f["what"] == "overdue_control"}


def _expected(store, today: date) -> set[tuple[str, str]]:
    """Open risks mapped to a model with a version (alerts are per model), controls not done and due before today."""
    models = set(store.query("SELECT DISTINCT model FROM model_version")["model"])
    return {(r["risk_id"], c["control_id"]) for r in risks.list_risks(store) if r["status"] not in ENDED
            and {m.split(" ")[0] for m in r["models"]} & models for c in r["controls"]   # "model" or "model v2"
            if c["status"] != "done" and c.get("due") and c["due"] < today.isoformat()}


def test_a_closed_risk_with_a_past_due_control_raises_no_alert(demo_copy):
    today = date.today()
    with GovernanceStore(demo_copy) as store:
        model = store.query("SELECT model FROM model_version ORDER BY model LIMIT 1")["model"][0]
        past = (today - timedelta(days=10)).isoformat()
        opened = risks.add_risk(store, actor=OWNER, risk=risks.NewRisk(
            title="Scores drift for a new branch", category="performance/drift", owner=OWNER.user_name, likelihood=3,
            impact=3, models=[model], clauses=["Article 10"]))
        risk_id = opened["risk_id"]
        with_control = risks.add_control(store, risk_id=risk_id, title="retrain on the new branch",
                                         owner=OWNER.user_name, due=past, actor=OWNER)
        key = (risk_id, with_control["controls"][-1]["control_id"])
        # open: the alert and the register agree, and both match the hand-worked set
        assert key in _alerted(store, today)
        assert _alerted(store, today) == _expected(store, today)
        assert risks.get_risk(store, risk_id=risk_id)["overdue_controls"] == 1
        # closed with the control still not done: neither the register nor alerts count it
        risks.update_risk(store, risk_id=risk_id, changes={"status": "assessed"}, actor=OWNER, reason="assessed")
        assert key in _alerted(store, today)   # assessed is still open
        closed = risks.update_risk(store, risk_id=risk_id, changes={"status": "closed"}, actor=OWNER,
                                   reason="the branch was never opened")
        assert closed["overdue_controls"] == 0
        assert key not in _alerted(store, today)
        assert _alerted(store, today) == _expected(store, today)


def test_the_rule_itself_on_every_status():
    today = date(2026, 6, 1)
    controls = [{"control_id": "C-1", "status": "planned", "due": "2026-05-31"},
                {"control_id": "C-2", "status": "in progress", "due": "2026-06-01"},   # due today: not yet late
                {"control_id": "C-3", "status": "done", "due": "2026-01-01"},
                {"control_id": "C-4", "status": "planned", "due": None}]
    for status in risks.NEXT_STATUSES:
        overdue = risks.overdue_controls({"status": status, "controls": controls}, today=today)
        assert [c["control_id"] for c in overdue] == ([] if status in ENDED else ["C-1"]), status
