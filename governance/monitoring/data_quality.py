"""Data quality of a model version's inputs and labels: incoming telemetry, or an uploaded evaluation/telemetry file.

Reference
    "Training ranges" and "training categories" come from the version's stored evaluation set (table
    ``evaluation_row``): data held out from the training data, which stands in for the training data here
    (the training rows themselves are not stored). The expected features and their kinds are read exactly as
    drift reads them (``governance.monitoring.drift``): the keys of the evaluation set's feature JSON; *numeric* when every
    reference value is a JSON number, otherwise *categorical*. A version without a stored evaluation set
    cannot be checked (InvalidInputError).

Checks (each row: check, feature or None, value, threshold {"warn", "fail"}, status, rule in words, detail)
    schema conformity   per expected feature: the share of rows with a recorded input whose record lacks the
                        key, or holds a value of the wrong kind (numeric: not a number, nor a number written
                        as a string; categorical: an object or array). A JSON null is a missing value, not a
                        schema violation. Keys the model does not expect are listed as one row each, status
                        "warn" ("noted, never a failure"): the model ignores them, but something upstream changed.
    missing values      per feature: the share of rows without a value (JSON null, key absent, or no input
                        recorded for the row at all), judged by its excess over the reference's own missing
                        share.
    out of range        per numeric feature: the share of usable values below the reference minimum or above
                        its maximum. With a reference of n rows about 2/(n+1) of new values from the same
                        population fall outside its range by chance alone (0.7% for German credit's 300 rows),
                        hence a warn level of 2%.
    unseen categories   per categorical feature: the share of usable values that are no reference category.
    duplicate rows      telemetry: exact duplicate rows (every column equal, timestamp included: the same
                        prediction logged or ingested twice), as the share of rows that are extra copies.
                        Identical *inputs* are not counted: production traffic repeats inputs (the same applicant
                        scored again), telemetry_input stores each distinct input once by design, and the
                        demo's telemetry replays its evaluation rows. A telemetry file (one with a ``ts``
                        column): exact duplicate rows, as for telemetry. An evaluation file: rows repeating an
                        earlier row in every expected feature column, judged by the excess over the reference's
                        own share of such repeats (10.6% for Adult: identical people exist).
    label coverage      the share of successful predictions whose true outcome has arrived, among those served
                        before the last ``LABEL_DUE_DAYS`` calendar days of the model's telemetry (labels of the
                        most recent days are not yet due; the demo's outcomes lag 3 days, demo.LABEL_LAG_DAYS).
                        The KPI page's label coverage counts every successful prediction; this one leaves out
                        those not yet due, so that a healthy lag does not read as missing labels.
    label delay         the schema keeps no label arrival time, so this is the age, in days, of the newest
                        labelled prediction against the newest prediction (of the window, or of the period):
                        how far the labelled frontier trails the traffic. With labels arriving d days after the
                        prediction it is about d; it is a lower bound of the delay of the labels that arrive
                        last. A file has no arrival times: "not judged".

Status
    ok, warn or fail from the value and the check's two levels (module constants below, stated in every rule);
    "not judged" when fewer than ``MIN_ROWS`` rows carry the check (a share of a few rows says nothing), or
    when there is nothing to judge (labels not yet due, no usable value): then the value is None, never 0.

How it runs
    Telemetry: two aggregate queries in DuckDB (telemetry_sql.QUALITY_ROWS_SQL for rows, duplicates and labels;
    telemetry_sql.quality_counts_sql for the inputs: each distinct input parsed once, coded per feature, joined
    to the rows counted per (period, input)). Only counts per (feature, period, code) reach Python. A file:
    vectorised pandas over the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.errors import InvalidInputError
from governance.monitoring import drift, telemetry_sources
from governance.monitoring.inventory import require_model
from governance.monitoring.kpis import resolve_window
from governance.monitoring.telemetry_sql import (EVALUATION_TOTAL_SQL, EVALUATION_VALUES_SQL, QUALITY_ABSENT,
                                                 QUALITY_EVALUATION_SQL, QUALITY_NEWEST_SQL, QUALITY_NO_INPUT,
                                                 QUALITY_NULL, QUALITY_OK, QUALITY_OUTSIDE, QUALITY_ROWS_SQL,
                                                 QUALITY_WRONG_KIND, quality_counts_sql)
from governance.record.repositories import models
from governance.record.store import GovernanceStore
from governance.vocabulary import QUALITY_CHECKS as CHECKS  # noqa: F401 (data_quality.CHECKS for the pages)
from governance.vocabulary import QUALITY_GRAINS as GRAINS, QUALITY_STATUSES as STATUSES

# --- thresholds: (warn, fail) ---------------------------------------------------------------------------

MIN_ROWS = 100                      # fewer rows behind a check: "not judged"
SCHEMA_WARN, SCHEMA_FAIL = 0.0, 0.01               # share of non-conforming rows: above 0 warn, above 1% fail
MISSING_WARN, MISSING_FAIL = 0.05, 0.20            # excess of the missing share over the reference's
OUT_OF_RANGE_WARN, OUT_OF_RANGE_FAIL = 0.02, 0.10  # share of values outside the reference min..max
UNSEEN_WARN, UNSEEN_FAIL = 0.01, 0.05              # share of values in no reference category
DUPLICATE_WARN, DUPLICATE_FAIL = 0.001, 0.01       # telemetry: share of rows that are exact extra copies
FILE_DUPLICATE_WARN, FILE_DUPLICATE_FAIL = 0.02, 0.10  # file: excess of repeated rows over the reference's
LABEL_COVERAGE_WARN, LABEL_COVERAGE_FAIL = 0.80, 0.50  # labelled share of due predictions: below warn / fail
LABEL_DELAY_WARN_DAYS, LABEL_DELAY_FAIL_DAYS = 7.0, 14.0  # days the labelled frontier trails: above warn/fail
LABEL_DUE_DAYS = 3                  # the last days of telemetry whose labels are not yet due

REFERENCE_NOTE = ("reference: the version's stored evaluation set ({rows:,} rows), held out from the training "
                  "data; its ranges and categories stand for the training data's")

BAD_GRAIN = "grain must be one of {grains}, got {grain!r}"
NO_REFERENCE = ("model {model!r} version {version!r} has no stored evaluation set, so there are no training "
                "ranges or categories to check against: register the version with its evaluation set")
NO_FEATURES = "the evaluation set of {model!r} {version} has no usable features"
NOT_A_FRAME = "the data to check must be a table (a pandas DataFrame), got {kind}"
UNKNOWN_LABEL = "the label column {label!r} is not in the file; its columns: {columns}"

# Columns of telemetry and of evaluation sets that are not features: known in a file, never "unexpected".
KNOWN_COLUMNS = ("ts", "model", "version", "segment", "input_id", "prediction", "score", "label", "latency_ms",
                 "is_error", "cpu_pct", "memory_mb", "cost_usd", "approved_volume_usd", "expected_value_usd",
                 "row_id", "y_true", "y_pred")

TOO_FEW = "not judged: {n:,} rows, fewer than {minimum}"


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


RULES = {
    "schema conformity": (f"share of rows whose input lacks the feature or holds the wrong kind: above "
                          f"{_pct(SCHEMA_WARN)} warn, above {_pct(SCHEMA_FAIL)} fail; not judged on fewer than "
                          f"{MIN_ROWS} rows with inputs"),
    "extra column": "a key the model does not expect: noted (warn), never a failure",
    "missing values": (f"share of rows without a value, against the reference's share r: above r + "
                       f"{_pct(MISSING_WARN)} warn, above r + {_pct(MISSING_FAIL)} fail; not judged on fewer than "
                       f"{MIN_ROWS} rows"),
    "out of range": (f"share of values outside the reference (held-out evaluation set) min..max: above "
                     f"{_pct(OUT_OF_RANGE_WARN)} warn, above {_pct(OUT_OF_RANGE_FAIL)} fail; not judged on fewer "
                     f"than {MIN_ROWS} values"),
    "unseen categories": (f"share of values in no reference (held-out evaluation set) category: above "
                          f"{_pct(UNSEEN_WARN)} warn, above {_pct(UNSEEN_FAIL)} fail; not judged on fewer than "
                          f"{MIN_ROWS} values"),
    "duplicate rows": (f"share of rows that are exact copies of another (every column, timestamp included): "
                       f"above {_pct(DUPLICATE_WARN)} warn, above {_pct(DUPLICATE_FAIL)} fail; identical inputs "
                       f"alone are not duplicates; not judged on fewer than {MIN_ROWS} rows"),
    "duplicate rows (file)": (f"share of rows repeating an earlier row in every feature, against the "
                              f"reference's share r: above r + {_pct(FILE_DUPLICATE_WARN)} warn, above r + "
                              f"{_pct(FILE_DUPLICATE_FAIL)} fail; not judged on fewer than {MIN_ROWS} rows"),
    "label coverage": (f"labelled share of successful predictions served before the last {LABEL_DUE_DAYS} days "
                       f"(whose labels are not yet due): below {_pct(LABEL_COVERAGE_WARN)} warn, below "
                       f"{_pct(LABEL_COVERAGE_FAIL)} fail; not judged on fewer than {MIN_ROWS} due predictions"),
    "label coverage (file)": (f"share of rows with a label: below {_pct(LABEL_COVERAGE_WARN)} warn, below "
                              f"{_pct(LABEL_COVERAGE_FAIL)} fail; not judged on fewer than {MIN_ROWS} rows"),
    "label delay": (f"days between the newest prediction and the newest labelled one (no label arrival time is "
                    f"recorded): above {LABEL_DELAY_WARN_DAYS:g} warn, above {LABEL_DELAY_FAIL_DAYS:g} fail; no "
                    f"label at all among due predictions fails; not judged on fewer than {MIN_ROWS} rows"),
}


def _status(value: float | None, *, warn: float, fail: float, below: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "not judged"
    if below:
        return "fail" if value < fail else "warn" if value < warn else "ok"
    return "fail" if value > fail else "warn" if value > warn else "ok"


def _share(part: float, whole: float) -> float | None:
    return None if whole < MIN_ROWS else float(part) / float(whole)


def _row(check: str, feature: str | None, value, warn, fail, *, n: int, detail: str, below: bool = False,
         rule: str | None = None, status: str | None = None) -> dict:
    value = None if value is None or not math.isfinite(value) else float(value)
    return {"check": check, "feature": feature, "value": value,
            "threshold": None if warn is None else {"warn": float(warn), "fail": float(fail)},
            "status": status or _status(value, warn=warn, fail=fail, below=below),
            "rule": rule or RULES[check], "detail": detail, "n": int(n)}


# --- the reference --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    """A feature the version expects, with its reference (held-out evaluation set) facts."""
    name: str
    kind: str                       # numeric | categorical
    missing_share: float            # the reference's own share of missing values
    minimum: float | None = None    # numeric
    maximum: float | None = None
    categories: tuple = ()          # categorical


@dataclass(frozen=True)
class QualityReference:
    rows: int
    features: tuple[Expected, ...]
    sensitive: tuple[str, ...]      # attributes stored beside the features (known, not features)
    duplicate_share: float          # share of reference rows repeating an earlier row's features
    notes: tuple[str, ...]

    def describe(self) -> str:
        return REFERENCE_NOTE.format(rows=self.rows)


def quality_reference(store: GovernanceStore, *, model: str, version: str) -> QualityReference:
    """The expected features of a version, with their kinds, ranges, categories and missing shares."""
    require_model(store, model=model, version=version)
    params = {"model": model, "version": version}
    total = int(store.analytics.query_value(EVALUATION_TOTAL_SQL, params) or 0)
    if total == 0:
        raise InvalidInputError(NO_REFERENCE.format(model=model, version=version))
    values = store.analytics.query(EVALUATION_VALUES_SQL, params)
    notes: list[str] = []
    # the same features and kinds as drift (its reference reading, without the score)
    found = drift._features_from_reference(total, values, pd.DataFrame({"score": [], "n": []}), notes)
    expected = []
    for f in found:
        if f.name == drift.SCORE_FEATURE:
            continue
        share = f.ref_missing / total
        if f.kind == "numeric":
            expected.append(Expected(f.name, "numeric", share, float(f.values.min()), float(f.values.max())))
        else:
            expected.append(Expected(f.name, "categorical", share, categories=tuple(str(v) for v in f.values)))
    if not expected:
        raise InvalidInputError(NO_FEATURES.format(model=model, version=version))
    distinct, sensitive = store.analytics.query_rows(QUALITY_EVALUATION_SQL, params)[0]
    return QualityReference(total, tuple(expected), tuple(sensitive or ()), 1 - distinct / total, tuple(notes))


# --- telemetry ------------------------------------------------------------------------------------------

def _feature_rows(f: Expected, codes: dict[int, float], *, detail_prefix: str = "") -> list[dict]:
    """The per-feature checks from its row counts per code."""
    n = sum(codes.values())
    with_input = n - codes.get(QUALITY_NO_INPUT, 0)
    absent, wrong = codes.get(QUALITY_ABSENT, 0), codes.get(QUALITY_WRONG_KIND, 0)
    missing = codes.get(QUALITY_NULL, 0) + absent + codes.get(QUALITY_NO_INPUT, 0)
    usable = codes.get(QUALITY_OK, 0) + codes.get(QUALITY_OUTSIDE, 0)
    outside = codes.get(QUALITY_OUTSIDE, 0)
    rows = []

    value = _share(absent + wrong, with_input)
    if with_input < MIN_ROWS:
        detail = TOO_FEW.format(n=int(with_input), minimum=MIN_ROWS) + " with a recorded input"
    elif absent == with_input:
        detail = f"the inputs never carry {f.name!r} (expected {f.kind})"
    else:
        detail = (f"expected {f.kind}; key absent in {int(absent):,} and of the wrong kind in {int(wrong):,} of "
                  f"{int(with_input):,} rows with an input")
    rows.append(_row("schema conformity", f.name, value, SCHEMA_WARN, SCHEMA_FAIL, n=with_input,
                     detail=detail_prefix + detail))

    value = _share(missing, n)
    warn, fail = f.missing_share + MISSING_WARN, f.missing_share + MISSING_FAIL
    no_input = codes.get(QUALITY_NO_INPUT, 0)
    detail = (TOO_FEW.format(n=int(n), minimum=MIN_ROWS) if n < MIN_ROWS else
              f"{int(missing):,} of {int(n):,} rows without a value ({int(no_input):,} with no recorded input); "
              f"reference {_pct(f.missing_share)}")
    rows.append(_row("missing values", f.name, value, warn, fail, n=n, detail=detail_prefix + detail))

    check = "out of range" if f.kind == "numeric" else "unseen categories"
    warn, fail = (OUT_OF_RANGE_WARN, OUT_OF_RANGE_FAIL) if f.kind == "numeric" else (UNSEEN_WARN, UNSEEN_FAIL)
    value = _share(outside, usable)
    if usable < MIN_ROWS:
        detail = TOO_FEW.format(n=int(usable), minimum=MIN_ROWS).replace("rows", "usable values")
    elif f.kind == "numeric":
        detail = f"{int(outside):,} of {int(usable):,} values outside {f.minimum:g}..{f.maximum:g}"
    else:
        detail = f"{int(outside):,} of {int(usable):,} values in none of the {len(f.categories)} reference categories"
    rows.append(_row(check, f.name, value, warn, fail, n=usable, detail=detail_prefix + detail))
    return rows


def _days(delta) -> float | None:
    if delta is None or pd.isna(delta):
        return None
    return pd.Timedelta(delta) / pd.Timedelta(days=1)


def _row_checks(r: dict, *, due_before: pd.Timestamp) -> list[dict]:
    """Duplicates and labels from one set of QUALITY_ROWS_SQL counts (a period, or the whole window)."""
    n, copies = int(r["n"]), int(r["n"] - r["n_distinct"])
    rows = [_row("duplicate rows", None, _share(copies, n), DUPLICATE_WARN, DUPLICATE_FAIL, n=n,
                 detail=TOO_FEW.format(n=n, minimum=MIN_ROWS) if n < MIN_ROWS
                 else f"{copies:,} of {n:,} rows are exact copies of another row")]

    due, labelled = int(r["n_due"]), int(r["n_due_labelled"])
    if r["n_ok"] > 0 and due == 0:
        detail = f"not judged: labels not yet due for any of these predictions (served from {due_before:%Y-%m-%d})"
    elif due < MIN_ROWS:
        detail = TOO_FEW.format(n=due, minimum=MIN_ROWS).replace("rows", "due predictions")
    else:
        detail = (f"{labelled:,} of {due:,} successful predictions served before {due_before:%Y-%m-%d} have a "
                  f"label ({int(r['n_ok']) - due:,} more are not yet due)")
    rows.append(_row("label coverage", None, _share(labelled, due), LABEL_COVERAGE_WARN, LABEL_COVERAGE_FAIL,
                     n=due, detail=detail, below=True))

    newest, newest_labelled = r["newest"], r["newest_labelled"]
    delay, status = _days(None if newest_labelled is None or pd.isna(newest_labelled)
                          else newest - newest_labelled), None
    if n < MIN_ROWS:
        detail = TOO_FEW.format(n=n, minimum=MIN_ROWS)
    elif delay is None and due > 0:
        status = "fail"
        detail = "no successful prediction here has a label, though labels are due for some"
    elif delay is None:
        detail = "not judged: no label yet, and none is due"
    else:
        detail = (f"newest prediction {pd.Timestamp(newest):%Y-%m-%d %H:%M}, newest labelled one "
                  f"{pd.Timestamp(newest_labelled):%Y-%m-%d %H:%M}: the age of the labelled frontier, a lower "
                  f"bound of the delay (no label arrival time is recorded)")
    rows.append(_row("label delay", None, delay if n >= MIN_ROWS else None, LABEL_DELAY_WARN_DAYS,
                     LABEL_DELAY_FAIL_DAYS, n=n, detail=detail, status=status))
    return rows


def _periods(window, grain: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(drift._periods(window, grain))


def _version_report(store: GovernanceStore, *, model: str, version: str, reference: QualityReference, window,
                    grain: str, due_before: pd.Timestamp) -> tuple[list[dict], list[dict]]:
    base = {"model": model, "version": version, "start": window.start, "end": window.end, "grain": grain}
    totals = telemetry_sources.query(store, QUALITY_ROWS_SQL, {**base, "due_before": due_before})
    params = {**base, "paths": [f"$.{f.name}" for f in reference.features]}
    inputs = [(i, f.kind, f.minimum, f.maximum, f.categories) for i, f in enumerate(reference.features)]
    counts = telemetry_sources.query(store, quality_counts_sql(inputs, params), params)
    features = counts[counts["part"] == 0]
    keys = counts[counts["part"] == 1]
    periods = _periods(window, grain)

    # counts per (period, feature) -> {code: rows}, and per feature over the window: a few thousand numbers
    per_period: dict[tuple, dict[int, int]] = {}
    whole: dict[int, dict[int, int]] = {}
    for period, i, code, n in zip(features["period"], features["feature"].astype(int), features["code"].astype(int),
                                  features["n"].astype(int)):
        cell = per_period.setdefault((pd.Timestamp(period), i), {})
        cell[code] = cell.get(code, 0) + n
        total = whole.setdefault(i, {})
        total[code] = total.get(code, 0) + n

    # whole window
    checks: list[dict] = []
    for i, f in enumerate(reference.features):
        checks.extend(_feature_rows(f, whole.get(i, {})))
    expected = {f.name for f in reference.features}
    n_total = int(totals["n"].sum())
    for key, n in sorted(zip(keys["key"], keys["n"])):
        if key not in expected:
            checks.append(_row("schema conformity", key, n / n_total if n_total else None, None, None, n=n_total,
                               status="warn", rule=RULES["extra column"],
                               detail=f"{key!r} is in {int(n):,} inputs' records but the model does not expect it"))
    window_counts = {"n": totals["n"].sum(), "n_distinct": totals["n_distinct"].sum(),
                     "n_due": totals["n_due"].sum(), "n_due_labelled": totals["n_due_labelled"].sum(),
                     "n_ok": totals["n_ok"].sum(),
                     "newest": totals["newest"].max() if n_total else None,
                     "newest_labelled": totals["newest_labelled"].max() if n_total else None}
    checks.extend(_row_checks(window_counts, due_before=due_before))
    for c in checks:
        c["version"] = version

    # per period
    trend: list[dict] = []
    totals_by_period = {pd.Timestamp(r["period"]): r for r in totals.to_dict(orient="records")}
    empty = {"n": 0, "n_distinct": 0, "n_due": 0, "n_due_labelled": 0, "n_ok": 0, "newest": None,
             "newest_labelled": None}
    for period in periods:
        rows: list[dict] = []
        for i, f in enumerate(reference.features):
            rows.extend(_feature_rows(f, per_period.get((period, i), {})))
        rows.extend(_row_checks(totals_by_period.get(period, empty), due_before=due_before))
        for r in rows:
            trend.append({"version": version, "period": period.isoformat(), "check": r["check"],
                          "feature": r["feature"], "value": r["value"], "status": r["status"], "n": r["n"]})
    return checks, trend


def quality_report(store: GovernanceStore, *, model: str, version: str | None = None, grain: str = "week",
                   since: str | None = None, until: str | None = None) -> dict:
    """Data quality of a model's telemetry (one version, or each version) over a window, whole and per period.

    since/until are whole days (until inclusive); open ends take the model's telemetry span. grain: day|week.
    Returns {model, versions, grain, window, reference (per version), label_due_before, thresholds, checks,
    trend, summary, notes}: `checks` one row per (version, check, feature) over the whole window, `trend` one
    row per (version, period, check, feature) with its value and status. See the module docstring.
    """
    if grain not in GRAINS:
        raise InvalidInputError(BAD_GRAIN.format(grain=grain, grains=", ".join(GRAINS)))
    require_model(store, model=model, version=version)
    versions = [version] if version is not None else models.version_names(store, model=model)
    window = resolve_window(store, model=model, since=since, until=until)
    newest = pd.Timestamp(telemetry_sources.query_rows(store, QUALITY_NEWEST_SQL, {"model": model})[0][0])
    due_before = newest.normalize() - pd.Timedelta(days=LABEL_DUE_DAYS - 1)
    checks, trend, references, notes = [], [], {}, []
    for v in versions:
        try:
            reference = quality_reference(store, model=model, version=v)
        except InvalidInputError as exc:
            if version is not None:
                raise
            notes.append(f"{v}: {exc}")
            continue
        references[v] = {"kind": "held-out evaluation set", "rows": reference.rows,
                         "description": reference.describe(),
                         "features": [{"feature": f.name, "kind": f.kind, "minimum": f.minimum, "maximum": f.maximum,
                                       "categories": len(f.categories) or None,
                                       "missing_share": f.missing_share} for f in reference.features]}
        notes.extend(f"{v}: {n}" for n in reference.notes)
        mine, periods = _version_report(store, model=model, version=v, reference=reference, window=window,
                                        grain=grain, due_before=due_before)
        checks.extend(mine)
        trend.extend(periods)
    order = ["version", "check", "feature", "value", "threshold", "status", "rule", "detail", "n"]
    checks = [{k: c[k] for k in order} for c in checks]
    return {"model": model, "versions": list(references), "grain": grain,
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "reference": references, "label_due_before": due_before.isoformat(),
            "thresholds": thresholds(), "checks": checks, "trend": trend, "summary": _summary(checks),
            "notes": notes}


def thresholds() -> dict:
    """Every check's levels and rule, for a page or a report to show."""
    return {
        "min_rows": MIN_ROWS, "label_due_days": LABEL_DUE_DAYS,
        "schema conformity": {"warn": SCHEMA_WARN, "fail": SCHEMA_FAIL, "rule": RULES["schema conformity"]},
        "missing values": {"warn": MISSING_WARN, "fail": MISSING_FAIL, "over_reference": True,
                           "rule": RULES["missing values"]},
        "out of range": {"warn": OUT_OF_RANGE_WARN, "fail": OUT_OF_RANGE_FAIL, "rule": RULES["out of range"]},
        "unseen categories": {"warn": UNSEEN_WARN, "fail": UNSEEN_FAIL, "rule": RULES["unseen categories"]},
        "duplicate rows": {"warn": DUPLICATE_WARN, "fail": DUPLICATE_FAIL, "rule": RULES["duplicate rows"],
                           "file": {"warn": FILE_DUPLICATE_WARN, "fail": FILE_DUPLICATE_FAIL, "over_reference": True,
                                    "rule": RULES["duplicate rows (file)"]}},
        "label coverage": {"warn": LABEL_COVERAGE_WARN, "fail": LABEL_COVERAGE_FAIL, "below": True,
                           "rule": RULES["label coverage"]},
        "label delay": {"warn": LABEL_DELAY_WARN_DAYS, "fail": LABEL_DELAY_FAIL_DAYS, "unit": "days",
                        "rule": RULES["label delay"]},
    }


def _summary(checks: list[dict]) -> dict:
    counts = {s: 0 for s in STATUSES}
    for c in checks:
        counts[c["status"]] += 1
    return counts


# --- a file ---------------------------------------------------------------------------------------------

def _text(column: pd.Series) -> pd.Series:
    """Values as the reference's category text: integral floats without '.0', missing as NA."""
    if pd.api.types.is_float_dtype(column):
        integral = column.dropna()
        if len(integral) and (integral == integral.round()).all():
            column = column.astype("Int64")
    return column.astype("string")


def _blank(column: pd.Series) -> pd.Series:
    """Missing: NA, or empty / whitespace-only text."""
    missing = column.isna()
    if column.dtype == object or pd.api.types.is_string_dtype(column):
        missing |= column.astype("string").str.strip().fillna("").eq("")
    return missing.to_numpy(bool)


def check_file(store: GovernanceStore, *, model: str, version: str, frame: pd.DataFrame,
               label: str | None = None, name: str = "the file") -> dict:
    """The same checks on an uploaded evaluation or telemetry table: one column per feature (plus any others).

    Schema (each expected feature a column, of its kind; other columns noted), missing values, out-of-range
    values, unseen categories, duplicate rows (repeats of an earlier row in every feature column, against the
    reference's own share) and, when `label` names a column, label coverage (share of rows with a label).
    Label delay is not judged: a file has no label arrival times.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(NOT_A_FRAME.format(kind=type(frame).__name__))
    reference = quality_reference(store, model=model, version=version)
    if label is not None and label not in frame.columns:
        raise InvalidInputError(UNKNOWN_LABEL.format(label=label, columns=", ".join(map(str, frame.columns))))
    n = len(frame)
    checks: list[dict] = []
    present_features = []
    for f in reference.features:
        if f.name not in frame.columns:
            codes = {QUALITY_ABSENT: n}
        else:
            column = frame[f.name]
            if isinstance(column, pd.DataFrame):       # the same header twice: take the first
                column = column.iloc[:, 0]
            present_features.append(f.name)
            missing = _blank(column)
            if f.kind == "numeric":
                numbers = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
                wrong = ~missing & ~np.isfinite(numbers)
                usable = ~missing & ~wrong
                with np.errstate(invalid="ignore"):
                    outside = usable & ((numbers < f.minimum) | (numbers > f.maximum))
            else:
                text = _text(column).str.strip()
                wrong = np.zeros(n, dtype=bool)
                usable = ~missing
                outside = usable & ~text.isin(f.categories).fillna(False).to_numpy(bool)
            codes = {QUALITY_NULL: int(missing.sum()), QUALITY_WRONG_KIND: int(wrong.sum()),
                     QUALITY_OUTSIDE: int(outside.sum()), QUALITY_OK: int((usable & ~outside).sum())}
        checks.extend(_feature_rows(f, codes))
    known = ({f.name for f in reference.features} | set(reference.sensitive) | set(KNOWN_COLUMNS)
             | ({label} if label else set()))
    for column in frame.columns:
        if str(column) not in known:
            checks.append(_row("schema conformity", str(column), None, None, None, n=n, status="warn",
                               rule=RULES["extra column"],
                               detail=f"column {str(column)!r} is not a feature the model expects"))

    if "ts" in frame.columns:   # telemetry: one row per prediction served, so a repeat is a row logged twice
        copies = int(frame.duplicated().sum())
        checks.append(_row("duplicate rows", None, _share(copies, n), DUPLICATE_WARN, DUPLICATE_FAIL, n=n,
                           detail=TOO_FEW.format(n=n, minimum=MIN_ROWS) if n < MIN_ROWS
                           else f"{copies:,} of {n:,} rows are exact copies of an earlier row (a telemetry file: "
                                f"it has a ts column)"))
    else:                       # an evaluation set: repeated people, beyond the reference's own repeats
        repeats = int(frame[present_features].duplicated().sum()) if present_features else 0
        share = _share(repeats, n) if present_features else None
        r = reference.duplicate_share
        detail = (TOO_FEW.format(n=n, minimum=MIN_ROWS) if n < MIN_ROWS else
                  "not judged: none of the expected feature columns is in the file" if not present_features else
                  f"{repeats:,} of {n:,} rows repeat an earlier row in every feature column; reference "
                  f"{_pct(r)} (identical people exist)")
        checks.append(_row("duplicate rows", None, share, r + FILE_DUPLICATE_WARN, r + FILE_DUPLICATE_FAIL, n=n,
                           detail=detail, rule=RULES["duplicate rows (file)"]))
    if label is not None:
        labelled = int((~_blank(frame[label])).sum())
        checks.append(_row("label coverage", None, _share(labelled, n), LABEL_COVERAGE_WARN, LABEL_COVERAGE_FAIL,
                           n=n, below=True, rule=RULES["label coverage (file)"],
                           detail=TOO_FEW.format(n=n, minimum=MIN_ROWS) if n < MIN_ROWS
                           else f"{labelled:,} of {n:,} rows have a label in {label!r}"))
    checks.append(_row("label delay", None, None, LABEL_DELAY_WARN_DAYS, LABEL_DELAY_FAIL_DAYS, n=n,
                       status="not judged", detail="not judged: a file records no label arrival times"))
    for c in checks:
        c["version"] = version
    order = ["version", "check", "feature", "value", "threshold", "status", "rule", "detail", "n"]
    checks = [{k: c[k] for k in order} for c in checks]
    return {"model": model, "version": version, "source": name, "rows": n,
            "reference": {"kind": "held-out evaluation set", "rows": reference.rows,
                          "description": reference.describe()},
            "label": label, "thresholds": thresholds(), "checks": checks, "summary": _summary(checks),
            "notes": list(reference.notes)}
