"""The model inventory (model card core) and the workspace's own vital signs."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sources
from governance.monitoring.telemetry_sql import VERSION_TELEMETRY_SQL
from governance.record.repositories import models, settings

if TYPE_CHECKING:   # `status` reads the inventory without pandas (see workspace_status)
    import pandas as pd

    from governance.record.store import GovernanceStore

STAGES = ("development", "validation", "staging", "production", "retired")


def list_models(store: GovernanceStore) -> pd.DataFrame:
    return models.model_table(store)


def list_versions(store: GovernanceStore) -> pd.DataFrame:
    """Every version with its stage, algorithm, training metrics and how much telemetry it has."""
    counts = telemetry_sources.across_models(store, VERSION_TELEMETRY_SQL)   # from wherever each model is read
    frame = models.version_table(store, version_telemetry=counts)
    frame["training_metrics"] = frame["training_metrics"].map(json.loads)
    return frame


def _version_records(store: GovernanceStore) -> list[dict]:
    """list_versions as plain records. When every model's telemetry is in the workspace (the usual case) one
    query gives them without pandas, so that `status` starts at once; otherwise from list_versions."""
    if settings.models_read_elsewhere(store):
        frame = list_versions(store)
        return frame.astype(object).where(frame.notna(), None).to_dict("records")   # None, not NaN, as below
    return [{**asdict(v), "training_metrics": json.loads(v.training_metrics)}
            for v in models.version_summaries(store, version_telemetry_sql=VERSION_TELEMETRY_SQL)]


def workspace_status(store: GovernanceStore) -> dict:
    """What `status` reports: schema and data versions, table sizes, models and their versions."""
    versions = _version_records(store)
    found = []
    for m in models.model_summaries(store):
        found.append({
            "name": m.name, "owner": m.owner, "risk_tier": m.risk_tier, "purpose": m.purpose,
            "versions": [{
                "version": v["version"], "stage": v["stage"], "algorithm": v["algorithm"],
                "created_at": v["created_at"].isoformat(), "training_metrics": v["training_metrics"],
                "artifact_sha256": v["artifact_sha256"], "telemetry_rows": int(v["telemetry_rows"]),
            } for v in versions if v["model"] == m.name],
        })
    return {
        "workspace": store.location,
        "schema_version": store.schema_version(),
        "data_version": store.data_version(),
        "tables": store.table_row_counts(),
        "models": found,
    }


UNKNOWN_MODEL = "there is no model named {model!r} in this workspace; models: {known}"
UNKNOWN_VERSION = "model {model!r} has no version {version!r}; versions: {known}"


def require_model(store: GovernanceStore, *, model: str, version: str | None = None) -> None:
    """Raise a clear error naming what exists when a model or version is not in the workspace."""
    names = models.model_names(store)
    if model not in names:
        raise InvalidInputError(UNKNOWN_MODEL.format(model=model, known=", ".join(names) or "none yet"))
    if version is not None:
        versions = models.version_names(store, model=model)
        if version not in versions:
            raise InvalidInputError(UNKNOWN_VERSION.format(model=model, version=version, known=", ".join(versions)))
