"""The queries behind the KPI page for one model over its 90-day window, against pandas computing the same
figures from a DataFrame already in memory, in the same run.

    python -m governance init --demo --db bench.duckdb --rows 10000000
    python benchmarks/kpi_page.py --db bench.duckdb [--model adult-income]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from governance.monitoring.kpis import data_window, kpi_summary, kpi_view  # noqa: E402
from governance.monitoring.service_levels import slo_judgment  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from timing import best_of, rss_mb  # noqa: E402  (benchmarks/ is this script's folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--model", default="adult-income")
    args = parser.parse_args()
    with GovernanceStore(args.db) as store:
        rows = store.query_value("SELECT count(*) FROM telemetry WHERE model = ?", [args.model])
        window = data_window(store, model=args.model)

        def page_queries():
            series = kpi_view(store, model=args.model, window=window, grain="day").series
            kpi_summary(store, model=args.model, window=window.previous())
            slo_judgment(store, model=args.model, window=window)
            return series

        rss_before = rss_mb()
        duck, series = best_of(5, page_queries)
        rss_growth = rss_mb("VmHWM") - rss_before
        frame = store.query("SELECT ts, version, prediction, label, latency_ms, is_error, cpu_pct, memory_mb, "
                            "cost_usd, approved_volume_usd, expected_value_usd FROM telemetry WHERE model = ?",
                            [args.model])

    def pandas_figures():
        """The page's figures, computed the idiomatic pandas way from the rows already in memory."""
        f = frame.assign(day=frame["ts"].dt.floor("D"), ok=~frame["is_error"])
        f["labelled"] = f["ok"] & f["label"].notna()
        f["correct"] = f["labelled"] & (f["prediction"] == f["label"])
        f["tp"] = f["labelled"] & (f["prediction"] == 1) & (f["label"] == 1)
        f["pp"] = f["labelled"] & (f["prediction"] == 1)
        f["ap"] = f["labelled"] & (f["label"] == 1)
        ok = f[f["ok"]]
        out = []
        for keys in (["version", "day"], ["version"]):  # the series, then the window summary
            sums = f.groupby(keys).agg(n=("ok", "size"), failures=("is_error", "sum"), labelled=("labelled", "sum"),
                                       correct=("correct", "sum"), tp=("tp", "sum"), pp=("pp", "sum"),
                                       ap=("ap", "sum"), cpu=("cpu_pct", "mean"), memory=("memory_mb", "mean"),
                                       cost=("cost_usd", "mean"), volume=("approved_volume_usd", "sum"),
                                       value=("expected_value_usd", "sum"))
            sums["accuracy"] = sums["correct"] / sums["labelled"]
            sums["precision"] = sums["tp"] / sums["pp"]
            sums["recall"] = sums["tp"] / sums["ap"]
            latency = ok.groupby(keys)["latency_ms"].quantile([0.5, 0.95, 0.99]).unstack()
            out.append(sums.join(latency))
        series = out[0]
        series["accuracy_rolling_std"] = series.groupby("version")["accuracy"].transform(
            lambda s: s.rolling(7, min_periods=2).std())
        return out[0]

    panda, expected = best_of(5, pandas_figures)
    p95 = expected[0.95].sort_index().to_numpy()  # both sides computed the same figure
    assert np.allclose(series.sort_values(["version", "period"])["latency_p95_ms"].to_numpy(), p95), "results differ"
    print(f"telemetry rows of {args.model}   {rows:,}")
    print(f"KPI page queries (DuckDB)      {duck:.3f} s   ({rows / duck:,.0f} rows/s)")
    print(f"same figures in pandas         {panda:.3f} s   ({rows / panda:,.0f} rows/s; frame already in memory)")
    print(f"DuckDB speed-up over pandas    {panda / duck:.1f}x")
    print(f"points sent to the browser     {len(series) * 3:,} per chart at most (daily grain)")
    print(f"peak memory growth (queries)   {rss_growth:,.0f} MB")
    raw = frame.head(100_000)[["ts", "latency_ms"]].to_json(orient="split", date_format="iso")
    aggregate = series[["version", "period", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]].to_json(
        orient="split", date_format="iso")
    print(f"chart payload: 100k raw points {len(raw) / 1e6:.1f} MB against the daily aggregate "
          f"{len(aggregate) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
