"""The KPI page's estimate before labels arrive: the method's caption, the chart with its dashed estimate and band,
and, for a version whose calibration check fails, the warning that the estimate is not reliable."""

from __future__ import annotations

from components.formatting import plain
from governance.monitoring.performance_estimate import estimate_performance
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page

PAGE = "pages/kpis.py"


def test_the_kpi_page_shows_the_estimate_its_method_and_each_versions_check(demo_workspace, monkeypatch):
    with GovernanceStore(demo_workspace) as store:
        found = estimate_performance(store, model="adult-income", grain="day")
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"kp_model": "adult-income"})
    assert_clean(app)
    assert any(s.value == "Estimated before the labels arrive" for s in app.subheader)
    assert any(plain("Confidence-based performance estimation (CBPE)") in c.value for c in app.caption)
    warnings = [w.value for w in app.warning]
    for version, check in found.checks.items():
        if check.ok:
            assert any(c.value.startswith(plain(f"adult-income {version}: calibration check holds"))
                       for c in app.caption)
        else:
            assert any(w.startswith(plain(f"adult-income {version}: The calibration check fails")) and
                       "concept drift" in w for w in warnings), warnings
    assert any(c.value.startswith(plain("No label yet for 3 days")) for c in app.caption)


def test_a_failed_check_warns_that_the_estimate_is_not_reliable(demo_copy, monkeypatch):
    from tests.unit.monitoring.test_performance_estimate import flip_newest_outcomes

    flip_newest_outcomes(demo_copy, model="german-credit", since="2026-09-19")
    app = open_page(PAGE, demo_copy, monkeypatch, session={"kp_model": "german-credit"})
    assert_clean(app)
    warnings = [w.value for w in app.warning]
    assert any(w.startswith(plain("german-credit v1: The calibration check fails: the estimate is not reliable"))
               and "concept drift" in w for w in warnings), warnings


def test_as_of_a_day_the_window_and_the_estimate_end_on_it_and_the_forms_are_read_only(demo_workspace, monkeypatch):
    from datetime import date

    from components.as_of import AS_OF_KEY

    app = open_page(PAGE, demo_workspace, monkeypatch,
                    session={"kp_model": "german-credit", AS_OF_KEY: date(2026, 9, 10)})
    assert_clean(app)
    window = next(d for d in app.date_input if d.label == "Window")
    assert tuple(window.value)[-1] == date(2026, 9, 10)
    assert not any(c.value.startswith(plain("No label yet")) for c in app.caption)   # labels had come by then
    assert not [f for f in app.get("form")]   # no objective or level form on a past record
