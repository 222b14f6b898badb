"""Registering a model version from a skops file, with its evaluation set: all of it lands, or nothing does.

Pickle and joblib files are refused before a byte of them is interpreted: loading one runs whatever code it
carries. A skops file is opened only through model_artifacts' allow-list. The file is stored in its canonical
form (model_artifacts.canonical_model_bytes), so the same fitted model registered from two saves gets one
identity hash; the uploaded file's own sha256 is reported beside it.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Sequence

import numpy as np
import pandas as pd

from governance.access.identity import User, require
from governance.errors import InvalidInputError
from governance.evidence.model_artifacts import canonical_model_bytes, load_model
from governance.evidence.model_metrics import training_metrics
from governance.record import clock, ledger
from governance.record.repositories import models
from governance.record.store import GovernanceStore
from governance.validation import checked_text

MAX_MODEL_BYTES = 200 * 1024 * 1024
MAX_EVALUATION_BYTES = 500 * 1024 * 1024
THRESHOLD = 0.5
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".dill")
NOT_GIVEN = "(not given at registration)"   # what registration stores for a purpose or intended use left out
# What a version records as its training data when nobody described it: where its model file came from, which
# describes no data (described_training_data tells the two apart).
REGISTERED_FROM = "registered from {file_name} by {actor}"
_REGISTERED_FROM = re.compile(r"registered from .+ by \S+ \([\w -]+\)")   # the account as recorded_as writes it
MAX_DESCRIPTION = 5_000     # characters of a purpose, an intended use or a training-data description
GIVEN_EMPTY = ("the {what} given is empty: write it, or leave the option out and the record says "
               f"{NOT_GIVEN}")
# Pickle opcodes start protocol 2+ files; joblib wraps pickles in zlib (any level: joblib's default compress=3
# writes 78 5e), gzip, bz2, xz, lzma-alone or lz4.
PICKLE_MAGIC = (b"\x80", b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
                b"\x5d\x00\x00", b"\x04\x22\x4d\x18")

PICKLE_REFUSED = ("{name} is a pickle/joblib file: opening one runs whatever code is inside it, so Quorum never "
                  "does. Save the model with skops instead (skops.io.dump(model, 'model.skops')) and register that")
TOO_LARGE = "{name} is {size:,.0f} MB, over the {limit:,.0f} MB limit for {what}: {advice}"
EMPTY_FILE = "{name} is empty: nothing was registered"
NOT_SKOPS = "{name} is not a skops file (a skops file is a zip archive): save the model with skops.io.dump"
NO_PROBABILITIES = ("the model in {name} has no predict_proba: Quorum audits and explains classifiers that "
                    "output a probability")
NO_FEATURE_NAMES = ("the model in {name} was fitted without column names, so its inputs cannot be matched to data: "
                    "fit it on a pandas DataFrame")
ALREADY_REGISTERED = ("{model} {version} is already registered and versions are immutable evidence: register the "
                      "new model as another version")
EVALUATION_COLUMNS = "the evaluation file {name} lacks the columns {missing} (the model's inputs: {expected})"
EVALUATION_LABELS = ("the outcome column {column!r} of {name} must hold 0 and 1 only (found {found}): map the "
                     "favourable outcome to 1")
EVALUATION_NOT_FINITE = ("column {column!r} of {name} has {count:,} missing or infinite values (first at row "
                         "{first}): fill or remove them before registering")
EVALUATION_UNREADABLE = "cannot read {name} as CSV ({reason}): save it as comma-separated text with a header row"
MODEL_FAILED = ("the model could not score the evaluation file ({reason}): check that the columns hold the "
                "types the model was trained on")
BAD_NAME = "{what} must be 1 to 64 letters, digits, '.', '_' or '-', got {value!r}"


@dataclass(frozen=True)
class Registration:
    model: str
    version: str
    artifact_sha256: str
    algorithm: str
    features: tuple[str, ...]
    evaluation_rows: int
    metrics: dict
    file_sha256: str = ""      # the uploaded file's own sha256; artifact_sha256 is its canonical form's

    def as_dict(self) -> dict:
        return {"model": self.model, "version": self.version, "artifact_sha256": self.artifact_sha256,
                "algorithm": self.algorithm, "features": list(self.features),
                "evaluation_rows": self.evaluation_rows, "metrics": self.metrics, "file_sha256": self.file_sha256}


def check_model_file(*, content: bytes, name: str):
    """The estimator inside a skops file, or a clear refusal; nothing is stored."""
    if len(content) > MAX_MODEL_BYTES:
        raise InvalidInputError(TOO_LARGE.format(name=name, size=len(content) / 2**20, limit=MAX_MODEL_BYTES / 2**20,
                                                 what="a model file", advice="is this really a single model?"))
    if not content:
        raise InvalidInputError(EMPTY_FILE.format(name=name))
    if PurePath(name).suffix.lower() in PICKLE_SUFFIXES or content.startswith(PICKLE_MAGIC):
        raise InvalidInputError(PICKLE_REFUSED.format(name=name))
    if not content.startswith(b"PK"):
        raise InvalidInputError(NOT_SKOPS.format(name=name))
    estimator = load_model(content)     # the allow-list: an unknown type is refused by name
    if not hasattr(estimator, "predict_proba"):
        raise InvalidInputError(NO_PROBABILITIES.format(name=name))
    if getattr(estimator, "feature_names_in_", None) is None:
        raise InvalidInputError(NO_FEATURE_NAMES.format(name=name))
    return estimator


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise InvalidInputError(BAD_NAME.format(what=what, value=value))
    return value


def _evaluation_frame(*, content: bytes, name: str, features: list[str], y_true: str,
                      sensitive: Sequence[str]) -> pd.DataFrame:
    if len(content) > MAX_EVALUATION_BYTES:
        raise InvalidInputError(TOO_LARGE.format(name=name, size=len(content) / 2**20,
                                                 limit=MAX_EVALUATION_BYTES / 2**20, what="an evaluation file",
                                                 advice="register a held-out sample (100,000 rows is plenty)"))
    try:
        frame = pd.read_csv(io.BytesIO(content))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().split("\n")[0][:160] or type(exc).__name__
        raise InvalidInputError(EVALUATION_UNREADABLE.format(name=name, reason=reason)) from None
    missing = [c for c in [*features, y_true, *sensitive] if c not in frame.columns]
    if missing:
        raise InvalidInputError(EVALUATION_COLUMNS.format(name=name, missing=", ".join(missing),
                                                          expected=", ".join(features)))
    labels = set(frame[y_true].dropna().unique().tolist())
    if frame[y_true].isna().any() or not labels <= {0, 1}:
        raise InvalidInputError(EVALUATION_LABELS.format(column=y_true, name=name,
                                                         found=", ".join(map(repr, sorted(labels, key=str)[:5]))))
    for column in features:
        values = frame[column]
        bad = values.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(values):
            bad = bad | ~np.isfinite(values.to_numpy(np.float64, na_value=np.nan))
        if bad.any():
            raise InvalidInputError(EVALUATION_NOT_FINITE.format(column=column, name=name, count=int(bad.sum()),
                                                                 first=int(np.argmax(bad)) + 1))
    return frame


def _json_lines(frame: pd.DataFrame) -> list[str]:
    if frame.shape[1] == 0:
        return ["{}"] * len(frame)
    # 15 significant digits, the most to_json keeps (its default, 10, would round the registered values)
    return frame.to_json(orient="records", lines=True, double_precision=15).rstrip("\n").split("\n")


def _description(value: str | None, what: str) -> str | None:
    """Text given at registration, trimmed and checked; None when it was not given (the record then says so)."""
    if value is None:
        return None
    text = checked_text(value, what, limit=MAX_DESCRIPTION, required=False)
    if not text:   # given, but blank: a slip, not a choice to leave it out
        raise InvalidInputError(GIVEN_EMPTY.format(what=what))
    return text


def described_training_data(text: str | None) -> str | None:
    """A version's training-data description as people gave it; None when none was (the text registration writes
    by itself names the model file, not the data)."""
    if not isinstance(text, str) or not text.strip() or _REGISTERED_FROM.fullmatch(text.strip()):
        return None
    return text.strip()


def register_model(store: GovernanceStore, *, model: str, version: str, content: bytes, file_name: str,
                   actor: User, evaluation: bytes | None = None, evaluation_name: str | None = None,
                   y_true: str = "y_true", sensitive: Sequence[str] = (), purpose: str | None = None,
                   intended_use: str | None = None, training_data: str | None = None,
                   owner: str | None = None) -> Registration:
    """Check everything first, then write model, version, artifact and evaluation set in one transaction.

    `purpose` and `intended_use` describe the model: they are recorded when it is first registered and, like its
    owner, left as they are when a later version is registered. `training_data` describes this version's data."""
    require(actor, "register model")
    model, version = _name(model, "the model name"), _name(version, "the version")
    purpose = _description(purpose, "purpose")
    intended_use = _description(intended_use, "intended use")
    training_data = _description(training_data, "training data description")
    estimator = check_model_file(content=content, name=file_name)
    features = [str(f) for f in estimator.feature_names_in_]
    rows, metrics = None, {}
    if evaluation is not None:
        frame = _evaluation_frame(content=evaluation, name=evaluation_name or "the evaluation file",
                                  features=features, y_true=y_true, sensitive=list(sensitive))
        try:
            score = np.asarray(estimator.predict_proba(frame[features])[:, 1], dtype=np.float64)
        except Exception as exc:  # the model's own failure on this data, in its words
            raise InvalidInputError(MODEL_FAILED.format(reason=str(exc).split("\n")[0][:200])) from None
        y_pred = (score >= THRESHOLD).astype(np.int8)
        truth = frame[y_true].to_numpy(np.int8)
        metrics = training_metrics(y_true=truth, y_pred=y_pred, score=score) if len(set(truth)) == 2 else {}
        rows = pd.DataFrame({"model": model, "version": version, "row_id": np.arange(len(frame), dtype=np.int32),
                             "features": _json_lines(frame[features]),
                             "sensitive": _json_lines(frame[list(sensitive)]),
                             "y_true": truth, "y_pred": y_pred, "score": score})
    algorithm = " → ".join(type(step).__name__ for _, step in getattr(estimator, "steps", [("", estimator)]))
    file_sha256 = hashlib.sha256(content).hexdigest()
    content = canonical_model_bytes(content)   # skops' object ids and zip times out: one model, one identity
    sha256 = hashlib.sha256(content).hexdigest()
    # A workspace's first record: anchor its still-empty ledger first, so that verify can tell this workspace from
    # one whose ledger and anchor were removed (refresh_anchor leaves an anchor that shows a problem as it is).
    ledger.refresh_anchor(store)
    with store.write() as tx:
        if models.has_version(store, model=model, version=version):
            raise InvalidInputError(ALREADY_REGISTERED.format(model=model, version=version))
        if not models.has_model(store, model=model):
            models.add_model(tx, name=model, purpose=purpose or NOT_GIVEN,
                             intended_use=intended_use or NOT_GIVEN, owner=owner or actor.display_name,
                             risk_tier="high", dataset=evaluation_name, created_at=clock.now_naive())
        models.add_version(tx, model=model, version=version, algorithm=algorithm,
                           training_data=training_data or REGISTERED_FROM.format(file_name=file_name,
                                                                                 actor=actor.recorded_as),
                           created_at=clock.now_naive(), stage="development", training_metrics=metrics)
        models.add_artifact(tx, model=model, version=version, sha256=sha256, content=content)
        if rows is not None:
            models.add_evaluation_rows(tx, rows=rows)
            models.record_evaluation_set(store, tx, model=model, version=version, recorded_at=clock.now_naive())
    return Registration(model, version, sha256, algorithm, tuple(features), 0 if rows is None else len(rows), metrics,
                        file_sha256)
