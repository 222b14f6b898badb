"""The KPI page's queries over a large date-partitioned Parquet dataset, read in place by DuckDB and by Spark in
local mode, in the same run: seconds, rows/s, and the bytes of the partitions each window opens.

    python benchmarks/telemetry_lake.py [--rows 100000000] [--folder artifacts/lake-100m] [--no-spark]

The dataset is generated once (synthetic rows with the telemetry schema, spread evenly over 90 days, 70% v1 and
30% v2) and kept for later runs; a small demo workspace holds the model it belongs to.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from governance import demo
from governance.monitoring import telemetry_sources  # noqa: E402
from governance.access.identity import User  # noqa: E402
from governance.monitoring.kpis import Window, kpi_view  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from timing import best_of  # noqa: E402  (benchmarks/ is this script's folder)

MODEL = "adult-income"
START = pd.Timestamp("2026-07-01")
DAYS = 90
LEADER = User("farid.haddad", "Farid Haddad", "engineering leader", "demo")

GENERATE_SQL = """
COPY (
    SELECT ts, model, version, segment, input_id, prediction, score, label, latency_ms, is_error, cpu_pct,
           memory_mb, cost_usd, approved_volume_usd, expected_value_usd, ts::DATE AS date
    FROM (
        SELECT TIMESTAMP '2026-07-01' + to_microseconds(i * {step_us}) AS ts,
               '{model}' AS model, CASE WHEN hash(i) % 10 < 7 THEN 'v1' ELSE 'v2' END AS version,
               ['web', 'mobile', 'branch'][1 + (i % 3)::INTEGER] AS segment, (i % 30000)::BIGINT AS input_id,
               hash(i + 4) % 100 = 0 AS is_error,
               CASE WHEN NOT is_error THEN (hash(i + 1) % 2)::TINYINT END AS prediction,
               CASE WHEN NOT is_error THEN (hash(i + 1) % 1000) / 1000.0 END AS score,
               CASE WHEN hash(i + 2) % 10 < 9 THEN (hash(i + 3) % 2)::TINYINT END AS label,
               20 + (hash(i + 5) % 20000) / 100.0 AS latency_ms,
               (hash(i + 6) % 9000) / 100.0 AS cpu_pct, 500 + (hash(i + 7) % 40000) / 100.0 AS memory_mb,
               (hash(i + 8) % 1000) / 1000000.0 AS cost_usd,
               CASE WHEN hash(i + 1) % 2 = 1 THEN 5000.0 ELSE 0.0 END AS approved_volume_usd,
               (hash(i + 9) % 10000) / 100.0 - 50 AS expected_value_usd
        FROM range({rows}) t(i)))
TO '{target}' (FORMAT parquet, PARTITION_BY (date), ROW_GROUP_SIZE 1000000)
"""


def generate(folder: Path, rows: int) -> float:
    target = folder / telemetry_sources.TELEMETRY_DIR
    if target.exists():
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(GENERATE_SQL.format(step_us=DAYS * 86_400_000_000 // rows, rows=rows, model=MODEL, target=target))
    con.execute(f"COPY (SELECT '{MODEL}' AS model, 0::BIGINT AS input_id, 'bench' AS source, '{{}}'::JSON AS features)"
                f" TO '{folder / telemetry_sources.INPUTS_FILE}' (FORMAT parquet)")
    return time.perf_counter() - started


def measure(store: GovernanceStore, kind: str, location: str, window: Window, rows: int, runs: int) -> dict:
    telemetry_sources.set_source(store, model=MODEL, kind=kind, location=location, actor=LEADER)
    kpi_view(store, model=MODEL, window=Window(window.start, window.start + pd.Timedelta(days=1)))   # warm up
    seconds, view = best_of(runs, lambda: kpi_view(store, model=MODEL, window=window, grain="day"))
    opened = telemetry_sources.last_query(MODEL)["bytes_opened"]
    return {"engine": kind, "days": window.days, "seconds": seconds, "rows": rows, "rows_per_s": rows / seconds,
            "bytes_opened": opened, "predictions": int(view.summary["n"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.folder or f"artifacts/lake-{args.rows // 1_000_000}m")
    made = generate(folder, args.rows)
    files = telemetry_sources.partitions(str(folder))
    total = telemetry_sources.bytes_of(files)
    print(f"dataset: {args.rows:,} rows, {len(files)} daily partitions, {total / 1e9:.2f} GB on disk"
          + (f", generated in {made:.0f} s" if made else " (kept from an earlier run)"))
    workspace = folder / "workspace.duckdb"
    with GovernanceStore(workspace) as store:
        if not store.query_value("SELECT count(*) FROM model"):
            demo.seed_demo(store, rows=demo.MIN_ROWS, records=False)
        week = Window(START + pd.Timedelta(days=60), START + pd.Timedelta(days=67))
        whole = Window(START, START + pd.Timedelta(days=DAYS))
        week_rows = duckdb.connect().execute(
            "SELECT count(*) FROM read_parquet($f, hive_partitioning = true)",
            {"f": telemetry_sources.partitions(str(folder), start=week.start, end=week.end)}).fetchone()[0]
        results = []
        for kind in ("parquet",) + (() if args.no_spark else ("spark",)):
            for window, rows in ((whole, args.rows), (week, week_rows)):
                results.append(measure(store, kind, str(folder), window, rows, args.runs))
        telemetry_sources.set_source(store, model=MODEL, kind="workspace", actor=LEADER)
    print(f"{'engine':<8}{'window':>8}{'seconds':>10}{'rows/s':>16}{'bytes opened':>18}{'share':>8}")
    for r in results:
        print(f"{'duckdb' if r['engine'] == 'parquet' else 'spark':<8}{r['days']:>6} d{r['seconds']:>10.2f}"
              f"{r['rows_per_s']:>16,.0f}{r['bytes_opened']:>18,}{r['bytes_opened'] / total:>8.1%}")
        assert r["predictions"] == r["rows"], r   # every row counted, no more
    by = {(r["engine"], r["days"]): r["seconds"] for r in results}
    if ("spark", DAYS) in by:
        print(f"DuckDB in place is {by[('spark', DAYS)] / by[('parquet', DAYS)]:.1f}x Spark local mode over 90 days "
              f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
