"""The Drift page's Data quality tab: the checks table and a trend chart, without an exception."""

from __future__ import annotations

from tests.app.test_pages import open_page


def test_drift_page_shows_the_data_quality_section(demo_workspace, monkeypatch):
    app = open_page("pages/drift.py", demo_workspace, monkeypatch, session={"dr_tab": "Data quality"})
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    checks = app.dataframe[0].value
    assert {"check", "feature", "status", "value", "rule", "detail"} <= set(checks.columns)
    assert {"schema conformity", "missing values", "label coverage", "label delay"} <= set(checks["check"])
    assert set(checks["status"]) <= {"ok", "warn", "fail", "not judged"}
    assert any("held out from the training data" in c.value for c in app.caption)
    assert app.selectbox(key="dq_check").value == "schema conformity"
    app.selectbox(key="dq_check").set_value("label coverage").run()
    assert not app.exception, [e.value for e in app.exception]
