"""False alarms of drift's PSI status and of data quality's statistical checks, on stable data at the demo's sizes.

Drift (governance/monitoring/drift.py) judges each feature by the PSI of the latest complete period (a week on the page)
against its reference: watch from 0.1, act from 0.25, on the reference's decile bins (numeric) or one bin per
reference category plus other/unseen (categorical). Here the truth is "no drift" by construction: the reference
and the week's telemetry are both drawn from one population, the real data set behind the demo:

* adult-income: UCI Adult, train and test pooled (45,222 people). The reference is 15,060 of them drawn without
  replacement (the size of the version's held-out evaluation set); a week is n_week draws with replacement.
* german-credit: Statlog German credit (1,000 applicants); a reference of 300 (its evaluation set), a week likewise.

Two regimes: "population" (a fresh reference each replicate: the unconditional false-alarm rate of the rule) and
"demo reference" (the demo's own evaluation set held fixed, weeks resampled from it as the demo's stable weeks are:
the rate given that reference). The bins, the PSI and the status are Quorum's own: drift._decile_edges, drift.psi,
DriftThresholds.status (with its "not judged" under min_rows). Weekly sizes default to the default demo's complete
weeks (about 27,200 rows a week for each adult-income version during the A/B split, 54,500 for v1 before it;
23,400 for german-credit v1); the smallest judged week, min_rows (500), is run too.

Data quality (governance/monitoring/data_quality.py): out of range (numeric, outside the reference's min..max), unseen
categories, missing values (over the reference's own share) and label coverage are judged on simulated clean
weeks through data_quality._feature_rows and _row_checks, the functions that make the page's rows. Schema
conformity, extra columns and telemetry duplicates count deterministic faults: clean data has none, so they have no
false alarm.

    .venv/bin/python benchmarks/drift_false_alarms.py [--reps 1000] [--seed 7]

Prints each rate with its 95% Clopper-Pearson interval.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance.monitoring import data_quality, drift  # noqa: E402
from governance.demo.datasets import (ADULT_CATEGORICAL, ADULT_NUMERIC, GERMAN_CATEGORICAL, GERMAN_NUMERIC, load_adult,
                                      load_german)
from governance.demo import DEFAULT_SEED, _stratified_split  # noqa: E402
from governance.monitoring.telemetry_sql import QUALITY_NULL, QUALITY_OK, QUALITY_OUTSIDE  # noqa: E402

THRESHOLDS = drift.DriftThresholds(model="simulated")      # the defaults: watch 0.1, act 0.25
# Rows in a complete week of the default demo (1,000,000 rows, seed 42), per version: see README "Drift".
WEEK_ROWS = {"adult-income": (54_500, 27_200), "german-credit": (23_400,)}
REFERENCE_ROWS = {"adult-income": 15_060, "german-credit": 300}


@dataclass(frozen=True)
class Population:
    name: str
    frame: pd.DataFrame
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    reference: pd.DataFrame          # the demo's own held-out evaluation set

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def _coded(frame: pd.DataFrame, categorical, categories: dict) -> pd.DataFrame:
    """Categories as integer codes (one code per category text), so that binning is integer arithmetic."""
    frame = frame.copy()
    for name in categorical:
        frame[name] = pd.Categorical(frame[name].astype(str), categories=categories[name]).codes.astype(np.int64)
    return frame


def populations() -> dict[str, Population]:
    train, test = load_adult()
    adult = pd.concat([train, test], ignore_index=True)
    german = load_german()
    _, german_test = _stratified_split(german, test_size=300, seed=DEFAULT_SEED)   # the demo's split
    out = {}
    for name, frame, reference, numeric, categorical in (
            ("adult-income", adult, test, ADULT_NUMERIC, ADULT_CATEGORICAL),
            ("german-credit", german, german_test, GERMAN_NUMERIC, GERMAN_CATEGORICAL)):
        categories = {c: sorted(frame[c].astype(str).unique()) for c in categorical}
        out[name] = Population(name, _coded(frame, categorical, categories), tuple(numeric), tuple(categorical),
                               _coded(reference, categorical, categories).reset_index(drop=True))
    return out


# --- drift: bins, PSI and status by Quorum's own functions ----------------------------------------------

def reference_bins(reference: np.ndarray, kind: str):
    """(bin of any value, number of bins) as drift bins a feature from this reference."""
    if kind == "numeric":
        values, counts = np.unique(reference.astype(np.float64), return_counts=True)
        edges = drift._decile_edges(values, counts)
        return (lambda x: np.searchsorted(edges, np.asarray(x, dtype=np.float64), side="left")), len(edges) + 1
    categories = np.unique(reference)                     # one bin each (their order does not change the PSI)
    other = len(categories)                               # the "other/unseen" bin

    def code(x):
        x = np.asarray(x)
        position = np.searchsorted(categories, x).clip(max=other - 1)
        return np.where(categories[position] == x, position, other)
    return code, other + 1


def feature_psi(reference: np.ndarray, current: np.ndarray, kind: str) -> tuple[float, int]:
    """PSI of current against reference on drift's bins, and the number of bins."""
    code, n_bins = reference_bins(reference, kind)
    ref_counts = np.bincount(code(reference), minlength=n_bins)
    cur_counts = np.bincount(code(current), minlength=n_bins)
    return float(drift.psi(ref_counts, cur_counts)), n_bins


def status(reference: np.ndarray, current: np.ndarray, kind: str) -> str:
    value, n_bins = feature_psi(reference, current, kind)
    return THRESHOLDS.status(value, len(current), bins=n_bins)


def _codes_by_population(pop: Population, ref_index: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """Each feature's bin for every person of the population, on bins from the reference rows."""
    out = {}
    for name in pop.features:
        kind = "numeric" if name in pop.numeric else "categorical"
        column = pop.frame[name].to_numpy()
        code, n_bins = reference_bins(column[ref_index], kind)
        out[name] = (code(column), n_bins)
    return out


def simulate_drift(pop: Population, *, n_week: int, reps: int, rng: np.random.Generator,
                   regime: str = "population", shift=None) -> pd.DataFrame:
    """One row per (replicate, feature): its PSI and status in a stable (or shifted) week.

    regime "population": reference drawn afresh from the population each replicate; "demo": the demo's evaluation
    set, weeks drawn from it. shift(frame, rng) -> frame, applied to the week's rows, for a detection rate.
    """
    rows = []
    n_ref = REFERENCE_ROWS[pop.name]
    if regime == "demo":
        frame = pop.reference.reset_index(drop=True)
        fixed = _codes_by_population(Population(pop.name, frame, pop.numeric, pop.categorical, frame),
                                     np.arange(len(frame)))
    else:
        frame = pop.frame
    n = len(frame)
    for rep in range(reps):
        if regime == "demo":
            ref_index, codes = np.arange(n), fixed
        else:
            ref_index = rng.choice(n, size=n_ref, replace=False)
            codes = _codes_by_population(pop, ref_index)
        week_index = rng.integers(0, n, size=n_week)
        shifted = None if shift is None else shift(frame.iloc[week_index], rng)
        for name in pop.features:
            kind = "numeric" if name in pop.numeric else "categorical"
            code, n_bins = codes[name]
            ref_counts = np.bincount(code[ref_index], minlength=n_bins)
            if shifted is None:
                cur_counts = np.bincount(code[week_index], minlength=n_bins)
            else:
                binner, _ = reference_bins(frame[name].to_numpy()[ref_index], kind)
                cur_counts = np.bincount(binner(shifted[name].to_numpy()), minlength=n_bins)
            value = float(drift.psi(ref_counts, cur_counts))
            rows.append((rep, name, kind, n_bins, value, THRESHOLDS.status(value, n_week, bins=n_bins)))
    return pd.DataFrame(rows, columns=["rep", "feature", "kind", "bins", "psi", "status"])


def adult_drift_episode(share: float):
    """The demo's scripted drift: a share of the week's people 9 years older and working 7 hours more."""
    def shift(week: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        week = week.copy()
        moved = rng.random(len(week)) < share
        week.loc[moved, "age"] = np.minimum(week.loc[moved, "age"] + 9, 90)
        week.loc[moved, "hours_per_week"] = np.minimum(week.loc[moved, "hours_per_week"] + 7, 99)
        return week
    return shift


# --- data quality: the statistical checks by Quorum's own row functions ------------------------------------

def quality_statuses(pop: Population, *, n_week: int, reps: int, rng: np.random.Generator) -> pd.DataFrame:
    """Out of range and unseen categories on clean weeks: a fresh reference of the evaluation set's size each
    replicate, judged by data_quality._feature_rows exactly as a telemetry week's counts are."""
    rows = []
    n, n_ref = len(pop.frame), REFERENCE_ROWS[pop.name]
    for rep in range(reps):
        ref_index = rng.choice(n, size=n_ref, replace=False)
        week_index = rng.integers(0, n, size=n_week)
        for name in pop.features:
            column = pop.frame[name].to_numpy()
            ref, week = column[ref_index], column[week_index]
            if name in pop.numeric:
                expected = data_quality.Expected(name, "numeric", 0.0, float(ref.min()), float(ref.max()))
                outside = int(((week < ref.min()) | (week > ref.max())).sum())
                check = "out of range"
            else:
                categories = np.unique(ref)
                expected = data_quality.Expected(name, "categorical", 0.0, categories=tuple(map(str, categories)))
                outside = int((~np.isin(week, categories)).sum())
                check = "unseen categories"
            codes = {QUALITY_OK: n_week - outside, QUALITY_OUTSIDE: outside}
            row = next(r for r in data_quality._feature_rows(expected, codes) if r["check"] == check)
            rows.append((rep, name, check, row["value"], row["status"]))
    return pd.DataFrame(rows, columns=["rep", "feature", "check", "value", "status"])


def missing_statuses(*, r: float, n_ref: int, n_week: int, reps: int, rng: np.random.Generator) -> pd.Series:
    """Missing values at a true missing share r in both the reference and the week (missing at random)."""
    out = []
    for _ in range(reps):
        ref_share = rng.binomial(n_ref, r) / n_ref
        missing = int(rng.binomial(n_week, r))
        expected = data_quality.Expected("x", "numeric", ref_share, 0.0, 1.0)
        codes = {QUALITY_NULL: missing, QUALITY_OK: n_week - missing}
        out.append(next(x for x in data_quality._feature_rows(expected, codes)
                        if x["check"] == "missing values")["status"])
    return pd.Series(out)


def label_coverage_statuses(*, p: float, n_due: int, reps: int, rng: np.random.Generator) -> pd.Series:
    """Label coverage of n_due due predictions when each label arrives with probability p (the demo: 0.9)."""
    now = pd.Timestamp("2026-09-28")
    out = []
    for _ in range(reps):
        labelled = int(rng.binomial(n_due, p))
        counts = {"n": n_due, "n_distinct": n_due, "n_due": n_due, "n_due_labelled": labelled, "n_ok": n_due,
                  "newest": now, "newest_labelled": now - pd.Timedelta(days=3)}
        out.append(next(x for x in data_quality._row_checks(counts, due_before=now)
                        if x["check"] == "label coverage")["status"])
    return pd.Series(out)


# --- reporting ------------------------------------------------------------------------------------------

def rate(hits: int, n: int) -> str:
    low = stats.beta.ppf(0.025, hits, n - hits + 1) if hits else 0.0
    high = stats.beta.ppf(0.975, hits + 1, n - hits) if hits < n else 1.0
    return f"{hits / n:.2%} [{low:.2%}, {high:.2%}] ({hits:,} of {n:,})"


def at_least(statuses: pd.Series, level: str) -> pd.Series:
    order = {"ok": 0, "watch": 1, "act": 2, "warn": 1, "fail": 2}
    return statuses.map(order).fillna(0) >= order[level]


def report_drift(sim: pd.DataFrame, label: str) -> None:
    print(f"  {label}")
    for kind in ("numeric", "categorical"):
        part = sim[sim["kind"] == kind]
        print(f"    {kind:11s} feature-weeks: watch or act {rate(int(at_least(part['status'], 'watch').sum()), len(part))}; "
              f"act {rate(int(at_least(part['status'], 'act').sum()), len(part))}; "
              f"PSI 99th pct {part['psi'].quantile(0.99):.4f}, max {part['psi'].max():.4f}; "
              f"not judged {(part['status'] == 'not judged').mean():.1%}")
    worst = sim.groupby("feature")["psi"].quantile(0.99).sort_values(ascending=False).head(3)
    print("    highest 99th-percentile PSI: " + ", ".join(f"{k} {v:.4f}" for k, v in worst.items()))
    per_report = sim.groupby("rep")["status"]
    reps = sim["rep"].nunique()
    print(f"    reports ({sim['feature'].nunique()} features) with any watch: "
          f"{rate(int(per_report.apply(lambda s: at_least(s, 'watch').any()).sum()), reps)}; "
          f"any act: {rate(int(per_report.apply(lambda s: at_least(s, 'act').any()).sum()), reps)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1_000, help="replicates (reports) per case")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    pops = populations()
    started = time.perf_counter()

    print(f"Drift: PSI status of stable weeks (watch {THRESHOLDS.psi_watch:g}, act {THRESHOLDS.psi_act:g}), "
          f"{args.reps:,} reports per case; rate [95% Clopper-Pearson]")
    for name, pop in pops.items():
        for n_week in WEEK_ROWS[name] + (drift.MIN_ROWS,):
            print(f"{name}: reference {REFERENCE_ROWS[name]:,} rows, week of {n_week:,} rows")
            report_drift(simulate_drift(pop, n_week=n_week, reps=args.reps, rng=rng), "fresh reference from the population")
            report_drift(simulate_drift(pop, n_week=n_week, reps=args.reps, rng=rng, regime="demo"),
                         "the demo's own evaluation set as reference")

    print("\nDrift: detection of the demo's scripted shift (a share of adult-income's week 9 years older, "
          "7 hours more), week of 27,000 rows")
    for share in (0.05, 0.1, 0.2, 0.6):
        sim = simulate_drift(pops["adult-income"], n_week=27_000, reps=max(args.reps // 10, 50), rng=rng,
                             shift=adult_drift_episode(share))
        for feature in ("age", "hours_per_week"):
            part = sim[sim["feature"] == feature]
            print(f"  share {share:.0%} {feature:15s}: watch or act {rate(int(at_least(part['status'], 'watch').sum()), len(part))}; "
                  f"act {rate(int(at_least(part['status'], 'act').sum()), len(part))}; median PSI {part['psi'].median():.3f}")

    print("\nData quality on clean weeks (fresh reference of the evaluation set's size each replicate)")
    for name, pop in pops.items():
        for n_week in (WEEK_ROWS[name][-1], data_quality.MIN_ROWS):
            sim = quality_statuses(pop, n_week=n_week, reps=args.reps, rng=rng)
            for check in ("out of range", "unseen categories"):
                part = sim[sim["check"] == check]
                print(f"  {name} week of {n_week:,}: {check:17s} warn or fail "
                      f"{rate(int(at_least(part['status'], 'warn').sum()), len(part))}; fail "
                      f"{rate(int(at_least(part['status'], 'fail').sum()), len(part))}")
                by = part.groupby("feature")["status"].apply(lambda s: at_least(s, "warn").mean())
                flagged = by[by > 0].sort_values(ascending=False)
                if len(flagged):
                    print("      warn or fail by feature: " + ", ".join(f"{k} {v:.1%}" for k, v in flagged.items()))
            reports = sim.groupby("rep")["status"].apply(lambda s: at_least(s, "warn").any())
            print(f"  {name} week of {n_week:,}: weeks with any out-of-range or unseen warn {rate(int(reports.sum()), len(reports))}")
    for r in (0.02, 0.10, 0.30):
        for n_ref, n_week in ((300, 23_300), (300, 100), (15_060, 27_000)):
            s = missing_statuses(r=r, n_ref=n_ref, n_week=n_week, reps=args.reps * 5, rng=rng)
            print(f"  missing values, true share {r:.0%}, reference {n_ref:,}, week {n_week:,}: warn or fail "
                  f"{rate(int(at_least(s, 'warn').sum()), len(s))}; fail {rate(int(at_least(s, 'fail').sum()), len(s))}")
    for n_due in (100, 200, 20_000):
        s = label_coverage_statuses(p=0.9, n_due=n_due, reps=args.reps * 5, rng=rng)
        print(f"  label coverage, labels arriving 90% (the demo), {n_due:,} due: warn or fail "
              f"{rate(int(at_least(s, 'warn').sum()), len(s))}; fail {rate(int(at_least(s, 'fail').sum()), len(s))}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
