"""Service-level objectives: per model, a target per KPI; a status with the rule that decided it; breaches.

Objectives are stored append-only (the newest row per model and KPI is in force), so who set which level
when stays on record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from governance.errors import InvalidInputError
from governance.identity import User, require
from governance.inventory import require_model
from governance.kpis import Window, kpi_series
from governance.vocabulary import KPI_LABELS

if TYPE_CHECKING:   # breaches judges kpi_records' plain records too: the command line's `kpis` needs no pandas
    import pandas as pd

    from governance.store import GovernanceStore


@dataclass(frozen=True)
class KpiDefinition:
    name: str
    label: str
    higher_is_better: bool
    low: float                      # the range a target may take
    high: float
    min_sample: str                 # the count column that must reach MIN_SAMPLE for a period to be judged
    unit: str


KPIS = {   # labels: the one name per KPI that every page and report uses (vocabulary.KPI_LABELS)
    "accuracy": KpiDefinition("accuracy", KPI_LABELS["accuracy"], True, 0.0, 1.0, "labelled", "ratio"),
    "latency_p95_ms": KpiDefinition("latency_p95_ms", KPI_LABELS["latency_p95_ms"], False, 0.0, 600_000.0, "n", "ms"),
    "error_rate": KpiDefinition("error_rate", KPI_LABELS["error_rate"], False, 0.0, 1.0, "n", "ratio"),
}
MIN_SAMPLE = 30   # fewer requests (or labels) in a period than this: the period is not judged at all

BAD_KPI = "no service level can be set on {kpi!r}: choose one of {choices}"
BAD_TARGET = "{label} target must be a number between {low:g} and {high:g}, got {target!r}"
BAD_WARNING = ("the amber level of {label} must lie on the passing side of the target ({side} {target:g}), "
               "got {warning!r}")


@dataclass(frozen=True)
class ServiceLevel:
    model: str
    kpi: str
    target: float
    warning: float
    set_by: str
    set_at: datetime

    @property
    def definition(self) -> KpiDefinition:
        return KPIS[self.kpi]

    def status(self, value: float | None, *, sample: int | None = None) -> str:
        """green, amber or red; 'unknown' when the value could not be computed.

        For a rate measured on `sample` requests, red needs the whole 95% Wilson interval beyond the target:
        a small hour that misses by chance is amber (at risk), not a breach.
        """
        if value is None or (isinstance(value, float) and math.isnan(value)) or sample == 0:
            return "unknown"
        worse = (lambda x, limit: x < limit) if self.definition.higher_is_better else (lambda x, limit: x > limit)
        if worse(value, self.target):
            if sample is not None and self.definition.unit == "ratio":
                low, high = wilson_interval(value, sample)
                if not worse(high if self.definition.higher_is_better else low, self.target):
                    return "amber"
            return "red"
        return "amber" if worse(value, self.warning) else "green"

    def rule(self) -> str:
        """The rule in words, shown beside every status it decides."""
        better, worse = (">=", "<") if self.definition.higher_is_better else ("<=", ">")
        return (f"{self.definition.label} {better} {self._show(self.target)} (red {worse} "
                f"{self._show(self.target)}; amber {worse} {self._show(self.warning)})")

    def _show(self, value: float) -> str:
        return f"{value:g} ms" if self.definition.unit == "ms" else f"{value:.2%}" if self.kpi == "error_rate" \
            else f"{value:.3f}"


def wilson_interval(rate: float, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion: honest near 0 and 1 and for small n."""
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def default_warning(*, kpi: str, target: float) -> float:
    """Amber starts 10% of the way from the target towards perfect (0 for costs, 1 for accuracy)."""
    return target + 0.1 * (1 - target) if KPIS[kpi].higher_is_better else 0.9 * target


def validate(*, kpi: str, target, warning=None) -> tuple[float, float]:
    if kpi not in KPIS:
        raise InvalidInputError(BAD_KPI.format(kpi=kpi, choices=", ".join(KPIS)))
    d = KPIS[kpi]
    try:
        target = float(target)
    except (TypeError, ValueError):
        raise InvalidInputError(BAD_TARGET.format(label=d.label, low=d.low, high=d.high, target=target)) from None
    if not (d.low <= target <= d.high) or math.isnan(target):
        raise InvalidInputError(BAD_TARGET.format(label=d.label, low=d.low, high=d.high, target=target))
    warning = default_warning(kpi=kpi, target=target) if warning is None else float(warning)
    passing = warning >= target if d.higher_is_better else warning <= target
    if not passing or not (d.low <= warning <= d.high):
        raise InvalidInputError(BAD_WARNING.format(label=d.label, side=">=" if d.higher_is_better else "<=",
                                                   target=target, warning=warning))
    return target, warning


def set_service_level(store: GovernanceStore, *, model: str, kpi: str, target, warning=None, actor: User) -> None:
    """Record a new objective (validated first); the previous one stays in the history."""
    require(actor, "configure monitoring")
    target, warning = validate(kpi=kpi, target=target, warning=warning)
    require_model(store, model=model)
    with store.write() as tx:
        tx.execute("INSERT INTO service_level_objective VALUES (?, ?, ?, ?, ?, now(), true)",
                   [model, kpi, target, warning, actor.recorded_as])


def service_levels(store: GovernanceStore, *, model: str) -> dict[str, ServiceLevel]:
    """The objectives in force for a model, by KPI."""
    rows = store.query_records("""
        SELECT * FROM service_level_objective WHERE model = ?
        QUALIFY row_number() OVER (PARTITION BY kpi ORDER BY set_at DESC, rowid DESC) = 1""", [model])
    return {row["kpi"]: ServiceLevel(row["model"], row["kpi"], row["target"], row["warning"], row["set_by"],
                                     row["set_at"])
            for row in rows if row["active"]}


@dataclass(frozen=True)
class Breach:
    version: str
    kpi: str
    start: datetime   # the periods' own type: a pandas Timestamp from kpi_series, a datetime from kpi_records
    end: datetime
    periods: int
    worst: float
    target: float
    rule: str

    def as_dict(self) -> dict:
        return {"version": self.version, "kpi": self.kpi, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "periods": self.periods, "worst": self.worst, "target": self.target,
                "rule": self.rule}


def breaches(series: pd.DataFrame | list[dict], *, levels: dict[str, ServiceLevel], grain: str) -> list[Breach]:
    """Red periods merged into time windows. Periods with fewer than MIN_SAMPLE requests are not judged.

    series: kpi_series's frame, or kpi_records's records (in the same order: by version, then period)."""
    step = timedelta(hours=1) if grain == "hour" else timedelta(days=1 if grain == "day" else 7)
    records = series.to_dict("records") if hasattr(series, "to_dict") else series
    found: list[Breach] = []
    for version in dict.fromkeys(r["version"] for r in records):
        for kpi, level in levels.items():
            sample_column = level.definition.min_sample
            rows = [r for r in records if r["version"] == version and r[sample_column] is not None
                    and r[sample_column] >= MIN_SAMPLE]
            run: list = []  # consecutive red periods; periods too small to judge do not break a run
            for row in rows:
                if level.status(row[kpi], sample=int(row[sample_column])) == "red":
                    run.append(row)
                elif run:
                    found.append(_breach(version, level, run, step))
                    run = []
            if run:
                found.append(_breach(version, level, run, step))
    return sorted(found, key=lambda b: (b.start, b.version, b.kpi))


def _breach(version: str, level: ServiceLevel, run: list[dict], step: timedelta) -> Breach:
    values = [r[level.kpi] for r in run]
    worst = min(values) if level.definition.higher_is_better else max(values)
    return Breach(version, level.kpi, run[0]["period"], run[-1]["period"] + step, len(run), float(worst),
                  level.target, level.rule())


def slo_breaches(store: GovernanceStore, *, model: str, window: Window, grain: str = "day",
                 version: str | None = None) -> list[Breach]:
    series = kpi_series(store, model=model, window=window, grain=grain, version=version)
    return breaches(series, levels=service_levels(store, model=model), grain=grain)
