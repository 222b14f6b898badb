"""Group metrics, disparities and verdicts of a fairness audit, computed from cell counts.

Every metric an audit reports depends only on how many rows fall in each cell of
(group, outcome, prediction[, score bin]). So the point estimates are exact ratios of counts (the same
divisions fairlearn's MetricFrame makes), and the row bootstrap is a multinomial redraw of the cell counts:
the same distribution as resampling rows, at the cost of the number of cells instead of the number of rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

ALPHA = 0.05
CONFIDENCE = 0.95
SCORE_BINS = 10              # equal-width bins of the score, for calibration

# name -> (plain words, numerator cells, denominator cells, reason when the denominator is empty).
# Cells are (y_true, y_pred): tp = (1, 1), fp = (0, 1), tn = (0, 0), fn = (1, 0).
_TP, _FP, _TN, _FN = (1, 1), (0, 1), (0, 0), (1, 0)
RATE_METRICS = {
    "selection_rate": ("selection rate", (_TP, _FP), (_TP, _FP, _TN, _FN), "the group is empty"),
    "accuracy": ("accuracy", (_TP, _TN), (_TP, _FP, _TN, _FN), "the group is empty"),
    "precision": ("precision", (_TP,), (_TP, _FP), "no one in this group was predicted positive"),
    "true_positive_rate": ("true-positive rate", (_TP,), (_TP, _FN), "no one in this group has a positive outcome"),
    "false_positive_rate": ("false-positive rate", (_FP,), (_FP, _TN),
                            "no one in this group has a negative outcome"),
    "false_negative_rate": ("false-negative rate", (_FN,), (_TP, _FN), "no one in this group has a positive outcome"),
}
SCORE_METRICS = {
    "calibration_gap": "calibration gap (mean score minus observed positive rate)",
    "expected_calibration_error": f"expected calibration error ({SCORE_BINS} bins)",
}
METRIC_WORDS = {name: spec[0] for name, spec in RATE_METRICS.items()} | SCORE_METRICS
ALL_METRICS = tuple(METRIC_WORDS)

# Criteria are "<base>_difference" (max - min across eligible groups, must be <= threshold) or "<base>_ratio"
# (min / max, must be >= threshold). The named fairness notions follow fairlearn's definitions.
NAMED_CRITERIA = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("true_positive_rate",),
    "equalized_odds": ("true_positive_rate", "false_positive_rate"),
}
CRITERION_BASES = {**NAMED_CRITERIA, **{m: (m,) for m in RATE_METRICS}}


@dataclass(frozen=True)
class Cells:
    """Counts of one partition of the rows: groups x y_true (0, 1) x y_pred (0, 1) x score bins.

    `score_sum` holds the sum of scores in each cell when the audit has a score column, else None.
    """
    groups: tuple[tuple[str, ...], ...]
    counts: np.ndarray                   # int64, shape (groups, 2, 2, bins)
    score_sum: np.ndarray | None         # float64, same shape

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def group_metrics(counts: np.ndarray, score_sum: np.ndarray | None, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each metric per group; `counts` may carry leading bootstrap-draw axes: (..., groups, 2, 2, bins).

    An undefined rate (empty denominator) is NaN, never 0.
    """
    by_cell = counts.sum(axis=-1)                     # (..., groups, 2, 2)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in metrics:
            if name in RATE_METRICS:
                _, top, bottom, _ = RATE_METRICS[name]
                numerator = sum(by_cell[..., t, p] for t, p in top)
                denominator = sum(by_cell[..., t, p] for t, p in bottom)
                out[name] = np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)
            elif score_sum is not None:
                out[name] = _calibration(name, counts, score_sum)
    return out


def _calibration(name: str, counts: np.ndarray, score_sum: np.ndarray) -> np.ndarray:
    per_bin_n = counts.sum(axis=(-3, -2))                        # (..., groups, bins)
    per_bin_positive = counts[..., 1, :, :].sum(axis=-2)
    per_bin_score = score_sum.sum(axis=(-3, -2))
    n = per_bin_n.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "calibration_gap":
            return np.where(n > 0, (per_bin_score.sum(axis=-1) - per_bin_positive.sum(axis=-1)) / np.maximum(n, 1),
                            np.nan)
        gap = np.abs(per_bin_score - per_bin_positive)             # n_b * |mean score_b - positive rate_b|
        return np.where(n > 0, gap.sum(axis=-1) / np.maximum(n, 1), np.nan)


DENOMINATOR_WORDS = {"selection_rate": "in the group", "accuracy": "in the group",
                     "precision": "predicted positive", "true_positive_rate": "with a positive outcome",
                     "false_positive_rate": "with a negative outcome", "false_negative_rate": "with a positive outcome"}


def denominators(counts: np.ndarray, metric: str) -> np.ndarray:
    """How many people each group's rate is computed over (the whole group for calibration metrics)."""
    by_cell = counts.sum(axis=-1)
    if metric not in RATE_METRICS:
        return by_cell.sum(axis=(-2, -1))
    return sum(by_cell[..., t, p] for t, p in RATE_METRICS[metric][2])


def finite_or_none(value) -> float | None:
    """A float for JSON, or None where the figure is undefined (never a silent 0)."""
    return float(value) if value is not None and np.isfinite(value) else None


def undefined_reason(metric: str) -> str:
    return RATE_METRICS[metric][3] if metric in RATE_METRICS else "the group is empty"


def bootstrap_counts(cells: Cells, *, draws: int, rng: np.random.Generator,
                     progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Row bootstrap as a multinomial redraw of all cells at once, so group sizes vary as they do in resampling."""
    flat = cells.counts.reshape(-1).astype(np.float64)
    total = int(flat.sum())
    out = np.empty((draws, flat.size), dtype=np.int64)
    chunk = max(1, min(draws, 100))
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        out[start:start + size] = rng.multinomial(total, flat / total, size=size)
        if progress is not None:
            progress((start + size) / draws)
    drawn = out.reshape((draws, *cells.counts.shape))
    if cells.score_sum is None:
        return drawn, None
    # Within a cell every resampled row carries the cell's mean score: exact for the point estimate, and the
    # within-bin spread it ignores is at most a bin's width.
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cells.counts > 0, cells.score_sum / np.maximum(cells.counts, 1), 0.0)
    return drawn, drawn * mean


def percentile_interval(draws: np.ndarray) -> tuple[float | None, float | None]:
    """The 95% percentile interval over the draws where the statistic was defined."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return None, None
    low, high = np.quantile(finite, [ALPHA / 2, 1 - ALPHA / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class Disparity:
    """max - min and min / max of one metric across groups, with the groups at each end."""
    difference: np.ndarray     # per draw (or a 0-d array for the point estimate)
    ratio: np.ndarray
    highest: int | None = None
    lowest: int | None = None


def disparity(values: np.ndarray) -> Disparity:
    """Across the last axis (groups), ignoring groups whose metric is undefined; NaN with fewer than two."""
    defined = np.isfinite(values)
    enough = defined.sum(axis=-1) >= 2
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN rows: handled by `enough`
        high = np.nanmax(np.where(defined, values, np.nan), axis=-1)
        low = np.nanmin(np.where(defined, values, np.nan), axis=-1)
        difference = np.where(enough, high - low, np.nan)
        ratio = np.where(enough & (high > 0), low / np.where(high > 0, high, 1), np.nan)
    if values.ndim == 1 and enough:
        masked = np.where(defined, values, np.nan)
        return Disparity(difference, ratio, int(np.nanargmax(masked)), int(np.nanargmin(masked)))
    return Disparity(difference, ratio)


def holm_verdicts(p_values: list[float], *, alpha: float = ALPHA) -> list[tuple[bool, float]]:
    """Holm's step-down procedure: for each test, (rejected, the level it was judged at).

    A test is rejected when its p-value and every smaller one clear alpha / (m - rank); after the first that
    does not, none is. Tests that never got their turn are judged at the level where the procedure stopped.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out: list[tuple[bool, float]] = [(False, alpha)] * m
    still_rejecting, level = True, alpha
    for rank, i in enumerate(order):
        if still_rejecting:
            level = alpha / (m - rank)
            still_rejecting = p_values[i] <= level
        out[i] = (still_rejecting, level)
    return out


def bootstrap_p_value(draws: np.ndarray, threshold: float) -> float:
    """Two-sided bootstrap p-value for "the statistic equals the threshold": how far the draws sit to one side.

    Counted as (k + 1) / (B + 1) per side, so it is never 0: B resamples cannot show a p-value below 2 / (B + 1).
    """
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return 1.0
    below, above = np.sum(finite <= threshold), np.sum(finite >= threshold)
    return float(min(1.0, 2 * (min(below, above) + 1) / (finite.size + 1)))
