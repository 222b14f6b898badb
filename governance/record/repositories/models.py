"""The model inventory: models, their versions and stored model files, and each version's held-out evaluation set.

A version's evaluation set is its rows (evaluation_row) and, recorded in the transaction that wrote them, their
content hash (evaluation_set): SHA-256 over one line per row, in row order,
row_id|features|sensitive|y_true|y_pred|score. `verify` recomputes it from the rows (evaluation_content_sha256).

Bulk row reads (a sample of rows to explain, the counts a fairness audit starts from) come back as DataFrames:
they are tables the caller computes on, not records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # `status` reads the inventory without pandas (see inventory.workspace_status)
    import pandas as pd

    from governance.record.store import GovernanceStore, WriteTransaction

_CONTENT_SHA256_SQL = """
    SELECT count(*),
           sha256(coalesce(string_agg(concat_ws('|', row_id, features, sensitive, y_true, y_pred, score), chr(10)
                                      ORDER BY row_id), ''))
    FROM evaluation_row WHERE model = ? AND version = ?"""
# The sensitive attributes an evaluation set carries: the JSON text of their sorted names (DuckDB's to_json).
_ATTRIBUTES_SQL = """
    SELECT to_json(list_sort(list_distinct(flatten(list(json_keys(sensitive))))))::VARCHAR
    FROM evaluation_row WHERE model = ? AND version = ?"""
# Every version with its model's owner and risk tier, its artifact and its telemetry counts, read from a relation
# named version_telemetry (model, version, rows, first_ts, last_ts) that the caller provides.
_VERSIONS_SQL = """
    SELECT v.model, v.version, v.stage, v.algorithm, v.created_at, m.owner, m.risk_tier,
           v.training_metrics, a.sha256 AS artifact_sha256,
           coalesce(t.rows, 0) AS telemetry_rows, t.first_ts, t.last_ts
    FROM model_version v
    JOIN model m ON m.name = v.model
    LEFT JOIN model_artifact a USING (model, version)
    LEFT JOIN version_telemetry t USING (model, version)
    ORDER BY v.model, v.version"""


@dataclass(frozen=True)
class ModelSummary:
    name: str
    owner: str
    risk_tier: str
    purpose: str


@dataclass(frozen=True)
class VersionSummary:
    """A version with its model's owner and risk tier, its model file's hash and its telemetry's extent."""
    model: str
    version: str
    stage: str
    algorithm: str
    created_at: datetime
    owner: str
    risk_tier: str
    training_metrics: str     # JSON text
    artifact_sha256: str | None
    telemetry_rows: int
    first_ts: datetime | None
    last_ts: datetime | None


@dataclass(frozen=True)
class ModelArtifact:
    content: bytes
    sha256: str


@dataclass(frozen=True)
class EvaluationSet:
    model: str
    version: str
    rows: int
    attributes: tuple[str, ...]
    content_sha256: str


# --- models and versions --------------------------------------------------------------------------------------------
def model_count(store: GovernanceStore) -> int:
    return store.query_value("SELECT count(*) FROM model")


def model_names(store: GovernanceStore) -> list[str]:
    return [r[0] for r in store.query_rows("SELECT name FROM model ORDER BY name")]


def has_model(store: GovernanceStore, *, model: str) -> bool:
    return bool(store.query_value("SELECT count(*) FROM model WHERE name = ?", [model]))


def version_names(store: GovernanceStore, *, model: str) -> list[str]:
    return [r[0] for r in store.query_rows("SELECT version FROM model_version WHERE model = ? ORDER BY version",
                                           [model])]


def has_version(store: GovernanceStore, *, model: str, version: str) -> bool:
    return bool(store.query_value("SELECT count(*) FROM model_version WHERE model = ? AND version = ?",
                                  [model, version]))


def training_data(store: GovernanceStore, *, model: str, version: str) -> str | None:
    """The version's training-data description as registration wrote it; None when there is no such version."""
    return store.query_value("SELECT training_data FROM model_version WHERE model = ? AND version = ?",
                             [model, version])


def model_table(store: GovernanceStore) -> pd.DataFrame:
    """Every model's card core, by name: what the Inventory page lists."""
    return store.query("SELECT name, purpose, intended_use, owner, risk_tier, dataset, created_at "
                       "FROM model ORDER BY name")


def model_summaries(store: GovernanceStore) -> list[ModelSummary]:
    return [ModelSummary(*row) for row in store.query_rows(
        "SELECT name, owner, risk_tier, purpose FROM model ORDER BY name")]


def version_table(store: GovernanceStore, *, version_telemetry: pd.DataFrame) -> pd.DataFrame:
    """Every version (_VERSIONS_SQL), its telemetry counts joined from the given frame."""
    return store.query_over(_VERSIONS_SQL, {}, frames={"version_telemetry": version_telemetry})


def version_summaries(store: GovernanceStore, *, version_telemetry_sql: str) -> list[VersionSummary]:
    """Every version (_VERSIONS_SQL), without pandas, its telemetry counts from the given query over the workspace's
    own telemetry (store.analytics: with PostgreSQL, that telemetry is in the lake)."""
    return [VersionSummary(**record) for record in store.analytics.query_records(
        f"WITH version_telemetry AS ({version_telemetry_sql}) {_VERSIONS_SQL}")]


def add_model(tx: WriteTransaction, *, name: str, purpose: str, intended_use: str, owner: str, risk_tier: str,
              dataset: str | None, created_at: datetime | str) -> None:
    tx.execute("INSERT INTO model VALUES (?, ?, ?, ?, ?, ?, ?)",
               [name, purpose, intended_use, owner, risk_tier, dataset, created_at])


def add_version(tx: WriteTransaction, *, model: str, version: str, algorithm: str, training_data: str,
                created_at: datetime | str, stage: str, training_metrics: dict) -> None:
    tx.execute("INSERT INTO model_version VALUES (?, ?, ?, ?, ?, ?, ?)",
               [model, version, algorithm, training_data, created_at, stage, json.dumps(training_metrics)])


# --- model files ----------------------------------------------------------------------------------------------------
def add_artifact(tx: WriteTransaction, *, model: str, version: str, sha256: str, content: bytes) -> None:
    """A version's model file, in skops' canonical form (model_artifacts.canonical_model_bytes)."""
    tx.execute("INSERT INTO model_artifact VALUES (?, ?, 'skops', ?, ?)", [model, version, sha256, content])


def artifact(store: GovernanceStore, *, model: str, version: str) -> ModelArtifact | None:
    row = store.query_rows("SELECT content, sha256 FROM model_artifact WHERE model = ? AND version = ?",
                           [model, version])
    return ModelArtifact(*row[0]) if row else None


def artifact_sha256(store: GovernanceStore, *, model: str, version: str) -> str | None:
    return store.query_value("SELECT sha256 FROM model_artifact WHERE model = ? AND version = ?", [model, version])


# --- evaluation sets ------------------------------------------------------------------------------------------------
def add_evaluation_rows(tx: WriteTransaction, *, rows: pd.DataFrame) -> None:
    """Rows of evaluation_row (model, version, row_id, features, sensitive, y_true, y_pred, score); seal the set
    with record_evaluation_set in the same transaction."""
    tx.insert_frame("evaluation_row", rows)


def record_evaluation_set(store: GovernanceStore, tx: WriteTransaction, *, model: str, version: str,
                          recorded_at: datetime) -> None:
    """Inside the transaction that wrote the rows (`store` reads them, as that write sees them): hash them and note
    which sensitive attributes they carry. The hash and the attributes' JSON text are DuckDB's (store.analytics),
    so that a set sealed on either engine has the very hash `verify` recomputes, and old workspaces keep theirs."""
    rows, digest = store.analytics.query_rows(_CONTENT_SHA256_SQL, [model, version])[0]
    attributes = store.analytics.query_value(_ATTRIBUTES_SQL, [model, version])
    tx.execute("INSERT INTO evaluation_set (model, version, rows, attributes, content_sha256, recorded_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", [model, version, rows, attributes, digest, recorded_at])


def evaluation_set(store: GovernanceStore, *, model: str, version: str) -> EvaluationSet | None:
    """The set's recorded size, attributes and content hash; None when none was recorded (see evaluation_row_count)."""
    row = store.query_rows(
        "SELECT rows, attributes, content_sha256 FROM evaluation_set WHERE model = ? AND version = ?", [model, version])
    if not row:
        return None
    rows, attributes, digest = row[0]
    return EvaluationSet(model, version, int(rows), tuple(json.loads(attributes)), digest)


def evaluation_row_count(store: GovernanceStore, *, model: str, version: str) -> int:
    return store.query_value("SELECT count(*) FROM evaluation_row WHERE model = ? AND version = ?", [model, version])


def evaluation_content_sha256(store: GovernanceStore, *, model: str, version: str) -> str:
    """The content hash recomputed from the stored rows, as record_evaluation_set records it."""
    return store.analytics.query_rows(_CONTENT_SHA256_SQL, [model, version])[0][1]


def evaluation_rows(store: GovernanceStore, *, model: str, version: str, limit: int | None = None, seed: int = 0,
                    row_ids: list[int] | None = None) -> pd.DataFrame:
    """row_id, y_true, y_pred, score and the features and sensitive attributes as JSON text, by row_id (a sample:
    in its own order).

    `limit` takes a seeded random subset in DuckDB (by hash(row_id, seed), so the same rows on either engine), so a
    million-row set is never read whole; `row_ids` picks rows by id."""
    where, params = "model = ? AND version = ?", [model, version]
    if row_ids is not None:
        where += " AND row_id IN (SELECT unnest(?))"
        params.append([int(r) for r in row_ids])
    sql = f"SELECT row_id, y_true, y_pred, score, features, sensitive FROM evaluation_row WHERE {where} "
    if limit is None:
        return store.query(sql + "ORDER BY row_id", params)
    # in the sample's own order (by hash), as it always came: explanations computed on it stay the same
    return store.analytics.query(sql + "ORDER BY hash(row_id, ?), row_id LIMIT ?", params + [seed, int(limit)])


def evaluation_cells(store: GovernanceStore, *, model: str, version: str, bins: int,
                     score_units: int) -> pd.DataFrame:
    """Counts of the rows by sensitive attributes' JSON text, outcome, prediction and score bin (of `bins`), with
    each cell's scores summed as whole units of 1/score_units. Grouping by the whole JSON text first is ~5x faster
    than extracting each attribute per row. Run by DuckDB (store.analytics): its round() and sums make the counts
    a fairness audit's evidence hash is over."""
    return store.analytics.query(f"""
            SELECT sensitive, y_true, y_pred, {'greatest(0, least(floor(score * ?), ? - 1))::INTEGER' if bins > 1 else '0'} AS bin,
                   count(*) AS n, sum(round(score * {int(score_units)})::BIGINT) AS score_units
            FROM evaluation_row WHERE model = ? AND version = ? GROUP BY ALL""",
                       ([bins, bins] if bins > 1 else []) + [model, version])


def evaluation_outcomes(store: GovernanceStore, *, model: str, version: str) -> pd.DataFrame:
    """y_true, y_pred, score and the sensitive attributes' JSON text of every row, by row_id."""
    return store.query("SELECT y_true, y_pred, score, sensitive FROM evaluation_row WHERE model = ? AND version = ? "
                       "ORDER BY row_id", [model, version])


def average_score(store: GovernanceStore, *, model: str, version: str) -> float | None:
    """By DuckDB (store.analytics): a mean of doubles summed in another order could differ in its last digit."""
    return store.analytics.query_value("SELECT avg(score) FROM evaluation_row WHERE model = ? AND version = ?",
                             [model, version])


def closest_below(store: GovernanceStore, *, model: str, version: str, threshold: float) -> int | None:
    """The row whose score came closest to `threshold` from below (the lowest row_id of a tie), or None."""
    return store.query_value("SELECT row_id FROM evaluation_row WHERE model = ? AND version = ? AND score < ? "
                             "ORDER BY score DESC, row_id LIMIT 1", [model, version, threshold])
