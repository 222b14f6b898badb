"""Data versions by concern (issue 23): a write bumps the version of what it changed (record, telemetry), caches key
on what they read, bookkeeping bumps nothing, and the hourly rollup is upserted for the hours a write touched only,
in step with the rows at every commit.

The versions' tests run on both engines where they do not write telemetry as a table: a PostgreSQL workspace keeps
its telemetry as files in the lake, written by ingest only, and keeps no hourly rollup, so the telemetry writes and
the rollup are DuckDB's alone."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest

from components.workspace import version_read_by
from governance.alerts import delivery
from governance.monitoring import ingest, kpis, sql_sandbox, telemetry_sql
from governance.monitoring.inventory import list_models
from governance.record import ledger, store as record_store
from governance.record.store import MIGRATIONS_DIR, RECORD, TELEMETRY, WORKSPACE, GovernanceStore, load_migrations
from tests.conftest import ENGINES, LEADER, PgWorkspace, open_workspace
from tests.unit.record.repositories.conftest import open_engine

MODEL, VERSION = "adult-income", "v2"
AS_LEADER = lambda store: LEADER   # noqa: E731
ROLLUP = "SELECT * FROM telemetry_hourly ORDER BY model, version, hour"
ROLLUP_ROWS = "SELECT rowid AS row_identity, * FROM telemetry_hourly ORDER BY model, version, hour"   # with identity


def _versions(store: GovernanceStore) -> dict[str, int]:
    return {concern: store.data_version(concern=concern) for concern in (WORKSPACE, RECORD, TELEMETRY)}


def _rows_in_existing_hours(store: GovernanceStore, n: int = 400) -> pd.DataFrame:
    """n valid rows of MODEL VERSION, one every 20 s from two hours before its newest row: some of the hours they
    fall in already have rows, so the upsert must merge them with what is there."""
    newest = store.analytics.query_value("SELECT max(ts) FROM telemetry WHERE model = $model AND version = $version",
                                         {"model": MODEL, "version": VERSION})
    start = pd.Timestamp(newest).floor("h") - pd.Timedelta(hours=2)
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "ts": pd.date_range(start, periods=n, freq="20s"), "segment": rng.choice(["web", "branch"], size=n),
        "input_id": rng.integers(0, 5_000, size=n), "prediction": rng.integers(0, 2, size=n),
        "score": rng.random(n).round(4), "label": rng.integers(0, 2, size=n),
        "latency_ms": rng.uniform(5, 80, size=n).round(2), "is_error": rng.random(n) < 0.05,
        "cpu_pct": rng.uniform(10, 90, size=n).round(1), "memory_mb": rng.uniform(500, 900, size=n).round(1),
        "cost_usd": rng.uniform(0.0001, 0.001, size=n).round(6), "approved_volume_usd": 10.0,
        "expected_value_usd": rng.normal(0, 50, size=n).round(2),
    })


def _full_rebuild(store: GovernanceStore) -> pd.DataFrame:
    """The rollup computed independently from every row: the old full rebuild, into a temporary table."""
    select = telemetry_sql.REBUILD_SQL[1].removeprefix("INSERT INTO telemetry_hourly ")
    cursor = store._con.cursor()
    try:
        cursor.execute(f"CREATE TEMP TABLE rebuilt AS {select}")
        return cursor.execute("SELECT * FROM rebuilt ORDER BY model, version, hour").df()
    finally:
        cursor.close()


def _ingest(workspace, tmp_path, frame: pd.DataFrame):
    file = tmp_path / "telemetry.parquet"
    frame.to_parquet(file, index=False)
    if isinstance(workspace, PgWorkspace):
        return ingest.ingest_file(workspace=workspace.url, lake=str(workspace.lake), file=file, model=MODEL,
                                  version=VERSION, actor=AS_LEADER)
    return ingest.ingest_file(workspace=workspace, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)


@pytest.fixture(params=ENGINES)
def fresh(request, tmp_path):
    """A new workspace on each engine: data versions live in its database on either."""
    with open_engine(request.param, tmp_path=tmp_path, request=request) as store:
        yield store


# --- versions by concern -------------------------------------------------------------------------------------
def test_a_record_write_leaves_the_telemetry_version_and_its_caches_alone(demo_on_engine):
    with open_workspace(demo_on_engine) as store:
        before = _versions(store)
        kpi_key, models_key = version_read_by(store, service=kpis.kpi_view), version_read_by(store, service=list_models)
        snapshot = sql_sandbox._current_snapshot(store)
        with store.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES ('note', 'a record write')")
        assert _versions(store) == {**before, WORKSPACE: before[WORKSPACE] + 1, RECORD: before[RECORD] + 1}
        assert version_read_by(store, service=kpis.kpi_view) == kpi_key            # telemetry caches kept
        assert version_read_by(store, service=list_models) != models_key           # the record's thrown away
        assert sql_sandbox._current_snapshot(store) == snapshot and snapshot.exists()   # the console's copy kept


def test_an_ingest_bumps_telemetry_and_the_record_once_each(demo_on_engine, tmp_path):
    with open_workspace(demo_on_engine) as store:
        before, frame = _versions(store), _rows_in_existing_hours(store)
        kpi_key = version_read_by(store, service=kpis.kpi_view)
    assert _ingest(demo_on_engine, tmp_path, frame).rows_accepted == len(frame)
    with open_workspace(demo_on_engine) as store:
        # its ledger entry and ingested file are the record's; the workspace steps once, as it always did
        assert _versions(store) == {concern: version + 1 for concern, version in before.items()}
        assert version_read_by(store, service=kpis.kpi_view) != kpi_key


def test_a_telemetry_write_alone_leaves_the_record_version(demo_copy):
    with GovernanceStore(demo_copy) as store:
        before = _versions(store)
        with store.write() as tx:
            tx.execute("UPDATE telemetry SET label = 1 - label WHERE model = ? AND label IS NOT NULL", [MODEL])
        assert _versions(store) == {**before, WORKSPACE: before[WORKSPACE] + 1, TELEMETRY: before[TELEMETRY] + 1}


class _Crash(BaseException):
    """Not an Exception: deliver_pending leaves the delivery claimed and records no attempt."""


def test_a_delivery_claim_bumps_no_version(demo_copy):
    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    with GovernanceStore(demo_copy) as store:
        made = delivery.enqueue(store, alert_key="versions:test", channel="email", recipient="ops@example.com",
                                subject="s", body="b", link="/kpis", evidence={}, now=now - timedelta(hours=1))
        before = _versions(store)

        def crash(delivery_row, *, settings):
            raise _Crash()

        with pytest.raises(_Crash):
            delivery.deliver_pending(store, settings=delivery.DeliverySettings(), now=now, send_email=crash)
        claimed = store.query_value("SELECT next_attempt_at FROM alert_delivery WHERE delivery_id = ?",
                                    [made["delivery_id"]])
        assert claimed > now.replace(tzinfo=None)      # the claim committed …
        assert _versions(store) == before               # … and bumped nothing
        with store.write(shown=False) as tx:            # bookkeeping that writes telemetry still counts
            tx.execute("UPDATE telemetry SET latency_ms = latency_ms WHERE false")
        assert _versions(store) == {**before, WORKSPACE: before[WORKSPACE] + 1, TELEMETRY: before[TELEMETRY] + 1}


def test_an_empty_or_failed_write_bumps_nothing(fresh):
    store = fresh
    with store.write():
        store.query_value("SELECT count(*) FROM workspace_meta")   # a write that only read
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES ('half', 'written')")
            raise RuntimeError("crash")
    assert _versions(store) == {WORKSPACE: 0, RECORD: 0, TELEMETRY: 0}
    with pytest.raises(ValueError, match="no data version"):
        store.data_version(concern="pages")


def test_a_workspace_made_before_the_concerns_keeps_its_version_in_each(tmp_path):
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    before_concerns = [m for m in load_migrations() if "data_version_by_concern" not in m.name]
    assert len(before_concerns) == len(load_migrations()) - 1
    for migration in before_concerns:
        shutil.copy(MIGRATIONS_DIR / migration.name, old_dir)
    path = tmp_path / "ws.duckdb"
    GovernanceStore(path, migrations_dir=old_dir).close()
    with duckdb.connect(str(path)) as con:   # the old code's writes: one global version
        con.execute("UPDATE data_version SET version = 41")
    with GovernanceStore(path) as store:
        assert store.schema_version() == len(load_migrations())
        assert _versions(store) == {WORKSPACE: 41, RECORD: 41, TELEMETRY: 41}
        with store.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES ('kept', 'yes')")
        assert _versions(store) == {WORKSPACE: 42, RECORD: 42, TELEMETRY: 41}


# --- the hourly rollup, upserted ------------------------------------------------------------------------------
def test_an_ingest_upserts_only_its_hours_and_the_rollup_equals_a_full_rebuild(demo_copy, tmp_path):
    with GovernanceStore(demo_copy) as store:
        frame = _rows_in_existing_hours(store)
        before = store.query(ROLLUP_ROWS)
    touched = {pd.Timestamp(h) for h in frame["ts"].dt.floor("h")}
    assert len(touched) == 3
    _ingest(demo_copy, tmp_path, frame)
    with GovernanceStore(demo_copy) as store:
        after = store.query(ROLLUP_ROWS)
        pd.testing.assert_frame_equal(after.drop(columns="row_identity"), _full_rebuild(store))

    def outside(rows: pd.DataFrame) -> pd.DataFrame:
        mask = (rows["model"] == MODEL) & (rows["version"] == VERSION) & rows["hour"].isin(touched)
        return rows[~mask].sort_values("row_identity", ignore_index=True)

    # every other hour's row is the very row it was (same identity), not a recomputed copy
    pd.testing.assert_frame_equal(outside(after), outside(before))
    inside = after[(after["model"] == MODEL) & (after["version"] == VERSION) & after["hour"].isin(touched)]
    assert len(inside) == 3 and not set(inside["row_identity"]) & set(before["row_identity"])


def test_a_write_that_does_not_say_its_hours_rebuilds_the_rollup_whole(demo_copy):
    with GovernanceStore(demo_copy) as store:
        with store.write() as tx:
            tx.execute("DELETE FROM telemetry WHERE model = ? AND version = ? AND ts < "
                       "(SELECT min(ts) + INTERVAL 3 DAY FROM telemetry WHERE model = ? AND version = ?)",
                       [MODEL, VERSION, MODEL, VERSION])
        pd.testing.assert_frame_equal(store.query(ROLLUP), _full_rebuild(store))


def test_a_rolled_back_ingest_changes_nothing(demo_copy, tmp_path, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        frame = _rows_in_existing_hours(store)
        before = (_versions(store), store.query(ROLLUP_ROWS),
                  store.query_value("SELECT count(*) FROM telemetry"))

    def refuse(*args, **kwargs):
        raise RuntimeError("the ledger refused")

    monkeypatch.setattr(ledger, "append", refuse)
    with pytest.raises(RuntimeError, match="the ledger refused"):
        _ingest(demo_copy, tmp_path, frame)
    with GovernanceStore(demo_copy) as store:
        versions, rollup, rows = before
        assert _versions(store) == versions and store.query_value("SELECT count(*) FROM telemetry") == rows
        pd.testing.assert_frame_equal(store.query(ROLLUP_ROWS), rollup)


def test_what_a_statement_writes_decides_the_concern(fresh):
    store = fresh
    with store.write() as tx:   # an upsert's "DO UPDATE SET" is not a second table
        tx.execute("INSERT INTO workspace_meta VALUES ('k', 'v') ON CONFLICT (key) DO UPDATE SET value = 'v'")
        assert tx.concerns_changed() == {RECORD}
        tx.execute("INSERT INTO telemetry_source VALUES ('m', 'workspace', NULL, NULL, 'me', now())")
        assert tx.concerns_changed() == {RECORD, TELEMETRY}   # where telemetry is read from: both
        assert tx.concerns_changed(shown=False) == {TELEMETRY}
    assert _versions(store) == {WORKSPACE: 1, RECORD: 1, TELEMETRY: 1}


def test_a_telemetry_write_with_nothing_to_keep_its_rollup_is_rolled_back(tmp_path, monkeypatch):
    monkeypatch.delitem(record_store._upkeep, "telemetry")
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with pytest.raises(RuntimeError, match="nothing keeps telemetry_hourly in step"):
            with store.write() as tx:
                tx.execute("DELETE FROM telemetry")
        assert _versions(store) == {WORKSPACE: 0, RECORD: 0, TELEMETRY: 0}
