"""Performance estimated before the labels arrive: confidence-based performance estimation (CBPE, as NannyML's) for
binary classifiers.

Labels lag (in the demo the last 3 days have none and 10% never arrive; in lending they take months), but every
prediction comes with its score. Once the scores are calibrated, so that a score of 0.8 means 8 in 10 such people
are positive, the expected confusion matrix of a period follows from its scores alone:

    a row predicted positive is a true positive with probability p, a false positive with 1 - p;
    a row predicted negative is a false negative with probability p, a true negative with 1 - p;

and accuracy, precision, recall and ROC AUC follow from those expectations. The split (pure maths, then the
check, then the workspace) is robustness.py's.

Calibration: a monotone histogram-binning calibrator fitted on the version's reference (its held-out evaluation
set). The reference's scores are cut into 10 to 30 bins of equal count (at least 30 rows each where the reference
allows) on each side of the decision threshold (the threshold is always an edge, so every bin holds one
prediction), each bin's probability is its share of positives, and adjacent bins that break the order are pooled
(pool adjacent violators) so that a higher score never means a lower probability. Why binning rather than isotonic
regression: its bins are few and large enough that the calibrator's own sampling error (a block of m reference rows
knows its probability to within p(1 - p) / m) is known and goes into every interval; isotonic regression's steps can
hold a handful of rows. ROC AUC, which depends on the order of scores inside a bin, reads the probabilities
interpolated linearly between the blocks' mean scores (Calibrator.smooth).

The check, before any estimate is relied on (a criterion fixed before any result was seen; `p < 0.01` fails):
  - reference: the calibrator fitted on a random half of the reference predicts the other half: per bin, the
    positives counted against those expected, each difference over its standard error (the half's binomial error
    and the calibrator's own), summed squared, against chi-square with one degree per bin (below BOOTSTRAP_BELOW
    reference rows, against the same statistic on outcome sets drawn from the calibrator: a parametric bootstrap);
  - recent labels: the same test on the labelled telemetry of the newest RECENT_DAYS days that have labels: do the
    calibrated scores still mean what they meant on the reference? A changed relation between inputs and outcome
    (concept drift), which no estimate from scores can see, fails it once its labels come in.
A failed check makes the estimate "not reliable": the page and the CLI say so beside every number, and no alert is
raised from it.

Intervals (95%): the realised figure differs from the estimate through the period's labels (Bernoulli draws with
the calibrated probabilities) and through the calibrator's error (each bin's probability from m reference rows).
Both are in the variance: analytic for accuracy and precision (sums of independent terms), the delta method for
recall (a ratio of two independent sums); for ROC AUC, the standard deviation of the AUC over AUC_DRAWS draws of the
bins' probabilities (beta, from the reference's counts) and then of the labels (binomial, per score), each period's
scores grouped into at most AUC_GROUPS consecutive groups for the draws only (the estimate itself uses every
score). The interval is the estimate +- 1.96 standard deviations, cut to [0, 1].

Limits: binary classifiers whose prediction is a threshold on the score; a reference (evaluation set) with labels;
P(y | x) unchanged since the reference (no concept drift: covariate shift is what CBPE handles, a changed relation
between inputs and outcome it cannot see); enough reference rows for the calibrator's error to be small.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources
from governance.monitoring.telemetry_sql import (ESTIMATE_REALISED_SQL, ESTIMATE_REFERENCE_SQL,
                                                 ESTIMATE_SCORES_ROLLUP_SQL, ESTIMATE_SCORES_SQL)

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore

METRICS = ("accuracy", "precision", "recall", "roc_auc")
GRAINS = ("day", "week")
Z = 1.959964                  # two-sided 95%
CHECK_ALPHA = 0.01            # a calibration check fails when its p-value is below this (fixed before any result)
RECENT_DAYS = 7               # the recent-labels check reads the newest 7 days that have labels
MIN_REFERENCE_ROWS = 100      # fewer reference rows: no calibrator worth the name
ROWS_PER_BIN = 30             # the calibrator's bins: about this many reference rows each ...
MIN_BINS, MAX_BINS = 10, 30   # ... and between these many bins
AUC_DRAWS = 200
BOOTSTRAP_BELOW = 2000        # a reference smaller than this gets its check's p-value by parametric bootstrap ...
REFERENCE_DRAWS = 200         # ... of this many outcome sets
AUC_GROUPS = 256
SEED = 20260926               # the draws are reproducible: the same workspace gives the same intervals

BAD_GRAIN = "an estimate is per day or per week: --grain day or week, got {grain!r}"
NO_REFERENCE = ("{model} {version} has no evaluation set with outcomes to calibrate its scores on: register one "
                "with the model (`python -m governance model register … --eval FILE`)")
TOO_SMALL = ("{model} {version}'s evaluation set has {n} rows with a score and an outcome: an estimate needs at "
             "least {least} to calibrate the scores on")
ONE_CLASS = ("{model} {version}'s evaluation set holds only {which} outcomes: scores cannot be calibrated without "
             "both")
NOT_A_THRESHOLD = ("{model} {version}: the evaluation set's predictions are not a threshold on its scores (a "
                   "prediction of 1 at score {low:.4g} and of 0 at score {high:.4g}): CBPE needs prediction = "
                   "score >= threshold")

METHOD = ("Confidence-based performance estimation (CBPE): the scores are calibrated on the version's evaluation "
          "set (monotone histogram binning, the decision threshold an edge), and each period's expected accuracy, "
          "precision, recall and ROC AUC follow from its calibrated scores alone. 95% intervals hold the spread of "
          "the period's labels (Bernoulli draws with the calibrated probabilities) and the calibrator's own error. "
          "It fails under concept drift: if the relation between inputs and outcome changes, the scores no longer "
          "mean what they meant on the reference, and nothing in the scores shows it.")
NOT_RELIABLE = ("The calibration check fails: the estimate is not reliable and must not be read as the model's "
                "performance. {why}")


# --- the calibrator --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibrator:
    """A monotone step function from score to probability: bin i holds scores in [edges[i-1], edges[i]) (the first
    from -inf, the last to +inf); `probability` per bin; `block` names the pooled group each bin belongs to, whose
    `block_rows` reference rows estimated its probability."""
    threshold: float | None
    edges: np.ndarray           # interior edges, sorted; the threshold is one of them
    probability: np.ndarray     # per bin
    block: np.ndarray           # per bin: its pooled block's index
    block_rows: np.ndarray      # per block: reference rows
    block_positives: np.ndarray
    block_centre: np.ndarray    # per block: the mean score of its reference rows

    @property
    def bins(self) -> int:
        return len(self.probability)

    def bin_of(self, scores: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, scores, side="right")

    def predicts_positive(self) -> np.ndarray:
        """Per bin: whether its scores are predicted positive (every bin lies on one side of the threshold)."""
        upper = np.concatenate(([-np.inf], self.edges))   # each bin's lower edge
        return upper >= self.threshold

    def smooth(self, scores: np.ndarray, block_probability: np.ndarray | None = None) -> np.ndarray:
        """Probabilities interpolated linearly between the blocks' mean scores (flat beyond the outermost): still
        monotone, and they keep the order of scores inside a bin, which ROC AUC depends on. `block_probability`:
        other probabilities per block (draws, rows of a 2-d array), else the fitted ones."""
        fitted = self.block_positives / self.block_rows
        values = fitted if block_probability is None else block_probability
        if len(self.block_centre) == 1:
            return np.broadcast_to(values[..., :1], values.shape[:-1] + (len(scores),)).copy()
        right = np.clip(np.searchsorted(self.block_centre, scores, side="right"), 1, len(self.block_centre) - 1)
        left = right - 1
        span = self.block_centre[right] - self.block_centre[left]
        weight = np.clip((scores - self.block_centre[left]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        return values[..., left] * (1 - weight) + values[..., right] * weight

    def block_variance(self) -> np.ndarray:
        """Per block: the sampling variance of its probability, p(1 - p) / m, with p smoothed by half a row each way
        so that a block of no positives still has some."""
        p = (self.block_positives + 0.5) / (self.block_rows + 1.0)
        return p * (1 - p) / self.block_rows


def _side_edges(scores: np.ndarray, bins: int) -> list[float]:
    """Interior edges cutting sorted `scores` into `bins` groups of (about) equal count, on values that occur."""
    if bins <= 1 or len(scores) == 0:
        return []
    cuts = [scores[int(round(k * len(scores) / bins))] for k in range(1, bins)]
    return sorted(set(float(c) for c in cuts if c > scores[0]))


def _pool_adjacent_violators(positives: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The block index of each bin after pooling neighbours whose shares decrease (bins with no rows join the block
    before them, or the first block)."""
    blocks: list[list] = []   # [positives, rows, first bin]
    owner = np.zeros(len(rows), dtype=np.int64)
    for i in range(len(rows)):
        blocks.append([float(positives[i]), float(rows[i]), i])
        while len(blocks) > 1 and (blocks[-1][1] == 0 or (
                blocks[-2][1] > 0 and blocks[-1][0] / blocks[-1][1] < blocks[-2][0] / blocks[-2][1])):
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
    starts = [b[2] for b in blocks]
    for k, start in enumerate(starts):
        owner[start:] = k
    return owner


def fit_calibrator(*, scores: np.ndarray, labels: np.ndarray, threshold: float) -> Calibrator:
    """The monotone histogram-binning calibrator of reference scores and their 0/1 outcomes."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    scores, labels = scores[order], labels[order]
    total = max(MIN_BINS, min(MAX_BINS, len(scores) // ROWS_PER_BIN))
    below = scores[scores < threshold]
    above = scores[scores >= threshold]
    share = len(below) / len(scores)
    bins_below = max(1, int(round(total * share))) if len(below) else 1
    bins_above = max(1, total - bins_below) if len(above) else 1
    edges = np.array(_side_edges(below, bins_below) + [float(threshold)] + _side_edges(above, bins_above))
    which = np.searchsorted(edges, scores, side="right")
    rows = np.bincount(which, minlength=len(edges) + 1).astype(np.float64)
    positives = np.bincount(which, weights=labels, minlength=len(edges) + 1)
    block = _pool_adjacent_violators(positives, rows)
    block_rows = np.bincount(block, weights=rows)
    block_positives = np.bincount(block, weights=positives)
    block_scores = np.bincount(block, weights=np.bincount(which, weights=scores, minlength=len(edges) + 1))
    if block_rows[0] == 0:   # an empty first side (no score below the threshold): the next block speaks for it
        block = np.maximum(block - 1, 0)
        block_rows, block_positives, block_scores = block_rows[1:], block_positives[1:], block_scores[1:]
    probability = (block_positives / block_rows)[block]
    return Calibrator(threshold=float(threshold), edges=edges, probability=probability, block=block,
                      block_rows=block_rows, block_positives=block_positives, block_centre=block_scores / block_rows)


# --- the check -------------------------------------------------------------------------------------------------------
def _chi2_sf(x: float, df: int) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(x, df))


def reliability_test(calibrator: Calibrator, *, scores: np.ndarray, labels: np.ndarray,
                     counts: np.ndarray | None = None) -> tuple[float | None, float | None, int]:
    """Observed positives against the calibrator's expectation, per pooled block, on rows it was not fitted on:
    (p-value of the chi-square test, expected calibration error, rows). Each block's difference is divided by its
    standard error: the rows' binomial spread and the calibrator's own error (m reference rows). None when no row."""
    counts = np.ones(len(scores)) if counts is None else np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return None, None, 0
    block = calibrator.block[calibrator.bin_of(np.asarray(scores, dtype=np.float64))]
    size = len(calibrator.block_rows)
    rows = np.bincount(block, weights=counts, minlength=size)
    observed = np.bincount(block, weights=counts * np.asarray(labels, dtype=np.float64), minlength=size)
    p = calibrator.block_positives / calibrator.block_rows
    smoothed = (calibrator.block_positives + 0.5) / (calibrator.block_rows + 1.0)
    spread = smoothed * (1 - smoothed)
    variance = rows * spread + rows ** 2 * spread / calibrator.block_rows
    used = rows > 0
    statistic = float(np.sum((observed[used] - rows[used] * p[used]) ** 2 / variance[used]))
    ece = float(np.sum(np.abs(observed[used] - rows[used] * p[used])) / rows.sum())
    return _chi2_sf(statistic, int(used.sum())), ece, int(rows.sum())


@dataclass(frozen=True)
class CalibrationCheck:
    """Whether a version's calibrated scores can be relied on, and why (see the module's docstring)."""
    version: str
    ok: bool
    threshold: float | None
    reference_rows: int
    bins: int
    reference_p_value: float | None
    reference_ece: float | None
    recent_days: tuple[str, ...]
    recent_labelled: int
    recent_p_value: float | None
    recent_ece: float | None
    why: str
    rule: str = (f"fails when the reference's held-out half (or the newest {RECENT_DAYS} labelled days) disagree with "
                 f"the calibrated scores at p < {CHECK_ALPHA}")

    def as_dict(self) -> dict:
        return {**asdict(self), "recent_days": list(self.recent_days)}


def _split_half(*, scores: np.ndarray, labels: np.ndarray, threshold: float,
                rng: np.random.Generator) -> tuple[float | None, float | None]:
    half = rng.permutation(len(scores)) < len(scores) // 2
    fitted = fit_calibrator(scores=scores[half], labels=labels[half], threshold=threshold)
    p_value, ece, _ = reliability_test(fitted, scores=scores[~half], labels=labels[~half])
    return p_value, ece


def reference_check(*, scores: np.ndarray, labels: np.ndarray, threshold: float,
                    seed: int = SEED) -> tuple[float | None, float | None]:
    """The reference half of the check: a calibrator fitted on a random half, tested on the other half.

    Below BOOTSTRAP_BELOW reference rows the chi-square's p-value is not trusted (blocks of a few dozen rows, chosen
    by pooling: on german-credit's 300 rows it failed 2.6% of calibrated populations, not 1%): the p-value is then
    the share of REFERENCE_DRAWS outcome sets drawn from the calibrator fitted on the whole reference whose own
    split-half p-value is as small (a parametric bootstrap; 1.3% of 300 such populations failed)."""
    rng = np.random.default_rng(seed)
    p_value, ece = _split_half(scores=scores, labels=labels, threshold=threshold, rng=rng)
    if p_value is None or len(scores) >= BOOTSTRAP_BELOW:
        return p_value, ece
    whole = fit_calibrator(scores=scores, labels=labels, threshold=threshold)
    probability = whole.probability[whole.bin_of(scores)]
    as_small = 0
    for _ in range(REFERENCE_DRAWS):
        drawn = (rng.random(len(scores)) < probability).astype(np.float64)
        drawn_p, _ = _split_half(scores=scores, labels=drawn, threshold=threshold, rng=rng)
        as_small += drawn_p is not None and drawn_p <= p_value
    return (1 + as_small) / (1 + REFERENCE_DRAWS), ece


# --- the estimates of one period -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeriodEstimate:
    """One period's estimate and 95% interval per metric (None where not computable: no predicted positive for
    precision, no expected positive for recall, one class only for ROC AUC)."""
    n: int
    estimate: dict
    ci_low: dict
    ci_high: dict


def _linear_variance(calibrator: Calibrator, weights: np.ndarray) -> float:
    """The calibrator's share of the variance of sum_b weights[b] * probability[b]: bins of one block move
    together."""
    per_block = np.bincount(calibrator.block, weights=weights, minlength=len(calibrator.block_rows))
    return float(np.sum(per_block ** 2 * calibrator.block_variance()))


def _interval(estimate: float, variance: float) -> tuple[float, float]:
    half = Z * math.sqrt(max(variance, 0.0))
    return max(0.0, estimate - half), min(1.0, estimate + half)


def _auc_from_counts(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """ROC AUC from per-score counts in ascending score order (last axis), ties counted half: P(score of a positive
    > score of a negative) + P(equal) / 2. Rows of a 2-d input are separate draws; NaN where a class is empty."""
    below = np.cumsum(negatives, axis=-1) - negatives
    wins = np.sum(positives * (below + 0.5 * negatives), axis=-1)
    pairs = np.sum(positives, axis=-1) * np.sum(negatives, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1), np.nan)


def estimate_period(calibrator: Calibrator, *, scores: np.ndarray, counts: np.ndarray,
                    rng: np.random.Generator | None = None, with_auc: bool = True) -> PeriodEstimate:
    """Accuracy, precision, recall and ROC AUC of one period from its distinct scores (ascending) and their counts
    (with_auc=False leaves ROC AUC out, None: its draws are most of the time, and simulations of accuracy need
    none)."""
    scores = np.asarray(scores, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    rng = rng or np.random.default_rng(SEED)
    which = calibrator.bin_of(scores)
    p = calibrator.probability[which]
    predicted = scores >= calibrator.threshold
    n = counts.sum()
    bins = calibrator.bins
    per_bin = np.bincount(which, weights=counts, minlength=bins)   # rows per bin
    positive_bin = calibrator.predicts_positive()
    sign = np.where(positive_bin, 1.0, -1.0)
    spread = counts * p * (1 - p)          # each score's Bernoulli variance, times its rows
    estimate, low, high = {}, {}, {}

    def put(metric: str, value: float | None, variance: float | None) -> None:
        estimate[metric] = None if value is None else float(value)
        low[metric], high[metric] = (None, None) if value is None or variance is None else \
            _interval(float(value), variance)

    if n == 0:
        for metric in METRICS:
            put(metric, None, None)
        return PeriodEstimate(0, estimate, low, high)
    correct = np.where(predicted, p, 1 - p)
    put("accuracy", float(np.sum(counts * correct) / n),
        float(spread.sum() / n ** 2) + _linear_variance(calibrator, sign * per_bin / n))
    predicted_positive = counts[predicted].sum()
    true_positive = float(np.sum(counts[predicted] * p[predicted]))
    false_negative = float(np.sum(counts[~predicted] * p[~predicted]))
    if predicted_positive > 0:
        put("precision", true_positive / predicted_positive,
            float(spread[predicted].sum() / predicted_positive ** 2)
            + _linear_variance(calibrator, np.where(positive_bin, per_bin, 0.0) / predicted_positive))
    else:
        put("precision", None, None)
    actual = true_positive + false_negative
    if actual > 0:
        g_tp, g_fn = false_negative / actual ** 2, -true_positive / actual ** 2   # d recall / d TP and d FN
        put("recall", true_positive / actual,
            g_tp ** 2 * float(spread[predicted].sum()) + g_fn ** 2 * float(spread[~predicted].sum())
            + _linear_variance(calibrator, np.where(positive_bin, g_tp, g_fn) * per_bin))
    else:
        put("recall", None, None)
    put("roc_auc", *(_auc(calibrator, scores=scores, counts=counts, rng=rng) if with_auc
                     else (None, None)))
    return PeriodEstimate(int(n), estimate, low, high)


def _auc(calibrator: Calibrator, *, scores, counts, rng) -> tuple[float | None, float | None]:
    """The expected ROC AUC (calibrated probabilities as fractional labels, as NannyML's) and its variance over
    AUC_DRAWS draws of the blocks' probabilities and then of the labels. ROC AUC reads the smoothed probabilities
    (Calibrator.smooth): with the bins' steps, pairs inside a bin would count as ties and pull the estimate towards
    0.5 (by 0.022 on german-credit's 300-row reference, in simulation)."""
    smooth = calibrator.smooth(scores)
    point = _auc_from_counts(counts * smooth, counts * (1 - smooth))
    if not np.isfinite(point):
        return None, None
    groups = np.minimum((np.arange(len(scores)) * AUC_GROUPS) // max(len(scores), 1), AUC_GROUPS - 1)
    _, group = np.unique(groups, return_inverse=True)
    group_rows = np.bincount(group, weights=counts)
    group_score = np.bincount(group, weights=counts * scores) / np.where(group_rows > 0, group_rows, 1)
    drawn_blocks = rng.beta(calibrator.block_positives + 0.5,
                            calibrator.block_rows - calibrator.block_positives + 0.5,
                            size=(AUC_DRAWS, len(calibrator.block_rows)))
    drawn_p = np.clip(calibrator.smooth(group_score, drawn_blocks), 0.0, 1.0)
    group_rows = group_rows.astype(np.int64)
    positives = rng.binomial(group_rows, drawn_p)
    draws = _auc_from_counts(positives.astype(np.float64), (group_rows - positives).astype(np.float64))
    draws = draws[np.isfinite(draws)]
    if len(draws) < AUC_DRAWS // 2:
        return float(point), None
    return float(point), float(np.var(draws, ddof=1))


# --- realised figures ------------------------------------------------------------------------------------------------
def realised_figures(*, scores: np.ndarray, predictions: np.ndarray, labels: np.ndarray,
                     counts: np.ndarray) -> dict:
    """The labelled figures of one period from its (score, prediction, label, rows) counts, with the KPI page's
    definitions (kpis.RATIOS over COUNT_SQL's counts); ROC AUC over the rows with a score. None: not computable."""
    from governance.monitoring.kpis import ratio

    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    has_prediction = ~np.isnan(predictions)
    tallies = {"labelled": counts.sum(), "correct": counts[predictions == labels].sum(),
               "true_positives": counts[(predictions == 1) & (labels == 1)].sum(),
               "predicted_positives": counts[predictions == 1].sum(),
               "actual_positives": counts[(labels == 1) & has_prediction].sum()}
    figures = {metric: ratio(metric, tallies) for metric in ("accuracy", "precision", "recall")}
    scores = np.asarray(scores, dtype=np.float64)
    scored = np.isfinite(scores)
    auc = None
    if scored.any():
        values, position = np.unique(scores[scored], return_inverse=True)
        positives = np.bincount(position, weights=counts[scored] * (labels[scored] == 1), minlength=len(values))
        negatives = np.bincount(position, weights=counts[scored] * (labels[scored] == 0), minlength=len(values))
        value = _auc_from_counts(positives, negatives)
        auc = float(value) if np.isfinite(value) else None
    figures["roc_auc"] = auc
    return figures


# --- the workspace ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EstimateRow:
    """One metric of one version in one period: the estimate, its 95% interval, and the realised figure where
    labels have arrived (None before they do)."""
    version: str
    period: str
    metric: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    realised: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PeriodCoverage:
    """How much of a period's outcomes have arrived: scored predictions, those with a label, and their share."""
    version: str
    period: str
    n: int
    labelled: int
    label_coverage: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PerformanceEstimate:
    """A model's estimated performance per version and period, with its realised figures, its label coverage and
    each version's calibration check. `reliable(version)` says whether the estimate may be read at all."""
    model: str
    grain: str
    start: str
    end: str                                    # exclusive
    rows: tuple[EstimateRow, ...]
    coverage: tuple[PeriodCoverage, ...]
    checks: dict[str, CalibrationCheck]
    notes: tuple[str, ...] = ()
    method: str = METHOD

    def reliable(self, version: str) -> bool:
        return version in self.checks and self.checks[version].ok

    def warning(self, version: str) -> str | None:
        """The sentence to show beside a version's estimate when its check fails; None when it holds."""
        check = self.checks.get(version)
        return None if check is None or check.ok else NOT_RELIABLE.format(why=check.why)

    def as_dict(self) -> dict:
        return {"model": self.model, "grain": self.grain, "start": self.start, "end": self.end,
                "method": self.method,
                "calibration": {v: c.as_dict() for v, c in self.checks.items()},
                "reliable": {v: c.ok for v, c in self.checks.items()},
                "rows": [r.as_dict() for r in self.rows], "coverage": [c.as_dict() for c in self.coverage],
                "notes": list(self.notes)}

    def frame(self):
        """The rows as a pandas frame (period as a timestamp), for charts."""
        import pandas as pd

        frame = pd.DataFrame([r.as_dict() for r in self.rows],
                             columns=["version", "period", "metric", "estimate", "ci_low", "ci_high", "realised"])
        frame["period"] = pd.to_datetime(frame["period"])
        return frame


def reference_set(store: GovernanceStore, *, model: str, version: str) -> tuple[np.ndarray, np.ndarray, float]:
    """A version's reference scores and outcomes, and the decision threshold its predictions follow."""
    frame = store.analytics.query(ESTIMATE_REFERENCE_SQL, {"model": model, "version": version})
    if frame.empty:
        raise InvalidInputError(NO_REFERENCE.format(model=model, version=version))
    if len(frame) < MIN_REFERENCE_ROWS:
        raise InvalidInputError(TOO_SMALL.format(model=model, version=version, n=len(frame),
                                                 least=MIN_REFERENCE_ROWS))
    scores = frame["score"].to_numpy(np.float64)
    labels = frame["y_true"].to_numpy(np.float64)
    if labels.min() == labels.max():
        raise InvalidInputError(ONE_CLASS.format(model=model, version=version,
                                                 which="positive" if labels.min() == 1 else "negative"))
    predicted = frame["y_pred"].to_numpy(np.float64) == 1
    if not predicted.any():
        return scores, labels, float(np.nextafter(scores.max(), np.inf))
    lowest_positive = float(scores[predicted].min())
    highest_negative = float(scores[~predicted].max()) if (~predicted).any() else -np.inf
    if highest_negative >= lowest_positive:
        raise InvalidInputError(NOT_A_THRESHOLD.format(model=model, version=version, low=lowest_positive,
                                                       high=highest_negative))
    return scores, labels, roundest_between(highest_negative, lowest_positive)


def roundest_between(low: float, high: float) -> float:
    """The number with the fewest decimals in (low, high]: the threshold a prediction rule most likely uses (0.5 in
    the demo) among those the evaluation set allows. Taking `high` itself, the smallest score predicted 1, would
    misread telemetry scores that fall in the gap (the demo's drifted inputs scored 0.5001 are predicted 1)."""
    if not np.isfinite(low):
        return high
    for decimals in range(13):
        scale = 10.0 ** decimals
        candidate = (math.floor(low * scale) + 1) / scale
        if low < candidate <= high:
            return float(round(candidate, decimals))
    return high


def _day_bound(value: date | datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return datetime.combine(value.date(), datetime.min.time())
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    try:
        return datetime.combine(date.fromisoformat(str(value)), datetime.min.time())
    except ValueError:
        raise InvalidInputError(f"a day must look like 2026-09-01, got {value!r}") from None


def _window(store: GovernanceStore, *, model: str, since, until) -> tuple[datetime, datetime] | None:
    """[start, end) in whole days: the model's telemetry, from `since`, up to the end of `until` (inclusive) and
    never past today."""
    from governance.monitoring.kpis import data_window
    from governance.record import clock

    span = data_window(store, model=model)
    if span is None:
        return None
    start = _day_bound(since) or span.start.to_pydatetime().replace(tzinfo=None)
    end = span.end.to_pydatetime().replace(tzinfo=None)
    last = _day_bound(until)
    if last is not None:
        end = min(end, last + timedelta(days=1))
    end = min(end, datetime.combine(clock.today(), datetime.min.time()) + timedelta(days=1))
    return (start, end) if end > start else None


def _reads_rollups(store: GovernanceStore, *, model: str) -> bool:
    return telemetry_sources.reads_rollups(store, model=model)


def estimate_performance(store: GovernanceStore, *, model: str, version: str | None = None, grain: str = "day",
                         since: date | str | None = None, until: date | str | None = None) -> PerformanceEstimate:
    """Each version's estimated accuracy, precision, recall and ROC AUC per period (day or week) from its scores,
    with 95% intervals, the realised figures where labels arrived, label coverage and the calibration check.

    `until`: the last day included (a page's "as of" date caps it); periods never run past today."""
    from governance.monitoring.inventory import require_model

    if grain not in GRAINS:
        raise InvalidInputError(BAD_GRAIN.format(grain=grain))
    require_model(store, model=model, version=version)
    window = _window(store, model=model, since=since, until=until)
    if window is None:
        return PerformanceEstimate(model, grain, "", "", (), (), {}, ("no telemetry in the window",))
    start, end = window
    params = {"model": model, "version": version, "grain": grain, "start": start, "end": end}
    with telemetry_sources.noting() as notes:
        scores_sql = ESTIMATE_SCORES_ROLLUP_SQL if _reads_rollups(store, model=model) else ESTIMATE_SCORES_SQL
        scored = telemetry_sources.query(store, scores_sql, params)
        realised = telemetry_sources.query(store, ESTIMATE_REALISED_SQL, params)
    notes = list(notes)
    rows, coverage, checks = [], [], {}
    rng = np.random.default_rng(SEED)
    for name in sorted(scored["version"].unique()):   # unique(), not set(): set() walks every row in Python
        try:
            reference_scores, reference_labels, threshold = reference_set(store, model=model, version=name)
        except InvalidInputError as exc:
            if version is not None:   # the one version asked for: say why there is no estimate
                raise
            checks[name] = _no_reference(name, str(exc))   # every version: the others still get theirs
            continue
        calibrator = fit_calibrator(scores=reference_scores, labels=reference_labels, threshold=threshold)
        mine = scored[scored["version"] == name]
        labelled = realised[realised["version"] == name]
        checks[name] = _check(name, calibrator, reference_scores, reference_labels, labelled, grain=grain)
        wrong = labelled[labelled["prediction"].notna() & labelled["score"].notna()
                         & ((labelled["score"] >= threshold) != (labelled["prediction"] == 1))]
        if len(wrong):
            notes.append(f"{model} {name}: {int(wrong['n'].sum()):,} labelled predictions do not follow score >= "
                         f"{threshold:.4g} as the evaluation set's do: the estimate assumes they do")
        arrived_in = dict(tuple(labelled.groupby("period", sort=False)))
        for period, part in mine.groupby("period", sort=True):
            figures = estimate_period(calibrator, scores=part["score"].to_numpy(), counts=part["n"].to_numpy(),
                                      rng=rng)
            arrived = arrived_in.get(period)
            real = {} if arrived is None else realised_figures(scores=arrived["score"].to_numpy(np.float64),
                                    predictions=arrived["prediction"].to_numpy(np.float64, na_value=np.nan),
                                    labels=arrived["label"].to_numpy(np.float64, na_value=np.nan),
                                    counts=arrived["n"].to_numpy(np.float64))
            day = _period_text(period)
            for metric in METRICS:
                rows.append(EstimateRow(name, day, metric, figures.estimate[metric], figures.ci_low[metric],
                                        figures.ci_high[metric], real.get(metric)))
            n_label = int(part["n_label"].sum())
            coverage.append(PeriodCoverage(name, day, figures.n, n_label,
                                           n_label / figures.n if figures.n else None))
    return PerformanceEstimate(model, grain, start.isoformat(), end.isoformat(), tuple(rows), tuple(coverage),
                               checks, tuple(dict.fromkeys(notes)))


def _no_reference(version: str, why: str) -> CalibrationCheck:
    return CalibrationCheck(version=version, ok=False, threshold=None, reference_rows=0, bins=0,
                            reference_p_value=None, reference_ece=None, recent_days=(), recent_labelled=0,
                            recent_p_value=None, recent_ece=None, why=why[:1].upper() + why[1:] + ".")


def _period_text(period) -> str:
    import pandas as pd

    return pd.Timestamp(period).date().isoformat()


def _check(version: str, calibrator: Calibrator, scores: np.ndarray, labels: np.ndarray, labelled,
           *, grain: str) -> CalibrationCheck:
    """The reference half and the recent-labels half of a version's calibration check."""
    import pandas as pd

    reference_p, reference_ece = reference_check(scores=scores, labels=labels, threshold=calibrator.threshold)
    recent_days: tuple[str, ...] = ()
    recent_p = recent_ece = None
    recent_n = 0
    usable = labelled[labelled["score"].notna() & labelled["label"].notna()]
    if len(usable):
        periods = sorted(usable["period"].unique())
        newest = pd.Timestamp(periods[-1])
        # the newest RECENT_DAYS days that have labels: at week grain the newest week, at day grain 7 days
        keep = [p for p in periods if pd.Timestamp(p) > newest - pd.Timedelta(days=RECENT_DAYS)] \
            if grain == "day" else periods[-1:]
        recent = usable[usable["period"].isin(keep)]
        recent_days = tuple(_period_text(p) for p in keep)
        recent_p, recent_ece, recent_n = reliability_test(
            calibrator, scores=recent["score"].to_numpy(np.float64),
            labels=recent["label"].to_numpy(np.float64, na_value=np.nan), counts=recent["n"].to_numpy(np.float64))
    why = []
    if reference_p is not None and reference_p < CHECK_ALPHA:
        why.append(f"on the evaluation set's held-out half the calibrated scores miss the outcomes "
                   f"(p = {reference_p:.2g}, expected calibration error {reference_ece:.3f})")
    if recent_p is not None and recent_p < CHECK_ALPHA:
        when = f"in {recent_days[0]} to {recent_days[-1]}" if len(recent_days) > 1 else \
            f"in the {grain} of {recent_days[0]}"
        why.append(f"on the {recent_n:,} outcomes that arrived {when} the calibrated "
                   f"scores miss the outcomes (p = {recent_p:.2g}, expected calibration error {recent_ece:.3f}): the "
                   "relation between inputs and outcome may have changed (concept drift), which an estimate from "
                   "scores cannot see")
    return CalibrationCheck(version=version, ok=not why, threshold=calibrator.threshold, reference_rows=len(scores),
                            bins=calibrator.bins, reference_p_value=reference_p, reference_ece=reference_ece,
                            recent_days=recent_days, recent_labelled=recent_n, recent_p_value=recent_p,
                            recent_ece=recent_ece, why="; ".join(why).capitalize() + "." if why else
                            "The calibrated scores match the outcomes on the evaluation set's held-out half"
                            + (" and on the newest labelled days." if recent_n else "; no outcome has arrived yet "
                               "to check them on telemetry."))


# --- the alert: an estimate below its objective before any label has come in ------------------------------------------
ALERT_DAYS = 14   # the alert reads the newest 14 days of a model's telemetry


def below_objective(*, ci_high: float | None, target: float) -> bool:
    """The alert's rule: the whole 95% interval below the objective (a KPI where higher is better), so that a model
    exactly on its objective is called below it on at most 2.5% of unlabelled days (the interval's upper tail),
    if the interval holds."""
    return ci_high is not None and ci_high < target


@dataclass(frozen=True)
class EstimateBreach:
    """A run of unlabelled days whose estimate lies wholly below the objective."""
    version: str
    metric: str
    first_day: str
    last_day: str
    estimate: float
    ci_high: float
    target: float
    days: int

    def as_dict(self) -> dict:
        return asdict(self)


def estimate_breaches(store: GovernanceStore, *, model: str, days: int = ALERT_DAYS) -> list[EstimateBreach]:
    """Each version's runs of days with no label yet whose estimate (reliable, per the calibration check) lies wholly
    below its service-level objective, over the newest `days` days; the estimate and upper end given are the
    newest day's."""
    from governance.monitoring.kpis import data_window
    from governance.monitoring.service_levels import KPIS, service_levels

    levels = {kpi: level for kpi, level in service_levels(store, model=model).items()
              if kpi in METRICS and KPIS[kpi].higher_is_better}
    span = data_window(store, model=model)
    if not levels or span is None:
        return []
    found = estimate_performance(store, model=model, grain="day",
                                 since=(span.end - timedelta(days=days)).date())
    unlabelled = {(c.version, c.period) for c in found.coverage if c.labelled == 0}
    breaches: list[EstimateBreach] = []
    for kpi, level in levels.items():
        for version in found.checks:
            if not found.reliable(version):
                continue
            run: list[EstimateRow] = []
            rows = sorted((r for r in found.rows if r.version == version and r.metric == kpi),
                          key=lambda r: r.period)
            for row in rows + [None]:
                hit = row is not None and (version, row.period) in unlabelled and \
                    below_objective(ci_high=row.ci_high, target=level.target)
                if hit:
                    run.append(row)
                    continue
                if run:
                    breaches.append(EstimateBreach(version, kpi, run[0].period, run[-1].period, run[-1].estimate,
                                                   run[-1].ci_high, level.target, len(run)))
                run = []
    return breaches


# --- simulations: the intervals' coverage and the alert's false alarms (benchmarks/performance_estimate.py, tests) ---
def smooth_truth(*, scores: np.ndarray, labels: np.ndarray):
    """A population's true probability of a positive at each score, for simulations: isotonic regression of real
    outcomes on real scores (finer than the calibrator's bins, so the simulated truth is not the calibrator's own
    shape), kept off 0 and 1."""
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    return lambda values: np.clip(fitted.predict(values), 0.002, 0.998)


def tempered_truth(truth, *, scores: np.ndarray, threshold: float, accuracy: float):
    """The truth flattened or sharpened in the logit (p -> sigmoid(logit(p) / T)) until the expected accuracy of
    `score >= threshold` over `scores` is `accuracy`: a model exactly on its objective, for the alert's false alarms."""
    base = truth(scores)
    predicted = scores >= threshold
    logit = np.log(base / (1 - base))

    def expected(temperature: float) -> float:
        p = 1 / (1 + np.exp(-logit / temperature))
        return float(np.mean(np.where(predicted, p, 1 - p)))

    low, high = 0.05, 50.0   # accuracy falls as T grows (towards coin flips)
    for _ in range(100):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if expected(middle) > accuracy else (low, middle)
    temperature = math.sqrt(low * high)
    return lambda values: np.clip(1 / (1 + np.exp(-np.log(truth(values) / (1 - truth(values))) / temperature)),
                                  0.002, 0.998)


def simulate_period(*, reference_scores: np.ndarray, truth, threshold: float, rows: int, rng: np.random.Generator,
                    with_auc: bool = True) -> tuple[PeriodEstimate, dict]:
    """One simulated period: reference outcomes drawn afresh from the truth and the calibrator fitted on them; a
    period of `rows` predictions drawn from the reference's scores, its outcomes from the truth; the estimate from
    its scores alone, and its realised figures."""
    reference_labels = (rng.random(len(reference_scores)) < truth(reference_scores)).astype(np.float64)
    calibrator = fit_calibrator(scores=reference_scores, labels=reference_labels, threshold=threshold)
    period = reference_scores[rng.integers(0, len(reference_scores), rows)]
    outcome = (rng.random(rows) < truth(period)).astype(np.float64)
    values, position, counts = np.unique(period, return_inverse=True, return_counts=True)
    estimate = estimate_period(calibrator, scores=values, counts=counts, rng=rng, with_auc=with_auc)
    positives = np.bincount(position, weights=outcome, minlength=len(values))
    both = np.concatenate([values, values])
    realised = realised_figures(scores=both, predictions=(both >= threshold).astype(np.float64),
                                labels=np.concatenate([np.ones(len(values)), np.zeros(len(values))]),
                                counts=np.concatenate([positives, counts - positives]))
    return estimate, realised
