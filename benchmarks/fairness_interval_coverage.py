"""Coverage of the fairness criteria's 95% intervals and the error rates of their verdicts, by simulation.

    python benchmarks/fairness_interval_coverage.py [--data-sets 1000] [--resamples 1000] [--seed 21]

Each scenario draws --data-sets data sets of groups with known selection rates (sizes and rates below), and for each
the audit's own bootstrap: a multinomial redraw of all (group, outcome, prediction) cells together, --resamples
times (1,000 is the audits' default). The interval and the p-value come from the functions compute_results calls
(governance.evidence.fairness_metrics.rate_spread and disparity_interval). The method before issue 21 (the percentile
interval of the resampled max - min or min / max, and a bootstrap p-value of that statistic against the threshold)
is computed on the same resamples, so each line compares the two on identical data.

Printed per scenario and per criterion (difference <= t, ratio >= t): the coverage of the true value with its Monte
Carlo standard error sqrt(c (1 - c) / data sets), and the share of wrong verdicts: a fail where the truth meets the
criterion, a pass where it does not, and either one where the truth sits exactly on the threshold. A verdict is
conclusive when its p-value is at most 5% (Holm's level for one criterion) and the interval clears the threshold.
The last block judges two criteria at once (both on their thresholds) with Holm's correction, as an audit does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from governance.evidence import fairness_metrics as fm  # noqa: E402

CHUNK = 200          # data sets per batch: (batch, resamples, groups, 2, 2) int64 stays near 100 MB


def simulate(rates, sizes, *, data_sets: int, resamples: int, rng: np.random.Generator):
    """Yield batches of (cells, resampled cells): (D, G, 2, 2, 1) and (D, B, G, 2, 2, 1). The outcome is a fair coin
    independent of the prediction; only the selection rate matters here."""
    groups = len(rates)
    for start in range(0, data_sets, CHUNK):
        d = min(CHUNK, data_sets - start)
        counts = np.zeros((d, groups, 2, 2, 1), dtype=np.int64)
        for g, (n, rate) in enumerate(zip(sizes, rates)):
            selected = rng.binomial(n, rate, size=d)
            positive_selected, positive_rejected = rng.binomial(selected, 0.5), rng.binomial(n - selected, 0.5)
            counts[:, g, 1, 1, 0], counts[:, g, 0, 1, 0] = positive_selected, selected - positive_selected
            counts[:, g, 1, 0, 0], counts[:, g, 0, 0, 0] = positive_rejected, n - selected - positive_rejected
        flat = counts.reshape(d, -1)
        total = flat.sum(axis=1)
        drawn = rng.multinomial(total, flat / total[:, None], size=(resamples, d))
        yield counts, np.moveaxis(drawn, 0, 1).reshape(d, resamples, *counts.shape[1:])


def new_method(counts, drawn, *, kind, threshold):
    x, n = fm.rate_parts(counts, "selection_rate")
    draw_x, draw_n = fm.rate_parts(drawn, "selection_rate")
    here = fm.disparity(x / n)
    point = here.ratio if kind == "ratio" else here.difference
    return fm.disparity_interval([fm.rate_spread(x, n, draw_x, draw_n, kind=kind)], kind=kind, point=point,
                                 threshold=threshold)


def old_method(counts, drawn, *, kind, threshold):
    """Before issue 21: the 95% percentile interval of the resampled statistic, and the two-sided bootstrap p-value
    2 (min(#draws <= t, #draws >= t) + 1) / (B + 1)."""
    x, n = fm.rate_parts(drawn, "selection_rate")
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = fm.disparity(x / n)
    draws = spread.ratio if kind == "ratio" else spread.difference
    low, high = np.nanquantile(draws, [0.025, 0.975], axis=-1)
    below, above = (draws <= threshold).sum(axis=-1), (draws >= threshold).sum(axis=-1)
    p_value = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (np.isfinite(draws).sum(axis=-1) + 1))
    return low, high, p_value


def wrong_verdict(low, high, p_value, *, truth, kind, threshold, level=fm.ALPHA):
    """(wrong, fail) per data set: wrong where the verdict is conclusive and wrong, a fail while the truth meets the
    criterion or a pass while it does not meet it strictly (on the threshold, either is wrong: the data cannot tell)."""
    gap = (truth - threshold) if kind == "difference" else (threshold - truth)      # > 0: the criterion is failed
    conclusive = p_value <= level
    says_fail = conclusive & ((low > threshold) if kind == "difference" else (high < threshold))
    says_pass = conclusive & ((high < threshold) if kind == "difference" else (low > threshold))
    return (says_fail & (gap <= 1e-12)) | (says_pass & (gap >= -1e-12)), says_fail


SCENARIOS = [
    # name, selection rates, group sizes, difference threshold, ratio threshold
    ("parity, 2 groups", (0.30, 0.30), (300, 2_000), 0.1, 0.8),
    ("parity, 2 groups, strict criteria", (0.30, 0.30), (300, 2_000), 0.02, 0.95),
    ("gap 0.08, 2 groups", (0.22, 0.30), (300, 2_000), 0.1, 0.8),
    ("difference on its threshold", (0.20, 0.30), (300, 2_000), 0.1, None),
    ("ratio on its threshold", (0.24, 0.30), (300, 2_000), None, 0.8),
    ("parity, 4 groups", (0.25, 0.25, 0.25, 0.25), (100, 300, 800, 2_000), 0.1, 0.8),
    ("parity, 4 groups, strict criteria", (0.25, 0.25, 0.25, 0.25), (100, 300, 800, 2_000), 0.02, 0.95),
    ("one group 0.08 lower, 4 groups", (0.17, 0.25, 0.25, 0.25), (100, 300, 800, 2_000), 0.1, 0.8),
    ("spread 0.10, 3 groups, on the threshold", (0.20, 0.25, 0.30), (150, 500, 1_500), 0.1, None),
    ("ratio 0.8, 3 groups, on the threshold", (0.24, 0.27, 0.30), (150, 500, 1_500), None, 0.8),
    ("parity, 4 groups of 30", (0.5, 0.5, 0.5, 0.5), (30, 30, 30, 30), 0.1, 0.8),
    ("parity, rare (0.05), 3 groups", (0.05, 0.05, 0.05), (60, 400, 2_000), 0.1, 0.8),
]


def run(data_sets: int, resamples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"{data_sets:,} data sets per scenario, {resamples:,} resamples each; 95% intervals; "
          "± is the Monte Carlo standard error\n")
    header = (f"{'scenario':40s} {'criterion':18s} {'coverage now':>15s} {'before':>7s}   "
              f"{'wrong verdicts now':>18s} {'before':>7s}   {'fails now':>9s}")
    print(header)
    print("-" * len(header))
    for name, rates, sizes, difference_t, ratio_t in SCENARIOS:
        truth = {"difference": max(rates) - min(rates), "ratio": min(rates) / max(rates)}
        criteria = [(k, t) for k, t in (("difference", difference_t), ("ratio", ratio_t)) if t is not None]
        tally = {k: np.zeros(5) for k, _ in criteria}   # covered now, covered before, wrong now, wrong before, fails
        for counts, drawn in simulate(rates, sizes, data_sets=data_sets, resamples=resamples, rng=rng):
            for kind, t in criteria:
                low, high, p_value = new_method(counts, drawn, kind=kind, threshold=t)
                old_low, old_high, old_p = old_method(counts, drawn, kind=kind, threshold=t)
                wrong, fails = wrong_verdict(low, high, p_value, truth=truth[kind], kind=kind, threshold=t)
                old_wrong, _ = wrong_verdict(old_low, old_high, old_p, truth=truth[kind], kind=kind, threshold=t)
                tally[kind] += [np.sum((low <= truth[kind] + 1e-12) & (truth[kind] - 1e-12 <= high)),
                                np.sum((old_low <= truth[kind] + 1e-12) & (truth[kind] - 1e-12 <= old_high)),
                                wrong.sum(), old_wrong.sum(), fails.sum()]
        for kind, t in criteria:
            now, before, wrong, old_wrong, fails = tally[kind] / data_sets
            se = np.sqrt(now * (1 - now) / data_sets)
            rule = f"{kind} {'<=' if kind == 'difference' else '>='} {t:g}"
            print(f"{name:40s} {rule:18s} {now:8.1%} ± {se:4.1%} {before:7.1%}   {wrong:18.1%} {old_wrong:7.1%}   "
                  f"{fails:9.1%}")
    family(data_sets, resamples, rng)
    group_intervals(data_sets, resamples, rng)


def family(data_sets: int, resamples: int, rng: np.random.Generator) -> None:
    """Two criteria judged together, both exactly on their thresholds (rates 0.40 and 0.50: difference 0.1 and
    ratio 0.8): every conclusive verdict is wrong, and Holm's correction should keep any of them at or below 5%."""
    criteria = (("difference", 0.1, 0.1), ("ratio", 0.8, 0.8))      # kind, threshold, truth
    any_wrong = {"now": 0, "before": 0}
    for counts, drawn in simulate((0.40, 0.50), (300, 2_000), data_sets=data_sets, resamples=resamples, rng=rng):
        for method, interval in (("now", new_method), ("before", old_method)):
            judged = [interval(counts, drawn, kind=kind, threshold=t) for kind, t, _ in criteria]
            for row in range(len(counts)):
                holm = fm.holm_verdicts([float(p_value[row]) for _, _, p_value in judged])
                any_wrong[method] += any(
                    rejected and bool(wrong_verdict(low[row], high[row], p_value[row], truth=truth, kind=kind,
                                                    threshold=t, level=level)[0])
                    for (rejected, level), (low, high, p_value), (kind, t, truth) in zip(holm, judged, criteria))
    any_wrong, any_wrong_before = any_wrong["now"], any_wrong["before"]
    rate = any_wrong / data_sets
    se = np.sqrt(rate * (1 - rate) / data_sets)
    print(f"\nTwo criteria on their thresholds (difference <= 0.1 and ratio >= 0.8, rates 0.40 / 0.50, groups of 300 "
          f"and 2,000), Holm across both:\n  any wrong verdict now {rate:.1%} ± {se:.1%}, "
          f"before {any_wrong_before / data_sets:.1%}")


def group_intervals(data_sets: int, resamples: int, rng: np.random.Generator) -> None:
    """One group's own intervals: a rate (Wilson's now, the percentile bootstrap before) and the expected calibration
    error (max-T bounds over the bins' sign vectors now, the percentile bootstrap before)."""
    print("\nOne group's own 95% intervals: coverage now / before")
    for n, rate in ((300, 0.30), (100, 0.02), (40, 0.95)):
        x = rng.binomial(n, rate, size=data_sets)
        low, high = fm.wilson_interval(x, n)
        resampled = rng.binomial(n, x[:, None] / n, size=(data_sets, resamples)) / n
        old_low, old_high = np.quantile(resampled, [0.025, 0.975], axis=1)
        now, before = np.mean((low <= rate) & (rate <= high)), np.mean((old_low <= rate) & (rate <= old_high))
        print(f"  rate {rate:.2f} in a group of {n:>3}: {now:6.1%} ± {np.sqrt(now * (1 - now) / data_sets):.1%}"
              f" / {before:6.1%}")
    grid = (np.arange(100_000) + 0.5) / 100_000
    for n, power in ((500, 1.0), (2_000, 1.0), (500, 1.2)):
        # outcome ~ Bernoulli(score ** power), score uniform: calibrated at power 1; true ECE over 10 equal bins
        truth = sum(0.1 * abs(g.mean() - (g ** power).mean()) for g in np.split(grid, 10))
        covered = covered_before = 0
        for start in range(0, data_sets, 50):
            d = min(50, data_sets - start)
            score = rng.random((d, n))
            cell = ((rng.random((d, n)) < score ** power) * 20 + (score >= 0.5) * 10
                    + np.minimum((score * 10).astype(int), 9) + np.arange(d)[:, None] * 40).ravel()
            counts = np.bincount(cell, minlength=40 * d).reshape(d, 2, 2, 10)
            sums = np.bincount(cell, weights=score.ravel(), minlength=40 * d).reshape(d, 2, 2, 10)
            drawn = np.moveaxis(rng.multinomial(n, counts.reshape(d, -1) / n, size=(resamples, d)), 0, 1)
            drawn = drawn.reshape(d, resamples, 2, 2, 10)
            drawn_sums = drawn * np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)[:, None]
            low, high = fm.calibration_error_interval(counts, sums, drawn, drawn_sums)
            covered += np.sum((low <= truth + 1e-12) & (truth - 1e-12 <= high))
            old = fm.group_metrics(drawn[:, :, None], drawn_sums[:, :, None], ("expected_calibration_error",))
            old_low, old_high = np.quantile(old["expected_calibration_error"][..., 0], [0.025, 0.975], axis=1)
            covered_before += np.sum((old_low <= truth) & (truth <= old_high))
        now = covered / data_sets
        print(f"  ECE {truth:.3f} ({'calibrated' if power == 1 else f'outcome rate score^{power:g}'}), group of "
              f"{n:,}: {now:6.1%} ± {np.sqrt(now * (1 - now) / data_sets):.1%} / {covered_before / data_sets:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-sets", type=int, default=1_000)
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    started = time.perf_counter()
    run(args.data_sets, args.resamples, args.seed)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
