"""PostgresStore on a real PostgreSQL (tests/conftest.py's postgres_url): the parameter markers, the errors a user
can act on, several stores (as several servers hold) appending to one chain, and telemetry in the lake that is
written whole or not at all."""

from __future__ import annotations

import threading
import uuid

import pandas as pd
import psycopg
import pytest

from governance import errors
from governance.record import clock, lake, ledger, ledger_keys, verification
from governance.record.postgres_store import PostgresStore, psycopg_sql
from governance.record.repositories import ingests


@pytest.mark.parametrize(("duckdb", "psycopg_text"), [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("SELECT $model, $start_day", "SELECT %(model)s, %(start_day)s"),
    ("SELECT '?', 'it''s 100%', \"odd?col\" FROM t WHERE a LIKE ?", "SELECT '?', 'it''s 100%%', \"odd?col\" FROM t WHERE a LIKE %s"),
    ("SELECT 7 % 2 -- why? 5%\nFROM t", "SELECT 7 %% 2 -- why? 5%%\nFROM t"),
    ("SELECT x::DOUBLE FROM t WHERE ts >= ?::TIMESTAMP", "SELECT x::DOUBLE FROM t WHERE ts >= %s::TIMESTAMP"),
])
def test_parameter_markers_are_rewritten_only_outside_quoted_text(duckdb, psycopg_text):
    assert psycopg_sql(duckdb) == psycopg_text


def test_an_unreachable_database_is_named_by_host_and_port(tmp_path):
    with pytest.raises(errors.WorkspaceUnreachableError) as caught:
        PostgresStore("postgresql://quorum:secret@127.0.0.1:9/quorum", lake=tmp_path / "lake")
    message = str(caught.value)
    assert "127.0.0.1:9" in message and "secret" not in message and "QUORUM_DB" in message


def test_a_workspace_without_a_lake_is_refused_with_what_to_set(postgres_url):
    with pytest.raises(errors.InvalidInputError, match="QUORUM_LAKE"):
        PostgresStore(postgres_url, lake=None)


def test_the_lake_is_a_folder_given_as_a_path_or_a_file_uri(postgres_url, tmp_path):
    with PostgresStore(postgres_url, lake=(tmp_path / "my lake").as_uri()) as store:
        assert store.lake == tmp_path / "my lake" and store.lake.is_dir()
    for elsewhere in ("s3://bucket/lake", "file://files.example.org/lake", "abfss://c@a.dfs.core.windows.net/l"):
        with pytest.raises(errors.InvalidInputError, match="not a folder on this machine"):
            PostgresStore(postgres_url, lake=elsewhere)


def test_a_schema_newer_than_the_code_is_refused(postgres_url, tmp_path):
    PostgresStore(postgres_url, lake=tmp_path / "lake").close()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("INSERT INTO schema_version VALUES (999, '999_future.sql', now())")
    with pytest.raises(errors.WorkspaceTooNewError, match="999"):
        PostgresStore(postgres_url, lake=tmp_path / "lake")


def test_stores_of_several_servers_append_to_one_chain_without_forking_it(postgres_url, tmp_path):
    lake_dir = tmp_path / "lake"
    stores = [PostgresStore(postgres_url, lake=lake_dir) for _ in range(2)]
    ledger_keys.initialise_if_new(stores[0])
    failures = []

    def append(store, writer: int):
        try:
            for n in range(5):
                ledger.append(store, actor=f"writer{writer}", kind="note", subject="concurrency",
                              payload={"writer": writer, "n": n}, idempotency_key=f"{writer}-{n}")
        except Exception as exc:  # noqa: BLE001 -- collected and reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=append, args=(stores[w % 2], w)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    seqs = [row[0] for row in stores[1].query_rows("SELECT seq FROM ledger ORDER BY seq")]
    assert seqs == list(range(1, 81))
    result = verification.verify(stores[1])
    assert result["ok"] is True, result["problems"]
    for store in stores:
        store.close()


def _telemetry(n: int) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.date_range("2026-11-01 22:00", periods=n, freq="10min"), "model": "m",
                         "version": "v1", "segment": "web", "latency_ms": [float(i) for i in range(n)],
                         "is_error": False})


def test_telemetry_lands_in_the_lake_by_day_and_reads_back_exactly(postgres_url, tmp_path):
    with PostgresStore(postgres_url, lake=tmp_path / "lake") as store:
        before = store.data_version(concern="telemetry")
        with store.write() as tx:
            tx.insert_frame("telemetry", _telemetry(30))   # 22:00 to 02:50: two days
        files = lake.files(store.lake, table="telemetry")
        assert sorted({f.split("date=")[1][:10] for f in files}) == ["2026-11-01", "2026-11-02"]
        n, total = store.analytics.query_rows("SELECT count(*), sum(latency_ms) FROM telemetry")[0]
        assert (n, total) == (30, sum(range(30)))
        assert store.data_version(concern="telemetry") == before + 1


def test_an_unwritable_lake_refuses_the_write_and_nothing_is_written(postgres_url, tmp_path):
    with PostgresStore(postgres_url, lake=tmp_path / "lake") as store:
        (store.lake / "telemetry").write_text("a file where the partitions' folder should be")
        versions = {c: store.data_version(concern=c) for c in ("record", "telemetry")}
        with pytest.raises(errors.WorkspaceUnwritableError, match="nothing was written"):
            with store.write() as tx:
                ingests.add_ingested_file(tx, record=ingests.IngestedFile(
                    file_sha256="f" * 64, file_name="log.csv", file_format="csv", model="m", version="v1",
                    rows_accepted=30, rows_quarantined=0, via="direct", ingested_at=clock.now_naive()))
                tx.insert_frame("telemetry", _telemetry(30))
        assert store.query_value("SELECT count(*) FROM ingested_file") == 0
        assert {c: store.data_version(concern=c) for c in versions} == versions
        assert lake.files(store.lake, table="telemetry") == []
        assert not list((store.lake / lake.STAGING).iterdir())


def test_files_placed_for_a_write_whose_commit_fails_are_taken_back(postgres_url, tmp_path):
    with psycopg.connect(postgres_url, autocommit=True) as connection:   # a check PostgreSQL makes at COMMIT
        connection.execute("CREATE TABLE checked_at_commit (a INTEGER UNIQUE DEFERRABLE INITIALLY DEFERRED)")
    with PostgresStore(postgres_url, lake=tmp_path / "lake") as store:
        with pytest.raises(psycopg.errors.UniqueViolation):
            with store.write() as tx:
                tx.insert_frame("telemetry", _telemetry(3))
                tx.execute("INSERT INTO checked_at_commit VALUES (1), (1)")
        assert lake.files(store.lake, table="telemetry") == []
        assert store.analytics.query_value("SELECT count(*) FROM telemetry") == 0


def test_a_database_that_sorts_text_by_language_rules_is_refused(postgres_server, tmp_path):
    name = f"t_icu_{uuid.uuid4().hex[:8]}"   # English rules by ICU, which Debian's PostgreSQL is built with
    with psycopg.connect(postgres_server.url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                           "LOCALE 'C.UTF-8'")
    with pytest.raises(errors.WorkspaceError, match="byte-order sorting") as caught:
        PostgresStore(postgres_server.url.rsplit("/", 1)[0] + f"/{name}", lake=tmp_path / "lake")
    assert "en-US" in str(caught.value)
    with psycopg.connect(postgres_server.url.rsplit("/", 1)[0] + f"/{name}") as connection:   # nothing created
        assert connection.execute("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_schema = 'public'").fetchone()[0] == 0
    postgres_server.drop_database(name)


def test_analytics_read_the_record_as_committed_by_any_server_and_a_write_its_own_rows(postgres_url, tmp_path):
    with PostgresStore(postgres_url, lake=tmp_path / "lake") as here, \
            PostgresStore(postgres_url, lake=tmp_path / "lake") as there:
        count = "SELECT count(*) FROM workspace_meta"
        assert here.analytics.query_value(count) == 0
        with there.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES ('a', '1'), ('b', '2')")
        assert here.analytics.query_value(count) == 2   # copied again: the record moved and so did the table
        with there.write() as tx:
            tx.execute("INSERT INTO committee_rule VALUES ('quorum_fraction', '0.5')")
        assert here.analytics.query_value(count) == 2   # the record moved, this table did not
        with there.write() as tx:
            tx.execute("UPDATE workspace_meta SET value = '3' WHERE key = 'a'")
        assert here.analytics.query_value("SELECT sum(value::INTEGER) FROM workspace_meta") == 5
        with there.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES ('c', '4')")
            assert there.analytics.query_value(count) == 3   # inside the write: its own uncommitted row
            assert here.analytics.query_value(count) == 2    # elsewhere: only what is committed
        assert there.analytics.query_value(count) == here.analytics.query_value(count) == 3
