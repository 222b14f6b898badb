"""Coverage and false verdicts of the A/B page's intervals for rates (accuracy, error rate) and for cost and value.

The truth is known by construction in every part; each figure is printed with its Monte-Carlo standard error.

1. Rates: newcombe_interval and _verdict, the two functions compare_versions uses for accuracy and error rate,
   on binomial counts. Settings: equal rates and real differences, small and large n, rates near 0 (the demo's
   error rate, 0.4%) and near 0.8 (accuracy), unequal group sizes, and the demo's A/B sample sizes (adult-income
   v1 vs v2 over their 30-day overlap: 115,745 / 115,921 requests, 95,040 / 95,357 labelled).
2. End to end: compare_versions on a workspace holding demo-shaped telemetry (generated as governance/demo/__init__.py's
   _telemetry does: lognormal latency with the daily load, 0.4% failures with 0.8-3 s timeouts, cost from latency,
   value of the approved requests from their score; the score of an approved request is 0.5 + 0.5 Beta(a, b), a and
   b matched to the demo's), versions equal and versions differing as the demo's do. Every KPI's verdict and the
   coverage of accuracy, error rate, cost per 1,000 and value per prediction.
3. Cost and value at the demo's A/B sample sizes: the same bins (compare_bins_sql, run by DuckDB on each data set)
   and the same bootstrap (_bootstraps) as compare_versions, on 115,800 requests per version.

    .venv/bin/python benchmarks/ab_rates_coverage.py [--sims 20000] [--datasets 200] [--demo-datasets 300]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance.monitoring.compare import _bootstraps, _verdict, _weighted_mean, compare_versions, newcombe_interval
from governance.monitoring.kpis import Window  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from governance.monitoring.telemetry_sql import COMPARE_BINNED, compare_bins_sql  # noqa: E402

WINDOW = Window(pd.Timestamp("2026-03-02"), pd.Timestamp("2026-04-01"))   # 30 days, as the demo's overlap
# The demo's load by hour (governance/demo/__init__.py) and its versions: median latency, approved share, Beta(a, b) of an
# approved score's position in [0.5, 1] (matched to the demo's mean and s.d.: v1 0.748 +- 0.150, v2 0.760 +- 0.164),
# accuracy of the labelled requests, and the share of the 30 days in the latency regression (v2, days 75-80).
LOAD_HOURS, LOAD_LEVELS = [0, 4, 10, 14, 20, 23], [0.2, 0.1, 1.0, 1.0, 0.6, 0.3]
V1 = {"median_ms": 38.0, "approved": 0.2332, "beta": (0.89, 0.89), "accuracy": 0.844, "regression": 0.0}
V2 = {"median_ms": 72.0, "approved": 0.2304, "beta": (0.685, 0.635), "accuracy": 0.866, "regression": 0.2}
ERROR_RATE, LABEL_MISSING, REGRESSION_FACTOR = 0.004, 0.10, 3.2
DEMO_N = (115_745, 115_921)                    # adult-income v1, v2 requests in their 30-day overlap
DEMO_LABELLED = (95_040, 95_357)               # of which labelled successful requests


def _mcse(share: float, n: int) -> float:
    return math.sqrt(max(share * (1 - share), 1 / n) / n)


def _share(hits: int, n: int) -> str:
    share = hits / n
    return f"{share:6.2%} +- {_mcse(share, n):.2%}"


def rate_setting(rng: np.random.Generator, *, p_a: float, p_b: float, n_a: int, n_b: int, sims: int,
                 higher_is_better: bool) -> dict:
    """Coverage of Newcombe's interval of p_b - p_a and the share of each verdict, over `sims` binomial draws."""
    x_a, x_b = rng.binomial(n_a, p_a, sims), rng.binomial(n_b, p_b, sims)
    covered, verdicts = 0, {"better": 0, "worse": 0, "no significant difference": 0}
    for successes_a, successes_b in zip(x_a.tolist(), x_b.tolist()):
        low, high = newcombe_interval(successes_a=successes_a, n_a=n_a, successes_b=successes_b, n_b=n_b)
        covered += low <= p_b - p_a <= high
        verdicts[_verdict(low, high, higher_is_better=higher_is_better)] += 1
    return {"covered": covered, **verdicts}


RATE_SETTINGS = [   # (label, p_a, p_b, n_a, n_b, higher_is_better)
    ("accuracy 0.80 = 0.80, n 20", 0.80, 0.80, 20, 20, True),
    ("accuracy 0.80 = 0.80, n 50", 0.80, 0.80, 50, 50, True),
    ("accuracy 0.80 = 0.80, n 200", 0.80, 0.80, 200, 200, True),
    ("accuracy 0.80 = 0.80, n 2,000", 0.80, 0.80, 2_000, 2_000, True),
    ("accuracy 0.80 = 0.80, n 2,000 vs 200", 0.80, 0.80, 2_000, 200, True),
    ("accuracy 0.844 = 0.844, demo n", 0.844, 0.844, *DEMO_LABELLED, True),
    ("accuracy 0.80 -> 0.85, n 50", 0.80, 0.85, 50, 50, True),
    ("accuracy 0.80 -> 0.83, n 2,000", 0.80, 0.83, 2_000, 2_000, True),
    ("accuracy 0.844 -> 0.866, demo n", 0.844, 0.866, *DEMO_LABELLED, True),
    ("accuracy 0.844 -> 0.848, demo n", 0.844, 0.848, *DEMO_LABELLED, True),
    ("accuracy 0.50 = 0.50, n 30", 0.50, 0.50, 30, 30, True),
    ("error 0.4% = 0.4%, n 200", 0.004, 0.004, 200, 200, False),
    ("error 0.4% = 0.4%, n 2,000", 0.004, 0.004, 2_000, 2_000, False),
    ("error 0.4% = 0.4%, n 20,000", 0.004, 0.004, 20_000, 20_000, False),
    ("error 0.4% = 0.4%, demo n", 0.004, 0.004, *DEMO_N, False),
    ("error 0.4% = 0.4%, n 20,000 vs 1,000", 0.004, 0.004, 20_000, 1_000, False),
    ("error 0.4% -> 0.8%, n 2,000", 0.004, 0.008, 2_000, 2_000, False),
    ("error 0.4% -> 0.6%, demo n", 0.004, 0.006, *DEMO_N, False),
    ("error 0.4% -> 0.43%, demo n", 0.004, 0.0043, *DEMO_N, False),
    ("error 0.1% = 0.1%, n 1,000", 0.001, 0.001, 1_000, 1_000, False),
]


def part_rates(sims: int) -> None:
    print(f"1. Rates: Newcombe's hybrid score interval (newcombe_interval, _verdict), {sims:,} draws per setting")
    print(f"   {'setting':40} {'coverage':>17}   {'better':>17}   {'worse':>17}")
    rng = np.random.default_rng(2026)
    low_cov, high_cov, false_verdicts = 1.0, 0.0, []
    for label, p_a, p_b, n_a, n_b, higher in RATE_SETTINGS:
        found = rate_setting(rng, p_a=p_a, p_b=p_b, n_a=n_a, n_b=n_b, sims=sims, higher_is_better=higher)
        print(f"   {label:40} {_share(found['covered'], sims)}   {_share(found['better'], sims)}   "
              f"{_share(found['worse'], sims)}")
        low_cov, high_cov = min(low_cov, found["covered"] / sims), max(high_cov, found["covered"] / sims)
        if p_a == p_b:
            false_verdicts.append((found["better"] + found["worse"]) / sims)
    print(f"   coverage {low_cov:.2%} to {high_cov:.2%}; equal rates called better or worse "
          f"{min(false_verdicts):.2%} to {max(false_verdicts):.2%} of the time")


def demo_shaped(rng: np.random.Generator, n: int, version: dict) -> dict[str, np.ndarray]:
    """n requests of one version, generated as governance/demo/__init__.py's _telemetry generates adult-income's."""
    hour = rng.integers(0, 24, n)
    load = np.interp(hour, LOAD_HOURS, LOAD_LEVELS)
    latency = version["median_ms"] * (1 + 0.25 * load) * np.exp(rng.normal(0, 0.38, n))
    latency = np.where(rng.random(n) < version["regression"], latency * REGRESSION_FACTOR, latency)
    is_error = rng.random(n) < ERROR_RATE
    latency = np.where(is_error, rng.uniform(800, 3000, n), latency)
    approved = ~is_error & (rng.random(n) < version["approved"])
    score = 0.5 + 0.5 * rng.beta(*version["beta"], n)
    value = np.where(approved, score * 180.0 - (1 - score) * 40.0, 0.0).round(2)
    correct = rng.random(n) < version["accuracy"]
    prediction = approved.astype(float)
    label = np.where(correct, prediction, 1 - prediction)
    label[(rng.random(n) < LABEL_MISSING) | is_error] = np.nan
    prediction[is_error] = np.nan
    return {"latency_ms": latency.round(2), "is_error": is_error, "prediction": prediction, "label": label,
            "cost_usd": 0.00012 + latency.round(2) * 0.000004, "expected_value_usd": value}


def truth(version: dict) -> dict[str, float]:
    """The population means of demo_shaped's measures (exact, up to the rounding of latency and value to cents)."""
    hours = np.arange(24)
    mean_load = np.interp(hours, LOAD_HOURS, LOAD_LEVELS).mean()
    success_latency = (version["median_ms"] * (1 + 0.25 * mean_load) * math.exp(0.38 ** 2 / 2)
                       * (1 + (REGRESSION_FACTOR - 1) * version["regression"]))
    latency = (1 - ERROR_RATE) * success_latency + ERROR_RATE * 1_900.0
    a, b = version["beta"]
    score = 0.5 + 0.5 * a / (a + b)
    return {"cost_per_1k_usd": 1000 * (0.00012 + latency * 0.000004), "error_rate": ERROR_RATE,
            "accuracy": version["accuracy"],
            "value_per_prediction_usd": (1 - ERROR_RATE) * version["approved"] * (220 * score - 40)}


def _frame(rng: np.random.Generator, n: int, version: dict, name: str) -> pd.DataFrame:
    data = demo_shaped(rng, n, version)
    return pd.DataFrame({
        "ts": WINDOW.start + pd.to_timedelta(rng.integers(0, 30 * 86_400, n), unit="s"), "model": "m",
        "version": name, "segment": "web", "input_id": np.arange(n),
        "prediction": pd.array(data["prediction"], dtype="Int8"), "score": 0.5,
        "label": pd.array(data["label"], dtype="Int8"), "latency_ms": data["latency_ms"],
        "is_error": data["is_error"], "cost_usd": data["cost_usd"],
        "expected_value_usd": data["expected_value_usd"]})


SCENARIOS = {"equal (v1 = v1)": (V1, V1), "as the demo (v1 -> v2)": (V1, V2)}
KPIS = ("accuracy", "error_rate", "cost_per_1k_usd", "value_per_prediction_usd")


def part_end_to_end(datasets: int, n: int) -> None:
    print(f"\n2. End to end (compare_versions on a workspace): demo-shaped telemetry, {n:,} requests per version, "
          f"{datasets} data sets per scenario")
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as folder:
        store = GovernanceStore(Path(folder) / "ab.duckdb")
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
            for s, (first, second) in enumerate(SCENARIOS.values()):
                frames = [frame for k in range(datasets)
                          for frame in (_frame(rng, n, first, f"s{s}a{k}"), _frame(rng, n, second, f"s{s}b{k}"))]
                tx.insert_frame("telemetry", pd.concat(frames))
        for s, (scenario, (first, second)) in enumerate(SCENARIOS.items()):
            true_a, true_b = truth(first), truth(second)
            started = time.perf_counter()
            results = [{c.kpi: c for c in compare_versions(store, model="m", a=f"s{s}a{k}", b=f"s{s}b{k}",
                                                            window=WINDOW, seed=k)} for k in range(datasets)]
            seconds = (time.perf_counter() - started) / datasets
            print(f"   {scenario} ({seconds:.2f} s per comparison)")
            for kpi in KPIS:
                rows = [r[kpi] for r in results]
                true = true_b[kpi] - true_a[kpi]
                covered = sum(c.ci_low <= true <= c.ci_high for c in rows)
                better = sum(c.verdict == "better" for c in rows)
                worse = sum(c.verdict == "worse" for c in rows)
                print(f"     {kpi:26} true B - A {true:+.5f}: covered {_share(covered, datasets)}, "
                      f"better {_share(better, datasets)}, worse {_share(worse, datasets)}")
            others = [c for r in results for c in r.values() if c.kpi.startswith("latency")]
            if first is second:
                wrong = sum(c.verdict != "no significant difference" for c in others)
                print(f"     latency p50/p95/p99: better or worse in {wrong} of {len(others)}")
        store.close()


def part_demo_size(datasets: int) -> None:
    n_a, n_b = DEMO_N
    print(f"\n3. Cost and value at the demo's A/B sample sizes ({n_a:,} / {n_b:,} requests): compare_bins_sql's bins "
          f"and _bootstraps, {datasets} data sets per scenario")
    rng = np.random.default_rng(11)
    connection = duckdb.connect()
    params = {"model": "m", "a": "a", "b": "b", "start": WINDOW.start, "end": WINDOW.end}
    for scenario, (first, second) in SCENARIOS.items():
        true_a, true_b = truth(first), truth(second)
        found = {kpi: [] for kpi in ("cost_per_1k_usd", "value_per_prediction_usd")}
        for k in range(datasets):
            telemetry = pd.concat([_frame(rng, n_a, first, "a"), _frame(rng, n_b, second, "b")])  # noqa: F841
            connection.register("telemetry", telemetry)
            for measure, kpi, scale in (("cost_usd", "cost_per_1k_usd", 1000),
                                        ("expected_value_usd", "value_per_prediction_usd", 1)):
                bins = connection.execute(compare_bins_sql(measure),
                                          {**params, "width": COMPARE_BINNED[measure][1]}).df()
                (comparison,) = _bootstraps({kpi: _weighted_mean}, {v: g for v, g in bins.groupby("version")},
                                            ("a", "b"), rng=np.random.default_rng(k), scale=scale)
                found[kpi].append(comparison)
            connection.unregister("telemetry")
        print(f"   {scenario}")
        for kpi, rows in found.items():
            true = true_b[kpi] - true_a[kpi]
            covered = sum(c.ci_low <= true <= c.ci_high for c in rows)
            better = sum(c.verdict == "better" for c in rows)
            worse = sum(c.verdict == "worse" for c in rows)
            width = np.mean([c.ci_high - c.ci_low for c in rows])
            print(f"     {kpi:26} true B - A {true:+.5f}: covered {_share(covered, datasets)}, mean width "
                  f"{width:.5f}, better {_share(better, datasets)}, worse {_share(worse, datasets)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=20_000)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--demo-datasets", type=int, default=300)
    args = parser.parse_args()
    part_rates(args.sims)
    part_end_to_end(args.datasets, args.n)
    part_demo_size(args.demo_datasets)


if __name__ == "__main__":
    main()
