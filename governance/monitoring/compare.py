"""A/B comparison of two versions of a model over one window: difference, 95% interval and a verdict per KPI.

Rates (accuracy, error rate) use Newcombe's hybrid score interval for a difference of two proportions, over the
KPI page's counts (telemetry_sql.COUNT_SQL: accuracy of the labelled successful requests).
Latency percentiles, cost and value use a bootstrap that resamples the whole population, not a sample of it:
DuckDB bins each measure and the bootstrap redraws the bin counts from a multinomial, so 10 million rows cost a few
thousand bins. Cost and value (means) are rounded to bins of $0.00001 and $0.50 (unbiased for a mean). Latency
is binned at a relative precision, as DDSketch does (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable
quantile sketch with relative-error guarantees", VLDB 2019): logarithmic bins with gamma = (1 + a) / (1 - a),
a = LATENCY_RELATIVE_ERROR, so every binned quantile is within a relative a of the exact one (the order
statistic numpy's method="inverted_cdf" gives), at 3 ms as at 3 s. Fixed-width 1 ms bins collapsed a fast
service's intervals to zero width (a 3.0 -> 3.6 ms shift read as 1.0 [1.0, 1.0] every time). The latency
intervals are then widened by the largest error the bins can add to a difference, a (|p_a| + |p_b|), so that the
binning never costs coverage.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources
from governance.monitoring.kpis import Window, data_window, resolve_window
from governance.monitoring.service_levels import wilson_interval
from governance.monitoring.telemetry_sql import (COMPARE_BINNED, COMPARE_BINS_ROLLUP_SQL, COMPARE_COUNTS_ROLLUP_SQL,
                                                 COMPARE_COUNTS_SQL, COMPARE_LATENCY_ALPHA, OVERLAP_WINDOW_ROLLUP_SQL,
                                                 OVERLAP_WINDOW_SQL, compare_bins_sql)
from governance.record.store import GovernanceStore

BOOTSTRAP_DRAWS = 1_000
LATENCY_RELATIVE_ERROR = COMPARE_LATENCY_ALPHA
LATENCY_GAMMA = (1 + LATENCY_RELATIVE_ERROR) / (1 - LATENCY_RELATIVE_ERROR)
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


def _bootstraps(statistics: dict, bins: dict[str, pd.DataFrame], versions: tuple[str, str],
                *, rng: np.random.Generator, scale: float = 1.0, relative_error: float = 0.0) -> list[KpiComparison]:
    """Bootstrap of each statistic(values, counts) for b - a, resampling each version's binned population.

    statistics maps a KPI name to a function of the bin values and a (draws x bins) matrix of counts that returns
    one figure per row; the statistics of one measure share its resamples (one multinomial draw, not one each).
    relative_error: the bins' relative precision; each interval is widened by the error it can add to b - a.
    """
    samples = {name: [] for name in statistics}
    points = {name: [] for name in statistics}
    sizes = []
    for version in versions:
        frame = bins.get(version)
        if frame is None or frame.empty:
            return [KpiComparison(name, None, None, None, None, None, 0, 0, "bootstrap", "not computable")
                    for name in statistics]
        values, counts = frame["value"].to_numpy(), frame["n"].to_numpy()
        n = int(counts.sum())
        draws = {name: [statistic.resample(values, counts, rng, BOOTSTRAP_DRAWS)]
                 for name, statistic in statistics.items() if hasattr(statistic, "resample")}
        redrawn = {name: statistic for name, statistic in statistics.items() if name not in draws}
        for name in redrawn:
            draws[name] = []
        for _ in range(BOOTSTRAP_DRAWS // 200 if redrawn else 0):   # the others: multinomial redraws of the counts
            resampled = rng.multinomial(n, counts / n, size=200)
            for name, statistic in redrawn.items():
                draws[name].append(statistic(values, resampled))
        for name, statistic in statistics.items():
            samples[name].append(np.concatenate(draws[name]) * scale)
            points[name].append(statistic(values, counts[None, :])[0] * scale)
        sizes.append(n)
    method = f"bootstrap, {BOOTSTRAP_DRAWS} resamples" + (
        f", bins within {relative_error:.1%} (widened by it)" if relative_error else "")
    found = []
    for name in statistics:
        (point_a, point_b), (sample_a, sample_b) = points[name], samples[name]
        low, high = np.percentile(sample_b - sample_a, [2.5, 97.5])
        slack = relative_error / (1 - relative_error) * (abs(point_a) + abs(point_b))   # exact within this
        low, high = low - slack, high + slack
        found.append(KpiComparison(name, float(point_a), float(point_b), float(point_b - point_a), float(low),
                                   float(high), sizes[0], sizes[1], method,
                                   _verdict(low, high, higher_is_better=name == "value_per_prediction_usd")))
    return found


def _weighted_quantile(q: float):
    """The lower q-quantile of binned values, per row of a counts matrix.

    Its bootstrap draws (statistic.resample) need no resampled counts: the rank-k value of n draws from the bins
    is F^-1(U(k)), with U(k) the k-th smallest of n uniforms, which is Beta(k, n + 1 - k) distributed. So a
    resampled quantile costs one Beta draw and a binary search, and has exactly the distribution a multinomial
    redraw of the counts would give it."""
    def statistic(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(counts, axis=1)
        rank = np.ceil(q * cumulative[:, -1:])
        return values[(cumulative >= rank).argmax(axis=1)]

    def resample(values: np.ndarray, counts: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
        n = int(counts.sum())
        rank = max(int(np.ceil(q * n)), 1)
        shares = np.cumsum(counts) / n
        found = np.searchsorted(shares, rng.beta(rank, n + 1 - rank, size), side="left")
        return values[np.minimum(found, len(values) - 1)]

    statistic.resample = resample
    return statistic


def _weighted_mean(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return counts @ values / counts.sum(axis=1)


def compare_versions(store: GovernanceStore, *, model: str, a: str, b: str, window: Window,
                     seed: int = 0) -> list[KpiComparison]:
    """Side-by-side KPIs of versions a and b; each difference is b - a."""
    if a == b:
        raise InvalidInputError(SAME_VERSION.format(a=a))
    params = {"model": model, "a": a, "b": b, "start": window.start, "end": window.end}
    # a dataset with rollups, over whole days (the comparison's windows are): the same counts and bins from them
    rollups = telemetry_sources.reads_rollups(store, model=model) and all(
        pd.Timestamp(t) == pd.Timestamp(t).floor("D") for t in (window.start, window.end))
    counts = telemetry_sources.query(store, COMPARE_COUNTS_ROLLUP_SQL if rollups else COMPARE_COUNTS_SQL,
                                     params).set_index("version")
    for version in (a, b):
        if version not in counts.index:
            raise InvalidInputError(NO_TRAFFIC.format(version=version))
    counts = counts.loc[[a, b]]
    bins = {}
    binning = {"latency_ms": {"gamma": LATENCY_GAMMA}} | {
        measure: {"width": width} for measure, (_, width) in COMPARE_BINNED.items()}
    for measure, bound in binning.items():  # binned (see the module's docstring): fast to bootstrap
        frame = telemetry_sources.query(store, COMPARE_BINS_ROLLUP_SQL, {**params, "measure": measure}) if rollups \
            else telemetry_sources.query(store, compare_bins_sql(measure), {**params, **bound})
        bins[measure] = {version: group for version, group in frame.groupby("version")}
    rng = np.random.default_rng(seed)
    versions = (a, b)
    return [
        _rate("accuracy", counts, "correct", "labelled", higher_is_better=True),
        _rate("error_rate", counts, "errors", "n", higher_is_better=False),
        *_bootstraps({f"latency_p{round(100 * q)}_ms": _weighted_quantile(q) for q in (0.50, 0.95, 0.99)},
                     bins["latency_ms"], versions, rng=rng, relative_error=LATENCY_RELATIVE_ERROR),
        *_bootstraps({"cost_per_1k_usd": _weighted_mean}, bins["cost_usd"], versions, rng=rng, scale=1000),
        *_bootstraps({"value_per_prediction_usd": _weighted_mean}, bins["expected_value_usd"], versions, rng=rng),
    ]


def overlap_window(store: GovernanceStore, *, model: str, a: str, b: str) -> Window | None:
    """The whole days on which both versions served predictions: the natural A/B window."""
    sql = OVERLAP_WINDOW_ROLLUP_SQL if telemetry_sources.reads_rollups(store, model=model) else OVERLAP_WINDOW_SQL
    start, end, versions = telemetry_sources.query_rows(store, sql, {"model": model, "a": a, "b": b})[0]
    if versions < 2 or end < start:
        return None
    return Window(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1))


def default_window(store: GovernanceStore, *, model: str, a: str, b: str) -> Window | None:
    """The window an A/B comparison takes unless told otherwise, on the page and the CLI alike: the whole days
    both versions served, else (they never served on the same day) the model's telemetry span; None without
    telemetry."""
    return overlap_window(store, model=model, a=a, b=b) or data_window(store, model=model)


def comparison_window(store: GovernanceStore, *, model: str, a: str, b: str, since: str | None = None,
                      until: str | None = None) -> Window:
    """The window of `default_window` with a given first day (`since`) or last day (`until`, inclusive) in place
    of its own: an open end stays where both versions served, never the model's first or last day of telemetry."""
    default = default_window(store, model=model, a=a, b=b)
    if default is None or not (since or until):
        return resolve_window(store, model=model) if default is None else default
    last_day = (default.end - pd.Timedelta(days=1)).date()
    return resolve_window(store, model=model, since=since or str(default.start.date()),
                          until=until or str(last_day))
