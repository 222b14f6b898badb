"""Model files load only through skops with an allow-list; pickle-style payloads are refused."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance.model_artifacts import UnsafeModelError, dump_model, load_model


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
