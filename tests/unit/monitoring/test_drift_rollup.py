"""Drift read from a lake's rollups is drift read from its rows, exactly.

A property test over random partitions: for each of several seeds, a random telemetry dataset (a random number of
days from a random weekday, random rows per day, two versions, numeric and categorical inputs with missing and unseen
values, errors, missing labels, rows whose input has no record and rows with no input at all) is written to a
workspace, exported as a Parquet dataset and the model pointed at it. The drift reports (a training reference and
telemetry reference periods, day and week grains, both versions) computed from the workspace's rows by the row SQL
are the expected figures; the same reports over the dataset before its rollups exist, after
lake_rollup.rollup_dataset, and with one partition's rollup gone (that day read from its rows) must equal them:
counts and statuses exactly, PSI, KS and chi-square statistics and p-values to 1e-12.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.monitoring import drift, lake_rollup, telemetry_setup, telemetry_sources
from governance.monitoring.kpis import Window
from governance.record.store import GovernanceStore
from tests.conftest import LEADER

MODEL = "rand"
SEEDS = (11, 23, 47)
COLOURS = ["red", "green", "blue", "grey"]
DAY0 = pd.Timestamp("2026-03-02")   # a Monday; each seed starts from a random day of that week
TOLERANCE = 1e-12


# --- a random dataset ------------------------------------------------------------------------------------------------

def _inputs(rng, n: int) -> pd.DataFrame:
    """Distinct inputs: a small-integer feature (KS per period), a continuous one with more distinct values than
    drift.VALUE_LIMIT (counted per bin), a category with unseen values; some missing or absent."""
    age = rng.integers(18, 90, n).astype(float)
    income = np.round(rng.gamma(2.0, 25.0, n), 3)
    colour = rng.choice(COLOURS + ["violet"], n, p=[0.35, 0.25, 0.2, 0.1, 0.1]).astype(object)
    age[rng.random(n) < 0.03] = np.nan
    colour[rng.random(n) < 0.03] = None
    records = []
    for a, i, c in zip(age, income, colour):
        record = {"age": None if np.isnan(a) else int(a), "income": float(i), "colour": c}
        if rng.random() < 0.02:
            del record["income"]      # absent altogether: missing too
        records.append(json.dumps(record))
    return pd.DataFrame({"model": MODEL, "input_id": np.arange(n, dtype=np.int64), "source": "test",
                         "features": records})


def _telemetry(rng, *, first: pd.Timestamp, days: int, n_inputs: int) -> pd.DataFrame:
    """Rows of `days` days from `first`, of v1 throughout and v2 from the third day, drifting as days go by."""
    per_day = rng.integers(600, 1_400, days)
    frames = []
    for d, n in enumerate(per_day):
        seconds = np.sort(rng.integers(0, 86_400, n))
        version = np.where((d >= 2) & (rng.random(n) < 0.4), "v2", "v1")
        drifted = rng.random(n) < d / (2 * days)
        input_id = np.where(drifted, rng.integers(n_inputs // 2, n_inputs, n), rng.integers(0, n_inputs, n))
        input_id = pd.array(input_id, dtype="Int64")
        input_id[rng.random(n) < 0.01] = n_inputs + 1_000    # an input with no record
        input_id[rng.random(n) < 0.005] = pd.NA              # no input at all
        is_error = rng.random(n) < 0.04
        score = np.round(rng.beta(2 + 3 * drifted, 5, n), 3)
        label = np.where(rng.random(n) < 0.7, (rng.random(n) < 0.3).astype(float), np.nan)
        if d >= days - 2:
            label[:] = np.nan                                  # the last days have no labels yet
        frames.append(pd.DataFrame({
            "ts": first + pd.Timedelta(days=d) + pd.to_timedelta(seconds, unit="s"), "model": MODEL,
            "version": version, "segment": rng.choice(["web", "branch"], n), "input_id": input_id,
            "prediction": pd.array(np.where(is_error, np.nan, (score >= 0.5).astype(float)), dtype="Int8"),
            "score": np.where(is_error, np.nan, score),
            "label": pd.array(np.where(is_error, np.nan, label), dtype="Int8"),
            "latency_ms": rng.gamma(2.0, 20.0, n), "is_error": is_error, "cpu_pct": 10.0, "memory_mb": 100.0,
            "cost_usd": 0.001, "approved_volume_usd": 0.0, "expected_value_usd": 0.0}))
    return pd.concat(frames, ignore_index=True)


def _evaluation_rows(rng, n: int = 600) -> pd.DataFrame:
    return pd.DataFrame({
        "model": MODEL, "version": "v1", "row_id": np.arange(n, dtype=np.int32),
        "features": [json.dumps({"age": int(a), "income": float(i), "colour": str(c)}) for a, i, c in zip(
            rng.integers(18, 70, n), np.round(rng.gamma(2.0, 20.0, n), 3), rng.choice(COLOURS, n))],
        "sensitive": "{}", "y_true": np.int8(0), "y_pred": np.int8(0), "score": np.round(rng.beta(2, 5, n), 3)})


def _dataset(folder: Path, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    first = DAY0 + pd.Timedelta(days=int(rng.integers(0, 7)))
    days = int(rng.integers(8, 13))
    n_inputs = 1_500
    store = GovernanceStore(folder / "ws.duckdb")
    with store.write() as tx:
        tx.execute(f"INSERT INTO model VALUES ('{MODEL}', 'p', 'u', 'o', 'high', NULL, now())")
        for version in ("v1", "v2"):
            tx.execute(f"INSERT INTO model_version VALUES ('{MODEL}', '{version}', 'logistic_regression', 't', "
                       "now(), 'production', '{}')")
        tx.insert_frame("evaluation_row", _evaluation_rows(rng))
        inputs = _inputs(rng, n_inputs)
        telemetry = _telemetry(rng, first=first, days=days, n_inputs=n_inputs)
        tx.insert_frame("telemetry_input", inputs)
        tx.insert_frame("telemetry", telemetry)
    location = folder / "lake"
    telemetry_setup.export_parquet(store, model=MODEL, out=location)
    shutil.rmtree(location / telemetry_sources.TELEMETRY_DIR / "_rollup", ignore_errors=True)   # none yet
    return {"store": store, "location": str(location), "first": first, "days": days, "inputs": inputs,
            "telemetry": telemetry}


def _colour_counts(data: dict, *, version: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Rows per colour in [start, end) by pandas: None where the record has none, or the row no record at all."""
    colours = data["inputs"].set_index("input_id")["features"].map(lambda text: json.loads(text)["colour"])
    rows = data["telemetry"]
    rows = rows[(rows["version"] == version) & (rows["ts"] >= start) & (rows["ts"] < end)]
    return rows["input_id"].map(colours).fillna("(none)").value_counts()


# --- the reports ----------------------------------------------------------------------------------------------------

def _day(first: pd.Timestamp, d: int) -> str:
    return (first + pd.Timedelta(days=d)).date().isoformat()


def _reports(store: GovernanceStore, first: pd.Timestamp, days: int) -> dict:
    """Drift as the page, the CLI and the alerts ask for it: a training reference over every day at both grains,
    and telemetry reference periods of each version, with the current window open or given in whole days."""
    reports = {
        "training_day": drift.drift_report(store, model=MODEL, version="v1", grain="day"),
        "training_week": drift.drift_report(store, model=MODEL, version="v1", grain="week"),
        "v1_period_week": drift.drift_report(store, model=MODEL, version="v1", grain="week",
                                             reference=(_day(first, 0), _day(first, 2))),
        "v2_period_day": drift.drift_report(store, model=MODEL, version="v2", grain="day",
                                            reference=(_day(first, 2), _day(first, 4)),
                                            current=(_day(first, 5), _day(first, days - 1))),
    }
    served = {v: drift.served_days(store, model=MODEL, version=v) for v in ("v1", "v2")}
    offered = {v: drift.default_reference_period(store, model=MODEL, version=v) for v in ("v1", "v2")}
    return {"reports": reports, "served": served, "offered": offered}


def _assert_frames_equal(expected: pd.DataFrame, got: pd.DataFrame, name: str) -> None:
    assert list(got.columns) == list(expected.columns) and len(got) == len(expected), name
    for column in expected.columns:
        a, b = expected[column].reset_index(drop=True), got[column].reset_index(drop=True)
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            np.testing.assert_allclose(b.astype(float), a.astype(float), rtol=TOLERANCE, atol=TOLERANCE,
                                       equal_nan=True, err_msg=f"{name}.{column}")
        else:   # counts, statuses, labels, periods and flags: exactly
            assert a.astype(str).tolist() == b.astype(str).tolist(), f"{name}.{column}"


def _assert_same(expected: dict, got: dict) -> None:
    assert got["served"] == expected["served"] and got["offered"] == expected["offered"]
    for name, report in expected["reports"].items():
        other = got["reports"][name]
        assert (other.current, other.reference, other.judged_period) == \
            (report.current, report.reference, report.judged_period), name
        assert other.label_note == report.label_note, name
        for part in ("features", "periods", "distributions", "label_coverage"):
            _assert_frames_equal(getattr(report, part), getattr(other, part), f"{name}.{part}")


@contextlib.contextmanager
def _statements(monkeypatch):
    """The statements drift sends to the model's source (telemetry_sources.query, which query_rows calls too), each
    still run by the real function."""
    seen: list[str] = []
    real = telemetry_sources.query

    def recording(store, sql, params):
        seen.append(sql)
        return real(store, sql, params)

    with monkeypatch.context() as patch:
        patch.setattr(telemetry_sources, "query", recording)
        yield seen


def _reads_rows(sql: str) -> bool:
    return re.search(r"\btelemetry\b", sql) is not None   # the relation itself, not telemetry_input or a rollup


def _point_at(store: GovernanceStore, kind: str, location: str | None = None) -> None:
    telemetry_setup.set_source(store, model=MODEL, kind=kind, location=location, actor=LEADER)


# --- the property ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_drift_from_rollups_equals_drift_from_rows(tmp_path, monkeypatch, seed):
    data = _dataset(tmp_path, seed)
    store, location, first, days = data["store"], data["location"], data["first"], data["days"]
    try:
        expected = _reports(store, first, days)   # the workspace's rows, by the row SQL
        judged = pd.concat([r.features["status"] for r in expected["reports"].values()])
        assert judged.isin(drift.JUDGED).any(), "no status judged: the data would not test the statuses"
        # the row figures themselves, against pandas: a row whose input has no record (or that has no input) is
        # missing, as a missing colour is, not a category the reference never saw
        report = expected["reports"]["v1_period_week"]
        colour = report.distribution("colour").set_index("bin_label")
        for side, start, end in (("reference", first, first + pd.Timedelta(days=3)),
                                 ("current", report.current.start, report.current.end)):
            counts = _colour_counts(data, version="v1", start=start, end=end)
            assert colour.loc[drift.MISSING_BIN, f"{side}_count"] == counts.get("(none)", 0) > 0, side
            for category in ("red", "violet"):
                assert colour.loc[category, f"{side}_count"] == counts.get(category, 0), (side, category)
        # against the evaluation set, which has neither violet nor a missing colour, both count as unseen
        report = expected["reports"]["training_week"]
        counts = _colour_counts(data, version="v1", start=report.current.start, end=report.current.end)
        unseen = report.distribution("colour").set_index("bin_label").loc[drift.OTHER_BIN, "current_count"]
        assert unseen == counts.get("violet", 0) + counts.get("(none)", 0)
        _point_at(store, "parquet", location)
        assert telemetry_sources.reads_rollups(store, model=MODEL)

        # before any rollup exists: every partition is read from its rows
        _assert_same(expected, _reports(store, first, days))

        rolled = lake_rollup.rollup_dataset(location=location)
        assert sorted(r.day for r in rolled) == [(first + pd.Timedelta(days=d)).date() for d in range(days)]
        with _statements(monkeypatch) as statements:
            got = _reports(store, first, days)
        _assert_same(expected, got)
        for name, report in got["reports"].items():   # nothing read from rows: nothing more to say
            assert report.notes == expected["reports"][name].notes, name
        assert any("telemetry_daily_inputs" in sql for sql in statements)
        assert not [sql for sql in statements if _reads_rows(sql)], "drift read rows, not the rollups"

        # the rollup counts drift reads are the rows' own: rows per day and version, and labels
        inputs = telemetry_sources.query(store, "SELECT version, day, sum(n) AS n, sum(n_label) AS labels "
                                         "FROM telemetry_daily_inputs WHERE model = $model GROUP BY ALL ORDER BY ALL",
                                         {"model": MODEL})
        rows = store.query("SELECT version, ts::DATE AS day, count(*) AS n, count(label) AS labels FROM telemetry "
                           "GROUP BY ALL ORDER BY ALL")
        assert inputs["n"].astype(int).tolist() == rows["n"].astype(int).tolist()
        assert inputs["labels"].astype(int).tolist() == rows["labels"].astype(int).tolist()

        # one partition's rollup gone: that day is read from its rows, and says so; the figures do not move
        gone = first + pd.Timedelta(days=days // 2)
        shutil.rmtree(Path(location) / telemetry_sources.TELEMETRY_DIR / "_rollup" / f"date={gone.date().isoformat()}")
        got = _reports(store, first, days)
        _assert_same(expected, got)
        for name in ("training_day", "training_week"):   # their windows hold every day
            notes, before = got["reports"][name].notes, expected["reports"][name].notes
            assert notes[:len(before)] == before and len(notes) == len(before) + 1, name
            assert "1 of" in notes[-1] and gone.date().isoformat() in notes[-1] and "rows" in notes[-1], notes
    finally:
        store.close()


def test_a_window_not_on_whole_days_is_counted_from_the_rows(tmp_path, monkeypatch):
    data = _dataset(tmp_path, SEEDS[0])
    store, first = data["store"], data["first"]
    window = Window(first + pd.Timedelta(hours=5), first + pd.Timedelta(days=4, hours=7))
    try:
        expected = drift.drift_report(store, model=MODEL, version="v1", grain="day", current=window)
        _point_at(store, "parquet", data["location"])
        lake_rollup.rollup_dataset(location=data["location"])
        assert not drift._from_rollups(store, model=MODEL, window=window)
        assert drift._from_rollups(store, model=MODEL, window=Window(first, first + pd.Timedelta(days=4)))
        with _statements(monkeypatch) as statements:
            got = drift.drift_report(store, model=MODEL, version="v1", grain="day", current=window)
        assert [sql for sql in statements if "per_input" in sql and _reads_rows(sql)], "a part day needs the rows"
        for part in ("features", "periods", "distributions", "label_coverage"):
            _assert_frames_equal(getattr(expected, part), getattr(got, part), part)
    finally:
        store.close()
