"""Held-out evaluation sets of model versions, and the content hash that evidence names them by.

The hash is SHA-256 over one line per row, in row order: row_id|features|sensitive|y_true|y_pred|score.
It is recorded when the set is written (models.record_evaluation_set); `verify` recomputes it from the rows.
"""

from __future__ import annotations

from governance.errors import InvalidInputError
from governance.monitoring.inventory import require_model
from governance.record import clock
from governance.record.repositories import models
from governance.record.repositories.models import EvaluationSet
from governance.record.store import GovernanceStore

NO_EVALUATION_SET = ("model {model!r} version {version!r} has no stored evaluation set: register one with the "
                     "model, or audit a file instead")


def evaluation_set(store: GovernanceStore, *, model: str, version: str) -> EvaluationSet:
    require_model(store, model=model, version=version)
    found = models.evaluation_set(store, model=model, version=version)
    if found is None:
        if not models.evaluation_row_count(store, model=model, version=version):
            raise InvalidInputError(NO_EVALUATION_SET.format(model=model, version=version))
        with store.write() as tx:  # a workspace written before sets were hashed: hash it once, now
            models.record_evaluation_set(store, tx, model=model, version=version, recorded_at=clock.now_naive())
        return evaluation_set(store, model=model, version=version)
    return found

