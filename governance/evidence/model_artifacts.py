"""Model files in and out of a workspace through skops, with an allow-list instead of pickle.

skops refuses any type it does not know to be safe; we additionally trust the few scikit-learn internals
that our own model kinds need. A file asking for anything else is refused with the list of types, so a
model uploaded by someone else can never run code on load.

A model's identity is the sha256 of its canonical file. skops names each stored object after its Python
object id (`id()`), both in schema.json (`__id__`) and in the archive's member names (`140253474268976.npy`),
and stamps every member with the time of writing, so the same fitted model saved twice gave two files and two
hashes. `canonical_model_bytes` renumbers the ids in the order schema.json first names them, renames the members
to match, and writes the archive with fixed timestamps and order: the same fitted model then always gives the
same bytes, in any process. Quorum stores that canonical file, so `sha256(content)` of a stored model is its
identity hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from governance.errors import GovernanceError

ALLOWED_EXTRA_TYPES = frozenset({
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
})

UNSAFE_MODEL = ("the model file asks to load types Quorum does not trust: {types}. "
                "Export it with skops from a scikit-learn model built of standard estimators")
NOT_A_MODEL = "the model file is not a skops file ({reason}): save the model with skops.io.dump"


class UnsafeModelError(GovernanceError):
    pass


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)   # the earliest time a zip header can hold: no member carries the time of saving
SCHEMA = "schema.json"


def dump_model(estimator) -> tuple[bytes, str]:
    """The canonical skops bytes of an estimator and their sha256, the identity that evidence records name."""
    import skops.io as sio   # skops imports scikit-learn: paid by what writes or loads a model, not by its importers

    content = canonical_model_bytes(sio.dumps(estimator))
    return content, hashlib.sha256(content).hexdigest()


def model_identity(content: bytes) -> str:
    """The identity hash of a skops file: the sha256 of its canonical form (equal for equal fitted models)."""
    return hashlib.sha256(canonical_model_bytes(content)).hexdigest()


def canonical_model_bytes(content: bytes) -> bytes:
    """The same skops file with object ids renumbered 0, 1, 2... in schema order and fixed zip metadata.

    Loading it gives the same estimator: skops uses the ids only to match references to one object.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        schema = json.loads(archive.read(SCHEMA))
    except Exception as exc:  # not a zip, or no readable schema: the loader will refuse it by name
        raise UnsafeModelError(NOT_A_MODEL.format(reason=type(exc).__name__)) from None
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def renumber(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    value = ids.setdefault(value, len(ids))
                elif key == "file" and isinstance(value, str) and value in archive.namelist():
                    suffix = value[value.rfind("."):] if "." in value else ""
                    value = files.setdefault(value, f"{len(files)}{suffix}")
                else:
                    value = renumber(value)
                out[key] = value
            return out
        if isinstance(node, list):
            return [renumber(item) for item in node]
        return node

    schema = renumber(schema)
    # members the schema does not name (none in skops 0.16) keep their names, after the renamed ones
    extra = sorted(n for n in archive.namelist() if n not in files and n != SCHEMA)
    names = [(old, new) for old, new in sorted(files.items(), key=lambda item: int(item[1].split(".")[0]))]
    names += [(n, n) for n in extra]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as canonical:
        for old, new in names:
            canonical.writestr(_member(new, archive.getinfo(old).compress_type), archive.read(old))
        canonical.writestr(_member(SCHEMA, archive.getinfo(SCHEMA).compress_type),
                           json.dumps(schema, indent=2).encode("utf-8"))
    return out.getvalue()


def _member(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = compression
    info.external_attr = 0o600 << 16
    info.create_system = 3   # unix, whatever the host: the header's "made by" byte is part of the bytes
    return info


def load_model(content: bytes):
    """Load skops bytes, refusing any type outside skops' defaults and our allow-list."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=content)
    except Exception as exc:  # skops raises several types for a damaged or foreign file
        raise UnsafeModelError(NOT_A_MODEL.format(reason=type(exc).__name__)) from None
    refused = sorted(set(untrusted) - ALLOWED_EXTRA_TYPES)
    if refused:
        raise UnsafeModelError(UNSAFE_MODEL.format(types=", ".join(refused)))
    return sio.loads(content, trusted=list(untrusted))
