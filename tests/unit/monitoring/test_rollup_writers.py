"""Rollups are written where telemetry lands: `telemetry export` rolls up every partition it writes, an ingest into a
shared workspace's lake rolls up the days it touched once it commits, and Spark writes the same rollup as DuckDB.

Each rollup is checked against the partition's rows read back independently (pyarrow and pandas, no Quorum code)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from governance.monitoring import ingest, lake_rollup, telemetry_setup
from governance.monitoring.telemetry_dataset import dataset_files, partition_day
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, copy_workspace
from tests.unit.monitoring.test_ingest import _good_rows

MODEL = "adult-income"
KEYS = ["model", "version", "hour", "segment"]


def _by_day(files: list[str]) -> dict:
    days: dict = {}
    for f in files:
        days.setdefault(partition_day(f), []).append(f)
    return days


def _manifest(files: list[str]) -> dict:
    folder = Path(files[0]).parent.parent / "_rollup" / Path(files[0]).parent.name
    return json.loads((folder / "manifest.json").read_text())


def _rollup_frames(files: list[str]) -> dict[str, pd.DataFrame]:
    """A partition's rollup files as the manifest names them, read by pyarrow."""
    folder = Path(files[0]).parent.parent / "_rollup" / Path(files[0]).parent.name
    return {relation: pq.read_table(folder / name).to_pandas()
            for relation, (name, _) in _manifest(files)["files"].items()}


def _rows(files: list[str]) -> pd.DataFrame:
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def _hourly_from_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The counts and sums per model, version, hour and segment, computed by pandas from the rows."""
    ok = ~rows["is_error"]
    frame = rows.assign(hour=rows["ts"].dt.floor("h"), failures=rows["is_error"],
                        labelled=rows["label"].notna() & ok,
                        correct=(rows["prediction"] == rows["label"]).fillna(False) & ok)
    return (frame.groupby(KEYS).agg(n=("ts", "size"), failures=("failures", "sum"), labelled=("labelled", "sum"),
                                    correct=("correct", "sum"), cost_sum=("cost_usd", "sum"),
                                    first_ts=("ts", "min"), last_ts=("ts", "max"))
            .reset_index().sort_values(KEYS, ignore_index=True))


def _assert_hourly_matches_rows(rollup: pd.DataFrame, rows: pd.DataFrame) -> None:
    expected = _hourly_from_rows(rows)
    got = rollup.sort_values(KEYS, ignore_index=True)
    assert len(got) == len(expected)
    for column in ("model", "version", "segment"):
        assert list(got[column]) == list(expected[column])
    for column in ("hour", "first_ts", "last_ts"):
        assert list(pd.to_datetime(got[column])) == list(pd.to_datetime(expected[column])), column
    for column in ("n", "failures", "labelled", "correct"):
        assert got[column].astype("int64").tolist() == expected[column].astype("int64").tolist(), column
    np.testing.assert_allclose(got["cost_sum"].astype(float), expected["cost_sum"].astype(float), rtol=1e-9)


# --- telemetry export ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(demo_workspace, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rollup_export")
    db = copy_workspace(demo_workspace, folder / "ws.duckdb")
    with GovernanceStore(db) as store:
        result = telemetry_setup.export_parquet(store, model=MODEL, out=folder / "adult")
        rows = store.analytics.query("SELECT * FROM telemetry WHERE model = $model", {"model": MODEL})
    return {"db": db, "result": result, "location": str(folder / "adult"), "rows": rows}


def test_export_rolls_up_every_partition_it_writes(exported):
    result, location = exported["result"], exported["location"]
    files = dataset_files(location)
    by_day = _by_day(files)
    assert result["rollups"] == result["partitions"] == len(by_day) == 90
    rollup_bytes = sum(p.stat().st_size for p in Path(location, "telemetry", "_rollup").rglob("*.parquet"))
    assert result["rollup_bytes"] == rollup_bytes > 0
    # none is read from rows: every partition has a rollup that its files still match
    plan = lake_rollup.plan(files=files, rebuild=False)
    assert plan.row_files == [] and plan.notes == []
    rows = exported["rows"]
    for day, day_files in by_day.items():
        manifest = _manifest(day_files)
        assert sorted(name for name, *_ in manifest["sources"]) == sorted(os.path.basename(f) for f in day_files)
        assert manifest["rows"] == sum(pq.read_metadata(f).num_rows for f in day_files)
        # the workspace's own rows of that day, rolled up by pandas, are the rollup's counts
        _assert_hourly_matches_rows(_rollup_frames(day_files)["telemetry_hourly"],
                                    rows[rows["ts"].dt.date == day])


# --- Spark --------------------------------------------------------------------------------------------------------
def _spark_or_skip():
    pytest.importorskip("pyspark", reason="Spark rollups need pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark rollups need Java 17 (no java on PATH, no JAVA_HOME)")


@pytest.mark.spark
def test_spark_writes_the_same_rollup_as_duckdb(exported, tmp_path):
    _spark_or_skip()
    location = tmp_path / "adult"
    shutil.copytree(exported["location"], location)   # this test rewrites a rollup: a copy of its own
    files = dataset_files(str(location))
    day = sorted(_by_day(files))[10]
    day_files = _by_day(files)[day]
    by_duckdb = lake_rollup.rollup_partition(location=str(location), day=day, engine="duckdb")
    duckdb_frames = _rollup_frames(day_files)
    duckdb_schemas = {r: pq.read_schema(Path(by_duckdb.path) / name).remove_metadata()
                      for r, (name, _) in _manifest(day_files)["files"].items()}
    by_spark = lake_rollup.rollup_partition(location=str(location), day=day, engine="spark")
    spark_frames = _rollup_frames(day_files)
    assert by_spark.rows == by_duckdb.rows == sum(pq.read_metadata(f).num_rows for f in day_files)
    for relation, expected in duckdb_frames.items():
        name = _manifest(day_files)["files"][relation][0]
        assert pq.read_schema(Path(by_spark.path) / name).remove_metadata() == duckdb_schemas[relation], relation
        got = spark_frames[relation]
        assert len(got) == len(expected) > 0, relation
        # row for row, in DuckDB's order; Spark adds in another order, and its pow is Java's: the last bit of a
        # float may differ, nothing more
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    _assert_hourly_matches_rows(spark_frames["telemetry_hourly"], _rows(day_files))


def test_the_translation_writes_a_float_exactly_and_as_a_double():
    from governance.monitoring.spark_engine import spark_sql

    gamma = lake_rollup.LATENCY_GAMMA
    text = spark_sql("SELECT ln(latency_ms) / ln($gamma) FROM telemetry", {"gamma": gamma}, relation="v")
    assert f"CAST('{gamma!r}' AS DOUBLE)" in text and float(repr(gamma)) == gamma


# --- ingest into a shared workspace's lake ----------------------------------------------------------------------------
def _ingest_rows(day: str, n: int, *, seed: int = 3) -> pd.DataFrame:
    """n valid rows 20 seconds apart from the start of `day` (under 6 hours), about 2% failed."""
    return _good_rows(n, seed=seed, start=day, every="20s", inputs=1_000)


def test_an_ingest_into_the_lake_rolls_up_the_days_it_touched(pg_demo_copy, tmp_path):
    lake = str(pg_demo_copy.lake)
    before = _by_day(dataset_files(lake))
    day = sorted(before)[-3]   # a day the lake holds already: the new file joins its partition
    untouched = sorted(before)[-4]
    untouched_manifest = _manifest(before[untouched]) if Path(
        before[untouched][0]).parent.parent.joinpath("_rollup", f"date={untouched}", "manifest.json").exists() else None
    file = tmp_path / "serving.parquet"
    _ingest_rows(str(day), 1_000).to_parquet(file, index=False)
    outcome = ingest.ingest_file(workspace=pg_demo_copy.url, lake=lake, file=file, model=MODEL, version="v2",
                                 actor=lambda store: LEADER)
    assert outcome.mode == "ingested" and outcome.rows_accepted == 1_000
    after = _by_day(dataset_files(lake))
    assert len(after[day]) == len(before[day]) + 1
    # fresh: the manifest names the partition's files as they are now, so it is read from its rollup
    assert lake_rollup.plan(files=after[day], rebuild=False).row_files == []
    rows = _rows(after[day])
    assert _manifest(after[day])["rows"] == len(rows) == sum(pq.read_metadata(f).num_rows for f in before[day]) + 1_000
    _assert_hourly_matches_rows(_rollup_frames(after[day])["telemetry_hourly"], rows)
    # a day the ingest did not touch is left as it was
    if untouched_manifest is None:
        assert not Path(after[untouched][0]).parent.parent.joinpath("_rollup", f"date={untouched}").exists()
    else:
        assert _manifest(after[untouched]) == untouched_manifest
