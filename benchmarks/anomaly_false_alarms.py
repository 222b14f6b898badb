"""False alarms of the hourly anomaly rule on clean simulated series, and what it finds in the default demo.

Clean series are made the way the demo makes its telemetry, request by request: 90 days of hourly volumes with the
demo's working-day curve (quiet nights of 15-70 requests, busy hours of 250-450) and quieter weekends, latencies
lognormal (sigma 0.38) around a median that follows the hour's load, errors at 0.4%. Each hour's p95 and p99
(of successful requests, interpolated as DuckDB's quantile_cont) and error count are judged exactly as
kpi_anomalies judges the demo (periods of fewer than 30 requests are not judged). Any flag on a clean series is
false. Two more latency shapes test the lognormal tail the band assumes: gamma (shape 4) and a lognormal with
2% of requests on a slow path, 4x slower (a heavier tail).

    .venv/bin/python benchmarks/anomaly_false_alarms.py [--series 150] [--db demo.duckdb]

Prints the false-flag rate per KPI and shape with a 95% Clopper-Pearson interval, split by quiet (< 100 requests)
and busy hours, and the demo's flagged episodes (built in a temporary folder unless --db names a demo workspace).
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

from governance.monitoring.anomalies import MIN_SAMPLE, detect_proportion, detect_quantile  # noqa: E402

HOUR_WEIGHT = np.array([0.25, 0.2, 0.15, 0.15, 0.2, 0.35, 0.6, 0.9, 1.2, 1.4, 1.5, 1.5,
                        1.4, 1.5, 1.5, 1.4, 1.3, 1.2, 1.0, 0.9, 0.8, 0.6, 0.45, 0.3])   # governance/demo/__init__.py
LOAD = np.interp(np.arange(24), [0, 4, 10, 14, 20, 23], [0.2, 0.1, 1.0, 1.0, 0.6, 0.3])
PEAKS = (260, 300, 400)          # busiest hour's requests: german-credit v1, adult-income v2, adult-income v1
TARGET = 0.0005                  # issue 21: at most 0.05% of hours falsely flagged


def clean_hours(seed: int, *, days: int = 90, peak: float = 400, shape: str = "lognormal") -> pd.DataFrame:
    """One version's clean hourly series: n, failures, successes, p95 and p99 of the successful requests."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-07-01", periods=days * 24, freq="h")
    weekend = np.where(index.day_of_week >= 5, 0.6, 1.0)
    n = rng.poisson(peak / HOUR_WEIGHT.max() * HOUR_WEIGHT[index.hour] * weekend)
    failures = rng.binomial(n, 0.004)
    successes = n - failures
    median = 120.0 * (1 + 0.25 * LOAD[index.hour])
    p50, p95, p99 = np.full(len(n), np.nan), np.full(len(n), np.nan), np.full(len(n), np.nan)
    for i, k in enumerate(successes):
        if k == 0:
            continue
        if shape == "lognormal":
            latency = median[i] * np.exp(rng.normal(0, 0.38, k))
        elif shape == "gamma":
            latency = median[i] * rng.gamma(4.0, 1 / 3.67, k)
        else:   # heavier tail: 2% of requests take a slow path, four times slower
            latency = median[i] * np.exp(rng.normal(0, 0.38, k)) * np.where(rng.random(k) < 0.02, 4.0, 1.0)
        p50[i], p95[i], p99[i] = np.quantile(latency, [0.5, 0.95, 0.99])
    return pd.DataFrame({"n": n, "failures": failures, "successes": successes, "p50": p50, "p95": p95, "p99": p99},
                        index=index)


def judge_clean(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """kpi_anomalies' rule on one clean series: flagged only in the bad direction (high)."""
    latency = detect_quantile(frame["p95"].where(frame["successes"] >= MIN_SAMPLE), p50_ms=frame["p50"],
                              p99_ms=frame["p99"], sample=frame["successes"], grain="hour")
    errors = detect_proportion(frame["failures"], trials=frame["n"].where(frame["n"] >= MIN_SAMPLE), grain="hour")
    out = {}
    for name, points in (("latency_p95_ms", latency), ("error_rate", errors)):
        points = points.assign(n=frame["n"].to_numpy())
        points["flagged"] = points["anomalous"] & (points["direction"] == "high")
        out[name] = points[points["score"].notna()]
    return out


def interval(flagged: int, judged: int) -> tuple[float, float]:
    low = stats.beta.ppf(0.025, flagged, judged - flagged + 1) if flagged else 0.0
    high = stats.beta.ppf(0.975, flagged + 1, judged - flagged)
    return float(low), float(high)


def rate_line(label: str, flagged: int, judged: int) -> str:
    low, high = interval(flagged, judged)
    return (f"  {label:<34} {flagged:>4} of {judged:>9,} hours  {flagged / judged:.4%}  "
            f"[95% CI {low:.4%}, {high:.4%}]")


def simulate(series: int, shapes: tuple[str, ...]) -> dict:
    results = {}
    for shape in shapes:
        tallies = {}
        for i in range(series):
            frame = clean_hours(10_000 + i, peak=PEAKS[i % len(PEAKS)], shape=shape)
            for kpi, points in judge_clean(frame).items():
                if shape != "lognormal" and kpi != "latency_p95_ms":
                    continue   # the latency shape does not change error counts
                for part, rows in (("all", points), ("quiet (< 100 requests)", points[points["n"] < 100]),
                                   ("busy (>= 100 requests)", points[points["n"] >= 100])):
                    f, j = tallies.get((kpi, part), (0, 0))
                    tallies[(kpi, part)] = (f + int(rows["flagged"].sum()), j + len(rows))
        results[shape] = tallies
    return results


def demo_figures(db: Path) -> list[str]:
    from governance.monitoring.anomalies import kpi_anomalies
    from governance.record.store import GovernanceStore

    lines = []
    with GovernanceStore(db) as store:
        for model, kpi in (("adult-income", "latency_p95_ms"), ("adult-income", "error_rate"),
                           ("german-credit", "latency_p95_ms"), ("german-credit", "error_rate")):
            for grain in ("hour", "day"):
                found = kpi_anomalies(store, model=model, kpi=kpi, grain=grain)
                points = found["points"]
                judged = int(points["score"].notna().sum())
                lines.append(f"  {model} {kpi} by {grain}: {int(points['anomalous'].sum())} of {judged:,} judged "
                             f"periods flagged; widest band {points['lower'].min():.4g} to "
                             f"{points['upper'].max():.4g}")
                for e in found["episodes"]:
                    lines.append(f"    {e['version']} {e['start']:%Y-%m-%d %H:%M} to {e['end']:%Y-%m-%d %H:%M}: "
                                 f"{e['periods']} periods, worst {e['worst']:.4g} (expected {e['expected']:.4g}, "
                                 f"score {e['score']:.1f})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=150, help="clean series per latency shape (default 150)")
    parser.add_argument("--db", type=Path, help="a default demo workspace (else one is built in a temp folder)")
    parser.add_argument("--no-demo", action="store_true", help="simulations only")
    args = parser.parse_args()

    started = time.perf_counter()
    results = simulate(args.series, ("lognormal", "gamma", "heavier tail"))
    print(f"Clean hourly series: {args.series} per shape, 90 days each, demo volumes "
          f"({time.perf_counter() - started:.0f} s); target: at most {TARGET:.2%} of hours flagged")
    for shape, tallies in results.items():
        print(f"latency {shape}:")
        for (kpi, part), (flagged, judged) in tallies.items():
            print(rate_line(f"{kpi}, {part}", flagged, judged))
    if args.no_demo:
        return
    if args.db:
        print(f"Demo ({args.db}):")
        print("\n".join(demo_figures(args.db)))
        return
    from governance.demo import seed_demo
    from governance.record.store import GovernanceStore

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.duckdb"
        with GovernanceStore(db) as store:
            seed_demo(store)
        print("Demo (default build):")
        print("\n".join(demo_figures(db)))


if __name__ == "__main__":
    main()
