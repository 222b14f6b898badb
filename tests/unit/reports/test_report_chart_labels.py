"""Report charts draw names as plain text (issue 22): a group or feature name holding `$…$` is not parsed as
mathtext, so it neither fails the report nor is drawn as a formula. The label reads back literally from the SVG."""

from __future__ import annotations

import html
import re

import pytest

from governance.reports.charts import coverage_chart, drift_chart, fairness_chart, importance_chart

NAMES = ["$x^2$ \\frac{a}{b}$",      # the name: odd dollars
         "$\\frac{a}{b$",             # even dollars, broken TeX: mathtext raises
         "$x^2$",                      # valid mathtext: would be drawn as x²
         "cost $5 to $10"]


def _texts(svg: str) -> list[str]:
    """Every <text> element's content, unescaped (svg.fonttype 'none' keeps text as text)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, re.S)]


@pytest.mark.parametrize("name", NAMES)
def test_a_feature_name_with_dollars_is_drawn_literally_in_the_drift_legend(name):
    weekly = [{"period": f"2026-09-{d:02d}", "feature": name, "psi": 0.1 * i, "status": "act"}
              for i, d in enumerate((7, 14, 21))]
    svg = drift_chart(weekly=weekly, thresholds={"psi_watch": 0.1, "psi_act": 0.25})
    assert name in _texts(svg)


@pytest.mark.parametrize("name", NAMES)
def test_a_feature_name_with_dollars_is_drawn_literally_on_the_importance_axis(name):
    svg = importance_chart({"global": [{"feature": name, "mean_abs_shap": 0.2}, {"feature": "age",
                                                                                 "mean_abs_shap": 0.1}],
                            "output_units": "probability"})
    assert name in _texts(svg)


@pytest.mark.parametrize("name", NAMES)
def test_a_sensitive_feature_and_audit_with_dollars_are_drawn_literally_in_the_fairness_chart(name):
    audit = {"audit_id": name, "criteria": [{"name": "demographic_parity_ratio", "sensitive": [name], "value": 0.8,
                                             "ci_low": 0.7, "ci_high": 0.9, "threshold": 0.8, "verdict": "pass"}]}
    texts = _texts(fairness_chart(audit))
    assert f"demographic parity ratio ({name}) — pass" in texts
    assert any(t.startswith(f"{name}: value (dot)") for t in texts)


def test_a_framework_name_with_dollars_is_drawn_literally_in_the_coverage_chart():
    frameworks = [{"name": n, "counts": {"covered": 1, "partial": 1, "gap": 1}} for n in NAMES]
    texts = _texts(coverage_chart(frameworks))
    assert all(n in texts for n in NAMES)
