"""Fairness metrics, intervals and verdicts: hand counts on tiny tables, the bootstrap against resampling rows,
interval coverage by simulation, Holm's procedure worked by hand, and verdicts on data built to pass or fail."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from governance.evidence import fairness, fairness_metrics as fm
from governance.evidence.fairness import compute_results, finest_cells, make_definition
from governance.evidence.fairness_inputs import frame_data
from governance.record.store import GovernanceStore
from tests.conftest import AUDITOR

# group, y_true, y_pred, score. Scores sit mid-bin (10 equal-width bins), two pairs share a bin.
HAND = [
    ("A", 1, 1, 0.95),   # TP, bin 9
    ("A", 1, 1, 0.75),   # TP, bin 7
    ("A", 1, 0, 0.45),   # FN, bin 4
    ("A", 0, 1, 0.65),   # FP, bin 6
    ("A", 0, 0, 0.45),   # TN, bin 4
    ("A", 0, 0, 0.15),   # TN, bin 1
    ("B", 1, 1, 0.85),   # TP, bin 8
    ("B", 0, 1, 0.85),   # FP, bin 8
    ("B", 0, 0, 0.32),   # TN, bin 3
    ("B", 0, 0, 0.38),   # TN, bin 3
    ("B", 0, 0, 0.05),   # TN, bin 0
    ("B", 0, 0, 0.15),   # TN, bin 1
]
# A: TP 2, FN 1, FP 1, TN 2.  B: TP 1, FN 0, FP 1, TN 4.
# calibration gap = mean score - positive rate: A (3.4 - 3) / 6, B (2.6 - 1) / 6.
# ECE = sum over bins of |sum of scores - positives| / n:
#   A: bin 9 |.95-1| + bin 7 |.75-1| + bin 4 |.90-1| + bin 6 .65 + bin 1 .15 = 1.2, / 6
#   B: bin 8 |1.70-1| + bin 3 .70 + bin 0 .05 + bin 1 .15 = 1.6, / 6
EXPECTED = {
    "A": {"selection_rate": 3 / 6, "accuracy": 4 / 6, "precision": 2 / 3, "true_positive_rate": 2 / 3,
          "false_positive_rate": 1 / 3, "false_negative_rate": 1 / 3, "calibration_gap": 1 / 15,
          "expected_calibration_error": 1 / 5},
    "B": {"selection_rate": 2 / 6, "accuracy": 5 / 6, "precision": 1 / 2, "true_positive_rate": 1 / 1,
          "false_positive_rate": 1 / 5, "false_negative_rate": 0 / 1, "calibration_gap": 4 / 15,
          "expected_calibration_error": 4 / 15},
}


def table_data(rows, **keywords):
    group, y_true, y_pred, score = zip(*rows)
    return frame_data(y_true=y_true, y_pred=y_pred, score=score, sensitive={"g": group}, **keywords)


def results_of(data, **choices):
    definition = make_definition(data=data, sensitive=["g"], **{"min_group_size": 1, "bootstrap": 200, **choices})
    return compute_results(definition=definition, cells=finest_cells(None, data=data, definition=definition))


def by_group(results) -> dict:
    return {g["group"]["g"]: g for g in results["groups"]}


def criterion(results, name) -> dict:
    return next(c for c in results["criteria"] if c["name"] == name)


def test_every_metric_matches_a_hand_count(tmp_path):
    with GovernanceStore(tmp_path / "hand.duckdb") as store:
        audit = fairness.run_new_audit(store, data=table_data(HAND), actor=AUDITOR, sensitive=["g"], min_group_size=1,
                                       bootstrap=200)
    assert audit["status"] == "completed" and audit["n"] == 12
    groups = by_group(audit)
    assert {k: g["n"] for k, g in groups.items()} == {"A": 6, "B": 6}
    for name, metrics in EXPECTED.items():
        assert set(groups[name]["metrics"]) == set(fm.ALL_METRICS)
        for metric, value in metrics.items():
            got = groups[name]["metrics"][metric]
            assert got["value"] == pytest.approx(value, abs=1e-12), (name, metric)
            assert got["ci_low"] <= got["ci_high"]
    # Criteria from the same counts: selection 1/3 vs 1/2; TPR 1 vs 2/3; FPR 1/5 vs 1/3.
    dp = criterion(audit, "demographic_parity_ratio")
    assert dp["value"] == pytest.approx(2 / 3, abs=1e-12) and dp["difference"] == pytest.approx(1 / 6, abs=1e-12)
    assert (dp["lowest_group"], dp["highest_group"]) == ({"g": "B"}, {"g": "A"})
    eo = criterion(audit, "equalized_odds_difference")
    assert eo["value"] == pytest.approx(1 / 3, abs=1e-12) and eo["metric"] == "true_positive_rate"
    assert criterion(audit, "equal_opportunity_difference")["value"] == pytest.approx(1 / 3, abs=1e-12)


def test_an_undefined_rate_is_none_with_a_reason_and_the_group_is_left_out_of_the_criterion():
    # Group C has no positive outcome (so no TPR or FNR) and group D no positive prediction (so no precision).
    extra = [("C", 0, 1, .6), ("C", 0, 0, .2), ("C", 0, 0, .3), ("D", 1, 0, .4), ("D", 0, 0, .1)]
    results = results_of(table_data(HAND + extra))
    groups = by_group(results)
    for metric in ("true_positive_rate", "false_negative_rate"):
        assert groups["C"]["metrics"][metric] == {"value": None, "ci_low": None, "ci_high": None,
                                                  "reason": "no one in this group has a positive outcome"}
    assert groups["D"]["metrics"]["precision"]["value"] is None
    assert groups["D"]["metrics"]["precision"]["reason"] == "no one in this group was predicted positive"
    assert groups["C"]["metrics"]["precision"]["value"] == 0.0           # defined: 0 of 1 predicted positive
    assert groups["C"]["metrics"]["false_positive_rate"]["value"] == pytest.approx(1 / 3)
    opportunity = criterion(results, "equal_opportunity_difference")
    assert opportunity["left_out"] == [{"group": {"g": "C"}, "reason": "true-positive rate not computable: no one "
                                                                      "in this group has a positive outcome"}]
    assert opportunity["value"] == pytest.approx(1 - 0, abs=1e-12)       # B (TPR 1) against D (TPR 0)
    assert {"group": {"g": "C"}, "reason": "true-positive rate not computable: no one in this group has a positive "
                                           "outcome"} in criterion(results, "equalized_odds_difference")["left_out"]


def test_a_group_below_the_minimum_size_is_listed_but_left_out_of_disparities():
    def block(name, n, selected):
        return [(name, i % 2, int(i < selected), 0.5) for i in range(n)]
    small = block("C", 10, 10)                             # selection rate 1.0, would dominate the disparity
    big = block("A", 40, 10) + block("B", 40, 20)          # 0.25 and 0.5
    results = results_of(table_data(big + small), min_group_size=30, criteria="demographic_parity_difference<=0.1")
    without = results_of(table_data(big), min_group_size=30, criteria="demographic_parity_difference<=0.1")
    groups = by_group(results)
    assert groups["C"]["status"] == "too_small" and groups["C"]["n"] == 10
    assert groups["C"]["metrics"]["selection_rate"]["value"] == 1.0      # figures are still listed
    assert groups["A"]["status"] == groups["B"]["status"] == "ok"
    got = criterion(results, "demographic_parity_difference")
    assert got["value"] == criterion(without, "demographic_parity_difference")["value"] == 0.25
    assert (got["lowest_group"], got["highest_group"]) == ({"g": "A"}, {"g": "B"})
    assert any(note.startswith("g = C: fewer than 30 people") for note in results["notes"])
    assert not without["notes"]


def test_the_multinomial_bootstrap_matches_resampling_rows():
    """Group A 20 rows with 8 selected, group B 30 rows with 18 selected; 2,000 draws each way.

    Each side's mean has Monte Carlo standard error sd / sqrt(2000), so the two means differ by about
    sd * sqrt(2 / 2000) = 0.032 sd; we allow 0.15 sd (4.7 standard errors). A standard deviation estimated from
    2,000 draws has relative error about 1 / sqrt(2 * 2000) = 1.6%, so two differ by about 2.2%; we allow 10%.
    Group sizes must vary as they do under row resampling (binomial, sd sqrt(50 * 0.4 * 0.6) = 3.46), which a
    stratified bootstrap would not do.
    """
    rows = [("A", i % 2, int(i < 8), 0.5) for i in range(20)] + [("B", i % 2, int(i < 18), 0.5) for i in range(30)]
    data = table_data(rows)
    definition = make_definition(data=data, sensitive=["g"], min_group_size=1, metrics=["selection_rate"])
    cells = finest_cells(None, data=data, definition=definition)
    drawn, _ = fm.bootstrap_counts(cells, draws=2_000, rng=np.random.default_rng(1))
    size = drawn.sum(axis=(2, 3, 4))                                     # (draws, groups)
    rate = drawn[:, :, :, 1, :].sum(axis=(2, 3)) / size
    multinomial = {"size A": size[:, 0], "rate A": rate[:, 0], "rate B": rate[:, 1],
                   "difference": np.abs(rate[:, 1] - rate[:, 0])}

    group = np.array([r[0] for r in rows])
    selected = np.array([r[2] for r in rows])
    rng = np.random.default_rng(2)
    loop = {k: [] for k in multinomial}
    for _ in range(2_000):
        pick = rng.integers(0, len(rows), len(rows))
        g, s = group[pick], selected[pick]
        a, b = s[g == "A"].mean(), s[g == "B"].mean()
        loop["size A"].append((g == "A").sum())
        loop["rate A"].append(a)
        loop["rate B"].append(b)
        loop["difference"].append(abs(b - a))
    for key, draws in multinomial.items():
        resampled = np.asarray(loop[key], dtype=float)
        sd = resampled.std()
        assert abs(draws.mean() - resampled.mean()) < 0.15 * sd, key
        assert draws.std() == pytest.approx(sd, rel=0.10), key
    assert size[:, 0].std() == pytest.approx(np.sqrt(50 * 0.4 * 0.6), rel=0.10)


def test_95_percent_intervals_cover_the_true_value_at_about_the_nominal_rate():
    """500 data sets of 2 x 200 people with selection rates 0.30 and 0.45 (true difference 0.15); 400 resamples each."""
    true_rate = {"a": 0.30, "b": 0.45}
    n = 200
    template = frame_data(y_true=[0, 1, 0, 1], y_pred=[0, 1, 1, 0], sensitive={"g": ["a", "a", "b", "b"]})
    definition = make_definition(data=template, sensitive=["g"], metrics=["selection_rate"],
                                 criteria="demographic_parity_difference<=0.1", bootstrap=400)
    rng = np.random.default_rng(2024)
    covered_rate = covered_difference = 0
    trials = 500
    for trial in range(trials):
        counts = np.zeros((2, 2, 2, 1), dtype=np.int64)
        for i, g in enumerate(("a", "b")):
            y_pred = rng.random(n) < true_rate[g]
            y_true = rng.random(n) < 0.5
            np.add.at(counts, (i, y_true.astype(int), y_pred.astype(int), 0), 1)
        cells = fm.Cells((("a",), ("b",)), counts, None)
        results = compute_results(definition=replace(definition, seed=trial), cells=cells)
        rate_a = next(g for g in results["groups"] if g["group"] == {"g": "a"})["metrics"]["selection_rate"]
        covered_rate += rate_a["ci_low"] <= true_rate["a"] <= rate_a["ci_high"]
        dp = results["criteria"][0]
        assert dp["name"] == "demographic_parity_difference"
        covered_difference += dp["ci_low"] <= true_rate["b"] - true_rate["a"] <= dp["ci_high"]
    # Over 1,000 data sets the coverage is 0.94 for both (percentile intervals run slightly short at n = 200);
    # with 500 the standard error is 0.011, so 0.90 is over 3.5 standard errors away.
    coverage = (covered_rate / trials, covered_difference / trials)
    assert all(0.90 <= c <= 0.99 for c in coverage), coverage


def test_holm_step_down_worked_by_hand():
    # m = 4, alpha = .05. Sorted: .005 <= .05/4 = .0125 rejected; .01 <= .05/3 = .0167 rejected;
    # .03 > .05/2 = .025 not rejected, and the procedure stops there: .04 is not rejected either
    # (although .04 <= .05/1), and is judged at the level where the procedure stopped, .025.
    assert fm.holm_verdicts([0.01, 0.04, 0.03, 0.005]) == [(True, 0.05 / 3), (False, 0.025), (False, 0.025),
                                                           (True, 0.0125)]
    assert fm.holm_verdicts([0.001, 0.02, 0.04]) == [(True, 0.05 / 3), (True, 0.025), (True, 0.05)]
    assert fm.holm_verdicts([0.3]) == [(False, 0.05)]
    assert fm.holm_verdicts([]) == []


def test_percentile_interval_of_a_group_metric():
    draws = np.arange(1, 101) / 100
    assert fm.percentile_interval(np.append(draws, np.nan)) == tuple(np.quantile(draws, [0.025, 0.975]))
    assert fm.percentile_interval(np.array([np.nan, np.nan])) == (None, None)


def test_pair_standard_errors_are_agresti_and_caffos_and_log_rates_add_a_half():
    """Hand formulas: Agresti & Caffo (2000) p~ = (x + 1) / (n + 2), var p~ (1 - p~) / (n + 2); on the log scale
    p~ = (x + 1/2) / (n + 1), var (1 - p~) / (p~ (n + 1)) (the delta method). Never 0, even at 0 or n positives."""
    x, n = np.array([0, 30, 40]), np.array([40, 100, 40])
    rate, se = fm.difference_scale(x, n)
    np.testing.assert_allclose(rate, [0, 0.3, 1.0], rtol=1e-15)
    np.testing.assert_allclose(se, [np.sqrt(1 / 42 * 41 / 42 / 42), np.sqrt(31 / 102 * 71 / 102 / 102),
                                    np.sqrt(41 / 42 * 1 / 42 / 42)], rtol=1e-12)
    log_rate, log_se = fm.log_ratio_scale(x, n)
    adjusted = np.array([0.5 / 41, 30.5 / 101, 40.5 / 41])
    np.testing.assert_allclose(log_rate, np.log(adjusted), rtol=1e-12)
    np.testing.assert_allclose(log_se, np.sqrt((1 - adjusted) / (adjusted * np.array([41, 101, 41]))), rtol=1e-12)
    assert np.all(se > 0) and np.all(log_se > 0)


def _spread_from_resamples(x, n, *, kind, resamples, seed):
    """Independent groups, each redrawn binomially: the simplest bootstrap of rates, built here, not by the audit."""
    rng = np.random.default_rng(seed)
    draw_x = rng.binomial(n, x / n, size=(resamples, len(n)))
    return fm.rate_spread(np.asarray(x), np.asarray(n), draw_x, np.broadcast_to(n, draw_x.shape), kind=kind)


def test_the_simultaneous_critical_value_is_tukeys_for_equal_groups():
    """Four equal groups of 5,000 at rate 0.5: every pair has the same standard error, so the max over pairs of
    |Z_i - Z_j| / sqrt(2) follows the studentized range of 4 normals over sqrt(2) (Tukey's HSD; Hothorn, Bretz &
    Westfall 2008), 2.569 at 95% (scipy.stats.studentized_range). 4,000 resamples put the bootstrap quantile within
    about 0.03 of it; we allow 0.1. One pair alone gives 1.96."""
    from scipy.stats import studentized_range
    n = np.full(4, 5_000)
    spread = _spread_from_resamples(np.full(4, 2_500), n, kind="difference", resamples=4_000, seed=3)
    tukey = studentized_range.ppf(0.95, 4, 1e6) / np.sqrt(2)
    assert fm.simultaneous_range([spread]).critical == pytest.approx(tukey, abs=0.1)
    two = _spread_from_resamples(np.full(2, 2_500), n[:2], kind="difference", resamples=4_000, seed=4)
    assert fm.simultaneous_range([two]).critical == pytest.approx(1.96, abs=0.1)


def test_the_range_interval_is_the_widest_pair_and_holds_zero_when_every_pair_does():
    x, n = np.array([60, 75, 90]), np.array([300, 300, 300])        # rates 0.20, 0.25, 0.30
    spread = _spread_from_resamples(x, n, kind="difference", resamples=2_000, seed=5)
    got = fm.simultaneous_range([spread])
    rate, se = x / n, fm.difference_scale(x, n)[1]
    pairs = [(rate[i] - rate[j], np.hypot(se[i], se[j])) for i in range(3) for j in range(3) if i != j]
    c = got.critical
    assert got.low == pytest.approx(max(0, max(d - c * s for d, s in pairs)), abs=1e-15)
    assert got.high == pytest.approx(max(d + c * s for d, s in pairs), abs=1e-15)
    equal = _spread_from_resamples(np.array([75, 75, 75]), n, kind="difference", resamples=2_000, seed=6)
    assert fm.simultaneous_range([equal]).low == 0.0


def test_the_p_value_is_below_alpha_exactly_when_the_interval_excludes_the_threshold():
    """The verdict and the interval cannot disagree: at every level and threshold, p <= level <=> the
    (1 - level) interval excludes the threshold (the critical value is the matching order statistic)."""
    x, n = np.array([40, 66, 90, 30]), np.array([200, 300, 350, 80])
    for kind in ("difference", "ratio"):
        spread = _spread_from_resamples(x, n, kind=kind, resamples=1_000, seed=8)
        estimate = fm.disparity(x / n)
        point = estimate.ratio if kind == "ratio" else estimate.difference
        for level in (0.01, 0.05, 0.2):
            for threshold in np.linspace(0.02, 0.98, 49):
                low, high, _ = fm.disparity_interval([spread], kind=kind, point=point, threshold=threshold,
                                                     confidence=1 - level)
                _, _, p_value = fm.disparity_interval([spread], kind=kind, point=point, threshold=threshold)
                assert (p_value <= level) == (threshold < low or threshold > high), (kind, level, threshold)


def test_a_group_with_no_positives_gets_an_honest_interval():
    """0 of 40 selected against 20 of 40: the ratio is 0 and its interval reaches 0; the difference 0.5 has an
    interval around it. Two groups with no one selected: difference 0 with an interval above 0, not [0, 0]."""
    rows = [("A", i % 2, 0, 0.5) for i in range(40)] + [("B", i % 2, int(i < 20), 0.5) for i in range(40)]
    results = results_of(table_data(rows), criteria="demographic_parity_ratio>=0.8,demographic_parity_difference<=0.1",
                         min_group_size=30, bootstrap=1_000)
    ratio, difference = (criterion(results, n) for n in ("demographic_parity_ratio", "demographic_parity_difference"))
    assert ratio["value"] == 0.0 and ratio["ci_low"] == 0.0 and 0 < ratio["ci_high"] < 0.8
    assert ratio["verdict"] == difference["verdict"] == "fail"
    assert difference["ci_low"] < 0.5 < difference["ci_high"] <= 1.0
    # A file where no one is selected is refused (constant predictions), so the cells are built directly: in a
    # feature set other groups can be selected while these two are not.
    template = frame_data(y_true=[0, 1, 0, 1], y_pred=[0, 1, 1, 0], sensitive={"g": ["A", "A", "B", "B"]})
    definition = make_definition(data=template, sensitive=["g"], metrics=["selection_rate"], min_group_size=30,
                                 criteria="demographic_parity_difference<=0.1", bootstrap=1_000)
    counts = np.zeros((2, 2, 2, 1), dtype=np.int64)
    counts[:, :, 0, 0] = 20                                              # 20 positives, 20 negatives, none selected
    nobody = compute_results(definition=definition, cells=fm.Cells((("A",), ("B",)), counts, None))["criteria"][0]
    assert nobody["value"] == 0.0 and nobody["ci_low"] == 0.0
    # every resample is the same, so the critical value is its floor, the normal quantile of one pair
    assert nobody["ci_high"] == pytest.approx(norm.ppf(0.975) * np.sqrt(2 * (1 / 42) * (41 / 42) / 42), rel=1e-12)


def test_equalized_odds_is_bounded_jointly_over_both_rates():
    """The interval for max(TPR range, FPR range) takes every pair of both rates at once: it holds both ranges'
    own simultaneous intervals' upper ends, and its critical value is at least each one's."""
    rng = np.random.default_rng(11)
    rows = []
    for g, (tpr, fpr) in {"A": (0.70, 0.20), "B": (0.60, 0.25), "C": (0.75, 0.15)}.items():
        y = rng.random(400) < 0.4
        rows += [(g, int(t), int(rng.random() < (tpr if t else fpr)), 0.5) for t in y]
    results = results_of(table_data(rows), criteria="equalized_odds_difference<=0.1,equal_opportunity_difference<=0.1,"
                                                    "false_positive_rate_difference<=0.1", min_group_size=30,
                         bootstrap=1_000)
    odds, tpr, fpr = (criterion(results, n) for n in ("equalized_odds_difference", "equal_opportunity_difference",
                                                       "false_positive_rate_difference"))
    assert odds["value"] == max(tpr["value"], fpr["value"])
    assert odds["ci_high"] >= max(tpr["ci_high"], fpr["ci_high"]) - 1e-12
    assert odds["ci_low"] >= max(tpr["ci_low"], fpr["ci_low"]) - 0.02


def test_a_groups_rate_has_wilsons_interval_which_is_not_zero_width_at_zero():
    """scipy's Wilson interval (binomtest(...).proportion_ci(method="wilson")) for every group and rate metric of the
    hand table, and for a group where no one is selected (the percentile bootstrap gave [0, 0] there)."""
    from scipy.stats import binomtest
    groups = by_group(results_of(table_data(HAND)))
    a = {"selection_rate": (3, 6), "accuracy": (4, 6), "precision": (2, 3), "true_positive_rate": (2, 3),
         "false_positive_rate": (1, 3), "false_negative_rate": (1, 3)}
    for metric, (x, n) in a.items():
        expected = binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
        got = groups["A"]["metrics"][metric]
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((expected.low, expected.high), abs=1e-12), metric
    rows = HAND + [("C", i % 2, 0, 0.3) for i in range(40)]
    nobody = by_group(results_of(table_data(rows)))["C"]["metrics"]["selection_rate"]
    expected = binomtest(0, 40).proportion_ci(confidence_level=0.95, method="wilson")
    assert nobody["value"] == 0.0 and nobody["ci_low"] == 0.0
    assert nobody["ci_high"] == pytest.approx(expected.high, abs=1e-12) and nobody["ci_high"] > 0.05


def _two_groups(n: int, selected_a: int, selected_b: int):
    rows = [("A", i % 2, int(i < selected_a), 0.5) for i in range(n)]
    rows += [("B", i % 2, int(i < selected_b), 0.5) for i in range(n)]
    return table_data(rows)


@pytest.mark.parametrize("n, selected_a, selected_b, verdict", [
    (2_000, 1_000, 960, "pass"),       # ratio 0.96, interval well above 0.8
    (1_000, 500, 200, "fail"),         # ratio 0.40, interval well below 0.8
    (100, 50, 40, "inconclusive"),     # ratio 0.80 itself: the interval straddles the threshold
])
def test_verdicts_on_data_built_to_pass_fail_or_be_unclear(n, selected_a, selected_b, verdict):
    results = results_of(_two_groups(n, selected_a, selected_b), criteria="demographic_parity_ratio>=0.8",
                         bootstrap=1_000, min_group_size=30)
    c = criterion(results, "demographic_parity_ratio")
    assert c["value"] == pytest.approx(selected_b / selected_a, abs=1e-12)
    assert c["verdict"] == verdict and results["verdict"] == verdict
    crosses = c["ci_low"] <= 0.8 <= c["ci_high"]
    assert crosses == (verdict == "inconclusive")
    if verdict == "inconclusive":
        assert c["reason"] == "the interval includes the threshold, so the data cannot tell pass from fail"
        assert "inconclusive on the four-fifths rule" in c["explanation"]
    else:
        assert c["p_value"] <= c["judged_at"] == 0.05 and c["reason"] is None
        assert {"pass": "passes", "fail": "fails"}[verdict] + " the four-fifths rule" in c["explanation"]
