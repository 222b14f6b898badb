"""A lake's rollups: exact counts and sums, percentiles within the sketch's error, and never a stale or damaged one.

The property test draws random partitions (seeded: rows per hour, versions, segments, errors, missing labels and
measures, latencies over four orders of magnitude, a latency of 0) and checks every figure of the rollup against
pandas over the same rows: the counts and sums per model, version, hour and segment exactly (sums to 1e-9), and the
latency percentiles merged from the sketches, at any grouping, within LATENCY_ALPHA of numpy's linear quantile (the
definition of DuckDB's quantile_cont).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from governance.errors import InvalidInputError
from governance.monitoring import lake_rollup
from governance.monitoring.kpis import histogram_quantile

SEEDS = (3, 17, 29, 41, 58)
MEASURES = ["cpu_pct", "memory_mb", "cost_usd", "approved_volume_usd", "expected_value_usd"]


def _rows(rng: np.random.Generator, day: pd.Timestamp) -> pd.DataFrame:
    n = int(rng.integers(1, 4000))
    ts = day + pd.to_timedelta(np.sort(rng.integers(0, 86_400_000_000, n)), unit="us")
    is_error = rng.random(n) < rng.uniform(0, 0.2)
    prediction = np.where(is_error, np.nan, rng.integers(0, 2, n))
    label = np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 2, n))
    latency = np.exp(rng.uniform(np.log(0.5), np.log(5000), n)).round(int(rng.integers(0, 4)))
    latency[rng.random(n) < 0.01] = 0.0
    frame = pd.DataFrame({
        "ts": ts, "model": rng.choice(["m1", "m2"], n), "version": rng.choice(["v1", "v2", "v3"], n),
        "segment": rng.choice(["web", "mobile", "branch"], n), "input_id": rng.integers(0, 500, n),
        "prediction": pd.array(prediction, dtype="Int8"), "score": np.where(is_error, np.nan, rng.random(n).round(3)),
        "label": pd.array(label, dtype="Int8"), "latency_ms": latency, "is_error": is_error})
    for name in MEASURES:
        values = rng.normal(100, 50, n).round(2)
        values[rng.random(n) < 0.05] = np.nan
        frame[name] = values
    return frame


def _write(folder: Path, frame: pd.DataFrame, name: str = "part-0.parquet") -> Path:
    day = frame["ts"].iloc[0].date()
    partition = folder / "telemetry" / f"date={day}"
    partition.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(partition / name, index=False)
    return partition / name


def _dataset(tmp_path: Path, seed: int) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-05-01", periods=int(rng.integers(1, 5)), freq="D")
    frames = [_rows(rng, day) for day in days]
    for frame in frames:
        _write(tmp_path, frame)
    return tmp_path, pd.concat(frames, ignore_index=True)


def _rollup(location: Path, relation: str) -> pd.DataFrame:
    files = sorted(str(f) for f in (location / "telemetry" / lake_rollup.ROLLUP_DIR).glob(f"*/*-{relation}.parquet"))
    return duckdb.connect().execute("SELECT * FROM read_parquet($f)", {"f": files}).df()


def _expected_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """COUNT_SQL's definitions, computed by pandas."""
    ok = ~rows["is_error"]
    labelled = rows["label"].notna()
    pred = rows["prediction"].astype("float")
    label = rows["label"].astype("float")
    frame = rows.assign(
        hour=rows["ts"].dt.floor("h"), n=1, failures=rows["is_error"].astype(int),
        labelled=(labelled & ok).astype(int), correct=((pred == label) & ok).astype(int),
        true_positives=((pred == 1) & (label == 1) & ok).astype(int),
        predicted_positives=((pred == 1) & labelled & ok).astype(int),
        actual_positives=((label == 1) & pred.notna() & ok).astype(int),
        cpu_n=rows["cpu_pct"].notna().astype(int), cpu_sum=rows["cpu_pct"],
        memory_n=rows["memory_mb"].notna().astype(int), memory_sum=rows["memory_mb"],
        cost_n=rows["cost_usd"].notna().astype(int), cost_sum=rows["cost_usd"])
    keys = ["model", "version", "hour", "segment"]
    sums = ["n", "failures", "labelled", "correct", "true_positives", "predicted_positives", "actual_positives",
            "cpu_n", "cpu_sum", "memory_n", "memory_sum", "cost_n", "cost_sum", "approved_volume_usd",
            "expected_value_usd"]
    grouped = frame.groupby(keys)
    out = grouped[sums].sum(min_count=1)
    out["first_ts"], out["last_ts"] = grouped["ts"].min(), grouped["ts"].max()
    return out.reset_index().sort_values(keys, ignore_index=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_rollups_of_random_partitions_match_the_rows(tmp_path, seed):
    location, rows = _dataset(tmp_path, seed)
    made = lake_rollup.rollup_dataset(location=str(location))
    assert sum(m.rows for m in made) == len(rows)
    counts = _rollup(location, "telemetry_hourly").sort_values(["model", "version", "hour", "segment"],
                                                               ignore_index=True)
    expected = _expected_counts(rows)
    assert len(counts) == len(expected)
    for column in expected.columns:
        if column in ("model", "version", "segment"):
            assert counts[column].tolist() == expected[column].tolist(), column
        elif column in ("hour", "first_ts", "last_ts"):
            assert (pd.to_datetime(counts[column]) == expected[column]).all(), column
        else:
            np.testing.assert_allclose(counts[column].astype(float), expected[column].astype(float), rtol=1e-9,
                                       atol=1e-9, equal_nan=True, err_msg=column)
    # percentiles from merged sketches, at three groupings, against numpy's linear quantile of the rows
    sketch = _rollup(location, "telemetry_latency")
    ok = rows[~rows["is_error"]].assign(hour=lambda f: f["ts"].dt.floor("h"), day=lambda f: f["ts"].dt.floor("D"))
    sketch = sketch.assign(day=pd.to_datetime(sketch["hour"]).dt.floor("D"))
    checked = 0
    for keys in (["model", "version", "hour", "segment"], ["model", "version", "day"], ["version"]):
        merged = sketch.groupby(keys + ["value"], as_index=False)["n"].sum()
        for key, group in ok.groupby(keys):
            bins = merged
            for k, v in zip(keys, key if isinstance(key, tuple) else (key,)):
                bins = bins[bins[k] == v]
            histogram = bins.sort_values("value").rename(columns={"value": "latency_ms"})
            assert histogram["n"].sum() == len(group)
            for q in (0.5, 0.95, 0.99):
                exact = float(np.quantile(group["latency_ms"], q))
                assert abs(histogram_quantile(histogram, q) - exact) <= lake_rollup.LATENCY_ALPHA * exact + 1e-12
                checked += 1
    assert checked > 30
    # the slow requests above any latency objective on a step (10 ms apart to 1 s, 100 ms apart to 10 s), exactly
    sketch = _rollup(location, "telemetry_latency")
    for target in (0, 10, 250, 990, 1000, 1100, 5000, 10000):
        step = lake_rollup.latency_step(target=target)
        assert sketch.loc[sketch["step"] > step, "n"].sum() == (ok["latency_ms"] > target).sum(), target
    # drift's per-input counts, exactly
    inputs = _rollup(location, "telemetry_daily_inputs")
    assert inputs["n"].sum() == len(rows) and inputs["n_label"].sum() == rows["label"].notna().sum()


def test_a_rewritten_partition_and_a_damaged_rollup_are_rolled_up_again_and_a_missing_one_read_from_rows(tmp_path):
    rng = np.random.default_rng(5)
    first, second = _rows(rng, pd.Timestamp("2026-05-01")), _rows(rng, pd.Timestamp("2026-05-02"))
    files = [str(_write(tmp_path, first)), str(_write(tmp_path, second))]
    lake_rollup.rollup_dataset(location=str(tmp_path))
    plan = lake_rollup.plan(files=files)
    assert not plan.row_files and not plan.notes and all(len(v) == 2 for v in plan.rollup_files.values())
    # a partition rewritten after its rollup was made (a file added): detected, and rolled up again on reading
    extra = _rows(rng, pd.Timestamp("2026-05-01"))
    files.append(str(_write(tmp_path, extra, name="part-1.parquet")))
    plan = lake_rollup.plan(files=files)
    assert not plan.row_files
    day1 = [f for f in plan.rollup_files["telemetry_hourly"] if "date=2026-05-01" in f]
    assert duckdb.connect().execute("SELECT sum(n) FROM read_parquet($f)", {"f": day1}).fetchone()[0] == \
        len(first) + len(extra)
    # a damaged rollup file (same size, other bytes) is never trusted: rebuilt from its partition
    damaged = Path(plan.rollup_files["telemetry_latency"][1])
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    again = lake_rollup.plan(files=files)
    assert damaged.name not in {Path(f).name for f in again.rollup_files["telemetry_latency"]}
    assert not again.row_files
    # no rollup at all: read from the rows, and said so with the command that makes it
    manifest = Path(again.rollup_files["telemetry_hourly"][1]).parent / lake_rollup.MANIFEST
    manifest.unlink()
    missing = lake_rollup.plan(files=files, model="m1")
    assert missing.row_files == [files[1]]
    assert missing.notes and "1 of 2 day partitions have no rollup" in missing.notes[0]
    assert "telemetry rollup --model m1" in missing.notes[0]


def test_a_manifest_that_is_not_json_counts_as_stale_and_a_half_written_file_is_never_read(tmp_path):
    rng = np.random.default_rng(9)
    files = [str(_write(tmp_path, _rows(rng, pd.Timestamp("2026-05-03"))))]
    made = lake_rollup.roll_up(files=files)
    folder = Path(made.path)
    # a writer that died mid-file leaves only a hidden temporary; the manifest still names the complete generation
    (folder / ".deadbeef-telemetry_hourly.parquet.tmp").write_bytes(b"PAR1 half")
    assert lake_rollup.plan(files=files).has_rollups
    (folder / lake_rollup.MANIFEST).write_text("{ not json", encoding="utf-8")
    plan = lake_rollup.plan(files=files)   # stale: rebuilt
    assert plan.has_rollups and json.loads((folder / lake_rollup.MANIFEST).read_text())["rows"] == made.rows


def test_a_partition_file_of_the_wrong_schema_is_named_and_left_out(tmp_path):
    rng = np.random.default_rng(13)
    good = _rows(rng, pd.Timestamp("2026-05-04"))
    files = [str(_write(tmp_path, good))]
    bad = good.drop(columns=["latency_ms"]).assign(is_error="no")
    files.append(str(_write(tmp_path, bad, name="part-bad.parquet")))
    made = lake_rollup.roll_up(files=files)
    assert made.rows == len(good)
    assert made.left_out == ("date=2026-05-04/part-bad.parquet lacks latency_ms; is_error is VARCHAR",)
    plan = lake_rollup.plan(files=files)
    assert plan.has_rollups and "part-bad.parquet lacks latency_ms" in plan.notes[-1]
    (Path(made.path) / lake_rollup.MANIFEST).unlink()
    rows_plan = lake_rollup.plan(files=files)
    assert rows_plan.row_files == files[:1] and "part-bad.parquet" in rows_plan.notes[-1]


def test_an_unwritable_rollup_folder_gets_a_clear_error(tmp_path):
    rng = np.random.default_rng(21)
    files = [str(_write(tmp_path, _rows(rng, pd.Timestamp("2026-05-05"))))]
    (tmp_path / "telemetry" / lake_rollup.ROLLUP_DIR).write_text("a file where the folder goes")
    with pytest.raises(InvalidInputError, match="cannot write the rollup of date=2026-05-05"):
        lake_rollup.roll_up(files=files)
    plan = lake_rollup.plan(files=files)   # the reader falls back to the rows, and says so
    assert plan.row_files == files and plan.notes
    assert os.path.isfile(tmp_path / "telemetry" / lake_rollup.ROLLUP_DIR)


def test_a_read_rolls_up_again_only_a_few_stale_partitions_and_reads_the_rest_from_rows(tmp_path, monkeypatch):
    rng = np.random.default_rng(33)
    files = [str(_write(tmp_path, _rows(rng, pd.Timestamp(f"2026-05-0{day}")))) for day in (1, 2, 3)]
    lake_rollup.rollup_dataset(location=str(tmp_path))
    for f in files:   # every partition rewritten since (a bulk rewrite, or a new rollup format)
        _write(tmp_path, _rows(rng, pd.Timestamp(Path(f).parent.name.split("=")[1])), name="part-1.parquet")
    files = sorted(str(f) for f in (tmp_path / "telemetry").glob("date=*/*.parquet"))
    monkeypatch.setattr(lake_rollup, "REBUILDS_PER_READ", 2)
    plan = lake_rollup.plan(files=files, model="m1")
    # the two newest rolled up again; the oldest read from its rows, and said so
    assert [Path(f).parent.name for f in plan.row_files] == ["date=2026-05-01"] * 2
    assert len(plan.rollup_files["telemetry_hourly"]) == 2
    assert plan.notes == ["1 of 3 day partitions have out-of-date rollups and were read from their rows (2026-05-01): "
                          "`python -m governance telemetry rollup --model m1` remakes them"]
    assert not lake_rollup.plan(files=files).row_files   # the next read rolls up the rest


def test_latency_objectives_on_a_step_are_counted_exactly_and_others_are_not_claimed():
    assert [lake_rollup.latency_step(target=t) for t in (0, 10, 250.0, 1000, 1100, 10000)] == [0, 1, 25, 100, 101, 190]
    assert [lake_rollup.latency_step(target=t) for t in (255, 1050, 12000, -10)] == [None] * 4


def test_a_rollup_keeps_the_generation_before_it_for_readers_that_planned_with_it(tmp_path, monkeypatch):
    rng = np.random.default_rng(45)
    files = [str(_write(tmp_path, _rows(rng, pd.Timestamp("2026-05-06"))))]
    first = lake_rollup.plan(files=files, rebuild=False)
    assert first.row_files   # nothing rolled up yet
    lake_rollup.roll_up(files=files)
    planned = lake_rollup.plan(files=files)   # a reader plans with the first generation...
    monkeypatch.setattr(lake_rollup, "KEEP_OLD_SECONDS", 0.0)
    lake_rollup.roll_up(files=files)          # ...while a writer replaces it (the second) and then again (the third)
    assert all(Path(f).exists() for found in planned.rollup_files.values() for f in found)
    lake_rollup.roll_up(files=files)
    folder = Path(lake_rollup.rollup_folder(files=files))
    assert len(list(folder.glob("*.parquet"))) == 2 * len(lake_rollup.RELATIONS)   # this generation and the one before
