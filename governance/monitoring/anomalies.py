"""Anomaly detection on KPI series: each period judged against the series' own clean past and its own sample size.

The rule, per version and KPI, one period at a time in time order (nothing after a period is used to judge it):

* **Baseline.** The expected value is the median of the trailing `window` *learned* periods after removing the
  seasonal pattern (day-of-week at day grain, hour-of-day at hour grain: the median by phase of the deviations
  from the lookback's median, over a trailing lookback of at least four cycles). A period is learned only when it
  was judged normal while no shift was open: an anomalous period opens a shift, and nothing is learned until
  CLEAR_PERIODS judged periods in a row fall inside the band again, or until someone accepts the new level
  (`accept_level`, a ledger entry). A sustained shift therefore stays flagged however long it lasts: the baseline
  cannot drift up to meet it. From an accepted time on, the level is learned afresh from the periods after it
  (the seasonal shape is kept), and periods are judged again once ACCEPT_MIN_PERIODS of them are in.
* **Latency p95** (log scale). Each period's p95 carries its own sampling noise: the standard error of a sample
  quantile, sqrt(q(1-q)/n) / f(x_q), with the density f taken from a lognormal tail fitted to the baseline's
  p95 and p99 (on the log scale se = sigma_tail * sqrt(q(1-q)/n) / phi(z_q)), n the successful requests of that
  period. The p95 of 40 requests is thus judged with a band about three times as wide as that of 400. The
  baseline's own between-period variation tau^2 is what the honest one-step-ahead errors of the learned periods
  show beyond their sampling noise (tau^2 solves median(r^2 / (tau^2 + se^2)) = the chi-square(1) median), or
  what the in-sample residuals show, whichever is larger. Band: expected x/÷ exp(k * sqrt(tau^2 + se^2)), k the
  sensitivity; a latency band is therefore always above 0, and never above the KPI's possible maximum.
* **Error rate and accuracy** (proportions). The number of events in a period of n is judged against a
  beta-binomial with the baseline rate (pooled over the learned lookback, the period's phase shrunk towards the
  whole) and the between-period variance beyond binomial noise (DerSimonian-Laird moment estimator, plus the
  baseline rate's own uncertainty). The band is that distribution's quantiles at the one-sided tail Phi(-k),
  divided by n: always within [0, 1], wide for a quiet hour, narrow for a busy one. The score is the normal
  deviate of the tail probability of the count observed.

Periods not judged (NaN: too few requests or labels) are never flagged and never learned from; nothing is judged
before `min_history` learned periods are in the window and two past values share its phase. kpi_anomalies keeps
only each KPI's bad direction.

Plain Python: no Streamlit here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from scipy import special, stats

from governance.access import identity
from governance.errors import InvalidInputError
from governance.monitoring.inventory import require_model
from governance.monitoring.kpis import data_window, kpi_series
from governance.record import clock, ledger
from governance.record.store import GovernanceStore
from governance.validation import checked_text

MAD_SCALE = 1.4826
STEPS = {"day": pd.Timedelta(days=1), "hour": pd.Timedelta(hours=1)}
CYCLE = {"day": 7, "hour": 24}                 # periods per seasonal cycle: weekdays, hours of the day
DEFAULT_WINDOW = {"day": 14, "hour": 168}      # two weeks of days; one week of hours
DEFAULT_MIN_HISTORY = {"day": 10, "hour": 48}  # learned periods needed in the window before judging
CLEAR_PERIODS = {"day": 2, "hour": 3}          # judged normal periods in a row that end a shift
ACCEPT_MIN_PERIODS = {"day": 3, "hour": 12}    # periods of an accepted new level before judging resumes
RELATIVE_FLOOR = 0.01                          # the between-period spread is never below 1% (of a log: ~1%)
MIN_ERRORS = 7                                 # honest past errors needed before they count in the spread
MIN_PER_PHASE = 2                              # past values a weekday (hour) needs before it gets its own pattern
CHI2_1_MEDIAN = stats.chi2.ppf(0.5, 1)         # 0.4549: the median of a squared standard normal
QUANTILE = 0.95                                # the latency KPI judged: p95
Z50, Z95, Z99 = 0.0, stats.norm.ppf(0.95), stats.norm.ppf(0.99)
TAIL_SAMPLE = 100                              # periods of at least this many requests fit the latency tail
LOG_SCALE = {"latency_p95_ms"}
BAD_DIRECTION = {"latency_p95_ms": "high", "error_rate": "high", "accuracy": "low"}
# KPI -> (count column of events, count column of trials) for proportions; latency: (None, its sample column)
COUNTS = {"error_rate": ("failures", "n"), "accuracy": ("correct", "labelled"), "latency_p95_ms": (None, "successes")}
POSSIBLE = {"latency_p95_ms": (0.0, 600_000.0), "error_rate": (0.0, 1.0), "accuracy": (0.0, 1.0)}
MIN_SAMPLE = 30                                # fewer requests (or labels) in a period: not judged
ACCEPTED_KIND = "anomaly_level_accepted"
ACCEPT_PERMISSION = "configure monitoring"     # engineering leaders and admins

BAD_ANOMALY_GRAIN = "anomaly detection runs at hour or day grain, got {grain!r}"
BAD_SENSITIVITY = "sensitivity must be a positive number of spreads, got {value!r}"
BAD_ANOMALY_KPI = "anomaly detection covers {choices}, got {kpi!r}"
BAD_WINDOW = "window must be at least 3 periods and min_history between 1 and window, got {window!r}, {min_history!r}"
BAD_ACCEPT_TIME = ("the new level's start must be a time like 2026-09-14 or 2026-09-14T12:00 (UTC) within {model}'s "
                   "telemetry ({first} to {last}), got {value!r}")
NO_TELEMETRY = "{model} {version} has no telemetry: there is no level to accept yet"

COLUMNS = ["period", "value", "expected", "lower", "upper", "spread", "score", "direction", "anomalous", "learned"]


@dataclass(frozen=True)
class AcceptedLevel:
    """A recorded decision that a KPI's new level is the normal one from `start` on."""
    model: str
    version: str
    kpi: str
    start: datetime
    reason: str
    by: str
    role: str
    at: str
    seq: int

    def as_dict(self) -> dict:
        return {"model": self.model, "version": self.version, "kpi": self.kpi, "from": self.start.isoformat(),
                "reason": self.reason, "by": self.by, "role": self.role, "at": self.at, "seq": self.seq}


# --- the sequential judge ----------------------------------------------------------------------------------------

def _phase(index: pd.DatetimeIndex, grain: str) -> np.ndarray:
    return (index.day_of_week if grain == "day" else index.hour).to_numpy()


def _between_variance(residuals: np.ndarray, sampling: np.ndarray) -> float:
    """tau^2 such that median(r^2 / (tau^2 + s^2)) is the chi-square(1) median: the spread beyond sampling noise,
    robust to the odd large residual; 0 when the sampling noise alone explains the residuals. Each ratio exceeds
    that median exactly when tau^2 < r^2 / median - s^2, so tau^2 is the median of those thresholds. With no
    sampling noise this is (1.4826 x the median absolute residual)^2."""
    if len(residuals) == 0:
        return np.nan
    return max(_median(residuals ** 2 / CHI2_1_MEDIAN - sampling), 0.0)


def _median(values: np.ndarray) -> float:
    """The median of a short 1-D array of finite values (a sort: far quicker than np.median at this size)."""
    ordered = np.sort(values)
    k = len(ordered)
    return float(ordered[(k - 1) // 2] + ordered[k // 2]) / 2


def _column_medians(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of the finite values of each column (NaN where none): a sort, not numpy's slow nanmedian."""
    ordered = np.sort(matrix, axis=0)          # NaN sorts last
    counts = np.isfinite(matrix).sum(axis=0)
    columns = np.arange(matrix.shape[1])
    low = ordered[np.maximum(counts - 1, 0) // 2, columns]
    high = ordered[np.maximum(counts, 1) // 2 - (counts == 0), columns]
    return np.where(counts > 0, (low + high) / 2, np.nan), counts


class _Judge:
    """The state every kind of series shares: which periods were learned, whether a shift is open, resets."""

    def __init__(self, n: int, *, grain: str, window: int, min_history: int, resets: np.ndarray):
        self.n, self.grain, self.window, self.min_history = n, grain, window, min_history
        self.cycle = CYCLE[grain]
        self.lookback = self.cycle * max(4, -(-window // self.cycle))
        self.learned = np.zeros(n, dtype=bool)
        self.resets = resets
        self.shift_open = False
        self.normal_run = 0
        self.reset_at = -1
        self.last_learned = -1

    def begin(self, t: int) -> None:
        if self.resets[t]:
            self.reset_at, self.shift_open, self.normal_run = t, False, 0

    def rows(self, t: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(first index of the lookback, mask of learned periods in it, mask of those after the newest reset).

        The lookback ends at t, or, when whole cycles have passed with nothing learned (an open shift), that many
        cycles earlier: a frozen baseline keeps its full history however long the shift lasts."""
        gap = t - (self.last_learned + 1)
        start = t - self.cycle * (gap // self.cycle) - self.lookback
        positions = np.arange(start, start + self.lookback)
        inside = positions >= 0
        learned = np.zeros(self.lookback, dtype=bool)
        learned[inside] = self.learned[positions[inside]]
        return start, learned, positions >= self.reset_at

    def warm(self, t: int, *, present: bool) -> None:
        """A period before judging can start (too little history, or a new level still being learned): learned
        as it comes, unless a shift is open."""
        if present and not self.shift_open:
            self.learned[t], self.last_learned = True, t

    def end(self, t: int, *, judged: bool, anomalous: bool) -> None:
        if not judged:
            return
        if anomalous:
            self.shift_open, self.normal_run = True, 0
            return
        if self.shift_open:
            self.normal_run += 1
            if self.normal_run >= CLEAR_PERIODS[self.grain]:
                self.shift_open = False
            return
        self.learned[t], self.last_learned = True, t


def _window_of(values: np.ndarray, start: int, lookback: int) -> np.ndarray:
    out = np.full(lookback, np.nan)
    low = max(start, 0)
    out[low - start:] = values[low:start + lookback]
    return out


def _seasonal(past: np.ndarray, current: np.ndarray, cycle: int) -> tuple[np.ndarray, int]:
    """Seasonal pattern by lookback column (phase), from learned values; each segment (before and after an
    accepted level) centred on its own median. Returns the pattern per column and the count at column 0."""
    centred = past.copy()
    for segment in (current, ~current):
        values = past[segment]
        values = values[np.isfinite(values)]
        if len(values):
            centred[segment] = past[segment] - _median(values)
    pattern, counts = _column_medians(centred.reshape(-1, cycle))
    pattern = np.where(counts >= MIN_PER_PHASE, pattern, 0.0)
    return np.tile(pattern, len(past) // cycle), int(counts[0])


def _judge_levels(x: np.ndarray, sampling: np.ndarray, *, grain: str, sensitivity: float, window: int,
                  min_history: int, resets: np.ndarray, tail: np.ndarray | None = None,
                  tail_weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Gaussian judgement of a level series (a log p95, or any plain series when `sampling` is 0).

    sampling: each period's own sampling variance per unit of `tail`^2 (for a p95: c^2 / n); tail: a per-period
    estimate of the log-scale tail spread (sigma_tail), whose baseline median (over learned periods with enough
    requests) scales `sampling`. Without `tail`, `sampling` is the variance itself.
    """
    n = len(x)
    judge = _Judge(n, grain=grain, window=window, min_history=min_history, resets=resets)
    expected, spread = np.full(n, np.nan), np.full(n, np.nan)
    errors = np.full(n, np.nan)        # honest errors of learned periods
    own = np.full(n, np.nan)           # each period's sampling variance, as judged
    for t in range(n):
        judge.begin(t)
        start, learned, current = judge.rows(t)
        past = np.where(learned, _window_of(x, start, judge.lookback), np.nan)
        pattern, at_phase = _seasonal(past, current, judge.cycle)
        deseasoned = past - pattern
        if judge.reset_at >= 0:
            deseasoned = np.where(current, deseasoned, np.nan)
        # the level: the newest `window` learned periods (further back while a shift keeps them from coming)
        recent_at = np.flatnonzero(np.isfinite(deseasoned))[-window:]
        recent = deseasoned[recent_at]
        needed = ACCEPT_MIN_PERIODS[grain] if judge.reset_at >= 0 else min_history
        if len(recent) < needed or at_phase < MIN_PER_PHASE:
            judge.warm(t, present=bool(np.isfinite(x[t])))
            continue
        level = _median(recent)
        expected[t] = level + pattern[0]
        if tail is not None:
            past_tail = np.where(learned, _window_of(tail, start, judge.lookback), np.nan)
            weights = _window_of(tail_weight, start, judge.lookback)
            fitted = past_tail[np.isfinite(past_tail) & (weights >= TAIL_SAMPLE)]
            if len(fitted) == 0:
                fitted = past_tail[np.isfinite(past_tail)]
            sigma = _median(fitted) if len(fitted) else np.nan
            scale = sigma ** 2 if np.isfinite(sigma) else 0.0
        else:
            scale = 1.0
        past_sampling = _window_of(sampling, start, judge.lookback) * scale
        tau2 = _between_variance(recent - level, np.nan_to_num(past_sampling[recent_at]))
        past_errors = np.where(learned, _window_of(errors, start, judge.lookback), np.nan)
        past_own = _window_of(own, start, judge.lookback)
        keep = np.isfinite(past_errors) & np.isfinite(past_own)
        if keep.sum() >= MIN_ERRORS:
            tau2 = max(tau2, _between_variance(past_errors[keep], past_own[keep]))
        tau2 = max(tau2, (RELATIVE_FLOOR * (1.0 if tail is not None else abs(expected[t]))) ** 2)
        own[t] = sampling[t] * scale if np.isfinite(sampling[t]) else np.nan
        known = past_sampling[np.isfinite(past_sampling)]
        typical = _median(known) if len(known) else 0.0   # no sampling noise known at all: the baseline's alone
        spread[t] = np.sqrt(tau2 + (own[t] if np.isfinite(own[t]) else typical))
        if np.isfinite(x[t]):
            errors[t] = x[t] - expected[t]
        score = (x[t] - expected[t]) / spread[t]
        judge.end(t, judged=bool(np.isfinite(score)), anomalous=bool(abs(score) > sensitivity))
    with np.errstate(invalid="ignore"):
        score = (x - expected) / spread
    return {"expected": expected, "spread": spread, "score": score, "learned": judge.learned,
            "lower": expected - sensitivity * spread, "upper": expected + sensitivity * spread}


def _count_law(trials: int, p: float, concentration: float) -> np.ndarray:
    """P(X = 0..trials) of a beta-binomial with mean p and concentration a + b (binomial when it is infinite)."""
    counts = np.arange(trials + 1)
    log_choose = special.gammaln(trials + 1) - special.gammaln(counts + 1) - special.gammaln(trials - counts + 1)
    if not np.isfinite(concentration) or concentration > 1e7:
        log_pmf = log_choose + counts * np.log(p) + (trials - counts) * np.log1p(-p)
    else:
        a, b = p * concentration, (1 - p) * concentration
        log_pmf = log_choose + special.betaln(counts + a, trials - counts + b) - special.betaln(a, b)
    pmf = np.exp(log_pmf - log_pmf.max())
    return pmf / pmf.sum()


def _judge_proportions(events: np.ndarray, trials: np.ndarray, *, grain: str, sensitivity: float, window: int,
                       min_history: int, resets: np.ndarray) -> dict[str, np.ndarray]:
    """Beta-binomial judgement of events out of trials per period (NaN trials: not judged)."""
    n = len(events)
    judge = _Judge(n, grain=grain, window=window, min_history=min_history, resets=resets)
    alpha = stats.norm.sf(sensitivity)
    out = {name: np.full(n, np.nan) for name in ("expected", "spread", "score", "lower", "upper")}
    phase_of = np.arange(judge.lookback) % judge.cycle
    for t in range(n):
        judge.begin(t)
        start, learned, current = judge.rows(t)
        usable = learned & current if judge.reset_at >= 0 else learned
        k = np.where(usable, _window_of(events, start, judge.lookback), np.nan)
        m = np.where(usable, _window_of(trials, start, judge.lookback), np.nan)
        needed = ACCEPT_MIN_PERIODS[grain] if judge.reset_at >= 0 else min_history
        seen = np.isfinite(m) & (m > 0)
        if seen.sum() < needed or (judge.reset_at < 0 and seen[phase_of == 0].sum() < MIN_PER_PHASE):
            judge.warm(t, present=bool(np.isfinite(trials[t])))
            continue
        k_seen, m_seen, phases = k[seen], m[seen], phase_of[seen]
        total_k, total_m = k_seen.sum(), m_seen.sum()
        pooled = total_k / total_m
        # each phase's rate, shrunk towards the whole lookback by one phase's worth of trials
        prior = total_m / judge.cycle
        phase_k = np.bincount(phases, weights=k_seen, minlength=judge.cycle)
        phase_m = np.bincount(phases, weights=m_seen, minlength=judge.cycle)
        rates = (phase_k + prior * pooled) / (phase_m + prior)
        rate = rates[0]
        # between-period variance beyond binomial noise (DerSimonian-Laird's moment estimator: each period weighted
        # by its binomial precision, so busy periods are not drowned by quiet ones), plus the baseline's own error
        base = np.clip(rates[phases], 1e-6, 1 - 1e-6)
        weights = m_seen / (base * (1 - base))
        q = np.sum(weights * (k_seen / m_seen - base) ** 2)
        denominator = weights.sum() - np.sum(weights ** 2) / weights.sum()
        excess = (q - (len(weights) - 1)) / denominator if denominator > 0 else 0.0
        variance = max(excess, 0.0) + rate * (1 - rate) / (phase_m[0] + prior)
        out["expected"][t] = rate
        if not np.isfinite(trials[t]) or trials[t] <= 0:
            continue
        size = int(trials[t])
        # a rate of exactly 0 or 1 would make every other count impossible: half an event's worth of doubt
        p = float(np.clip(rate, 0.5 / (total_m + 1), 1 - 0.5 / (total_m + 1)))
        concentration = p * (1 - p) / variance - 1 if variance > 0 else np.inf
        pmf = _count_law(size, p, concentration)
        below = np.cumsum(pmf)                       # P(X <= x)
        above = np.concatenate([[1.0], 1 - below[:-1]])   # P(X >= x)
        # the band: every count whose own tail is at least alpha; flagged beyond it
        upper_count = int(np.argmax(above < alpha)) - 1 if (above < alpha).any() else size
        lower_count = int(np.argmax(below >= alpha))
        out["upper"][t], out["lower"][t] = upper_count / size, lower_count / size
        out["spread"][t] = np.sqrt(variance + p * (1 - p) / size)
        count = events[t]
        if not np.isfinite(count):
            continue
        count = int(round(count))
        mean = size * p
        # the normal deviate of the count's own tail, on its side of the mean (a count near the mean scores 0)
        if count >= mean:
            tail = max(float(above[count]), 1e-300)
            out["score"][t] = float(np.clip(stats.norm.isf(tail), 0.0, 50.0))
        else:
            tail = max(float(below[count]), 1e-300)
            out["score"][t] = float(np.clip(stats.norm.ppf(tail), -50.0, 0.0))
        judge.end(t, judged=True, anomalous=count > upper_count or count < lower_count)
    out["learned"] = judge.learned
    return out


# --- public ------------------------------------------------------------------------------------------------------

def _checked(grain: str, sensitivity: float, window: int | None, min_history: int | None) -> tuple[int, int]:
    if grain not in STEPS:
        raise InvalidInputError(BAD_ANOMALY_GRAIN.format(grain=grain))
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float)) or not np.isfinite(sensitivity) \
            or sensitivity <= 0:
        raise InvalidInputError(BAD_SENSITIVITY.format(value=sensitivity))
    window = DEFAULT_WINDOW[grain] if window is None else int(window)
    min_history = min(DEFAULT_MIN_HISTORY[grain], window) if min_history is None else int(min_history)
    if window < 3 or not 1 <= min_history <= window:
        raise InvalidInputError(BAD_WINDOW.format(window=window, min_history=min_history))
    return window, min_history


def _grid(index: pd.DatetimeIndex, grain: str) -> pd.DatetimeIndex:
    step = STEPS[grain]
    return pd.date_range(index.min().floor(step), index.max().floor(step), freq=step)


def _on_grid(series: pd.Series, grid: pd.DatetimeIndex, grain: str) -> np.ndarray:
    series = series.astype("float64").sort_index()
    return series.groupby(series.index.floor(STEPS[grain])).last().reindex(grid).to_numpy()


def _resets(grid: pd.DatetimeIndex, grain: str, accepted: list) -> np.ndarray:
    """The first whole period at or after each accepted start."""
    resets = np.zeros(len(grid), dtype=bool)
    for start in accepted or ():
        first = pd.Timestamp(start).tz_localize(None) if pd.Timestamp(start).tzinfo else pd.Timestamp(start)
        position = grid.searchsorted(first.ceil(STEPS[grain]))
        if position < len(grid):
            resets[position] = True
    return resets


def _frame(grid, x, judged: dict, sensitivity: float, present) -> pd.DataFrame:
    score = judged["score"]
    with np.errstate(invalid="ignore"):
        anomalous = (x > judged["upper"]) | (x < judged["lower"])
    anomalous &= np.isfinite(score)
    direction = np.where(np.isnan(score), None, np.where(score > 0, "high", "low"))
    frame = pd.DataFrame({"period": grid, "value": x, "expected": judged["expected"], "lower": judged["lower"],
                          "upper": judged["upper"], "spread": judged["spread"], "score": score,
                          "direction": direction, "anomalous": anomalous, "learned": judged["learned"]})
    return frame[frame["period"].isin(present)].reset_index(drop=True)


def detect(series: pd.Series, *, grain: str, sensitivity: float = 4.0, window: int | None = None,
           min_history: int | None = None, variance: pd.Series | None = None,
           accepted: list | None = None) -> pd.DataFrame:
    """Expected value, band and verdict for every period of a level series (DatetimeIndex -> float; NaN = not
    judged), each period's own sampling `variance` (same index; 0 when not given) added to the baseline's
    between-period variation. `accepted`: times from which a new level is the normal one.

    Returns one row per period of `series`, in time order, with COLUMNS: score = (value - expected) / spread;
    lower and upper = expected -+ sensitivity x spread; direction 'high' or 'low' (None when not judged); both
    directions are flagged here (kpi_anomalies keeps only the bad one); learned: the baseline used the period.
    """
    window, min_history = _checked(grain, sensitivity, window, min_history)
    if series.empty:
        return pd.DataFrame(columns=COLUMNS)
    series = series[~series.index.duplicated(keep="last")]
    grid = _grid(series.index, grain)
    x = _on_grid(series, grid, grain)
    sampling = np.zeros(len(grid)) if variance is None else np.nan_to_num(_on_grid(variance, grid, grain))
    judged = _judge_levels(x, sampling, grain=grain, sensitivity=sensitivity, window=window,
                           min_history=min_history, resets=_resets(grid, grain, accepted))
    return _frame(grid, x, judged, sensitivity, series.index.floor(STEPS[grain]))


def quantile_slope(p50_ms, p95_ms, p99_ms):
    """d log(latency) / dz at the p95, z the normal score of the quantile level: the slope at z95 of the quadratic
    through (z, log quantile) at p50, p95 and p99. A weighted mean of the two secants (0.29 x p50-p95 +
    0.71 x p95-p99), so it is sigma exactly for a lognormal and follows a heavier or lighter tail otherwise."""
    with np.errstate(invalid="ignore", divide="ignore"):
        y50, y95, y99 = (np.log(np.where(np.asarray(v, dtype=float) > 0, v, np.nan)) for v in (p50_ms, p95_ms, p99_ms))
    weight = (Z95 - Z50) / (Z99 - Z50)
    return (1 - weight) * (y95 - y50) / (Z95 - Z50) + weight * (y99 - y95) / (Z99 - Z95)


def detect_quantile(p95_ms: pd.Series, *, p50_ms: pd.Series, p99_ms: pd.Series, sample: pd.Series, grain: str,
                    sensitivity: float = 4.0, window: int | None = None, min_history: int | None = None,
                    accepted: list | None = None) -> pd.DataFrame:
    """detect() for a p95 latency series on the log scale, each period's sampling noise from its number of
    requests (`sample`) and the slope of the baseline's quantile function at the p95 (quantile_slope of its
    p50, p95 and p99). Values in ms, band in ms."""
    window, min_history = _checked(grain, sensitivity, window, min_history)
    if p95_ms.empty:
        return pd.DataFrame(columns=COLUMNS)
    grid = _grid(p95_ms.index, grain)
    p95 = _on_grid(p95_ms, grid, grain)
    p50 = _on_grid(p50_ms.reindex(p95_ms.index), grid, grain)
    p99 = _on_grid(p99_ms.reindex(p95_ms.index), grid, grain)
    size = _on_grid(sample.reindex(p95_ms.index), grid, grain)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.log(np.where(p95 > 0, p95, np.nan))
        tail = quantile_slope(p50, p95, p99)
        c2 = QUANTILE * (1 - QUANTILE) / stats.norm.pdf(stats.norm.ppf(QUANTILE)) ** 2
        sampling = np.where(size > 0, c2 / size, np.nan)
    tail = np.where(np.isfinite(x), tail, np.nan)
    judged = _judge_levels(x, sampling, grain=grain, sensitivity=sensitivity, window=window,
                           min_history=min_history, resets=_resets(grid, grain, accepted), tail=tail,
                           tail_weight=np.nan_to_num(size))
    low, high = POSSIBLE["latency_p95_ms"]
    for column in ("expected", "lower", "upper"):
        judged[column] = np.clip(np.exp(judged[column]), low, high)
    judged["spread"] = judged["expected"] * (np.exp(judged["spread"]) - 1)   # ~ relative spread x level
    return _frame(grid, p95, judged, sensitivity, p95_ms.index.floor(STEPS[grain]))


def detect_proportion(events: pd.Series, *, trials: pd.Series, grain: str, sensitivity: float = 4.0,
                      window: int | None = None, min_history: int | None = None,
                      accepted: list | None = None) -> pd.DataFrame:
    """detect() for a proportion: `events` out of `trials` per period (trials NaN: not judged), judged against a
    beta-binomial at the baseline rate with that period's trials. Value, expected and band are rates in [0, 1]."""
    window, min_history = _checked(grain, sensitivity, window, min_history)
    if trials.empty:
        return pd.DataFrame(columns=COLUMNS)
    grid = _grid(trials.index, grain)
    m = _on_grid(trials, grid, grain)
    k = _on_grid(events.reindex(trials.index), grid, grain)
    m = np.where(m > 0, m, np.nan)
    k = np.where(np.isfinite(m), k, np.nan)
    judged = _judge_proportions(k, m, grain=grain, sensitivity=sensitivity, window=window,
                                min_history=min_history, resets=_resets(grid, grain, accepted))
    with np.errstate(invalid="ignore"):
        rate = k / m
    frame = _frame(grid, rate, judged, sensitivity, trials.index.floor(STEPS[grain]))
    counts = pd.Series(k, index=grid).reindex(frame["period"]).to_numpy()
    sizes = pd.Series(m, index=grid).reindex(frame["period"]).to_numpy()
    with np.errstate(invalid="ignore"):   # by counts, exactly as judged (a rate can round across the band edge)
        frame["anomalous"] = (counts > frame["upper"] * sizes + 1e-9) | (counts < frame["lower"] * sizes - 1e-9)
    frame["anomalous"] &= frame["score"].notna()
    return frame


def episodes(points: pd.DataFrame, *, grain: str, direction: str | None = None) -> list[dict]:
    """Anomalous periods merged into episodes: start, end (exclusive), periods, worst value, its expected value
    and score. Not-judged periods between two anomalous ones do not break an episode; a judged normal one does."""
    step = STEPS[grain]
    found: list[dict] = []
    run: list = []
    judged = points[points["score"].notna()].sort_values("period")
    for row in judged.itertuples(index=False):
        if row.anomalous:
            run.append(row)
            continue
        if run:
            found.append(_episode(run, step, direction))
            run = []
    if run:
        found.append(_episode(run, step, direction))
    return found


def _episode(run: list, step: pd.Timedelta, direction: str | None) -> dict:
    # the worst value in the bad direction; with no bad direction given, the period furthest from expected
    worst = max(run, key=lambda r: abs(r.score)) if direction is None else \
        (max(run, key=lambda r: r.value) if direction == "high" else min(run, key=lambda r: r.value))
    return {"start": run[0].period, "end": run[-1].period + step, "periods": len(run), "worst": float(worst.value),
            "expected": float(worst.expected), "score": float(worst.score), "direction": worst.direction}


def kpi_anomalies(store: GovernanceStore, *, model: str, kpi: str, version: str | None = None, grain: str = "day",
                  sensitivity: float = 4.0, window: int | None = None, min_history: int | None = None,
                  min_sample: int = MIN_SAMPLE) -> dict:
    """Anomalies of one KPI of a model, per version, over the model's whole telemetry, with the accepted levels.

    Only the KPI's bad direction is flagged (latency and error rate: high; accuracy: low). A period is judged
    only with at least `min_sample` requests (latency: successful ones; accuracy: labels). Returns model, kpi,
    grain, sensitivity, direction, points (one DataFrame: version, judged and COLUMNS per period; value is the KPI
    even where not judged), episodes (dicts with their version, in time order) and accepted (AcceptedLevel.as_dict
    of this KPI's accepted levels).
    """
    if kpi not in BAD_DIRECTION:
        raise InvalidInputError(BAD_ANOMALY_KPI.format(choices=", ".join(BAD_DIRECTION), kpi=kpi))
    _checked(grain, sensitivity, window, min_history)
    bad = BAD_DIRECTION[kpi]
    levels = accepted_levels(store, model=model, kpi=kpi, version=version)
    result = {"model": model, "kpi": kpi, "grain": grain, "sensitivity": sensitivity, "direction": bad,
              "points": pd.DataFrame(columns=["version", "judged", *COLUMNS]), "episodes": [],
              "accepted": [level.as_dict() for level in levels]}
    span = data_window(store, model=model)
    if span is None:
        return result
    series = kpi_series(store, model=model, window=span, grain=grain, version=version)
    series["successes"] = series["n"] - series["failures"].fillna(0)
    events_column, trials_column = COUNTS[kpi]
    frames, found = [], []
    for name, rows in series.groupby("version", sort=True):
        rows = rows.set_index(pd.DatetimeIndex(rows["period"])).sort_index()
        judged = rows[trials_column].fillna(0) >= min_sample
        starts = [level.start for level in levels if level.version == name]
        if kpi in LOG_SCALE:   # latency: multiplicative, right-skewed noise; judged on a log scale
            points = detect_quantile(rows[kpi].where(judged), p50_ms=rows["latency_p50_ms"],
                                     p99_ms=rows["latency_p99_ms"],
                                     sample=rows[trials_column], grain=grain, sensitivity=sensitivity,
                                     window=window, min_history=min_history, accepted=starts)
        else:
            points = detect_proportion(rows[events_column], trials=rows[trials_column].where(judged), grain=grain,
                                       sensitivity=sensitivity, window=window, min_history=min_history,
                                       accepted=starts)
        points["value"] = rows[kpi].to_numpy()
        points["anomalous"] = points["anomalous"] & (points["direction"] == bad)
        for item in episodes(points, grain=grain, direction=bad):
            found.append({"version": name, **item})
        points.insert(0, "judged", judged.to_numpy())
        points.insert(0, "version", name)
        frames.append(points)
    if frames:
        result["points"] = pd.concat(frames, ignore_index=True)
    result["episodes"] = sorted(found, key=lambda e: (e["start"], e["version"]))
    return result


# --- accepted levels ---------------------------------------------------------------------------------------------

def _subject(model: str, version: str, kpi: str) -> str:
    return f"{model} {version} {kpi}"


def accepted_levels(store: GovernanceStore, *, model: str, kpi: str | None = None,
                    version: str | None = None) -> list[AcceptedLevel]:
    """The accepted new levels of a model (one KPI, one version), in the order they were recorded."""
    found = []
    for entry in ledger.entries(store, kind=ACCEPTED_KIND):
        p = entry["payload"]
        if p["model"] != model or (kpi and p["kpi"] != kpi) or (version and p["version"] != version):
            continue
        found.append(AcceptedLevel(model=p["model"], version=p["version"], kpi=p["kpi"],
                                   start=datetime.fromisoformat(p["from"]), reason=p["reason"], by=p["by"],
                                   role=p["role"], at=p["at"], seq=int(entry["seq"])))
    return found


def accept_level(store: GovernanceStore, *, model: str, version: str, kpi: str, start, reason: str,
                 actor) -> AcceptedLevel:
    """Record that `kpi` of `version` has a new normal level from `start` (UTC) on, and why: from then on the
    baseline learns that level and the shift stops being flagged. Engineering leaders and admins only."""
    identity.require(actor, ACCEPT_PERMISSION)
    if kpi not in BAD_DIRECTION:
        raise InvalidInputError(BAD_ANOMALY_KPI.format(choices=", ".join(BAD_DIRECTION), kpi=kpi))
    require_model(store, model=model, version=version)
    reason = checked_text(reason, field="reason", limit=2000)
    span = data_window(store, model=model)
    if span is None:
        raise InvalidInputError(NO_TELEMETRY.format(model=model, version=version))
    try:
        moment = pd.Timestamp(start)
        if moment.tzinfo is not None:
            moment = moment.tz_convert("UTC").tz_localize(None)
    except (ValueError, TypeError):
        moment = None
    if moment is None or pd.isna(moment) or not span.start <= moment < span.end:
        raise InvalidInputError(BAD_ACCEPT_TIME.format(model=model, first=f"{span.start:%Y-%m-%d %H:%M}",
                                                       last=f"{span.end:%Y-%m-%d %H:%M}", value=str(start)))
    at = clock.now_iso_seconds()
    entry = ledger.append(store, actor=actor.recorded_as, kind=ACCEPTED_KIND, subject=_subject(model, version, kpi),
                          payload={"model": model, "version": version, "kpi": kpi,
                                   "from": moment.to_pydatetime().isoformat(), "reason": reason,
                                   "by": actor.display_name, "role": actor.role, "at": at},
                          idempotency_key=f"anomaly-level:{model}:{version}:{kpi}:{uuid.uuid4().hex}")
    p = entry["payload"]
    return AcceptedLevel(model=model, version=version, kpi=kpi, start=datetime.fromisoformat(p["from"]),
                         reason=reason, by=p["by"], role=p["role"], at=at, seq=int(entry["seq"]))
