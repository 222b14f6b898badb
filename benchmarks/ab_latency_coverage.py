"""Coverage of the A/B page's latency-percentile intervals on a fast service, end to end (compare_versions).

Each data set: versions a and b of one model serve N successful requests each (2% failures with 5 s timeouts, left
out of the percentiles), latencies lognormal (sigma 0.3) with medians 3.0 ms and 3.6 ms: the issue's case. The true
differences are the lognormals' quantile differences. Printed per percentile: how often the 95% interval holds the
true difference, its mean width, and how often the verdict is "worse" (the power). The same data binned at 1 ms
(the old bins) is summarised beside it: the p50 interval collapses to [1, 1]. Seconds per comparison are printed too.

    .venv/bin/python benchmarks/ab_latency_coverage.py [--datasets 200] [--n 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance.monitoring.compare import _bootstraps, _weighted_quantile, compare_versions  # noqa: E402
from governance.monitoring.kpis import Window  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402

SIGMA, MEDIANS, QS = 0.3, (3.0, 3.6), (0.5, 0.95, 0.99)
WINDOW = Window(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--n", type=int, default=5_000)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    frames = []
    for k in range(args.datasets):
        for version, median in zip(("a", "b"), MEDIANS):
            errors = rng.random(args.n) < 0.02
            frames.append(pd.DataFrame({
                "ts": WINDOW.start + pd.to_timedelta(rng.integers(0, 86_400, args.n), unit="s"), "model": "m",
                "version": f"{version}{k}", "segment": "web", "input_id": np.arange(args.n),
                "prediction": pd.array(np.where(errors, np.nan, 1.0), dtype="Int8"), "score": 0.5,
                "label": pd.array(np.full(args.n, np.nan), dtype="Int8"),
                "latency_ms": np.where(errors, 5_000.0, median * np.exp(rng.normal(0, SIGMA, args.n))),
                "is_error": errors, "cost_usd": 0.0003, "expected_value_usd": 2.0}))
    truth = {q: (MEDIANS[1] - MEDIANS[0]) * np.exp(SIGMA * stats.norm.ppf(q)) for q in QS}
    with tempfile.TemporaryDirectory() as folder:
        store = GovernanceStore(Path(folder) / "ab.duckdb")
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
            tx.insert_frame("telemetry", pd.concat(frames))
        found = {q: [] for q in QS}
        old_p50 = []
        started = time.perf_counter()
        for k in range(args.datasets):
            result = {c.kpi: c for c in compare_versions(store, model="m", a=f"a{k}", b=f"b{k}", window=WINDOW,
                                                          seed=k)}
            for q in QS:
                found[q].append(result[f"latency_p{round(100 * q)}_ms"])
        seconds = (time.perf_counter() - started) / args.datasets
        for k in range(min(args.datasets, 30)):   # the old 1 ms bins, on the same rows
            rows = store.query("SELECT version, round(latency_ms) AS value, count(*) AS n FROM telemetry "
                               "WHERE version IN (?, ?) AND NOT is_error GROUP BY ALL ORDER BY ALL", [f"a{k}", f"b{k}"])
            bins = {v: g for v, g in rows.groupby("version")}
            (old,) = _bootstraps({"latency_p50_ms": _weighted_quantile(0.5)}, bins, (f"a{k}", f"b{k}"),
                                 rng=np.random.default_rng(k))
            old_p50.append(old)
        store.close()
    print(f"A/B latency intervals, fast service ({MEDIANS[0]} -> {MEDIANS[1]} ms median, lognormal sigma {SIGMA}), "
          f"{args.datasets} data sets of {args.n:,} requests per version; {seconds:.2f} s per comparison")
    for q in QS:
        rows = found[q]
        covered = sum(c.ci_low <= truth[q] <= c.ci_high for c in rows)
        worse = sum(c.verdict == "worse" for c in rows)
        width = np.mean([c.ci_high - c.ci_low for c in rows])
        print(f"  p{round(100 * q)} difference (true {truth[q]:.3f} ms): 95% interval covers {covered} of {len(rows)} "
              f"({covered / len(rows):.1%}), mean width {width:.3f} ms, 'worse' in {worse} of {len(rows)}")
    covered = sum(c.ci_low <= truth[0.5] <= c.ci_high for c in old_p50)
    shown = {f"{c.difference:.1f} [{c.ci_low:.1f}, {c.ci_high:.1f}]" for c in old_p50}
    print(f"  before (1 ms bins), p50 difference: covers {covered} of {len(old_p50)}; reported as {sorted(shown)}")


if __name__ == "__main__":
    main()
