"""KPI queries: SQL over the `telemetry` relation, aggregated in DuckDB; only aggregates leave this module.

The SQL text itself is in governance.monitoring.telemetry_sql, with every other query over telemetry.

pandas is imported by the functions that return frames, not by this module: the command line's `kpis` reads the
series as plain records (kpi_records, resolve_window(pandas=False)) and starts without it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Callable

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources
from governance.monitoring.telemetry_sql import (COUNT_SQL, DAILY_VOLUME_SQL, DATA_WINDOW_ROLLUP_SQL, DATA_WINDOW_SQL,
                                                 HEADLINE_SQL, KPI_SERIES_RAW_SQL, KPI_SERIES_ROLLUP_SQL,
                                                 KPI_SERIES_SQL, LATENCY_HISTOGRAM_SQL, LATENCY_SKETCH_SQL,
                                                 LATENCY_SKETCH_WINDOW_SQL)
from governance.vocabulary import KPI_GRAINS as GRAINS

if TYPE_CHECKING:
    import pandas as pd

    from governance.record.store import GovernanceStore

BAD_GRAIN = "grain must be one of {grains}, got {grain!r}"


@dataclass(frozen=True)
class Headline:
    """A model's vital signs over the most recent days of its telemetry.

    A figure is None when it cannot be computed honestly (for instance accuracy with no labels yet).
    """
    model: str
    window_days: int
    window_end: pd.Timestamp
    predictions: int
    error_rate: float | None
    latency_p95_ms: float | None
    accuracy: float | None
    label_coverage: float | None
    cost_per_1k_usd: float | None
    expected_value_usd: float | None


def _none_if_nan(value):
    import pandas as pd

    return None if value is None or pd.isna(value) else float(value)


def headline_figures(store: GovernanceStore, *, window_days: int = 7) -> list[Headline]:
    """Per model, its figures over the last `window_days` days up to its newest prediction.

    The same definitions as the KPI page's (RATIOS over COUNT_SQL's counts; p95 of successful requests), not
    figures of its own: the Overview and the KPI page cannot disagree on what a label coverage or a p95 is."""
    frame = telemetry_sources.across_models(store, HEADLINE_SQL, {"window_days": window_days}).sort_values("model")
    frame = derive_ratios(frame, minutes=window_days * 1440)
    return [Headline(
        model=row.model, window_days=window_days, window_end=row.window_end, predictions=int(row.predictions),
        error_rate=_none_if_nan(row.error_rate), latency_p95_ms=_none_if_nan(row.latency_p95_ms),
        accuracy=_none_if_nan(row.accuracy), label_coverage=_none_if_nan(row.label_coverage),
        cost_per_1k_usd=_none_if_nan(row.cost_per_1k_usd), expected_value_usd=_none_if_nan(row.expected_value_usd),
    ) for row in frame.itertuples(index=False)]


def daily_volume(store: GovernanceStore) -> pd.DataFrame:
    """Predictions per day per model and version: at most a few hundred points for a chart."""
    return telemetry_sources.across_models(store, DAILY_VOLUME_SQL).sort_values(
        ["model", "version", "day"], ignore_index=True)


# --- KPI time series and window summaries --------------------------------------------------------------

GRAIN_MINUTES = {"hour": 60, "day": 1_440, "week": 10_080}

# The counts and sums behind every KPI are telemetry_sql.COUNT_SQL, kept per hour in telemetry_hourly.
# Accuracy, precision and recall use the successful requests whose label has arrived; label_coverage says
# how many that is. Ratios are derived from the counts (derive_ratios), so a window's figures are summed
# from its periods'. Latency percentiles are over successful requests only (a failed request's latency is a
# timeout, counted in the error rate instead) and read from the raw rows: they do not add up.
# MEASURE_SQL (from telemetry_sql) holds the same figures as single SQL expressions, for Explore.


# Each KPI's definition in words: the Overview's, the KPI page's, the reports' and the README's help texts.
DEFINITIONS = {
    "error_rate": "Failed requests / all requests.",
    "accuracy": "Correct predictions / successful requests whose true outcome has arrived.",
    "label_coverage": "Successful requests whose true outcome has arrived / all successful requests; recent "
                      "outcomes lag.",
    "latency_p95_ms": "95th percentile of the latency of successful requests (a failed request's latency is a "
                      "timeout, counted in the error rate instead).",
    "throughput_per_min": "Requests / minutes of the period inside the window (a period cut short by the window is "
                          "divided by its part inside it).",
    "cost_per_1k_usd": "1,000 x the mean cost of the requests that report one.",
}

# Each ratio: (numerator, denominator, scale) over the counts of one row of COUNT_SQL; not computable (NaN or None,
# never 0) where the denominator is 0. The same definitions serve a frame's columns and one record's numbers.
RATIOS = {
    "error_rate": (lambda c: c["failures"], lambda c: c["n"], 1),
    "label_coverage": (lambda c: c["labelled"], lambda c: c["n"] - c["failures"], 1),
    "accuracy": (lambda c: c["correct"], lambda c: c["labelled"], 1),
    "precision": (lambda c: c["true_positives"], lambda c: c["predicted_positives"], 1),
    "recall": (lambda c: c["true_positives"], lambda c: c["actual_positives"], 1),
    "cpu_pct": (lambda c: c["cpu_sum"], lambda c: c["cpu_n"], 1),
    "memory_mb": (lambda c: c["memory_sum"], lambda c: c["memory_n"], 1),
    "cost_per_1k_usd": (lambda c: c["cost_sum"], lambda c: c["cost_n"], 1000),
}
LATENCY_QUANTILES = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")   # telemetry_sql's latency_q, in order
LATENCY_QUANTILE_LEVELS = (0.5, 0.95, 0.99)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN (never 0) where the denominator is 0: not computable is not zero."""
    return (numerator / denominator.where(denominator > 0)).astype("float64")


def ratio(name: str, counts: dict) -> float | None:
    """One KPI ratio (a key of RATIOS) from one record of COUNT_SQL counts; None when not computable.

    For callers that need a single figure (the retraining policy's label coverage, the A/B page's rates): the
    same definition as every page's, not a formula of their own."""
    numerator, denominator, scale = RATIOS[name]
    top, bottom = numerator(counts), denominator(counts)
    return None if top is None or bottom is None or not bottom > 0 else scale * (top / bottom)


def period_minutes(period, *, grain: str, window: Window) -> float:
    """The minutes of the period starting at `period` (of `grain`) that lie inside the window.

    Throughput divides a period's requests by these, not by the whole period: a week with only 2 of its days
    in the window served its requests in 2 days, not 7 (dividing by 7 understated it by 71%)."""
    end = period + timedelta(minutes=GRAIN_MINUTES[grain])
    inside = min(end, window.end) - max(period, window.start)
    return max(inside / timedelta(minutes=1), 0.0)


def _series_minutes(frame: pd.DataFrame, *, grain: str, window: Window) -> pd.Series:
    """period_minutes of every row's period, vectorised: the whole period, less what falls outside the window."""
    import pandas as pd

    start = pd.to_datetime(frame["period"])
    end = start + pd.Timedelta(minutes=GRAIN_MINUTES[grain])
    inside = end.clip(upper=pd.Timestamp(window.end)) - start.clip(lower=pd.Timestamp(window.start))
    return (inside / pd.Timedelta(minutes=1)).clip(lower=0).astype("float64")


def derive_ratios(frame: pd.DataFrame, *, minutes: float | pd.Series) -> pd.DataFrame:
    """Add the KPI ratios to rows of COUNT_SQL counts (periods, or whole windows).

    minutes: the time each row's requests were served in (see period_minutes), for throughput."""
    ratios = {name: scale * _ratio(numerator(frame), denominator(frame))
              for name, (numerator, denominator, scale) in RATIOS.items()}
    return frame.assign(**ratios, throughput_per_min=frame["n"] / minutes)


def derive_record_ratios(record: dict, *, minutes: float) -> dict:
    """derive_ratios for one record of COUNT_SQL counts (plain numbers, None for a missing one)."""
    derived = dict(record)
    for name in RATIOS:
        derived[name] = ratio(name, record)
    derived["throughput_per_min"] = record["n"] / minutes if minutes > 0 else None
    return derived


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end), on whole hours (KPI counts come from an hourly rollup).

    Its bounds are pandas Timestamps, or plain datetimes from resolve_window(pandas=False)."""
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def days(self) -> float:
        return (self.end - self.start) / timedelta(days=1)

    def previous(self) -> "Window":
        """The window of the same length just before this one, for 'change against the previous window'."""
        return Window(self.start - (self.end - self.start), self.start)


def _split_quantiles(frame: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    quantiles = frame.pop("latency_q")
    for i, name in enumerate(LATENCY_QUANTILES):
        # an hour whose every request failed has no quantiles at all (NA, not an empty list)
        frame[name] = quantiles.map(
            lambda q, i=i: q[i] if isinstance(q, (list, tuple, np.ndarray)) and len(q) else None).astype("float64")
    return frame


def _start_of_day(value: datetime) -> datetime:
    return datetime.combine(value.date(), time(), tzinfo=value.tzinfo)


def _data_span(store: GovernanceStore, *, model: str) -> tuple[datetime, datetime] | None:
    """The first day of a model's telemetry and the day after its last, or None when it has none."""
    sql = DATA_WINDOW_ROLLUP_SQL if telemetry_sources.reads_rollups(store, model=model) else DATA_WINDOW_SQL
    first, last = telemetry_sources.query_records(store, sql, {"model": model})[0].values()
    if first is None:
        return None
    return _start_of_day(first), _start_of_day(last) + timedelta(days=1)


def data_window(store: GovernanceStore, *, model: str) -> Window | None:
    """The span of a model's telemetry, or None when it has none."""
    import pandas as pd

    span = _data_span(store, model=model)
    return None if span is None else Window(pd.Timestamp(span[0]), pd.Timestamp(span[1]))


def _series(store: GovernanceStore, *, model: str, window: Window, grain: str, version: str | None,
            query: Callable):
    if grain not in GRAINS:
        raise InvalidInputError(BAD_GRAIN.format(grain=grain, grains=", ".join(GRAINS)))
    # In the workspace, counts from the hourly rollup and only the percentiles, which do not add up, from the raw
    # rows; elsewhere one scan of the raw rows, where the engine is.
    params = {"grain": grain, "model": model, "version": version, "start": window.start, "end": window.end}
    if _reads_rollups(store, model=model, window=window):
        frame = _rollup_series(store, params)
        return frame if query is telemetry_sources.query else \
            frame.astype(object).where(frame.notna(), None).to_dict("records")
    sql = KPI_SERIES_SQL if telemetry_sources.source_for(store, model=model).kind == "workspace" else \
        KPI_SERIES_RAW_SQL
    return query(store, sql, params)


def _on_the_hour(value) -> bool:
    import pandas as pd

    return pd.Timestamp(value) == pd.Timestamp(value).floor("h")


def _reads_rollups(store: GovernanceStore, *, model: str, window: Window) -> bool:
    """A dataset with rollups, and a window of whole hours (the rollups' grain)."""
    return telemetry_sources.reads_rollups(store, model=model) and _on_the_hour(window.start) and \
        _on_the_hour(window.end)


def _rollup_series(store: GovernanceStore, params: dict) -> pd.DataFrame:
    """KPI_SERIES_RAW_SQL's frame from a dataset's rollups: the counts summed from the hourly rollup, and each
    period's percentiles from the merged latency sketches (within the sketch's relative error)."""
    counts = telemetry_sources.query(store, KPI_SERIES_ROLLUP_SQL, params)
    merged = sketch_quantiles(telemetry_sources.query(store, LATENCY_SKETCH_SQL, params), keys=["version", "period"],
                              levels=LATENCY_QUANTILE_LEVELS)
    quantiles = {(v, p): list(q) for v, p, *q in merged.itertuples(index=False, name=None)}
    counts["latency_q"] = [quantiles.get((v, p)) for v, p in zip(counts["version"], counts["period"])]
    return counts


def sketch_quantiles(histograms: pd.DataFrame, *, keys: list[str], levels) -> pd.DataFrame:
    """histogram_quantile at each level for every group of `keys` at once: histograms sorted by keys then
    latency_ms, with counts n. One column per level (named by it), one row per group."""
    import numpy as np
    import pandas as pd

    if histograms.empty:
        return pd.DataFrame(columns=[*keys, *levels])
    groups = histograms.groupby(keys, sort=False)
    cumulative = histograms["n"].to_numpy().cumsum()
    values = histograms["latency_ms"].to_numpy()
    last = groups.cumcount(ascending=False).to_numpy() == 0   # each group's last row
    ends = cumulative[last]
    starts = np.concatenate(([0], ends[:-1]))
    out = groups.size().reset_index()[keys]
    for q in levels:   # as histogram_quantile, with every group's ranks offset by the rows before it
        position = (ends - starts - 1) * q
        below = np.floor(position)
        lower = values[np.searchsorted(cumulative, starts + below, side="right")]
        upper = values[np.searchsorted(cumulative, starts + np.minimum(below + 1, ends - starts - 1), side="right")]
        out[q] = lower + (position - below) * (upper - lower)
    return out


def kpi_records(store: GovernanceStore, *, model: str, window: Window, grain: str = "day",
                version: str | None = None) -> list[dict]:
    """kpi_series's KPIs and throughput as plain records, one per version and period (a missing figure is None),
    without its rolling stability; without pandas when the model's telemetry is in the workspace."""
    records = _series(store, model=model, window=window, grain=grain, version=version,
                      query=telemetry_sources.query_records)
    for i, record in enumerate(records):
        quantiles = record.pop("latency_q")   # a list (an array, from a frame); None when every request failed
        quantiles = () if quantiles is None else [float(q) for q in quantiles]
        records[i] = derive_record_ratios(record, minutes=period_minutes(record["period"], grain=grain,
                                                                         window=window))
        records[i].update({name: quantiles[k] if len(quantiles) > k else None
                           for k, name in enumerate(LATENCY_QUANTILES)})
    return records


def kpi_series(store: GovernanceStore, *, model: str, window: Window, grain: str = "day",
               version: str | None = None) -> pd.DataFrame:
    """Per version and period: every KPI, plus throughput and rolling stability. One scan, in DuckDB."""
    frame = _series(store, model=model, window=window, grain=grain, version=version, query=telemetry_sources.query)
    frame = _split_quantiles(derive_ratios(frame, minutes=_series_minutes(frame, grain=grain, window=window)))
    # Stability: standard deviation over the last 7 periods (a window function over <= a few thousand rows).
    rolling = frame.groupby("version")[["accuracy", "latency_p95_ms"]].rolling(7, min_periods=2).std()
    frame["accuracy_rolling_std"] = rolling["accuracy"].to_numpy()
    frame["latency_p95_rolling_std_ms"] = rolling["latency_p95_ms"].to_numpy()
    return frame


@dataclass(frozen=True)
class KpiView:
    """What the KPI page shows for one window: the series at a grain, the window as a whole, and what the reads had
    to say about how they read a dataset (partitions without a rollup, files left out for their schema)."""
    series: pd.DataFrame
    summary: pd.DataFrame
    notes: tuple[str, ...] = ()


def kpi_view(store: GovernanceStore, *, model: str, window: Window, grain: str = "day",
             version: str | None = None) -> KpiView:
    """The series, and the window's figures summed from it: one scan of the rows plus a latency histogram.

    The window's percentiles come from a histogram of exact latency values (a GROUP BY, which DuckDB does far
    faster than sorting millions of values), interpolated as quantile_cont does: the same numbers. Over a dataset
    with rollups, the series and the histogram are read from them (lake_rollup): counts exact, percentiles from the
    merged latency sketches, within LATENCY_ALPHA.
    """
    with telemetry_sources.noting() as notes:
        series = kpi_series(store, model=model, window=window, grain=grain, version=version)
        histogram = telemetry_sources.query(
            store, LATENCY_SKETCH_WINDOW_SQL if _reads_rollups(store, model=model, window=window)
            else LATENCY_HISTOGRAM_SQL, {"model": model, "version": version, "start": window.start, "end": window.end})
    sums = series.groupby("version", as_index=False)[list(COUNT_SQL)].sum(min_count=1)
    summary = derive_ratios(sums, minutes=window.days * 1440)
    for name, q in zip(LATENCY_QUANTILES, LATENCY_QUANTILE_LEVELS):
        summary[name] = [histogram_quantile(histogram[histogram["version"] == v], q) for v in summary["version"]]
    return KpiView(series, summary, tuple(notes))


def kpi_summary(store: GovernanceStore, *, model: str, window: Window, version: str | None = None) -> pd.DataFrame:
    """Per version: every KPI over the whole window (one row per version)."""
    return kpi_view(store, model=model, window=window, grain="week", version=version).summary


def histogram_quantile(histogram: pd.DataFrame, q: float) -> float | None:
    """quantile_cont of the values behind a sorted (latency_ms, n) histogram: linear between order statistics."""
    import numpy as np

    if histogram.empty:
        return None
    values, cumulative = histogram["latency_ms"].to_numpy(), histogram["n"].to_numpy().cumsum()
    position = (cumulative[-1] - 1) * q
    below = int(np.floor(position))
    lower = values[np.searchsorted(cumulative, below, side="right")]
    upper = values[np.searchsorted(cumulative, min(below + 1, cumulative[-1] - 1), side="right")]
    return float(lower + (position - below) * (upper - lower))


BAD_DATE = "{name} must be a date like 2026-09-01, got {value!r}"
EMPTY_RANGE = "--until ({until}) is before --since ({since}): swap them"
OUTSIDE_DATA = "the window holds no telemetry of {model!r}: it spans {first} to {last}; choose days in that range"
NO_TELEMETRY = "model {model!r} has no telemetry yet: ingest some first"


def _day(name: str, value) -> datetime | None:
    """A whole day from an ISO date text, a date or a timestamp; None for no value; a clear error otherwise."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if isinstance(value, datetime):   # a pandas Timestamp too
        return _start_of_day(value)
    if isinstance(value, date):
        return datetime.combine(value, time())
    try:
        return datetime.combine(date.fromisoformat(str(value)), time())
    except ValueError:
        raise InvalidInputError(BAD_DATE.format(name=name, value=value)) from None


def parse_day(name: str, value) -> pd.Timestamp | None:
    """A whole day from an ISO date text, a date or a timestamp; None for no value; a clear error otherwise."""
    import pandas as pd

    day = _day(name, value)
    return None if day is None else pd.Timestamp(day)


def resolve_window(store: GovernanceStore, *, model: str, since: str | None = None,
                   until: str | None = None, pandas: bool = True) -> Window:
    """The window [since, until] in whole days (until inclusive); open ends take the model's data span.

    Its bounds are pandas Timestamps; with pandas=False plain datetimes, and pandas is not imported."""
    span = _data_span(store, model=model)
    if span is None:
        raise InvalidInputError(NO_TELEMETRY.format(model=model))
    start = _day("--since", since) or span[0]
    last_day = _day("--until", until)
    end = last_day + timedelta(days=1) if last_day is not None else span[1]
    if end <= start:
        if since and until:
            raise InvalidInputError(EMPTY_RANGE.format(since=since, until=until))
        raise InvalidInputError(OUTSIDE_DATA.format(model=model, first=span[0].date(),
                                                    last=(span[1] - timedelta(days=1)).date()))
    if not pandas:
        return Window(start, end)
    import pandas as pd

    return Window(pd.Timestamp(start), pd.Timestamp(end))
