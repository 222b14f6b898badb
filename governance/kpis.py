"""KPI queries: SQL over the `telemetry` relation, aggregated in DuckDB; only aggregates leave this module."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from governance.store import GovernanceStore


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


_HEADLINE_SQL = """
WITH bounds AS (SELECT model, max(ts) AS window_end FROM telemetry GROUP BY model)
SELECT t.model, b.window_end,
       count(*)                                                         AS predictions,
       avg(t.is_error::INTEGER)                                         AS error_rate,
       quantile_cont(t.latency_ms, 0.95)                                AS latency_p95_ms,
       avg((t.prediction = t.label)::INTEGER) FILTER (WHERE t.label IS NOT NULL AND NOT t.is_error) AS accuracy,
       count(t.label) / count(*)                                        AS label_coverage,
       1000 * avg(t.cost_usd)                                           AS cost_per_1k_usd,
       sum(t.expected_value_usd)                                        AS expected_value_usd
FROM telemetry t JOIN bounds b USING (model)
WHERE t.ts > b.window_end - to_days(?)
GROUP BY t.model, b.window_end
ORDER BY t.model
"""


def _none_if_nan(value):
    return None if value is None or pd.isna(value) else float(value)


def headline_figures(store: GovernanceStore, *, window_days: int = 7) -> list[Headline]:
    """Per model, its figures over the last `window_days` days up to its newest prediction."""
    frame = store.query(_HEADLINE_SQL, [window_days])
    return [Headline(
        model=row.model, window_days=window_days, window_end=row.window_end, predictions=int(row.predictions),
        error_rate=_none_if_nan(row.error_rate), latency_p95_ms=_none_if_nan(row.latency_p95_ms),
        accuracy=_none_if_nan(row.accuracy), label_coverage=_none_if_nan(row.label_coverage),
        cost_per_1k_usd=_none_if_nan(row.cost_per_1k_usd), expected_value_usd=_none_if_nan(row.expected_value_usd),
    ) for row in frame.itertuples(index=False)]


def daily_volume(store: GovernanceStore) -> pd.DataFrame:
    """Predictions per day per model and version: at most a few hundred points for a chart."""
    return store.query("""
        SELECT model, version, date_trunc('day', ts) AS day, count(*) AS predictions
        FROM telemetry GROUP BY ALL ORDER BY model, version, day""")
