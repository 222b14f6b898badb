"""Service-level objectives: per model, a target per KPI, judged as an error budget with multi-window,
multi-burn-rate rules (Google's SRE workbook, chapter "Alerting on SLOs"); the budget left; breaches.

Each objective is a ratio of bad events to events, allowed a share of bad events (its error budget) over the SLO
period:

    error rate <= t          bad = failed requests among requests                 allowed t
    accuracy >= a            bad = wrong predictions among labelled predictions   allowed 1 - a
    p95 latency <= T ms      bad = successful requests slower than T              allowed 5%  ("95% within T")

The burn rate of a window is its share of bad events divided by the allowed share: 1 spends the budget exactly
over the SLO period. A breach needs a rule's burn over both its long window (sustained) and its short window (still
happening): one chance bad hour is not a breach. Judgments are always made on hourly counts, whatever grain a page
shows, so an hour and a day view list the same episodes.

Objectives are stored append-only (the newest row per model and KPI is in force), so who set which level
when stays on record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from governance.access.identity import User, require
from governance.errors import InvalidInputError
from governance.monitoring import lake_rollup, telemetry_sources
from governance.monitoring.inventory import require_model
from governance.monitoring.kpis import sketch_quantiles
from governance.monitoring.telemetry_sql import LATENCY_HOURLY_SKETCH_SQL, SLO_HOURLY_ROLLUP_SQL, SLO_HOURLY_SQL
from governance.record import clock
from governance.record.repositories import settings
from governance.vocabulary import KPI_LABELS

if TYPE_CHECKING:
    from governance.monitoring.kpis import Window
    from governance.record.store import GovernanceStore


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
# A long window with fewer events (requests, labels, successful requests) than this is not judged: 30 events hold
# too few bad ones for a share to mean anything (one failure in 10 requests is a burn of 10 at a 1% objective).
MIN_SAMPLE = 30

SLO_PERIOD_DAYS = 28      # the error budget's period: four whole weeks, so every period holds the same weekdays
LATENCY_ALLOWED_SLOW = 0.05   # "p95 <= T": at most 5% of successful requests slower than T


@dataclass(frozen=True)
class BurnRule:
    """Breach when the burn rate reaches `burn` over both the last `long_hours` and the last `short_hours`."""
    name: str
    long_hours: int
    short_hours: int
    burn: float

    def describe(self) -> str:
        short = "the same hour" if self.short_hours == self.long_hours else f"the last {self.short_hours} h"
        return f"burn >= {self.burn:g}x over {self.long_hours} h and {short}"


# The workbook's three rules for a 30-day SLO (2% of the budget in 1 h, 5% in 6 h, 10% in 3 days), with the
# short windows hourly counts can express: the workbook's 5 and 30 minutes become the hour itself, its 6 hours
# stay. Over a 28-day period they spend 2.1%, 5.4% and 10.7% of the budget.
BURN_RULES = (
    BurnRule("fast", 1, 1, 14.4),
    BurnRule("medium", 6, 1, 6.0),
    BurnRule("slow", 72, 6, 1.0),
)
LOOK_BACK_HOURS = max(r.long_hours for r in BURN_RULES)
BURN_RULES_TEXT = ("a breach needs the error budget burning at >= 14.4x over 1 h, >= 6x over 6 h and the last "
                   "hour, or >= 1x over 3 days and the last 6 h, the long window beyond chance (one-sided 95%); "
                   "1x spends the budget over 28 days")

BAD_KPI = "no service level can be set on {kpi!r}: choose one of {choices}"
BAD_TARGET = "{label} target must be a number between {low:g} and {high:g}, got {target!r}"
BAD_WARNING = ("the amber level of {label} must lie on the passing side of the target ({side} {target:g}), "
               "got {warning!r}")


@dataclass(frozen=True)
class ErrorBudget:
    """One objective's budget over the SLO period ending at `end`, for one version."""
    version: str
    kpi: str
    start: datetime
    end: datetime
    events: int
    bad: int
    allowed: float      # the share of bad events the objective allows

    @property
    def spent(self) -> float | None:
        """The share of the budget spent (above 1: overspent); None when it cannot be computed."""
        if self.events < MIN_SAMPLE or self.allowed <= 0:
            return None
        return self.bad / (self.allowed * self.events)

    @property
    def remaining(self) -> float | None:
        spent = self.spent
        return None if spent is None else 1.0 - spent

    def as_dict(self) -> dict:
        return {"version": self.version, "kpi": self.kpi, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "events": int(self.events), "bad": int(self.bad),
                "allowed": self.allowed, "spent": self.spent, "remaining": self.remaining}


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

    @property
    def allowed(self) -> float:
        """The share of bad events the objective allows: its error budget as a fraction of events."""
        if self.kpi == "latency_p95_ms":
            return LATENCY_ALLOWED_SLOW
        return 1.0 - self.target if self.definition.higher_is_better else self.target

    @property
    def amber_spent(self) -> float:
        """The share of the budget spent at which the status turns amber: the amber level's distance from perfect
        over the target's (the default amber level, 10% of the way towards perfect, is 90% of the budget)."""
        if self.definition.higher_is_better:
            return (1.0 - self.warning) / (1.0 - self.target) if self.target < 1 else 1.0
        return self.warning / self.target if self.target > 0 else 1.0

    def status(self, *, budget: ErrorBudget | None, breached: bool = False) -> str:
        """green, amber or red from the error budget; 'unknown' when the budget cannot be computed.

        red: a breach is still open at the end of the window, or the period's budget is spent; amber: at least
        amber_spent of it is spent; green otherwise."""
        if breached:
            return "red"
        spent = None if budget is None else budget.spent
        if spent is None:
            return "unknown"
        if spent >= 1.0:
            return "red"
        return "amber" if spent >= self.amber_spent else "green"

    def rule(self) -> str:
        """The objective in words, shown beside every status it decides."""
        better = ">=" if self.definition.higher_is_better else "<="
        budget = (f"{LATENCY_ALLOWED_SLOW:.0%} of successful requests slower than {self._show(self.target)}"
                  if self.kpi == "latency_p95_ms" else f"{self.allowed:.2%} of "
                  + ("labelled predictions wrong" if self.kpi == "accuracy" else "requests failed"))
        return (f"{self.definition.label} {better} {self._show(self.target)}: budget {budget} over "
                f"{SLO_PERIOD_DAYS} days; amber from {self.amber_spent:.0%} of it spent")

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
        settings.add_service_level_objective(tx, model=model, kpi=kpi, target=target, warning=warning,
                                             set_by=actor.recorded_as, set_at=clock.now_naive())


def service_levels(store: GovernanceStore, *, model: str) -> dict[str, ServiceLevel]:
    """The objectives in force for a model, by KPI."""
    return {row.kpi: ServiceLevel(row.model, row.kpi, row.target, row.warning, row.set_by, row.set_at)
            for row in settings.newest_service_level_objectives(store, model=model) if row.active}


# --- the burn-rate judgment: pure arithmetic on hourly counts ------------------------------------------------

@dataclass(frozen=True)
class Episode:
    """Hours [start, end) of a series in breach (indices); detected at the end of hour `detected`."""
    start: int
    end: int
    detected: int
    rule: BurnRule


BEYOND_CHANCE_Z = 1.645   # one-sided 95%


def _wilson_low(bad: float, n: float, *, z: float = BEYOND_CHANCE_Z) -> float:
    """The lower end of the Wilson score interval of bad / n."""
    p = bad / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half


def _prefix(values: list[float]) -> list[float]:
    """Running totals from 0: the sum of values[i:j] is total[j] - total[i] (exact for counts below 2**53)."""
    total = [0.0]
    for value in values:
        total.append(total[-1] + value)
    return total


def _fires(bad_sum: list[float], event_sum: list[float], *, at: int, rule: BurnRule, allowed: float) -> bool:
    """Whether `rule` fires at hour `at`: its long window (inside the series, with MIN_SAMPLE events) burns at its
    rate beyond chance (the lower end of the one-sided 95% Wilson interval of the bad share reaches it) and its
    short window (with at least one event) burns at its rate: sustained, and still happening."""
    low = at + 1 - rule.long_hours
    if low < 0:
        return False
    n_long = event_sum[at + 1] - event_sum[low]
    n_short = event_sum[at + 1] - event_sum[at + 1 - rule.short_hours]
    if n_long < MIN_SAMPLE or n_short < 1:
        return False
    bad_long = bad_sum[at + 1] - bad_sum[low]
    bad_short = bad_sum[at + 1] - bad_sum[at + 1 - rule.short_hours]
    limit = rule.burn * allowed
    return bad_long > 0 and bad_short >= limit * n_short and _wilson_low(bad_long, n_long) >= limit


def burn_episodes(*, bad, events, allowed: float, rules=BURN_RULES) -> list[Episode]:
    """The breach episodes of one objective on a contiguous hourly series of bad events and events.

    - Opening: a breach opens at the first hour at which some rule fires (_fires: the long window burns at the
      rule's rate beyond chance, and the short window at its rate).
    - Start: the breach starts at the first hour of the unbroken run of hours that themselves burned at 1x or
      more and led up to the opening: a long window needs some hours to fill before it fires, and those hours
      were already breached. The opening is when it was detected.
    - Holding: it holds while the opening rule's short window still burns at 1x or more; a short window with
      fewer than MIN_SAMPLE events (a quiet night) is widened hour by hour until it holds them (up to the rule's
      long window; with fewer still it neither holds nor ends the breach).
    - End: the end of the last hour that itself burned at 1x or more (a short window longer than an hour keeps
      a breach open for a while after the service recovered; those hours were not breached).
    - Afterwards a breach's hours leave the windows of later judgments: the budget they spent is on record as
      that breach, and a long window still holding it must not re-open it through one noisy quiet hour.

    Plain Python over lists: the command line's `kpis` imports no numpy.
    """
    bad = [float(x) for x in bad]
    events = [float(x) for x in events]
    own_burning = [n > 0 and b > 0 and b >= allowed * n for b, n in zip(bad, events)]
    size = len(bad)
    bad_sum, event_sum = _prefix(bad), _prefix(events)
    found: list[Episode] = []
    hour = 0
    while hour < size:
        opened = next(((at, rule) for at in range(hour, size) for rule in rules
                       if _fires(bad_sum, event_sum, at=at, rule=rule, allowed=allowed)), None)
        if opened is None:
            break
        first, rule = opened
        start = first
        while start > hour and own_burning[start - 1]:
            start -= 1
        stop = first + 1
        while stop < size and _holds(bad_sum, event_sum, at=stop, rule=rule, allowed=allowed):
            stop += 1
        burning = [k for k in range(start, stop) if own_burning[k]]
        end = burning[-1] + 1 if burning else first + 1
        found.append(Episode(start, end, first, rule))
        for k in range(start, end):   # the breach's hours leave every later window
            bad[k] = events[k] = 0.0
        bad_sum, event_sum = _prefix(bad), _prefix(events)
        hour = max(stop, end)
    return found


def _holds(bad_sum, event_sum, *, at: int, rule: BurnRule, allowed: float) -> bool:
    """Whether a breach opened by `rule` still holds at hour `at`: the rule's short window, widened hour by hour
    (up to its long window) until it holds MIN_SAMPLE events, burns at 1x or more; too few events even then is
    no evidence either way, and the breach holds."""
    for hours in range(rule.short_hours, rule.long_hours + 1):
        if at + 1 - hours < 0:
            break
        n = event_sum[at + 1] - event_sum[at + 1 - hours]
        if n >= MIN_SAMPLE:
            return bad_sum[at + 1] - bad_sum[at + 1 - hours] >= allowed * n
    return True


# --- breaches and budgets of a model's versions ----------------------------------------------------------------

BAD_EVENTS = {   # KPI -> (bad events, events) among an hour's counts (telemetry_sql.SLO_HOURLY_SQL)
    "error_rate": (lambda c: c["failures"], lambda c: c["n"]),
    "accuracy": (lambda c: c["labelled"] - c["correct"], lambda c: c["labelled"]),
    "latency_p95_ms": (lambda c: c["slow"], lambda c: c["n_ok"]),
}
HOURLY_VALUE = {   # KPI -> the hour's own value, for a breach's worst
    "error_rate": lambda c: c["failures"] / c["n"] if c["n"] else None,
    "accuracy": lambda c: c["correct"] / c["labelled"] if c["labelled"] else None,
    "latency_p95_ms": lambda c: c["latency_p95_ms"],
}


def _finite(value: float) -> float | None:
    """None for a figure that cannot be computed (NaN, or infinite against a budget of nothing): JSON has neither."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Breach:
    version: str
    kpi: str
    start: datetime    # the first hour in breach
    end: datetime      # the end of the last hour in breach
    hours: int
    worst: float       # the worst hourly value of the KPI in the breach (NaN when no hour had one)
    target: float
    rule: str          # the burn rule that detected it
    detected_at: datetime
    peak_burn: float   # the highest hourly burn rate in the breach
    budget_spent: float   # bad events in the breach over the SLO period's allowance at the breach's volume

    @property
    def days(self) -> int:
        """The calendar days the breach touches."""
        last = self.end - timedelta(microseconds=1)
        return (last.date() - self.start.date()).days + 1

    def as_dict(self) -> dict:
        return {"version": self.version, "kpi": self.kpi, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "hours": int(self.hours), "days": int(self.days),
                "worst": _finite(self.worst), "target": self.target, "rule": self.rule,
                "detected_at": self.detected_at.isoformat(), "peak_burn": _finite(self.peak_burn),
                "budget_spent": _finite(self.budget_spent)}


@dataclass(frozen=True)
class SloJudgment:
    """A model's objectives judged over a window: the breaches in it and each version's budget at its end."""
    levels: dict[str, ServiceLevel]
    breaches: list[Breach]
    budgets: dict[tuple[str, str], ErrorBudget] = field(default_factory=dict)   # by (version, kpi)

    def open_breach(self, version: str, kpi: str, *, end: datetime) -> bool:
        """Whether a breach of this objective lasts into the last hour before `end`."""
        return any(b.version == version and b.kpi == kpi and b.end >= end - timedelta(hours=1)
                   for b in self.breaches)

    def status(self, version: str, kpi: str, *, end: datetime) -> str:
        level = self.levels[kpi]
        return level.status(budget=self.budgets.get((version, kpi)), breached=self.open_breach(version, kpi, end=end))


def _contiguous(rows: list[dict]) -> list[dict]:
    """One version's hourly rows with the missing hours filled as empty ones, from its first to its last."""
    by_hour = {_plain_time(r["hour"]): r for r in rows}
    first, last = min(by_hour), max(by_hour)
    empty = {"n": 0, "failures": 0, "labelled": 0, "correct": 0, "n_ok": 0, "slow": 0, "latency_p95_ms": None}
    out, hour = [], first
    while hour <= last:
        out.append({**empty, **by_hour.get(hour, {}), "hour": hour})
        hour += timedelta(hours=1)
    return out


def _plain_time(value) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def judge(hourly: list[dict], *, levels: dict[str, ServiceLevel], start: datetime, end: datetime) -> SloJudgment:
    """Breaches overlapping [start, end) and each version's budget over the SLO period ending at `end`.

    hourly: SLO_HOURLY_SQL's rows (version, hour and the counts), reaching LOOK_BACK_HOURS before `start` so that
    the first hours of the window are judged on whole long windows."""
    start, end = _plain_time(start), _plain_time(end)
    period_start = end - timedelta(days=SLO_PERIOD_DAYS)
    found: list[Breach] = []
    budgets: dict[tuple[str, str], ErrorBudget] = {}
    for version in dict.fromkeys(r["version"] for r in hourly):
        rows = _contiguous([r for r in hourly if r["version"] == version])
        hours = [r["hour"] for r in rows]
        for kpi, level in levels.items():
            count_bad, count_events = BAD_EVENTS[kpi]
            bad = [int(count_bad(r) or 0) for r in rows]
            events = [int(count_events(r) or 0) for r in rows]
            in_period = [k for k, h in enumerate(hours) if period_start <= h < end]
            period_events = sum(events[k] for k in in_period)
            budgets[(version, kpi)] = ErrorBudget(version, kpi, max(period_start, hours[0]), end, period_events,
                                                  sum(bad[k] for k in in_period), level.allowed)
            for e in burn_episodes(bad=bad, events=events, allowed=level.allowed):
                if hours[e.start] >= end or hours[e.end - 1] + timedelta(hours=1) <= start:
                    continue
                found.append(_breach(version, level, rows[e.start:e.end], e, hours, bad[e.start:e.end],
                                     events[e.start:e.end], period_events=period_events))
    return SloJudgment(levels, sorted(found, key=lambda b: (b.start, b.version, b.kpi)), budgets)


def _breach(version: str, level: ServiceLevel, rows: list[dict], episode: Episode, hours: list, bad, events,
            *, period_events: float) -> Breach:
    values = [v for v in (HOURLY_VALUE[level.kpi](r) for r in rows) if v is not None]
    worst = (min(values) if level.definition.higher_is_better else max(values)) if values else math.nan
    burns = [(b / (n * level.allowed) if level.allowed > 0 else math.inf if b else 0.0)
             for b, n in zip(bad, events) if n > 0]
    allowance = level.allowed * period_events
    return Breach(version, level.kpi, hours[episode.start], hours[episode.end - 1] + timedelta(hours=1),
                  episode.end - episode.start, float(worst), level.target, episode.rule.describe(),
                  hours[episode.detected] + timedelta(hours=1), max(burns, default=math.nan),
                  sum(bad) / allowance if allowance > 0 else math.inf)


def slo_hourly(store: GovernanceStore, *, model: str, start: datetime, end: datetime, version: str | None,
               levels: dict[str, ServiceLevel]) -> list[dict]:
    """SLO_HOURLY_SQL's rows for [start, end), as plain records (no pandas when the telemetry is in the workspace).

    Over a dataset with rollups (_from_rollups), the same counts from them; each hour's p95, only a breach's worst
    value, is left out (None) for slo_judgment to merge from the sketches of the breaches' hours alone."""
    latency = levels.get("latency_p95_ms")
    target = None if latency is None else float(latency.target)
    params = {"model": model, "version": version, "start": start, "end": end}
    if _from_rollups(store, model=model, start=start, end=end, target=target):
        rows = telemetry_sources.query_records(store, SLO_HOURLY_ROLLUP_SQL, {
            **params, "latency_step": None if target is None else lake_rollup.latency_step(target=target)})
        return [{**r, "latency_p95_ms": None} for r in rows]
    return telemetry_sources.query_records(store, SLO_HOURLY_SQL, {**params, "latency_target_ms": target})


def _from_rollups(store: GovernanceStore, *, model: str, start: datetime, end: datetime, target: float | None) -> bool:
    """Whether a model's hourly counts come from its dataset's rollups: whole hours, and no latency objective or
    one whose target is a step of the latency rollup (so that the slow requests are counted exactly)."""
    return telemetry_sources.reads_rollups(store, model=model) and \
        (target is None or lake_rollup.latency_step(target=target) is not None) and \
        all(_plain_time(t) == _plain_time(t).replace(minute=0, second=0, microsecond=0) for t in (start, end))


def _worst_from_sketches(store: GovernanceStore, *, model: str, breaches: list[Breach]) -> list[Breach]:
    """Latency breaches with their worst hourly p95 merged from the latency sketches of their hours (within
    lake_rollup.LATENCY_ALPHA); other breaches as they are."""
    latency = [b for b in breaches if b.kpi == "latency_p95_ms"]
    if not latency:
        return breaches
    hourly = sketch_quantiles(telemetry_sources.query(store, LATENCY_HOURLY_SKETCH_SQL, {
        "model": model, "version": None, "start": min(b.start for b in latency),
        "end": max(b.end for b in latency)}), keys=["version", "hour"], levels=[0.95])
    p95 = [(v, _plain_time(h), q) for v, h, q in hourly.itertuples(index=False, name=None)]
    return [replace(b, worst=max((q for v, h, q in p95 if v == b.version and b.start <= h < b.end), default=math.nan))
            if b.kpi == "latency_p95_ms" else b for b in breaches]


def slo_judgment(store: GovernanceStore, *, model: str, window: Window, version: str | None = None) -> SloJudgment:
    """The model's objectives judged over `window` (one query over the raw rows, hourly, whatever the grain shown)."""
    levels = service_levels(store, model=model)
    start, end = _plain_time(window.start), _plain_time(window.end)
    if not levels:
        return SloJudgment(levels, [], {})
    reach = min(start - timedelta(hours=LOOK_BACK_HOURS), end - timedelta(days=SLO_PERIOD_DAYS))
    hourly = slo_hourly(store, model=model, start=reach, end=end, version=version, levels=levels)
    judged = judge(hourly, levels=levels, start=start, end=end)
    latency = levels.get("latency_p95_ms")
    if _from_rollups(store, model=model, start=reach, end=end, target=latency and float(latency.target)):
        return replace(judged, breaches=_worst_from_sketches(store, model=model, breaches=judged.breaches))
    return judged


def slo_breaches(store: GovernanceStore, *, model: str, window: Window, version: str | None = None) -> list[Breach]:
    return slo_judgment(store, model=model, window=window, version=version).breaches
