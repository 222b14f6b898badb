"""The model inventory (model card core) and the workspace's own vital signs."""

from __future__ import annotations

import json

import pandas as pd

from governance.errors import InvalidInputError
from governance.store import GovernanceStore

STAGES = ("development", "validation", "staging", "production", "retired")


def list_models(store: GovernanceStore) -> pd.DataFrame:
    return store.query("SELECT name, purpose, intended_use, owner, risk_tier, dataset, created_at "
                       "FROM model ORDER BY name")


def list_versions(store: GovernanceStore) -> pd.DataFrame:
    """Every version with its stage, algorithm, training metrics and how much telemetry it has."""
    from governance import telemetry_sources   # it reads the inventory too
    from governance.telemetry_sql import VERSION_TELEMETRY_SQL

    counts = telemetry_sources.across_models(store, VERSION_TELEMETRY_SQL)   # from wherever each model is read
    frame = store.query_over("""
        SELECT v.model, v.version, v.stage, v.algorithm, v.created_at, m.owner, m.risk_tier,
               v.training_metrics, a.sha256 AS artifact_sha256,
               coalesce(t.rows, 0) AS telemetry_rows, t.first_ts, t.last_ts
        FROM model_version v
        JOIN model m ON m.name = v.model
        LEFT JOIN model_artifact a USING (model, version)
        LEFT JOIN version_telemetry t USING (model, version)
        ORDER BY v.model, v.version""", {}, frames={"version_telemetry": counts})
    frame["training_metrics"] = frame["training_metrics"].map(json.loads)
    return frame


def workspace_status(store: GovernanceStore) -> dict:
    """What `status` reports: schema and data versions, table sizes, models and their versions."""
    versions = list_versions(store)
    models = []
    for row in list_models(store).itertuples(index=False):
        mine = versions[versions["model"] == row.name]
        models.append({
            "name": row.name, "owner": row.owner, "risk_tier": row.risk_tier, "purpose": row.purpose,
            "versions": [{
                "version": v.version, "stage": v.stage, "algorithm": v.algorithm,
                "created_at": v.created_at.isoformat(), "training_metrics": v.training_metrics,
                "artifact_sha256": v.artifact_sha256, "telemetry_rows": int(v.telemetry_rows),
            } for v in mine.itertuples(index=False)],
        })
    return {
        "workspace": str(store.path),
        "schema_version": store.schema_version(),
        "data_version": store.data_version(),
        "tables": store.table_row_counts(),
        "models": models,
    }


UNKNOWN_MODEL = "there is no model named {model!r} in this workspace; models: {known}"
UNKNOWN_VERSION = "model {model!r} has no version {version!r}; versions: {known}"


def require_model(store: GovernanceStore, *, model: str, version: str | None = None) -> None:
    """Raise a clear error naming what exists when a model or version is not in the workspace."""
    models = [r[0] for r in store.query_rows("SELECT name FROM model ORDER BY name")]
    if model not in models:
        raise InvalidInputError(UNKNOWN_MODEL.format(model=model, known=", ".join(models) or "none yet"))
    if version is not None:
        versions = [r[0] for r in store.query_rows(
            "SELECT version FROM model_version WHERE model = ? ORDER BY version", [model])]
        if version not in versions:
            raise InvalidInputError(UNKNOWN_VERSION.format(model=model, version=version, known=", ".join(versions)))
