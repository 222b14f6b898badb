"""Data drift of a model version: its inputs and its score now, against a reference, per feature and period.

Reference and current
    The reference is either the version's held-out evaluation set (``reference="training"``: table
    ``evaluation_row``, the data the version was validated on) or a period of the version's own telemetry
    (``reference=("2026-07-01", "2026-07-31")``, whole days, end day included; or a ``Window``). The current
    data is the version's telemetry in a half-open ``Window``, cut into periods of a day or a week
    (``date_trunc``: weeks start on Monday), and also taken as a whole.

Features
    The features are the keys of the reference's feature JSON. A feature is *numeric* when every reference
    value is a JSON number, otherwise *categorical* (strings; booleans, mixed or nested values are taken as
    their JSON text). Names must match ``[A-Za-z_][A-Za-z0-9_]*`` (at most 64 characters); keys that do not,
    and keys without a single reference value, are left out and listed in ``DriftReport.notes``. In the
    current data a numeric feature's value that is not a number counts as missing (a number sent as a string,
    "12", counts as 12). The prediction score is analysed as one more numeric feature, ``SCORE_FEATURE``
    ("prediction score"), over the requests that returned one.

Bins of the population stability index (PSI)
    * numeric: the edges are the reference's deciles (the 10%, 20%, ... 90% quantiles by the inverted
      empirical CDF, i.e. ``numpy.quantile(..., method="inverted_cdf")``: the smallest reference value whose
      cumulative share reaches k/10), duplicates removed. Bins are closed on the right and the outer ones are
      open-ended: ``x <= e1``, ``e1 < x <= e2``, ..., ``x > e_last``; so at most 10 bins, fewer when deciles
      coincide (a mostly-zero feature such as capital_gain has 2). Missing values go to a "(missing)" bin,
      which exists only when the reference or the current window has any.
    * categorical: one bin per reference category (most frequent first), a "(missing)" bin when the
      reference has missing values, and an "other/unseen" bin for categories the reference never saw (and
      for missing values when the reference had none).
    * PSI = sum over bins of (c - r) * ln(c / r), with r and c the reference and current shares of the bin;
      an empty bin's share counts as ``EPSILON`` (1e-4) instead of 0. Input features' shares are over all rows
      (a failed request had inputs too); the score's over the scored rows.

Two-sample tests (reported beside the PSI; they never decide the status: at millions of rows they flag
differences far too small to matter)
    * numeric: Kolmogorov-Smirnov. The statistic D is exact, computed from per-value counts: the largest gap
      between the two empirical CDFs over the union of the values, which is what ``scipy.stats.ks_2samp``
      computes on the raw values. The p-value is the asymptotic (Kolmogorov) one at the effective size
      en = n*m/(n+m): ``scipy.special.kolmogorov(sqrt(en) * D)``. (``ks_2samp(method="asymp")`` uses
      ``kstwo.sf(D, round(en))``; the two differ by less than 0.3 / sqrt(en), 0.004 at en = 5,000, but kstwo
      takes up to 7 ms a call, too slow for hundreds of period cells.) Missing values are left out.
    * categorical: chi-square test of homogeneity on the 2 x bins table of counts, bins empty on both sides
      dropped: ``scipy.stats.chi2_contingency`` for the whole window, and the same computation vectorised
      over periods (``chi2_from_counts``, equal to it, Yates' correction at one degree of freedom included).
    Per period, the KS test needs every distinct value of the period, so it is computed for numeric features
    with at most ``VALUE_LIMIT`` distinct values among the model's inputs (all the demo's are) and left out
    (None) for the score and for features with more; their whole-window test is always computed.

Status
    From the PSI and the model's thresholds (``drift_thresholds``; defaults: watch at 0.1, act at 0.25):
    "ok" below watch, "watch" from watch, "act" from act. A period with fewer than ``min_rows(bins)`` rows --
    max(500, 25 per bin) -- is "not judged", since sampling noise alone can push a small sample's PSI past the
    watch level; one without rows is "no data". ``significant`` says whether the test's p < alpha (0.01 by
    default).

Complete periods and the status a user sees
    A period is *complete* when all of it lies inside both the window and the model's telemetry (its first to
    its newest day); a week cut short by either is "partial" and is never judged: a week of one Monday compares
    one weekday's mix with the reference's whole weeks (in the demo, a 1-day week read PSI 0.50 on 4,378 rows).
    The status shown for a feature -- on the page, in reports, by the CLI, and the one alerts and the retraining
    policy act on -- is its status in the *judged period*: the latest complete period in which the version
    served (``judged_period``). Pooling the whole window dilutes drift confined to its last weeks (in the demo,
    hours_per_week read "ok" over 14 weeks while 4 of them were at 'act'), so the whole window's PSI and tests
    are reported beside it, named ``window_...``, and decide nothing.

Labels
    ``label_coverage`` gives, per period, the share of successful requests whose true outcome has arrived;
    a period with fewer than ``MIN_SAMPLE`` (30) labels is flagged ``labels_missing``, and ``label_note``
    then says that accuracy is unknown there and the page shows prediction drift instead.

How it runs
    The heavy lifting is one DuckDB query over the window: telemetry rows are counted per (period, input,
    score); each feature is parsed once per distinct ``telemetry_input`` row (json_transform) and binned
    there (categories, or numeric bins); the two are joined and counted per (period, value or bin) for each
    feature with GROUPING SETS. Only those counts -- tens of thousands of rows for the demo at any size --
    reach numpy, which computes the shares, PSI, CDFs and tests. Reference counts are one small query too.
    Over a dataset that keeps rollups (a lake), the rows per (day, input, score) are read from its daily rollup,
    telemetry_daily_inputs, instead of the rows, whenever the window is whole days (the page's always are): drift's
    periods are whole days or weeks, so the counts, and every figure made from them, are the same. There the features
    are counted in numpy (_feature_counts: a bincount per period and input, then each feature's inputs), as a hash
    aggregate over the rollup's millions of nearly unique (day, input, score) rows took most of a 90-day page's time.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, timedelta
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse, special, stats

from governance.access.identity import User, require
from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources
from governance.monitoring.inventory import require_model
from governance.monitoring.kpis import BAD_DATE, Window, data_window, parse_day, resolve_window
from governance.monitoring.telemetry_sql import (DRIFT_READS, EVALUATION_SCORES_SQL, EVALUATION_TOTAL_SQL,
                                                 EVALUATION_VALUES_SQL, PER_INPUT_DAY_ROLLUP_SQL, current_counts_sql,
                                                 distinct_values_sql, input_codes_sql, json_structure)
from governance.record import clock
from governance.record.repositories import models, settings
from governance.record.store import GovernanceStore

# --- constants ------------------------------------------------------------------------------------------

SCORE_FEATURE = "prediction score"
GRAINS = ("day", "week")
DEFAULT_PSI_WATCH = 0.1
DEFAULT_PSI_ACT = 0.25
DEFAULT_ALPHA = 0.01
EPSILON = 1e-4
DECILES = np.arange(1, 10)        # edges at k/10 for k = 1..9
MIN_ROWS = 500                    # a period's PSI is judged only on at least this many rows ...
ROWS_PER_BIN = 25                 # ... and at least this many per bin (see min_rows)
MIN_SAMPLE = 30                   # fewer labels in a period: accuracy unknown (as for service levels)
VALUE_LIMIT = 1_000               # numeric features with at most this many distinct values: per-period KS
MAX_FEATURES = 60
REFERENCE_DAYS = 30               # a telemetry reference offered by default: the version's first days of serving
STATUSES = ("ok", "watch", "act", "partial", "not judged", "no data")
JUDGED = ("ok", "watch", "act")
MISSING_BIN = "(missing)"
OTHER_BIN = "other/unseen"

_FEATURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_JSON_NUMBER_TYPES = ("BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT", "INTEGER", "UINTEGER", "DOUBLE")

BAD_GRAIN = "grain must be one of {grains}, got {grain!r}"
UNKNOWN_VERSION = "model {model!r} has no version {version!r}: choose one of {versions}"
BAD_REFERENCE = ('reference must be "training" (the version\'s held-out evaluation set) or a period '
                 '(start_date, end_date), got {reference!r}')
BAD_CURRENT = "current must be a Window or a period (start_date, end_date), got {current!r}"
EMPTY_PERIOD = "the {name} period ends ({end}) before it starts ({start}): swap the dates"
EMPTY_REFERENCE = ("the reference of {model!r} {version} holds no rows ({reference}): choose a reference "
                   "period with telemetry, or store the version's evaluation set")
EMPTY_REFERENCE_PERIOD = ("{model!r} {version} served no predictions from {start} to {end}, so that period cannot be "
                          "its reference: {served}")
SERVED_FROM = ("it served from {first} to {last}; choose a reference period within those days, or compare with its "
               "held-out evaluation set")
NEVER_SERVED = "it has served no predictions yet; compare with its held-out evaluation set instead"
SMALL_REFERENCE = ("the reference of {model!r} {version} holds only {n} rows ({reference}); drift needs at "
                   "least {minimum}: choose a longer reference period")
NO_FEATURES = "the reference of {model!r} {version} has no usable features ({reference})"
EMPTY_WINDOW = ("the window {start} to {end} holds no telemetry of {model!r} {version}: "
                "choose days in which this version served predictions")
NOTHING_AFTER_REFERENCE = ("{model!r} has no telemetry after the reference period (which ends {end}): "
                           "choose an earlier reference period or pass the current window")
UNKNOWN_FEATURE = "{model!r} {version} has no feature {feature!r}: choose from {choices}"
NO_FEATURE_CHOSEN = "features must list at least one feature name, from {choices}"
TOO_MANY_FEATURES = ("{model!r} has {n} features, more than the {limit} one report handles: "
                     "choose up to {limit} with features=[...]")
BAD_FEATURE_NAME = "feature key {key!r} left out: not a plain identifier"
NO_REFERENCE_VALUES = "feature {feature!r} left out: the reference has no values for it"
BAD_THRESHOLD = "{name} must be a finite number, got {value!r}"
BAD_THRESHOLD_ORDER = ("drift thresholds need 0 < watch < act, got watch {watch!r} and act {act!r}: "
                       "the act level must be the higher PSI")
BAD_ALPHA = "alpha must be a number between 0 and 1 (exclusive), got {value!r}"
NO_COMPLETE_PERIOD = ("no complete {grain} in this window in which {version} served: no status is judged; choose a "
                      "longer window or the day grain")
LABELS_NONE = ("labels missing: no true outcomes have arrived in this window, so accuracy is unknown; "
               "showing prediction drift")
LABELS_PARTIAL = ("labels missing for {missing} of {total} periods ({periods}): accuracy is unknown there; "
                  "showing prediction drift")


# --- thresholds -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DriftThresholds:
    """The PSI levels that decide a status, and the alpha that marks a test significant.

    set_by and set_at are None when the model has no stored thresholds and the defaults apply.
    """
    model: str
    psi_watch: float = DEFAULT_PSI_WATCH
    psi_act: float = DEFAULT_PSI_ACT
    alpha: float = DEFAULT_ALPHA
    set_by: str | None = None
    set_at: pd.Timestamp | None = None

    @property
    def is_default(self) -> bool:
        return self.set_at is None

    def status(self, psi: float | None, n: int, *, bins: int = 10) -> str:
        """ok, watch or act from the PSI of n rows over `bins` bins; "not judged" when n is too small."""
        if n == 0:
            return "no data"
        if n < min_rows(bins) or psi is None or not math.isfinite(psi):
            return "not judged"
        return "act" if psi >= self.psi_act else "watch" if psi >= self.psi_watch else "ok"

    def rule(self) -> str:
        """The rule in words, to show beside every status it decides."""
        return (f"PSI < {self.psi_watch:g}: ok; {self.psi_watch:g} to {self.psi_act:g}: watch; "
                f">= {self.psi_act:g}: act; not judged on fewer than {MIN_ROWS} rows ({ROWS_PER_BIN} per bin "
                f"for features with more than {MIN_ROWS // ROWS_PER_BIN} bins); "
                f"tests reported as significant at p < {self.alpha:g}")

    def as_dict(self) -> dict:
        return {"model": self.model, "psi_watch": self.psi_watch, "psi_act": self.psi_act, "alpha": self.alpha,
                "set_by": self.set_by, "set_at": None if self.set_at is None else self.set_at.isoformat(),
                "rule": self.rule()}


def min_rows(bins: int) -> int:
    """The fewest rows on which a PSI over `bins` bins is judged.

    Sampling noise alone inflates the PSI of a small sample: with no drift at all, a 10-bin feature's PSI
    stays under about 0.05 at 500 rows 99% of the time but passes the watch level (0.1) now and then at 200;
    a 41-category feature needs about 1,000 rows for the same (simulated on the demo's reference
    distributions). Hence max(500, 25 per bin).
    """
    return max(MIN_ROWS, ROWS_PER_BIN * bins)


def _finite(name: str, value) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(BAD_THRESHOLD.format(name=name, value=value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(BAD_THRESHOLD.format(name=name, value=value)) from None
    if not math.isfinite(number):
        raise InvalidInputError(BAD_THRESHOLD.format(name=name, value=value))
    return number


def validate_thresholds(*, psi_watch, psi_act, alpha=DEFAULT_ALPHA) -> tuple[float, float, float]:
    """Numbers with 0 < watch < act and 0 < alpha < 1, or InvalidInputError saying which rule failed."""
    watch, act = _finite("psi_watch", psi_watch), _finite("psi_act", psi_act)
    if not 0 < watch < act:
        raise InvalidInputError(BAD_THRESHOLD_ORDER.format(watch=psi_watch, act=psi_act))
    try:
        level = _finite("alpha", alpha)
    except InvalidInputError:
        raise InvalidInputError(BAD_ALPHA.format(value=alpha)) from None
    if not 0 < level < 1:
        raise InvalidInputError(BAD_ALPHA.format(value=alpha))
    return watch, act, level


def set_drift_thresholds(store: GovernanceStore, *, model: str, psi_watch, psi_act, alpha=DEFAULT_ALPHA,
                         actor: User) -> DriftThresholds:
    """Record new thresholds for a model (validated first); earlier ones stay in the history."""
    require(actor, "configure monitoring")
    watch, act, level = validate_thresholds(psi_watch=psi_watch, psi_act=psi_act, alpha=alpha)
    require_model(store, model=model)
    with store.write() as tx:
        settings.add_drift_threshold(tx, model=model, psi_watch=watch, psi_act=act, alpha=level,
                                     set_by=actor.recorded_as, set_at=clock.now_naive())
    return drift_thresholds(store, model=model)


def drift_thresholds(store: GovernanceStore, *, model: str) -> DriftThresholds:
    """The thresholds in force for a model: its newest stored row, or the defaults."""
    row = settings.newest_drift_threshold(store, model=model)
    if row is None:
        return DriftThresholds(model)
    return DriftThresholds(model, float(row.psi_watch), float(row.psi_act), float(row.alpha), row.set_by,
                           pd.Timestamp(row.set_at))


def drift_threshold_history(store: GovernanceStore, *, model: str) -> pd.DataFrame:
    """Every thresholds change of a model, newest first: psi_watch, psi_act, alpha, set_by, set_at."""
    return pd.DataFrame([asdict(row) for row in settings.drift_threshold_history(store, model=model)],
                        columns=[f.name for f in fields(settings.DriftThresholdSetting)])


# --- the report -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """What the current data is compared with."""
    kind: str                      # "training" (held-out evaluation set) or "telemetry" (a period)
    rows: int
    window: Window | None = None   # the telemetry period, for kind "telemetry"

    def describe(self) -> str:
        if self.window is None:
            return f"held-out evaluation set, {self.rows:,} rows"
        last = (self.window.end - pd.Timedelta(microseconds=1)).date()
        return f"telemetry {self.window.start.date()} to {last}, {self.rows:,} rows"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "rows": self.rows, "description": self.describe(),
                "start": None if self.window is None else self.window.start.isoformat(),
                "end": None if self.window is None else self.window.end.isoformat()}


@dataclass(frozen=True)
class DriftReport:
    """Drift of one model version against its reference.

    features         one row per feature: feature, kind ("numeric" | "categorical"; the score is "numeric");
                     its status, psi and n_current in the judged period (judged_period: the latest complete
                     period; status "not judged" when there is none); n_reference; and the whole window pooled,
                     for reference only: window_psi, window_n, test ("ks" | "chi2"), window_statistic,
                     window_p_value, window_significant
    periods          one row per feature and period (for a heat map): feature, kind, period, complete, days
                     (how many of its days lie inside the window and the telemetry), n, psi, test, statistic,
                     p_value, significant, status ("ok" | "watch" | "act" | "partial" | "not judged" |
                     "no data"); statistic and p_value are None where the per-period test is not computed (see
                     the module docstring)
    judged_period    the start of the period whose status the features show, or None
    distributions    one row per feature and bin over the whole window (for a detail chart): feature, kind,
                     bin (0-based order), bin_label, reference_count, reference_share, current_count,
                     current_share
    label_coverage   one row per period: period, n, n_scored, n_labelled, label_coverage (labelled share of
                     the successful requests; NaN without any), labels_missing (rows but fewer than MIN_SAMPLE
                     labels: accuracy unknown)
    label_note       None when every period has labels; otherwise the sentence a page shows
                     ("labels missing ...: showing prediction drift")
    """
    model: str
    version: str
    grain: str
    reference: Reference
    current: Window
    thresholds: DriftThresholds
    features: pd.DataFrame
    periods: pd.DataFrame
    distributions: pd.DataFrame
    label_coverage: pd.DataFrame
    label_note: str | None
    notes: tuple[str, ...] = field(default=())
    judged_period: pd.Timestamp | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.features["feature"])

    @property
    def prediction_drift_only(self) -> bool:
        """True when no period with traffic has enough labels to know accuracy: only prediction drift shows."""
        with_data = self.label_coverage[self.label_coverage["n"] > 0]
        return bool(with_data["labels_missing"].all())

    @property
    def judged_period_label(self) -> str:
        """Which period the statuses are of, in words: 'the week of 2026-09-21 (the latest complete week)'."""
        if self.judged_period is None:
            return f"no complete {self.grain} in this window"
        what = "the week of " if self.grain == "week" else ""
        return f"{what}{self.judged_period.date()} (the latest complete {self.grain})"

    @property
    def partial_periods(self) -> pd.DataFrame:
        """The periods cut short by the window or the telemetry's ends, with rows: period, days (inside)."""
        cut = self.periods[~self.periods["complete"].astype(bool)] if len(self.periods) else self.periods
        return cut.groupby("period", as_index=False).agg(days=("days", "first"), n=("n", "max")).query("n > 0") \
            if len(cut) else pd.DataFrame(columns=["period", "days", "n"])

    def feature(self, name: str) -> dict:
        """One feature's row: its status in the judged period, and the whole window's figures beside it."""
        self._require(name)
        return _records(self.features[self.features["feature"] == name])[0]

    def distribution(self, name: str) -> pd.DataFrame:
        """Reference and current share per bin of one feature, for a detail chart."""
        self._require(name)
        return self.distributions[self.distributions["feature"] == name].reset_index(drop=True)

    def heatmap(self, value: str = "psi", *, judged_only: bool = False) -> pd.DataFrame:
        """Feature x period table of one per-period column (psi by default).

        judged_only: blank (NaN) the cells whose status is "partial", "not judged" or "no data", so that the PSI
        of a partial or too-small period is not coloured as drift.
        """
        periods = self.periods
        if judged_only:
            periods = periods.assign(**{value: periods[value].where(periods["status"].isin(JUDGED))})
        return periods.pivot(index="feature", columns="period", values=value).reindex(self.feature_names)

    def _require(self, name: str) -> None:
        if name not in set(self.features["feature"]):
            raise InvalidInputError(UNKNOWN_FEATURE.format(model=self.model, version=self.version, feature=name,
                                                           choices=", ".join(self.feature_names)))

    def as_dict(self) -> dict:
        """JSON-ready: numbers that could not be computed are None, never NaN."""
        return {"model": self.model, "version": self.version, "grain": self.grain,
                "reference": self.reference.as_dict(),
                "current": {"start": self.current.start.isoformat(), "end": self.current.end.isoformat()},
                "thresholds": self.thresholds.as_dict(),
                "features": _records(self.features), "periods": _records(self.periods),
                "distributions": _records(self.distributions), "label_coverage": _records(self.label_coverage),
                "label_note": self.label_note, "notes": list(self.notes),
                "judged_period": None if self.judged_period is None else self.judged_period.isoformat(),
                "judged_period_label": self.judged_period_label}


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                value = value.isoformat()
            elif isinstance(value, (np.floating, float)):
                value = None if not math.isfinite(value) else float(value)
            elif isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, np.bool_):
                value = bool(value)
            elif value is pd.NA or value is pd.NaT:
                value = None
            clean[key] = value
        out.append(clean)
    return out


# --- reference ------------------------------------------------------------------------------------------

@dataclass
class _Feature:
    """One feature (or the score): its kind, its reference counts and its bins."""
    name: str
    kind: str                              # numeric | categorical
    index: int                             # position in the SQL (f{index}); -1 for the score
    ref_total: int
    ref_missing: int
    values: np.ndarray                     # numeric: sorted unique reference values; categorical: categories
    counts: np.ndarray                     # reference count of each value
    edges: np.ndarray | None = None        # numeric bins
    by_value: bool = True                  # numeric: counted per (period, value) in SQL, else per bin


def _parse_day(name: str, value) -> pd.Timestamp:
    day = parse_day(name, value)
    if day is None:  # a period needs both ends
        raise InvalidInputError(BAD_DATE.format(name=name, value=value))
    return day


def _period_window(name: str, period) -> Window | None:
    """A Window as given, or one from (first_day, last_day) whole days; None when it is neither."""
    if isinstance(period, Window):
        window = period
    elif isinstance(period, (tuple, list)) and len(period) == 2:
        start = _parse_day(f"the {name} start", period[0])
        window = Window(start, _parse_day(f"the {name} end", period[1]) + pd.Timedelta(days=1))
    else:
        return None
    if window.end <= window.start:
        raise InvalidInputError(EMPTY_PERIOD.format(name=name, start=window.start, end=window.end))
    return window


def served_days(store: GovernanceStore, *, model: str, version: str) -> tuple[date, date] | None:
    """The first and last day on which a version served predictions, or None when it has served none."""
    reads = DRIFT_READS[telemetry_sources.reads_rollups(store, model=model)]
    first, last = telemetry_sources.query_rows(store, reads["span"], {"model": model, "version": version})[0]
    if first is None or pd.isna(first):
        return None
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def default_reference_period(store: GovernanceStore, *, model: str, version: str) -> tuple[date, date] | None:
    """The telemetry reference to offer for a version: its own first REFERENCE_DAYS days of serving, or the first
    half of the days it has served when that is less, so that later days remain to compare with it (first and last
    day, both included); None when it has served nothing."""
    served = served_days(store, model=model, version=version)
    if served is None:
        return None
    first, last = served
    days = (last - first).days + 1
    return first, first + timedelta(days=min(REFERENCE_DAYS, max(1, days // 2)) - 1)


def _reference_window(reference) -> Window | None:
    if isinstance(reference, str) and reference == "training":
        return None
    window = None if isinstance(reference, str) else _period_window("reference", reference)
    if window is None:
        raise InvalidInputError(BAD_REFERENCE.format(reference=reference))
    return window


def _reference_counts(store: GovernanceStore, *, model: str, version: str, window: Window | None
                      ) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """Rows in the reference, value counts per feature key, and score value counts."""
    if window is None:
        params = {"model": model, "version": version}
        total = store.analytics.query_value(EVALUATION_TOTAL_SQL, params)
        values = store.analytics.query(EVALUATION_VALUES_SQL, params)
        scores = store.analytics.query(EVALUATION_SCORES_SQL, params)
        return int(total or 0), values, scores
    params = {"model": model, "version": version, "start": window.start, "end": window.end}
    reads = DRIFT_READS[_from_rollups(store, model=model, window=window)]
    total = telemetry_sources.query_rows(store, reads["total"], params)[0][0]
    values = telemetry_sources.query(store, reads["values"], params)
    scores = telemetry_sources.query(store, reads["scores"], params)
    return int(total or 0), values, scores


def _from_rollups(store: GovernanceStore, *, model: str, window: Window) -> bool:
    """Whether drift counts a window from the model's daily rollup rather than its rows: its source is a dataset
    that keeps rollups (partitions without one are counted from their rows there), and the window is whole days,
    the rollup's grain. Drift's periods are days or weeks, so its counts are the rollup's, summed: the same."""
    whole_days = window.start == window.start.normalize() and window.end == window.end.normalize()
    return whole_days and telemetry_sources.reads_rollups(store, model=model)


def _decile_edges(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Unique reference deciles by the inverted empirical CDF, from sorted values and their counts."""
    total = int(counts.sum())
    cumulative = np.cumsum(counts)
    needed = -(-DECILES * total // 10)          # ceil(k * n / 10) in integers: no rounding trouble
    return np.unique(values[np.searchsorted(cumulative, needed, side="left")])


def _features_from_reference(total: int, values: pd.DataFrame, scores: pd.DataFrame,
                             notes: list[str]) -> list[_Feature]:
    features: list[_Feature] = []
    by_feature = dict(tuple(values.groupby("feature", sort=False)))
    order = sorted(by_feature, key=lambda name: (by_feature[name]["position"].min(), name))
    for name in order:
        if not _FEATURE_NAME.match(str(name)):
            notes.append(BAD_FEATURE_NAME.format(key=name))
            continue
        rows = by_feature[name]
        present = rows[rows["json_type"] != "NULL"]
        if present.empty:
            notes.append(NO_REFERENCE_VALUES.format(feature=name))
            continue
        missing = total - int(present["n"].sum())
        numeric = bool(present["json_type"].isin(_JSON_NUMBER_TYPES).all())
        if numeric:
            grouped = present["n"].groupby(present["value"].map(float).to_numpy()).sum().sort_index()
            features.append(_Feature(str(name), "numeric", len(features), total, missing,
                                     grouped.index.to_numpy(np.float64), grouped.to_numpy(np.int64)))
        else:
            text = [json.loads(v) if t == "VARCHAR" else v for v, t in zip(present["value"], present["json_type"])]
            grouped = present["n"].groupby(np.asarray(text, dtype=object)).sum().rename_axis("text").reset_index()
            grouped = grouped.sort_values(["n", "text"], ascending=[False, True], kind="stable")
            features.append(_Feature(str(name), "categorical", len(features), total, missing,
                                     grouped["text"].astype(object).to_numpy(), grouped["n"].to_numpy(np.int64)))
    for f in features:
        if f.kind == "numeric":
            f.edges = _decile_edges(f.values, f.counts)
    score_values = scores["score"].to_numpy(np.float64)
    score_counts = scores["n"].to_numpy(np.int64)
    score = _Feature(SCORE_FEATURE, "numeric", -1, int(score_counts.sum()), 0, score_values, score_counts,
                     by_value=False)
    score.edges = _decile_edges(score_values, score_counts) if len(score_values) else np.array([])
    features.append(score)
    return features


# --- current window: one query ----------------------------------------------------------------------------

def _distinct_values(store: GovernanceStore, model: str, inputs: list[_Feature]) -> dict[str, int]:
    """How many distinct values each numeric feature takes among the model's inputs."""
    numeric = [f for f in inputs if f.kind == "numeric"]
    if not numeric:
        return {}
    row = telemetry_sources.query_rows(store, distinct_values_sql([f.index for f in numeric]),
                                       {"model": model, "structure": json_structure(inputs)})[0]
    return {f.name: int(n) for f, n in zip(numeric, row)}


def _current_counts(store: GovernanceStore, *, model: str, version: str, window: Window, grain: str,
                    inputs: list[_Feature], score: _Feature) -> dict[tuple, pd.DataFrame]:
    """The window's counts in one query, as parts of one long table: (part, period, value, n, ...).

    Parts: ("totals",) rows, successful, labelled and scored rows per period; ("f", i) rows per period and
    value (numeric features counted per value) or bin code (categorical: 1.. reference categories, 0 unseen;
    numeric counted per bin: 0..); -1 or NULL is missing; ("w", i) whole-window value counts of a numeric
    feature counted per bin; ("sbin",) scored rows per period and score bin; ("score",) whole-window counts
    of each score value. Returns the rows of each part by its key.

    Feature names (validated by _FEATURE_NAME) reach the SQL only inside the bound json_transform structure;
    the SQL text (telemetry_sql.current_counts_sql) holds positional column names (f0, f1 ...) and parameter
    names, nothing else.
    """
    params: dict = {"model": model, "version": version, "start": window.start, "end": window.end,
                    "grain": grain}
    rollups = _from_rollups(store, model=model, window=window)
    # from rollups the statement counts the totals and the score; the features are counted in numpy
    sql, parts = current_counts_sql([] if rollups else inputs, score.edges, params, rollups=rollups)
    frame = telemetry_sources.query(store, sql, params)
    split = dict(tuple(frame.groupby("part", sort=False)))
    counts = {key: split.get(number, frame.iloc[:0]) for key, number in parts.items()}
    if rollups and inputs:
        periods = _periods(window, grain)
        totals = counts[("totals",)]
        period_rows = np.zeros(len(periods))
        np.add.at(period_rows, periods.get_indexer(totals["period"]), totals["n"].to_numpy(np.float64))
        counts |= _feature_counts(store, params=params, inputs=inputs, periods=periods, period_rows=period_rows)
    return counts


def _feature_counts(store: GovernanceStore, *, params: dict, inputs: list[_Feature], periods: pd.DatetimeIndex,
                    period_rows: np.ndarray) -> dict[tuple, pd.DataFrame]:
    """_current_counts's ("f", i) and ("w", i) parts from a dataset's daily rollup, counted in numpy: rows per
    (period, input) by one bincount, then per (period, value or bin) as the product with each feature's inputs.

    The same sums as the statement's join of rows to inputs and GROUP BY: the rows with no input, or whose input has
    no record, are the rest of the period's rows (period_rows, the totals' n) and count as missing (NULL); an input_id
    recorded twice counts once per record; a (period, value) without rows is left out, as GROUP BY leaves it out.
    """
    rows = telemetry_sources.query(store, PER_INPUT_DAY_ROLLUP_SQL, params)
    codes_params = dict(params)
    codes = telemetry_sources.query(store, input_codes_sql(inputs, codes_params), codes_params)
    codes = codes[codes["input_id"].notna()]
    ids, record_position = np.unique(codes["input_id"].to_numpy(np.int64), return_inverse=True)
    width = len(ids) + 1                            # the last column: rows with no record
    position = pd.Index(ids).get_indexer(rows["input_id"].to_numpy(np.int64))
    period = pd.Index(periods.to_numpy().astype("datetime64[D]").astype(np.int64)).get_indexer(
        rows["period_day"].to_numpy(np.int64))
    assert (period >= 0).all(), "a period outside the window"
    found = position >= 0
    per_input = np.bincount(period[found] * width + position[found], weights=rows["n"].to_numpy(np.float64)[found],
                            minlength=len(periods) * width).reshape(len(periods), width)
    per_input[:, -1] = period_rows - per_input.sum(axis=1)
    by_input = np.ascontiguousarray(per_input.T)    # (input, period), as the sparse products below want it
    positions = np.append(record_position, width - 1)
    counts: dict[tuple, pd.DataFrame] = {}
    for f in inputs:
        values = np.append(codes[f"f{f.index}"].to_numpy(np.float64), np.nan)    # no record: NULL
        grid, column = np.unique(values, return_inverse=True)                      # NaNs as one value, as NULL
        one_hot = sparse.csr_matrix((np.ones(len(values)), (column, positions)), shape=(len(grid), width))
        by_value = one_hot @ by_input                                              # (value, period)
        k, p = np.nonzero(by_value)
        counts[("f", f.index)] = pd.DataFrame({"period": periods[p], "value": grid[k], "n": by_value[k, p]})
        if f"w{f.index}" in codes:      # a feature counted per bin: its whole-window counts per value too
            whole = codes[f"w{f.index}"].to_numpy(np.float64)
            present = ~np.isnan(whole)
            grid, column = np.unique(whole[present], return_inverse=True)
            n = np.bincount(column, weights=by_input.sum(axis=1)[record_position[present]], minlength=len(grid))
            counts[("w", f.index)] = pd.DataFrame({"value": grid[n > 0], "n": n[n > 0]})
    return counts


# --- statistics on counts -----------------------------------------------------------------------------

def psi(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """PSI of current bin counts (one row per period, or one vector) against reference bin counts.

    Shares of empty bins count as EPSILON; a period without rows gets NaN.
    """
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    r = reference / reference.sum()
    totals = current.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = current / totals
    r = np.where(r > 0, r, EPSILON)
    c = np.where(c > 0, c, EPSILON)
    value = ((c - r) * np.log(c / r)).sum(axis=-1)
    return np.where(totals[..., 0] > 0, value, np.nan)


def ks_from_counts(ref_values: np.ndarray, ref_counts: np.ndarray, cur_values: np.ndarray,
                   cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample Kolmogorov-Smirnov from value counts: the statistic D and its asymptotic p-value.

    ref_values and cur_values are sorted and unique; cur_counts is (values,) or (periods, values), aligned
    with cur_values. D is the largest gap between the two empirical CDFs over the union of values (what
    ks_2samp computes on the raw values); the p-value is kolmogorov(sqrt(en) * D) with en = n*m/(n+m).
    Both are arrays with one entry per period (one for a vector); NaN where a side has no values.
    """
    grid = np.union1d(ref_values, cur_values)
    ref_on_grid = np.zeros(len(grid))
    ref_on_grid[np.searchsorted(grid, ref_values)] = ref_counts
    cur_counts = np.atleast_2d(np.asarray(cur_counts, dtype=np.float64))
    cur_on_grid = np.zeros((cur_counts.shape[0], len(grid)))
    cur_on_grid[:, np.searchsorted(grid, cur_values)] = cur_counts
    n_ref = ref_on_grid.sum()
    n_cur = cur_on_grid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = np.cumsum(ref_on_grid) / n_ref - np.cumsum(cur_on_grid, axis=1) / n_cur[:, None]
        d = np.abs(gaps).max(axis=1) if len(grid) else np.full(len(n_cur), np.nan)
        en = n_ref * n_cur / (n_ref + n_cur)
    valid = (n_cur > 0) & (n_ref > 0)
    d = np.where(valid, d, np.nan)
    p = np.where(valid, np.clip(special.kolmogorov(np.sqrt(np.where(valid, en, 0.0)) * d), 0, 1), np.nan)
    return d, p


def chi2_from_counts(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square test of homogeneity of reference vs current bin counts, per row of `current`.

    Equal to scipy.stats.chi2_contingency on the 2 x bins table with the bins empty on both sides dropped
    (including Yates' correction when that leaves one degree of freedom), vectorised over periods.
    """
    reference = np.asarray(reference, dtype=np.float64)
    current = np.atleast_2d(np.asarray(current, dtype=np.float64))
    ref = np.broadcast_to(reference, current.shape)
    used = (ref + current) > 0
    n_ref, n_cur = ref.sum(axis=1), current.sum(axis=1)
    total = n_ref + n_cur
    dof = used.sum(axis=1) - 1
    column = ref + current
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_ref = column * (n_ref / total)[:, None]
        expected_cur = column * (n_cur / total)[:, None]
        observed = np.stack([ref, current])
        expected = np.stack([expected_ref, expected_cur])
        yates = (dof == 1)[None, :, None]
        diff = expected - observed
        adjusted = observed + np.where(yates, np.sign(diff) * np.minimum(0.5, np.abs(diff)), 0.0)
        terms = np.where(used[None], (adjusted - expected) ** 2 / expected, 0.0)
    statistic = terms.sum(axis=(0, 2))
    p = np.ones(len(statistic))
    tested = dof > 0
    p[tested] = stats.chi2.sf(statistic[tested], dof[tested])
    statistic = np.where(tested, statistic, 0.0)
    empty = (n_cur == 0) | (n_ref == 0)
    return np.where(empty, np.nan, statistic), np.where(empty, np.nan, p)


def _chi2_whole(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """The whole-window chi-square, by scipy itself."""
    table = np.vstack([reference, current]).astype(np.float64)
    if table[0].sum() == 0 or table[1].sum() == 0:
        return math.nan, math.nan
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


# --- assembling the report ----------------------------------------------------------------------------

def _numeric_labels(edges: np.ndarray) -> list[str]:
    if len(edges) == 0:
        return ["all values"]
    labels = [f"<= {edges[0]:g}"]
    labels += [f"({low:g}, {high:g}]" for low, high in zip(edges[:-1], edges[1:])]
    return labels + [f"> {edges[-1]:g}"]


@dataclass
class _Result:
    labels: list[str]
    ref_bins: np.ndarray               # (bins,)
    cur_bins: np.ndarray               # (periods, bins)
    period_n: np.ndarray               # (periods,) rows the shares are over
    period_stat: np.ndarray            # (periods,) or NaN where not computed
    period_p: np.ndarray
    test: str
    statistic: float
    p_value: float


def _codes(values: pd.Series) -> np.ndarray:
    """Bin codes as integers, NULL (a row whose input has no record) as -1, missing: casting NaN to an integer is
    undefined, and differs between processors (the smallest integer on x86, 0 -- a real bin -- on ARM)."""
    return np.nan_to_num(values.to_numpy(np.float64), nan=-1).astype(np.int64)


def _numeric_result(f: _Feature, counts_by_part: dict, period_index: pd.Index) -> _Result:
    n_periods = len(period_index)
    is_score = f.index < 0
    rows = counts_by_part[("sbin",) if is_score else ("f", f.index)]
    positions = period_index.get_indexer(rows["period"])
    counts = rows["n"].to_numpy(np.float64)
    n_bins = len(f.edges) + 1
    if f.by_value:
        values = rows["value"].to_numpy(np.float64)
        present = ~np.isnan(values)
        grid = np.unique(values[present])
        cur_values = np.zeros((n_periods, len(grid)))
        np.add.at(cur_values, (positions[present], np.searchsorted(grid, values[present])), counts[present])
        missing = np.bincount(positions[~present], weights=counts[~present], minlength=n_periods)
        bins_of_grid = np.searchsorted(f.edges, grid, side="left")
        cur_bins = np.zeros((n_periods, n_bins))
        for b in range(n_bins):
            cur_bins[:, b] = cur_values[:, bins_of_grid == b].sum(axis=1)
        period_stat, period_p = ks_from_counts(f.values, f.counts, grid, cur_values)
        whole_values, whole_counts = grid, cur_values.sum(axis=0)
    else:
        codes = _codes(rows["value"])
        present = codes >= 0
        cur_bins = np.zeros((n_periods, n_bins))
        np.add.at(cur_bins, (positions[present], codes[present]), counts[present])
        missing = np.bincount(positions[~present], weights=counts[~present], minlength=n_periods)
        period_stat = period_p = np.full(n_periods, np.nan)
        whole = counts_by_part[("score",) if is_score else ("w", f.index)].sort_values("value")
        whole_values = whole["value"].to_numpy(np.float64)
        whole_counts = whole["n"].to_numpy(np.float64)
    ref_bins = np.zeros(n_bins)
    np.add.at(ref_bins, np.searchsorted(f.edges, f.values, side="left"), f.counts)
    labels = _numeric_labels(f.edges)
    if f.ref_missing > 0 or missing.sum() > 0:
        labels.append(MISSING_BIN)
        ref_bins = np.append(ref_bins, f.ref_missing)
        cur_bins = np.column_stack([cur_bins, missing])
    d, p = ks_from_counts(f.values, f.counts, whole_values, whole_counts)
    return _Result(labels, ref_bins, cur_bins, cur_bins.sum(axis=1), period_stat, period_p, "ks",
                   float(d[0]), float(p[0]))


def _categorical_result(f: _Feature, counts_by_part: dict, period_index: pd.Index) -> _Result:
    n_periods = len(period_index)
    rows = counts_by_part[("f", f.index)]
    positions = period_index.get_indexer(rows["period"])
    codes = _codes(rows["value"])
    counts = rows["n"].to_numpy(np.float64)
    labels = [str(v) for v in f.values]
    ref_bins = list(f.counts.astype(np.float64))
    missing_bin = None
    if f.ref_missing > 0:
        missing_bin = len(labels)
        labels.append(MISSING_BIN)
        ref_bins.append(f.ref_missing)
    other_bin = len(labels)
    labels.append(OTHER_BIN)
    ref_bins.append(0.0)
    target = np.where(codes >= 1, codes - 1, other_bin)
    if missing_bin is not None:
        target = np.where(codes == -1, missing_bin, target)
    cur_bins = np.zeros((n_periods, len(labels)))
    np.add.at(cur_bins, (positions, target), counts)
    ref_bins = np.asarray(ref_bins)
    period_stat, period_p = chi2_from_counts(ref_bins, cur_bins)
    statistic, p_value = _chi2_whole(ref_bins, cur_bins.sum(axis=0))
    return _Result(labels, ref_bins, cur_bins, cur_bins.sum(axis=1), period_stat, period_p, "chi2",
                   statistic, p_value)


def _periods(window: Window, grain: str) -> pd.DatetimeIndex:
    first = window.start.normalize()
    last = (window.end - pd.Timedelta(microseconds=1)).normalize()
    if grain == "week":
        first -= pd.Timedelta(days=first.weekday())
        last -= pd.Timedelta(days=last.weekday())
        return pd.date_range(first, last, freq="7D")
    return pd.date_range(first, last, freq="D")


def _completeness(periods: pd.DatetimeIndex, grain: str, covered: Window) -> tuple[np.ndarray, np.ndarray]:
    """Per period: whether all of it lies inside `covered`, and how many of its days do."""
    length = pd.Timedelta(days=7 if grain == "week" else 1)
    starts = pd.Series(periods)
    inside = (starts + length).clip(upper=covered.end) - starts.clip(lower=covered.start)
    days = (inside / pd.Timedelta(days=1)).clip(lower=0).to_numpy(np.float64)
    return ((starts >= covered.start) & (starts + length <= covered.end)).to_numpy(), days


def judged_period(periods: pd.DataFrame) -> pd.Timestamp | None:
    """The period whose statuses count: the latest complete period in which the version served, or None.

    periods are a DriftReport's (or version_drift.drift_periods'). Pages, reports, the CLI, the alerts and the
    retraining policy all judge this one period, so that none of them acts on a partial week or a pooled window."""
    if periods.empty or "complete" not in periods.columns:
        return None
    served = periods[periods["complete"].astype(bool) & (periods["n"] > 0)]
    return None if served.empty else pd.Timestamp(served["period"].max())


def _label_note(coverage: pd.DataFrame, grain: str) -> str | None:
    with_data = coverage[coverage["n"] > 0]
    missing = with_data[with_data["labels_missing"]]
    if missing.empty:
        return None
    if len(missing) == len(with_data):
        return LABELS_NONE
    shown = [p.date().isoformat() for p in missing["period"]]
    listed = ", ".join(shown[:6]) + (f" and {len(shown) - 6} more" if len(shown) > 6 else "")
    what = "days" if grain == "day" else "weeks starting"
    return LABELS_PARTIAL.format(missing=len(missing), total=len(with_data), periods=f"{what} {listed}")


def drift_report(store: GovernanceStore, *, model: str, version: str, reference="training",
                 current: Window | tuple | None = None, grain: str = "day",
                 features: Sequence[str] | None = None) -> DriftReport:
    """Drift of a model version's inputs and score, against its reference, per feature and period.

    reference  "training": the version's held-out evaluation set; or a telemetry period of the same version,
               (start_date, end_date) with the end day included, or a Window.
    current    the window to judge: a Window (half-open) or (start_date, end_date) with the end day included;
               None: the model's whole telemetry span, or, with a telemetry reference, its span after the
               reference period.
    grain      "day" or "week" (weeks start on Monday).
    features   the features to report (names, SCORE_FEATURE for the score); None: all of them.

    Its notes end with what the reads of a lake had to say: partitions read from their rows for want of a rollup,
    files left out for a wrong schema.
    """
    with telemetry_sources.noting() as read:
        report = _drift_report(store, model=model, version=version, reference=reference, current=current,
                               grain=grain, features=features)
    return replace(report, notes=report.notes + tuple(read)) if read else report


def _drift_report(store: GovernanceStore, *, model: str, version: str, reference, current, grain: str,
                  features: Sequence[str] | None) -> DriftReport:
    if grain not in GRAINS:
        raise InvalidInputError(BAD_GRAIN.format(grain=grain, grains=", ".join(GRAINS)))
    require_model(store, model=model)
    versions = models.version_names(store, model=model)
    if version not in versions:
        raise InvalidInputError(UNKNOWN_VERSION.format(model=model, version=version,
                                                       versions=", ".join(versions) or "none"))
    reference_window = _reference_window(reference)
    if current is not None:
        window = _period_window("current", current)
        if window is None:
            raise InvalidInputError(BAD_CURRENT.format(current=current))
        current = window
    total, values, scores = _reference_counts(store, model=model, version=version, window=reference_window)
    ref = Reference("training" if reference_window is None else "telemetry", total, reference_window)
    if total == 0 and reference_window is not None:
        served = served_days(store, model=model, version=version)
        raise InvalidInputError(EMPTY_REFERENCE_PERIOD.format(
            model=model, version=version, start=reference_window.start.date(),
            end=(reference_window.end - pd.Timedelta(microseconds=1)).date(),
            served=NEVER_SERVED if served is None else SERVED_FROM.format(first=served[0], last=served[1])))
    if total == 0:
        raise InvalidInputError(EMPTY_REFERENCE.format(model=model, version=version, reference=ref.describe()))
    if total < MIN_SAMPLE:
        raise InvalidInputError(SMALL_REFERENCE.format(model=model, version=version, n=total,
                                                       reference=ref.describe(), minimum=MIN_SAMPLE))
    if current is None:
        current = resolve_window(store, model=model)
        if reference_window is not None:
            current = Window(max(current.start, reference_window.end), current.end)
        if current.end <= current.start:
            raise InvalidInputError(NOTHING_AFTER_REFERENCE.format(model=model, end=reference_window.end.date()))
    notes: list[str] = []
    found = _features_from_reference(total, values, scores, notes)
    if len(found) == 1 and found[0].name == SCORE_FEATURE and found[0].ref_total == 0:
        raise InvalidInputError(NO_FEATURES.format(model=model, version=version, reference=ref.describe()))
    if features is not None:
        names = [f.name for f in found]
        if isinstance(features, str) or not list(features):
            raise InvalidInputError(NO_FEATURE_CHOSEN.format(choices=", ".join(names)))
        for name in features:
            if name not in names:
                raise InvalidInputError(UNKNOWN_FEATURE.format(model=model, version=version, feature=name,
                                                               choices=", ".join(names)))
        chosen = set(features)
        found = [f for f in found if f.name in chosen or f.name == SCORE_FEATURE]
        keep_score = SCORE_FEATURE in chosen
    else:
        keep_score = True
    inputs, score = found[:-1], found[-1]
    if len(inputs) > MAX_FEATURES:
        raise InvalidInputError(TOO_MANY_FEATURES.format(model=model, n=len(inputs), limit=MAX_FEATURES))
    for position, f in enumerate(inputs):
        f.index = position
    distinct = _distinct_values(store, model, inputs)
    for f in inputs:
        if f.kind == "numeric":
            f.by_value = distinct.get(f.name, 0) <= VALUE_LIMIT

    counts_by_part = _current_counts(store, model=model, version=version, window=current, grain=grain,
                                     inputs=inputs, score=score)
    period_index = pd.Index(_periods(current, grain))
    totals = counts_by_part[("totals",)]
    assert (period_index.get_indexer(totals["period"]) >= 0).all(), "a period outside the window"
    period_totals = np.zeros((len(period_index), 4))
    np.add.at(period_totals, period_index.get_indexer(totals["period"]),
              totals[["n", "n_scored", "n_ok", "n_labelled"]].to_numpy(np.float64))
    if period_totals[:, 0].sum() == 0:
        raise InvalidInputError(EMPTY_WINDOW.format(start=current.start.date(), end=current.end.date(),
                                                    model=model, version=version))
    thresholds = drift_thresholds(store, model=model)
    span = data_window(store, model=model) or current   # a period past either end of the telemetry is partial too
    covered = Window(max(current.start, span.start), min(current.end, span.end))
    complete, days = _completeness(period_index, grain, covered)
    served = np.flatnonzero(complete & (period_totals[:, 0] > 0))
    judged = int(served[-1]) if len(served) else None
    if judged is None:
        notes.append(NO_COMPLETE_PERIOD.format(grain=grain, version=version))

    summary, per_period, distributions = [], [], []
    for f in inputs + ([score] if keep_score else []):
        result = (_categorical_result if f.kind == "categorical" else _numeric_result)(
            f, counts_by_part, period_index)
        period_psi = psi(result.ref_bins, result.cur_bins) if result.ref_bins.sum() > 0 \
            else np.full(len(period_index), np.nan)
        whole_bins = result.cur_bins.sum(axis=0)
        whole_psi = float(psi(result.ref_bins, whole_bins)) if result.ref_bins.sum() > 0 else math.nan
        statuses = []
        for k, period in enumerate(period_index):
            n = int(result.period_n[k])
            p_value = float(result.period_p[k])
            status = thresholds.status(float(period_psi[k]), n, bins=len(result.labels))
            statuses.append("partial" if n > 0 and not complete[k] else status)
            per_period.append({
                "feature": f.name, "kind": f.kind, "period": period, "complete": bool(complete[k]),
                "days": float(days[k]), "n": n, "psi": float(period_psi[k]),
                "test": result.test, "statistic": float(result.period_stat[k]), "p_value": p_value,
                "significant": bool(p_value < thresholds.alpha) if math.isfinite(p_value) else None,
                "status": statuses[-1]})
        summary.append({
            "feature": f.name, "kind": f.kind,
            "status": "not judged" if judged is None else statuses[judged],
            "psi": math.nan if judged is None else float(period_psi[judged]),
            "n_current": 0 if judged is None else int(result.period_n[judged]),
            "n_reference": int(result.ref_bins.sum()),
            "window_psi": whole_psi, "window_n": int(whole_bins.sum()), "test": result.test,
            "window_statistic": result.statistic, "window_p_value": result.p_value,
            "window_significant": bool(result.p_value < thresholds.alpha) if math.isfinite(result.p_value)
            else None})
        ref_total, cur_total = result.ref_bins.sum(), whole_bins.sum()
        for b, label in enumerate(result.labels):
            distributions.append({
                "feature": f.name, "kind": f.kind, "bin": b, "bin_label": label,
                "reference_count": int(result.ref_bins[b]),
                "reference_share": result.ref_bins[b] / ref_total if ref_total else math.nan,
                "current_count": int(whole_bins[b]),
                "current_share": whole_bins[b] / cur_total if cur_total else math.nan})

    n, n_scored, n_ok, n_labelled = period_totals.T
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage_share = np.where(n_ok > 0, n_labelled / n_ok, np.nan)
    coverage = pd.DataFrame({
        "period": period_index, "n": n.astype(np.int64), "n_scored": n_scored.astype(np.int64),
        "n_labelled": n_labelled.astype(np.int64), "label_coverage": coverage_share,
        "labels_missing": (n > 0) & (n_labelled < MIN_SAMPLE)})
    return DriftReport(
        model=model, version=version, grain=grain, reference=ref, current=current, thresholds=thresholds,
        features=pd.DataFrame(summary), periods=pd.DataFrame(per_period),
        distributions=pd.DataFrame(distributions), label_coverage=coverage,
        label_note=_label_note(coverage, grain), notes=tuple(notes),
        judged_period=None if judged is None else pd.Timestamp(period_index[judged]))
