"""The Drift page, headless: a telemetry reference that the chosen version served, and plain errors."""

from __future__ import annotations

from governance.monitoring import drift
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page

PAGE = "pages/drift.py"


def test_a_telemetry_reference_defaults_to_days_the_version_served(demo_workspace, monkeypatch):
    with GovernanceStore(demo_workspace) as store:
        expected = drift.default_reference_period(store, model="adult-income", version="v2")
        report = drift.drift_report(store, model="adult-income", version="v2", reference=expected, grain="week")
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"dr_model": "adult-income"})
    assert_clean(app)
    next(s for s in app.selectbox if s.label == "Version").set_value("v2").run()
    next(s for s in app.selectbox if s.label == "Reference").set_value("a telemetry period").run()
    assert_clean(app)
    assert not app.error, [e.value for e in app.error]   # before: 07-01..07-30, before v2 served: an error
    assert next(d for d in app.date_input if d.label == "Reference period").value == expected
    assert any(c.value.startswith(f"Reference: {report.reference.describe()}.") for c in app.caption)


def test_the_status_shown_is_the_latest_complete_weeks_and_partial_weeks_are_labelled(demo_workspace, monkeypatch):
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"dr_model": "adult-income"})
    assert_clean(app)
    assert any("Status of the week of 2026-09-21 (the latest complete week)" in m.value for m in app.markdown)
    partial = [c.value for c in app.caption if c.value.startswith("Partial weeks")]
    assert partial and "2026-09-28 (1 of 7 days)" in partial[0] and "2026-06-29 (5 of 7 days)" in partial[0]
