"""`migrate` leaves the lake rolled up: every day partition it wrote has a fresh rollup, so the PostgreSQL
workspace's pages read summaries from the start instead of every row (and say none was read from rows)."""

from __future__ import annotations

import json

import duckdb

from governance.monitoring import lake_rollup
from governance.monitoring.telemetry_dataset import dataset_files


def test_migrate_rolls_up_every_partition_of_the_lake(demo_copy, postgres_url, tmp_path, cli):
    lake = tmp_path / "lake"
    moved = cli("--db", demo_copy, "migrate", "--to", postgres_url, "--lake", lake, "--json")
    assert moved.returncode == 0, moved.stderr
    result = json.loads(moved.stdout)
    files = dataset_files(str(lake))
    days = {f.split("date=")[1][:10] for f in files}
    assert files and result["rollups"] == len(days)
    # rebuild=False: a stale rollup must show as rows to read, not be quietly rebuilt by the check itself
    plan = lake_rollup.plan(files=files, rebuild=False)
    assert plan.row_files == [] and plan.notes == []
    assert all(len(plan.rollup_files[relation]) == len(days) for relation in lake_rollup.RELATIONS)
    # the rollups summarise every row of the source workspace: their counts add up to its telemetry table's
    with duckdb.connect(str(demo_copy), read_only=True) as connection:
        rows = connection.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    with duckdb.connect() as connection:
        counted = connection.execute("SELECT sum(n) FROM read_parquet($files)",
                                     {"files": plan.rollup_files["telemetry_hourly"]}).fetchone()[0]
    assert counted == rows == result["telemetry_rows"]["telemetry"]


def test_migrate_says_how_many_partitions_it_rolled_up(demo_copy, postgres_url, tmp_path, cli):
    moved = cli("--db", demo_copy, "migrate", "--to", postgres_url, "--lake", tmp_path / "lake")
    assert moved.returncode == 0, moved.stderr
    days = len({f.split("date=")[1][:10] for f in dataset_files(str(tmp_path / "lake"))})
    assert f"{days} day partitions rolled up" in moved.stdout


def test_restore_into_postgresql_rolls_up_the_restored_lake(demo_copy, postgres_url, postgres_server, tmp_path, cli):
    import uuid

    cli("--db", demo_copy, "migrate", "--to", postgres_url, "--lake", tmp_path / "lake", "--json")
    backed = cli("--db", postgres_url, "--lake", tmp_path / "lake", "backup", "--out", tmp_path / "b", "--json")
    assert backed.returncode == 0, backed.stderr
    name = f"t_restored_{uuid.uuid4().hex[:8]}"
    target = postgres_server.create_database(name)
    try:
        restored = cli("restore", "--from", tmp_path / "b", "--to", target, "--lake", tmp_path / "lake2", "--json")
        assert restored.returncode == 0, restored.stderr
        files = dataset_files(str(tmp_path / "lake2"))
        days = {f.split("date=")[1][:10] for f in files}
        assert files and json.loads(restored.stdout)["rollups"] == len(days)
        assert lake_rollup.plan(files=files, rebuild=False).row_files == []
    finally:
        postgres_server.drop_database(name)
