"""Ad hoc KPI exploration without code: a measure, dimensions, filters and a time grain become one
aggregate query. Every piece of SQL comes from governance.telemetry_sql (the lists MEASURES and DIMENSIONS are
its EXPLORE_MEASURES and EXPLORE_DIMENSIONS); user values are bound as parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from governance.errors import InvalidInputError
from governance.kpis import GRAINS, Window
from governance.store import GovernanceStore
from governance.telemetry_sql import EXPLORE_DIMENSIONS as DIMENSIONS, EXPLORE_MEASURES as MEASURES, explore_sql

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
    params: dict = {"start": window.start, "end": window.end, "cap": MAX_GROUPS + 1}
    filters = []  # (parameter, column)
    for i, (name, values) in enumerate(view.filters):
        if values:
            params[f"f{i}"] = list(values)
            filters.append((f"f{i}", name))
    sql = explore_sql(measure=view.measure, dimensions=view.dimensions, grain=view.grain, filters=filters)
    frame = store.query(sql, params)
    return ExploreResult(frame.head(MAX_GROUPS), truncated=len(frame) > MAX_GROUPS)
