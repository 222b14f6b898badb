"""Model files in and out of a workspace through skops, with an allow-list instead of pickle.

skops refuses any type it does not know to be safe; we additionally trust the few scikit-learn internals
that our own model kinds need. A file asking for anything else is refused with the list of types, so a
model uploaded by someone else can never run code on load.
"""

from __future__ import annotations

import hashlib

import skops.io as sio

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


def dump_model(estimator) -> tuple[bytes, str]:
    """The skops bytes of an estimator and their sha256, which evidence records name."""
    content = sio.dumps(estimator)
    return content, hashlib.sha256(content).hexdigest()


def load_model(content: bytes):
    """Load skops bytes, refusing any type outside skops' defaults and our allow-list."""
    try:
        untrusted = sio.get_untrusted_types(data=content)
    except Exception as exc:  # skops raises several types for a damaged or foreign file
        raise UnsafeModelError(NOT_A_MODEL.format(reason=type(exc).__name__)) from None
    refused = sorted(set(untrusted) - ALLOWED_EXTRA_TYPES)
    if refused:
        raise UnsafeModelError(UNSAFE_MODEL.format(types=", ".join(refused)))
    return sio.loads(content, trusted=list(untrusted))
