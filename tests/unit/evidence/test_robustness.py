"""Robustness checks: the numbers on a model whose behaviour is known (1 iff x > 0.5), the criteria and their
messages, and a run on the demo that is locked, hashed, stored once per run, reproducible and refused to a viewer."""

from __future__ import annotations

import hashlib
import json
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from governance.access.identity import PermissionDeniedError
from governance.errors import InvalidInputError
from governance.evidence import robustness
from governance.evidence.robustness import (BAD_LEVELS, CRITERION_HAS_NO_LEVEL, CRITERION_NEEDS_LEVEL, Criterion,
                                            compute_results, feature_kinds, missing_value_results, parse_criteria,
                                            parse_levels, perturbation_results, swap_categories, weekly_accuracy,
                                            wilson_interval)
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, VIEWER

LEVELS = (0.01, 0.05, 0.1)
FEATURES = ["x", "z", "c"]


class AboveHalf:
    """A scikit-learn compatible classifier that predicts 1 exactly when x > 0.5 (NaN is not above 0.5)."""

    classes_ = np.array([0, 1])

    def fit(self, X, y):
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (pd.to_numeric(X["x"]).to_numpy(dtype=float) > 0.5).astype(int)


class AboveHalfRefusingMissing(AboveHalf):
    """The same rule, but like most scikit-learn estimators it refuses missing input."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if pd.to_numeric(X["x"]).isna().any():
            raise ValueError("Input X contains NaN. " + "This estimator does not accept missing values. " * 5)
        return super().predict(X)


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(7)
    n = 2_000
    frame = pd.DataFrame({"x": rng.uniform(size=n), "z": rng.uniform(size=n),
                          "c": rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])})
    y = (frame["x"] > 0.5).astype(int).to_numpy().copy()
    wrong = rng.random(n) < 0.1   # 10% label noise, so accuracy is not 1 and can move either way
    y[wrong] = 1 - y[wrong]
    return frame, y


def expected_noisy_x(frame: pd.DataFrame, *, level: float, seed: int = 0) -> np.ndarray:
    """The documented recipe, computed here independently: one stream per (seed, feature, level), standard normal
    draws scaled by level x the feature's sample standard deviation."""
    rng = np.random.default_rng([seed, zlib.crc32(b"x"), int(round(level * 1_000_000))])
    return frame["x"].to_numpy() + rng.normal(0.0, 1.0, len(frame)) * level * frame["x"].std(ddof=1)


# --- the numbers on a known model -----------------------------------------------------------------------------------
def test_noise_on_x_flips_exactly_the_predictions_that_cross_the_threshold(synthetic):
    frame, y = synthetic
    kinds = feature_kinds(frame, FEATURES)
    assert kinds == {"x": "numeric", "z": "numeric", "c": "categorical"}
    out = perturbation_results(AboveHalf().predict, frame, y, features=FEATURES, kinds=kinds, levels=LEVELS, seed=0)
    clean = frame["x"].to_numpy() > 0.5
    assert out["clean_accuracy"] == pytest.approx(np.mean(clean.astype(int) == y))
    by_feature = {f["feature"]: {e["level"]: e for e in f["levels"]} for f in out["features"]}
    for i, level in enumerate(LEVELS):
        noisy = expected_noisy_x(frame, level=level) > 0.5
        flipped = noisy != clean
        x = by_feature["x"][level]
        assert x["flips"] == int(flipped.sum()) > 0
        assert x["flip_rate"] == pytest.approx(flipped.mean())
        assert x["accuracy"] == pytest.approx(np.mean(noisy.astype(int) == y))
        assert x["accuracy_drop"] == pytest.approx(out["clean_accuracy"] - x["accuracy"])
        # only rows near the threshold flip: within a few noise sds of 0.5
        sd = level * frame["x"].std(ddof=1)
        assert np.abs(frame["x"].to_numpy()[flipped] - 0.5).max() < 5 * sd
        low, high = binomtest(x["flips"], len(frame)).proportion_ci(method="wilson")
        assert (x["flip_ci_low"], x["flip_ci_high"]) == pytest.approx((low, high))
        # z is not used and a category swap of c changes nothing: no flips
        assert by_feature["z"][level]["flips"] == 0 and by_feature["c"][level]["flips"] == 0
        assert by_feature["z"][level]["accuracy_drop"] == 0
        # all at once uses the same draws as one at a time, so it flips exactly the rows x flips
        assert out["all_features"][i]["flips"] == x["flips"]
        if i:
            assert x["flips"] >= by_feature["x"][LEVELS[i - 1]]["flips"]
    assert [w["feature"] for w in out["worst_features"]][0] == "x"
    assert out["worst_features"][0]["flip_rate"] == by_feature["x"][0.1]["flip_rate"]


def test_category_swaps_draw_other_observed_categories_at_the_given_rate():
    rng = np.random.default_rng(3)
    values = pd.Series(rng.choice(["a", "b", "c"], size=5_000, p=[0.6, 0.3, 0.1]))
    swapped = swap_categories(values, level=1.0, rng=np.random.default_rng(0))
    assert (swapped != values).all() and set(swapped) <= {"a", "b", "c"}
    # an "a" is replaced by b or c in proportion to their frequencies (0.3 : 0.1)
    from_a = swapped[values == "a"]
    assert from_a.eq("b").mean() == pytest.approx(0.75, abs=0.03)
    some = swap_categories(values, level=0.1, rng=np.random.default_rng(0))
    assert (some != values).mean() == pytest.approx(0.1, abs=0.015)
    one = pd.Series(["only"] * 50)
    assert swap_categories(one, level=1.0, rng=np.random.default_rng(0)).eq("only").all()


def test_missing_values_error_degrade_or_impute(synthetic):
    frame, y = synthetic
    kinds = feature_kinds(frame, FEATURES)
    found = {m["feature"]: m for m in missing_value_results(AboveHalf().predict, frame, y, features=FEATURES,
                                                            kinds=kinds)}
    clean_accuracy = np.mean((frame["x"] > 0.5).astype(int) == y)
    assert found["x"]["outcome"] == "degrades"          # every prediction becomes 0
    assert found["x"]["accuracy_drop"] == pytest.approx(clean_accuracy - np.mean(y == 0))
    assert found["z"]["outcome"] == "imputes" and found["z"]["accuracy_drop"] == 0
    assert found["c"]["outcome"] == "imputes"
    strict = {m["feature"]: m for m in missing_value_results(AboveHalfRefusingMissing().predict, frame, y,
                                                             features=FEATURES, kinds=kinds)}
    assert strict["x"]["outcome"] == "errors" and strict["x"]["error_class"] == "ValueError"
    assert strict["x"]["message"].startswith("Input X contains NaN.")
    assert len(strict["x"]["message"]) <= robustness.MESSAGE_CHARS and strict["x"]["accuracy"] is None
    assert strict["z"]["outcome"] == "imputes"


def test_a_whole_run_without_a_workspace_is_seeded_judged_and_says_what_is_too_small(synthetic):
    frame, y = synthetic
    sensitive = {"group": pd.Series(["big"] * (len(frame) - 10) + ["tiny"] * 10)}
    criteria = parse_criteria("flip_rate<=0.5@0.1,flip_rate<=0@0.1,accuracy_drop<=0.5@0.05,"
                              "slice_accuracy_gap<=0.5,week_accuracy_gap<=0.1", levels=LEVELS)
    with_age = frame.assign(age=np.linspace(18, 90, len(frame)))
    stored = AboveHalf().predict(frame)
    stored[:3] = 1 - stored[:3]        # the stored predictions disagree with the model on three rows

    def run(seed: int) -> dict:
        return compute_results(AboveHalf().predict, with_age, y, features=FEATURES + ["age"], levels=LEVELS,
                               criteria=criteria, seed=seed, sensitive=sensitive, stored_predictions=stored)
    first, again, other = run(0), run(0), run(1)
    assert robustness.canonical_json(first) == robustness.canonical_json(again)
    assert first["perturbation"]["all_features"] != other["perturbation"]["all_features"]
    verdicts = [c["verdict"] for c in first["criteria"]]
    assert verdicts == ["pass", "fail", "pass", "pass", "not computable"]
    assert first["verdict"] == "fail"
    tiny = next(s for s in first["shift"]["slices"] if s["group"] == "tiny")
    assert tiny["status"] == "too small" and tiny["accuracy"] is None and tiny["n"] == 10
    assert any("group = tiny (10)" in note for note in first["notes"])
    bands = {s["group"] for s in first["shift"]["slices"] if s["dimension"] == "age (feature band)"}
    assert bands == {"<25", "25-44", "45-64", "65+"}
    assert "no labelled telemetry" in " ".join(first["notes"])
    assert "differ from the stored predictions on 3 rows" in " ".join(first["notes"])


def test_weeks_carry_a_wilson_interval_and_the_drift_marks():
    weeks = pd.DataFrame({"week": pd.to_datetime(["2026-09-07", "2026-09-14"]), "n": [400, 12], "correct": [300, 9]})
    out = weekly_accuracy(weeks, overall=0.8, min_size=30, act={"2026-09-07": ["hours_per_week"]})
    assert out[0]["accuracy"] == 0.75 and out[0]["drift_act"] and out[0]["drift_features"] == ["hours_per_week"]
    low, high = binomtest(300, 400).proportion_ci(method="wilson")
    assert (out[0]["ci_low"], out[0]["ci_high"]) == pytest.approx((low, high))
    assert out[0]["gap"] == pytest.approx(0.05)
    assert out[1]["status"] == "too small" and out[1]["accuracy"] is None and not out[1]["drift_act"]
    assert wilson_interval(0, 0) == (None, None)


# --- criteria and levels --------------------------------------------------------------------------------------------
def test_criteria_and_levels_are_read_and_bad_ones_explained():
    assert parse_levels("0.1, 0.01,0.05,0.1") == (0.01, 0.05, 0.1)
    assert parse_criteria(robustness.DEFAULT_CRITERIA, levels=LEVELS) == (
        Criterion("flip_rate", "<=", 0.05, 0.05), Criterion("accuracy_drop", "<=", 0.02, 0.05),
        Criterion("slice_accuracy_gap", "<=", 0.1, None))
    for bad in ("0", "1.5", "abc", "", [True], [float("nan")], ["0.1"] * 0):
        with pytest.raises(InvalidInputError, match="noise levels must be numbers"):
            parse_levels(bad)
    assert BAD_LEVELS.startswith("noise levels")
    with pytest.raises(InvalidInputError) as needs:
        parse_criteria("flip_rate<=0.05", levels=LEVELS)
    assert str(needs.value) == CRITERION_NEEDS_LEVEL.format(name="flip_rate", levels="0.01,0.05,0.1", example="0.1")
    with pytest.raises(InvalidInputError) as has:
        parse_criteria("slice_accuracy_gap<=0.1@0.05", levels=LEVELS)
    assert str(has.value) == CRITERION_HAS_NO_LEVEL.format(name="slice_accuracy_gap", level="0.05")
    for bad, words in (("flip_rate<=0.05@0.2", "does not compute"), ("flip_rate>=0.05@0.05", "cannot read"),
                       ("bogus<=0.1", "cannot read"), ("flip_rate<=2@0.05", "between 0 and 1"),
                       ("", "at least one criterion")):
        with pytest.raises(InvalidInputError, match=words):
            parse_criteria(bad, levels=LEVELS)


# --- a run on the demo ----------------------------------------------------------------------------------------------
def test_a_demo_run_is_locked_before_results_stored_with_its_evidence_and_reproducible(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        for table in ("robustness_result", "robustness_run"):   # the demo's own run (its validation history) set
            with store.write() as tx:                          # aside; one table a write (DuckDB's foreign keys)
                tx.execute(f"DELETE FROM {table}")
        version_before = store.data_version()
        with pytest.raises(PermissionDeniedError):
            robustness.run_robustness(store, model="german-credit", version="v1", actor=VIEWER)
        for bad, words in (({"version": "v9"}, "has no version 'v9'"), ({"levels": "0,0.1"}, "noise levels"),
                           ({"criteria": "flip_rate<=0.05@0.5"}, "does not compute")):
            with pytest.raises(InvalidInputError, match=words):
                robustness.run_robustness(store, **{"model": "german-credit", "version": "v1", "actor": LEADER, **bad})
        assert store.query_value("SELECT count(*) FROM robustness_run") == 0
        assert store.data_version() == version_before      # refused: nothing written at all
        assert robustness.latest_verdict(store, model="german-credit", version="v1") is None

        seen = []
        run = robustness.run_robustness(store, model="german-credit", version="v1", actor=LEADER,
                                        progress=seen.append)
        assert run["run_id"] == "RB-0001" and run["status"] == "completed" and run["n"] == 300
        assert seen and seen[-1] == 1.0 and seen == sorted(seen)
        definition_text, definition_hash, defined_at = store.query_rows(
            "SELECT definition, definition_hash, defined_at FROM robustness_run WHERE run_id = 'RB-0001'")[0]
        ran_at, data_sha256, results_text, verdict, evidence_hash = store.query_rows(
            "SELECT ran_at, data_sha256, results, verdict, evidence_hash FROM robustness_result "
            "WHERE run_id = 'RB-0001'")[0]
        # the definition: canonical JSON, hashed, naming the model file and the data, and holding no result
        definition = json.loads(definition_text)
        assert hashlib.sha256(definition_text.encode("utf-8")).hexdigest() == definition_hash
        assert json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == definition_text
        assert defined_at <= ran_at
        assert definition["model_sha256"] == store.query_value(
            "SELECT sha256 FROM model_artifact WHERE model = 'german-credit' AND version = 'v1'")
        assert definition["source"]["data_sha256"] == data_sha256 == store.query_value(
            "SELECT content_sha256 FROM evaluation_set WHERE model = 'german-credit' AND version = 'v1'")
        assert definition["levels"] == [0.01, 0.05, 0.1] and definition["seed"] == 0
        assert not {"perturbation", "shift", "missing_values", "verdict"} & set(definition)
        # the evidence hash, recomputed here from what is stored
        recomputed = hashlib.sha256(json.dumps(
            {"definition": definition, "data_sha256": data_sha256, "results": json.loads(results_text)},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).hexdigest()
        assert recomputed == evidence_hash == run["evidence_hash"]
        results = json.loads(results_text)
        verdicts = [c["verdict"] for c in results["criteria"]]
        assert verdict == run["verdict"] == results["verdict"] == (
            "fail" if "fail" in verdicts else "pass" if set(verdicts) == {"pass"} else "inconclusive")
        assert len(results["perturbation"]["features"]) == len(definition["features"]) == 18
        assert {m["outcome"] for m in results["missing_values"]} <= {"errors", "imputes", "degrades"}
        small = [s for s in results["shift"]["slices"] if s["status"] == "too small"]
        assert [(s["dimension"], s["group"], s["accuracy"]) for s in small] == [("foreign_worker", "no", None)]
        assert results["shift"]["weeks"] and all(w["accuracy"] is not None for w in results["shift"]["weeks"])

        # a rerun is a new run with the same numbers (seeded), so the same evidence hash
        again = robustness.run_robustness(store, model="german-credit", version="v1", actor=LEADER)
        assert again["run_id"] == "RB-0002" and again["evidence_hash"] == evidence_hash
        assert [r["run_id"] for r in robustness.list_runs(store, model="german-credit")] == ["RB-0002", "RB-0001"]
        assert robustness.list_runs(store, model="adult-income") == []
        assert robustness.latest_verdict(store, model="german-credit", version="v1") == verdict

        # the definition is stored before anything is computed: a run that fails leaves it, with no result
        def broken(*args, **kwargs):
            raise RuntimeError("interrupted")
        monkeypatch.setattr(robustness, "compute_results", broken)
        with pytest.raises(RuntimeError):
            robustness.run_robustness(store, model="german-credit", version="v1", actor=LEADER)
        defined_only = robustness.get_run(store, run_id="RB-0003")
        assert defined_only["status"] == "defined" and defined_only["verdict"] is None
        assert defined_only["definition_hash"] == definition_hash    # same choices, same locked definition
        assert robustness.latest_verdict(store, model="german-credit", version="v1") == verdict
        with pytest.raises(InvalidInputError, match="no robustness run 'RB-0009'"):
            robustness.get_run(store, run_id="RB-0009")
