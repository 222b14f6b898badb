"""Telemetry sources: the same KPI, A/B and drift results from the workspace, from the demo's telemetry exported to
a date-partitioned Parquet dataset (DuckDB in place), and from Apache Spark in local mode over that dataset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.access.identity import PermissionDeniedError
from governance.decisions import release_gate
from governance.errors import InvalidInputError
from governance.evidence import robustness
from governance.monitoring import (compare, data_quality, drift, kpis, lake_rollup, service_levels, telemetry_setup,
                                   telemetry_sources)
from governance.monitoring.explore import View, explore
from governance.monitoring.inventory import list_versions
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, VIEWER, copy_workspace

MODEL = "adult-income"
AB_WINDOW = kpis.Window(pd.Timestamp("2026-08-30"), pd.Timestamp("2026-09-29"))
WEEK = kpis.Window(pd.Timestamp("2026-09-01"), pd.Timestamp("2026-09-08"))
WEEKDAYS = View(measure="latency_p95_ms", dimensions=("weekday", "hour_of_day", "version"), grain=None,
                filters=(("model", (MODEL,)),))


def results(store: GovernanceStore) -> dict:
    """Everything the KPI, A/B comparison and Drift pages show for adult-income, as computed by the services."""
    span = kpis.data_window(store, model=MODEL)
    out = {"window": span}
    for grain in ("hour", "day", "week"):
        out[f"series_{grain}"] = kpis.kpi_series(store, model=MODEL, window=span, grain=grain)
    out["summary"] = kpis.kpi_view(store, model=MODEL, window=span, grain="day").summary
    out["week"] = kpis.kpi_view(store, model=MODEL, window=WEEK, grain="day").summary
    out["ab"] = pd.DataFrame([k.as_dict() for k in compare.compare_versions(store, model=MODEL, a="v1", b="v2",
                                                                            window=AB_WINDOW)])
    # the service levels (250 ms, a step of the latency rollup: slow requests counted exactly from rollups)
    judged = service_levels.slo_judgment(store, model=MODEL, window=span)
    breaches = pd.DataFrame([b.as_dict() for b in judged.breaches])
    latency = breaches["kpi"] == "latency_p95_ms"   # its worst is an hour's p95: from the sketch, within its error
    out["slo_breaches"] = breaches.assign(worst=breaches["worst"].where(~latency),
                                          worst_latency_p95=breaches["worst"].where(latency))
    assert latency.any()
    out["slo_budgets"] = pd.DataFrame([b.as_dict() for b in judged.budgets.values()])
    out["overlap"] = compare.overlap_window(store, model=MODEL, a="v1", b="v2")
    report = drift.drift_report(store, model=MODEL, version="v1", grain="week")
    reference_period = drift.drift_report(store, model=MODEL, version="v2", grain="week",
                                          reference=("2026-08-30", "2026-09-06"))
    for name, r in (("drift", report), ("drift_period", reference_period)):
        out[f"{name}_features"], out[f"{name}_periods"] = r.features, r.periods
        out[f"{name}_distributions"], out[f"{name}_labels"] = r.distributions, r.label_coverage
    quality = data_quality.quality_report(store, model=MODEL, grain="week")
    out["quality_checks"], out["quality_trend"] = pd.DataFrame(quality["checks"]), pd.DataFrame(quality["trend"])
    # the inventory, the sign-offs' evidence window, robustness's weekly slices and the retraining policy
    out["versions"] = list_versions(store).query("model == @MODEL")[["version", "telemetry_rows", "first_ts",
                                                                     "last_ts"]]
    out["weeks"] = robustness._weeks(store, model=MODEL, version="v1", until="2026-09-28T23:59:59")
    out["triggers"] = pd.DataFrame(release_gate.retraining_triggers(store, model=MODEL)["triggers"])
    return out


def assert_same(expected: dict, got: dict, *, percentile_tolerance: float = 1e-9) -> None:
    assert got["window"] == expected["window"] and got["overlap"] == expected["overlap"]
    for name, frame in expected.items():
        if not isinstance(frame, pd.DataFrame):
            continue
        other = got[name]
        assert list(other.columns) == list(frame.columns) and len(other) == len(frame), name
        for column in frame.columns:
            a, b = frame[column].reset_index(drop=True), other[column].reset_index(drop=True)
            numeric = pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a)
            if numeric or pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
                # a dataset's KPI percentiles come from its rollups' latency sketches: each within their relative
                # error, so a standard deviation of them within that share of the largest
                tolerance = percentile_tolerance if "latency_p" in column else 1e-9
                slack = percentile_tolerance * np.nanmax(frame["latency_p95_ms"]) if column.endswith("rolling_std_ms") \
                    else 1e-9
                np.testing.assert_allclose(b.astype(float), a.astype(float), rtol=tolerance, atol=slack,
                                           equal_nan=True, err_msg=f"{name}.{column}")
            elif pd.api.types.is_datetime64_any_dtype(a):
                assert (pd.to_datetime(b) == a).all(), f"{name}.{column}"
            else:
                assert a.astype(str).tolist() == b.astype(str).tolist(), f"{name}.{column}"


@pytest.fixture(scope="module")
def lake(demo_workspace, tmp_path_factory):
    """A private copy of the demo, its workspace results, and adult-income's telemetry exported as a dataset."""
    folder = tmp_path_factory.mktemp("lake")
    db = copy_workspace(demo_workspace, folder / "ws.duckdb")
    with GovernanceStore(db) as store:
        expected = results(store)
        exported = telemetry_setup.export_parquet(store, model=MODEL, out=folder / "adult")
    return {"db": db, "expected": expected, "exported": exported, "location": str(folder / "adult")}


def test_the_export_is_partitioned_by_day_and_holds_every_row(lake):
    exported = lake["exported"]
    with GovernanceStore(lake["db"]) as store:
        days = store.query_value("SELECT count(DISTINCT ts::DATE) FROM telemetry WHERE model = ?", [MODEL])
        rows = store.query_value("SELECT count(*) FROM telemetry WHERE model = ?", [MODEL])
    assert exported["partitions"] == days == 90 and exported["rows"] == rows
    files = telemetry_sources.partitions(lake["location"])
    assert len(files) == 90 and all(os.path.basename(os.path.dirname(f)).startswith("date=2026-") for f in files)


def test_parquet_in_place_gives_the_same_kpis_ab_and_drift_and_a_week_opens_only_its_partitions(lake):
    with GovernanceStore(lake["db"]) as store:
        telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=lake["location"], actor=LEADER)
        assert telemetry_sources.source_for(store, model=MODEL).kind == "parquet"
        assert telemetry_sources.row_count(store, model=MODEL) == lake["exported"]["rows"]
        got = results(store)
        kpis.kpi_view(store, model=MODEL, window=WEEK, grain="day")   # the last query: a 7-day window
        last = telemetry_sources.last_query(MODEL)
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
    assert_same(lake["expected"], got, percentile_tolerance=lake_rollup.LATENCY_ALPHA)
    week = telemetry_sources.partitions(lake["location"], start=WEEK.start, end=WEEK.end)
    assert [os.path.basename(os.path.dirname(f)) for f in week] == [f"date=2026-09-0{d}" for d in range(1, 8)]
    # the export rolled every partition up: the last query (the week's latency sketch) opened the week's sketches
    sketches = [str(f) for day in range(1, 8)
                for f in (Path(lake["location"]) / "telemetry" / lake_rollup.ROLLUP_DIR / f"date=2026-09-0{day}").glob(
                    "*-telemetry_latency.parquet")]
    assert len(sketches) == 7
    assert last["engine"] == "parquet" and last["bytes_opened"] == telemetry_sources.bytes_of(sketches)
    assert last["bytes_opened"] < lake["exported"]["bytes"] / 10


def test_bad_sources_are_refused_and_nothing_is_recorded(lake, tmp_path, monkeypatch):
    # tmp_path is outside the lake's (the workspace's) folder: an admin allows it beside that folder
    monkeypatch.setenv(telemetry_sources.ROOTS_ENV, f"{os.path.dirname(lake['location'])},{tmp_path}")
    with GovernanceStore(lake["db"]) as store:
        before = store.query_value("SELECT count(*) FROM telemetry_source")
        with pytest.raises(PermissionDeniedError):
            telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=lake["location"],
                                         actor=VIEWER)
        with pytest.raises(InvalidInputError, match="holds no Parquet telemetry"):
            telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=str(tmp_path), actor=LEADER)
        with pytest.raises(InvalidInputError, match="needs a location"):
            telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=" ", actor=LEADER)
        with pytest.raises(InvalidInputError, match="a telemetry source is one of"):
            telemetry_setup.set_source(store, model=MODEL, kind="s3", location=lake["location"], actor=LEADER)
        partition = tmp_path / "telemetry" / "date=2026-09-01"
        partition.mkdir(parents=True)
        pd.DataFrame({"ts": [pd.Timestamp("2026-09-01 10:00")], "model": [MODEL]}).to_parquet(partition / "a.parquet")
        with pytest.raises(InvalidInputError, match="lacks the columns version, segment"):
            telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=str(tmp_path), actor=LEADER)
        assert store.query_value("SELECT count(*) FROM telemetry_source") == before


def test_the_spark_translation_names_sparks_functions_and_writes_values_as_literals():
    from governance.monitoring.telemetry_sql import KPI_SERIES_RAW_SQL

    text = telemetry_sources.spark_sql(KPI_SERIES_RAW_SQL, {
        "grain": "day", "model": "it's", "version": None, "start": pd.Timestamp("2026-09-01"),
        "end": pd.Timestamp("2026-09-08")}, relation="view_1")
    assert "$" not in text and "PERCENTILE(latency_ms, ARRAY(0.5, 0.95, 0.99))" in text
    assert "'it''s'" in text or "'it\\'s'" in text   # a quote in a value stays inside its literal
    assert "FROM view_1 AS telemetry" in text and "CAST('2026-09-01 00:00:00' AS TIMESTAMP)" in text


@pytest.mark.spark
def test_spark_local_mode_gives_the_same_kpis_ab_and_drift(lake, tmp_path, monkeypatch):
    monkeypatch.setenv(telemetry_sources.ROOTS_ENV, f"{os.path.dirname(lake['location'])},{tmp_path}")
    with GovernanceStore(lake["db"]) as store:
        with pytest.raises(InvalidInputError, match="Spark cannot read"):
            telemetry_setup.set_source(store, model=MODEL, kind="spark", location=str(tmp_path / "none"),
                                         actor=LEADER)
        with pytest.raises(InvalidInputError, match="Spark cannot read"):
            telemetry_setup.set_source(store, model=MODEL, kind="spark", location="no_such_table", actor=LEADER)
        telemetry_setup.set_source(store, model=MODEL, kind="spark", location=lake["location"],
                                     master="local[2]", actor=LEADER)
        got = results(store)
        last = telemetry_sources.last_query(MODEL)
        explored = explore(store, view=WEEKDAYS, window=WEEK).frame
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
        expected_explored = explore(store, view=WEEKDAYS, window=WEEK).frame
    pd.testing.assert_frame_equal(explored, expected_explored, check_dtype=False, rtol=1e-9)
    # Spark's percentile is exact and interpolated as DuckDB's quantile_cont: the same definition, so the same
    # figures up to the order of floating-point additions; the KPI page's come from the folder's rollups' sketches
    assert_same(lake["expected"], got, percentile_tolerance=lake_rollup.LATENCY_ALPHA)
    assert last["engine"] == "spark"


@pytest.mark.spark
def test_spark_over_a_catalog_table_partitioned_by_date(lake):
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()   # the session the source started (local mode)
    spark.read.parquet(os.path.join(lake["location"], "telemetry")).createOrReplaceTempView("adult_telemetry")
    with GovernanceStore(lake["db"]) as store:
        telemetry_setup.set_source(store, model=MODEL, kind="spark", location="adult_telemetry", actor=LEADER)
        span = kpis.data_window(store, model=MODEL)
        series = kpis.kpi_series(store, model=MODEL, window=span, grain="week")
        week = kpis.kpi_view(store, model=MODEL, window=WEEK, grain="day").summary
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
    assert_same({"window": lake["expected"]["window"], "overlap": None, "series_week": lake["expected"]["series_week"],
                 "week": lake["expected"]["week"]},
                {"window": span, "overlap": None, "series_week": series, "week": week})


def test_the_cli_exports_points_and_shows_a_source(lake, cli, tmp_path):
    db = copy_workspace(lake["db"], tmp_path / "cli.duckdb")
    exported = cli("--db", db, "telemetry", "export", "--model", "german-credit", "--out", str(tmp_path / "g"),
                   "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["partitions"] > 0
    again = cli("--db", db, "telemetry", "export", "--model", "german-credit", "--out", str(tmp_path / "g"))
    assert again.returncode == 2 and "exists already" in again.stderr
    pointed = cli("--db", db, "telemetry", "source", "--model", "german-credit", "--kind", "parquet",
                  "--location", str(tmp_path / "g"), "--by", "farid.haddad", "--json")
    assert pointed.returncode == 0, pointed.stderr
    shown = json.loads(cli("--db", db, "telemetry", "show", "--json").stdout)["sources"]
    german = next(s for s in shown if s["model"] == "german-credit")
    assert german["kind"] == "parquet" and german["rows"] == json.loads(exported.stdout)["rows"]
    assert german["set_by"] == "farid.haddad (engineering leader)"
    kpis_out = cli("--db", db, "kpis", "--model", "german-credit", "--json")
    assert kpis_out.returncode == 0, kpis_out.stderr


def test_explore_reads_a_model_from_its_source_and_says_when_sources_are_mixed(lake):
    week = kpis.Window(pd.Timestamp("2026-09-01"), pd.Timestamp("2026-09-15"))
    one = View(measure="latency_p95_ms", dimensions=("version", "segment"), grain="week",
               filters=(("model", (MODEL,)),))
    side_by_side = View(measure="error_rate", dimensions=("model", "version"), grain="day")
    with GovernanceStore(lake["db"]) as store:
        expected = [explore(store, view=v, window=week).frame for v in (one, side_by_side)]
        telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=lake["location"], actor=LEADER)
        got = [explore(store, view=v, window=week).frame for v in (one, side_by_side)]
        with pytest.raises(InvalidInputError, match="explore them with model as a dimension"):
            explore(store, view=View(measure="error_rate", dimensions=("version",)), window=week)
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
    for e, g in zip(expected, got):
        assert len(g) == len(e) > 0
        pd.testing.assert_frame_equal(g.reset_index(drop=True), e.reset_index(drop=True), check_dtype=False,
                                      rtol=1e-9)


def test_a_dataset_may_be_the_partitions_folder_itself_or_a_glob(lake):
    partitions_folder = os.path.join(lake["location"], "telemetry")
    pattern = os.path.join(lake["location"], "telemetry", "date=2026-09-*", "*.parquet")
    assert telemetry_sources.partitions(partitions_folder) == telemetry_sources.partitions(lake["location"])
    september = telemetry_sources.partitions(pattern)
    assert len(september) == 28 and all("date=2026-09-" in f for f in september)   # the demo ends on 09-28
    with GovernanceStore(lake["db"]) as store:
        telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=pattern, actor=LEADER)
        september_rows = telemetry_sources.row_count(store, model=MODEL)
        report = drift.drift_report(store, model=MODEL, version="v1", grain="week")   # inputs found beside them
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
        expected = store.query_value("SELECT count(*) FROM telemetry WHERE model = ? AND ts >= '2026-09-01'", [MODEL])
    assert september_rows == expected and len(report.features) > 0
