"""Setting a model's telemetry up: pointing it at a source, and writing its telemetry out as a Parquet dataset.

Apart from telemetry_sources (where a model's telemetry is read from, and reading it) because these check the
model against the inventory, and the inventory reads every model's telemetry through telemetry_sources.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from governance.access import identity
from governance.errors import InvalidInputError
from governance.monitoring import lake_rollup, telemetry_sources, telemetry_sql
from governance.monitoring.inventory import require_model
from governance.record import clock
from governance.record.repositories import settings
from governance.vocabulary import TELEMETRY_SOURCE_KINDS as KINDS

if TYPE_CHECKING:
    from governance.access.identity import User
    from governance.monitoring.telemetry_sources import Source
    from governance.record.store import GovernanceStore

BAD_KIND = "a telemetry source is one of {kinds}, got {kind!r}"
NO_LOCATION = "a {kind} source needs a location: the dataset's folder (or, for Spark, a table name)"
NOT_A_DATASET = ("{location} holds no Parquet telemetry: expected {location}/telemetry/date=YYYY-MM-DD/*.parquet (as "
                 "`python -m governance telemetry export` writes it), {location}/date=YYYY-MM-DD/*.parquet, or a "
                 "glob of files in date=YYYY-MM-DD folders")
MISSING_COLUMNS = "the Parquet telemetry in {location} lacks the columns {columns}: see the telemetry schema"

# The telemetry columns a dataset must have, by the schema in the README.
COLUMNS = ("ts", "model", "version", "segment", "input_id", "prediction", "score", "label", "latency_ms", "is_error",
           "cpu_pct", "memory_mb", "cost_usd", "approved_volume_usd", "expected_value_usd")


# --- the setting ---------------------------------------------------------------------------------------------------
def set_source(store: GovernanceStore, *, model: str, kind: str, actor: User, location: str | None = None,
               master: str | None = None) -> Source:
    """Point a model's telemetry at a source (leaders and admins). The source is tried before it is recorded."""
    identity.require(actor, "configure monitoring")
    require_model(store, model=model)
    if kind not in KINDS:
        raise InvalidInputError(BAD_KIND.format(kinds=", ".join(KINDS), kind=kind))
    location = (location or "").strip() or None
    if kind != "workspace" and not location:
        raise InvalidInputError(NO_LOCATION.format(kind=kind))
    source = telemetry_sources.Source(model=model, kind=kind, location=location if kind != "workspace" else None,
                                      master=(master or "").strip() or None if kind == "spark" else None)
    telemetry_sources.check_location(store, source)   # before anything looks at the location
    if kind == "parquet":
        _check_columns(source.location, _dataset_columns(source.location))
    if kind == "spark":   # tried now, not on the first page view: Spark starts and sees the columns
        _check_columns(source.location, telemetry_sources.spark_frame(source).columns)
    with store.write() as tx:
        settings.add_telemetry_source(tx, model=model, kind=kind, location=source.location, master=source.master,
                                      set_by=actor.recorded_as, set_at=clock.now_naive())
    return telemetry_sources.source_for(store, model=model)


def _dataset_columns(location: str) -> list[str]:
    import duckdb

    files = telemetry_sources.dataset_files(location)
    if not files:
        raise InvalidInputError(NOT_A_DATASET.format(location=location))
    return [row[0] for row in duckdb.connect().execute(
        telemetry_sql.DATASET_COLUMNS_SQL, {"file": files[0]}).fetchall()]


def _check_columns(location: str, names) -> None:
    missing = [c for c in COLUMNS if c not in set(names)]
    if missing:
        raise InvalidInputError(MISSING_COLUMNS.format(location=location, columns=", ".join(missing)))


# --- export ----------------------------------------------------------------------------------------------------------
def export_parquet(store: GovernanceStore, *, model: str, out: str | os.PathLike) -> dict:
    """Write a model's telemetry as a dataset: telemetry/date=YYYY-MM-DD/*.parquet and telemetry_input.parquet, with
    each partition's rollup beside it (telemetry/_rollup/date=YYYY-MM-DD/)."""
    require_model(store, model=model)
    out = Path(out)
    if (out / telemetry_sources.TELEMETRY_DIR).exists():
        raise InvalidInputError(f"{out / telemetry_sources.TELEMETRY_DIR} exists already: export into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    target = str(out / telemetry_sources.TELEMETRY_DIR).replace("'", "''")
    store.analytics.query_value(telemetry_sql.export_telemetry_sql(telemetry_sources.PARTITION, target), {"model": model})
    inputs = str(out / telemetry_sources.INPUTS_FILE).replace("'", "''")
    store.analytics.query_value(telemetry_sql.export_inputs_sql(inputs), {"model": model})
    files = telemetry_sources.dataset_files(str(out))
    # Rolled up as it lands, so that pages over the dataset read summaries from the first view on.
    rollups = lake_rollup.rollup_dataset(location=str(out)) if files else []
    return {"model": model, "location": str(out),
            "partitions": len({telemetry_sources.partition_day(f) for f in files}),
            "files": len(files), "bytes": telemetry_sources.bytes_of(files),
            "rows": store.analytics.query_value(telemetry_sql.MODEL_ROWS_SQL, {"model": model}),
            "rollups": len(rollups), "rollup_bytes": sum(r.bytes for r in rollups)}
