"""Coverage of the robustness criteria's 95% intervals and how often their verdicts are wrong, by simulation.

    python benchmarks/robustness_verdicts.py [--data-sets 10000] [--runs 4000] [--seed 21]

The truth is known by construction and everything goes through governance/evidence/robustness.py, the code a run uses:

- **Flip rate** (`wilson_interval`): flips ~ Binomial(n, p) for known p.
- **Accuracy drop** (`paired_difference_interval`): each row is correct before with probability A; a correct row
  flips (and becomes wrong) with probability fc, a wrong row flips (and becomes right) with probability fw, so the
  before and after correctness are strongly correlated, as under small noise. True drop = A fc - (1 - A) fw.
- **Slice accuracy gap** (`accuracy_slices`, then `judge` / `_judge_many`): a slice's gap interval is the whole
  set's observed accuracy minus the slice's Wilson interval, [overall - high, overall - low]; the whole set's
  accuracy is taken as if it were known. The rows' groups are the demo's own evaluation sets (the cells below,
  counted from the default demo), fixed; each row is correct with probability base - delta for rows of one target
  slice and base otherwise, so the true gap of every slice (the whole set's expected accuracy minus the slice's) is
  known exactly.
- **The run's verdict** (`judge` with the default criteria, then `overall_verdict`): the three default criteria
  together with every one of them exactly on its threshold (flip rate 0.05, accuracy drop 0.02, the worst slice
  10 points below the whole set), so any pass or fail is wrong.

A verdict is wrong when it is a fail while the truth meets the criterion (value <= threshold), or a pass while the
truth does not (value > threshold); on the threshold, a pass and a fail are both wrong, as in
fairness_interval_coverage.py. Each figure is printed with its Monte Carlo standard error sqrt(r (1 - r) / draws).
The truth is conditional on the evaluation set's composition (its groups and size are fixed, the outcomes random).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from governance.evidence import robustness as rb  # noqa: E402

LEVEL = 0.05
CRITERIA = rb.parse_criteria(rb.DEFAULT_CRITERIA, levels=rb.DEFAULT_LEVELS)
THRESHOLD = {c.name: c.threshold for c in CRITERIA}          # flip_rate 0.05, accuracy_drop 0.02, gap 0.10
MIN_SLICE = rb.DEFAULT_MIN_SLICE                              # 30

# The demo's evaluation sets (default demo, seed 42): rows per combination of the groups a run slices by: the
# sensitive attributes, then the model's age feature in bands (the same bands as age_band, so those slices repeat).
DEMOS = {
    "german-credit v1": {
        "accuracy": 0.76,
        "dimensions": ("sex", "age_band", "foreign_worker", "age (feature band)"),
        "cells": {("female", "25-44", "no", "25-44"): 5, ("female", "25-44", "yes", "25-44"): 50,
                  ("female", "45-64", "yes", "45-64"): 10, ("female", "<25", "yes", "<25"): 24,
                  ("male", "25-44", "no", "25-44"): 8, ("male", "25-44", "yes", "25-44"): 146,
                  ("male", "45-64", "no", "45-64"): 1, ("male", "45-64", "yes", "45-64"): 36,
                  ("male", "<25", "no", "<25"): 1, ("male", "<25", "yes", "<25"): 19},
    },
    "adult-income v1": {
        "accuracy": 0.8472,
        "dimensions": ("sex", "race", "age_band", "age (feature band)"),
        "cells": {
            ("Female", "Amer-Indian-Eskimo", "25-44", "25-44"): 29, ("Female", "Amer-Indian-Eskimo", "45-64", "45-64"): 15,
            ("Female", "Amer-Indian-Eskimo", "<25", "<25"): 15, ("Female", "Asian-Pac-Islander", "25-44", "25-44"): 79,
            ("Female", "Asian-Pac-Islander", "45-64", "45-64"): 33, ("Female", "Asian-Pac-Islander", "65+", "65+"): 6,
            ("Female", "Asian-Pac-Islander", "<25", "<25"): 24, ("Female", "Black", "25-44", "25-44"): 363,
            ("Female", "Black", "45-64", "45-64"): 196, ("Female", "Black", "65+", "65+"): 15,
            ("Female", "Black", "<25", "<25"): 111, ("Female", "Other", "25-44", "25-44"): 22,
            ("Female", "Other", "45-64", "45-64"): 5, ("Female", "Other", "<25", "<25"): 12,
            ("Female", "White", "25-44", "25-44"): 1860, ("Female", "White", "45-64", "45-64"): 994,
            ("Female", "White", "65+", "65+"): 185, ("Female", "White", "<25", "<25"): 949,
            ("Male", "Amer-Indian-Eskimo", "25-44", "25-44"): 61, ("Male", "Amer-Indian-Eskimo", "45-64", "45-64"): 17,
            ("Male", "Amer-Indian-Eskimo", "<25", "<25"): 12, ("Male", "Asian-Pac-Islander", "25-44", "25-44"): 156,
            ("Male", "Asian-Pac-Islander", "45-64", "45-64"): 74, ("Male", "Asian-Pac-Islander", "65+", "65+"): 7,
            ("Male", "Asian-Pac-Islander", "<25", "<25"): 29, ("Male", "Black", "25-44", "25-44"): 404,
            ("Male", "Black", "45-64", "45-64"): 192, ("Male", "Black", "65+", "65+"): 25,
            ("Male", "Black", "<25", "<25"): 105, ("Male", "Other", "25-44", "25-44"): 47,
            ("Male", "Other", "45-64", "45-64"): 18, ("Male", "Other", "65+", "65+"): 1,
            ("Male", "Other", "<25", "<25"): 17, ("Male", "White", "25-44", "25-44"): 4761,
            ("Male", "White", "45-64", "45-64"): 2709, ("Male", "White", "65+", "65+"): 347,
            ("Male", "White", "<25", "<25"): 1165},
    },
}
SIZES = {"german-credit v1": 300, "adult-income v1": 15_060}


# --- shared with tests/unit/evidence/test_robustness_coverage.py --------------------------------------------------------------
def wrong_verdict(verdict: str, truth: float, threshold: float) -> bool:
    """A fail while the truth meets the criterion, a pass while it does not; on the threshold, either."""
    on = math.isclose(truth, threshold, rel_tol=0, abs_tol=1e-12)
    return (verdict == "fail" and (truth <= threshold or on)) or (verdict == "pass" and (truth > threshold or on))


def mcse(rate: float, draws: int) -> float:
    return math.sqrt(max(rate * (1 - rate), 0.0) / draws)


def flip_rate_trials(p: float, n: int, *, draws: int, rng: np.random.Generator,
                     threshold: float = THRESHOLD["flip_rate"]) -> tuple[float, float]:
    """(coverage, wrong-verdict rate) of the flip rate's Wilson interval over `draws` data sets of n rows."""
    covered = wrong = 0
    for flips in rng.binomial(n, p, draws):
        low, high = rb.wilson_interval(int(flips), n)
        covered += low <= p <= high
        wrong += wrong_verdict(rb._judge_interval(low, high, threshold), p, threshold)
    return covered / draws, wrong / draws


def paired_rows(n: int, *, accuracy, worse: float, better: float, rng: np.random.Generator):
    """(before, after) correctness of n rows: P(right -> wrong) = worse, P(wrong -> right) = better (as shares of all
    rows, with `accuracy` the expected share right before; `accuracy` may be one value or one per row)."""
    accuracy = np.broadcast_to(np.asarray(accuracy, dtype=np.float64), (n,))
    mean = float(accuracy.mean())
    before = rng.random(n) < accuracy
    flip = rng.random(n) < np.where(before, worse / mean, better / (1 - mean))
    return before, before ^ flip


def drop_trials(n: int, *, accuracy: float, worse: float, better: float, draws: int, rng: np.random.Generator,
                threshold: float = THRESHOLD["accuracy_drop"]) -> tuple[float, float]:
    """(coverage, wrong-verdict rate) of the accuracy drop's paired normal interval; true drop = worse - better."""
    truth = worse - better
    covered = wrong = 0
    for _ in range(draws):
        before, after = paired_rows(n, accuracy=accuracy, worse=worse, better=better, rng=rng)
        _, low, high = rb.paired_difference_interval(before, after)
        covered += low is not None and low <= truth <= high
        wrong += wrong_verdict(rb._judge_interval(low, high, threshold), truth, threshold)
    return covered / draws, wrong / draws


def demo_groups(name: str) -> dict[str, tuple[str, pd.Series]]:
    """The demo evaluation set's rows as `accuracy_slices` takes them: dimension -> (source, each row's group)."""
    spec = DEMOS[name]
    rows = [key for key, count in spec["cells"].items() for _ in range(count)]
    columns = list(zip(*rows))
    return {d: ("sensitive attribute" if not d.endswith("(feature band)") else "feature band",
                pd.Series(columns[i], dtype=object)) for i, d in enumerate(spec["dimensions"])}


def slice_keys(groups) -> list[tuple[str, str, np.ndarray]]:
    """Every slice with at least MIN_SLICE rows: (dimension, group, row mask), in the order accuracy_slices lists."""
    out = []
    for dimension, (_, labels) in groups.items():
        for group in sorted(labels.unique()):
            mask = (labels == group).to_numpy()
            if mask.sum() >= MIN_SLICE:
                out.append((dimension, group, mask))
    return out


def row_accuracy(groups, *, accuracy: float, target: tuple[str, str] | None, gap: float) -> np.ndarray:
    """Each row's chance of being right: the whole set's expected accuracy stays `accuracy`, and the target slice's
    true gap (whole set minus slice) is `gap`."""
    n = len(next(iter(groups.values()))[1])
    if target is None:
        return np.full(n, accuracy)
    inside = (groups[target[0]][1] == target[1]).to_numpy()
    share = inside.mean()
    delta = gap / (1 - share)
    p_row = np.where(inside, accuracy + delta * share - delta, accuracy + delta * share)
    if p_row.min() < 0 or p_row.max() > 1:
        raise ValueError(f"a gap of {gap} on {target} cannot keep the whole set's accuracy at {accuracy}")
    return p_row


def true_gaps(p_row: np.ndarray, keys) -> np.ndarray:
    return np.array([p_row.mean() - p_row[mask].mean() for _, _, mask in keys])


def simulate_run(groups, p_row: np.ndarray, *, worse: float, better: float, rng: np.random.Generator):
    """One robustness run's judged criteria: the clean and perturbed predictions of a binary model whose rows are
    right with p_row, through rb._effect, rb.accuracy_slices, rb.judge and rb.overall_verdict."""
    n = len(p_row)
    y = rng.integers(0, 2, n)
    before, after = paired_rows(n, accuracy=p_row, worse=worse, better=better, rng=rng)
    clean = np.where(before, y, 1 - y)
    perturbed = np.where(after, y, 1 - y)
    effect = rb._effect(clean, perturbed, y, clean == y, LEVEL)
    slices = rb.accuracy_slices(clean == y, groups, overall=float(np.mean(clean == y)), min_size=MIN_SLICE)
    results = {"perturbation": {"all_features": [effect], "features": []},
               "shift": {"slices": slices, "weeks": []}}
    judged = rb.judge(CRITERIA, results)
    return slices, judged, rb.overall_verdict(judged)


def slice_trials(name: str, *, target: tuple[str, str] | None, gap: float, runs: int, rng: np.random.Generator,
                 worse: float = 0.035, better: float = 0.015) -> dict:
    """Runs of the demo's evaluation set: coverage of each slice's gap interval, the slice criterion's verdicts, and
    (all criteria judged) the share of runs with at least one wrong verdict and with a wrong overall verdict."""
    groups = demo_groups(name)
    keys = slice_keys(groups)
    p_row = row_accuracy(groups, accuracy=DEMOS[name]["accuracy"], target=target, gap=gap)
    gaps = true_gaps(p_row, keys)
    truth = {"flip_rate": worse + better, "accuracy_drop": worse - better, "slice_accuracy_gap": float(gaps.max())}
    covered = np.zeros(len(keys))
    all_covered = 0
    verdicts = {"pass": 0, "fail": 0, "inconclusive": 0, "not computable": 0}
    wrong = {c.name: 0 for c in CRITERIA}
    any_wrong = overall_wrong = 0
    for _ in range(runs):
        slices, judged, overall = simulate_run(groups, p_row, worse=worse, better=better, rng=rng)
        ok = [s for s in slices if s["status"] == "ok"]
        hit = np.array([s["gap_ci_low"] <= g <= s["gap_ci_high"] for s, g in zip(ok, gaps)])
        covered += hit
        all_covered += hit.all()
        flags = {c["name"]: wrong_verdict(c["verdict"], truth[c["name"]], c["threshold"]) for c in judged}
        for k, v in flags.items():
            wrong[k] += v
        verdicts[next(c["verdict"] for c in judged if c["name"] == "slice_accuracy_gap")] += 1
        any_wrong += any(flags.values())
        overall_wrong += overall in ("pass", "fail")     # only meaningful when every criterion is on its threshold
    return {"keys": [(d, g, int(m.sum())) for d, g, m in keys], "gaps": gaps, "truth": truth,
            "coverage": covered / runs, "all_covered": all_covered / runs,
            "verdicts": {k: v / runs for k, v in verdicts.items()}, "wrong": {k: v / runs for k, v in wrong.items()},
            "any_wrong": any_wrong / runs, "overall_wrong": overall_wrong / runs}


def smallest_slice(name: str) -> tuple[str, str]:
    keys = slice_keys(demo_groups(name))
    d, g, _ = min(keys, key=lambda k: (k[2].sum(), k[0]))
    return d, g


def largest_slice(name: str, gap: float = 0.10) -> tuple[str, str]:
    """The largest judged slice that can be `gap` below the whole set with the whole set's accuracy unchanged (a
    slice of 95% of the rows cannot be 10 points below them)."""
    groups = demo_groups(name)
    for d, g, _ in sorted(slice_keys(groups), key=lambda k: (-k[2].sum(), k[0])):
        try:
            row_accuracy(groups, accuracy=DEMOS[name]["accuracy"], target=(d, g), gap=gap)
        except ValueError:
            continue
        return d, g
    raise ValueError(f"no slice of {name} can be {gap} below the whole set")


# --- the benchmark --------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-sets", type=int, default=10_000, help="data sets per interval case")
    parser.add_argument("--runs", type=int, default=4_000, help="simulated runs per slice / whole-run case")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    d = args.data_sets

    print(f"Flip rate: Wilson 95% interval, {d:,} data sets per line; verdict against flip_rate <= 0.05")
    print(f"{'rows':>7s} {'true rate':>9s}   {'coverage':>16s}   {'wrong verdicts':>16s}")
    for n in SIZES.values():
        for p in (0.005, 0.01, 0.027, 0.04, 0.05, 0.06, 0.10):
            cov, wrong = flip_rate_trials(p, n, draws=d, rng=rng)
            print(f"{n:7,d} {p:9.3f}   {cov:7.1%} ± {mcse(cov, d):5.1%}   {wrong:7.1%} ± {mcse(wrong, d):5.1%}")

    print(f"\nAccuracy drop: paired normal 95% interval, {d:,} data sets per line; verdict against accuracy_drop <= "
          "0.02\n(right->wrong and wrong->right: shares of all rows that flip each way; drop = their difference)")
    print(f"{'set':>17s} {'rows':>7s} {'r->w':>6s} {'w->r':>6s} {'drop':>6s}   {'coverage':>16s}   "
          f"{'wrong verdicts':>16s}")
    for name, n in SIZES.items():
        for worse, better in ((0.0135, 0.0135), (0.017, 0.010), (0.005, 0.0), (0.02, 0.0), (0.035, 0.015),
                              (0.03, 0.0), (0.06, 0.02)):
            cov, wrong = drop_trials(n, accuracy=DEMOS[name]["accuracy"], worse=worse, better=better, draws=d,
                                     rng=rng)
            print(f"{name:>17s} {n:7,d} {worse:6.4f} {better:6.4f} {worse - better:6.4f}   {cov:7.1%} ± "
                  f"{mcse(cov, d):5.1%}   {wrong:7.1%} ± {mcse(wrong, d):5.1%}")

    r = args.runs
    print(f"\nSlice accuracy gap (judge / _judge_many over the demo's slices of >= {MIN_SLICE} rows), {r:,} runs per "
          "case;\nthe interval is the whole set's observed accuracy minus the slice's Wilson interval")
    for name in SIZES:
        small, large = smallest_slice(name), largest_slice(name)
        for label, target, gap in (("no gap anywhere", None, 0.0),
                                   (f"{small[0]} = {small[1]} on the threshold", small, 0.10),
                                   (f"{large[0]} = {large[1]} on the threshold", large, 0.10),
                                   (f"{small[0]} = {small[1]} gap 0.20", small, 0.20)):
            out = slice_trials(name, target=target, gap=gap, runs=r, rng=rng)
            cov = out["coverage"]
            low_i = int(np.argmin(cov))
            v = out["verdicts"]
            wrong = out["wrong"]["slice_accuracy_gap"]
            print(f"{name}: {label} (worst true gap {out['truth']['slice_accuracy_gap']:.3f}; "
                  f"{len(out['keys'])} slices judged)")
            print(f"    coverage per slice {cov.min():.1%}-{cov.max():.1%} (lowest: {out['keys'][low_i][0]} = "
                  f"{out['keys'][low_i][1]}, {out['keys'][low_i][2]} rows, ± {mcse(cov[low_i], r):.1%}); every "
                  f"slice at once {out['all_covered']:.1%} ± {mcse(out['all_covered'], r):.1%}")
            print(f"    verdicts: pass {v['pass']:.1%}, fail {v['fail']:.1%}, inconclusive {v['inconclusive']:.1%}; "
                  f"wrong {wrong:.1%} ± {mcse(wrong, r):.1%}")

    print(f"\nThe run's verdict, every default criterion on its threshold (flip rate 0.05, drop 0.02 as 0.035 "
          f"right->wrong and 0.015 wrong->right,\nthe smallest judged slice 10 points below the whole set), {r:,} "
          "runs per set: any pass or fail is wrong")
    for name in SIZES:
        out = slice_trials(name, target=smallest_slice(name), gap=0.10, runs=r, rng=rng)
        per = ", ".join(f"{k} {v:.1%}" for k, v in out["wrong"].items())
        print(f"{name:>17s}: at least one wrong criterion verdict {out['any_wrong']:.1%} ± "
              f"{mcse(out['any_wrong'], r):.1%}; wrong overall verdict (pass or fail) {out['overall_wrong']:.1%} ± "
              f"{mcse(out['overall_wrong'], r):.1%}\n{'':19s}per criterion: {per}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
