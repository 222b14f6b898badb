"""The Alerts page, the alert rules on the Admin page, and the links an alert carries to its evidence."""

from __future__ import annotations

from aiosmtpd.controller import Controller

from components.formatting import plain
from governance import alerts
from governance.alerts import delivery
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page
from tests.conftest import forget_alerts
from tests.unit.alerts.test_alert_delivery import free_port


class Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_a_viewer_sees_the_demos_alerts_with_their_evidence_but_cannot_check_or_send(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        opened = alerts.episodes(store, open_only=True)
        waiting = [d for d in delivery.history(store) if d["status"] == "pending"]
    app = open_page("pages/alerts.py", demo_copy, monkeypatch, user="hugo.tanaka")
    assert_clean(app)
    metrics = {m.label: m.value for m in app.metric}
    assert int(metrics["Open critical"]) + int(metrics["Open warnings"]) == len(opened)
    assert int(metrics["Messages waiting"]) == len(waiting) > 0
    assert all(b.disabled for b in app.button if b.label in ("Check the rules now", "Send failed messages again"))
    table = app.dataframe[0].value
    assert sorted(table["alert_key"]) == sorted(e["alert_key"] for e in opened)
    # the first alert's detail: its key, its evidence and the messages queued for it
    first = sorted(opened, key=lambda e: -alerts.SEVERITIES.index(e["severity"]))[0]   # the worst, newest first
    assert first["severity"] == "critical" and app.subheader[0].value == plain(first["title"])
    messages = app.dataframe[2].value
    assert set(messages["status"]) == {"pending"} and len(messages) == sum(
        d["alert_key"].rsplit(":", 1)[0] == first["alert_key"] for d in waiting)


def test_a_leader_checks_now_and_the_waiting_messages_reach_a_real_smtp_server(demo_copy, monkeypatch):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("QUORUM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("QUORUM_SMTP_PORT", str(port))
    monkeypatch.setenv("QUORUM_SMTP_STARTTLS", "false")
    monkeypatch.setenv("QUORUM_MAIL_FROM", "quorum@example.org")
    try:
        with GovernanceStore(demo_copy) as store:
            waiting = [d for d in delivery.history(store) if d["status"] == "pending"]
        app = open_page("pages/alerts.py", demo_copy, monkeypatch)
        next(b for b in app.button if b.label == "Check the rules now").click().run()
        assert_clean(app)
    finally:
        controller.stop()
    assert any("opened 0, escalated 0, closed 0" in s.value.lower() for s in app.success), [
        s.value for s in app.success]
    assert any(f"Messages: {len(waiting)} delivered, 0 to retry, 0 failed." == m.value for m in app.info)
    assert sorted(r[0][0] for r in inbox.received) == sorted(d["recipient"] for d in waiting)
    with GovernanceStore(demo_copy) as store:
        assert {d["status"] for d in delivery.history(store)} == {"delivered"}


def test_a_leader_records_an_alert_rule_on_the_admin_page_and_a_viewer_cannot(demo_copy, monkeypatch):
    app = open_page("pages/admin.py", demo_copy, monkeypatch,
                    session={"ad_rules_model": "german-credit", "ad_rules_what": "anomaly"})
    assert_clean(app)
    [recipients] = [m for m in app.multiselect if m.label == "Recipients"]
    recipients.set_value(["engineering leader", "elif.kaya"])
    [threshold] = [n for n in app.number_input if n.label.startswith("Alert at")]
    threshold.set_value(5.5)
    next(b for b in app.button if b.label == "Record the rule").click().run()
    assert_clean(app)
    assert any("Recorded the rule for KPI anomaly of german-credit" in s.value for s in app.success)
    with GovernanceStore(demo_copy) as store:
        rule = alerts.rules(store, model="german-credit")["anomaly"]
        other = alerts.rules(store, model="adult-income")["anomaly"]
    assert rule["recipients"] == ["engineering leader", "elif.kaya"] and rule["sensitivity"] == 5.5
    assert other == alerts.DEFAULT_RULES["anomaly"]

    viewer = open_page("pages/admin.py", demo_copy, monkeypatch, user="hugo.tanaka")
    assert next(b for b in viewer.button if b.label == "Record the rule").disabled


def test_an_alerts_link_opens_its_evidence(demo_copy, monkeypatch):
    app = open_page("pages/kpis.py", demo_copy, monkeypatch)
    app.query_params["model"] = "german-credit"
    app.run()
    assert_clean(app)
    assert app.selectbox(key="kp_model").value == "german-credit"
    app = open_page("pages/risks.py", demo_copy, monkeypatch)
    app.query_params["risk"] = "R-003"
    app.run()
    assert_clean(app)
    assert app.selectbox(key="rk_risk").value == "R-003"
    with GovernanceStore(demo_copy) as store:
        audit = next(e for e in alerts.episodes(store) if e["what"] == "fairness_fail")["evidence"]["audit_id"]
    app = open_page("pages/fairness.py", demo_copy, monkeypatch, session={"fa_model": "german-credit"})
    app.query_params["audit"] = audit
    app.run()
    assert_clean(app)
    assert app.selectbox(key="fa_audit").value == audit


def test_after_checking_now_the_tiles_and_the_table_show_what_the_check_left(demo_copy, monkeypatch):
    forget_alerts(demo_copy)   # rules never checked: the check opens every alert the demo has
    app = open_page("pages/alerts.py", demo_copy, monkeypatch)
    assert_clean(app)
    assert {m.label: int(m.value) for m in app.metric}["Open critical"] == 0
    next(b for b in app.button if b.label == "Check the rules now").click().run()
    assert_clean(app)
    with GovernanceStore(demo_copy) as store:
        opened = alerts.episodes(store, open_only=True)
        waiting = [d for d in delivery.history(store) if d["status"] == "pending"]
    assert opened
    assert any(s.value.endswith(f"; {len(opened)} open now.") for s in app.success), [s.value for s in app.success]
    metrics = {m.label: int(m.value) for m in app.metric}
    assert metrics["Open critical"] + metrics["Open warnings"] == len(opened)   # not the count before the check
    assert metrics["Messages waiting"] == len(waiting)
    assert sorted(app.dataframe[0].value["alert_key"]) == sorted(e["alert_key"] for e in opened)
    # the check is recorded as the signed-in leader's, and the detail says so
    assert {e["opened_by"] for e in opened} == {"farid.haddad (engineering leader)"}
    assert any("opened by farid.haddad (engineering leader)" in c.value for c in app.caption), [
        c.value for c in app.caption]
