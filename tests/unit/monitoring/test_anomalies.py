"""Anomaly detection on KPI series: bands that know each period's sample size, shifts that stay flagged until a
recorded acceptance, bands within what is possible, and few false alarms on clean hourly series."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from governance.access.identity import DEMO_USERS, PermissionDeniedError
from governance.errors import InvalidInputError
from governance.monitoring.anomalies import (ACCEPTED_KIND, BAD_ACCEPT_TIME, _count_law, accept_level, accepted_levels,
                                             detect, detect_proportion, detect_quantile, episodes, kpi_anomalies,
                                             quantile_slope)
from governance.monitoring.kpis import data_window, kpi_series
from governance.record import ledger, verification
from governance.record.store import GovernanceStore

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from anomaly_false_alarms import clean_hours, judge_clean  # noqa: E402  the benchmark's own simulator

LEADER = next(u for u in DEMO_USERS if u.role == "engineering leader")
VIEWER = next(u for u in DEMO_USERS if u.role == "viewer")


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


def _days(frame: pd.DataFrame) -> list[str]:
    return [f"{p:%Y-%m-%d}" for p in frame["period"]]


# --- (1) the demo's episodes -------------------------------------------------------------------------------------

def test_v2_latency_regression_is_flagged_on_exactly_the_slow_days(store):
    found = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")
    v2 = found["points"][found["points"]["version"] == "v2"]
    # the slow days read from the data itself (p95 over twice the version's median day), not from demo.py
    slow = v2[v2["value"] > 2 * v2["value"].median()]
    assert len(slow) >= 5
    flagged = v2[v2["anomalous"]]
    assert _days(flagged) == _days(slow), flagged[["period", "value", "expected", "score"]]
    assert (flagged["direction"] == "high").all() and (flagged["score"] > 10).all()
    (episode,) = [e for e in found["episodes"] if e["version"] == "v2"]
    assert (episode["start"], episode["end"]) == (slow["period"].min(), slow["period"].max() + pd.Timedelta(days=1))
    assert episode["worst"] == slow["value"].max() and episode["expected"] < 250
    # the baseline did not learn the slow days: the day after, the band is where it was before
    after = v2[v2["period"] > slow["period"].max()]
    assert not after["anomalous"].any() and after["upper"].max() < 2 * v2["value"].median()


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

    # At this test size (60k rows) no german-credit hour reaches 30 requests, so hours are judged from 10 here.
    found = kpi_anomalies(store, model="german-credit", kpi="error_rate", grain="hour", min_sample=10)
    flagged = found["points"][found["points"]["anomalous"]]
    assert len(flagged) >= 1
    assert set(flagged["period"]) <= {p for p in spike_hours if p.normalize() == spike_day}
    assert (flagged["direction"] == "high").all()


def test_bands_stay_within_what_is_possible(store):
    for model, kpi in (("adult-income", "latency_p95_ms"), ("adult-income", "error_rate"),
                       ("german-credit", "error_rate"), ("adult-income", "accuracy")):
        for grain in ("day", "hour"):
            points = kpi_anomalies(store, model=model, kpi=kpi, grain=grain, min_sample=10)["points"]
            band = points.dropna(subset=["lower", "upper"])
            assert len(band) > 0
            assert (band["lower"] >= 0).all() and (band["lower"] <= band["upper"]).all()
            if kpi == "latency_p95_ms":
                # never absurd: within 5x of the worst hour actually seen, regression included
                assert band["upper"].max() < 5 * points["value"].max(), (grain, band["upper"].max())
            else:
                assert (band["upper"] <= 1).all()


def test_accuracy_is_only_flagged_low_and_only_on_labelled_periods(store):
    found = kpi_anomalies(store, model="adult-income", kpi="accuracy", grain="day")
    points = found["points"]
    assert found["direction"] == "low"
    assert not points.loc[~points["judged"], "anomalous"].any()
    assert points.loc[~points["judged"], "score"].isna().all()   # the last days have no labels yet
    assert (points.loc[points["anomalous"], "direction"] == "low").all()


# --- (2) each period's own sample size -----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [40, 400])
def test_the_p95_standard_error_matches_a_simulation_of_sample_p95s(n):
    """The band's sampling part, sigma x sqrt(q(1-q)/n) / phi(z95) on the log scale with sigma read from p50, p95
    and p99 by quantile_slope, against the spread of 4,000 simulated p95s of n lognormal requests."""
    rng = np.random.default_rng(n)
    draws = np.exp(rng.normal(np.log(120), 0.38, size=(4000, n)))
    simulated = np.log(np.quantile(draws, 0.95, axis=1)).std()
    population = np.exp(np.log(120) + 0.38 * stats.norm.ppf([0.5, 0.95, 0.99]))
    slope = quantile_slope(*population)
    assert slope == pytest.approx(0.38, rel=1e-9)
    formula = slope * np.sqrt(0.95 * 0.05 / n) / stats.norm.pdf(stats.norm.ppf(0.95))
    assert formula == pytest.approx(simulated, rel=0.12), (formula, simulated)


def test_a_quiet_hour_gets_a_wider_latency_band_than_a_busy_one():
    frame = clean_hours(7, days=30, peak=400)
    points = detect_quantile(frame["p95"].where(frame["successes"] >= 30), p50_ms=frame["p50"],
                             p99_ms=frame["p99"], sample=frame["successes"], grain="hour")
    judged = points[points["score"].notna()]
    judged = judged.assign(n=frame.loc[judged["period"], "successes"].to_numpy())
    width = np.log(judged["upper"] / judged["lower"])
    quiet, busy = width[judged["n"] < 60].median(), width[judged["n"] > 300].median()
    assert quiet > 1.8 * busy, (quiet, busy)


@pytest.mark.parametrize("trials, p, concentration", [(40, 0.004, np.inf), (400, 0.01, np.inf), (40, 0.004, 250.0),
                                                        (300, 0.85, 80.0)])
def test_the_count_law_is_scipys_binomial_or_beta_binomial(trials, p, concentration):
    expected = stats.binom.pmf(np.arange(trials + 1), trials, p) if np.isinf(concentration) else \
        stats.betabinom.pmf(np.arange(trials + 1), trials, p * concentration, (1 - p) * concentration)
    np.testing.assert_allclose(_count_law(trials, p, concentration), expected, rtol=1e-8, atol=1e-300)


def test_the_rate_band_follows_each_periods_own_number_of_requests():
    """A clean binomial series: the band's upper edge is never narrower than scipy's binomial quantile at the
    baseline rate for that period's own n (the baseline's own uncertainty only widens it, and not by much), and a
    period of 40 gets a far wider band than one of 400."""
    rng = np.random.default_rng(3)
    index = pd.date_range("2026-07-01", periods=24 * 30, freq="h")
    trials = pd.Series(rng.choice([40, 400], size=len(index)).astype(float), index=index)
    events = pd.Series(rng.binomial(trials.astype(int), 0.01).astype(float), index=index)
    points = detect_proportion(events, trials=trials, grain="hour")
    judged = points[points["score"].notna()]
    judged = judged.assign(n=trials.loc[judged["period"]].to_numpy())
    assert ((judged["lower"] >= 0) & (judged["upper"] <= 1)).all()
    alpha = stats.norm.sf(4)
    for row in judged.itertuples():
        assert row.upper >= stats.binom.isf(alpha, int(row.n), row.expected) / row.n - 1e-12
        assert row.upper <= stats.binom.isf(alpha, int(row.n), 2 * row.expected) / row.n
    assert judged[judged["n"] == 40]["upper"].median() > 2 * judged[judged["n"] == 400]["upper"].median()
    # flagged exactly when the count's own tail under the band's law is beyond Phi(-4): none on a clean series
    assert not judged["anomalous"].any()


# --- (3) false alarms on clean hourly series at the demo's volumes -------------------------------------------------

FALSE_FLAG_BOUND = 0.0005   # issue 21: at most 0.05% of hours


def test_false_flag_rate_on_clean_hourly_series_at_demo_volumes():
    """Request-level simulation (the benchmark's), quiet nights of 15-70 requests included; the benchmark runs
    many more series. The detector this replaced flagged 0.58% of such hours."""
    flagged = judged = quiet = 0
    for seed in range(4):
        for kpi, points in judge_clean(clean_hours(seed, peak=(260, 300, 400)[seed % 3])).items():
            flagged += int(points["flagged"].sum())
            judged += len(points)
            quiet += int((points["n"] < 100).sum())
    assert judged > 4 * 2 * 1800 and quiet > 2000
    assert flagged <= FALSE_FLAG_BOUND * judged, f"{flagged} of {judged} clean hours flagged"


# --- (4) sustained shifts, acceptance ----------------------------------------------------------------------------

def _hourly(seed: int, days: int = 40) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-03-02", periods=24 * days, freq="h")
    daily = 20 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    return pd.Series(100 + daily[index.hour] + rng.normal(0, 1, len(index)), index=index)


def test_a_sustained_shift_stays_flagged_until_it_ends():
    series = _hourly(1)
    shifted = series.copy()
    shifted.iloc[24 * 14:24 * 30] += 15          # sixteen days, longer than the baseline's window
    points = detect(shifted, grain="hour")
    during = points.iloc[24 * 14:24 * 30]
    assert during["anomalous"].all(), during[~during["anomalous"]]
    assert not during["learned"].any()
    after = points.iloc[24 * 30 + 3:]
    assert after["anomalous"].mean() < 0.01 and after["learned"].mean() > 0.9


def test_an_accepted_level_becomes_the_baseline_from_its_start():
    series = _hourly(2)
    series.iloc[24 * 14:] += 15
    start = series.index[24 * 14]
    points = detect(series, grain="hour", accepted=[start])
    assert points["anomalous"].iloc[:24 * 14].mean() < 0.01
    relearning = points.iloc[24 * 14:24 * 14 + 12]
    assert relearning["score"].isna().all()      # the new level is learned before it is judged
    later = points.iloc[24 * 15:]
    assert later["score"].notna().all() and later["anomalous"].mean() < 0.01
    assert (later["expected"] - later["value"]).abs().median() < 2   # the new level, learned


def test_accepting_a_level_is_a_ledger_entry_by_an_allowed_role_with_a_reason(demo_copy):
    with GovernanceStore(demo_copy) as store:
        before = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")
        (episode,) = [e for e in before["episodes"] if e["version"] == "v2"]
        with pytest.raises(PermissionDeniedError):
            accept_level(store, model="adult-income", version="v2", kpi="latency_p95_ms", start=episode["start"],
                         reason="new hardware", actor=VIEWER)
        with pytest.raises(InvalidInputError):
            accept_level(store, model="adult-income", version="v2", kpi="latency_p95_ms", start=episode["start"],
                         reason="  ", actor=LEADER)
        with pytest.raises(InvalidInputError) as refused:
            accept_level(store, model="adult-income", version="v2", kpi="latency_p95_ms", start="2031-01-01",
                         reason="later", actor=LEADER)
        assert str(refused.value).startswith(BAD_ACCEPT_TIME.split("{")[0])
        level = accept_level(store, model="adult-income", version="v2", kpi="latency_p95_ms",
                             start=episode["start"], reason="the slower feature store is the new normal",
                             actor=LEADER)
        (entry,) = ledger.entries(store, kind=ACCEPTED_KIND)
        assert entry["actor"] == LEADER.recorded_as and entry["payload"]["reason"] == level.reason
        assert verification.verify(store)["ok"]
        assert accepted_levels(store, model="adult-income", kpi="latency_p95_ms") == [level]
        after = kpi_anomalies(store, model="adult-income", kpi="latency_p95_ms", grain="day")
    assert after["accepted"] == [level.as_dict()]
    v2 = after["points"][after["points"]["version"] == "v2"]
    assert not v2.loc[v2["period"] >= episode["start"], "anomalous"].any()
    v1 = after["points"][after["points"]["version"] == "v1"]
    v1_before = before["points"][before["points"]["version"] == "v1"]
    assert v1["anomalous"].tolist() == v1_before["anomalous"].tolist()   # another version is untouched


# --- (5) gaps, history, no look-ahead ------------------------------------------------------------------------------

def _clean(seed: int, days: int = 90) -> pd.Series:
    """Weekly seasonality + slow trend + Gaussian noise (sd 1), shapes and sizes varying by seed."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=days, freq="D")
    weekly = np.array([0.0, 1.0, 1.5, 1.0, 0.5, -3.0, -4.0]) * rng.uniform(0.0, 2.0)
    trend = rng.uniform(-0.08, 0.08) * np.arange(days)
    return pd.Series(100 + weekly[index.day_of_week] + trend + rng.normal(0, 1, days), index=index)


def test_not_judged_periods_are_never_flagged_and_do_not_break_an_episode():
    series = _clean(7)
    series.iloc[[30, 45, 61]] = np.nan
    series.iloc[60:] += 50                      # a huge step, with a gap just after it
    points = detect(series, grain="day")
    gaps = points.iloc[[30, 45, 61]]
    assert not gaps["anomalous"].any() and gaps["score"].isna().all() and gaps["direction"].isna().all()
    assert gaps["expected"].notna().all()        # the band is still drawn over a gap
    assert points["anomalous"].iloc[60:].sum() == len(series) - 60 - 1   # every judged day of the step
    first = episodes(points, grain="day")[0]     # the gap at 61 does not split the episode
    assert first["start"] == series.index[60] and first["end"] == series.index[-1] + pd.Timedelta(days=1)


def test_no_judging_before_enough_history():
    points = detect(_clean(3), grain="day")
    assert points["expected"].iloc[:10].isna().all() and not points["anomalous"].iloc[:14].any()
    assert points["score"].iloc[20:].notna().all()


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
    series = _hourly(5, days=21)
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
