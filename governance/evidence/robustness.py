"""Robustness checks of a model version: criteria locked before results exist, kept as evidence like fairness audits.

Three checks, on the version's stored evaluation set and its labelled telemetry:

- **Perturbation**: the model's predictions on the evaluation rows as they are, then with small changes to the
  inputs, one feature at a time and all features at once, at each level (default 1%, 5%, 10%). A numeric feature
  gets Gaussian noise with sd = level x the feature's standard deviation in the evaluation set; a categorical
  feature has each row's value, with probability = level, replaced by another of the column's categories drawn from
  its observed distribution. Reported: accuracy, accuracy drop, and the flip rate (the share of predictions that
  change) with 95% Wilson intervals; the worst-affected features by flip rate at the highest level.
- **Shift**: accuracy with a 95% Wilson interval on slices that differ from the training mix: the sensitive-attribute
  groups of the evaluation set, bands of an `age` feature if the model has one, and the labelled telemetry of the
  version week by week, marking weeks where drift reached 'act'. A slice under the minimum size is "too small",
  with no figure.
- **Missing values**: each feature in turn set missing on every row: the model "errors" (the exception's class and
  message), "imputes" (accuracy drops by under half a point) or "degrades" (by how much).

Every random draw is seeded per (seed, feature, level) (`feature_rng`), so a rerun reproduces the numbers. The
definition (model file hash, data hash, levels, criteria, seed, minimum slice size) is stored and hashed before the
run; a run is stored once, with an evidence hash over the definition, the data's content hash and the results.
The maths are pure functions over (predict function, frame, outcomes), testable without a workspace.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from threadpoolctl import threadpool_limits

from governance.errors import GovernanceError, InvalidInputError
from governance.evidence.evaluation_sets import evaluation_set
from governance.monitoring import telemetry_sources
from governance.record import clock
from governance.evidence.explanations import evaluation_frame, load_version   # shap itself only when one is computed
from governance.access.identity import User, require
from governance.evidence.fairness import environment
from governance.evidence.fairness_inputs import MISSING_GROUP, sha256_text
from governance.evidence.version_drift import drift_periods
from governance.monitoring.inventory import require_model
from governance.monitoring.telemetry_sql import VERSION_NEWEST_SQL, WEEKLY_ACCURACY_SQL
from governance.record.canonical import canonical_json
from governance.record.repositories import audits
from governance.record.store import GovernanceStore
from governance.vocabulary import ROBUSTNESS_CRITERIA as CRITERIA  # name -> (what it measures, judged at a level)
from governance.vocabulary import (ROBUSTNESS_DEFAULT_CRITERIA as DEFAULT_CRITERIA,
                                   ROBUSTNESS_DEFAULT_LEVELS as DEFAULT_LEVELS,
                                   ROBUSTNESS_DEFAULT_MIN_SLICE as DEFAULT_MIN_SLICE,
                                   ROBUSTNESS_DEFAULT_SEED as DEFAULT_SEED)

SCHEMA_VERSION = 1
IMPUTES_BELOW = 0.005          # accuracy drop under half a point with a feature missing: the model imputes
MAX_ROWS = 20_000              # a larger evaluation set is sampled (seeded, in DuckDB), and the definition says so
BATCH_ROWS = 250_000           # perturbed copies are predicted in batches of about this many rows
WORST_LISTED = 5
MESSAGE_CHARS = 160
CONFIDENCE = 0.95
Z = 1.959963984540054          # the two-sided 95% normal quantile
AGE_FEATURE = "age"
AGE_BANDS = ((None, 25, "<25"), (25, 45, "25-44"), (45, 65, "45-64"), (65, None, "65+"))
VERDICTS = ("pass", "fail", "inconclusive", "not computable")

ProgressCallback = Callable[[float], None]
PredictFunction = Callable[[pd.DataFrame], np.ndarray]

# Messages the tests import, so the wording is shared.
BAD_LEVELS = ("noise levels must be numbers greater than 0 and at most 1 (a fraction of each feature's standard "
              "deviation, and the chance of a category swap), e.g. 0.01,0.05,0.1; got {value!r}")
BAD_CRITERION = ("cannot read criterion {text!r}: write NAME<=VALUE, with @LEVEL for the perturbation criteria, "
                 "e.g. flip_rate<=0.05@0.05 or slice_accuracy_gap<=0.10; names: {known}")
CRITERION_NEEDS_LEVEL = ("criterion {name!r} is measured at a noise level: add @LEVEL with one of the run's levels "
                         "({levels}), e.g. {name}<=0.05@{example}")
CRITERION_HAS_NO_LEVEL = "criterion {name!r} does not depend on a noise level: drop '@{level}'"
UNKNOWN_LEVEL = ("criterion {text!r} is judged at level {level:g}, which this run does not compute: add it to the "
                 "levels ({levels}) or choose one of them")
CRITERION_RANGE = "criterion {text!r}: the threshold must be between 0 and 1"
NO_CRITERIA = "give at least one criterion, e.g. " + DEFAULT_CRITERIA
BAD_SEED = "seed must be a whole number between 0 and 4,294,967,295, got {value!r}"
BAD_MIN_SLICE = "the minimum slice size must be a whole number of at least 1, got {value!r}"
NO_FEATURES = ("the evaluation set of {model} {version} lacks the model's input columns {missing}: register "
               "evaluation data with the model's input columns")
UNKNOWN_RUN = "there is no robustness run {run_id!r}; run `python -m governance robustness list` to see them"
DATA_CHANGED = "the evaluation set of {model} {version} changed while the run was being defined: run it again"


# --- criteria ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    name: str                 # one of CRITERIA
    operator: str             # always "<=": every figure here is worse when larger
    threshold: float
    level: float | None = None

    @property
    def text(self) -> str:
        return f"{self.name}{self.operator}{self.threshold:g}" + ("" if self.level is None else f"@{self.level:g}")


_CRITERION = re.compile(r"^\s*([a-z_]+)\s*(<=|=<|>=|=>|<|>|=)\s*([0-9]*\.?[0-9]+)\s*(?:@\s*([0-9]*\.?[0-9]+))?\s*$")


def parse_levels(levels: str | Sequence) -> tuple[float, ...]:
    """"0.01,0.05,0.1" or a sequence of numbers -> sorted distinct levels, each in (0, 1]."""
    parts = [p.strip() for p in levels.split(",")] if isinstance(levels, str) else list(levels)
    found = []
    for part in parts:
        if isinstance(part, str):
            try:
                value = float(part)
            except ValueError:
                raise InvalidInputError(BAD_LEVELS.format(value=part)) from None
        elif isinstance(part, Real) and not isinstance(part, bool):
            value = float(part)
        else:
            raise InvalidInputError(BAD_LEVELS.format(value=part))
        if not (math.isfinite(value) and 0 < value <= 1):
            raise InvalidInputError(BAD_LEVELS.format(value=part))
        found.append(value)
    if not found:
        raise InvalidInputError(BAD_LEVELS.format(value=levels))
    return tuple(sorted(set(found)))


def parse_criteria(text: str | Sequence[str], *, levels: Sequence[float]) -> tuple[Criterion, ...]:
    """"flip_rate<=0.05@0.05,slice_accuracy_gap<=0.10" -> criteria, checked against the run's levels."""
    parts = [p for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    shown = ",".join(f"{x:g}" for x in levels)
    found = []
    for part in parts:
        match = _CRITERION.match(part)
        if match is None or match.group(1) not in CRITERIA or match.group(2) not in ("<=", "=<"):
            raise InvalidInputError(BAD_CRITERION.format(text=part.strip(), known=", ".join(CRITERIA)))
        name, threshold = match.group(1), float(match.group(3))
        level = None if match.group(4) is None else float(match.group(4))
        if not 0 <= threshold <= 1:
            raise InvalidInputError(CRITERION_RANGE.format(text=part.strip()))
        needs_level = CRITERIA[name][1]
        if needs_level and level is None:
            raise InvalidInputError(CRITERION_NEEDS_LEVEL.format(name=name, levels=shown, example=f"{levels[-1]:g}"))
        if not needs_level and level is not None:
            raise InvalidInputError(CRITERION_HAS_NO_LEVEL.format(name=name, level=match.group(4)))
        if level is not None:
            same = [x for x in levels if math.isclose(x, level, rel_tol=0, abs_tol=1e-12)]
            if not same:
                raise InvalidInputError(UNKNOWN_LEVEL.format(text=part.strip(), level=level, levels=shown))
            level = same[0]
        found.append(Criterion(name, "<=", threshold, level))
    if not found:
        raise InvalidInputError(NO_CRITERIA)
    return tuple(dict.fromkeys(found))


# --- the maths: pure functions over (predict, frame, outcomes) ------------------------------------------------------
def wilson_interval(successes: int, n: int, *, z: float = Z) -> tuple[float | None, float | None]:
    """95% Wilson score interval of a proportion; (None, None) with no observations."""
    if n <= 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference_interval(before: np.ndarray, after: np.ndarray) -> tuple[float, float | None, float | None]:
    """Mean of before - after over the same rows (0/1 each) with a 95% normal interval of the paired difference."""
    d = np.asarray(before, dtype=np.float64) - np.asarray(after, dtype=np.float64)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else None), None, None
    mean = float(d.mean())
    half = Z * float(d.std(ddof=1)) / math.sqrt(len(d))
    return mean, max(-1.0, mean - half), min(1.0, mean + half)


def feature_kinds(frame: pd.DataFrame, features: Sequence[str]) -> dict[str, str]:
    """'numeric' for number columns (not booleans), 'categorical' for everything else."""
    return {f: "numeric" if is_numeric_dtype(frame[f]) and not is_bool_dtype(frame[f]) else "categorical"
            for f in features}


def feature_rng(seed: int, feature: str, level: float) -> np.random.Generator:
    """The random stream of one (feature, level): the same draws whether the feature is perturbed alone or with all
    the others, and whatever order the features come in."""
    return np.random.default_rng([int(seed), zlib.crc32(feature.encode("utf-8")), int(round(level * 1_000_000))])


def add_noise(values: pd.Series, *, level: float, rng: np.random.Generator) -> pd.Series:
    """Gaussian noise with sd = level x the column's standard deviation (missing values stay missing)."""
    numbers = values.astype(np.float64)
    scale = float(numbers.std(ddof=1)) if numbers.notna().sum() > 1 else 0.0
    noise = rng.normal(0.0, 1.0, len(values)) * (level * (scale if math.isfinite(scale) else 0.0))
    return numbers + noise


def swap_categories(values: pd.Series, *, level: float, rng: np.random.Generator) -> pd.Series:
    """With probability `level`, replace a row's value by another category drawn from the column's observed
    distribution (conditioned on differing from the row's own value); missing values are never drawn."""
    n = len(values)
    chosen = rng.random(n) < level
    draws = rng.random(n)
    observed = values.dropna().value_counts(sort=False)
    categories = observed.index.to_numpy(dtype=object)
    out = values.astype(object).to_numpy(copy=True)
    if len(categories) < 2:
        return pd.Series(out, index=values.index, dtype=object)
    weights = observed.to_numpy(dtype=np.float64)
    position = {c: i for i, c in enumerate(categories)}
    current = np.array([position.get(v, -1) for v in out])
    for index in range(-1, len(categories)):
        rows = np.flatnonzero(chosen & (current == index))
        if not len(rows):
            continue
        w = weights.copy()
        if index >= 0:
            w[index] = 0.0
        cumulative = np.cumsum(w) / w.sum()
        out[rows] = categories[np.minimum(np.searchsorted(cumulative, draws[rows], side="right"), len(w) - 1)]
    return pd.Series(out, index=values.index, dtype=object)


def perturb(values: pd.Series, *, kind: str, level: float, rng: np.random.Generator) -> pd.Series:
    return (add_noise if kind == "numeric" else swap_categories)(values, level=level, rng=rng)


def set_missing(frame: pd.DataFrame, feature: str, kind: str) -> pd.DataFrame:
    """The frame with one feature missing on every row: NaN for numbers, None for categories."""
    out = frame.copy()
    out[feature] = (np.full(len(frame), np.nan) if kind == "numeric"
                    else pd.Series([None] * len(frame), index=frame.index, dtype=object))
    return out


def short_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


def _predict_many(predict: PredictFunction, frames: list[pd.DataFrame]) -> list[np.ndarray | BaseException]:
    """Predictions for several frames of the same columns, batched into few calls; a failing batch is retried frame
    by frame so one bad variant does not hide the others."""
    out: list[np.ndarray | BaseException] = []
    start = 0
    while start < len(frames):
        stop, rows = start, 0
        while stop < len(frames) and (stop == start or rows + len(frames[stop]) <= BATCH_ROWS):
            rows += len(frames[stop])
            stop += 1
        batch = frames[start:stop]
        try:
            predicted = np.asarray(predict(pd.concat(batch, ignore_index=True)))
            edges = np.cumsum([0] + [len(f) for f in batch])
            out += [predicted[edges[i]:edges[i + 1]] for i in range(len(batch))]
        except Exception:  # noqa: BLE001 — retried one by one to find which variant fails, and why
            for frame in batch:
                try:
                    out.append(np.asarray(predict(frame)))
                except Exception as exc:  # noqa: BLE001 — a model's failure is a finding, recorded
                    out.append(exc)
        start = stop
    return out


def _effect(clean: np.ndarray, predicted: np.ndarray | BaseException, y: np.ndarray, clean_correct: np.ndarray,
            level: float) -> dict:
    if isinstance(predicted, BaseException):
        return {"level": level, "flips": None, "flip_rate": None, "flip_ci_low": None, "flip_ci_high": None,
                "accuracy": None, "accuracy_drop": None, "drop_ci_low": None, "drop_ci_high": None,
                "error": f"{type(predicted).__name__}: {short_message(predicted)}"}
    n = len(y)
    flips = int(np.sum(predicted != clean))
    correct = predicted == y
    low, high = wilson_interval(flips, n)
    drop, drop_low, drop_high = paired_difference_interval(clean_correct, correct)
    return {"level": level, "flips": flips, "flip_rate": flips / n, "flip_ci_low": low, "flip_ci_high": high,
            "accuracy": float(correct.mean()), "accuracy_drop": drop, "drop_ci_low": drop_low,
            "drop_ci_high": drop_high}


def perturbation_results(predict: PredictFunction, frame: pd.DataFrame, y, *, features: Sequence[str],
                         kinds: dict[str, str], levels: Sequence[float], seed: int, clean: np.ndarray | None = None,
                         progress: ProgressCallback | None = None) -> dict:
    """Flip rate and accuracy under noise and category swaps: per feature and all at once, at each level."""
    y = np.asarray(y)
    frame = frame.reset_index(drop=True)
    clean = np.asarray(predict(frame)) if clean is None else np.asarray(clean)
    clean_correct = clean == y
    per_batch = max(1, BATCH_ROWS // max(1, len(frame)))
    effects, done, total = {}, 0, len(levels) * (len(features) + 1)
    for level in levels:
        changed = {f: perturb(frame[f], kind=kinds[f], level=level, rng=feature_rng(seed, f, level))
                   for f in features}
        keys = [(f, level) for f in features] + [(None, level)]
        for start in range(0, len(keys), per_batch):   # built a batch at a time: copies of a big set are not kept
            batch = keys[start:start + per_batch]
            frames = [frame.assign(**({f: changed[f]} if f is not None else changed)) for f, _ in batch]
            for key, predicted in zip(batch, _predict_many(predict, frames)):
                effects[key] = _effect(clean, predicted, y, clean_correct, level)
            done += len(batch)
            if progress:
                progress(done / total)
    top = max(levels)
    per_feature = [{"feature": f, "kind": kinds[f], "levels": [effects[(f, level)] for level in levels]}
                   for f in features]
    ranked = sorted(per_feature, key=lambda r: (-(effects[(r["feature"], top)]["flip_rate"] or 0), r["feature"]))
    return {
        "n": len(y), "clean_accuracy": float(clean_correct.mean()), "levels": list(levels),
        "all_features": [effects[(None, level)] for level in levels],
        "features": per_feature,
        "worst_features": [{"feature": r["feature"], "kind": r["kind"], "level": top,
                            "flip_rate": effects[(r["feature"], top)]["flip_rate"],
                            "accuracy_drop": effects[(r["feature"], top)]["accuracy_drop"]}
                           for r in ranked[:WORST_LISTED]],
    }


def missing_value_results(predict: PredictFunction, frame: pd.DataFrame, y, *, features: Sequence[str],
                          kinds: dict[str, str], clean_accuracy: float | None = None) -> list[dict]:
    """Each feature missing on every row in turn: does the model error, impute, or degrade?"""
    y = np.asarray(y)
    frame = frame.reset_index(drop=True)
    if clean_accuracy is None:
        clean_accuracy = float(np.mean(np.asarray(predict(frame)) == y))
    out = []
    for f in features:
        try:
            predicted = np.asarray(predict(set_missing(frame, f, kinds[f])))
        except Exception as exc:  # noqa: BLE001 — the model's failure is the finding
            out.append({"feature": f, "kind": kinds[f], "outcome": "errors", "accuracy": None, "accuracy_drop": None,
                        "error_class": type(exc).__name__, "message": short_message(exc)})
            continue
        accuracy = float(np.mean(predicted == y))
        drop = clean_accuracy - accuracy
        out.append({"feature": f, "kind": kinds[f], "outcome": "imputes" if drop < IMPUTES_BELOW else "degrades",
                    "accuracy": accuracy, "accuracy_drop": drop, "error_class": None, "message": None})
    return out


def age_band(values: pd.Series) -> pd.Series:
    """<25, 25-44, 45-64, 65+ (and '(missing)')."""
    numbers = pd.to_numeric(values, errors="coerce")
    out = pd.Series(MISSING_GROUP, index=values.index, dtype=object)
    for low, high, label in AGE_BANDS:
        inside = numbers.notna()
        if low is not None:
            inside &= numbers >= low
        if high is not None:
            inside &= numbers < high
        out[inside] = label
    return out


def accuracy_slices(correct, groups: dict[str, tuple[str, pd.Series]], *, overall: float, min_size: int) -> list[dict]:
    """Accuracy with a 95% Wilson interval per group of each dimension; groups under `min_size` are too small."""
    correct = np.asarray(correct, dtype=bool)
    out = []
    for dimension, (source, labels) in groups.items():
        labels = pd.Series(np.asarray(labels, dtype=object)).fillna(MISSING_GROUP).astype(str)
        for group in sorted(labels.unique()):
            inside = (labels == group).to_numpy()
            out.append(_slice_record({"dimension": dimension, "source": source, "group": group},
                                     n=int(inside.sum()), correct=int(correct[inside].sum()), overall=overall,
                                     min_size=min_size))
    return out


def _slice_record(key: dict, *, n: int, correct: int, overall: float | None, min_size: int) -> dict:
    if n < min_size:
        return {**key, "n": n, "status": "too small", "correct": None, "accuracy": None, "ci_low": None,
                "ci_high": None, "gap": None, "gap_ci_low": None, "gap_ci_high": None,
                "reason": f"{n} rows, fewer than {min_size}: too small to assess"}
    low, high = wilson_interval(correct, n)
    accuracy = correct / n
    gap = None if overall is None else {"gap": overall - accuracy, "gap_ci_low": overall - high,
                                        "gap_ci_high": overall - low}
    return {**key, "n": n, "status": "ok", "correct": correct, "accuracy": accuracy, "ci_low": low, "ci_high": high,
            **(gap or {"gap": None, "gap_ci_low": None, "gap_ci_high": None}), "reason": None}


def weekly_accuracy(weeks: pd.DataFrame, *, overall: float | None, min_size: int,
                    act: dict[str, list[str]] | None = None) -> list[dict]:
    """Labelled telemetry per week (columns week, n, correct): accuracy with a Wilson interval, drift at 'act'."""
    act = act or {}
    out = []
    for row in weeks.itertuples(index=False):
        week = str(pd.Timestamp(row.week).date())
        record = _slice_record({"week": week}, n=int(row.n), correct=int(row.correct), overall=overall,
                               min_size=min_size)
        if record["status"] == "too small":
            record["reason"] = f"{int(row.n)} labelled predictions, fewer than {min_size}: too small to assess"
        record.update(drift_act=bool(act.get(week)), drift_features=sorted(act.get(week, [])))
        out.append(record)
    return out


# --- verdicts ------------------------------------------------------------------------------------------------------
def _judge_interval(low: float | None, high: float | None, threshold: float) -> str:
    if low is None or high is None:
        return "not computable"
    if high <= threshold:
        return "pass"
    if low > threshold:
        return "fail"
    return "inconclusive"


def _judge_many(items: list[tuple[str, float, float, float]], threshold: float) -> tuple[str, tuple | None]:
    """Several intervals against one threshold (e.g. every slice): fail if any clearly exceeds it, pass if all are
    clearly within, else inconclusive. Returns the verdict and the worst item (largest value)."""
    if not items:
        return "not computable", None
    verdicts = [_judge_interval(low, high, threshold) for _, _, low, high in items]
    worst = max(items, key=lambda i: i[1])
    verdict = "fail" if "fail" in verdicts else "pass" if set(verdicts) == {"pass"} else "inconclusive"
    return verdict, worst


def judge(criteria: Sequence[Criterion], results: dict) -> list[dict]:
    """Each criterion's value, 95% interval and verdict: pass when the interval is within the threshold, fail when
    it is wholly beyond it, inconclusive when it includes the threshold."""
    perturbation, shift = results["perturbation"], results["shift"]
    out = []
    for c in criteria:
        record = {**asdict(c), "text": c.text, "meaning": CRITERIA[c.name][0], "value": None, "ci_low": None,
                  "ci_high": None, "where": None, "verdict": "not computable", "reason": None}
        if c.name in ("flip_rate", "accuracy_drop"):
            effect = next(e for e in perturbation["all_features"] if e["level"] == c.level)
            value, low, high = ((effect["flip_rate"], effect["flip_ci_low"], effect["flip_ci_high"])
                                if c.name == "flip_rate" else
                                (effect["accuracy_drop"], effect["drop_ci_low"], effect["drop_ci_high"]))
            record.update(value=value, ci_low=low, ci_high=high, where=f"all features at level {c.level:g}",
                          verdict=_judge_interval(low, high, c.threshold))
            if value is None:
                record["reason"] = effect.get("error") or "no rows"
        else:
            if c.name == "feature_flip_rate":
                items = [(f["feature"], e["flip_rate"], e["flip_ci_low"], e["flip_ci_high"])
                         for f in perturbation["features"] for e in f["levels"]
                         if e["level"] == c.level and e["flip_rate"] is not None]
                empty = "no feature could be perturbed"
            elif c.name == "slice_accuracy_gap":
                items = [(f"{s['dimension']} = {s['group']}", s["gap"], s["gap_ci_low"], s["gap_ci_high"])
                         for s in shift["slices"] if s["status"] == "ok"]
                empty = "no slice of the evaluation set has enough rows"
            else:
                items = [(f"week of {w['week']}", w["gap"], w["gap_ci_low"], w["gap_ci_high"])
                         for w in shift["weeks"] if w["status"] == "ok"]
                empty = "no week of telemetry has enough labelled predictions"
            verdict, worst = _judge_many(items, c.threshold)
            record["verdict"] = verdict
            if worst is None:
                record["reason"] = empty
            else:
                record.update(value=worst[1], ci_low=worst[2], ci_high=worst[3], where=worst[0])
        if record["verdict"] == "inconclusive":
            record["reason"] = "an interval includes the threshold, so the data cannot tell pass from fail"
        record["explanation"] = explain(record)
        out.append(record)
    return out


def explain(c: dict) -> str:
    rule = f"{c['name'].replace('_', ' ')} ≤ {c['threshold']:g}" + (f" at level {c['level']:g}" if c["level"] else "")
    if c["value"] is None:
        return f"Not computable ({rule}): {c['reason']}."
    finding = (f"{c['meaning'][0].upper()}{c['meaning'][1:]}: {c['value']:.3f} ({c['where']}), 95% CI "
               f"{c['ci_low']:.3f}–{c['ci_high']:.3f}")
    outcome = {"pass": f"passes {rule}", "fail": f"fails {rule}",
               "inconclusive": f"inconclusive on {rule}: {c['reason']}",
               "not computable": f"not computable: {c['reason']}"}[c["verdict"]]
    return f"{finding} — {outcome}."


def overall_verdict(criteria: list[dict]) -> str:
    verdicts = [c["verdict"] for c in criteria]
    return "fail" if "fail" in verdicts else "pass" if verdicts and set(verdicts) == {"pass"} else "inconclusive"


def compute_results(predict: PredictFunction, frame: pd.DataFrame, y, *, features: Sequence[str],
                    levels: Sequence[float], criteria: Sequence[Criterion], seed: int = DEFAULT_SEED,
                    min_slice: int = DEFAULT_MIN_SLICE, sensitive: dict[str, pd.Series] | None = None,
                    weeks: pd.DataFrame | None = None, act_weeks: dict[str, list[str]] | None = None,
                    stored_predictions=None, notes: Sequence[str] = (),
                    progress: ProgressCallback | None = None) -> dict:
    """Every check and verdict for one model over one evaluation frame: the whole run, without a workspace.

    `sensitive` maps attribute names to each row's group; `weeks` is labelled telemetry per week (week, n, correct)
    and `act_weeks` the features at drift 'act' per week (YYYY-MM-DD of its Monday); `stored_predictions`, when
    given, are checked against the model's own predictions on the frame (a mismatch is noted)."""
    report = progress or (lambda fraction: None)
    y = np.asarray(y)
    frame = frame.reset_index(drop=True)
    kinds = feature_kinds(frame, features)
    clean = np.asarray(predict(frame))
    clean_correct = clean == y
    notes = list(notes)
    if stored_predictions is not None:
        differ = int(np.sum(np.asarray(stored_predictions) != clean))
        if differ:
            notes.append(f"the model file's predictions differ from the stored predictions on {differ:,} rows: the "
                         "figures here are the model file's")
    perturbation = perturbation_results(predict, frame, y, features=features, kinds=kinds, levels=levels, seed=seed,
                                        clean=clean, progress=lambda f: report(0.8 * f))
    clean_accuracy = perturbation["clean_accuracy"]
    report(0.85)
    missing = missing_value_results(predict, frame, y, features=features, kinds=kinds, clean_accuracy=clean_accuracy)
    report(0.95)
    groups = {name: ("sensitive attribute", values.reset_index(drop=True))
              for name, values in (sensitive or {}).items()}
    if AGE_FEATURE in features and kinds[AGE_FEATURE] == "numeric":
        groups[f"{AGE_FEATURE} (feature band)"] = ("feature band", age_band(frame[AGE_FEATURE]))
    week_records = weekly_accuracy(weeks if weeks is not None else pd.DataFrame(columns=["week", "n", "correct"]),
                                   overall=clean_accuracy, min_size=min_slice, act=act_weeks)
    if weeks is None or not len(weeks):
        notes.append("no labelled telemetry of this version: accuracy by week not assessed")
    slices = accuracy_slices(clean_correct, groups, overall=clean_accuracy, min_size=min_slice)
    results = {
        "schema_version": SCHEMA_VERSION, "n": len(y), "clean_accuracy": clean_accuracy,
        "perturbation": perturbation,
        "shift": {"slices": slices, "weeks": week_records, "min_slice_size": min_slice},
        "missing_values": missing,
    }
    small = [f"{s['dimension']} = {s['group']} ({s['n']})" for s in slices if s["status"] == "too small"]
    if small:
        notes.append(f"too small to assess (fewer than {min_slice} rows), no figure given: {', '.join(small)}")
    errors = [m["feature"] for m in missing if m["outcome"] == "errors"]
    if errors:
        notes.append(f"the model fails outright when any of {', '.join(errors)} is missing")
    judged = judge(criteria, results)
    verdicts = [c["verdict"] for c in judged]
    results.update(criteria=judged, verdict=overall_verdict(judged),
                   verdict_counts={v: verdicts.count(v) for v in VERDICTS}, notes=notes, environment=environment())
    report(1.0)
    return results


# --- the workspace: define, lock, run, store ------------------------------------------------------------------------
def evidence_hash_of(*, definition: dict, data_sha256: str, results: dict) -> str:
    return sha256_text(canonical_json({"definition": definition, "data_sha256": data_sha256, "results": results}))


def _checked_int(value, *, low: int, high: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InvalidInputError(message.format(value=value))
    return int(value)


def _load(store: GovernanceStore, *, model: str, version: str, seed: int):
    require_model(store, model=model, version=version)
    data = evaluation_set(store, model=model, version=version)
    prepared, model_sha256 = load_version(store, model=model, version=version)
    frame = evaluation_frame(store, model=model, version=version,
                             limit=MAX_ROWS if data.rows > MAX_ROWS else None, seed=seed)
    missing = [f for f in prepared.features if f not in frame.columns]
    if not prepared.features or missing:
        raise InvalidInputError(NO_FEATURES.format(model=model, version=version,
                                                   missing=", ".join(missing) or "(the model names none)"))
    return data, prepared, model_sha256, frame


def _telemetry_until(store: GovernanceStore, *, model: str, version: str) -> str | None:
    last = telemetry_sources.query_rows(store, VERSION_NEWEST_SQL, {"model": model, "version": version})[0][0]
    return None if pd.isna(last) else pd.Timestamp(last).isoformat()


def _weeks(store: GovernanceStore, *, model: str, version: str, until: str | None) -> pd.DataFrame:
    if until is None:
        return pd.DataFrame(columns=["week", "n", "correct"])
    return telemetry_sources.query(store, WEEKLY_ACCURACY_SQL, {"model": model, "version": version,
                                                                "until": pd.Timestamp(until).to_pydatetime()})


def _act_weeks(store: GovernanceStore, *, model: str, version: str, until: str | None) -> tuple[dict, list[str]]:
    if until is None:
        return {}, []
    try:
        periods = drift_periods(store, model=model, version=version, until=pd.Timestamp(until).date())
    except GovernanceError as exc:
        return {}, [f"drift not computed, so weeks are not marked: {exc}"]
    act = periods[periods["status"] == "act"]
    found: dict[str, list[str]] = {}
    for row in act.itertuples(index=False):
        found.setdefault(str(pd.Timestamp(row.period).date()), []).append(str(row.feature))
    return found, []


def run_robustness(store: GovernanceStore, *, model: str, version: str, actor: User,
                   levels: str | Sequence[float] = DEFAULT_LEVELS, criteria: str | Sequence[str] = DEFAULT_CRITERIA,
                   seed: int = DEFAULT_SEED, min_slice: int = DEFAULT_MIN_SLICE,
                   progress: ProgressCallback | None = None) -> dict:
    """Define and lock a robustness run of a model version, then run it and store its results; returns `get_run`."""
    require(actor, "run audit")
    parsed_levels = parse_levels(levels)
    parsed = parse_criteria(criteria, levels=parsed_levels)
    seed = _checked_int(seed, low=0, high=2**32 - 1, message=BAD_SEED)
    min_slice = _checked_int(min_slice, low=1, high=10**9, message=BAD_MIN_SLICE)
    data, prepared, model_sha256, frame = _load(store, model=model, version=version, seed=seed)
    features = list(prepared.features)
    kinds = feature_kinds(frame, features)
    until = _telemetry_until(store, model=model, version=version)
    definition = {
        "schema_version": SCHEMA_VERSION, "model": model, "version": version, "model_sha256": model_sha256,
        "source": {"kind": "evaluation_set", "name": f"{model} {version} evaluation set",
                   "data_sha256": data.content_sha256, "rows": data.rows, "rows_used": len(frame),
                   "sample": (f"{len(frame):,} of {data.rows:,} rows, chosen by hash(row_id, seed)"
                              if len(frame) < data.rows else None)},
        "features": [{"name": f, "kind": kinds[f]} for f in features],
        "levels": list(parsed_levels), "criteria": [asdict(c) for c in parsed], "seed": seed,
        "min_slice_size": min_slice, "imputes_below": IMPUTES_BELOW, "confidence": CONFIDENCE,
        "age_bands": [label for _, _, label in AGE_BANDS], "telemetry_until": until,
    }
    text = canonical_json(definition)
    with store.write() as tx:   # locked before any result exists
        run_id = f"RB-{audits.robustness_run_count(store) + 1:04d}"
        audits.add_robustness_run(tx, run_id=run_id, model=model, version=version, definition=text,
                                  definition_hash=sha256_text(text), defined_by=actor.recorded_as,
                                  defined_at=clock.now_naive_seconds())
    notes = []
    if len(frame) < data.rows:
        notes.append(definition["source"]["sample"])
    act, drift_notes = _act_weeks(store, model=model, version=version, until=until)
    sensitive = {c.split(":", 1)[1]: frame[c] for c in frame.columns if c.startswith("sensitive:")}
    with threadpool_limits(limits=1, user_api="openmp"):  # many small predict calls: no OpenMP team per call
        results = compute_results(lambda x: prepared.pipeline.predict(x[features]), frame, frame["y_true"],
                                  features=features, levels=parsed_levels, criteria=parsed, seed=seed,
                                  min_slice=min_slice, sensitive=sensitive,
                                  weeks=_weeks(store, model=model, version=version, until=until), act_weeks=act,
                                  stored_predictions=frame["y_pred"], notes=notes + drift_notes, progress=progress)
    if evaluation_set(store, model=model, version=version).content_sha256 != data.content_sha256:
        raise InvalidInputError(DATA_CHANGED.format(model=model, version=version))
    with store.write() as tx:
        audits.add_robustness_result(tx, run_id=run_id, ran_by=actor.recorded_as, ran_at=clock.now_naive_seconds(),
                                     n_rows=results["n"], data_sha256=data.content_sha256,
                                     results=canonical_json(results), verdict=results["verdict"],
                                     evidence_hash=evidence_hash_of(definition=definition,
                                                                    data_sha256=data.content_sha256, results=results))
    return get_run(store, run_id=run_id)


# --- reading back ---------------------------------------------------------------------------------------------------
def _iso(value) -> str | None:
    return None if value is None else pd.Timestamp(value).isoformat() + "Z"


def get_run(store: GovernanceStore, *, run_id: str) -> dict:
    """The run as stored: what `robustness show --json` prints."""
    run = audits.robustness_run(store, run_id=run_id)
    if run is None:
        raise InvalidInputError(UNKNOWN_RUN.format(run_id=run_id))
    out = {"run_id": run.run_id, "model": run.model, "version": run.version,
           "status": "completed" if run.results else "defined", "verdict": run.verdict,
           "evidence_hash": run.evidence_hash, "definition": json.loads(run.definition),
           "definition_hash": run.definition_hash, "defined_by": run.defined_by, "defined_at": _iso(run.defined_at),
           "ran_by": run.ran_by, "ran_at": _iso(run.ran_at), "data_sha256": run.data_sha256, "n": run.n_rows}
    if run.results:
        out.update({k: v for k, v in json.loads(run.results).items() if k not in ("n", "verdict")})
    return out


def list_runs(store: GovernanceStore, *, model: str | None = None, version: str | None = None) -> list[dict]:
    """Every run, newest first: id, model, version, levels, criteria, verdict (None until it has results)."""
    out = []
    for run in audits.robustness_runs(store, model=model, version=version):
        d = json.loads(run.definition)
        counts = json.loads(run.results)["verdict_counts"] if run.results else {}
        out.append({"run_id": run.run_id, "model": run.model, "version": run.version,
                    "status": "completed" if run.results else "defined", "verdict": run.verdict,
                    "levels": d["levels"], "criteria": ", ".join(Criterion(**c).text for c in d["criteria"]),
                    "seed": d["seed"], "n": run.n_rows, "defined_by": run.defined_by,
                    "defined_at": _iso(run.defined_at), "ran_by": run.ran_by, "ran_at": _iso(run.ran_at),
                    "evidence_hash": run.evidence_hash,
                    **{v: counts.get(v) for v in ("pass", "fail", "inconclusive")}})
    return out


def latest_verdict(store: GovernanceStore, *, model: str, version: str) -> str | None:
    """The verdict of the newest completed run of the version, or None when it has none."""
    return audits.latest_robustness_verdict(store, model=model, version=version)
