"""A/B comparison of two versions of a model over one window: difference, 95% interval and a verdict per KPI.

Rates (accuracy, error rate) use Newcombe's hybrid score interval for a difference of two proportions.
Latency percentiles, cost and value use a bootstrap that resamples the whole population, not a sample of it:
DuckDB bins each measure finely (1 ms, $0.00001, $0.50; rounding to the nearest bin is unbiased) and the bootstrap redraws the bin counts from a
multinomial, so 10 million rows cost a few thousand bins.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from governance import telemetry_sources
from governance.errors import InvalidInputError
from governance.kpis import Window
from governance.service_levels import wilson_interval
from governance.store import GovernanceStore
from governance.telemetry_sql import COMPARE_BINNED, COMPARE_COUNTS_SQL, OVERLAP_WINDOW_SQL, compare_bins_sql

BOOTSTRAP_DRAWS = 1_000
SAME_VERSION = "compare two different versions, got {a!r} twice"
NO_TRAFFIC = "version {version!r} served no predictions in this window: choose a window where both ran"


@dataclass(frozen=True)
class KpiComparison:
    kpi: str
    a: float | None
    b: float | None
    difference: float | None          # b - a
    ci_low: float | None
    ci_high: float | None
    n_a: int
    n_b: int
    method: str
    verdict: str                      # "better", "worse", "no significant difference", "not computable"

    def as_dict(self) -> dict:
        return asdict(self)


def _verdict(low: float, high: float, *, higher_is_better: bool) -> str:
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "no significant difference"


def newcombe_interval(*, successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    """95% interval for p_b - p_a (Newcombe 1998, method 10, from Wilson score intervals)."""
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson_interval(p_a, n_a)
    low_b, high_b = wilson_interval(p_b, n_b)
    difference = p_b - p_a
    return (difference - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2),
            difference + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2))


def _rate(name: str, counts: pd.DataFrame, success: str, total: str, *, higher_is_better: bool) -> KpiComparison:
    a, b = counts.iloc[0], counts.iloc[1]
    n_a, n_b = int(a[total]), int(b[total])
    if n_a == 0 or n_b == 0:
        return KpiComparison(name, None, None, None, None, None, n_a, n_b, "Newcombe score interval",
                             "not computable")
    low, high = newcombe_interval(successes_a=int(a[success]), n_a=n_a, successes_b=int(b[success]), n_b=n_b)
    p_a, p_b = a[success] / n_a, b[success] / n_b
    return KpiComparison(name, float(p_a), float(p_b), float(p_b - p_a), low, high, n_a, n_b,
                         "Newcombe score interval", _verdict(low, high, higher_is_better=higher_is_better))


def _bootstrap(name: str, bins: dict[str, pd.DataFrame], versions: tuple[str, str], statistic,
               *, rng: np.random.Generator, scale: float = 1.0) -> KpiComparison:
    """Bootstrap of statistic(values, counts) for b - a, resampling each version's binned population.

    `statistic` takes the bin values and a (draws x bins) matrix of counts and returns one figure per row.
    """
    samples, points, sizes = [], [], []
    for version in versions:
        frame = bins.get(version)
        if frame is None or frame.empty:
            return KpiComparison(name, None, None, None, None, None, 0, 0, "bootstrap", "not computable")
        values, counts = frame["value"].to_numpy(), frame["n"].to_numpy()
        n = int(counts.sum())
        draws = [statistic(values, rng.multinomial(n, counts / n, size=200)) for _ in range(BOOTSTRAP_DRAWS // 200)]
        samples.append(np.concatenate(draws) * scale)
        points.append(statistic(values, counts[None, :])[0] * scale)
        sizes.append(n)
    difference = samples[1] - samples[0]
    low, high = np.percentile(difference, [2.5, 97.5])
    return KpiComparison(name, float(points[0]), float(points[1]), float(points[1] - points[0]), float(low),
                         float(high), sizes[0], sizes[1], f"bootstrap, {BOOTSTRAP_DRAWS} resamples",
                         _verdict(low, high, higher_is_better=name == "value_per_prediction_usd"))


def _weighted_quantile(q: float):
    """The lower q-quantile of binned values, per row of a counts matrix."""
    def statistic(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(counts, axis=1)
        rank = np.ceil(q * cumulative[:, -1:])
        return values[(cumulative >= rank).argmax(axis=1)]
    return statistic


def _weighted_mean(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return counts @ values / counts.sum(axis=1)


def compare_versions(store: GovernanceStore, *, model: str, a: str, b: str, window: Window,
                     seed: int = 0) -> list[KpiComparison]:
    """Side-by-side KPIs of versions a and b; each difference is b - a."""
    if a == b:
        raise InvalidInputError(SAME_VERSION.format(a=a))
    params = {"model": model, "a": a, "b": b, "start": window.start, "end": window.end}
    counts = telemetry_sources.query(store, COMPARE_COUNTS_SQL, params).set_index("version")
    for version in (a, b):
        if version not in counts.index:
            raise InvalidInputError(NO_TRAFFIC.format(version=version))
    counts = counts.loc[[a, b]]
    bins = {}
    for measure, (_, width) in COMPARE_BINNED.items():  # binned finely (see COMPARE_BINNED): fast to bootstrap
        frame = telemetry_sources.query(store, compare_bins_sql(measure), {**params, "width": width})
        bins[measure] = {version: group for version, group in frame.groupby("version")}
    rng = np.random.default_rng(seed)
    versions = (a, b)
    return [
        _rate("accuracy", counts, "correct", "labelled", higher_is_better=True),
        _rate("error_rate", counts, "errors", "n", higher_is_better=False),
        _bootstrap("latency_p50_ms", bins["latency_ms"], versions, _weighted_quantile(0.50), rng=rng),
        _bootstrap("latency_p95_ms", bins["latency_ms"], versions, _weighted_quantile(0.95), rng=rng),
        _bootstrap("latency_p99_ms", bins["latency_ms"], versions, _weighted_quantile(0.99), rng=rng),
        _bootstrap("cost_per_1k_usd", bins["cost_usd"], versions, _weighted_mean, rng=rng, scale=1000),
        _bootstrap("value_per_prediction_usd", bins["expected_value_usd"], versions, _weighted_mean, rng=rng),
    ]


def overlap_window(store: GovernanceStore, *, model: str, a: str, b: str) -> Window | None:
    """The whole days on which both versions served predictions: the natural A/B window."""
    start, end, versions = telemetry_sources.query_rows(store, OVERLAP_WINDOW_SQL,
                                                        {"model": model, "a": a, "b": b})[0]
    if versions < 2 or end < start:
        return None
    return Window(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1))
