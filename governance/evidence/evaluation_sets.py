"""Held-out evaluation sets of model versions, and the content hash that evidence names them by.

The hash is SHA-256 over one line per row, in row order: row_id|features|sensitive|y_true|y_pred|score.
It is recorded when the set is written; `verify` recomputes it from the rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from governance.record import clock
from governance.errors import InvalidInputError
from governance.monitoring.inventory import require_model
from governance.record.store import GovernanceStore

CONTENT_SHA256_SQL = """
    SELECT count(*),
           sha256(coalesce(string_agg(concat_ws('|', row_id, features, sensitive, y_true, y_pred, score), chr(10)
                                      ORDER BY row_id), ''))
    FROM evaluation_row WHERE model = ? AND version = ?"""
NO_EVALUATION_SET = ("model {model!r} version {version!r} has no stored evaluation set: register one with the "
                     "model, or audit a file instead")


@dataclass(frozen=True)
class EvaluationSet:
    model: str
    version: str
    rows: int
    attributes: tuple[str, ...]
    content_sha256: str


def record_evaluation_set(tx, *, model: str, version: str) -> None:
    """Inside the transaction that wrote the rows: hash them and note which sensitive attributes they carry."""
    tx.execute(f"""
        INSERT INTO evaluation_set
        SELECT ?, ?, h.n, a.attributes, h.digest, ?
        FROM ({CONTENT_SHA256_SQL}) h(n, digest),
             (SELECT to_json(list_sort(list_distinct(flatten(list(json_keys(sensitive))))))::VARCHAR AS attributes
              FROM evaluation_row WHERE model = ? AND version = ?) a""",
               [model, version, clock.now_naive(), model, version, model, version])


def evaluation_set(store: GovernanceStore, *, model: str, version: str) -> EvaluationSet:
    require_model(store, model=model, version=version)
    row = store.query_rows("SELECT rows, attributes, content_sha256 FROM evaluation_set WHERE model = ? AND version = ?",
                           [model, version])
    if not row:
        if not store.query_value("SELECT count(*) FROM evaluation_row WHERE model = ? AND version = ?",
                                 [model, version]):
            raise InvalidInputError(NO_EVALUATION_SET.format(model=model, version=version))
        with store.write() as tx:  # a workspace written before sets were hashed: hash it once, now
            record_evaluation_set(tx, model=model, version=version)
        return evaluation_set(store, model=model, version=version)
    rows, attributes, digest = row[0]
    return EvaluationSet(model, version, int(rows), tuple(json.loads(attributes)), digest)


def recompute_content_sha256(store: GovernanceStore, *, model: str, version: str) -> str:
    return store.query_rows(CONTENT_SHA256_SQL, [model, version])[0][1]
