"""Registering a model version: a real skops model and evaluation file land whole; every refusal is one clear message
and leaves the workspace exactly as it was."""

from __future__ import annotations

import hashlib
import pickle
import re

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

from governance.demo.datasets import load_german
from governance.errors import GovernanceError, InvalidInputError
from governance.evidence import explanations, model_registry
from governance.evidence.evaluation_sets import NO_EVALUATION_SET, evaluation_set
from governance.evidence.model_artifacts import UNSAFE_MODEL, model_identity
from governance.evidence.model_registry import (ALREADY_REGISTERED, BAD_NAME, EMPTY_FILE, EVALUATION_COLUMNS,
                                                EVALUATION_LABELS, EVALUATION_NOT_FINITE, MAX_MODEL_BYTES, MODEL_FAILED,
                                                NOT_SKOPS, NO_FEATURE_NAMES, NO_PROBABILITIES, PICKLE_REFUSED,
                                                TOO_LARGE, register_model)
from governance.record.repositories import models
from governance.record.repositories.models import evaluation_content_sha256
from governance.record.store import GovernanceStore
from tests.conftest import LEADER

NUMERIC = ["duration_months", "credit_amount", "age"]
CATEGORICAL = ["checking_status", "purpose", "savings"]
FEATURES = NUMERIC + CATEGORICAL
TABLES = ("model", "model_version", "model_artifact", "evaluation_row", "evaluation_set")


class Gadget:
    """A type nobody trusted: loading it would run this class's code."""

    def __init__(self):
        self.payload = "would run on load"


def _pipeline(classifier) -> Pipeline:
    return Pipeline([("encode", ColumnTransformer([
        ("numeric", StandardScaler(), NUMERIC),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL)])),
        ("classify", classifier)])


@pytest.fixture(scope="module")
def german():
    """A small credit model trained on 700 German credit applicants; the other 300 are its evaluation file."""
    frame = load_german()
    train, held_out = frame.iloc[:700], frame.iloc[700:].reset_index(drop=True)
    model = _pipeline(LogisticRegression(max_iter=1000)).fit(train[FEATURES], train["target"])
    evaluation = held_out[FEATURES].assign(y_true=held_out["target"], sex=held_out["sex"],
                                           age_band=held_out["age_band"])
    return {"model": model, "content": sio.dumps(model), "train": train, "evaluation": evaluation}


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _counts(store: GovernanceStore) -> dict[str, int]:
    return {t: store.query_value(f"SELECT count(*) FROM {t}") for t in TABLES}


def _register(store, german, **changes):
    arguments = dict(model="credit", version="v1", content=german["content"], file_name="model.skops",
                     actor=LEADER, evaluation=_csv(german["evaluation"]), evaluation_name="eval.csv",
                     sensitive=["sex", "age_band"])
    return register_model(store, **{**arguments, **changes})


@pytest.fixture
def store(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as opened:
        yield opened


def test_a_skops_model_and_its_evaluation_file_register_whole_and_can_be_explained(store, german):
    result = _register(store, german)
    evaluation = german["evaluation"]
    assert result.as_dict() == {
        "model": "credit", "version": "v1", "artifact_sha256": model_identity(german["content"]),
        "algorithm": "ColumnTransformer → LogisticRegression", "features": FEATURES, "evaluation_rows": 300,
        "metrics": result.metrics, "file_sha256": hashlib.sha256(german["content"]).hexdigest()}
    assert _counts(store) == {"model": 1, "model_version": 1, "model_artifact": 1, "evaluation_row": 300,
                              "evaluation_set": 1}

    score = german["model"].predict_proba(evaluation[FEATURES])[:, 1]
    rows = store.query("SELECT row_id, y_true, y_pred, score FROM evaluation_row ORDER BY row_id")
    np.testing.assert_allclose(rows["score"], score, rtol=0, atol=1e-12)
    assert rows["y_pred"].tolist() == (score >= 0.5).astype(int).tolist()
    assert rows["y_true"].tolist() == evaluation["y_true"].tolist()
    assert result.metrics["accuracy"] == round(accuracy_score(evaluation["y_true"], score >= 0.5), 4)
    assert result.metrics["roc_auc"] == round(roc_auc_score(evaluation["y_true"], score), 4)

    recorded = evaluation_set(store, model="credit", version="v1")
    assert (recorded.rows, recorded.attributes) == (300, ("age_band", "sex"))
    assert recorded.content_sha256 == evaluation_content_sha256(store, model="credit", version="v1")
    assert len(recorded.content_sha256) == 64
    stored = store.query_value("SELECT content FROM model_artifact WHERE model = 'credit' AND version = 'v1'")
    assert hashlib.sha256(stored).hexdigest() == result.artifact_sha256

    summary = explanations.explain_version(store, model="credit", version="v1", rows=300, actor=LEADER)
    assert (summary["explainer"], summary["output_units"], summary["rows_explained"]) == ("linear", "log_odds", 300)
    assert summary["additivity_max_error"] < 1e-6 and summary["data_sha256"] == recorded.content_sha256
    assert {g["feature"] for g in summary["global"]} == set(FEATURES)
    assert {c["attribute"] for c in summary["cohorts"]} == {"sex", "age_band"}
    local = explanations.explain_row(store, model="credit", version="v1", row_id=5)
    assert local["probability"] == pytest.approx(score[5], abs=1e-9) and local["additivity_error"] < 1e-6


def test_a_model_without_evaluation_rows_registers_but_is_not_explained(store, german):
    result = _register(store, german, evaluation=None, evaluation_name=None)
    assert result.evaluation_rows == 0 and result.metrics == {}
    assert _counts(store) == {"model": 1, "model_version": 1, "model_artifact": 1, "evaluation_row": 0,
                              "evaluation_set": 0}
    with pytest.raises(InvalidInputError, match="has no stored evaluation set"):
        explanations.explain_version(store, model="credit", version="v1", rows=100, actor=LEADER)
    assert NO_EVALUATION_SET.format(model="credit", version="v1").startswith("model 'credit' version 'v1'")


def _pickled(german, **_):
    return pickle.dumps(german["model"])


def _joblib(german, tmp_path, compress=0):
    path = tmp_path / "dumped.joblib"
    joblib.dump(german["model"], path, compress=compress)
    return path.read_bytes()


def _fitted_without_names(german, **_):
    train = german["train"]
    return sio.dumps(LogisticRegression().fit(train[NUMERIC].to_numpy(), train["target"]))


def _no_probabilities(german, **_):
    train = german["train"]
    return sio.dumps(_pipeline(LinearSVC()).fit(train[FEATURES], train["target"]))


MODEL_FILES = {
    "pickle named .pkl": (_pickled, "model.pkl", PICKLE_REFUSED.format(name="model.pkl")),
    "pickle named .skops": (_pickled, "model.skops", PICKLE_REFUSED.format(name="model.skops")),
    "joblib file": (_joblib, "model.joblib", PICKLE_REFUSED.format(name="model.joblib")),
    "compressed joblib named .skops": (lambda german, tmp_path: _joblib(german, tmp_path, compress=3), "model.skops",
                                       PICKLE_REFUSED.format(name="model.skops")),
    "gzipped joblib named .skops": (lambda german, tmp_path: _joblib(german, tmp_path, compress=("gzip", 3)),
                                    "m.skops", PICKLE_REFUSED.format(name="m.skops")),
    "unlisted type": (lambda german, **_: sio.dumps(Gadget()), "model.skops",
                      UNSAFE_MODEL.format(types=f"{Gadget.__module__}.{Gadget.__qualname__}")),
    "no predict_proba": (_no_probabilities, "svm.skops", NO_PROBABILITIES.format(name="svm.skops")),
    "fitted on a numpy array": (_fitted_without_names, "model.skops", NO_FEATURE_NAMES.format(name="model.skops")),
    "not a zip": (lambda german, **_: b"just some text\n", "model.skops", NOT_SKOPS.format(name="model.skops")),
    "empty": (lambda german, **_: b"", "model.skops", EMPTY_FILE.format(name="model.skops")),
}


@pytest.mark.parametrize("case", MODEL_FILES)
def test_unsafe_or_unusable_model_files_are_refused_and_nothing_is_written(store, german, tmp_path, case):
    make, name, message = MODEL_FILES[case]
    _register(store, german)
    before = _counts(store)
    with pytest.raises(GovernanceError) as refused:
        _register(store, german, model="other", version="v2", content=make(german, tmp_path=tmp_path),
                  file_name=name)
    assert str(refused.value) == message
    assert _counts(store) == before


def test_the_unlisted_type_is_refused_even_inside_a_pipeline(store, german):
    content = sio.dumps(Pipeline([("spy", Gadget()), ("classify", LogisticRegression())]))
    with pytest.raises(GovernanceError, match="Gadget"):
        _register(store, german, content=content)
    assert _counts(store) == dict.fromkeys(TABLES, 0)


def _without_column(e):
    return e.drop(columns=["credit_amount"])


def _with_nan(e):
    e = e.copy()
    e.loc[[4, 9], "age"] = np.nan
    return e


def _with_blank_category(e):
    e = e.copy()
    e.loc[2, "purpose"] = None
    return e


def _with_inf(e):
    e = e.astype({"credit_amount": float})
    e.loc[7, "credit_amount"] = np.inf
    return e


def _with_labels(e):
    return e.assign(y_true=e["y_true"] + 1)


def _with_text(e):
    e = e.astype({"age": object})
    e.loc[0, "age"] = "forty"
    return e


EVALUATION_FILES = {
    "missing input column": (_without_column, EVALUATION_COLUMNS.format(
        name="eval.csv", missing="credit_amount", expected=", ".join(FEATURES))),
    "NaN in a numeric input": (_with_nan, EVALUATION_NOT_FINITE.format(column="age", name="eval.csv", count=2,
                                                                      first=5)),
    "blank category": (_with_blank_category, EVALUATION_NOT_FINITE.format(column="purpose", name="eval.csv",
                                                                          count=1, first=3)),
    "inf in a numeric input": (_with_inf, EVALUATION_NOT_FINITE.format(column="credit_amount", name="eval.csv",
                                                                       count=1, first=8)),
    "labels not 0/1": (_with_labels, EVALUATION_LABELS.format(column="y_true", name="eval.csv", found="1, 2")),
    "text where the model wants numbers": (_with_text, None),
}


@pytest.mark.parametrize("case", EVALUATION_FILES)
def test_bad_evaluation_files_are_refused_and_nothing_is_written(store, german, case):
    change, message = EVALUATION_FILES[case]
    _register(store, german)
    before = _counts(store)
    with pytest.raises(InvalidInputError) as refused:
        _register(store, german, version="v2", evaluation=_csv(change(german["evaluation"])))
    if message is None:   # the model's own words about the data, inside ours
        assert str(refused.value).startswith(MODEL_FAILED.split("{reason}")[0])
        assert "check that the columns hold the types the model was trained on" in str(refused.value)
    else:
        assert str(refused.value) == message
    assert _counts(store) == before


def test_a_missing_sensitive_column_and_an_unreadable_file_are_refused(store, german):
    with pytest.raises(InvalidInputError) as refused:
        _register(store, german, sensitive=["sex", "race"])
    assert str(refused.value) == EVALUATION_COLUMNS.format(name="eval.csv", missing="race",
                                                          expected=", ".join(FEATURES))
    for junk in (b'a,b\n"never closed,1\n', b"\xff\xfe\x00a\x00,\x00b"):
        with pytest.raises(InvalidInputError, match=r"^cannot read eval\.csv as CSV \("):
            _register(store, german, evaluation=junk)
    assert _counts(store) == dict.fromkeys(TABLES, 0)


def test_a_model_file_over_the_limit_is_refused_before_it_is_read(store, german):
    content = b"PK" + bytes(MAX_MODEL_BYTES - 1)      # one byte over 200 MB, a zip signature in front
    with pytest.raises(InvalidInputError) as refused:
        _register(store, german, content=content, file_name="huge.skops")
    assert str(refused.value) == TOO_LARGE.format(name="huge.skops", size=len(content) / 2**20,
                                                  limit=MAX_MODEL_BYTES / 2**20, what="a model file",
                                                  advice="is this really a single model?")
    assert "huge.skops is 200 MB, over the 200 MB limit" in str(refused.value)
    assert _counts(store) == dict.fromkeys(TABLES, 0)


def test_an_evaluation_file_over_the_limit_is_refused(store, german, monkeypatch):
    """The real limit is 500 MB; the check is the same at 10 kB."""
    monkeypatch.setattr(model_registry, "MAX_EVALUATION_BYTES", 10_000)
    content = _csv(german["evaluation"])
    assert len(content) > 10_000
    with pytest.raises(InvalidInputError, match=r"^eval\.csv is 0 MB, over the 0 MB limit for an evaluation file"):
        _register(store, german, evaluation=content)
    assert _counts(store) == dict.fromkeys(TABLES, 0)


def test_a_registered_version_is_immutable(store, german):
    _register(store, german)
    before = _counts(store)
    sha = store.query_value("SELECT sha256 FROM model_artifact")
    other = german["evaluation"].iloc[:50]
    with pytest.raises(InvalidInputError) as refused:
        _register(store, german, evaluation=_csv(other))
    assert str(refused.value) == ALREADY_REGISTERED.format(model="credit", version="v1")
    assert _counts(store) == before and store.query_value("SELECT sha256 FROM model_artifact") == sha
    _register(store, german, version="v2")       # a new version of the same model is welcome
    assert _counts(store)["model"] == 1 and _counts(store)["model_version"] == 2


def test_the_descriptions_given_are_checked_and_the_models_stay_as_first_registered(store, german):
    for changes, message in (({"purpose": " "}, model_registry.GIVEN_EMPTY.format(what="purpose")),
                             ({"intended_use": ""}, model_registry.GIVEN_EMPTY.format(what="intended use")),
                             ({"training_data": "rows\x00"}, "training data description contains control characters"),
                             ({"intended_use": "u" * (model_registry.MAX_DESCRIPTION + 1)}, "the limit is 5,000")):
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            _register(store, german, **changes)
    assert _counts(store) == dict.fromkeys(TABLES, 0)
    _register(store, german, purpose="Score loans.", intended_use="Officers decide.", training_data="700 applicants")
    _register(store, german, version="v2", purpose="other", intended_use="other")   # the model's: unchanged
    assert store.query_rows("SELECT purpose, intended_use FROM model") == [("Score loans.", "Officers decide.")]
    described = {v: model_registry.described_training_data(
        models.training_data(store, model="credit", version=v)) for v in ("v1", "v2", "v3")}
    assert described == {"v1": "700 applicants", "v2": None, "v3": None}   # v2: only the file it came from
    assert models.training_data(store, model="credit", version="v2") == model_registry.REGISTERED_FROM.format(
        file_name="model.skops", actor=LEADER.recorded_as)


@pytest.mark.parametrize("field,value", [("model", "credit model"), ("model", ""), ("version", "v1/../x"),
                                         ("version", "v" * 65), ("model", "../../etc")])
def test_bad_names_are_refused(store, german, field, value):
    with pytest.raises(InvalidInputError) as refused:
        _register(store, german, **{field: value})
    what = "the model name" if field == "model" else "the version"
    assert str(refused.value) == BAD_NAME.format(what=what, value=value)
    assert _counts(store) == dict.fromkeys(TABLES, 0)



def test_a_new_workspace_with_its_first_model_registered_verifies_intact_and_without_its_anchor_does_not(store,
                                                                                                         german):
    from governance.record import hash_chain, verification

    _register(store, german)    # no ledger entry yet: the registration anchors the empty ledger before its write
    assert verification.verify(store)["ok"], verification.verify(store)["problem"]
    hash_chain.anchor_path(store).unlink()
    result = verification.verify(store)
    assert not result["ok"] and result["problem"].startswith("the chains are empty and the anchor file")
