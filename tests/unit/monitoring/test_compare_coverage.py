"""A/B comparison: coverage and false verdicts of the rate, cost and value intervals, by simulation.

Bounds stated before the results were looked at: a 95% interval must cover at least 95% - 3 MCSE - 1% of the time
(MCSE the Monte-Carlo standard error at 95%), and equal versions may be called better or worse at most
5% + 3 MCSE + 1% of the time. benchmarks/ab_rates_coverage.py runs the same with more data sets and settings.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from governance.monitoring.compare import _verdict, compare_versions, newcombe_interval
from governance.monitoring.kpis import Window
from governance.record.store import GovernanceStore


def _coverage_floor(n: int) -> float:
    return 0.95 - 3 * math.sqrt(0.95 * 0.05 / n) - 0.01


def _false_verdict_ceiling(n: int) -> float:
    return 0.05 + 3 * math.sqrt(0.95 * 0.05 / n) + 0.01


def test_newcombe_interval_is_the_hybrid_of_scipys_wilson_intervals():
    # Independent: Newcombe's method 10 written out from scipy's Wilson score intervals. Within 1e-7, not 1e-9:
    # Quorum's z is 1.959964, scipy's the exact 1.95996398..., which moves a bound by up to a few 1e-9.
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_a, n_b = rng.integers(1, 5_000, 2)
        x_a, x_b = rng.integers(0, n_a + 1), rng.integers(0, n_b + 1)
        wilson_a = stats.binomtest(int(x_a), int(n_a)).proportion_ci(method="wilson")
        wilson_b = stats.binomtest(int(x_b), int(n_b)).proportion_ci(method="wilson")
        p_a, p_b = x_a / n_a, x_b / n_b
        expected = (p_b - p_a - math.hypot(p_b - wilson_b.low, wilson_a.high - p_a),
                    p_b - p_a + math.hypot(wilson_b.high - p_b, p_a - wilson_a.low))
        found = newcombe_interval(successes_a=int(x_a), n_a=int(n_a), successes_b=int(x_b), n_b=int(n_b))
        assert found == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("p_a, p_b, n_a, n_b, higher_is_better", [
    (0.80, 0.80, 200, 200, True),            # accuracy, small n
    (0.844, 0.844, 95_040, 95_357, True),    # accuracy at the demo's labelled A/B sizes, versions equal
    (0.844, 0.866, 95_040, 95_357, True),    # ... and differing as the demo's do
    (0.80, 0.85, 50, 50, True),              # a real difference, small n
    (0.004, 0.004, 20_000, 20_000, False),   # the demo's error rate, versions equal
    (0.004, 0.004, 115_745, 115_921, False),  # ... at the demo's A/B sizes
    (0.004, 0.006, 115_745, 115_921, False),  # ... and a real difference
    (0.004, 0.004, 20_000, 1_000, False),    # unequal groups
])
def test_rate_interval_coverage_and_false_verdicts(p_a, p_b, n_a, n_b, higher_is_better):
    sims = 4_000
    rng = np.random.default_rng(round(1e6 * p_a) + n_b)
    covered = called = 0
    for x_a, x_b in zip(rng.binomial(n_a, p_a, sims).tolist(), rng.binomial(n_b, p_b, sims).tolist()):
        low, high = newcombe_interval(successes_a=x_a, n_a=n_a, successes_b=x_b, n_b=n_b)
        covered += low <= p_b - p_a <= high
        called += _verdict(low, high, higher_is_better=higher_is_better) != "no significant difference"
    assert covered / sims >= _coverage_floor(sims), f"coverage {covered} of {sims}"
    if p_a == p_b:
        assert called / sims <= _false_verdict_ceiling(sims), f"better or worse in {called} of {sims}"


# Demo-shaped telemetry (governance/demo/__init__.py's _telemetry, adult-income): latency lognormal around each version's
# median with the daily load, 0.4% failures with 0.8-3 s timeouts, cost from latency, value of the approved requests
# from their score (0.5 + 0.5 Beta(a, b), matched to the demo's approved scores), v2's 6-day latency regression.
V1 = {"median_ms": 38.0, "approved": 0.2332, "beta": (0.89, 0.89), "accuracy": 0.844, "regression": 0.0}
V2 = {"median_ms": 72.0, "approved": 0.2304, "beta": (0.685, 0.635), "accuracy": 0.866, "regression": 0.2}
LOAD = ([0, 4, 10, 14, 20, 23], [0.2, 0.1, 1.0, 1.0, 0.6, 0.3])
START = pd.Timestamp("2026-03-02")


def _day(k: int) -> Window:
    return Window(START + pd.Timedelta(days=k), START + pd.Timedelta(days=k + 1))


def _requests(rng, n: int, version: dict, name: str, day: int) -> pd.DataFrame:
    load = np.interp(rng.integers(0, 24, n), *LOAD)
    latency = version["median_ms"] * (1 + 0.25 * load) * np.exp(rng.normal(0, 0.38, n))
    latency = np.where(rng.random(n) < version["regression"], 3.2 * latency, latency)
    is_error = rng.random(n) < 0.004
    latency = np.where(is_error, rng.uniform(800, 3000, n), latency).round(2)
    approved = ~is_error & (rng.random(n) < version["approved"])
    score = 0.5 + 0.5 * rng.beta(*version["beta"], n)
    prediction = approved.astype(float)
    label = np.where(rng.random(n) < version["accuracy"], prediction, 1 - prediction)
    label[(rng.random(n) < 0.10) | is_error] = np.nan
    prediction[is_error] = np.nan
    return pd.DataFrame({
        "ts": _day(day).start + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"), "model": "m",
        "version": name, "segment": "web", "input_id": np.arange(n),
        "prediction": pd.array(prediction, dtype="Int8"), "score": 0.5, "label": pd.array(label, dtype="Int8"),
        "latency_ms": latency, "is_error": is_error, "cost_usd": 0.00012 + latency * 0.000004,
        "expected_value_usd": np.where(approved, score * 180.0 - (1 - score) * 40.0, 0.0).round(2)})


def _true_means(version: dict) -> dict[str, float]:
    mean_load = np.interp(np.arange(24), *LOAD).mean()
    latency = (0.996 * version["median_ms"] * (1 + 0.25 * mean_load) * math.exp(0.38 ** 2 / 2)
               * (1 + 2.2 * version["regression"]) + 0.004 * 1_900.0)
    a, b = version["beta"]
    return {"accuracy": version["accuracy"], "error_rate": 0.004,
            "cost_per_1k_usd": 1000 * (0.00012 + 0.000004 * latency),
            "value_per_prediction_usd": 0.996 * version["approved"] * (220 * (0.5 + 0.5 * a / (a + b)) - 40)}


def test_compare_versions_end_to_end_covers_rates_cost_and_value(tmp_path):
    # 48 A/B data sets of 3,000 requests per version through compare_versions, each on its own day: even ones
    # equal (v1 against v1), odd ones differing as the demo's v1 and v2 do. Every KPI's interval must cover the true
    # difference at least _coverage_floor(48) of the time (41 of 48), and equal versions be called better or worse on
    # a KPI at most _false_verdict_ceiling(24) of the time (4 of 24). The benchmark runs 200 data sets per case.
    pairs, n = 48, 3_000
    rng = np.random.default_rng(44)
    store = GovernanceStore(tmp_path / "ab.duckdb")
    cases = [(V1, V1) if k % 2 == 0 else (V1, V2) for k in range(pairs)]
    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        tx.insert_frame("telemetry", pd.concat([
            frame for k, (first, second) in enumerate(cases)
            for frame in (_requests(rng, n, first, f"a{k}", k), _requests(rng, n, second, f"b{k}", k))]))
    kpis = ("accuracy", "error_rate", "cost_per_1k_usd", "value_per_prediction_usd")
    covered, called = dict.fromkeys(kpis, 0), dict.fromkeys(kpis, 0)
    for k, (first, second) in enumerate(cases):
        result = {c.kpi: c for c in compare_versions(store, model="m", a=f"a{k}", b=f"b{k}", window=_day(k), seed=k)}
        true_a, true_b = _true_means(first), _true_means(second)
        for kpi in kpis:
            assert result[kpi].n_a > 2_000 and result[kpi].n_b > 2_000
            covered[kpi] += result[kpi].ci_low <= true_b[kpi] - true_a[kpi] <= result[kpi].ci_high
            called[kpi] += first is second and result[kpi].verdict != "no significant difference"
    store.close()
    for kpi in kpis:
        assert covered[kpi] / pairs >= _coverage_floor(pairs), f"{kpi}: covered {covered[kpi]} of {pairs}"
        assert called[kpi] / (pairs // 2) <= _false_verdict_ceiling(pairs // 2), f"{kpi}: {called[kpi]} of {pairs // 2}"
