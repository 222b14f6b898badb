"""The pages' caches key on data versions kept in the database, so a server's cached figures follow writes made
by another server sharing the same PostgreSQL database: here two stores on one database, as two servers hold."""

from __future__ import annotations

import pandas as pd

from components.workspace import version_read_by
from governance.decisions import risks
from governance.monitoring import kpis
from governance.record.postgres_store import PostgresStore
from governance.record.repositories import workspace_meta


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.date_range("2026-11-02 10:00", periods=n, freq="min"), "model": "m",
                         "version": "v1", "segment": "web", "latency_ms": 20.0, "is_error": False})


def test_a_write_on_one_server_changes_the_cache_keys_of_the_other(postgres_url, tmp_path):
    lake = tmp_path / "lake"
    with PostgresStore(postgres_url, lake=lake) as here, PostgresStore(postgres_url, lake=lake) as there:
        telemetry_key = version_read_by(here, service=kpis.kpi_records)
        record_key = version_read_by(here, service=risks.list_risks)

        with there.write() as tx:   # a record change on the other server
            workspace_meta.add_values(tx, values={"note": "written elsewhere"})
        assert version_read_by(here, service=risks.list_risks) != record_key
        assert version_read_by(here, service=kpis.kpi_records) == telemetry_key   # telemetry did not change
        record_key = version_read_by(here, service=risks.list_risks)

        with there.write() as tx:   # telemetry, into the shared lake
            tx.insert_frame("telemetry", _rows(5))
        assert version_read_by(here, service=kpis.kpi_records) != telemetry_key
        assert version_read_by(here, service=risks.list_risks) != record_key   # the workspace's version moves too
        assert here.analytics.query_value("SELECT count(*) FROM telemetry") == 5
        assert version_read_by(here, service=kpis.kpi_records) == version_read_by(there, service=kpis.kpi_records)
