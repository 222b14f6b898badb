"""The drift report for one model version over its whole telemetry, against pandas computing the same
per-week PSI from rows already in memory, in the same run.

    python -m governance init --demo --db bench.duckdb --rows 10000000
    python benchmarks/drift_report.py --db bench.duckdb [--model adult-income --version v1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from governance.monitoring.drift import EPSILON, drift_report  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from timing import best_of  # noqa: E402  (benchmarks/ is this script's folder)


def pandas_psi(rows: pd.DataFrame, reference: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Per week and feature: PSI on the reference's decile bins (numeric) or categories, the pandas way."""
    out = {}
    week = rows["ts"].dt.to_period("W-SUN").dt.start_time
    for feature in features:
        ref = reference[feature]
        if pd.api.types.is_numeric_dtype(ref):
            edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10, method="inverted_cdf"))
            ref_bins = np.searchsorted(edges, ref, side="left")
            cur_bins = np.searchsorted(edges, rows[feature].to_numpy(), side="left")
        else:
            categories = {c: i for i, c in enumerate(ref.value_counts().index)}
            ref_bins = ref.map(categories).to_numpy()
            cur_bins = rows[feature].map(categories).fillna(len(categories)).to_numpy()
        r = np.bincount(ref_bins, minlength=cur_bins.max() + 1) / len(ref)
        counts = pd.crosstab(week, cur_bins)
        c = counts.div(counts.sum(axis=1), axis=0).to_numpy()
        r = np.resize(r, c.shape[1])
        r, c = np.maximum(r, EPSILON), np.maximum(c, EPSILON)
        out[feature] = ((c - r) * np.log(c / r)).sum(axis=1)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--model", default="adult-income")
    parser.add_argument("--version", default="v1")
    args = parser.parse_args()
    with GovernanceStore(args.db) as store:
        rows_n = store.query_value("SELECT count(*) FROM telemetry WHERE model = ? AND version = ?",
                                   [args.model, args.version])
        duck_day, _ = best_of(3, lambda: drift_report(store, model=args.model, version=args.version, grain="day"))
        duck_week, report = best_of(3, lambda: drift_report(store, model=args.model, version=args.version,
                                                            grain="week"))
        features = [f for f in report.feature_names if f != "prediction score"]
        inputs = store.query("SELECT input_id, features FROM telemetry_input WHERE model = ?", [args.model])
        reference = pd.DataFrame([json.loads(f) for f in store.query_value(
            "SELECT list(features) FROM evaluation_row WHERE model = ? AND version = ?", [args.model, args.version])])
        rows = store.query("SELECT ts, input_id FROM telemetry WHERE model = ? AND version = ?",
                           [args.model, args.version])
    inputs = pd.concat([inputs[["input_id"]], pd.DataFrame([json.loads(f) for f in inputs["features"]])], axis=1)
    rows = rows.merge(inputs, on="input_id")  # in memory before the clock starts, as a DataFrame would be
    panda, psi = best_of(1, lambda: pandas_psi(rows, reference, features))
    hours = psi["hours_per_week"].to_numpy()
    print(f"telemetry rows of {args.model} {args.version}   {rows_n:,}")
    print(f"drift report (DuckDB), day grain       {duck_day:.3f} s   ({rows_n / duck_day:,.0f} rows/s)")
    print(f"drift report (DuckDB), week grain      {duck_week:.3f} s")
    print(f"weekly PSI only, pandas, rows in memory {panda:.3f} s   ({rows_n / panda:,.0f} rows/s)")
    print(f"DuckDB (full report, week) against pandas (PSI only): {panda / duck_week:.1f}x")
    print(f"check: hours_per_week weekly PSI, first and last week: pandas {hours[0]:.3f} / {hours[-1]:.3f}")


if __name__ == "__main__":
    main()
