"""The model inventory (model card core) and the workspace's own vital signs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources

if TYPE_CHECKING:   # `status` reads the inventory without pandas (see workspace_status)
    import pandas as pd

    from governance.record.store import GovernanceStore

STAGES = ("development", "validation", "staging", "production", "retired")


def list_models(store: GovernanceStore) -> pd.DataFrame:
    return store.query("SELECT name, purpose, intended_use, owner, risk_tier, dataset, created_at "
                       "FROM model ORDER BY name")


# Every version with its model's owner and risk tier, its artifact and its telemetry counts (version_telemetry).
_VERSIONS_SQL = """
    SELECT v.model, v.version, v.stage, v.algorithm, v.created_at, m.owner, m.risk_tier,
           v.training_metrics, a.sha256 AS artifact_sha256,
           coalesce(t.rows, 0) AS telemetry_rows, t.first_ts, t.last_ts
    FROM model_version v
    JOIN model m ON m.name = v.model
    LEFT JOIN model_artifact a USING (model, version)
    LEFT JOIN version_telemetry t USING (model, version)
    ORDER BY v.model, v.version"""
# How many models read their telemetry from elsewhere than the workspace (as telemetry_sources.source_for).
_EXTERNAL_SOURCES_SQL = """
    SELECT count(*) FROM (SELECT model, arg_max(kind, set_at) AS kind FROM telemetry_source GROUP BY model)
    WHERE kind <> 'workspace' AND model IN (SELECT name FROM model)"""


def list_versions(store: GovernanceStore) -> pd.DataFrame:
    """Every version with its stage, algorithm, training metrics and how much telemetry it has."""
    from governance.monitoring.telemetry_sql import VERSION_TELEMETRY_SQL

    counts = telemetry_sources.across_models(store, VERSION_TELEMETRY_SQL)   # from wherever each model is read
    frame = store.query_over(_VERSIONS_SQL, {}, frames={"version_telemetry": counts})
    frame["training_metrics"] = frame["training_metrics"].map(json.loads)
    return frame


def _version_records(store: GovernanceStore) -> list[dict]:
    """list_versions as plain records. When every model's telemetry is in the workspace (the usual case) one
    query gives them without pandas, so that `status` starts at once; otherwise from list_versions."""
    if store.query_value(_EXTERNAL_SOURCES_SQL):
        frame = list_versions(store)
        return frame.astype(object).where(frame.notna(), None).to_dict("records")   # None, not NaN, as below
    from governance.monitoring.telemetry_sql import VERSION_TELEMETRY_SQL

    records = store.query_records(f"WITH version_telemetry AS ({VERSION_TELEMETRY_SQL}) {_VERSIONS_SQL}")
    for record in records:
        record["training_metrics"] = json.loads(record["training_metrics"])
    return records


def workspace_status(store: GovernanceStore) -> dict:
    """What `status` reports: schema and data versions, table sizes, models and their versions."""
    versions = _version_records(store)
    models = []
    for name, owner, risk_tier, purpose in store.query_rows(
            "SELECT name, owner, risk_tier, purpose FROM model ORDER BY name"):
        models.append({
            "name": name, "owner": owner, "risk_tier": risk_tier, "purpose": purpose,
            "versions": [{
                "version": v["version"], "stage": v["stage"], "algorithm": v["algorithm"],
                "created_at": v["created_at"].isoformat(), "training_metrics": v["training_metrics"],
                "artifact_sha256": v["artifact_sha256"], "telemetry_rows": int(v["telemetry_rows"]),
            } for v in versions if v["model"] == name],
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
