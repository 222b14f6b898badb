"""Monitoring's settings: service-level objectives, drift thresholds and where each model's telemetry is read from.

Every setting is a history: a change adds a row, and the newest row of a model (per KPI for objectives) is the one
in force, so that who set what and when stays readable. (Accepted anomaly levels are ledger entries, not rows here.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore, WriteTransaction


@dataclass(frozen=True)
class ServiceLevelObjective:
    """One recorded objective; `active` false: the objective was removed."""
    model: str
    kpi: str
    target: float
    warning: float
    set_by: str
    set_at: datetime
    active: bool


@dataclass(frozen=True)
class DriftThresholdSetting:
    model: str
    psi_watch: float
    psi_act: float
    alpha: float
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class TelemetrySourceSetting:
    """Where a model's telemetry is read from. The newest per model (telemetry_sources_in_force) carries no master
    and no author: only what is watched for changes."""
    model: str
    kind: str
    location: str | None
    master: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None


# --- service-level objectives ------------------------------------------------------------------------------------
def add_service_level_objective(tx: WriteTransaction, *, model: str, kpi: str, target: float, warning: float,
                                set_by: str, set_at: datetime) -> None:
    tx.execute("INSERT INTO service_level_objective VALUES (?, ?, ?, ?, ?, ?, true)",
               [model, kpi, target, warning, set_by, set_at])


def newest_service_level_objectives(store: GovernanceStore, *, model: str) -> list[ServiceLevelObjective]:
    """The newest objective row of each KPI of a model (active or removed), by KPI."""
    rows = store.query_records("""
        SELECT model, kpi, target, warning, set_by, set_at, active FROM (
            SELECT model, kpi, target, warning, set_by, set_at, active,
                   row_number() OVER (PARTITION BY kpi ORDER BY set_at DESC, rowid DESC) AS newest
            FROM service_level_objective WHERE model = ?) objective
        WHERE newest = 1
        ORDER BY kpi""", [model])   # one order everywhere (a window function's output order is not defined)
    return [ServiceLevelObjective(**row) for row in rows]


# --- drift thresholds --------------------------------------------------------------------------------------------
def add_drift_threshold(tx: WriteTransaction, *, model: str, psi_watch: float, psi_act: float, alpha: float,
                        set_by: str, set_at: datetime) -> None:
    tx.execute("INSERT INTO drift_threshold VALUES (?, ?, ?, ?, ?, ?)",
               [model, psi_watch, psi_act, alpha, set_by, set_at])


def newest_drift_threshold(store: GovernanceStore, *, model: str) -> DriftThresholdSetting | None:
    rows = store.query_rows("""
        SELECT psi_watch, psi_act, alpha, set_by, set_at FROM drift_threshold WHERE model = ?
        ORDER BY set_at DESC, rowid DESC LIMIT 1""", [model])
    if not rows:
        return None
    watch, act, alpha, set_by, set_at = rows[0]
    return DriftThresholdSetting(model, watch, act, alpha, set_by, set_at)


def drift_threshold_history(store: GovernanceStore, *, model: str) -> list[DriftThresholdSetting]:
    """Every thresholds change of a model, newest first."""
    return [DriftThresholdSetting(*row) for row in store.query_rows("""
        SELECT model, psi_watch, psi_act, alpha, set_by, set_at FROM drift_threshold WHERE model = ?
        ORDER BY set_at DESC, rowid DESC""", [model])]


# --- telemetry sources -------------------------------------------------------------------------------------------
def add_telemetry_source(tx: WriteTransaction, *, model: str, kind: str, location: str | None, master: str | None,
                         set_by: str, set_at: datetime) -> None:
    tx.execute("INSERT INTO telemetry_source VALUES (?, ?, ?, ?, ?, ?)",
               [model, kind, location, master, set_by, set_at])


def newest_telemetry_source(store: GovernanceStore, *, model: str) -> TelemetrySourceSetting | None:
    rows = store.query_rows("SELECT kind, location, master, set_by, set_at FROM telemetry_source WHERE model = ? "
                            "ORDER BY set_at DESC LIMIT 1", [model])
    if not rows:
        return None
    kind, location, master, set_by, set_at = rows[0]
    return TelemetrySourceSetting(model, kind, location, master, set_by, set_at)


def telemetry_sources_in_force(store: GovernanceStore) -> list[TelemetrySourceSetting]:
    """The newest source of every model that has one recorded, by model."""
    return [TelemetrySourceSetting(model, kind, location) for model, kind, location in store.query_rows(
        "SELECT model, kind, location FROM (SELECT model, kind, location, row_number() OVER ("
        "PARTITION BY model ORDER BY set_at DESC) AS newest FROM telemetry_source) source WHERE newest = 1 "
        "ORDER BY model")]


def models_read_elsewhere(store: GovernanceStore) -> list[str]:
    """The models of the inventory whose newest source is not the workspace, by name."""
    return [r[0] for r in store.query_rows("""
        SELECT name FROM model
        WHERE name IN (SELECT model FROM (SELECT model, kind, row_number() OVER (
                           PARTITION BY model ORDER BY set_at DESC) AS newest FROM telemetry_source) source
                       WHERE newest = 1 AND kind <> 'workspace')
        ORDER BY name""")]
