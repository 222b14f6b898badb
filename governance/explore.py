"""Ad hoc KPI exploration without code: a measure, dimensions, filters and a time grain become one
aggregate query. Every piece of SQL comes from the lists below; user values are bound as parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from governance.errors import InvalidInputError
from governance.kpis import GRAINS, MEASURE_SQL, Window
from governance.store import GovernanceStore

MEASURES = {
    "predictions": MEASURE_SQL["n"],
    "accuracy": MEASURE_SQL["accuracy"],
    "precision": MEASURE_SQL["precision"],
    "recall": MEASURE_SQL["recall"],
    "label_coverage": MEASURE_SQL["label_coverage"],
    "error_rate": MEASURE_SQL["error_rate"],
    "failures": MEASURE_SQL["failures"],
    "latency_p50_ms": "quantile_cont(latency_ms, 0.5) FILTER (WHERE NOT is_error)",
    "latency_p95_ms": "quantile_cont(latency_ms, 0.95) FILTER (WHERE NOT is_error)",
    "latency_p99_ms": "quantile_cont(latency_ms, 0.99) FILTER (WHERE NOT is_error)",
    "mean_score": "avg(score)",
    "approval_rate": "avg(prediction)",
    "cpu_pct": MEASURE_SQL["cpu_pct"],
    "memory_mb": MEASURE_SQL["memory_mb"],
    "cost_per_1k_usd": MEASURE_SQL["cost_per_1k_usd"],
    "cost_usd": "sum(cost_usd)",
    "approved_volume_usd": MEASURE_SQL["approved_volume_usd"],
    "expected_value_usd": MEASURE_SQL["expected_value_usd"],
}
DIMENSIONS = {  # name -> SQL expression over telemetry
    "model": "model", "version": "version", "segment": "segment", "prediction": "prediction",
    "label": "label", "is_error": "is_error", "hour_of_day": "hour(ts)", "weekday": "dayname(ts)",
}
FILTERABLE = ("model", "version", "segment")
MAX_GROUPS = 5_000  # the most rows (and so chart points) one view returns

UNKNOWN_MEASURE = "unknown measure {name!r}: choose one of {choices}"
UNKNOWN_DIMENSION = "unknown dimension {name!r}: choose from {choices}"
UNKNOWN_FILTER = "cannot filter on {name!r}: filters exist for {choices}"
BAD_GRAIN = "time grain must be none or one of {choices}, got {grain!r}"
TOO_MANY_DIMENSIONS = "choose at most 3 dimensions besides time"


@dataclass(frozen=True)
class View:
    measure: str
    dimensions: tuple[str, ...] = ()
    grain: str | None = "day"
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)  # (column, allowed values)

    def validate(self) -> None:
        if self.measure not in MEASURES:
            raise InvalidInputError(UNKNOWN_MEASURE.format(name=self.measure, choices=", ".join(MEASURES)))
        for name in self.dimensions:
            if name not in DIMENSIONS:
                raise InvalidInputError(UNKNOWN_DIMENSION.format(name=name, choices=", ".join(DIMENSIONS)))
        if len(self.dimensions) > 3:
            raise InvalidInputError(TOO_MANY_DIMENSIONS)
        if self.grain is not None and self.grain not in GRAINS:
            raise InvalidInputError(BAD_GRAIN.format(choices=", ".join(GRAINS), grain=self.grain))
        for name, _ in self.filters:
            if name not in FILTERABLE:
                raise InvalidInputError(UNKNOWN_FILTER.format(name=name, choices=", ".join(FILTERABLE)))


@dataclass(frozen=True)
class ExploreResult:
    frame: pd.DataFrame
    truncated: bool


def explore(store: GovernanceStore, *, view: View, window: Window) -> ExploreResult:
    """One aggregate per group of the chosen dimensions (and period), at most MAX_GROUPS rows."""
    view.validate()
    keys = ([f"date_trunc('{view.grain}', ts) AS period"] if view.grain else []) + \
        [f"{DIMENSIONS[d]} AS {d}" for d in view.dimensions]
    params: dict = {"start": window.start, "end": window.end, "cap": MAX_GROUPS + 1}
    where = ["ts >= $start", "ts < $end"]
    for i, (name, values) in enumerate(view.filters):
        if values:
            params[f"f{i}"] = list(values)
            where.append(f"list_contains(${'f' + str(i)}, {name})")
    select = ", ".join(keys + [f"{MEASURES[view.measure]} AS {view.measure}"])
    group = "GROUP BY ALL" if keys else ""
    order = "ORDER BY ALL" if keys else ""
    frame = store.query(f"SELECT {select} FROM telemetry WHERE {' AND '.join(where)} {group} {order} LIMIT $cap",
                        params)
    return ExploreResult(frame.head(MAX_GROUPS), truncated=len(frame) > MAX_GROUPS)
