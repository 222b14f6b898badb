"""`python -m governance telemetry rollup --model M [--since D] [--engine duckdb|spark]`: the rollups beside a model's
dataset (or a shared workspace's lake) rebuilt on demand, with what it did and what the rollups cost."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from governance.cli.telemetry import BAD_SINCE, NOT_A_LOCAL_DATASET, WORKSPACE_KEEPS_ITS_OWN
from governance.jobs import showing_progress
from governance.monitoring import lake_rollup
from governance.monitoring.telemetry_dataset import dataset_files, partition_day
from governance.record import clock
from governance.record.repositories import settings
from governance.record.store import GovernanceStore
from tests.conftest import open_workspace, workspace_args

MODEL = "adult-income"


def _rollup_files(location: str) -> list[Path]:
    return sorted(p for p in Path(location).rglob("*") if "_rollup" in p.parts and p.is_file())


def _exported(cli, db: Path) -> str:
    """adult-income exported beside the workspace and made its Parquet source, through the CLI."""
    out = db.parent / "adult"
    exported = cli("telemetry", "export", "--db", db, "--model", MODEL, "--out", out)
    assert exported.returncode == 0, exported.stderr
    assert "  rolled up: 90 partitions, " in exported.stdout   # export rolls up what it writes
    chosen = cli("telemetry", "source", "--db", db, "--model", MODEL, "--kind", "parquet", "--location", out,
                 "--by", "farid.haddad")
    assert chosen.returncode == 0, chosen.stderr
    return str(out)


def test_rollup_rebuilds_the_partitions_from_a_day_on_and_reports_their_cost(demo_copy, cli):
    location = _exported(cli, demo_copy)
    files = dataset_files(location)
    days = sorted({partition_day(f) for f in files})
    since = days[60]
    removed = Path(location, "telemetry", "_rollup", f"date={days[70]}")
    shutil.rmtree(removed)   # a partition without a rollup: read from its rows until rebuilt
    assert lake_rollup.plan(files=files, rebuild=False).row_files

    done = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--since", since.isoformat(), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""   # no progress in --json mode
    result = json.loads(done.stdout)
    later = [f for f in files if partition_day(f) >= since]
    assert result["partitions"] == len(days) - 60 == len(result["days"])
    assert [d["day"] for d in result["days"]] == [d.isoformat() for d in days[60:]]
    assert result["rows"] == sum(pq.read_metadata(f).num_rows for f in later)
    assert result["rollup_bytes"] == sum(p.stat().st_size for p in _rollup_files(location))
    assert result["dataset_bytes"] == sum(Path(f).stat().st_size for f in files)
    assert result["rollup_share_pct"] == round(100 * result["rollup_bytes"] / result["dataset_bytes"], 3)
    assert result["engine"] == "duckdb" and result["since"] == since.isoformat() and result["left_out"] == []
    assert (removed / "manifest.json").exists()
    assert lake_rollup.plan(files=files, rebuild=False).row_files == []   # every partition read from its rollup

    # a file of another schema in the last partition: rolled up without it, and named
    bad = Path(location, "telemetry", f"date={days[-1]}", "bad.parquet")
    pq.write_table(pa.table({"when": [1, 2], "what": ["a", "b"]}), bad)
    shown = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--since", days[-1].isoformat())
    assert shown.returncode == 0, shown.stderr
    assert f"{MODEL}: 1 day partitions from {days[-1]} rolled up by duckdb: " \
           f"{sum(pq.read_metadata(f).num_rows for f in files if partition_day(f) == days[-1]):,} rows" in shown.stdout
    assert f"of the dataset's {result['dataset_bytes'] + bad.stat().st_size:,} bytes under {location}" in shown.stdout
    assert f"  left out for a wrong schema: date={days[-1]}/bad.parquet lacks ts, model" in shown.stdout


def test_the_progress_names_each_partition_as_it_is_done(demo_copy, cli):
    location = _exported(cli, demo_copy)
    days = sorted({partition_day(f) for f in dataset_files(location)})
    seen = []
    # what main routes to the terminal's progress line when stderr is one (and --json is not given)
    showing_progress(lambda fraction, message: seen.append((fraction, message)))
    try:
        done = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--since", days[-4].isoformat())
    finally:
        showing_progress(None)
    assert done.returncode == 0, done.stderr
    assert seen == [(0.25, f"##-------- 1/4 {days[-4]}"), (0.5, f"#####----- 2/4 {days[-3]}"),
                    (0.75, f"########-- 3/4 {days[-2]}"), (1.0, f"########## 4/4 {days[-1]}")]


def test_a_model_read_from_the_workspace_is_told_it_keeps_its_own_rollup(demo_copy, cli):
    done = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {WORKSPACE_KEEPS_ITS_OWN.format(model=MODEL)}"


def test_bad_input_is_told_what_to_do(demo_copy, cli):
    bad_day = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--since", "14/08/2026")
    assert bad_day.returncode == 2 and BAD_SINCE.format(value="14/08/2026") in bad_day.stderr
    engine = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--engine", "polars")
    assert engine.returncode == 2 and "invalid choice: 'polars'" in engine.stderr
    unknown = cli("telemetry", "rollup", "--db", demo_copy, "--model", "no-such-model")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error:")
    # a table in Spark's catalog: there is no folder to write rollups beside
    with GovernanceStore(demo_copy) as store:
        with store.write() as tx:
            settings.add_telemetry_source(tx, model=MODEL, kind="spark", location="adult_telemetry", master=None,
                                          set_by="farid.haddad", set_at=clock.now_naive())
    table = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL)
    assert table.returncode == 2
    assert table.stderr.strip() == f"error: {NOT_A_LOCAL_DATASET.format(model=MODEL, location='adult_telemetry')}"
    for done in (bad_day, engine, unknown, table):
        assert "Traceback" not in done.stderr


def test_on_postgresql_it_rolls_up_the_lake(pg_demo_copy, cli):
    done = cli("telemetry", "rollup", *workspace_args(pg_demo_copy), "--model", MODEL, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    files = dataset_files(str(pg_demo_copy.lake))
    assert result["location"] == str(pg_demo_copy.lake)
    assert result["partitions"] == len({partition_day(f) for f in files}) == 90
    # the lake holds every model's rows: the rollups count them all, as the rows do
    assert result["rows"] == sum(pq.read_metadata(f).num_rows for f in files)
    with open_workspace(pg_demo_copy) as store:
        assert result["rows"] == store.analytics.query_value("SELECT count(*) FROM telemetry")
    assert lake_rollup.plan(files=files, rebuild=False).row_files == []


@pytest.mark.spark
def test_spark_rolls_up_the_same_rows(demo_copy, cli):
    pytest.importorskip("pyspark", reason="Spark rollups need pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark rollups need Java 17 (no java on PATH, no JAVA_HOME)")
    location = _exported(cli, demo_copy)
    days = sorted({partition_day(f) for f in dataset_files(location)})
    by_duckdb = json.loads(cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--since",
                               days[-2].isoformat(), "--json").stdout)
    done = cli("telemetry", "rollup", "--db", demo_copy, "--model", MODEL, "--since", days[-2].isoformat(),
               "--engine", "spark", "--json")
    assert done.returncode == 0, done.stderr
    by_spark = json.loads(done.stdout)
    assert by_spark["engine"] == "spark" and by_spark["partitions"] == 2
    assert [(d["day"], d["rows"]) for d in by_spark["days"]] == [(d["day"], d["rows"]) for d in by_duckdb["days"]]
    assert lake_rollup.plan(files=dataset_files(location), rebuild=False).row_files == []
