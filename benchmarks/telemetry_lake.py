"""The lake's pages from rollups against the same pages over the rows, side by side in one run.

    python benchmarks/telemetry_lake.py [--rows 100000000] [--folder artifacts/lake-100m] [--runs 3]
                                        [--rebuild] [--no-spark] [--billion] [--billion-folder artifacts/lake-1b]

A dataset of synthetic rows with the telemetry schema (spread evenly over 90 days, 70% v1 and 30% v2, three
segments; each row's input one of 30,000 UCI Adult training rows, its score a function of the input and the
version) is generated once and kept for later runs, with a small demo workspace holding the model it belongs to.
The dataset's rollups (governance/monitoring/lake_rollup.py) are made beside its partitions; a second folder
`rows-only/` links to the same partitions without them, so the same services read the rows there.

Measured, best of --runs: the KPI page's service calls (data_window and kpi_view at day grain) for 90 and 7 days
and the drift page's (drift_report, 90 days, day grain, against the held-out evaluation set), from the rows and
from the rollups; the rollup build per partition; the rollups' bytes against the lake's. Checked: every
prediction counted, the KPI counts from the rollups equal to those from the rows, the percentiles within 1%, the
drift bin counts equal. With Spark (unless --no-spark): the KPI page over the rows in local mode, and one
partition's rollup built by Spark.

--billion: a 1,000,000,000-row dataset as 90 daily partitions, generated one day at a time and rolled up; each
day's file (all but the first day's) then becomes a sparse file of the same name, size and time unless
--keep-rows, so that its rollup stays fresh while it needs a few hundred MB of disk instead of 18 GB: the KPI and
drift pages are measured from the rollups, whose cost depends on the hours, segments and inputs, not on the rows
(a page that opened a row file would fail).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from governance import demo  # noqa: E402
from governance.access.identity import User  # noqa: E402
from governance.monitoring import drift, lake_rollup, telemetry_setup, telemetry_sources  # noqa: E402
from governance.monitoring.kpis import (LATENCY_QUANTILE_LEVELS, LATENCY_QUANTILES, KpiView, Window,  # noqa: E402
                                        data_window, histogram_quantile, kpi_view)
from governance.monitoring.telemetry_sql import DATA_WINDOW_SQL, KPI_SERIES_RAW_SQL, LATENCY_HISTOGRAM_SQL  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from timing import best_of  # noqa: E402  (benchmarks/ is this script's folder)

MODEL = "adult-income"
START = pd.Timestamp("2026-07-01")
DAYS = 90
LEADER = User("farid.haddad", "Farid Haddad", "engineering leader", "demo")
WHOLE = Window(START, START + pd.Timedelta(days=DAYS))
WEEK = Window(START + pd.Timedelta(days=60), START + pd.Timedelta(days=67))
ROWS_ONLY = "rows-only"
EXACT = ["n", "failures", "labelled", "correct", "true_positives", "predicted_positives", "actual_positives",
         "cpu_n", "memory_n", "cost_n"]
SUMS = ["cpu_sum", "memory_sum", "cost_sum", "approved_volume_usd", "expected_value_usd"]
PERCENTILES = list(LATENCY_QUANTILES)
# counts per (version, hour, segment), latency sketches, drift's per-input counts per day (lake_rollup.RELATIONS)
HOURLY, LATENCY, INPUTS_BY_DAY = "telemetry_hourly", "telemetry_latency", "telemetry_daily_inputs"
BEFORE, NO_ROLLUPS, ROLLUPS = "rows, before rollups", "rows, no rollups", "rollups"

# One row per prediction, row i at START + i * step: input_id = i % 30000, 70% v1 and 30% v2, a third per segment.
# A model's score is a function of its input, so score (and the prediction, score >= 0.5) is a function of
# (input_id, version): the drift page's score bins are then those of real per-input counts.
ROWS_SQL = """
    SELECT ts, model, version, segment, input_id, prediction, score, label, latency_ms, is_error, cpu_pct,
           memory_mb, cost_usd, approved_volume_usd, expected_value_usd, ts::DATE AS date
    FROM (
        SELECT TIMESTAMP '2026-07-01' + to_microseconds(i * {step_us}) AS ts,
               '{model}' AS model, CASE WHEN hash(i) % 10 < 7 THEN 'v1' ELSE 'v2' END AS version,
               ['web', 'mobile', 'branch'][1 + (i % 3)::INTEGER] AS segment, (i % {inputs})::BIGINT AS input_id,
               hash(i + 4) % 100 = 0 AS is_error,
               CASE WHEN NOT is_error THEN (hash(input_id, version) % 1000) / 1000.0 END AS score,
               CASE WHEN NOT is_error THEN (score >= 0.5)::TINYINT END AS prediction,
               CASE WHEN hash(i + 2) % 10 < 9 THEN (hash(i + 3) % 2)::TINYINT END AS label,
               20 + (hash(i + 5) % 20000) / 100.0 AS latency_ms,
               (hash(i + 6) % 9000) / 100.0 AS cpu_pct, 500 + (hash(i + 7) % 40000) / 100.0 AS memory_mb,
               (hash(i + 8) % 1000) / 1000000.0 AS cost_usd,
               CASE WHEN prediction = 1 THEN 5000.0 ELSE 0.0 END AS approved_volume_usd,
               (hash(i + 9) % 10000) / 100.0 - 50 AS expected_value_usd
        FROM range({first}, {last}) t(i))
"""
INPUTS = 30_000
DAY_US = 86_400_000_000


def _step_us(rows: int) -> int:
    return DAYS * DAY_US // rows


def write_inputs(folder: Path) -> None:
    """telemetry_input.parquet: 30,000 inputs, each the features of one UCI Adult training row (the demo model's
    inputs), so that the drift page bins real values against the model's held-out evaluation set."""
    from governance.demo.datasets import ADULT_CATEGORICAL, ADULT_NUMERIC, load_adult

    train, _ = load_adult()
    rows = train.iloc[:INPUTS][ADULT_NUMERIC + ADULT_CATEGORICAL]
    inputs = pd.DataFrame({"model": MODEL, "input_id": np.arange(INPUTS, dtype=np.int64),
                           "source": "UCI Adult training rows (benchmark)",
                           "features": rows.to_json(orient="records", lines=True).rstrip("\n").split("\n")})
    con = duckdb.connect()
    con.register("inputs", inputs)
    con.execute(f"COPY (SELECT model, input_id, source, features::JSON AS features FROM inputs) "
                f"TO '{folder / telemetry_sources.INPUTS_FILE}' (FORMAT parquet)")


def generate(folder: Path, rows: int) -> float:
    """The whole dataset in one statement, partitioned by day; kept for later runs."""
    target = folder / telemetry_sources.TELEMETRY_DIR
    if target.exists():
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect()
    partial = folder / "telemetry.partial"   # renamed when complete: an interrupted run is not kept as a dataset
    shutil.rmtree(partial, ignore_errors=True)
    rows_sql = ROWS_SQL.format(step_us=_step_us(rows), first=0, last=rows, model=MODEL, inputs=INPUTS)
    con.execute(f"COPY ({rows_sql}) TO '{partial}' (FORMAT parquet, PARTITION_BY (date), ROW_GROUP_SIZE 1000000)")
    write_inputs(folder)
    partial.rename(target)
    return time.perf_counter() - started


def day_range(rows: int, day: int) -> tuple[int, int]:
    """The row numbers [first, last) whose time falls on START + day (the same rows as generate's partition)."""
    step = _step_us(rows)
    return -(-day * DAY_US // step), -(-(day + 1) * DAY_US // step)


def generate_day(folder: Path, rows: int, day: int) -> tuple[Path, int]:
    """One day's partition of a `rows`-row dataset as one file (for a dataset larger than the disk's room)."""
    first, last = day_range(rows, day)
    when = (START + pd.Timedelta(days=day)).date()
    target = folder / telemetry_sources.TELEMETRY_DIR / f"date={when}"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "part-0.parquet"
    rows_sql = ROWS_SQL.format(step_us=_step_us(rows), first=first, last=last, model=MODEL, inputs=INPUTS)
    duckdb.connect().execute(f"COPY (SELECT * EXCLUDE (date) FROM ({rows_sql})) TO '{path}' "
                             f"(FORMAT parquet, ROW_GROUP_SIZE 1000000)")
    return path, last - first



# --- the two ways of reading the same partitions --------------------------------------------------------------------
def rows_mirror(folder: Path) -> Path:
    """folder/rows-only: a link to each partition and to the inputs, without `_rollup`, so every service reads
    the rows there (the same files, no copy)."""
    mirror = folder / ROWS_ONLY
    target = mirror / telemetry_sources.TELEMETRY_DIR
    target.mkdir(parents=True, exist_ok=True)
    for partition in sorted((folder / telemetry_sources.TELEMETRY_DIR).glob("date=*")):
        link = target / partition.name
        if not link.exists():
            link.symlink_to(partition.resolve(), target_is_directory=True)
    inputs = mirror / telemetry_sources.INPUTS_FILE
    if not inputs.exists():
        inputs.symlink_to((folder / telemetry_sources.INPUTS_FILE).resolve())
    return mirror


def rollup_root(location: Path) -> Path:
    return location / telemetry_sources.TELEMETRY_DIR / "_rollup"


def rollup_files(location: Path, window: Window, relations: tuple[str, ...]) -> list[Path]:
    """The rollup files of the window's days that hold the given relations, as their manifests name them."""
    days = pd.date_range(window.start, window.end - pd.Timedelta(days=1), freq="D")
    found = []
    for day in days:
        folder = rollup_root(location) / f"date={day.date()}"
        if (folder / lake_rollup.MANIFEST).exists():
            files = json.loads((folder / lake_rollup.MANIFEST).read_text())["files"]
            found += [folder / files[relation][0] for relation in relations]
    return found


def size(files) -> int:
    return sum(os.path.getsize(f) for f in files)


def build_rollups(folder: Path, *, rebuild: bool) -> tuple[list, float]:
    """Roll up every partition that has no fresh rollup (all of them with rebuild); (what was built, seconds)."""
    if rebuild:
        shutil.rmtree(rollup_root(folder), ignore_errors=True)
    started = time.perf_counter()

    def progress(done, total, day):
        if done % 15 == 0 or done == total:
            print(f"  rolled up {done}/{total} ({day}, {time.perf_counter() - started:.0f} s)", flush=True)

    built = lake_rollup.rollup_dataset(location=str(folder), progress=progress)
    return built, time.perf_counter() - started


# --- the pages' service calls ----------------------------------------------------------------------------------
def point(store: GovernanceStore, location: Path, kind: str = "parquet") -> None:
    telemetry_setup.set_source(store, model=MODEL, kind=kind, location=str(location), actor=LEADER)


def kpi_page(store: GovernanceStore, window: Window):
    """What the KPI page asks the services for: the telemetry's span, and the series at day grain."""
    data_window(store, model=MODEL)
    return kpi_view(store, model=MODEL, window=window, grain="day")


def kpi_page_before(store: GovernanceStore, window: Window) -> KpiView:
    """The KPI page's statements as they were before rollups (and as Spark still runs them over rows): the span
    and the series over every row of the window, with exact percentiles, and the window's latency histogram."""
    telemetry_sources.query_records(store, DATA_WINDOW_SQL, {"model": MODEL})
    params = {"grain": "day", "model": MODEL, "version": None, "start": window.start, "end": window.end}
    series = telemetry_sources.query(store, KPI_SERIES_RAW_SQL, params)
    histogram = telemetry_sources.query(store, LATENCY_HISTOGRAM_SQL, params)
    for k, name in enumerate(PERCENTILES):
        series[name] = [q[k] if q is not None and len(q) > k else np.nan for q in series["latency_q"]]
    summary = series.groupby("version", as_index=False)[EXACT + SUMS].sum()
    for name, q in zip(PERCENTILES, LATENCY_QUANTILE_LEVELS):
        summary[name] = [histogram_quantile(histogram[histogram["version"] == v], q) for v in summary["version"]]
    return KpiView(series.drop(columns="latency_q"), summary)


def drift_page(store: GovernanceStore, version: str = "v1"):
    return drift.drift_report(store, model=MODEL, version=version, reference="training", current=WHOLE,
                              grain="day")


def measure(label: str, action, runs: int, *, opened: int, warm=None, **extra) -> dict:
    (warm or action)()   # warm up: the file listing, the engine's first plan (Spark: its session)
    with telemetry_sources.noting() as notes:
        seconds, result = best_of(runs, action)
    return {"read": label, "seconds": seconds, "bytes_opened": opened, "result": result, "notes": list(notes),
            **extra}


def kpi_rows(store: GovernanceStore, folder: Path, mirror: Path, runs: int) -> list[dict]:
    """The KPI page for 90 and 7 days over the rows (its statements before rollups; today's reader on a dataset
    without rollups) and from the rollups; the drift page for 90 days without and with rollups."""
    results = []
    for label, location, page in ((BEFORE, folder, kpi_page_before), (NO_ROLLUPS, mirror, kpi_page),
                                  (ROLLUPS, folder, kpi_page)):
        point(store, location)
        for window in (WHOLE, WEEK):
            opened = size(telemetry_sources.partitions(str(location), start=window.start, end=window.end)) \
                if label != ROLLUPS else size(rollup_files(location, window, (HOURLY, LATENCY)))
            results.append(measure(label, lambda w=window, p=page: p(store, w), runs, opened=opened, page="KPI",
                                   days=window.days))
    inputs = os.path.getsize(folder / telemetry_sources.INPUTS_FILE)
    for label, location in ((NO_ROLLUPS, mirror), (ROLLUPS, folder)):
        point(store, location)
        opened = inputs + (size(telemetry_sources.partitions(str(location))) if label != ROLLUPS
                           else size(rollup_files(location, WHOLE, (INPUTS_BY_DAY,))))
        results.append(measure(label, lambda: drift_page(store), runs, opened=opened, page="drift", days=DAYS))
    if (mirror / telemetry_sources.TELEMETRY_DIR / "_rollup").exists():
        raise SystemExit("reading rows-only/ wrote rollups there: its figures were not read from the rows")
    return results


# --- checks ----------------------------------------------------------------------------------------------------
def check_kpis(rows_view, rollup_view, *, expected_rows: int, days: int) -> list[str]:
    """Every prediction counted; counts equal; sums equal to floating-point order; percentiles within 1%."""
    lines = []
    for name, view in (("rows", rows_view), ("rollups", rollup_view)):
        counted = int(view.summary["n"].sum())
        assert counted == expected_rows, f"{days} d from the {name}: {counted:,} predictions, {expected_rows:,} rows"
    keys = ["version", "period"]
    a, b = (v.series.assign(period=pd.to_datetime(v.series["period"]).dt.tz_localize(None))
            .sort_values(keys).reset_index(drop=True) for v in (rows_view, rollup_view))
    assert a[keys].equals(b[keys]), f"{days} d: the series' periods differ"
    for column in EXACT:
        assert (a[column].astype("int64") == b[column].astype("int64")).all(), f"{days} d: {column} differs"
    for column in SUMS:
        np.testing.assert_allclose(b[column].astype(float), a[column].astype(float), rtol=1e-9,
                                   err_msg=f"{days} d: {column}")
    worst = 0.0
    summaries = (v.summary.sort_values("version").reset_index(drop=True) for v in (rows_view, rollup_view))
    for frame_a, frame_b in ((a, b), tuple(summaries)):
        for column in PERCENTILES:
            x, y = frame_a[column].astype(float).to_numpy(), frame_b[column].astype(float).to_numpy()
            error = np.nanmax(np.abs(y - x) / np.abs(x))
            assert error <= lake_rollup.LATENCY_ALPHA + 1e-12, f"{days} d: {column} off by {error:.3%}"
            worst = max(worst, error)
    lines.append(f"KPI {days} d: {len(a)} series rows; counts equal ({', '.join(EXACT[:4])}, ...), sums within 1e-9, "
                 f"p50/p95/p99 within {worst:.3%} of the rows' (per day and over the window)")
    return lines


def check_drift(rows_report, rollup_report) -> str:
    keys = ["feature", "bin"]
    a = rows_report.distributions.sort_values(keys).reset_index(drop=True)
    b = rollup_report.distributions.sort_values(keys).reset_index(drop=True)
    assert (a["current_count"].astype("int64") == b["current_count"].astype("int64")).all(), "drift bins differ"
    fa = rows_report.features.sort_values("feature").reset_index(drop=True)
    fb = rollup_report.features.sort_values("feature").reset_index(drop=True)
    np.testing.assert_allclose(fb["window_psi"].astype(float), fa["window_psi"].astype(float), rtol=1e-9, atol=1e-12)
    pa = rows_report.periods.sort_values(["feature", "period"]).reset_index(drop=True)
    pb = rollup_report.periods.sort_values(["feature", "period"]).reset_index(drop=True)
    assert (pa["n"].astype("int64") == pb["n"].astype("int64")).all(), "drift period counts differ"
    top = fa.sort_values("window_psi", ascending=False).iloc[0]
    return (f"drift 90 d: {len(fa)} features, {len(a)} bins, {len(pa)} feature-days: bin counts equal, PSI equal "
            f"(largest window PSI {top['window_psi']:.4f}, {top['feature']}; {top['test']} "
            f"{top['window_statistic']:.4f})")


# --- Spark -----------------------------------------------------------------------------------------------------
def spark_rows(store: GovernanceStore, folder: Path) -> list[dict]:
    """The KPI page's statements over the rows with Spark in local mode, as before rollups (a Spark source on a
    folder on this machine now reads its rollups in DuckDB); one run each, after a one-day warm-up: a 90-day run
    takes minutes. Spark skips the `_rollup` folder itself."""
    point(store, folder, kind="spark")
    out = []
    day = Window(START, START + pd.Timedelta(days=1))
    for window in (WHOLE, WEEK):
        opened = size(telemetry_sources.partitions(str(folder), start=window.start, end=window.end))
        out.append(measure("rows, Spark local", lambda w=window: kpi_page_before(store, w), 1, opened=opened,
                           warm=lambda: kpi_page_before(store, day), page="KPI", days=window.days))
    return out


def spark_rollup(folder: Path) -> dict:
    day = (START + pd.Timedelta(days=45)).date()
    lake_rollup.rollup_partition(location=str(folder), day=day, engine="spark")   # the session starts
    built = lake_rollup.rollup_partition(location=str(folder), day=day, engine="spark")
    duck = lake_rollup.rollup_partition(location=str(folder), day=day)
    return {"day": day, "rows": built.rows, "spark": built.seconds, "duckdb": duck.seconds}


# --- a billion rows ----------------------------------------------------------------------------------------------
BILLION = 1_000_000_000


def placeholder(path: Path) -> None:
    """Free a rolled-up partition's disk: its file becomes a sparse file of the same name, size and modification
    time (no data blocks), which the rollup's manifest still matches, so the reader trusts the rollup. The file is
    no longer Parquet: a page that opened the rows would fail, so the figures show the pages read rollups only."""
    stat = path.stat()
    path.unlink()
    with open(path, "wb") as handle:
        handle.truncate(stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def current_rollup(folder: Path) -> bool:
    """Whether a day's rollup was made by this version of lake_rollup (its format and relations): an older one
    would be rebuilt from its rows when read, and a placeholder has none, so such a day is generated again."""
    try:
        manifest = json.loads((folder / lake_rollup.MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("format") == lake_rollup.FORMAT and set(manifest.get("files", ())) == set(lake_rollup.RELATIONS)


def billion(folder: Path, *, rows: int, keep_rows: bool) -> tuple[list[dict], float]:
    """90 partitions of about 11.1 M rows, generated and rolled up one day at a time; the rows deleted after
    their rollup (all but the first day's) unless keep_rows. Resumes where an earlier run stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / telemetry_sources.INPUTS_FILE).exists():
        write_inputs(folder)
    days, started = [], time.perf_counter()
    for day in range(DAYS):
        when = (START + pd.Timedelta(days=day)).date()
        if current_rollup(rollup_root(folder) / f"date={when}"):
            continue
        made = time.perf_counter()
        path, n = generate_day(folder, rows, day)
        generated = time.perf_counter() - made
        built = lake_rollup.rollup_partition(location=str(folder), day=when)
        days.append({"day": when, "rows": n, "bytes": os.path.getsize(path), "generate": generated,
                     "rollup": built.seconds, "rollup_bytes": built.bytes})
        if not keep_rows and day > 0:   # the first day's rows stay: pointing a model at a dataset reads its schema
            placeholder(path)
        print(f"  day {day + 1}/{DAYS}: {n:,} rows, generated {generated:.1f} s, rolled up "
              f"{built.seconds:.1f} s", flush=True)
    return days, time.perf_counter() - started


def billion_pages(store: GovernanceStore, folder: Path, runs: int) -> list[dict]:
    point(store, folder)
    out = []
    for window in (WHOLE, WEEK):
        out.append(measure("rollups, 1B", lambda w=window: kpi_page(store, w), runs,
                           opened=size(rollup_files(folder, window, (HOURLY, LATENCY))), page="KPI",
                           days=window.days))
    out.append(measure("rollups, 1B", lambda: drift_page(store), runs, page="drift", days=DAYS,
                       opened=size(rollup_files(folder, WHOLE, (INPUTS_BY_DAY,)))
                       + os.path.getsize(folder / telemetry_sources.INPUTS_FILE)))
    return out


# --- the run -----------------------------------------------------------------------------------------------------
def table(results: list[dict]) -> None:
    print(f"{'page':<7}{'window':>8}  {'read from':<20}{'seconds':>9}{'bytes opened':>16}")
    for r in results:
        print(f"{r['page']:<7}{r['days']:>6.0f} d  {r['read']:<20}{r['seconds']:>9.3f}{r['bytes_opened']:>16,}")


def groups(location: Path) -> str:
    """How many rows each rollup relation holds over the 90 days: what a page from rollups reads."""
    con = duckdb.connect()
    counts = [con.execute("SELECT count(*) FROM read_parquet($f)",
                          {"f": [str(f) for f in rollup_files(location, WHOLE, (relation,))]}).fetchone()[0]
              for relation in lake_rollup.RELATIONS]
    return ", ".join(f"{relation} {n:,} rows" for relation, n in zip(lake_rollup.RELATIONS, counts))


def report_rows(args, folder: Path) -> None:
    """The dataset's pages over rows and from rollups, checked against each other; Spark beside them."""
    made = generate(folder, args.rows)
    files = telemetry_sources.dataset_files(str(folder))
    total = telemetry_sources.bytes_of(files)
    print(f"dataset: {args.rows:,} rows, {len(files)} daily partitions, {total / 1e9:.2f} GB on disk"
          + (f", generated in {made:.0f} s" if made else " (kept from an earlier run)"), flush=True)
    mirror = rows_mirror(folder)
    built, build_seconds = build_rollups(folder, rebuild=args.rebuild)
    times = sorted(b.seconds for b in built)
    print(f"rollups: {len(built)} partitions built in {build_seconds:.0f} s; per partition of about "
          f"{statistics.median(b.rows for b in built):,.0f} rows: median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s (target < 2 s)")
    by_relation = {relation: size(rollup_files(folder, WHOLE, (relation,))) for relation in lake_rollup.RELATIONS}
    current, on_disk = sum(by_relation.values()), lake_rollup.rollup_bytes(location=str(folder))
    print(f"rollup bytes: {current:,} of the lake's {total:,} = {current / total:.2%} (target <= 2%): "
          + ", ".join(f"{relation} {b:,} ({b / total:.2%})" for relation, b in by_relation.items())
          + f"; on disk with superseded generations not yet removed: {on_disk:,} ({on_disk / total:.2%})")
    print(f"rollups hold {groups(folder)}", flush=True)

    with GovernanceStore(folder / "workspace.duckdb") as store:
        if not store.query_value("SELECT count(*) FROM model"):
            demo.seed_demo(store, rows=demo.MIN_ROWS, records=False)
        week_rows = duckdb.connect().execute(
            "SELECT count(*) FROM read_parquet($f)",
            {"f": telemetry_sources.partitions(str(folder), start=WEEK.start, end=WEEK.end)}).fetchone()[0]
        results = kpi_rows(store, folder, mirror, args.runs)
        spark, spark_build = [], None
        if not args.no_spark:
            try:
                spark = spark_rows(store, folder)
                spark_build = spark_rollup(folder)
            except Exception as error:   # noqa: BLE001 (a benchmark reports what it could not run)
                print(f"Spark not measured: {error}")
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)

    print()
    table(results + spark)
    by = {(r["read"], r["page"], r["days"]): r for r in results}
    lines = []
    for days, expected in ((DAYS, args.rows), (7, week_rows)):
        for rows in (BEFORE, NO_ROLLUPS):
            lines += [f"{line} (against {rows})" for line in check_kpis(
                by[rows, "KPI", days]["result"], by[ROLLUPS, "KPI", days]["result"], expected_rows=expected,
                days=days)]
    lines.append(check_drift(by[NO_ROLLUPS, "drift", DAYS]["result"], by[ROLLUPS, "drift", DAYS]["result"]))
    print()
    for line in lines:
        print("checked: " + line)
    for key in ((BEFORE, "KPI", DAYS), (BEFORE, "KPI", 7), (NO_ROLLUPS, "KPI", DAYS), (NO_ROLLUPS, "drift", DAYS)):
        fast = by[ROLLUPS, key[1], key[2]]["seconds"]
        print(f"{key[1]} {key[2]} d: rollups {fast:.3f} s against {key[0]} {by[key]['seconds']:.2f} s: "
              f"{by[key]['seconds'] / fast:.0f}x")
    notes(results)
    if spark_build:
        print(f"one partition's rollup ({spark_build['day']}, {spark_build['rows']:,} rows): Spark local "
              f"{spark_build['spark']:.1f} s (session started), DuckDB {spark_build['duckdb']:.2f} s")
    print(flush=True)


def notes(results: list[dict]) -> None:
    for r in results:
        for note in dict.fromkeys(r["notes"]):
            print(f"note ({r['read']}, {r['page']} {r['days']:.0f} d): {note}")


def report_billion(args, folder: Path, big: Path) -> None:
    """The billion rows' pages from their rollups, beside the smaller dataset's measured again at the same time."""
    free = shutil.disk_usage(big.parent if big.parent.exists() else ".").free
    print(f"billion: {args.billion_rows:,} rows into {big}; {free / 1e9:.0f} GB free on disk", flush=True)
    days, seconds = billion(big, rows=args.billion_rows, keep_rows=args.keep_rows)
    if days:
        print(f"billion: {len(days)} partitions generated and rolled up in {seconds / 60:.1f} min; rollup per "
              f"partition of {statistics.median(d['rows'] for d in days):,.0f} rows: median "
              f"{statistics.median(d['rollup'] for d in days):.1f} s, max {max(d['rollup'] for d in days):.1f} s")
    files = telemetry_sources.dataset_files(str(big))
    written = telemetry_sources.bytes_of(files)
    on_disk = sum(os.stat(f).st_blocks * 512 for f in files)
    rollups = lake_rollup.rollup_bytes(location=str(big))
    print(f"billion: rows as written {written:,} bytes ({on_disk:,} kept on disk); rollups {rollups:,} bytes "
          f"= {rollups / written:.2%} of the rows")
    print(f"billion: rollups hold {groups(big)}")
    print(f"{args.rows // 1_000_000}M:     rollups hold {groups(folder)}", flush=True)
    with GovernanceStore(folder / "workspace.duckdb") as store:
        pages = billion_pages(store, big, args.runs)
        smaller = []
        point(store, folder)
        for window in (WHOLE, WEEK):
            smaller.append(measure(f"rollups, {args.rows // 1_000_000}M", lambda w=window: kpi_page(store, w),
                                   args.runs, opened=size(rollup_files(folder, window, (HOURLY, LATENCY))),
                                   page="KPI", days=window.days))
        smaller.append(measure(f"rollups, {args.rows // 1_000_000}M", lambda: drift_page(store), args.runs,
                               page="drift", days=DAYS, opened=size(rollup_files(folder, WHOLE, (INPUTS_BY_DAY,)))
                               + os.path.getsize(folder / telemetry_sources.INPUTS_FILE)))
        telemetry_setup.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
    print()
    table(pages + smaller)
    counted = int(next(r for r in pages if r["page"] == "KPI" and r["days"] == DAYS)["result"].summary["n"].sum())
    assert counted == args.billion_rows, f"billion: {counted:,} predictions counted"
    print(f"checked: billion KPI 90 d: {counted:,} predictions counted, every one")
    for page, days in (("KPI", DAYS), ("KPI", 7), ("drift", DAYS)):
        one = next(r for r in pages if r["page"] == page and r["days"] == days)["seconds"]
        other = next(r for r in smaller if r["page"] == page and r["days"] == days)["seconds"]
        print(f"{page} {days} d from rollups: {args.billion_rows:,} rows {one:.3f} s, {args.rows:,} rows "
              f"{other:.3f} s ({args.billion_rows / args.rows:.0f}x the rows, {one / other:.2f}x the time)")
    notes(pages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="remove the rollups first (they are rebuilt anyway)")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--billion", action="store_true")
    parser.add_argument("--billion-folder", default="artifacts/lake-1b")
    parser.add_argument("--keep-rows", action="store_true", help="keep the billion rows (about 18 GB)")
    parser.add_argument("--billion-rows", type=int, default=BILLION, help=argparse.SUPPRESS)   # to try it small
    args = parser.parse_args()
    folder = Path(args.folder or f"artifacts/lake-{args.rows // 1_000_000}m")
    big = Path(args.billion_folder)
    # the lakes lie beside the workspace, not under its folder: allow them (a benchmark's own setting)
    os.environ.setdefault(telemetry_sources.ROOTS_ENV, os.pathsep.join(str(f.resolve()) for f in (folder, big)))
    report_rows(args, folder)
    if args.billion:
        report_billion(args, folder, big)


if __name__ == "__main__":
    main()
