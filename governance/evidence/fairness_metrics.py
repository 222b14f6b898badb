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
from scipy.special import ndtr, ndtri

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


# --- disparities: simultaneous intervals for the range across groups ---------------------------------------------
# The percentile bootstrap of max - min (or min / max) is biased away from parity: every draw's max - min is >= 0
# and, with equal rates, almost always > 0, so its interval cannot hold 0 (or a ratio of 1). Instead every pairwise
# difference p_i - p_j gets an interval, all at once (simultaneously), and the range is bounded by them:
#   range = max over (i, j) of (p_i - p_j)   lies in   [max(0, max L_ij), max U_ij]   whenever every pair's does.
# So the range's coverage is at least the pairs' joint coverage, at parity (where the lower end holds 0) as elsewhere.
# The joint critical value is the bootstrap quantile of the largest studentized deviation over all pairs:
# Westfall & Young (1993), "Resampling-Based Multiple Testing", the single-step max-T; Romano & Wolf (2005),
# "Exact and approximate stepdown methods for multiple hypothesis testing", JASA 100; for the pairwise-comparison
# form, Hothorn, Bretz & Westfall (2008), "Simultaneous inference in general parametric models", Biometrical
# Journal 50.


@dataclass(frozen=True)
class Spread:
    """One metric across groups on the scale its disparity is judged on: rates for a difference, log rates for a ratio.

    Arrays may carry leading axes (e.g. many simulated data sets): estimate and se are (..., groups); draws and
    draw_se (..., resamples, groups). With draw_se each resample's deviation is divided by its own standard error
    (studentized); without it, by the data's `se`.
    """
    estimate: np.ndarray
    se: np.ndarray
    draws: np.ndarray
    draw_se: np.ndarray | None = None


def rate_parts(counts: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) of a rate metric per group; `counts` may carry leading axes like group_metrics'."""
    by_cell = counts.sum(axis=-1)
    _, top, bottom, _ = RATE_METRICS[metric]
    return sum(by_cell[..., t, p] for t, p in top), sum(by_cell[..., t, p] for t, p in bottom)


def difference_scale(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rate x / n and its standard error, taken at Agresti & Caffo's (2000) adjusted rate (x + 1) / (n + 2).

    The adjustment keeps the standard error above 0 for a group with no (or only) positives, where the plain
    sqrt(p (1 - p) / n) is 0 and would claim certainty. The estimate itself stays the plain rate.
    """
    x, n = np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.float64)
    adjusted = (x + 1) / (n + 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    return rate, np.sqrt(adjusted * (1 - adjusted) / (n + 2))


def log_ratio_scale(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log of the rate with half a positive and half a negative added, (x + 1/2) / (n + 1), and its standard error.

    The half keeps the log finite for a group with no positives (as in the adjusted log relative risk of Gart &
    Nam (1988), "Approximate interval estimation of the ratio of binomial parameters", Biometrics 44) and the
    standard error sqrt((1 - p) / (p (n + 1))) above 0 for a group where everyone is positive.
    """
    x, n = np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.float64)
    adjusted = (x + 0.5) / (n + 1)
    return np.log(adjusted), np.sqrt((1 - adjusted) / (adjusted * (n + 1)))


def rate_spread(x: np.ndarray, n: np.ndarray, draw_x: np.ndarray, draw_n: np.ndarray, *, kind: str) -> Spread:
    """A rate metric's spread for a "difference" or a "ratio" criterion, from the counts of the data and of each draw.

    Differences are studentized draw by draw (the bootstrap-t form of the max-T). Log rates are scaled by the data's
    standard error instead: with a handful of positives a resample's own log standard error swings (1 positive gives
    about 1, 3 give 0.6) and the studentized maximum then overshoots (benchmarks/fairness_interval_coverage.py).
    """
    if kind == "difference":
        (estimate, se), (draws, draw_se) = difference_scale(x, n), difference_scale(draw_x, draw_n)
        return Spread(estimate, se, draws, draw_se)
    (estimate, se), (draws, _) = log_ratio_scale(x, n), log_ratio_scale(draw_x, draw_n)
    return Spread(estimate, se, draws, None)


@dataclass(frozen=True)
class RangeInterval:
    """Simultaneous bounds for the range max_ij (e_i - e_j) of one or more spreads (equalized odds has two).

    `pairs` and `pair_se` hold every ordered pair i != j of every spread, flattened on the last axis;
    `max_deviation` the bootstrap's largest |studentized deviation| per resample (NaN where none was defined).
    """
    low: np.ndarray
    high: np.ndarray
    critical: np.ndarray
    pairs: np.ndarray
    pair_se: np.ndarray
    max_deviation: np.ndarray


def simultaneous_range(spreads: list[Spread], *, confidence: float = CONFIDENCE) -> RangeInterval:
    """Max-T simultaneous intervals for all pairwise differences, and from them the interval for the range.

    The critical value is the bootstrap's upper quantile of max over pairs of |(d*_ij - d_ij) / se*_ij|, never
    below the normal quantile for one pair (1.96 at 95%): a resample can be degenerate (a group with no positives
    redraws none), and no simultaneous interval should be narrower than a single one.
    """
    pairs, pair_se, deviations = [], [], []
    for s in spreads:
        groups = s.estimate.shape[-1]
        i, j = np.nonzero(~np.eye(groups, dtype=bool))
        d = s.estimate[..., i] - s.estimate[..., j]
        se = np.sqrt(s.se[..., i] ** 2 + s.se[..., j] ** 2)
        drawn = s.draws[..., i] - s.draws[..., j]
        drawn_se = se[..., None, :] if s.draw_se is None else np.sqrt(s.draw_se[..., i] ** 2 + s.draw_se[..., j] ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            deviation = np.abs(drawn - d[..., None, :]) / drawn_se
        pairs.append(d), pair_se.append(se), deviations.append(deviation)
    d, se = np.concatenate(pairs, axis=-1), np.concatenate(pair_se, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a resample where no pair is defined: NaN, left out below
        max_deviation = np.nanmax(np.concatenate(deviations, axis=-1), axis=-1)
    critical = np.fmax(_upper_order_statistic(max_deviation, 1 - confidence), ndtri(0.5 + confidence / 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.maximum(0.0, np.nanmax(d - critical[..., None] * se, axis=-1))
        high = np.nanmax(d + critical[..., None] * se, axis=-1)
    return RangeInterval(low, high, critical, d, se, max_deviation)


def _upper_order_statistic(draws: np.ndarray, alpha: float) -> np.ndarray:
    """The floor(alpha (B + 1))-th largest of the B defined draws (Davison & Hinkley 1997, section 4.2): a statistic
    above it has a bootstrap p-value (k + 1) / (B + 1) <= alpha and one at or below it does not, so the interval
    built on it and range_p_value agree exactly. Infinite when B is too small to reach alpha."""
    ordered = np.sort(draws, axis=-1)                              # NaN last
    defined = np.isfinite(draws).sum(axis=-1)
    rank = np.floor(alpha * (defined + 1) + 1e-9).astype(np.int64)  # 1e-9: 0.05 * 1001 is 50.05, 0.05 * 20 is 1.0
    position = np.clip(defined - rank, 0, draws.shape[-1] - 1)
    value = np.take_along_axis(ordered, position[..., None], axis=-1)[..., 0]
    return np.where(rank >= 1, value, np.inf)


def range_p_value(interval: RangeInterval, threshold: float | np.ndarray) -> np.ndarray:
    """The smallest level at which the simultaneous interval for the range excludes `threshold` (on its scale).

    The range exceeds the threshold (a fail) when some pair's lower bound d_ij - c se_ij does: c < max (d_ij - t) /
    se_ij. It is below (a pass) when every pair's upper bound is: c < min (t - d_ij) / se_ij. The p-value is the
    share of resamples whose max deviation reaches that statistic, counted (k + 1) / (B + 1) so it is never 0, and
    never below the normal tail for one pair, as the critical value is never below its quantile. So p <= alpha
    exactly when the (1 - alpha) interval excludes the threshold, and a verdict at that level errs only when that
    interval misses the true disparity.
    """
    threshold = np.asarray(threshold, dtype=np.float64)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        to_fail = np.nanmax((interval.pairs - threshold) / interval.pair_se, axis=-1)
        to_pass = np.nanmin((threshold - interval.pairs) / interval.pair_se, axis=-1)
    statistic = np.fmax(to_fail, to_pass)
    drawn = interval.max_deviation
    defined = np.isfinite(drawn).sum(axis=-1)
    reached = (drawn >= statistic[..., None]).sum(axis=-1)
    bootstrap = (reached + 1) / (defined + 1)
    normal = 2 * ndtr(-statistic)
    return np.where(statistic > 0, np.minimum(1.0, np.fmax(bootstrap, normal)), 1.0)


def disparity_interval(spreads: list[Spread], *, kind: str, point: np.ndarray | float, threshold: float,
                       confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, p-value against the threshold) of a "difference" (max - min) or "ratio" (min / max) criterion.

    A ratio is exp(-range of the log rates), so its bounds are exp(-high), exp(-low) of the log range, at most 1,
    and its threshold t is -log t on that scale. The half positive added to each log rate can move a bound past
    the plain estimate when a group has (almost) no positives; the interval is then widened to hold the estimate
    (a group with no positives gives a ratio of 0, and the data cannot rule that out).
    """
    interval = simultaneous_range(spreads, confidence=confidence)
    if kind == "difference":
        low, high = interval.low, np.minimum(interval.high, 1.0)
        p_value = range_p_value(interval, threshold)
    else:
        low, high = np.exp(-interval.high), np.exp(-interval.low)
        p_value = range_p_value(interval, -np.log(threshold))
    return np.fmin(low, point), np.fmax(high, point), p_value


def wilson_interval(x: np.ndarray | float, n: np.ndarray | float, *,
                    confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's (1927) score interval for one group's rate x / n.

    A group's rate gets it rather than the percentile bootstrap: with no (or only) positives every resample repeats
    the rate and the percentile interval is [0, 0] (or [1, 1]), and with a handful of positives it runs short (85%
    coverage at n = 100, rate 0.02, where Wilson's holds 95%; Brown, Cai & DasGupta (2001), "Interval estimation
    for a binomial proportion", Statistical Science 16). Always inside [0, 1]; NaN where n is 0.
    """
    x, n = np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = ndtri(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = x / n
        centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def calibration_error_interval(counts: np.ndarray, score_sum: np.ndarray, draw_counts: np.ndarray,
                               draw_score_sum: np.ndarray, *,
                               confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The 95% interval of one group's expected calibration error, by the same max-T argument as the disparities.

    ECE = sum over score bins of |h_b|, h_b = (sum of scores - positives in bin b) / n, is a sum of absolute values:
    its percentile bootstrap sits above the estimate, which is itself biased upwards, so for a well-calibrated model
    the interval never holds the true 0. But ECE = max over sign vectors s of sum_b s_b h_b, a maximum of means, so
    simultaneous intervals for every sign vector (the max-T bootstrap, scaled by each one's bootstrap standard
    error) bound it: [max(0, max_s lower_s), max_s upper_s] holds ECE whenever every one holds its own.
    `counts` and `score_sum` are (..., 2, 2, bins); the draws (..., resamples, 2, 2, bins).
    """
    def per_bin(c, s):
        n = c.sum(axis=(-3, -2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (s.sum(axis=(-3, -2)) - c[..., 1, :, :].sum(axis=-2)) / n[..., None], n
    h, n = per_bin(counts, score_sum)                          # (..., bins)
    drawn, _ = per_bin(draw_counts, draw_score_sum)            # (..., B, bins)
    occupied = counts.sum(axis=(-3, -2)) > 0
    # Empty bins add nothing in the data and in every resample; only the occupied ones get a sign. A sign vector and
    # its negative give the same |deviation| and bounds of |sum_b s_b h_b|, so the first sign is fixed to +1: at
    # most 2**9 vectors. Leading axes share one set of signs over the bins occupied anywhere.
    bins = np.flatnonzero(occupied.reshape(-1, occupied.shape[-1]).any(axis=0))
    signs = np.array(np.meshgrid([1.0], *[[-1.0, 1.0]] * (len(bins) - 1), indexing="ij")).reshape(len(bins), -1)
    combined = np.abs(np.nan_to_num(h[..., bins]) @ signs)                                 # (..., 2**(k-1))
    # float32 for the resamples' (B x 512) sums: their spread is what matters, and it halves the time and memory.
    # einsum, not @: BLAS threads on these small products spin and cost 5x the time on a busy machine.
    resampled = np.einsum("...bk,ks->...bs", np.nan_to_num(drawn[..., bins]).astype(np.float32),
                          signs.astype(np.float32))                                          # (..., B, 2**(k-1))
    # Floor: one row's worth of the mean, for a group whose resamples all repeat it.
    se = np.fmax(resampled.std(axis=-2, ddof=1), 1 / np.asarray(n, dtype=np.float32)[..., None])
    resampled -= (np.nan_to_num(h[..., bins]) @ signs).astype(np.float32)[..., None, :]
    np.abs(resampled, out=resampled)
    resampled /= se[..., None, :]
    deviation = resampled.max(axis=-1).astype(np.float64)
    critical = np.fmax(_upper_order_statistic(deviation, 1 - confidence), ndtri(0.5 + confidence / 2))
    se = se.astype(np.float64)
    low = np.maximum(0.0, np.max(combined - critical[..., None] * se, axis=-1))
    high = np.max(combined + critical[..., None] * se, axis=-1)
    return low, high
