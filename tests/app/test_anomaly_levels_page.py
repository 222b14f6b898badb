"""The KPI page's accepted anomaly levels: who accepted which new level, when and why, and the form to accept one
(engineering leaders and admins, with a reason)."""

from __future__ import annotations

import datetime as dt

from governance.monitoring.anomalies import ACCEPTED_KIND, kpi_anomalies
from governance.record import ledger
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page


def _form_button(app):
    return next(b for b in app.button if b.label == "Accept the new level")


def test_a_viewer_sees_the_form_but_cannot_accept(demo_copy, monkeypatch):
    app = open_page("pages/kpis.py", demo_copy, monkeypatch, user="hugo.tanaka")
    assert_clean(app)
    assert _form_button(app).disabled


def test_a_leader_accepts_the_v2_latency_level_with_a_reason_and_the_page_shows_who_when_why(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        found = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")
    (episode,) = [e for e in found["episodes"] if e["version"] == "v2"]
    app = open_page("pages/kpis.py", demo_copy, monkeypatch)
    assert_clean(app)
    next(s for s in app.selectbox if s.label == "Version").set_value("v2")
    next(d for d in app.date_input if d.label == "Normal from (UTC)").set_value(episode["start"].date())
    _form_button(app).click().run()                    # no reason: refused with the reason why
    assert_clean(app)
    assert any("reason" in e.value for e in app.error)
    next(t for t in app.text_input if t.label == "Why is this the new normal?").set_value("slower feature store")
    _form_button(app).click().run()
    assert_clean(app)
    with GovernanceStore(demo_copy) as store:
        (entry,) = ledger.entries(store, kind=ACCEPTED_KIND)
    payload = entry["payload"]
    assert (payload["version"], payload["kpi"], payload["reason"], payload["by"]) == (
        "v2", "latency_p95_ms", "slower feature store", "Farid Haddad")
    assert dt.datetime.fromisoformat(payload["from"]) == episode["start"].to_pydatetime()
    table = next(d.value for d in app.dataframe if "reason" in d.value.columns)
    assert list(table["reason"]) == ["slower feature store"]
    assert list(table["accepted by"]) == ["Farid Haddad (engineering leader)"]
