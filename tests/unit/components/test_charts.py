"""The KPI charts' expected band: drawn within what the measure can take, on an axis that fits the data, so a band
that widens after a regression (issue 20: up to ~165,000 ms) never flattens the lines it surrounds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.charts import anomaly_band, axis_range, data_range, kpi_line_chart

DAYS = pd.date_range("2026-09-01", periods=10, freq="D")


def _series(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"version": "v2", "period": day, **{k: v[i] for k, v in values.items()}}
                         for i, day in enumerate(DAYS)])


def _points(value, lower, upper) -> pd.DataFrame:
    return pd.DataFrame({"version": "v2", "period": DAYS, "value": value, "expected": value, "lower": lower,
                         "upper": upper, "score": 0.0, "anomalous": [False] * 9 + [True]})


def _band(figure) -> np.ndarray:
    return np.concatenate([np.asarray(t.y, dtype=float) for t in figure.data if "band" in (t.legendgroup or "")])


def test_a_band_that_explodes_after_a_regression_does_not_set_the_latency_axis():
    p95 = [90, 92, 88, 91, 520, 530, 510, 160, 158, 161]
    series = _series({"latency_p50_ms": [45] * 10, "latency_p95_ms": p95, "latency_p99_ms": [v * 1.3 for v in p95]})
    figure = kpi_line_chart(series, columns={"latency_p50_ms": "p50", "latency_p95_ms": "p95",
                                             "latency_p99_ms": "p99"}, title="Inference latency", y_title="ms",
                            target=250.0)
    upper = [120, 125, 118, 120, 700, 5_000, 165_000, 90_000, 40_000, 20_000]
    lower = [70, 72, 69, 70, 80, 0.2, 0.16, 0.3, 1.0, 2.0]
    anomaly_band(figure, _points(p95, lower, upper), label="p95 expected", possible=(0.0, None))
    bottom, top = figure.layout.yaxis.range
    data_top = max(p95) * 1.3
    assert top <= 1.2 * data_top          # the axis fits the data (and the SLO line), not the band
    assert bottom >= 0.0
    band = _band(figure)
    assert band.min() >= 0.0 and band.max() <= top


def test_a_rate_band_stays_within_zero_and_one():
    rates = [0.004, 0.003, 0.005, 0.004, 0.006, 0.002, 0.0, 0.004, 0.005, 0.003]
    figure = kpi_line_chart(_series({"error_rate": rates}), columns={"error_rate": "error rate"},
                            title="Error rate", y_title="", percent=True, target=0.01)
    anomaly_band(figure, _points(rates, [-0.03] * 10, [0.04] * 10), possible=(0.0, 1.0))
    bottom, top = figure.layout.yaxis.range
    band = _band(figure)
    assert bottom >= 0.0 and band.min() >= 0.0       # never below 0%
    assert top <= 0.012 and band.max() <= top        # the axis fits the rates and the 1% target


def test_gaps_in_the_band_stay_gaps_and_the_range_has_a_margin():
    figure = kpi_line_chart(_series({"accuracy": [0.84] * 10}), columns={"accuracy": "accuracy"}, title="",
                            y_title="", percent=True)
    anomaly_band(figure, _points([0.84] * 10, [np.nan] * 3 + [0.8] * 7, [np.nan] * 3 + [1.3] * 7),
                 possible=(0.0, 1.0))
    band = _band(figure)
    assert np.isnan(band).sum() == 6 and np.nanmax(band) <= 1.0
    assert data_range(figure) is not None
    assert axis_range(10.0, 20.0, possible=(0.0, None)) == (9.2, 20.8)
    assert axis_range(0.0, 0.0, possible=(0.0, 1.0)) == (0.0, 1.0)
