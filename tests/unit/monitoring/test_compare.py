"""A/B comparison: intervals against published and independent computations, verdicts on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance import errors
from governance.monitoring import telemetry_sources
from governance.monitoring.compare import (LATENCY_GAMMA, LATENCY_RELATIVE_ERROR, _bootstraps, _weighted_quantile,
                                           compare_versions, newcombe_interval, overlap_window)
from governance.monitoring.kpis import Window
from governance.monitoring.telemetry_sql import compare_bins_sql
from governance.record.store import GovernanceStore


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (c): 56/70 vs 48/80 -> 0.0524 to 0.3339.
    low, high = newcombe_interval(successes_a=48, n_a=80, successes_b=56, n_b=70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_binned_quantile_is_numpys_inverted_cdf():
    rng = np.random.default_rng(1)
    values = rng.integers(1, 400, 5_000)
    bins, counts = np.unique(values, return_counts=True)
    for q in (0.5, 0.95, 0.99):
        assert _weighted_quantile(q)(bins, counts[None, :])[0] == np.percentile(values, 100 * q, method="inverted_cdf")


@pytest.fixture
def ab(tmp_path):
    """Version b is 30 ms slower than a on the same traffic; accuracy and errors are identical by construction."""
    rng = np.random.default_rng(5)
    n = 4_000
    base = pd.DataFrame({
        "ts": pd.Timestamp("2026-03-02") + pd.to_timedelta(rng.integers(0, 3 * 86_400, n), unit="s"),
        "model": "m", "segment": "web", "input_id": np.arange(n),
        "prediction": pd.array(rng.integers(0, 2, n), dtype="Int8"), "score": 0.5,
        "label": pd.array(rng.integers(0, 2, n), dtype="Int8"), "latency_ms": rng.gamma(3, 20, n).round(2),
        "is_error": rng.random(n) < 0.01, "cost_usd": 0.0003, "expected_value_usd": 2.0,
    })
    slower = base.assign(version="b", latency_ms=base["latency_ms"] + 30)
    store = GovernanceStore(tmp_path / "ab.duckdb")
    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        tx.insert_frame("telemetry", pd.concat([base.assign(version="a"), slower]))
    yield store
    store.close()


def test_verdicts_on_known_differences(ab):
    window = overlap_window(ab, model="m", a="a", b="b")
    assert window == Window(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-05"))
    result = {c.kpi: c for c in compare_versions(ab, model="m", a="a", b="b", window=window)}
    for kpi in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
        assert result[kpi].verdict == "worse"
        assert result[kpi].difference == pytest.approx(30, abs=1.01)
    for kpi in ("accuracy", "error_rate", "cost_per_1k_usd", "value_per_prediction_usd"):
        assert result[kpi].verdict == "no significant difference", kpi
        assert result[kpi].ci_low <= 0 <= result[kpi].ci_high
    assert result["accuracy"].n_a == result["accuracy"].n_b


def test_bad_requests_are_refused(ab):
    window = Window(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-05"))
    with pytest.raises(errors.InvalidInputError, match="two different versions"):
        compare_versions(ab, model="m", a="a", b="a", window=window)
    with pytest.raises(errors.InvalidInputError, match="served no predictions"):
        compare_versions(ab, model="m", a="a", b="zz", window=window)
    assert overlap_window(ab, model="m", a="a", b="zz") is None


def _fast_service(store: GovernanceStore, *, pairs: int, n: int, seed: int) -> None:
    """`pairs` A/B datasets of a fast service: a{k} has a median latency of 3.0 ms, b{k} of 3.6 ms (lognormal)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(pairs):
        for version, median in (("a", 3.0), ("b", 3.6)):
            errors = rng.random(n) < 0.02
            frames.append(pd.DataFrame({
                "ts": pd.Timestamp("2026-03-02") + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
                "model": "m", "version": f"{version}{k}", "segment": "web", "input_id": np.arange(n),
                "prediction": pd.array(np.where(errors, np.nan, 1.0), dtype="Int8"), "score": 0.5,
                "label": pd.array(np.full(n, np.nan), dtype="Int8"),
                # a failed request's latency is a timeout: far above, and left out of the percentiles
                "latency_ms": np.where(errors, 5_000.0, median * np.exp(rng.normal(0.0, 0.3, n))),
                "is_error": errors, "cost_usd": 0.0003, "expected_value_usd": 2.0}))
    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        tx.insert_frame("telemetry", pd.concat(frames))


FAST_WINDOW = Window(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03"))


def test_binned_latency_quantiles_are_within_their_relative_precision_of_numpys(tmp_path):
    # DDSketch-style bins: every binned quantile within a relative 0.1% (the issue allows 1%) of the exact order
    # statistic, at 3 ms as well as at 3 s; 1 ms bins were off by up to 17% at 3 ms.
    assert LATENCY_RELATIVE_ERROR <= 0.01
    store = GovernanceStore(tmp_path / "fast.duckdb")
    _fast_service(store, pairs=1, n=20_000, seed=2)
    rows = store.query("SELECT version, latency_ms FROM telemetry WHERE NOT is_error")
    by_kpi = {c.kpi: c for c in compare_versions(store, model="m", a="a0", b="b0", window=FAST_WINDOW)}
    for q in (0.5, 0.95, 0.99):
        for version, side in (("a0", "a"), ("b0", "b")):
            values = rows.loc[rows["version"] == version, "latency_ms"].to_numpy()
            binned = getattr(by_kpi[f"latency_p{round(100 * q)}_ms"], side)
            exact = np.quantile(values, q, method="inverted_cdf")   # the order statistic the bins approximate
            assert abs(binned - exact) <= LATENCY_RELATIVE_ERROR * exact * (1 + 1e-9), (q, version)
            assert abs(binned - np.quantile(values, q)) <= 0.01 * exact, (q, version)   # numpy's default too
    # the same bins hold at any scale: a thousand times slower, the same relative error
    slow = rows["latency_ms"].to_numpy() * 1000
    gamma = LATENCY_GAMMA
    bins = np.ceil(np.log(slow) / np.log(gamma))
    assert np.all(np.abs(2 * gamma ** bins / (gamma + 1) / slow - 1) <= LATENCY_RELATIVE_ERROR * (1 + 1e-9))
    store.close()


def test_p50_difference_interval_covers_on_a_fast_service(tmp_path):
    # The case: a 3.0 -> 3.6 ms shift. With 1 ms bins the p50 difference read 1.0 [1.0, 1.0] every time
    # (coverage 0 of 30). Over 100 simulated datasets the 95% interval must hold the true difference (0.6 ms, the
    # lognormals' medians) at least 90% of the time, and never collapse to zero width.
    store = GovernanceStore(tmp_path / "fast.duckdb")
    pairs = 100
    _fast_service(store, pairs=pairs, n=3_000, seed=21)
    covered, widths = 0, []
    for k in range(pairs):
        params = {"model": "m", "a": f"a{k}", "b": f"b{k}", "start": FAST_WINDOW.start, "end": FAST_WINDOW.end,
                  "gamma": LATENCY_GAMMA}
        frame = telemetry_sources.query(store, compare_bins_sql("latency_ms"), params)
        bins = {version: group for version, group in frame.groupby("version")}
        (p50,) = _bootstraps({"latency_p50_ms": _weighted_quantile(0.5)}, bins, (f"a{k}", f"b{k}"),
                             rng=np.random.default_rng(k), relative_error=LATENCY_RELATIVE_ERROR)
        covered += p50.ci_low <= 0.6 <= p50.ci_high
        widths.append(p50.ci_high - p50.ci_low)
    assert covered >= 0.9 * pairs, f"coverage {covered} of {pairs}"
    assert min(widths) > 0.02
    store.close()


def test_resampled_quantiles_have_the_distribution_of_resampling_the_rows():
    # The shortcut (a Beta draw of the order statistic's rank) against the plain bootstrap: redraw n rows with
    # replacement and take numpy's inverted-CDF quantile. Both distributions must agree (two-sample KS test).
    from scipy import stats

    rng = np.random.default_rng(8)
    values = np.round(rng.lognormal(1.1, 0.3, 2_000), 2)
    bins, counts = np.unique(values, return_counts=True)
    for q in (0.5, 0.95, 0.99):
        shortcut = _weighted_quantile(q).resample(bins, counts, np.random.default_rng(1), 4_000)
        plain = np.array([np.quantile(rng.choice(values, values.size), q, method="inverted_cdf")
                          for _ in range(4_000)])
        assert stats.ks_2samp(shortcut, plain).pvalue > 0.001, q
        assert np.std(shortcut) == pytest.approx(np.std(plain), rel=0.1)


def test_demo_ab_split_v2_more_accurate_but_slower(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        window = overlap_window(store, model="adult-income", a="v1", b="v2")
        assert window.days == 30
        result = {c.kpi: c for c in compare_versions(store, model="adult-income", a="v1", b="v2", window=window)}
    assert result["latency_p95_ms"].verdict == "worse"
    assert result["cost_per_1k_usd"].verdict == "worse"
    assert result["error_rate"].verdict == "no significant difference"
