"""Fairness audits: criteria locked before results exist, 95% bootstrap intervals, honest verdicts, kept as evidence.

An audit is defined (source, columns, sensitive features, metrics, criteria, minimum group size, bootstrap
resamples, seed), and the definition is locked before it runs; a changed definition is a new audit. The page
stores the definition first and runs it as a second step; one command (the CLI, the API) stores definition and
results in one write. Either way no audit is left half-made: a run that cannot complete closes the audit with its
reason, and it never runs (a new audit is defined instead).
Running it computes, per group, each metric with a 95% interval, and per criterion the disparity between the
highest and lowest eligible group with its interval and a verdict: pass, fail, or inconclusive when the
interval does not clear the threshold (or does not after Holm's correction across the audit's criteria).
Groups smaller than the minimum are listed as too small and kept out of disparities. Results are stored once,
with an evidence hash over the definition, the data's content hash and the results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.metadata import version as package_version
from itertools import combinations
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from governance.access.identity import User, require
from governance.errors import GovernanceError
from governance.evidence import fairness_metrics as fm
from governance.evidence.fairness_inputs import (MISSING_GROUP, NO_ROWS, NO_SENSITIVE, UNKNOWN_COLUMN, AuditData,
                                                 AuditError, as_text, evaluation_set_data, read_csv_data, sha256_text)
from governance.record import clock, ledger
from governance.record.canonical import canonical_json
from governance.record.repositories import audits, models
from governance.record.store import GovernanceStore
from governance.vocabulary import (FAIRNESS_DEFAULT_BOOTSTRAP as DEFAULT_BOOTSTRAP,
                                   FAIRNESS_DEFAULT_CRITERIA as DEFAULT_CRITERIA,
                                   FAIRNESS_DEFAULT_MIN_GROUP_SIZE as DEFAULT_MIN_GROUP_SIZE,
                                   FAIRNESS_DEFAULT_SEED as DEFAULT_SEED)

# The results' method version: 2 since issue 21 (criteria's intervals simultaneous max-T over the pairwise
# differences, p-values their duals, a group's rates with Wilson intervals); 1 had percentile bootstrap intervals.
SCHEMA_VERSION = 2
# What the method decides, beside the figures themselves: verify compares these only with results of its own method.
METHOD_FIELDS = frozenset({"ci_low", "ci_high", "p_value", "verdict", "reason", "judged_at", "explanation",
                           "verdict_counts", "correction", "schema_version"})
DEFAULT_METRICS = tuple(fm.RATE_METRICS)
FOUR_FIFTHS = ("demographic_parity_ratio", ">=", 0.8)
MIN_BOOTSTRAP, MAX_BOOTSTRAP = 100, 100_000
# Scores are summed as whole nano-units: integer sums do not depend on the order DuckDB's threads add them in,
# so a recomputation reproduces the stored results bit for bit.
SCORE_UNITS = 1_000_000_000
LIBRARIES = ("numpy", "pandas", "duckdb", "fairlearn", "scikit-learn")

ProgressCallback = Callable[[float], None]
log = logging.getLogger(__name__)


# Messages the tests import, so the wording is shared (input checks: fairness_inputs).
BAD_CRITERION = ("cannot read criterion {text!r}: write NAME>=VALUE for a ratio or NAME<=VALUE for a difference, "
                 "e.g. demographic_parity_ratio>=0.8; names: {known}")
RATIO_DIRECTION = ("criterion {name!r} is a ratio (lowest group / highest group, 1 = equal): it must be "
                   "'>=' a value between 0 and 1, e.g. {name}>=0.8")
DIFFERENCE_DIRECTION = ("criterion {name!r} is a difference (highest group - lowest group, 0 = equal): it must be "
                        "'<=' a value between 0 and 1, e.g. {name}<=0.1")
UNKNOWN_METRIC = "unknown metric {name!r}; metrics: {known}"
SCORE_METRIC_NEEDS_SCORE = "metric {name!r} needs a score column (a probability per row)"
BAD_SETTING = "{name} must be a whole number between {low:,} and {high:,}, got {value!r}"
UNKNOWN_AUDIT = "there is no fairness audit {audit_id!r}; run `python -m governance audit list` to see them"
ALREADY_RAN = ("audit {audit_id} has already run and its results are evidence: define a new audit to run again "
               "(a changed definition is a new audit)")
NEEDS_FILE = "audit {audit_id} reads the file {name!r}: give that same file to run it"
FILE_CHANGED = ("the data given to audit {audit_id} (SHA-256 {given}) is not the data it was defined on "
                "({expected}): define a new audit for the new data")
EVALUATION_SET_CHANGED = ("the evaluation set of {model} {version} no longer matches the hash the audit was defined "
                          "on: define a new audit")
COULD_NOT_RUN = ("audit {audit_id} could not run: {reason}. It is closed without results and stays in the history "
                 "as it was locked; to audit this data, define a new audit")
RUN_BROKE = "the computation stopped on an unexpected error ({kind}); the server log has the details"


# --- definition ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    name: str            # e.g. demographic_parity_ratio
    operator: str        # ">=" for ratios, "<=" for differences
    threshold: float

    @property
    def base(self) -> str:
        return self.name.rsplit("_", 1)[0]

    @property
    def kind(self) -> str:
        return self.name.rsplit("_", 1)[1]

    @property
    def text(self) -> str:
        return f"{self.name}{self.operator}{self.threshold:g}"

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.operator == ">=" else value <= self.threshold


_CRITERION = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|=>|=<)\s*([0-9]*\.?[0-9]+)\s*$")
CRITERION_NAMES = tuple(f"{base}_{kind}" for base in fm.CRITERION_BASES for kind in ("ratio", "difference"))


def parse_criteria(text: str | Sequence[str]) -> tuple[Criterion, ...]:
    """"demographic_parity_ratio>=0.8,equalized_odds_difference<=0.1" -> criteria, with errors that say how to fix."""
    parts = [p for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    found = []
    for part in parts:
        match = _CRITERION.match(part)
        if match is None or match.group(1) not in CRITERION_NAMES:
            raise AuditError(BAD_CRITERION.format(text=part.strip(), known=", ".join(CRITERION_NAMES)))
        name, operator, threshold = match.group(1), match.group(2), float(match.group(3))
        operator = {"=>": ">=", "=<": "<="}.get(operator, operator)
        criterion = Criterion(name, operator, threshold)
        if criterion.kind == "ratio" and (operator != ">=" or not 0 < threshold <= 1):
            raise AuditError(RATIO_DIRECTION.format(name=name))
        if criterion.kind == "difference" and (operator != "<=" or not 0 <= threshold <= 1):
            raise AuditError(DIFFERENCE_DIRECTION.format(name=name))
        found.append(criterion)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class AuditDefinition:
    source: dict                 # {"kind": "evaluation_set"|"file", "name", "model", "version", "data_sha256", "rows"}
    y_true: str
    y_pred: str
    score: str | None
    pos_label: str
    sensitive: tuple[str, ...]
    intersectional: bool
    metrics: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = DEFAULT_SEED
    confidence: float = fm.CONFIDENCE

    @property
    def feature_sets(self) -> list[tuple[str, ...]]:
        """Each sensitive feature alone, then (if intersectional) every combination of two or more."""
        sets = [(s,) for s in self.sensitive]
        if self.intersectional:
            sets += [c for size in range(2, len(self.sensitive) + 1) for c in combinations(self.sensitive, size)]
        return sets

    def as_dict(self) -> dict:
        out = asdict(self)
        out["criteria"] = [asdict(c) for c in self.criteria]
        out["sensitive"], out["metrics"] = list(self.sensitive), list(self.metrics)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "AuditDefinition":
        return cls(**{**d, "sensitive": tuple(d["sensitive"]), "metrics": tuple(d["metrics"]),
                      "criteria": tuple(Criterion(**c) for c in d["criteria"])})


# --- defining and running ----------------------------------------------------------------------------------------
def make_definition(*, data: AuditData, sensitive: Sequence[str], criteria: str | Sequence[str] = DEFAULT_CRITERIA,
                    metrics: Sequence[str] | None = None, intersectional: bool = False,
                    min_group_size: int = DEFAULT_MIN_GROUP_SIZE, bootstrap: int = DEFAULT_BOOTSTRAP,
                    seed: int = DEFAULT_SEED) -> AuditDefinition:
    """Check every choice against the data before anything is stored."""
    if data.rows < 1:   # whatever the source: nothing over no rows is ever locked
        raise AuditError(NO_ROWS.format(source=data.name))
    sensitive = tuple(dict.fromkeys(s.strip() for s in sensitive if s.strip()))
    if not sensitive:
        raise AuditError(NO_SENSITIVE)
    for column in sensitive:
        if column not in data.attributes:
            raise AuditError(UNKNOWN_COLUMN.format(column=column, source=data.name, known=", ".join(data.attributes)))
    parsed = parse_criteria(criteria)
    chosen = list(metrics) if metrics else list(DEFAULT_METRICS) + (list(fm.SCORE_METRICS) if data.score else [])
    for name in chosen:
        if name not in fm.ALL_METRICS:
            raise AuditError(UNKNOWN_METRIC.format(name=name, known=", ".join(fm.ALL_METRICS)))
        if name in fm.SCORE_METRICS and not data.score:
            raise AuditError(SCORE_METRIC_NEEDS_SCORE.format(name=name))
    needed = [m for c in parsed for m in fm.CRITERION_BASES[c.base]]  # a criterion's metrics are always reported
    chosen_metrics = tuple(m for m in fm.ALL_METRICS if m in set(chosen) | set(needed))
    for name, value, low, high in (("minimum group size", min_group_size, 1, 1_000_000),
                                   ("bootstrap resamples", bootstrap, MIN_BOOTSTRAP, MAX_BOOTSTRAP),
                                   ("seed", seed, 0, 2**32 - 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise AuditError(BAD_SETTING.format(name=name, low=low, high=high, value=value))
    return AuditDefinition(source=data.source(), y_true=data.y_true, y_pred=data.y_pred, score=data.score,
                           pos_label=data.pos_label, sensitive=sensitive, intersectional=bool(intersectional),
                           metrics=chosen_metrics, criteria=parsed, min_group_size=int(min_group_size),
                           bootstrap=int(bootstrap), seed=int(seed))


def define_audit(store: GovernanceStore, *, definition: AuditDefinition, actor: User) -> str:
    """Store and lock the definition; returns the new audit's id. Results can only come after this."""
    require(actor, "run audit")
    ledger.refresh_anchor(store)   # a new workspace's first record: its empty ledger is anchored first (see ledger)
    with store.write() as tx:
        return _insert_definition(store, tx, definition=definition, defined_by=actor.recorded_as)


def _insert_definition(store: GovernanceStore, tx, *, definition: AuditDefinition, defined_by: str,
                       defined_at: datetime | None = None) -> str:
    text = canonical_json(definition.as_dict())
    audit_id = f"FA-{audits.fairness_audit_count(store) + 1:04d}"
    audits.add_fairness_audit(tx, audit_id=audit_id, model=definition.source["model"],
                              version=definition.source["version"], source_name=definition.source["name"],
                              definition=text, definition_hash=sha256_text(text), defined_by=defined_by,
                              defined_at=defined_at or clock.now_naive_seconds())
    return audit_id


def load_definition(store: GovernanceStore, *, audit_id: str) -> AuditDefinition:
    text = audits.fairness_definition(store, audit_id=audit_id)
    if text is None:
        raise AuditError(UNKNOWN_AUDIT.format(audit_id=audit_id))
    return AuditDefinition.from_dict(json.loads(text))


def run_audit(store: GovernanceStore, *, audit_id: str, actor: User, data: AuditData | None = None,
              progress: ProgressCallback | None = None) -> dict:
    """Run a locked audit once and store its results; returns the audit as `get_audit` shows it.

    An audit is never left half-made: when the run cannot complete for a reason the caller cannot fix (the
    evaluation set changed or is gone, or the computation broke), the audit is closed with that reason and the
    error raised. Only a missing or different file, which the caller can put right, leaves it waiting to run."""
    require(actor, "run audit")
    definition = load_definition(store, audit_id=audit_id)
    _refuse_second_run(store, audit_id=audit_id)
    from_file = definition.source["kind"] == "file"
    if from_file:
        data = _data_for(store, audit_id=audit_id, definition=definition, data=data)
    try:
        if not from_file:
            data = _data_for(store, audit_id=audit_id, definition=definition, data=data)
        results = compute_results(definition=definition, cells=finest_cells(store, data=data, definition=definition),
                                  progress=progress)
    except Exception as exc:   # not BaseException: a stopped page or Ctrl-C is not the audit's failure
        reason = str(exc) if isinstance(exc, GovernanceError) else RUN_BROKE.format(kind=type(exc).__name__)
        _close_failed(store, audit_id=audit_id, failed_by=actor.recorded_as, reason=reason)
        raise
    with store.write() as tx:
        _refuse_second_run(store, audit_id=audit_id)   # another session may have run it meanwhile
        _insert_run(tx, audit_id=audit_id, definition=definition, data=data, results=results,
                    ran_by=actor.recorded_as)
    return get_audit(store, audit_id=audit_id)


def _refuse_second_run(store: GovernanceStore, *, audit_id: str) -> None:
    if audits.fairness_audit_ran(store, audit_id=audit_id):
        raise AuditError(ALREADY_RAN.format(audit_id=audit_id))
    reason = audits.fairness_failure_reason(store, audit_id=audit_id)
    if reason is not None:
        raise AuditError(COULD_NOT_RUN.format(audit_id=audit_id, reason=reason))


def _close_failed(store: GovernanceStore, *, audit_id: str, failed_by: str, reason: str) -> None:
    """Record why a locked audit could not run; the run's own error is what the caller sees, even if this fails."""
    try:
        with store.write() as tx:
            if not audits.fairness_audit_closed(store, audit_id=audit_id):
                audits.add_fairness_failure(tx, audit_id=audit_id, failed_by=failed_by,
                                            failed_at=clock.now_naive_seconds(), reason=reason)
    except Exception:
        log.exception("could not record that fairness audit %s failed to run", audit_id)


def _insert_run(tx, *, audit_id: str, definition: AuditDefinition, data: AuditData, results: dict,
                ran_by: str) -> None:
    evidence_hash = evidence_hash_of(definition=definition, data_sha256=data.data_sha256, results=results)
    audits.add_fairness_run(tx, audit_id=audit_id, ran_by=ran_by, ran_at=clock.now_naive_seconds(),
                            n_rows=results["n"], data_sha256=data.data_sha256, results=canonical_json(results),
                            verdict=results["verdict"], evidence_hash=evidence_hash)


def run_new_audit(store: GovernanceStore, *, data: AuditData, actor: User, progress: ProgressCallback | None = None,
                  **choices) -> dict:
    """Define, lock and run in one command (the CLI, the API). `choices` are make_definition's keywords.

    The definition is fixed, and its time taken, before anything is computed; it is stored together with the
    results in one write, so a run that breaks or is stopped leaves nothing behind, never an audit that did not
    run."""
    require(actor, "run audit")
    definition = make_definition(data=data, **choices)
    defined_at = clock.now_naive_seconds()
    results = compute_results(definition=definition, cells=finest_cells(store, data=data, definition=definition),
                              progress=progress)
    with store.write() as tx:
        audit_id = _insert_definition(store, tx, definition=definition, defined_by=actor.recorded_as,
                                      defined_at=defined_at)
        _insert_run(tx, audit_id=audit_id, definition=definition, data=data, results=results,
                    ran_by=actor.recorded_as)
    return get_audit(store, audit_id=audit_id)


def record_audit_in(store: GovernanceStore, tx, *, data: AuditData, actor: User, **choices) -> str:
    """Define and run inside a write that is already open (the demo build, which lands all or nothing)."""
    require(actor, "run audit")
    definition = make_definition(data=data, **choices)
    audit_id = _insert_definition(store, tx, definition=definition, defined_by=actor.recorded_as)
    results = compute_results(definition=definition, cells=finest_cells(store, data=data, definition=definition))
    _insert_run(tx, audit_id=audit_id, definition=definition, data=data, results=results, ran_by=actor.recorded_as)
    return audit_id


def _data_for(store: GovernanceStore, *, audit_id: str, definition: AuditDefinition, data: AuditData | None) -> AuditData:
    source = definition.source
    if source["kind"] == "evaluation_set":
        found = evaluation_set_data(store, model=source["model"], version=source["version"])
        if found.data_sha256 != source["data_sha256"]:
            raise AuditError(EVALUATION_SET_CHANGED.format(model=source["model"], version=source["version"]))
        return found
    if data is None or data.frame is None:
        raise AuditError(NEEDS_FILE.format(audit_id=audit_id, name=source["name"]))
    if data.data_sha256 != source["data_sha256"]:
        raise AuditError(FILE_CHANGED.format(audit_id=audit_id, given=data.data_sha256[:12],
                                             expected=source["data_sha256"][:12]))
    return data


def evidence_hash_of(*, definition: AuditDefinition, data_sha256: str, results: dict) -> str:
    return sha256_text(canonical_json({"definition": definition.as_dict(), "data_sha256": data_sha256,
                                       "results": results}))


# --- cells -------------------------------------------------------------------------------------------------------
def finest_cells(store: GovernanceStore | None, *, data: AuditData, definition: AuditDefinition) -> fm.Cells:
    """Counts over every combination of the audited features x outcome x prediction x score bin."""
    attributes = list(definition.sensitive)
    bins = fm.SCORE_BINS if definition.score else 1
    if data.kind == "evaluation_set":
        raw = models.evaluation_cells(store, model=data.model, version=data.version, bins=bins,
                                      score_units=SCORE_UNITS)
        parsed = pd.DataFrame([json.loads(s) for s in raw["sensitive"]], index=raw.index).reindex(columns=attributes)
        for a in attributes:
            raw[a] = as_text(parsed[a]).fillna(MISSING_GROUP)
    else:
        frame = data.frame
        raw = frame[attributes + ["y_true", "y_pred"]].copy()
        raw["bin"] = np.minimum(np.floor(frame["score"] * bins), bins - 1).astype(int) if bins > 1 else 0
        raw["n"] = 1
        raw["score_units"] = np.round(frame["score"] * SCORE_UNITS).astype(np.int64) if "score" in frame else 0
    cells = raw.groupby(attributes + ["y_true", "y_pred", "bin"], sort=True)[["n", "score_units"]].sum().reset_index()
    keys = cells[attributes].astype(str).apply(tuple, axis=1)
    groups = tuple(sorted(set(keys)))
    index = {g: i for i, g in enumerate(groups)}
    counts = np.zeros((len(groups), 2, 2, bins), dtype=np.int64)
    score_units = np.zeros(counts.shape, dtype=np.int64)
    position = (keys.map(index).to_numpy(), cells["y_true"].to_numpy(int), cells["y_pred"].to_numpy(int),
                cells["bin"].to_numpy(int))
    np.add.at(counts, position, cells["n"].to_numpy(np.int64))
    np.add.at(score_units, position, cells["score_units"].fillna(0).to_numpy(np.int64))
    return fm.Cells(groups, counts, score_units / SCORE_UNITS if definition.score else None)


def _project(cells: fm.Cells, attributes: Sequence[str], chosen: Sequence[str]) -> tuple[list[tuple], np.ndarray]:
    """Groups of a subset of the features, and the 0/1 matrix that sums finest groups into them."""
    positions = [attributes.index(a) for a in chosen]
    keys = [tuple(g[p] for p in positions) for g in cells.groups]
    groups = sorted(set(keys))
    matrix = np.zeros((len(cells.groups), len(groups)), dtype=np.int64)
    for i, key in enumerate(keys):
        matrix[i, groups.index(key)] = 1
    return groups, matrix


# --- results -----------------------------------------------------------------------------------------------------
def compute_results(*, definition: AuditDefinition, cells: fm.Cells, progress: ProgressCallback | None = None) -> dict:
    """Every figure of the audit from the finest cells; deterministic for a given definition (its seed)."""
    rng = np.random.default_rng(definition.seed)
    draws, draw_scores = fm.bootstrap_counts(cells, draws=definition.bootstrap, rng=rng, progress=progress)
    groups_out, criteria_out, notes = [], [], []
    for chosen in definition.feature_sets:
        groups, matrix = _project(cells, list(definition.sensitive), chosen)
        counts = np.einsum("gxyb,gh->hxyb", cells.counts, matrix)
        boot = np.einsum("dgxyb,gh->dhxyb", draws, matrix)
        scores = None if cells.score_sum is None else np.einsum("gxyb,gh->hxyb", cells.score_sum, matrix)
        boot_scores = None if draw_scores is None else np.einsum("dgxyb,gh->dhxyb", draw_scores, matrix)
        point = fm.group_metrics(counts, scores, definition.metrics)
        spread = fm.group_metrics(boot, boot_scores, definition.metrics)
        sizes = counts.sum(axis=(1, 2, 3))
        eligible = sizes >= definition.min_group_size
        labels = [dict(zip(chosen, g)) for g in groups]
        for i, label in enumerate(labels):
            groups_out.append({
                "sensitive": list(chosen), "group": label, "n": int(sizes[i]), "share": float(sizes[i] / cells.n),
                "status": "ok" if eligible[i] else "too_small",
                "metrics": {name: _metric_value(name, point[name][i], spread[name][:, i], counts=counts[i],
                                                boot=boot[:, i], scores=None if scores is None else scores[i],
                                                boot_scores=None if boot_scores is None else boot_scores[:, i])
                            for name in definition.metrics},
            })
        if len(chosen) == 1 and MISSING_GROUP in [g[0] for g in groups]:
            notes.append(f"{int(sizes[[g[0] for g in groups].index(MISSING_GROUP)]):,} rows have no value for "
                         f"{chosen[0]}: they form their own group '{MISSING_GROUP}', audited, not dropped")
        too_small = [_label(labels[i]) for i in np.flatnonzero(~eligible)]
        if too_small:
            notes.append(f"{', '.join(too_small)}: fewer than {definition.min_group_size} people, too small to assess; "
                         "listed with their figures but left out of every disparity")
        for criterion in definition.criteria:
            criteria_out.append(_criterion(criterion, chosen=chosen, labels=labels, point=point, boot=boot,
                                           eligible=eligible, counts=counts, definition=definition))
    correction = _apply_holm(criteria_out, resamples=definition.bootstrap)
    verdicts = [c["verdict"] for c in criteria_out]
    verdict = "fail" if "fail" in verdicts else "pass" if verdicts and set(verdicts) == {"pass"} else "inconclusive"
    return {
        "schema_version": SCHEMA_VERSION, "n": cells.n, "verdict": verdict,
        "verdict_counts": {v: verdicts.count(v) for v in ("pass", "fail", "inconclusive", "not computable")},
        "groups": groups_out, "criteria": criteria_out, "correction": correction,
        "notes": notes, "environment": environment(),
    }


def environment() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = package_version(name)
        except Exception:  # an optional library that is not installed
            versions[name] = None
    return versions


def _metric_value(name: str, value: float, draws: np.ndarray, *, counts, boot, scores, boot_scores) -> dict:
    """A group's figure with its 95% interval: Wilson's for a rate, simultaneous max-T bounds for the expected
    calibration error (fairness_metrics says why for each), the percentile bootstrap for the calibration gap, a
    plain mean whose percentile interval covers."""
    if not np.isfinite(value):
        return {"value": None, "ci_low": None, "ci_high": None, "reason": fm.undefined_reason(name)}
    if name in fm.RATE_METRICS:
        low, high = fm.wilson_interval(*fm.rate_parts(counts, name))
        return {"value": float(value), "ci_low": float(low), "ci_high": float(high)}
    if name == "expected_calibration_error":
        low, high = fm.calibration_error_interval(counts, scores, boot, boot_scores)
        return {"value": float(value), "ci_low": float(low), "ci_high": float(high)}
    low, high = fm.percentile_interval(draws)
    return {"value": float(value), "ci_low": low, "ci_high": high}


def _label(group: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in group.items())


def _criterion(criterion: Criterion, *, chosen, labels, point, boot, eligible, counts, definition) -> dict:
    out = {"name": criterion.name, "sensitive": list(chosen), "operator": criterion.operator,
           "threshold": criterion.threshold, "value": None, "ci_low": None, "ci_high": None, "difference": None,
           "ratio": None, "metric": None, "highest_group": None, "lowest_group": None, "highest_value": None,
           "lowest_value": None, "left_out": [], "p_value": None, "judged_at": None, "verdict": "not computable",
           "reason": None}
    is_ratio = criterion.kind == "ratio"
    components = []   # (metric, statistic, point disparity, the metric's spread on the criterion's scale, groups)
    for metric in fm.CRITERION_BASES[criterion.base]:
        # A rate rests on its denominator, not the group: a true-positive rate from 5 positives is left out
        # even in a group of 500, by the same minimum that keeps small groups out.
        base = fm.denominators(counts, metric)
        enough = base >= definition.min_group_size
        for i in np.flatnonzero(eligible & ~enough):
            reason = (f"{fm.METRIC_WORDS[metric]} not computable: {fm.undefined_reason(metric)}" if base[i] == 0 else
                      f"only {base[i]} people {fm.DENOMINATOR_WORDS[metric]}: too few to assess its "
                      f"{fm.METRIC_WORDS[metric]}")
            out["left_out"].append({"group": labels[i], "reason": reason})
        index = np.flatnonzero(eligible & enough)
        if len(index) < 2:
            out["reason"] = (f"fewer than two groups with at least {definition.min_group_size} people "
                             f"{fm.DENOMINATOR_WORDS[metric]} to compare {fm.METRIC_WORDS[metric]}s")
            return out
        here = fm.disparity(point[metric][index])
        statistic = float(here.ratio if is_ratio else here.difference)
        if not np.isfinite(statistic):
            out["reason"] = f"every eligible group's {fm.METRIC_WORDS[metric]} is 0, so their ratio is undefined"
            return out
        (x, n), (draw_x, draw_n) = fm.rate_parts(counts[index], metric), fm.rate_parts(boot[:, index], metric)
        components.append((metric, statistic, here, fm.rate_spread(x, n, draw_x, draw_n, kind=criterion.kind), index))
    # Equalized odds has two components; the binding one is the worse (smaller ratio, larger difference). Its
    # interval bounds the worse of the two: simultaneous over the pairs of both rates (fairness_metrics).
    metric, statistic, here, _, index = (min if is_ratio else max)(components, key=lambda c: c[1])
    low, high, p_value = fm.disparity_interval([c[3] for c in components], kind=criterion.kind, point=statistic,
                                               threshold=criterion.threshold, confidence=definition.confidence)
    out.update(value=statistic, ci_low=float(low), ci_high=float(high), difference=float(here.difference),
               ratio=fm.finite_or_none(here.ratio), metric=metric,
               highest_group=labels[index[here.highest]], lowest_group=labels[index[here.lowest]],
               highest_value=float(point[metric][index[here.highest]]),
               lowest_value=float(point[metric][index[here.lowest]]),
               p_value=float(p_value))
    return out


def _apply_holm(criteria: list[dict], *, resamples: int) -> dict:
    judged = [c for c in criteria if c["value"] is not None]
    for c, (rejected, level) in zip(judged, fm.holm_verdicts([c["p_value"] for c in judged])):
        crosses = c["ci_low"] is None or c["ci_low"] <= c["threshold"] <= c["ci_high"]
        c["judged_at"] = level
        if rejected and not crosses:
            c["verdict"] = "pass" if Criterion(c["name"], c["operator"], c["threshold"]).passes(c["value"]) else "fail"
        else:
            c["verdict"] = "inconclusive"
            c["reason"] = ("the interval includes the threshold, so the data cannot tell pass from fail"
                           if crosses else f"the interval clears the threshold, but not at the stricter level Holm's "
                                           f"correction for {len(judged)} tests requires ({level:.4f})")
    for c in criteria:
        c["explanation"] = explain(c)
    # A verdict errs only when its criterion's interval misses the true disparity, so each p-value (the smallest level
    # at which the interval excludes the threshold) is a valid test of it, and Holm's step-down bounds the chance of
    # any wrong pass or fail across the audit at alpha.
    note = (f"Each verdict sets the criterion's simultaneous interval against its threshold (p-value: the smallest "
            f"level at which the interval excludes it); Holm's step-down correction across the audit's "
            f"{len(judged)} tests keeps the chance of any wrong pass or fail at or below 5%."
            if len(judged) > 1 else "One test: no correction needed.")
    if judged and resamples and 1 / (resamples + 1) > fm.ALPHA / len(judged):
        needed = int(np.ceil(len(judged) / fm.ALPHA)) - 1
        note += (f" With {len(judged)} tests the strictest level is {fm.ALPHA / len(judged):.4f}, finer than "
                 f"{resamples:,} resamples can resolve: use at least {needed:,} resamples for conclusive verdicts.")
    return {"method": "Holm", "tests": len(judged), "alpha": fm.ALPHA, "note": note}


def explain(c: dict) -> str:
    """One plain-language sentence per criterion, built from its numbers."""
    rule = f"{c['name'].replace('_', ' ')} {'≥' if c['operator'] == '>=' else '≤'} {c['threshold']:g}"
    if (c["name"], c["operator"], c["threshold"]) == FOUR_FIFTHS:
        rule = "the four-fifths rule (demographic-parity ratio ≥ 0.8)"
    if c["value"] is None:
        return f"Not computable for {' × '.join(c['sensitive'])}: {c['reason']}."
    words = fm.METRIC_WORDS[c["metric"]]
    low, high = _label(c["lowest_group"]), _label(c["highest_group"])
    if c["name"].endswith("_ratio"):
        finding = (f"The {words} for {low} ({c['lowest_value']:.3f}) is {c['value']:.2f} of that for {high} "
                   f"({c['highest_value']:.3f}), 95% CI {c['ci_low']:.2f}–{c['ci_high']:.2f}")
    else:
        finding = (f"The {words} for {low} ({c['lowest_value']:.3f}) is {c['value']:.3f} lower than for {high} "
                   f"({c['highest_value']:.3f}), 95% CI {c['ci_low']:.3f}–{c['ci_high']:.3f}")
    outcome = {"pass": f"passes {rule}", "fail": f"fails {rule}",
               "inconclusive": f"inconclusive on {rule}: {c['reason']}"}[c["verdict"]]
    return f"{finding} — {outcome}."


# --- reading back ------------------------------------------------------------------------------------------------
def list_audits(store: GovernanceStore, *, model: str | None = None, version: str | None = None) -> pd.DataFrame:
    """Every audit, newest first, with its verdict (or 'not run yet', or 'could not run' when it was closed)."""
    frame = audits.fairness_audit_table(store, model=model, version=version)
    definitions = frame["definition"].map(json.loads)
    frame["sensitive"] = definitions.map(lambda d: " × ".join(d["sensitive"]) + (" (+ intersections)"
                                                                               if d["intersectional"] else ""))
    frame["criteria"] = definitions.map(lambda d: ", ".join(Criterion(**c).text for c in d["criteria"]))
    counts = frame["results"].map(lambda r: json.loads(r)["verdict_counts"] if isinstance(r, str) else {})
    for v in ("pass", "fail", "inconclusive"):
        frame[v] = counts.map(lambda c: c.get(v))
    return frame.drop(columns=["definition", "results"])


def get_audit(store: GovernanceStore, *, audit_id: str) -> dict:
    """The audit as stored: the JSON the CLI prints (documented in the README)."""
    found = audits.fairness_audit(store, audit_id=audit_id)
    if found is None:
        raise AuditError(UNKNOWN_AUDIT.format(audit_id=audit_id))
    status = "completed" if found.results else "failed" if found.reason is not None else "defined"
    out = {"audit_id": audit_id, "status": status, "evidence_hash": found.evidence_hash,
           "definition": json.loads(found.definition), "definition_hash": found.definition_hash,
           "defined_by": found.defined_by, "defined_at": found.defined_at.isoformat() + "Z", "ran_by": found.ran_by,
           "ran_at": found.ran_at.isoformat() + "Z" if found.ran_at else None, "data_sha256": found.data_sha256,
           "n": found.n_rows, "verdict": found.verdict}
    if found.reason is not None:
        out["failure"] = {"reason": found.reason, "failed_by": found.failed_by,
                          "failed_at": found.failed_at.isoformat() + "Z"}
    if found.results:
        out.update({k: v for k, v in json.loads(found.results).items() if k not in ("n", "verdict")})
    return out


def verify_audit(store: GovernanceStore, *, audit_id: str, file: bytes | None = None,
                 file_name: str | None = None) -> dict:
    """Recheck an audit: recompute every figure that can be recomputed, and say what could not be and why.

    Always: the definition hash and the evidence hash, over what is stored. An evaluation-set audit: the set's
    content hash over its stored rows, and the results recomputed from those rows. A file audit: the workspace
    keeps only the file's SHA-256, so with `file` (the audited CSV's bytes) its hash is checked and the results
    are recomputed from it, and without it the result says that the data and results were not recomputed. Each
    failed check carries `detail`, what differs."""
    audit = get_audit(store, audit_id=audit_id)
    if audit["status"] != "completed":
        return {"audit_id": audit_id, "ok": False, "recomputed": False, "not_recomputed": [],
                "checks": [{"check": "has run", "ok": False, "detail": VERIFY_NOT_RUN.format(status=audit["status"])}]}
    definition = AuditDefinition.from_dict(audit["definition"])
    stored = json.loads(audits.fairness_results(store, audit_id=audit_id))
    checks = [_check("definition hash", sha256_text(canonical_json(audit["definition"])), audit["definition_hash"]),
              _check("evidence hash", evidence_hash_of(definition=definition, data_sha256=audit["data_sha256"],
                                                       results=stored), audit["evidence_hash"])]
    not_recomputed: list[dict] = []
    method = stored.get("schema_version", 1)
    if method != SCHEMA_VERSION:   # an earlier Quorum's audit: its figures recompute, its intervals are of their time
        not_recomputed.append({"what": "the intervals, p-values and verdicts",
                               "why": VERIFY_EARLIER_METHOD.format(recorded=method, current=SCHEMA_VERSION)})
    source = definition.source
    if source["kind"] == "evaluation_set":
        now = models.evaluation_content_sha256(store, model=source["model"], version=source["version"])
        checks.append(_check("evaluation set content hash", now, audit["data_sha256"]))
        data = evaluation_set_data(store, model=source["model"], version=source["version"])
        checks.append(_recomputed("results recomputed from the data", definition=definition, data=data, store=store,
                                  stored=stored, audit=audit))
    elif file is None:
        not_recomputed.append({"what": "the file's content hash and the results",
                               "why": VERIFY_NEEDS_FILE.format(name=source["name"])})
    else:
        given = hashlib.sha256(file).hexdigest()
        checks.append(_check("file content hash", given, audit["data_sha256"]))
        try:
            data = read_csv_data(content=file, name=file_name or source["name"], y_true=definition.y_true,
                                 y_pred=definition.y_pred, sensitive=list(definition.sensitive),
                                 score=definition.score, pos_label=definition.pos_label)
        except AuditError as exc:
            checks.append({"check": "results recomputed from the file", "ok": False, "detail": str(exc)})
        else:
            checks.append(_recomputed("results recomputed from the file", definition=definition, data=data,
                                      store=store, stored=stored, audit=audit))
    return {"audit_id": audit_id, "ok": all(c["ok"] for c in checks), "recomputed": not not_recomputed,
            "not_recomputed": not_recomputed, "checks": checks}


VERIFY_EARLIER_METHOD = ("they were made by the audit method of version {recorded} (percentile bootstrap intervals) "
                         "and this Quorum computes version {current} (simultaneous intervals); the groups' figures "
                         "and the disparities were recomputed and compared. Run a new audit of the same data for "
                         "intervals and verdicts of the current method")
VERIFY_NOT_RUN = "the audit is {status}, not completed: there are no results to verify"
VERIFY_NEEDS_FILE = ("the audited file {name!r} is not kept in the workspace, only its SHA-256: give the same file "
                     "(audit verify ID --file FILE.csv) to rehash it and recompute the results")
MAX_DIFFERENCES = 8


def _check(name: str, recomputed: str, recorded: str) -> dict:
    ok = recomputed == recorded
    return {"check": name, "ok": ok,
            "detail": None if ok else f"recorded {recorded}, recomputed {recomputed}"}


def _recomputed(name: str, *, definition: AuditDefinition, data: AuditData, store: GovernanceStore, stored: dict,
                audit: dict) -> dict:
    """Recompute the results from `data` and compare them, and the run's own row count and verdict, with the record."""
    again = compute_results(definition=definition, cells=finest_cells(store, data=data, definition=definition))
    same_method = stored.get("schema_version", 1) == again["schema_version"]
    kept = (lambda value: value) if same_method else _without_method_fields
    differences = _differences(kept(json.loads(canonical_json({**stored, "environment": None}))),
                               kept(json.loads(canonical_json({**again, "environment": None}))))
    if audit["n"] != again["n"]:
        differences.append(f"the run's row count: recorded {audit['n']}, recomputed {again['n']}")
    if same_method and audit["verdict"] != again["verdict"]:
        differences.append(f"the run's verdict: recorded {audit['verdict']}, recomputed {again['verdict']}")
    if differences and stored.get("environment") != again.get("environment"):
        differences.append(f"recorded with {stored.get('environment')}, recomputed with {again.get('environment')}")
    shown = differences[:MAX_DIFFERENCES] + ([f"and {len(differences) - MAX_DIFFERENCES} more"]
                                             if len(differences) > MAX_DIFFERENCES else [])
    return {"check": name, "ok": not differences, "detail": "; ".join(shown) or None}


def _without_method_fields(value):
    """A results JSON value without what the method decides (METHOD_FIELDS), at every depth."""
    if isinstance(value, dict):
        return {k: _without_method_fields(v) for k, v in value.items() if k not in METHOD_FIELDS}
    if isinstance(value, list):
        return [_without_method_fields(v) for v in value]
    return value


def _differences(recorded, recomputed, path: str = "results") -> list[str]:
    """Where two JSON values differ, as 'path: recorded X, recomputed Y' (lists by position, dicts by key)."""
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        return [d for key in sorted(set(recorded) | set(recomputed))
                for d in _differences(recorded.get(key), recomputed.get(key), f"{path}.{key}")]
    if isinstance(recorded, list) and isinstance(recomputed, list) and len(recorded) == len(recomputed):
        return [d for i, (a, b) in enumerate(zip(recorded, recomputed)) for d in _differences(a, b, f"{path}[{i}]")]
    return [] if recorded == recomputed else [f"{path}: recorded {json.dumps(recorded)}, recomputed "
                                              f"{json.dumps(recomputed)}"]


def compare_audits(store: GovernanceStore, *, a: str, b: str) -> pd.DataFrame:
    """Criteria of two audits side by side, matched on (features, criterion)."""
    rows = {}
    for tag, audit_id in (("a", a), ("b", b)):
        audit = get_audit(store, audit_id=audit_id)
        for c in audit.get("criteria", []):
            key = (" × ".join(c["sensitive"]), c["name"])
            rows.setdefault(key, {"sensitive": key[0], "criterion": f"{c['name']} {c['operator']} {c['threshold']:g}"})
            rows[key].update({f"value_{tag}": c["value"], f"ci_low_{tag}": c["ci_low"], f"ci_high_{tag}": c["ci_high"],
                              f"verdict_{tag}": c["verdict"]})
    columns = ["sensitive", "criterion"] + [f"{k}_{t}" for t in "ab" for k in ("value", "ci_low", "ci_high", "verdict")]
    return pd.DataFrame(list(rows.values())).reindex(columns=columns)


def group_table(audit: dict, *, sensitive: Sequence[str]) -> pd.DataFrame:
    """One row per (group, metric) of one feature set: value, interval, status, reason."""
    records = []
    for g in audit.get("groups", []):
        if g["sensitive"] != list(sensitive):
            continue
        for metric, m in g["metrics"].items():
            label = _label({k: g["group"][k] for k in g["sensitive"]})  # stored JSON sorts keys; keep the set's order
            records.append({"group": label, "n": g["n"], "status": g["status"], "metric": metric,
                            "value": m["value"], "ci_low": m["ci_low"], "ci_high": m["ci_high"],
                            "reason": m.get("reason")})
    return pd.DataFrame.from_records(records, columns=["group", "n", "status", "metric", "value", "ci_low", "ci_high",
                                                       "reason"])


def audit_rows(store: GovernanceStore, *, audit_id: str, data: AuditData | None = None) -> pd.DataFrame:
    """The rows behind an audit: y_true, y_pred, score and the audited features (for a preview, not for display)."""
    definition = load_definition(store, audit_id=audit_id)
    data = _data_for(store, audit_id=audit_id, definition=definition, data=data)
    if data.kind == "file":
        return data.frame
    frame = models.evaluation_outcomes(store, model=data.model, version=data.version)
    parsed = pd.DataFrame([json.loads(s) for s in frame.pop("sensitive")]).reindex(columns=list(definition.sensitive))
    for column in definition.sensitive:
        frame[column] = as_text(parsed[column]).fillna(MISSING_GROUP).to_numpy()
    return frame
