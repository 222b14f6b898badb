"""Ad hoc KPI exploration without code: a measure, dimensions, filters and a time grain become one
aggregate query. Every piece of SQL comes from governance.monitoring.telemetry_sql (the lists MEASURES and DIMENSIONS are
its EXPLORE_MEASURES and EXPLORE_DIMENSIONS); user values are bound as parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources
from governance.monitoring.inventory import list_models
from governance.monitoring.kpis import GRAINS, Window
from governance.monitoring.telemetry_sql import (EXPLORE_DIMENSIONS as DIMENSIONS, EXPLORE_MEASURES as MEASURES,
                                                 explore_sql)
from governance.record.store import GovernanceStore

FILTERABLE = ("model", "version", "segment")
MAX_GROUPS = 5_000  # the most rows (and so chart points) one view returns

UNKNOWN_MEASURE = "unknown measure {name!r}: choose one of {choices}"
UNKNOWN_DIMENSION = "unknown dimension {name!r}: choose from {choices}"
MIXED_SOURCES = ("{models} read their telemetry from outside the workspace: explore them with model as a dimension, "
                 "or choose one model in the model filter")
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
    params: dict = {"start": window.start, "end": window.end, "cap": MAX_GROUPS + 1}
    filters = []  # (parameter, column)
    for i, (name, values) in enumerate(view.filters):
        if values:
            params[f"f{i}"] = list(values)
            filters.append((f"f{i}", name))
    sql = explore_sql(measure=view.measure, dimensions=view.dimensions, grain=view.grain, filters=filters)
    frame = _from_sources(store, sql, params, view=view)
    return ExploreResult(frame.head(MAX_GROUPS), truncated=len(frame) > MAX_GROUPS)


def _from_sources(store: GovernanceStore, sql: str, params: dict, *, view: View) -> pd.DataFrame:
    """The view over the workspace's telemetry, and over each chosen model read from elsewhere (a Parquet dataset,
    Spark). Figures such as percentiles do not add up across engines, so models on different sources are shown
    side by side (model as a dimension) or one at a time."""
    chosen = dict(view.filters).get("model")
    models = [m for m in list_models(store)["name"] if not chosen or m in chosen]
    external = [m for m in models if not telemetry_sources.reads_own(store, model=m)]
    if not external:
        return store.analytics.query(sql, params)
    if len(models) > 1 and "model" not in view.dimensions:
        raise InvalidInputError(MIXED_SOURCES.format(models=", ".join(external)))
    frames = []
    if len(external) < len(models):
        frame = store.analytics.query(sql, params)
        frames.append(frame[~frame["model"].isin(external)])
    for model in external:
        frame = telemetry_sources.query(store, sql, {**params, "model": model})
        frames.append(frame[frame["model"] == model] if "model" in frame.columns else frame)
    keys = [c for c in ("period", *view.dimensions) if c in frames[0].columns]
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(keys, ignore_index=True).head(params["cap"]) if keys else frame
