"""Anomaly detection on KPI series: the demo's scripted episodes are found, clean series stay quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.anomalies import detect, episodes, kpi_anomalies
from governance.errors import InvalidInputError
from governance.kpis import data_window, kpi_series
from governance.store import GovernanceStore


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


def _days(frame: pd.DataFrame) -> list[str]:
    return [f"{p:%Y-%m-%d}" for p in frame["period"]]


# --- (1) the demo's episodes -------------------------------------------------------------------------------------

def test_v2_latency_regression_is_flagged_on_exactly_the_slow_days(store):
    found = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")
    points = found["points"]
    v2 = points[points["version"] == "v2"]
    # the slow days read from the data itself (p95 over twice the version's median day), not from demo.py
    slow = v2[v2["value"] > 2 * v2["value"].median()]
    assert len(slow) >= 5
    flagged = v2[v2["anomalous"]]
    assert _days(flagged) == _days(slow), flagged[["period", "value", "expected", "score"]]
    assert (flagged["direction"] == "high").all() and (flagged["score"] > 10).all()
    v2_episodes = [e for e in found["episodes"] if e["version"] == "v2"]
    assert len(v2_episodes) == 1
    episode = v2_episodes[0]
    assert (episode["start"], episode["end"]) == (slow["period"].min(), slow["period"].max() + pd.Timedelta(days=1))
    assert episode["worst"] == slow["value"].max() and episode["expected"] < 250


def test_v1_latency_in_normal_weeks_raises_nothing(store):
    points = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")["points"]
    start = data_window(store, model="adult-income").start
    v1 = points[(points["version"] == "v1") & (points["period"] >= start + pd.Timedelta(days=10))
                & (points["period"] <= start + pd.Timedelta(days=60))]
    assert v1["score"].notna().sum() >= 40          # judged, so the silence means something
    assert not v1["anomalous"].any(), v1[v1["anomalous"]]


def test_german_error_spike_is_flagged_at_day_and_hour_grain(store):
    span = data_window(store, model="german-credit")
    hourly = kpi_series(store, model="german-credit", window=span, grain="hour")
    # read from the data, not demo.py: hours of at least 10 requests failing more than 10% of them
    spike_hours = set(hourly.loc[(hourly["error_rate"] > 0.1) & (hourly["n"] >= 10), "period"])
    spike_day = min(spike_hours).normalize()

    daily = kpi_anomalies(store, model="german-credit", kpi="error_rate", grain="day")
    assert [(e["start"], e["periods"]) for e in daily["episodes"]] == [(spike_day, 1)]

    # At this test size (60k rows) no german-credit hour reaches MIN_SAMPLE requests, so hours are judged from
    # 10 requests here; the shipped demo (1M rows) has over MIN_SAMPLE in every daytime hour.
    found = kpi_anomalies(store, model="german-credit", kpi="error_rate", grain="hour", min_sample=10)
    flagged = found["points"][found["points"]["anomalous"]]
    assert len(flagged) >= 1
    assert set(flagged["period"]) <= {p for p in spike_hours if p.normalize() == spike_day}
    assert all(p.hour in (10, 11, 12) for p in flagged["period"])
    assert (flagged["direction"] == "high").all()


def test_accuracy_is_only_flagged_low_and_only_on_labelled_periods(store):
    found = kpi_anomalies(store, model="adult-income", kpi="accuracy", grain="day")
    points = found["points"]
    assert found["direction"] == "low"
    assert not points.loc[~points["judged"], "anomalous"].any()
    assert points.loc[~points["judged"], "score"].isna().all()   # the last days have no labels yet
    assert (points.loc[points["anomalous"], "direction"] == "low").all()


# --- (2) false alarms on clean series ----------------------------------------------------------------------------

FALSE_ALARM_BOUND = 0.005


def _clean(seed: int, days: int = 90) -> pd.Series:
    """Weekly seasonality + slow trend + Gaussian noise (sd 1), shapes and sizes varying by seed."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=days, freq="D")
    weekly = np.array([0.0, 1.0, 1.5, 1.0, 0.5, -3.0, -4.0]) * rng.uniform(0.0, 2.0)
    trend = rng.uniform(-0.08, 0.08) * np.arange(days)
    return pd.Series(100 + weekly[index.day_of_week] + trend + rng.normal(0, 1, days), index=index)


def test_false_alarm_rate_on_clean_seasonal_series_is_low():
    flagged = judged = 0
    for seed in range(200):
        points = detect(_clean(seed), grain="day")
        flagged += int(points["anomalous"].sum())
        judged += int(points["score"].notna().sum())
    rate = flagged / judged
    assert judged > 200 * 60
    assert rate < FALSE_ALARM_BOUND, (f"false-alarm rate {rate:.4%} ({flagged} of {judged} judged days, "
                                      f"both directions) is not below {FALSE_ALARM_BOUND:.1%}")
    print(f"false-alarm rate {rate:.4%} ({flagged} of {judged} judged days)")


# --- (3) steps and gaps ------------------------------------------------------------------------------------------

def test_a_step_of_six_spreads_is_flagged_within_one_period():
    t0 = 60
    for seed in range(20):
        clean = _clean(1000 + seed)
        spread = detect(clean, grain="day")["spread"].iloc[t0]
        stepped = clean.copy()
        stepped.iloc[t0:] += 6 * spread
        points = detect(stepped, grain="day")
        assert points["anomalous"].iloc[t0] or points["anomalous"].iloc[t0 + 1], (seed, points.iloc[t0:t0 + 2])


def test_not_judged_periods_are_never_flagged_and_do_not_break_the_window():
    series = _clean(7)
    series.iloc[[30, 45, 61]] = np.nan
    series.iloc[60:] += 50                      # a huge step, with a gap just after it
    points = detect(series, grain="day")
    gaps = points.iloc[[30, 45, 61]]
    assert not gaps["anomalous"].any() and gaps["score"].isna().all() and gaps["direction"].isna().all()
    assert gaps["expected"].notna().all()        # the band is still drawn over a gap
    assert points["expected"].iloc[31:60].notna().all() and points["anomalous"].iloc[[60, 62]].all()
    first = episodes(points, grain="day")[0]     # the gap at 61 does not split the episode
    assert first["start"] == series.index[60] and first["end"] > series.index[62] and first["periods"] >= 3


def test_no_judging_before_enough_history():
    points = detect(_clean(3), grain="day")
    assert points["expected"].iloc[:10].isna().all() and not points["anomalous"].iloc[:14].any()
    assert points["score"].iloc[20:].notna().all()


# --- (4) no look-ahead -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [20, 45, 75])
def test_expected_value_does_not_depend_on_the_future(t):
    series = _clean(11)
    before = detect(series, grain="day")
    altered = series.copy()
    rng = np.random.default_rng(0)
    altered.iloc[t + 1:] = rng.normal(0, 1000, len(series) - t - 1)
    altered.iloc[t + 3] = np.nan
    after = detect(altered, grain="day")
    for column in ("expected", "lower", "upper", "spread", "score", "anomalous"):
        np.testing.assert_array_equal(before[column].iloc[:t + 1].to_numpy(), after[column].iloc[:t + 1].to_numpy())


def test_hour_grain_follows_the_hour_of_day_pattern():
    rng = np.random.default_rng(5)
    index = pd.date_range("2026-03-02", periods=24 * 21, freq="h")
    daily = 20 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    series = pd.Series(100 + daily[index.hour] + rng.normal(0, 1, len(index)), index=index)
    points = detect(series, grain="hour")
    assert points["anomalous"].mean() < 0.01
    series.iloc[400] += 10                      # small against the daily swing, large against the noise
    assert detect(series, grain="hour")["anomalous"].iloc[400]


def test_bad_arguments_are_refused():
    series = _clean(1)
    with pytest.raises(InvalidInputError):
        detect(series, grain="week")
    with pytest.raises(InvalidInputError):
        detect(series, grain="day", sensitivity=0)
    with pytest.raises(InvalidInputError):
        detect(series, grain="day", window=14, min_history=20)


# --- the KPI chart's band ----------------------------------------------------------------------------------------

def test_anomaly_band_shades_the_expected_range_and_marks_the_anomalies(store):
    from components.charts import anomaly_band, kpi_line_chart

    span = data_window(store, model="adult-income")
    series = kpi_series(store, model="adult-income", window=span, grain="day")
    points = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")["points"]
    figure = anomaly_band(kpi_line_chart(series, columns={"latency_p95_ms": "p95"}, title="p95", y_title="ms"),
                          points, label="p95 expected")
    names = [trace.name for trace in figure.data]
    assert {"v1 p95 expected band", "v2 p95 expected band", "v2 anomaly"} <= set(names)
    assert "v1 anomaly" not in names
    band = next(t for t in figure.data if t.name == "v2 p95 expected band")
    assert band.fill == "tonexty"
    marks = next(t for t in figure.data if t.name == "v2 anomaly")
    assert len(marks.x) == int(points.loc[points["version"] == "v2", "anomalous"].sum()) >= 5
