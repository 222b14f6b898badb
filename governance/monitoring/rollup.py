"""The hourly rollup's upkeep: telemetry_hourly brought in step with the telemetry rows before every commit.

A write that says which (model, version, hour) it touched (an ingest, the demo build) has only those hours
recomputed from the rows; every other hour keeps its row as it was. A write that does not say (an UPDATE or a
DELETE over any rows) has the rollup rebuilt whole. Either way the rollup never disagrees with the rows at a
commit, and a write that rolls back takes its upkeep with it.

Registered with the store when governance.monitoring is imported (its __init__ imports this module): the record
layer knows only that telemetry has a derived table, not what a rollup is.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from governance.monitoring import telemetry_sql
from governance.record import store as record_store
from governance.record.store import GovernanceStore, WriteTransaction

if TYPE_CHECKING:
    import pandas as pd

Hour = tuple[str, str, datetime]   # (model, version, the hour's start)


def frame_hours(frame: pd.DataFrame) -> set[Hour]:
    """The (model, version, hour) a frame of telemetry rows falls in: what inserting it touches."""
    keys = frame[["model", "version"]].assign(hour=frame["ts"].dt.floor("h")).drop_duplicates()
    return {(model, version, hour.to_pydatetime()) for model, version, hour in keys.itertuples(index=False)}


def file_hours(store: GovernanceStore, *, path: str, model: str, version: str) -> set[Hour]:
    """The hours of the accepted rows of an ingest's checked Parquet file, as one model and version."""
    return {(model, version, hour) for (hour,) in store.analytics.query_rows(telemetry_sql.INGEST_HOURS_SQL, [path])}


def _keep_in_step(tx: WriteTransaction, touched: frozenset | set | None) -> None:
    if touched is None:
        for statement in telemetry_sql.REBUILD_SQL:
            tx.execute(statement)
        return
    if not touched:
        return
    models, versions, hours = (list(column) for column in zip(*sorted(touched)))
    params = {"model": models, "version": versions, "hour": hours, "first": min(hours), "last": max(hours)}
    delete, insert = telemetry_sql.UPSERT_HOURS_SQL
    tx.execute(delete, {k: params[k] for k in ("model", "version", "hour")})
    tx.execute(insert, params)


record_store.maintain_derived(source="telemetry", upkeep=_keep_in_step)
