"""Performance estimated from scores before labels arrive (CBPE, governance/monitoring/performance_estimate.py):
how close the estimates come to the realised figures on the demo, how often their 95% intervals hold them, and the
alert's false alarms, measured by simulation.

1. The demo (default 1,000,000 rows, seed 42; built here if --db names no workspace): every version's daily
   estimate against the realised figure of the days whose labels arrived: mean absolute error, mean signed error
   and the share of days whose interval holds the realised figure, per metric; adult-income apart before and during
   the scripted drift (from day 60, 2026-08-30: a growing share of older applicants working longer hours, each
   keeping the real outcome of the person it was copied from), and each version's calibration check.
2. Coverage by simulation: a population whose true probability at each score is the isotonic regression of the
   version's real evaluation outcomes on its scores (finer than the calibrator's bins); each replicate draws the
   reference's outcomes afresh, fits the calibrator, draws a day of the demo's median daily size from the
   reference's scores with outcomes from the truth, and asks whether each interval holds the realised figure.
   The check's false fails on the same replicates: the reference half (held-out half of the fresh reference) and
   the recent-labels half (a simulated week of labelled rows, 90% of 7 days).
3. The alert's false alarms: the truth tempered (in the logit) until the model's expected accuracy is exactly its
   accuracy objective; the share of simulated unlabelled days whose interval lies wholly below the objective (the
   alert's rule, performance_estimate.below_objective). And its power: the same at 2 points below the objective.

    .venv/bin/python benchmarks/performance_estimate.py [--db PATH] [--sims 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance.monitoring import performance_estimate as pe  # noqa: E402
from governance.monitoring.service_levels import service_levels  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402

DRIFT_FROM = "2026-08-30"   # the demo's day 60 (governance.demo.DRIFT_START_DAY)


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    low = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def share(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k / n:6.1%} [{low:.1%}, {high:.1%}] ({k}/{n})"


def demo_workspace(path: Path | None) -> Path:
    if path is not None and path.exists():
        return path
    from governance.demo import seed_demo

    path = path or Path("/tmp/quorum-bench-estimate/demo.duckdb")
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"building the demo workspace at {path} (1,000,000 rows, seed 42) ...", flush=True)
    with GovernanceStore(path) as store:
        seed_demo(store, rows=1_000_000, seed=42)
    return path


def validate_on_demo(store: GovernanceStore) -> dict:
    """Part 1; returns each version's median daily scored rows, for the simulations."""
    print("\n1. The demo: estimates against realised figures on the days whose labels arrived")
    sizes = {}
    for model in ("adult-income", "german-credit"):
        started = time.perf_counter()
        found = pe.estimate_performance(store, model=model, grain="day")
        seconds = time.perf_counter() - started
        print(f"\n{model}: estimate_performance over {found.start[:10]} to {found.end[:10]} in {seconds:.2f} s")
        for version, check in found.checks.items():
            print(f"  {version} calibration check {'holds' if check.ok else 'FAILS'}: reference half p = "
                  f"{check.reference_p_value:.3g} (ECE {check.reference_ece:.4f}, {check.reference_rows:,} rows, "
                  f"{check.bins} bins); recent labels "
                  + (f"p = {check.recent_p_value:.3g} (ECE {check.recent_ece:.4f}, {check.recent_labelled:,} "
                     f"outcomes, {check.recent_days[0]} to {check.recent_days[-1]})" if check.recent_labelled
                     else "none"))
        for c in found.coverage:
            sizes.setdefault((model, c.version), []).append(c.n)
        for version in sorted(found.checks):
            unlabelled = [c.period for c in found.coverage if c.version == version and c.labelled == 0]
            print(f"  {version}: {len(unlabelled)} days with no label yet"
                  + (f" ({unlabelled[0]} to {unlabelled[-1]})" if unlabelled else ""))
            segments = {"all days": lambda p: True}
            if model == "adult-income":
                segments = {"before the drift": lambda p: p < DRIFT_FROM, "during the drift": lambda p: p >= DRIFT_FROM}
            for segment, inside in segments.items():
                for metric in pe.METRICS:
                    rows = [r for r in found.rows if r.version == version and r.metric == metric and inside(r.period)
                            and r.realised is not None and r.estimate is not None and r.ci_low is not None]
                    if not rows:
                        continue
                    errors = np.array([r.estimate - r.realised for r in rows])
                    held = sum(r.ci_low <= r.realised <= r.ci_high for r in rows)
                    print(f"    {version} {segment:<17} {metric:<9} days {len(rows):>3}  "
                          f"MAE {np.abs(errors).mean():.4f}  mean error {errors.mean():+.4f}  "
                          f"interval holds {held}/{len(rows)} ({held / len(rows):.0%})  mean half-width "
                          f"{np.mean([(r.ci_high - r.ci_low) / 2 for r in rows]):.4f}")
    when_the_check_fails(store)
    return {key: int(np.median(values)) for key, values in sizes.items()}


def when_the_check_fails(store: GovernanceStore) -> None:
    """adult-income's check day by day from the drift's start, with the outcomes up to that day (`until`), as a
    page capped at that day sees them: the first day its recent-labels half fails."""
    from datetime import date, timedelta

    first = {}
    day = date.fromisoformat(DRIFT_FROM)
    while day <= date(2026, 9, 25) and len(first) < 2:
        found = pe.estimate_performance(store, model="adult-income", grain="day", until=day)
        for version, check in found.checks.items():
            if not check.ok and version not in first:
                first[version] = (day, check.recent_p_value)
        day += timedelta(days=1)
    for version in ("v1", "v2"):
        print(f"  adult-income {version}: with the outcomes up to each day since {DRIFT_FROM}, the check first fails "
              + (f"on {first[version][0]} (recent labels p = {first[version][1]:.2g})" if version in first
                 else "on no day up to 2026-09-25"))


def simulate(store: GovernanceStore, sizes: dict, *, sims: int, seed: int) -> None:
    print(f"\n2. Coverage by simulation ({sims} replicates per version; population: isotonic truth of the real "
          "evaluation set)")
    for (model, version), rows in sorted(sizes.items()):
        scores, labels, threshold = pe.reference_set(store, model=model, version=version)
        truth = pe.smooth_truth(scores=scores, labels=labels)
        rng = np.random.default_rng(seed)
        held = {m: 0 for m in pe.METRICS}
        computed = {m: 0 for m in pe.METRICS}
        reference_fails = recent_fails = 0
        week = int(rows * 7 * 0.9)
        started = time.perf_counter()
        for _ in range(sims):
            estimate, realised = pe.simulate_period(reference_scores=scores, truth=truth, threshold=threshold,
                                                    rows=rows, rng=rng)
            for m in pe.METRICS:
                if estimate.ci_low[m] is not None and realised[m] is not None:
                    computed[m] += 1
                    held[m] += estimate.ci_low[m] <= realised[m] <= estimate.ci_high[m]
            fresh = (rng.random(len(scores)) < truth(scores)).astype(float)
            p_value, _ = pe.reference_check(scores=scores, labels=fresh, threshold=threshold,
                                            seed=int(rng.integers(1 << 31)))
            reference_fails += p_value < pe.CHECK_ALPHA
            calibrator = pe.fit_calibrator(scores=scores, labels=fresh, threshold=threshold)
            recent = scores[rng.integers(0, len(scores), week)]
            recent_p, _, _ = pe.reliability_test(calibrator, scores=recent,
                                                 labels=(rng.random(week) < truth(recent)).astype(float))
            recent_fails += recent_p < pe.CHECK_ALPHA
        print(f"\n  {model} {version}: {len(scores):,} reference rows, {rows:,} predictions a day "
              f"({time.perf_counter() - started:.1f} s)")
        for m in pe.METRICS:
            print(f"    {m:<9} 95% interval holds the realised figure {share(held[m], computed[m])}")
        print(f"    calibration check false fails (p < {pe.CHECK_ALPHA}): reference half "
              f"{share(reference_fails, sims)}; recent labels ({week:,} outcomes) {share(recent_fails, sims)}")


def false_alarms(store: GovernanceStore, sizes: dict, *, sims: int, seed: int) -> None:
    print(f"\n3. The alert's rule (95% interval wholly below the accuracy objective) on unlabelled days, {sims} "
          "simulated days per case")
    for (model, version), rows in sorted(sizes.items()):
        target = service_levels(store, model=model)["accuracy"].target
        scores, labels, threshold = pe.reference_set(store, model=model, version=version)
        truth = pe.smooth_truth(scores=scores, labels=labels)
        for offset, words in ((0.0, "exactly on its objective (any alert is false)"),
                              (-0.02, "2 points below it (power)")):
            tempered = pe.tempered_truth(truth, scores=scores, threshold=threshold, accuracy=target + offset)
            rng = np.random.default_rng(seed)
            fired = 0
            for _ in range(sims):
                estimate, _ = pe.simulate_period(reference_scores=scores, truth=tempered, threshold=threshold,
                                                 rows=rows, rng=rng, with_auc=False)
                fired += pe.below_objective(ci_high=estimate.ci_high["accuracy"], target=target)
            print(f"  {model} {version} (objective {target:.0%}, {rows:,} predictions a day), {words}: alert on "
                  f"{share(fired, sims)} of days")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="a demo workspace (built at /tmp/quorum-bench-estimate if absent)")
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    path = demo_workspace(args.db)
    with GovernanceStore(path) as store:
        sizes = validate_on_demo(store)
        simulate(store, sizes, sims=args.sims, seed=args.seed)
        false_alarms(store, sizes, sims=args.sims, seed=args.seed)


if __name__ == "__main__":
    main()
