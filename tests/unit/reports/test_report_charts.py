"""The exported reports' charts (issue 20): the drift chart's dates are the weekly periods themselves and never run
into each other, and drawing a chart never asks for a font that is not there (4,886 `findfont` lines per report)."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta

import pytest
from matplotlib import font_manager

from governance.reports import charts
from governance.reports.charts import MAX_DATE_LABELS, drift_chart


def _weekly(first: date, weeks: int, features=("hours_per_week", "age")) -> list[dict]:
    return [{"period": (first + timedelta(weeks=i)).isoformat(), "feature": f, "psi": 0.02 * i + 0.01 * k,
             "status": "act" if i > 3 else "ok"} for i in range(weeks) for k, f in enumerate(features)]


def _tick_dates(svg: str) -> list[str]:
    return re.findall(r">\s*(\d{4}-\d{2}-\d{2})\s*<", svg)


@pytest.mark.parametrize("weeks", [5, 8, 14, 27])
def test_the_drift_charts_dates_are_its_weeks_spread_so_they_do_not_collide(weeks):
    first = date(2026, 8, 24)   # a Monday: weeks start on Monday (date_trunc)
    periods = [(first + timedelta(weeks=i)).isoformat() for i in range(weeks)]
    labels = _tick_dates(drift_chart(weekly=_weekly(first, weeks), thresholds={"psi_watch": 0.1, "psi_act": 0.25}))
    assert labels and set(labels) <= set(periods), labels        # every labelled date is a week's start
    assert len(labels) <= MAX_DATE_LABELS
    steps = {periods.index(b) - periods.index(a) for a, b in zip(labels, labels[1:])}
    assert len(steps) <= 1                                       # evenly spread: the same number of weeks apart
    assert labels[0] == periods[0]
    if weeks <= MAX_DATE_LABELS:
        assert labels == periods


@pytest.fixture
def no_system_fonts(monkeypatch):
    """This process's matplotlib as on a machine with only Debian's fonts-dejavu-core, or no fonts at all: only the
    fonts matplotlib ships with itself."""
    bundled = [f for f in font_manager.fontManager.ttflist if "mpl-data" in f.fname]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", bundled)
    font_manager.FontManager._findfont_cached.cache_clear()
    yield
    font_manager.FontManager._findfont_cached.cache_clear()


def test_drawing_the_report_charts_logs_no_findfont_warning(no_system_fonts, caplog):
    weekly = _weekly(date(2026, 8, 24), 6)
    daily = [{"date": (date(2026, 9, 1) + timedelta(days=i)).isoformat(), "accuracy": 0.85, "latency_p95_ms": 90.0,
              "error_rate": 0.004} for i in range(10)]
    with caplog.at_level(logging.DEBUG, logger="matplotlib.font_manager"):
        drift_chart(weekly=weekly, thresholds={"psi_watch": 0.1, "psi_act": 0.25})
        charts.kpi_chart(daily=daily, service_levels=[{"kpi": "accuracy", "target": 0.8}])
        charts.importance_chart({"global": [{"feature": "age", "mean_abs_shap": 0.3}],
                                        "output_units": "log_odds"})
    found = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in found if "findfont" in m], found[:3]
