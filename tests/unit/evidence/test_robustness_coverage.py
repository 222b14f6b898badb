"""Coverage of the robustness criteria's 95% intervals and the error rate of their verdicts, by simulation at the demo's
sizes (german-credit v1's 300-row evaluation set, adult-income v1's 15,060 rows) with the truth known by
construction; the simulation is benchmarks/robustness_verdicts.py's, smaller (the benchmark runs 10,000 data sets
per interval and 4,000 runs per case).

Bounds, stated before the results were looked at: each interval is a 95% interval, so its coverage must be at least
95% - 3 MCSE - 1% (MCSE = sqrt(0.95 x 0.05 / draws)); one criterion exactly on its threshold gives a wrong verdict
(a pass or a fail) at most 5% + 3 MCSE + 1% of the time; and the three default criteria together, each on its
threshold and combined without a multiple-testing correction, give at least one wrong verdict at most
1 - 0.95^3 = 14.3% (+ 3 MCSE + 1%) of the time. The seeds are fixed, so the test gives the same figures every run.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from governance.evidence import robustness as rb

ROOT = Path(__file__).resolve().parents[3]


def _benchmark():
    spec = importlib.util.spec_from_file_location("robustness_verdicts", ROOT / "benchmarks" / "robustness_verdicts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return sys.modules[spec.name]


bench = _benchmark()
GERMAN, ADULT = "german-credit v1", "adult-income v1"


def _coverage_floor(draws: int) -> float:
    return 0.95 - 3 * math.sqrt(0.95 * 0.05 / draws) - 0.01


def _wrong_ceiling(rate: float, draws: int) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / draws) + 0.01


def test_the_demo_sizes_and_defaults_are_the_ones_measured():
    assert {n: sum(bench.DEMOS[n]["cells"].values()) for n in bench.DEMOS} == {GERMAN: 300, ADULT: 15_060}
    assert [c.text for c in bench.CRITERIA] == ["flip_rate<=0.05@0.05", "accuracy_drop<=0.02@0.05",
                                                "slice_accuracy_gap<=0.1"]
    assert bench.MIN_SLICE == 30


def test_the_slice_gap_interval_is_the_whole_set_minus_the_slices_wilson_interval():
    """How the gap's interval is made, checked against scipy's score-test inversion: [overall - high, overall - low]
    with (low, high) the slice's 95% Wilson interval and the whole set's accuracy taken as known."""
    rng = np.random.default_rng(3)
    groups = bench.demo_groups(GERMAN)
    correct = rng.random(300) < 0.76
    overall = float(correct.mean())
    for s in rb.accuracy_slices(correct, groups, overall=overall, min_size=bench.MIN_SLICE):
        if s["status"] != "ok":
            continue
        ci = stats.binomtest(s["correct"], s["n"]).proportion_ci(0.95, method="wilson")
        assert s["gap_ci_low"] == pytest.approx(overall - ci.high, abs=1e-9)
        assert s["gap_ci_high"] == pytest.approx(overall - ci.low, abs=1e-9)


@pytest.mark.parametrize("n", [300, 15_060])
def test_flip_rate_wilson_interval_on_the_threshold(n):
    draws = 4_000
    coverage, wrong = bench.flip_rate_trials(0.05, n, draws=draws, rng=np.random.default_rng(n))
    assert coverage >= _coverage_floor(draws)
    assert wrong <= _wrong_ceiling(0.05, draws)


@pytest.mark.parametrize("name, draws", [(GERMAN, 2_000), (ADULT, 600)])
def test_accuracy_drop_paired_interval_on_the_threshold(name, draws):
    """True drop 0.02 (3.5% of rows go right -> wrong, 1.5% wrong -> right: a flip rate of 5%)."""
    n = sum(bench.DEMOS[name]["cells"].values())
    coverage, wrong = bench.drop_trials(n, accuracy=bench.DEMOS[name]["accuracy"], worse=0.035, better=0.015,
                                        draws=draws, rng=np.random.default_rng(draws))
    assert coverage >= _coverage_floor(draws)
    assert wrong <= _wrong_ceiling(0.05, draws)


@pytest.mark.parametrize("name, runs", [(GERMAN, 600), (ADULT, 200)])
def test_every_criterion_on_its_threshold(name, runs):
    """The smallest judged slice 10 points below the whole set, flip rate 0.05, drop 0.02: every slice's interval
    covers its true gap, the slice criterion is rarely conclusive, and the run as a whole is wrong (some criterion
    passes or fails) within what three uncorrected 95% criteria allow."""
    out = bench.slice_trials(name, target=bench.smallest_slice(name), gap=0.10, runs=runs,
                             rng=np.random.default_rng(runs))
    assert out["truth"]["slice_accuracy_gap"] == pytest.approx(0.10, abs=1e-12)
    assert out["coverage"].min() >= _coverage_floor(runs)
    assert out["wrong"]["slice_accuracy_gap"] <= _wrong_ceiling(0.05, runs)
    assert out["any_wrong"] <= _wrong_ceiling(1 - 0.95 ** 3, runs)
