"""What a fairness audit reads, checked before anything is computed: a stored evaluation set or a file's rows.

Each check turns a likely mistake (text labels with no positive label, probabilities passed as predictions,
missing values, a single group, constant predictions) into a message that says what to change.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from governance.errors import InvalidInputError
from governance.evidence.evaluation_sets import evaluation_set
from governance.record.store import GovernanceStore

MISSING_GROUP = "(missing)"


class AuditError(InvalidInputError):
    """The audit cannot run as defined; the message says what to change."""


# Messages the tests import, so the wording is shared.
NOT_BINARY = ("the {role} column {column!r} has {count} distinct values ({shown}): fairness metrics here are for "
              "yes/no outcomes; map it to two values first")
TEXT_LABELS_NEED_POSITIVE = ("the {role} column {column!r} holds text labels ({shown}): say which one is the "
                             "favourable outcome with --pos-label (on the page: 'Positive label')")
UNKNOWN_POSITIVE = "positive label {label!r} does not occur in {column!r}; values found: {shown}"
LOOKS_LIKE_PROBABILITIES = ("the prediction column {column!r} holds values between 0 and 1 such as {example}: those "
                            "look like probabilities, not predicted classes; pass them as the score column and give "
                            "a column of 0/1 (or label) predictions")
MISSING_VALUES = ("the {role} column {column!r} has {count:,} missing values (first at row {first}): fill or "
                  "remove those rows, an audit never drops them silently")
LENGTH_MISMATCH = ("outcome, prediction, score and sensitive features must have one value per row: got lengths "
                   "{lengths}")
UNKNOWN_COLUMN = "there is no column {column!r} in {source}; columns: {known}"
SINGLE_GROUP = ("sensitive feature {column!r} has one group only ({group!r}): a disparity compares at least two "
                "groups; choose another feature or data that includes more than one group")
CONSTANT_PREDICTIONS = ("every prediction is {value!r}: a model that gives everyone the same answer has no "
                        "disparity to measure; check that the prediction column is the model's output")
SCORE_RANGE = ("the score column {column!r} must hold probabilities between 0 and 1 (found {low:g} to {high:g}): "
               "pass a probability, or leave the score out")
NO_SENSITIVE = "name at least one sensitive feature to audit"
NO_ROWS = ("{source} has no rows: an audit needs one row per person with the outcome, the prediction and the "
           "sensitive features; give data that has rows (a file with only a header cannot be audited)")
UNREADABLE_CSV = "cannot read {name} as CSV ({reason}): save it as comma-separated text with a header row"


@dataclass(frozen=True)
class AuditData:
    """The rows an audit reads, checked: a stored evaluation set (read in DuckDB) or a file's rows (in memory)."""
    kind: str                       # "evaluation_set" | "file"
    name: str
    data_sha256: str
    rows: int
    attributes: tuple[str, ...]     # sensitive features available
    y_true: str = "y_true"
    y_pred: str = "y_pred"
    score: str | None = "score"
    pos_label: str = "1"
    model: str | None = None
    version: str | None = None
    frame: pd.DataFrame | None = field(default=None, repr=False)   # files: y_true, y_pred 0/1, score, attributes
    notes: tuple[str, ...] = ()

    def source(self) -> dict:
        return {"kind": self.kind, "name": self.name, "model": self.model, "version": self.version,
                "data_sha256": self.data_sha256, "rows": self.rows}


def evaluation_set_data(store: GovernanceStore, *, model: str, version: str) -> AuditData:
    """A model version's stored evaluation set: outcome y_true, prediction y_pred, score, positive label 1."""
    found = evaluation_set(store, model=model, version=version)
    return AuditData("evaluation_set", f"{model} {version} evaluation set", found.content_sha256, found.rows,
                     found.attributes, model=model, version=version)


def read_csv_data(*, content: bytes, name: str, y_true: str, y_pred: str, sensitive: Sequence[str],
                  score: str | None = None, pos_label: str | None = None) -> AuditData:
    """An uploaded or local CSV file, checked column by column; the hash is over the file's exact bytes."""
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().split("\n")[0][:160] or type(exc).__name__
        raise AuditError(UNREADABLE_CSV.format(name=name, reason=reason)) from None
    for column in [y_true, y_pred, *([score] if score else []), *sensitive]:
        if column not in frame.columns:
            raise AuditError(UNKNOWN_COLUMN.format(column=column, source=name, known=", ".join(frame.columns)))
    return frame_data(y_true=frame[y_true], y_pred=frame[y_pred], score=frame[score] if score else None,
                      sensitive={s: frame[s] for s in sensitive}, pos_label=pos_label, name=name,
                      data_sha256=hashlib.sha256(content).hexdigest(),
                      column_names=(y_true, y_pred, score))


def frame_data(*, y_true: Sequence, y_pred: Sequence, sensitive: dict[str, Sequence], score: Sequence | None = None,
               pos_label: str | None = None, name: str = "rows given in memory", data_sha256: str | None = None,
               column_names: tuple[str, str, str | None] = ("y_true", "y_pred", "score")) -> AuditData:
    """Check and normalise outcome, prediction, score and sensitive features given as columns of equal length."""
    if not sensitive:
        raise AuditError(NO_SENSITIVE)
    lengths = {"outcome": len(y_true), "prediction": len(y_pred), **({"score": len(score)} if score is not None else {}),
               **{s: len(v) for s, v in sensitive.items()}}
    if len(set(lengths.values())) != 1:
        raise AuditError(LENGTH_MISMATCH.format(lengths=", ".join(f"{k} {v:,}" for k, v in lengths.items())))
    if not lengths["outcome"]:
        raise AuditError(NO_ROWS.format(source=name))
    true_name, pred_name, score_name = column_names
    truth = as_text(pd.Series(list(y_true) if not isinstance(y_true, pd.Series) else y_true))
    predicted = as_text(pd.Series(list(y_pred) if not isinstance(y_pred, pd.Series) else y_pred))
    _require_present(truth, role="outcome", column=true_name)
    _require_present(predicted, role="prediction", column=pred_name)
    _refuse_probabilities(predicted, column=pred_name)
    _require_binary(truth, role="outcome", column=true_name)
    _require_binary(predicted, role="prediction", column=pred_name)   # before the label: 0/1/2 is not text
    positive = _positive_label(truth, predicted, pos_label=pos_label, column=true_name)
    out = pd.DataFrame({"y_true": (truth == positive).astype(np.int8).to_numpy(),
                        "y_pred": (predicted == positive).astype(np.int8).to_numpy()})
    if out["y_pred"].nunique() == 1:
        raise AuditError(CONSTANT_PREDICTIONS.format(value=predicted.iloc[0]))
    if score is not None:
        numbers = pd.to_numeric(pd.Series(list(score) if not isinstance(score, pd.Series) else score), errors="coerce")
        _require_present(numbers, role="score", column=score_name)
        if numbers.min() < 0 or numbers.max() > 1:
            raise AuditError(SCORE_RANGE.format(column=score_name, low=numbers.min(), high=numbers.max()))
        out["score"] = numbers.to_numpy(np.float64)
    notes = []
    for column, values in sensitive.items():
        text = as_text(pd.Series(list(values) if not isinstance(values, pd.Series) else values))
        missing = int(text.isna().sum())
        if missing:
            notes.append(f"{missing:,} rows have no value for {column}: they form their own group "
                         f"'{MISSING_GROUP}', so they are audited, not dropped")
        out[column] = text.fillna(MISSING_GROUP).to_numpy()
        groups = out[column].unique()
        if len(groups) == 1:
            raise AuditError(SINGLE_GROUP.format(column=column, group=groups[0]))
    digest = data_sha256 or sha256_text(out.to_csv(index=False))
    return AuditData("file", name, digest, len(out), tuple(sensitive), y_true=true_name, y_pred=pred_name,
                     score=score_name if score is not None else None, pos_label=positive, frame=out,
                     notes=tuple(notes))


def as_text(values: pd.Series) -> pd.Series:
    """Labels compared as text, so 1, 1.0, '1' and True agree; missing stays missing."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v.strip() == ""):
            return None
        if isinstance(v, (bool, np.bool_)):
            return "1" if v else "0"
        if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
            return str(int(v))
        text = str(v).strip()
        try:
            number = float(text)
            return str(int(number)) if number.is_integer() else text
        except ValueError:
            return text
    return values.map(one).astype(object)


def _require_present(values: pd.Series, *, role: str, column: str) -> None:
    missing = values.isna().to_numpy()
    if missing.any():
        raise AuditError(MISSING_VALUES.format(role=role, column=column, count=int(missing.sum()),
                                               first=int(np.argmax(missing)) + 1))


def _shown(values) -> str:
    values = sorted(map(str, values))
    return ", ".join(repr(v) for v in values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _refuse_probabilities(predicted: pd.Series, *, column: str) -> None:
    numbers = pd.to_numeric(predicted, errors="coerce")
    fractional = numbers[(numbers > 0) & (numbers < 1)]
    if len(fractional) and numbers.notna().all():
        raise AuditError(LOOKS_LIKE_PROBABILITIES.format(column=column, example=fractional.iloc[0]))


def _require_binary(values: pd.Series, *, role: str, column: str) -> None:
    distinct = values.unique()
    if len(distinct) > 2:
        raise AuditError(NOT_BINARY.format(role=role, column=column, count=len(distinct), shown=_shown(distinct)))


def _positive_label(truth: pd.Series, predicted: pd.Series, *, pos_label, column: str) -> str:
    seen = set(truth.unique()) | set(predicted.unique())
    if pos_label is not None and str(pos_label).strip() != "":
        label = as_text(pd.Series([pos_label])).iloc[0]
        if label not in seen:
            raise AuditError(UNKNOWN_POSITIVE.format(label=pos_label, column=column, shown=_shown(seen)))
        return label
    if seen <= {"0", "1"}:
        return "1"
    _require_binary(truth, role="outcome", column=column)
    raise AuditError(TEXT_LABELS_NEED_POSITIVE.format(role="outcome", column=column, shown=_shown(seen)))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
