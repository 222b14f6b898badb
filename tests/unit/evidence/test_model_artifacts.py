"""Model files load only through skops with an allow-list; pickle-style payloads are refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from governance.demo.datasets import load_german
from governance.evidence.model_artifacts import (UnsafeModelError, canonical_model_bytes, dump_model, load_model,
                                                 model_identity)

ROOT = Path(__file__).resolve().parents[3]


class Gadget:
    """A type nobody trusted: loading it would run this class's code."""

    def __init__(self):
        self.payload = "would run on load"


def test_round_trip_keeps_predictions():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    content, sha256 = dump_model(model)
    assert len(sha256) == 64
    assert np.array_equal(load_model(content).predict(x), model.predict(x))


def test_unknown_types_are_refused_by_name():
    content = sio.dumps({"model": Gadget()})
    with pytest.raises(UnsafeModelError, match="Gadget"):
        load_model(content)


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95 pickle bytes", b"PK\x03\x04 not really a zip"])
def test_non_skops_bytes_are_refused(content):
    with pytest.raises(UnsafeModelError, match="not a skops file"):
        load_model(content)


def test_a_raw_pickle_inside_a_zip_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", '{"__class__": "function", "__module__": "os", "__loader__": "ObjectNode"}')
    with pytest.raises(UnsafeModelError):
        load_model(buffer.getvalue())


# --- identity: the same fitted model, the same hash --------------------------------------------------------------
SAVE_GERMAN_MODELS = """
import hashlib, json, sys
import skops.io as sio
from governance.demo.datasets import GERMAN_CATEGORICAL, GERMAN_NUMERIC, load_german
from governance.demo import DEFAULT_SEED, GERMAN, _stratified_split
from governance.evidence.model_artifacts import dump_model, model_identity
from governance.demo.training import train
train_frame, test_frame = _stratified_split(load_german(), test_size=300, seed=DEFAULT_SEED)
out = {}
for v in GERMAN.versions:   # the demo's own training step for german-credit, as init --demo runs it
    trained = train(kind=v.kind, train_frame=train_frame, numeric=GERMAN_NUMERIC, categorical=GERMAN_CATEGORICAL,
                    evaluation=test_frame, seed=DEFAULT_SEED)
    content, sha256 = dump_model(trained.estimator)
    raw = sio.dumps(trained.estimator)
    out[v.version] = {"dump": sha256, "file": hashlib.sha256(content).hexdigest(),
                      "identity_of_raw": model_identity(raw)}
print(json.dumps(out))
"""


def _in_subprocess(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_demo_training_step_gives_the_same_model_hashes_in_two_processes():
    first, second = (_in_subprocess(SAVE_GERMAN_MODELS) for _ in range(2))
    assert first == second
    for hashes in first.values():   # the stored file's sha256 is the identity, however the model was saved
        assert hashes["dump"] == hashes["file"] == hashes["identity_of_raw"]


def _pipeline():
    frame = load_german()
    columns = ["duration_months", "credit_amount", "age", "purpose", "housing"]
    encode = ColumnTransformer([("numeric", StandardScaler(), columns[:3]),
                                ("categorical", OneHotEncoder(handle_unknown="ignore"), columns[3:])])
    return Pipeline([("encode", encode), ("classify", LogisticRegression(max_iter=1000))]), frame[columns], \
        frame["target"]


def test_two_saves_of_equal_models_differ_as_skops_files_but_share_one_identity():
    model, x, y = _pipeline()
    first, second = clone(model).fit(x, y), clone(model).fit(x, y)
    raw_first, raw_second = sio.dumps(first), sio.dumps(second)
    # both alive at once, so their object ids differ: skops' own files cannot be equal
    assert hashlib.sha256(raw_first).digest() != hashlib.sha256(raw_second).digest()
    assert model_identity(raw_first) == model_identity(raw_second) == dump_model(first)[1] == dump_model(second)[1]
    canonical = canonical_model_bytes(raw_first)
    assert canonical_model_bytes(canonical) == canonical                      # a fixed point
    np.testing.assert_array_equal(load_model(canonical).predict_proba(x), first.predict_proba(x))
    names = zipfile.ZipFile(io.BytesIO(canonical)).namelist()
    assert names[-1] == "schema.json" and all(n.split(".")[0].isdigit() for n in names[:-1])


def test_a_different_model_gets_a_different_identity():
    model, x, y = _pipeline()
    fitted = clone(model).fit(x, y)
    other = clone(model).set_params(classify__C=0.5).fit(x, y)
    assert model_identity(sio.dumps(fitted)) != model_identity(sio.dumps(other))
