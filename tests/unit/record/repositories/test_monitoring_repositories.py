"""The monitoring settings and alerts repositories on a fresh workspace of each engine: what goes in comes back as dataclasses, the
newest setting is the one in force, and the outbox's reads filter as the services rely on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from governance.monitoring import telemetry_sources
from governance.record.repositories import alerts, models, settings

T0 = datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def store(engine_store):
    """Three models, on each engine (conftest.py)."""
    with engine_store.write() as tx:
        for name in ("alpha", "beta", "gamma"):
            models.add_model(tx, name=name, purpose="p", intended_use="u", owner="o", risk_tier="high",
                             dataset=None, created_at=T0)
    return engine_store


def test_the_newest_objective_of_each_kpi_is_in_force_removed_ones_included(store):
    with store.write() as tx:
        settings.add_service_level_objective(tx, model="alpha", kpi="error_rate", target=0.05, warning=0.045,
                                             set_by="ann", set_at=T0)
        settings.add_service_level_objective(tx, model="alpha", kpi="error_rate", target=0.02, warning=0.018,
                                             set_by="bob", set_at=T0 + timedelta(hours=1))
        settings.add_service_level_objective(tx, model="alpha", kpi="accuracy", target=0.8, warning=0.82,
                                             set_by="ann", set_at=T0)
        settings.add_service_level_objective(tx, model="beta", kpi="accuracy", target=0.7, warning=0.73,
                                             set_by="ann", set_at=T0)
    newest = settings.newest_service_level_objectives(store, model="alpha")
    assert [(o.kpi, o.target, o.set_by, o.active) for o in newest] == [
        ("accuracy", 0.8, "ann", True), ("error_rate", 0.02, "bob", True)]
    assert isinstance(newest[0], settings.ServiceLevelObjective) and newest[0].set_at == T0


def test_drift_thresholds_newest_first_and_none_without_any(store):
    assert settings.newest_drift_threshold(store, model="alpha") is None
    assert settings.drift_threshold_history(store, model="alpha") == []
    with store.write() as tx:
        settings.add_drift_threshold(tx, model="alpha", psi_watch=0.1, psi_act=0.25, alpha=0.01, set_by="ann",
                                     set_at=T0)
        settings.add_drift_threshold(tx, model="alpha", psi_watch=0.2, psi_act=0.3, alpha=0.05, set_by="bob",
                                     set_at=T0 + timedelta(days=1))
    assert settings.newest_drift_threshold(store, model="alpha") == settings.DriftThresholdSetting(
        "alpha", 0.2, 0.3, 0.05, "bob", T0 + timedelta(days=1))
    assert [r.set_by for r in settings.drift_threshold_history(store, model="alpha")] == ["bob", "ann"]


def test_models_read_elsewhere_are_those_whose_newest_source_is_not_the_workspace(store):
    with store.write() as tx:
        for model, kind, at in (("alpha", "parquet", T0), ("alpha", "workspace", T0 + timedelta(hours=1)),
                                ("beta", "workspace", T0), ("beta", "parquet", T0 + timedelta(hours=1)),
                                ("gone", "spark", T0)):   # a source of a model no longer in the inventory
            settings.add_telemetry_source(tx, model=model, kind=kind, location=None if kind == "workspace" else
                                          "/lake", master=None, set_by="ann", set_at=at)
    assert settings.models_read_elsewhere(store) == ["beta"]
    # the same answer as asking each model of the inventory whether it reads the workspace's own telemetry (with
    # PostgreSQL, the lake: its source then shows as that Parquet dataset)
    assert settings.models_read_elsewhere(store) == [
        m for m in models.model_names(store) if not telemetry_sources.reads_own(store, model=m)]
    assert [(s.model, s.kind) for s in settings.telemetry_sources_in_force(store)] == [
        ("alpha", "workspace"), ("beta", "parquet"), ("gone", "spark")]
    newest = settings.newest_telemetry_source(store, model="beta")
    assert (newest.kind, newest.location, newest.set_at) == ("parquet", "/lake", T0 + timedelta(hours=1))
    assert settings.newest_telemetry_source(store, model="gamma") is None


def _delivery(delivery_id: int, alert_key: str, status: str = "pending") -> alerts.Delivery:
    return alerts.Delivery(delivery_id, alert_key, "email", f"r{delivery_id}@example.org", "s", "b", "{}", T0,
                           status, 0, 0, T0 if status == "pending" else None, None)


def test_the_outbox_round_trips_and_requeues_only_the_failed(store):
    with store.write() as tx:
        alerts.add_delivery(tx, delivery=_delivery(1, "A"))
        alerts.add_delivery(tx, delivery=_delivery(2, "A", status="failed"))
        alerts.add_delivery(tx, delivery=_delivery(3, "B", status="failed"))
        alerts.add_attempt(tx, attempt=alerts.Attempt(2, 1, T0, "error", "refused"))
        alerts.add_attempt(tx, attempt=alerts.Attempt(3, 1, T0, "error", "refused"))
    assert alerts.delivery_for(store, alert_key="A", channel="email", recipient="r1@example.org") == _delivery(1, "A")
    assert alerts.delivery_for(store, alert_key="A", channel="webhook", recipient="r1@example.org") is None
    assert alerts.next_delivery_id(store) == 4
    assert [d.delivery_id for d in alerts.due_deliveries(store, at=T0)] == [1]
    assert [a.delivery_id for a in alerts.attempts(store, alert_key="B")] == [3]
    assert [a.delivery_id for a in alerts.attempts(store)] == [2, 3]
    assert alerts.failed_delivery_ids(store, delivery_id=None, alert_key="A") == [2]
    with store.write() as tx:
        alerts.requeue_failed(tx, delivery_id=None, alert_key="A", at=T0 + timedelta(hours=1))
    assert [(d.delivery_id, d.status) for d in alerts.deliveries(store)] == [
        (1, "pending"), (2, "pending"), (3, "failed")]


def test_episodes_open_escalate_and_close(store):
    with store.write() as tx:
        alerts.open_episode(tx, alert_key="k1", model="alpha", what="anomaly", severity="warning", title="t",
                            link="kpis", evidence="{}", at=T0, by="ann")
        alerts.open_episode(tx, alert_key="k2", model=None, what="ledger_broken", severity="critical", title="t",
                            link="ledger", evidence="{}", at=T0 + timedelta(hours=1), by="ann")
        alerts.mark_notified(tx, alert_key="k1", severity="warning")
        alerts.see_episode(tx, alert_key="k1", at=T0 + timedelta(hours=2), by="bob", severity="critical")
        alerts.close_episode(tx, alert_key="k2", at=T0 + timedelta(hours=3), by="bob")
    assert alerts.open_episodes(store) == [alerts.OpenEpisode("k1", "critical", "warning")]
    assert alerts.episode_keys(store) == {"k1", "k2"}
    everything = alerts.episodes(store)
    assert [e.alert_key for e in everything] == ["k2", "k1"]   # newest first
    assert (everything[0].closed_at, everything[0].closed_by) == (T0 + timedelta(hours=3), "bob")
    assert [e.alert_key for e in alerts.episodes(store, open_only=True)] == ["k1"]
