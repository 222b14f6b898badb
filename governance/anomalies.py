"""Anomaly detection on KPI series: what no fixed threshold catches, judged against the series' own recent past.

For each period t the expected value is the median of the trailing `window` periods (only periods before t, never
after), once the seasonal pattern is removed: a day-of-week pattern at day grain, an hour-of-day pattern at hour
grain, each the median by weekday (hour) of the deviations from the median over a trailing lookback of at least
four cycles. The spread is 1.4826 x a median absolute deviation (a standard deviation for Gaussian noise): of
the deseasonalised lookback around the expected level, or of the detector's own past errors (each made before its
value was known) when that is larger, since an in-sample fit flatters itself. It is never below a floor: 1% of
the expected value, and for a proportion the binomial standard error of its period's sample (at the lookback's
pooled rate moved one event towards 1/2). A period is anomalous when |value - expected| > sensitivity x spread.
Periods not judged (NaN: too few requests or labels) are never flagged and are skipped by the rolling windows;
nothing is judged before `min_history` judged periods are in the window and two past values share its weekday
(hour). kpi_anomalies judges latency on a log scale (its noise and its regressions are multiplicative).

Plain Python: no Streamlit here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from governance.errors import InvalidInputError
from governance.kpis import data_window, kpi_series
from governance.service_levels import KPIS, MIN_SAMPLE
from governance.store import GovernanceStore

MAD_SCALE = 1.4826
STEPS = {"day": pd.Timedelta(days=1), "hour": pd.Timedelta(hours=1)}
CYCLE = {"day": 7, "hour": 24}                 # periods per seasonal cycle: weekdays, hours of the day
DEFAULT_WINDOW = {"day": 14, "hour": 168}      # two weeks of days; one week of hours
DEFAULT_MIN_HISTORY = {"day": 10, "hour": 48}  # judged periods needed in the window before judging
RELATIVE_FLOOR = 0.01                          # the spread is never below 1% of the expected value
MIN_ERRORS = 7                                 # past errors needed before they count in the spread
MIN_PER_PHASE = 2                              # past values a weekday (hour) needs before it gets its own pattern
LOG_SCALE = {"latency_p95_ms"}
BAD_DIRECTION = {"latency_p95_ms": "high", "error_rate": "high", "accuracy": "low"}

BAD_ANOMALY_GRAIN = "anomaly detection runs at hour or day grain, got {grain!r}"
BAD_SENSITIVITY = "sensitivity must be a positive number of spreads, got {value!r}"
BAD_ANOMALY_KPI = "anomaly detection covers {choices}, got {kpi!r}"
BAD_WINDOW = "window must be at least 3 periods and min_history between 1 and window, got {window!r}, {min_history!r}"

COLUMNS = ["period", "value", "expected", "lower", "upper", "spread", "score", "direction", "anomalous"]


def _phase(index: pd.DatetimeIndex, grain: str) -> np.ndarray:
    return (index.day_of_week if grain == "day" else index.hour).to_numpy()


def detect(series: pd.Series, *, grain: str, sensitivity: float = 4.0, window: int | None = None,
           min_history: int | None = None, sample: pd.Series | None = None) -> pd.DataFrame:
    """Expected value, band and verdict for every period of `series` (DatetimeIndex -> float; NaN = not judged).

    `window` and `min_history` count periods at `grain`; `sample`, given when the values are proportions, is the
    number of requests (labels) behind each value. Returns one row per period of `series`, in time order, with
    COLUMNS: score = (value - expected) / spread; direction 'high' or 'low' (None when not judged); both
    directions are flagged here (kpi_anomalies keeps only the bad one).
    """
    if grain not in STEPS:
        raise InvalidInputError(BAD_ANOMALY_GRAIN.format(grain=grain))
    if not isinstance(sensitivity, (int, float)) or not np.isfinite(sensitivity) or sensitivity <= 0:
        raise InvalidInputError(BAD_SENSITIVITY.format(value=sensitivity))
    window = DEFAULT_WINDOW[grain] if window is None else int(window)
    min_history = min(DEFAULT_MIN_HISTORY[grain], window) if min_history is None else int(min_history)
    if window < 3 or not 1 <= min_history <= window:
        raise InvalidInputError(BAD_WINDOW.format(window=window, min_history=min_history))
    if series.empty:
        return pd.DataFrame(columns=COLUMNS)

    series = series.astype("float64").sort_index()
    series = series[~series.index.duplicated(keep="last")]
    step, cycle = STEPS[grain], CYCLE[grain]
    grid = pd.date_range(series.index.min().floor(step), series.index.max().floor(step), freq=step)
    x = series.groupby(series.index.floor(step)).last().reindex(grid).to_numpy()
    n = len(grid)
    # Trailing lookback for the seasonal pattern: whole cycles, at least four of them and at least the window.
    lookback = cycle * max(4, -(-window // cycle))
    padded = np.concatenate([np.full(lookback, np.nan), x])
    past = np.lib.stride_tricks.sliding_window_view(padded, lookback)[:n]   # row t: x[t-lookback .. t-1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN slices: no history yet, NaN is the answer
        # Seasonal pattern: median by phase of the deviations from the lookback's median. Column c of `pattern`
        # is the phase of lookback position c (and of every position c + k*cycle, and of t itself when c = 0).
        deviations = past - np.nanmedian(past, axis=1, keepdims=True)
        by_phase = deviations.reshape(n, lookback // cycle, cycle)
        pattern = np.nanmedian(by_phase, axis=1)
        per_phase = (~np.isnan(by_phase)).sum(axis=1)
        pattern = np.where(per_phase >= MIN_PER_PHASE, pattern, 0.0)
        deseasoned = past - pattern[:, np.arange(lookback) % cycle]
        level = np.nanmedian(deseasoned[:, lookback - window:], axis=1)
        # the spread from the whole lookback: a MAD of a few values is itself too noisy to judge by
        mad = np.nanmedian(np.abs(deseasoned - level[:, None]), axis=1)
    judged_history = (~np.isnan(past[:, lookback - window:])).sum(axis=1)
    # judged only with enough history in the window, and enough of it on this weekday (hour) for its pattern
    ready = (judged_history >= min_history) & (per_phase[:, 0] >= MIN_PER_PHASE)
    expected = np.where(ready, level + pattern[:, 0], np.nan)
    # In-sample the seasonal fit flatters itself; the spread is also never below the typical size of this
    # detector's own past errors (each made before its value was known) once there are enough of them.
    errors = np.abs(np.concatenate([np.full(lookback, np.nan), x - expected]))
    past_errors = np.lib.stride_tricks.sliding_window_view(errors, lookback)[:n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        honest = np.nanmedian(past_errors, axis=1)
    honest = np.where((~np.isnan(past_errors)).sum(axis=1) >= MIN_ERRORS, honest, np.nan)
    spread = np.fmax(MAD_SCALE * mad, MAD_SCALE * honest)
    spread = np.maximum(spread, RELATIVE_FLOOR * np.abs(expected))
    if sample is not None:
        trials = sample.astype("float64").groupby(sample.index.floor(step)).last().reindex(grid).to_numpy()
        # The proportion's own sampling noise: binomial at the lookback's pooled rate moved one event towards
        # 1/2 (for rare events a median of mostly-zero periods says 0, yet one event in n is not news).
        weights = np.where(np.isnan(x), np.nan, trials)
        events = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([np.full(lookback, np.nan), x * weights]), lookback)[:n]
        counts = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([np.full(lookback, np.nan), weights]), lookback)[:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.nansum(events, axis=1) / np.nansum(counts, axis=1)
            p = np.clip(np.where(pooled < 0.5, pooled + 1 / trials, pooled - 1 / trials), 0, 1)
            binomial = np.sqrt(p * (1 - p) / trials)
        spread = np.fmax(spread, binomial)
    spread = np.where(ready, np.maximum(spread, 1e-12), np.nan)
    with np.errstate(invalid="ignore"):
        score = (x - expected) / spread
        anomalous = np.abs(score) > sensitivity          # NaN compares False: not judged is never flagged
    direction = np.where(np.isnan(score), None, np.where(score > 0, "high", "low"))
    frame = pd.DataFrame({"period": grid, "value": x, "expected": expected, "lower": expected - sensitivity * spread,
                          "upper": expected + sensitivity * spread, "spread": spread, "score": score,
                          "direction": direction, "anomalous": anomalous})
    return frame[frame["period"].isin(series.index.floor(step))].reset_index(drop=True)


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
    """Anomalies of one KPI of a model, per version, over the model's whole telemetry.

    Only the KPI's bad direction is flagged (latency and error rate: high; accuracy: low). A period is judged
    only with at least `min_sample` requests (for accuracy: labels). Returns model, kpi, grain, sensitivity,
    direction, points (one DataFrame: version, judged and COLUMNS per period; value is the KPI even where not
    judged) and episodes (dicts with their version), episodes in time order.
    """
    if kpi not in BAD_DIRECTION:
        raise InvalidInputError(BAD_ANOMALY_KPI.format(choices=", ".join(BAD_DIRECTION), kpi=kpi))
    if grain not in STEPS:
        raise InvalidInputError(BAD_ANOMALY_GRAIN.format(grain=grain))
    bad = BAD_DIRECTION[kpi]
    result = {"model": model, "kpi": kpi, "grain": grain, "sensitivity": sensitivity, "direction": bad,
              "points": pd.DataFrame(columns=["version", "judged", *COLUMNS]), "episodes": []}
    span = data_window(store, model=model)
    if span is None:
        return result
    series = kpi_series(store, model=model, window=span, grain=grain, version=version)
    sample_column = KPIS[kpi].min_sample
    frames, found = [], []
    for name, rows in series.groupby("version", sort=True):
        rows = rows.set_index(pd.DatetimeIndex(rows["period"])).sort_index()
        judged = rows[sample_column].fillna(0) >= min_sample
        values = rows[kpi].where(judged)
        if kpi in LOG_SCALE:   # latency: multiplicative, right-skewed noise; judged on a log scale
            points = detect(np.log(values.where(values > 0)), grain=grain, sensitivity=sensitivity,
                            window=window, min_history=min_history)
            for column in ("expected", "lower", "upper"):
                points[column] = np.exp(points[column])
            points["spread"] = points["expected"] * (np.exp(points["spread"]) - 1)   # ~ relative spread x level
        else:
            points = detect(values, grain=grain, sensitivity=sensitivity, window=window, min_history=min_history,
                            sample=rows[sample_column] if KPIS[kpi].unit == "ratio" else None)
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
