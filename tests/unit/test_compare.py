"""A/B comparison: intervals against published and independent computations, verdicts on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance import errors
from governance.compare import _weighted_quantile, compare_versions, newcombe_interval, overlap_window
from governance.kpis import Window
from governance.store import GovernanceStore


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


def test_demo_ab_split_v2_more_accurate_but_slower(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        window = overlap_window(store, model="adult-income", a="v1", b="v2")
        assert window.days == 30
        result = {c.kpi: c for c in compare_versions(store, model="adult-income", a="v1", b="v2", window=window)}
    assert result["latency_p95_ms"].verdict == "worse"
    assert result["cost_per_1k_usd"].verdict == "worse"
    assert result["error_rate"].verdict == "no significant difference"
