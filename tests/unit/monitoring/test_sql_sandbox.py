"""The analysts' SQL console: right answers for SELECTs, clear refusals for everything else, workspace untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pytest

from governance.monitoring import sql_sandbox
from governance.monitoring.sql_sandbox import SandboxRefusal, run_sandboxed_query
from governance.record.store import TELEMETRY, GovernanceStore
from tests.conftest import ROOT, copy_workspace


def _fixed_part(template: str) -> str:
    """The words of a message template before its first placeholder, to match a formatted message."""
    return template.split("{")[0]


def _snapshots(store) -> list[str]:
    """The snapshots in the store's own temporary folder."""
    return sorted(p.name for p in sql_sandbox.snapshot_folder(store).iterdir() if ".sandbox-" in p.name)


def _beside(workspace) -> list[str]:
    return sorted(p.name for p in workspace.parent.iterdir() if ".sandbox-" in p.name)


@pytest.fixture(scope="module")
def workspace(demo_workspace, tmp_path_factory):
    """One writable copy for the read-only tests, so snapshots never land next to the shared demo."""
    path = tmp_path_factory.mktemp("sandbox") / "ws.duckdb"
    copy_workspace(demo_workspace, path)
    return path


@pytest.fixture(scope="module")
def store(workspace):
    with GovernanceStore(workspace) as opened:
        yield opened


# --- answers -----------------------------------------------------------------------------------------------
def test_aggregate_select_matches_the_store(store):
    sql = ("SELECT model, version, count(*) AS n, sum(is_error::INT) AS errors, round(avg(latency_ms), 6) AS lat "
           "FROM telemetry GROUP BY model, version ORDER BY model, version")
    result = run_sandboxed_query(store, sql=sql)
    expected = store.query(sql)
    assert not result.truncated and result.notice is None
    assert result.frame.to_dict("records") == expected.to_dict("records")
    assert result.frame["n"].sum() == store.query_value("SELECT count(*) FROM telemetry") == 60_000
    assert result.elapsed_s >= 0


def test_with_query_matches_the_store(store):
    sql = """
        WITH daily AS (SELECT date_trunc('day', ts) AS day, count(*) AS n FROM telemetry GROUP BY ALL),
             inputs AS (SELECT count(*) AS n FROM telemetry_input)
        SELECT count(*) AS days, sum(daily.n) AS predictions, any_value(inputs.n) AS inputs
        FROM daily, inputs
    """
    row = run_sandboxed_query(store, sql=sql).frame.iloc[0]
    assert row["predictions"] == store.query_value("SELECT count(*) FROM telemetry")
    assert row["inputs"] == store.query_value("SELECT count(*) FROM telemetry_input")
    assert row["days"] == store.query_value("SELECT count(DISTINCT date_trunc('day', ts)) FROM telemetry")


def test_row_cap_truncates_and_says_so(store):
    result = run_sandboxed_query(store, sql="SELECT ts FROM telemetry ORDER BY ts DESC", row_cap=100)
    assert result.truncated and len(result.frame) == 100
    assert result.notice == sql_sandbox.TRUNCATED.format(rows=100)
    newest = store.query("SELECT ts FROM telemetry ORDER BY ts DESC LIMIT 100")
    assert list(result.frame["ts"]) == list(newest["ts"])  # the cap keeps the query's order

    exact = run_sandboxed_query(store, sql="SELECT * FROM range(100)", row_cap=100)
    assert not exact.truncated and len(exact.frame) == 100


@pytest.mark.parametrize("sql", ["SELEC count(*) FROM telemetry", "SELECT count(* FROM telemetry",
                                 "SELECT FROM WHERE"])
def test_syntax_error_is_explained(store, sql):
    with pytest.raises(SandboxRefusal, match=_fixed_part(sql_sandbox.SYNTAX_ERROR)) as caught:
        run_sandboxed_query(store, sql=sql)
    assert "LINE 1" not in str(caught.value) and "Parser Error" not in str(caught.value)


def test_long_running_query_is_stopped(store):
    started = time.perf_counter()
    with pytest.raises(SandboxRefusal) as caught:
        run_sandboxed_query(store, sql="SELECT count(*) FROM range(10000000000) WHERE range % 7 = 3", timeout_s=1)
    assert str(caught.value) == sql_sandbox.TIMED_OUT.format(seconds=1)
    assert time.perf_counter() - started < 10
    assert run_sandboxed_query(store, sql="SELECT 1 AS one").frame["one"].tolist() == [1]  # still usable


# --- refusals ----------------------------------------------------------------------------------------------
ONLY_SELECT = _fixed_part(sql_sandbox.ONLY_SELECT)
NO_EXTERNAL = sql_sandbox.NO_EXTERNAL_ACCESS
NOT_DISCLOSED = sql_sandbox.NOT_DISCLOSED.split("{name}")[1]
QUERY_FAILED = _fixed_part(sql_sandbox.QUERY_FAILED)

HOSTILE = [
    # reading files, directly or through a SELECT
    ("SELECT * FROM read_csv('/etc/passwd')", NO_EXTERNAL),
    ("SELECT * FROM read_parquet('{dir}/stolen.parquet')", NO_EXTERNAL),
    ("SELECT * FROM read_text('/etc/passwd')", NO_EXTERNAL),
    ("SELECT * FROM read_blob('{ws}')", NO_EXTERNAL),
    ("SELECT * FROM glob('/*')", NO_EXTERNAL),
    ("SELECT * FROM '{dir}/*.duckdb'", NO_EXTERNAL),
    ("SELECT * FROM read_json_auto('https://example.com/x.json')", NO_EXTERNAL),
    ("SELECT * FROM read_xlsx('/etc/passwd')", NO_EXTERNAL),  # would need an extension
    # writing, attaching, loading code, changing settings
    ("COPY telemetry TO '{dir}/stolen.csv'", ONLY_SELECT),
    ("COPY (SELECT * FROM telemetry) TO '{dir}/stolen.parquet' (FORMAT parquet)", ONLY_SELECT),
    ("EXPORT DATABASE '{dir}/exported'", ONLY_SELECT),
    ("ATTACH '{ws}' AS ws", ONLY_SELECT),
    ("DETACH snapshot", ONLY_SELECT),
    ("INSTALL httpfs", ONLY_SELECT),
    ("LOAD httpfs", ONLY_SELECT),
    ("UPDATE EXTENSIONS", ONLY_SELECT),
    ("SET enable_external_access = true", ONLY_SELECT),
    ("RESET lock_configuration", ONLY_SELECT),
    ("PRAGMA database_list", ONLY_SELECT),
    ("CALL pragma_version()", ONLY_SELECT),
    ("CHECKPOINT", ONLY_SELECT),
    ("CREATE TABLE stolen AS SELECT * FROM telemetry", ONLY_SELECT),
    ("DROP VIEW telemetry", ONLY_SELECT),
    ("INSERT INTO telemetry_input VALUES ('m', 1, 'x', '{{}}')", ONLY_SELECT),
    ("UPDATE telemetry SET label = 1 - label", ONLY_SELECT),
    ("DELETE FROM telemetry", ONLY_SELECT),
    ("WITH doomed AS (SELECT 1) DELETE FROM telemetry", ONLY_SELECT),
    ("ALTER TABLE telemetry RENAME TO gone", ONLY_SELECT),
    ("PIVOT telemetry ON model USING count(*)", ONLY_SELECT),  # creates types behind the scenes
    ("SELECT 1; DROP TABLE telemetry", _fixed_part(sql_sandbox.ONE_STATEMENT)),
    ("SELECT 1; SELECT 2", _fixed_part(sql_sandbox.ONE_STATEMENT)),
    # server settings and paths
    ("SELECT getenv('HOME')", NOT_DISCLOSED),
    ("SELECT current_setting('secret_directory')", NOT_DISCLOSED),
    ("SELECT name, value FROM system.main.duckdb_settings()", NOT_DISCLOSED),
    ("SELECT path FROM duckdb_databases", NOT_DISCLOSED),
    ("SELECT * FROM pragma_database_list", NOT_DISCLOSED),
    ("SELECT * FROM query('SELECT current_setting(''home_directory'')')", NOT_DISCLOSED),
    # tables the console does not show
    ("SELECT sha256, content FROM model_artifact", QUERY_FAILED),
    ("SELECT * FROM snapshot.model_artifact", QUERY_FAILED),
    ("SELECT * FROM main.evaluation_row", QUERY_FAILED),
    # nothing, or too much
    ("   ;  -- nothing here", sql_sandbox.EMPTY_QUERY),
    ("SELECT 1" + " " * sql_sandbox.MAX_SQL_CHARS, _fixed_part(sql_sandbox.TOO_LONG)),
]


@pytest.fixture(scope="module")
def baseline(store, workspace):
    """The workspace as it was before any hostile statement, with its snapshot made."""
    run_sandboxed_query(store, sql="SELECT 1")
    return {"tables": store.table_row_counts(), "data_version": store.data_version(),
            "files": sorted(p.name for p in workspace.parent.iterdir())}


@pytest.mark.parametrize("template, message", HOSTILE, ids=[h[0][:50] for h in HOSTILE])
def test_hostile_statement_is_refused_and_changes_nothing(store, workspace, baseline, template, message):
    sql = template.format(dir=workspace.parent, ws=workspace)
    with pytest.raises(SandboxRefusal) as caught:
        run_sandboxed_query(store, sql=sql)
    text = str(caught.value)
    assert message in text
    assert "Traceback" not in text and "Error:" not in text
    if str(workspace.parent) not in sql:  # a path the user typed may come back to them, no other may
        assert str(workspace.parent) not in text and ".sandbox-" not in text

    assert store.table_row_counts() == baseline["tables"]
    assert store.data_version() == baseline["data_version"]
    assert sorted(p.name for p in workspace.parent.iterdir()) == baseline["files"]
    still = run_sandboxed_query(store, sql="SELECT count(*) AS n FROM telemetry").frame["n"].iloc[0]
    assert still == baseline["tables"]["telemetry"]


def test_refusal_is_a_governance_error():
    from governance.errors import GovernanceError
    assert issubclass(SandboxRefusal, GovernanceError)


def test_only_telemetry_is_in_the_snapshot(store, workspace, baseline):
    (snapshot,) = [sql_sandbox.snapshot_folder(store) / name for name in _snapshots(store)]
    assert snapshot.name == f"ws.duckdb.sandbox-{store.data_version(concern=TELEMETRY)}.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"telemetry", "telemetry_input"}


def test_export_snapshot_refuses_names_that_are_not_identifiers(store, tmp_path):
    with pytest.raises(ValueError, match="not a table name"):
        store.export_snapshot(path=tmp_path / "x.duckdb", tables=["telemetry; DROP TABLE model"])
    assert not (tmp_path / "x.duckdb").exists()


# --- snapshots follow the data -------------------------------------------------------------------------------
def test_new_data_version_gets_a_new_snapshot_and_the_old_one_goes(demo_copy):
    with GovernanceStore(demo_copy) as store:
        count = "SELECT count(*) AS n FROM telemetry"
        before = run_sandboxed_query(store, sql=count).frame["n"].iloc[0]
        first = _snapshots(store)
        assert first == [f"copy.duckdb.sandbox-{store.data_version(concern=TELEMETRY)}.duckdb"]

        with store.write() as tx:
            tx.execute("INSERT INTO telemetry SELECT * FROM telemetry ORDER BY ts LIMIT 7")
        after = run_sandboxed_query(store, sql=count).frame["n"].iloc[0]

        assert after == before + 7 == store.query_value("SELECT count(*) FROM telemetry")
        assert _snapshots(store) == [f"copy.duckdb.sandbox-{store.data_version(concern=TELEMETRY)}.duckdb"] != first


def test_snapshots_left_beside_the_workspace_by_an_earlier_quorum_are_removed_not_used(demo_copy):
    # Before issue 20 the snapshot was kept beside the workspace and left there (33 MB for the demo).
    with GovernanceStore(demo_copy) as store:
        stale = demo_copy.with_name(f"copy.duckdb.sandbox-{store.data_version(concern=TELEMETRY)}.duckdb")
        leftover = demo_copy.with_name("copy.duckdb.sandbox-999.tmp.duckdb")
        with duckdb.connect(str(stale)) as con:
            con.execute("CREATE TABLE telemetry AS SELECT 1 AS x")
        leftover.write_bytes(b"half written")

        n = run_sandboxed_query(store, sql="SELECT count(*) AS n FROM telemetry").frame["n"].iloc[0]
        assert n == store.query_value("SELECT count(*) FROM telemetry")
        assert _beside(demo_copy) == []
        assert _snapshots(store) == [stale.name]


def test_the_snapshot_is_kept_in_a_temporary_folder_not_beside_the_workspace(demo_copy):
    with GovernanceStore(demo_copy) as store:
        run_sandboxed_query(store, sql="SELECT 1")
        folder = sql_sandbox.snapshot_folder(store)
        assert _beside(demo_copy) == []
        assert folder.parent == Path(tempfile.gettempdir())
        assert folder.name.startswith(f"{sql_sandbox.FOLDER_PREFIX}{os.getpid()}-")
        assert _snapshots(store) == [f"copy.duckdb.sandbox-{store.data_version(concern=TELEMETRY)}.duckdb"]


QUERY_AND_EXIT = """
import sys
from governance.monitoring.sql_sandbox import run_sandboxed_query, snapshot_folder
from governance.record.store import GovernanceStore
store = GovernanceStore(sys.argv[1])
run_sandboxed_query(store, sql="SELECT count(*) FROM telemetry")
print(snapshot_folder(store), flush=True)
if sys.argv[2] == "killed":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_folder_goes_when_the_process_ends_and_a_killed_ones_with_the_next(demo_copy, tmp_path):
    """The app stops: nothing is left, beside the workspace or in the temporary folder. A process killed before it
    could clean up leaves its folder to the next process that makes one."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}

    def run(ending: str) -> Path:
        done = subprocess.run([sys.executable, "-c", QUERY_AND_EXIT, str(demo_copy), ending], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.stdout.strip(), done.stderr[-2000:]
        return Path(done.stdout.strip())

    ended = run("ended")
    assert not ended.exists() and _beside(demo_copy) == []
    killed = run("killed")
    assert killed.is_dir() and killed.parent == temporary
    assert not run("ended").exists()
    assert not killed.exists(), "the killed process's folder was left behind"
    assert list(temporary.iterdir()) == []


def test_concurrent_queries_while_the_data_changes(demo_copy):
    with GovernanceStore(demo_copy) as store:
        failures, counts = [], []

        def analyst():
            try:
                for _ in range(5):
                    frame = run_sandboxed_query(store, sql="SELECT count(*) AS n FROM telemetry").frame
                    counts.append(int(frame["n"].iloc[0]))
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=analyst) for _ in range(4)]
        for thread in threads:
            thread.start()
        for _ in range(3):
            with store.write() as tx:
                tx.execute("INSERT INTO telemetry SELECT * FROM telemetry LIMIT 1")
        for thread in threads:
            thread.join()

        assert failures == []
        assert len(counts) == 20 and all(60_000 <= n <= 60_003 for n in counts)
        assert len(_snapshots(store)) == 1  # whichever version the last query saw; older ones removed
