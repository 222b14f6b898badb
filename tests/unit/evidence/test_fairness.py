"""Fairness audits end to end: agreement with fairlearn on the real Adult evaluation set, the locked definition and
the evidence hash, verification against tampering, the plain-language verdict and the mitigation preview."""

from __future__ import annotations

import json
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (MetricFrame, count, demographic_parity_ratio, equal_opportunity_difference,
                               equalized_odds_difference, false_negative_rate,
                               false_positive_rate, false_positive_rate_difference, selection_rate,
                               true_positive_rate, true_positive_rate_difference)
from sklearn.metrics import accuracy_score, precision_score

from governance.evidence import fairness
from governance.evidence.fairness import (ALREADY_RAN, COULD_NOT_RUN, FILE_CHANGED, NEEDS_FILE, RUN_BROKE,
                                          compute_results, evidence_hash_of, finest_cells, make_definition)
from governance.evidence.fairness_inputs import AuditError, frame_data
from governance.evidence.fairness_mitigation import NO_MITIGATION_CONSTRAINT, mitigation_preview
from governance.record.store import GovernanceStore
from tests.conftest import AUDITOR

RATES = {"selection_rate": selection_rate, "accuracy": accuracy_score,
         "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
         "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate,
         "false_negative_rate": false_negative_rate}
FEATURE_SETS = (["sex"], ["race"], ["sex", "race"])


@pytest.fixture(scope="module")
def adult(demo_workspace):
    """The demo's audit FA-0001 (adult-income v1, sex and race, intersectional) and the rows it read."""
    with GovernanceStore(demo_workspace) as store:
        return fairness.get_audit(store, audit_id="FA-0001"), fairness.audit_rows(store, audit_id="FA-0001")


def _groups(audit: dict, sensitive: list[str]) -> dict[tuple, dict]:
    return {tuple(g["group"][s] for s in sensitive): g for g in audit["groups"] if g["sensitive"] == sensitive}


def _criterion(audit: dict, sensitive: list[str], name: str) -> dict:
    return next(c for c in audit["criteria"] if c["sensitive"] == sensitive and c["name"] == name)


@pytest.mark.parametrize("sensitive", FEATURE_SETS, ids=" x ".join)
def test_group_metrics_agree_with_fairlearn_metricframe_on_adult(adult, sensitive):
    audit, rows = adult
    frame = MetricFrame(metrics={**RATES, "n": count}, y_true=rows["y_true"], y_pred=rows["y_pred"],
                        sensitive_features=rows[sensitive])
    expected = frame.by_group
    groups = _groups(audit, sensitive)
    assert len(rows) == audit["n"] == 15_060
    assert sorted(groups) == sorted(k if isinstance(k, tuple) else (k,) for k in expected.index)
    for key, group in groups.items():
        row = expected.loc[key if len(key) > 1 else key[0]]
        assert group["n"] == row["n"] and group["status"] == "ok"
        for metric in RATES:
            assert abs(group["metrics"][metric]["value"] - row[metric]) <= 1e-12, (key, metric)
            assert group["metrics"][metric]["ci_low"] <= group["metrics"][metric]["value"] \
                <= group["metrics"][metric]["ci_high"]


@pytest.mark.parametrize("sensitive", FEATURE_SETS, ids=" x ".join)
def test_calibration_metrics_agree_with_a_direct_computation_on_adult(adult, sensitive):
    audit, rows = adult
    bins = np.minimum(np.floor(rows["score"] * 10), 9)
    for key, group in _groups(audit, sensitive).items():
        mine = rows[(rows[sensitive] == list(key)).all(axis=1)]
        gap = mine["score"].mean() - mine["y_true"].mean()
        per_bin = mine.groupby(bins[mine.index]).agg(n=("score", "size"), score=("score", "mean"),
                                                     positive=("y_true", "mean"))
        ece = (per_bin["n"] * (per_bin["score"] - per_bin["positive"]).abs()).sum() / len(mine)
        # Sums of thousands of scores, added in another order by DuckDB than by pandas: 1e-10, not 1e-12.
        assert group["metrics"]["calibration_gap"]["value"] == pytest.approx(gap, abs=1e-10)
        assert group["metrics"]["expected_calibration_error"]["value"] == pytest.approx(ece, abs=1e-10)


@pytest.mark.parametrize("sensitive", FEATURE_SETS, ids=" x ".join)
def test_criteria_agree_with_fairlearn_on_the_eligible_groups(adult, sensitive):
    """fairlearn's own disparity functions on the rows of the groups the audit judges: every Adult group has at
    least 30 people; a rate whose denominator (positives for the true-positive rate, negatives for the
    false-positive rate) is under 30 is left out of that rate's comparison, and the audit must say so."""
    audit, rows = adult
    assert all(g["n"] >= 30 and g["status"] == "ok" for g in _groups(audit, sensitive).values())
    key = rows[sensitive].astype(str).agg(", ".join, axis=1)
    positives = rows.groupby(key)["y_true"].sum()
    negatives = rows.groupby(key)["y_true"].size() - positives
    enough_positives = set(positives.index[positives >= 30])
    enough_negatives = set(negatives.index[negatives >= 30])

    def among(keep: set) -> tuple:
        chosen = key.isin(keep)
        return rows["y_true"][chosen], rows["y_pred"][chosen], rows[sensitive][chosen]

    def left_out(c: dict) -> set:
        return {", ".join(x["group"][s] for s in sensitive) for x in c["left_out"]}

    dp = _criterion(audit, sensitive, "demographic_parity_ratio")
    t, p, s = among(set(key))
    assert dp["left_out"] == []
    assert abs(dp["value"] - demographic_parity_ratio(t, p, sensitive_features=s)) <= 1e-12

    opportunity = _criterion(audit, sensitive, "equal_opportunity_difference")
    assert left_out(opportunity) == set(key) - enough_positives
    t, p, s = among(enough_positives)
    assert abs(opportunity["value"] - equal_opportunity_difference(t, p, sensitive_features=s)) <= 1e-12
    assert abs(opportunity["value"] - true_positive_rate_difference(t, p, sensitive_features=s)) <= 1e-12

    odds = _criterion(audit, sensitive, "equalized_odds_difference")
    assert left_out(odds) == (set(key) - enough_positives) | (set(key) - enough_negatives)
    tpr = true_positive_rate_difference(*among(enough_positives)[:2], sensitive_features=among(enough_positives)[2])
    fpr = false_positive_rate_difference(*among(enough_negatives)[:2], sensitive_features=among(enough_negatives)[2])
    assert abs(odds["value"] - max(tpr, fpr)) <= 1e-12
    if enough_positives == enough_negatives == set(key):   # nothing left out: fairlearn's one-call version agrees
        assert abs(odds["value"] - equalized_odds_difference(*among(set(key))[:2],
                                                             sensitive_features=among(set(key))[2])) <= 1e-12


def test_the_explanation_of_the_sex_four_fifths_criterion(adult):
    audit, rows = adult
    c = _criterion(audit, ["sex"], "demographic_parity_ratio")
    rate = rows.groupby("sex")["y_pred"].mean()
    assert rate["Female"] < 0.8 * rate["Male"] and c["verdict"] == "fail"
    assert (c["lowest_group"], c["highest_group"]) == ({"sex": "Female"}, {"sex": "Male"})
    text = c["explanation"]
    assert f"sex = Female ({rate['Female']:.3f})" in text and f"sex = Male ({rate['Male']:.3f})" in text
    assert f" is {rate['Female'] / rate['Male']:.2f} of that for " in text
    assert f"95% CI {c['ci_low']:.2f}–{c['ci_high']:.2f}" in text and c["ci_high"] < 0.8
    assert "fails the four-fifths rule" in text


def test_the_demo_audits_verify(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        listed = fairness.list_audits(store)
        assert sorted(listed["audit_id"]) == ["FA-0001", "FA-0002", "FA-0003"]
        for audit_id in listed["audit_id"]:
            report = fairness.verify_audit(store, audit_id=audit_id)
            assert report["ok"], report
            assert [c["check"] for c in report["checks"]] == ["definition hash", "evidence hash",
                                                              "evaluation set content hash",
                                                              "results recomputed from the data"]


def test_verification_catches_tampered_results_and_altered_rows(demo_copy):
    with GovernanceStore(demo_copy) as store:
        results = store.query_value("SELECT results FROM fairness_audit_run WHERE audit_id = 'FA-0001'")
        first = json.loads(results)["groups"][0]
        old, new = fairness.canonical_json(first), fairness.canonical_json({**first, "n": first["n"] + 1})
        assert results.count(old) == 1
        with store.write() as tx:
            tx.execute("UPDATE fairness_audit_run SET results = replace(results, ?, ?) WHERE audit_id = 'FA-0001'",
                       [old, new])
        checks = {c["check"]: c["ok"] for c in fairness.verify_audit(store, audit_id="FA-0001")["checks"]}
        assert checks == {"definition hash": True, "evidence hash": False, "evaluation set content hash": True,
                          "results recomputed from the data": False}

        with store.write() as tx:
            tx.execute("UPDATE evaluation_row SET y_pred = 1 - y_pred "
                       "WHERE model = 'german-credit' AND version = 'v1' AND row_id = 0")
        report = fairness.verify_audit(store, audit_id="FA-0003")
        checks = {c["check"]: c["ok"] for c in report["checks"]}
        assert not report["ok"] and checks["evaluation set content hash"] is False
        assert checks["evidence hash"] is True and checks["definition hash"] is True
        assert fairness.verify_audit(store, audit_id="FA-0002")["ok"]   # another model version is untouched


# --- the locked definition and the evidence hash ----------------------------------------------------------------
ROWS = [("A", i % 2, int(i % 5 < 2), (i % 10) / 10 + 0.05) for i in range(60)] + \
       [("B", i % 3 == 0, int(i % 4 == 0), (i % 7) / 7 + 0.01) for i in range(90)]


def _data(rows=ROWS):
    group, y_true, y_pred, score = zip(*rows)
    return frame_data(y_true=[int(v) for v in y_true], y_pred=y_pred, score=score, sensitive={"g": group},
                      name="rows.csv")


def _evidence(data, **choices) -> tuple[str, dict]:
    definition = make_definition(data=data, sensitive=["g"], **{"bootstrap": 200, **choices})
    results = compute_results(definition=definition, cells=finest_cells(None, data=data, definition=definition))
    return evidence_hash_of(definition=definition, data_sha256=data.data_sha256, results=results), results


def test_same_inputs_give_the_same_results_and_evidence_hash_in_two_workspaces(tmp_path):
    audits = []
    for name in ("one", "two"):
        with GovernanceStore(tmp_path / f"{name}.duckdb") as store:
            audits.append(fairness.run_new_audit(store, data=_data(), actor=AUDITOR, sensitive=["g"], bootstrap=200))
    one, two = audits
    assert one["evidence_hash"] == two["evidence_hash"]
    assert one["definition_hash"] == two["definition_hash"]
    strip = ("ran_at", "defined_at")
    assert {k: v for k, v in one.items() if k not in strip} == {k: v for k, v in two.items() if k not in strip}
    again, results = _evidence(_data())
    assert again == one["evidence_hash"]                   # the stored hash is over exactly these results
    assert results["groups"] == one["groups"] and results["criteria"] == one["criteria"]


def test_any_change_to_data_or_definition_changes_the_evidence_hash():
    base, results = _evidence(_data())
    flipped = list(ROWS)
    g, t, p, s = flipped[7]
    flipped[7] = (g, t, 1 - p, s)
    changed = {
        "one row's prediction": _evidence(_data(flipped)),
        "a threshold": _evidence(_data(), criteria="demographic_parity_ratio>=0.75,equalized_odds_difference<=0.1,"
                                                   "equal_opportunity_difference<=0.1"),
        "the seed": _evidence(_data(), seed=1),
        "the minimum group size": _evidence(_data(), min_group_size=29),
        "the number of resamples": _evidence(_data(), bootstrap=201),
    }
    hashes = {name: h for name, (h, _) in changed.items()}
    assert base not in hashes.values() and len(set(hashes.values())) == len(hashes)
    assert changed["one row's prediction"][1]["groups"] != results["groups"]
    assert changed["the seed"][1]["groups"] != results["groups"]        # other resamples, other intervals
    assert changed["the minimum group size"][1] == results              # same figures, different definition


def test_the_definition_is_stored_before_results_and_an_audit_runs_once(tmp_path):
    data = _data()
    with GovernanceStore(tmp_path / "audit.duckdb") as store:
        definition = make_definition(data=data, sensitive=["g"], bootstrap=200)
        audit_id = fairness.define_audit(store, definition=definition, actor=AUDITOR)
        defined = fairness.get_audit(store, audit_id=audit_id)
        assert (audit_id, defined["status"], defined["verdict"], defined["evidence_hash"]) == (
            "FA-0001", "defined", None, None)
        assert "groups" not in defined and "criteria" not in defined
        assert defined["definition"] == json.loads(fairness.canonical_json(definition.as_dict()))
        assert not store.query_value("SELECT count(*) FROM fairness_audit_run")
        assert fairness.list_audits(store)["verdict"].tolist() == ["not run yet"]
        assert fairness.verify_audit(store, audit_id=audit_id)["ok"] is False

        with pytest.raises(AuditError) as caught:
            fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR)
        assert str(caught.value) == NEEDS_FILE.format(audit_id=audit_id, name="rows.csv")
        other = _data(ROWS[:-1])
        with pytest.raises(AuditError) as caught:
            fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR, data=other)
        assert str(caught.value) == FILE_CHANGED.format(audit_id=audit_id, given=other.data_sha256[:12],
                                                        expected=data.data_sha256[:12])

        ran = fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR, data=data)
        assert ran["status"] == "completed" and ran["definition_hash"] == defined["definition_hash"]
        assert ran["definition"] == defined["definition"] and ran["groups"]
        with pytest.raises(AuditError) as caught:
            fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR, data=data)
        assert str(caught.value) == ALREADY_RAN.format(audit_id=audit_id)
        assert store.query_value("SELECT count(*) FROM fairness_audit_run") == 1
        assert fairness.verify_audit(store, audit_id=audit_id)["ok"]


def test_a_run_that_breaks_closes_the_audit_with_its_reason_and_never_leaves_it_pending(tmp_path, monkeypatch):
    data = _data()

    def broken(*args, **kwargs):
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    with GovernanceStore(tmp_path / "audit.duckdb") as store:
        audit_id = fairness.define_audit(store, definition=make_definition(data=data, sensitive=["g"], bootstrap=200),
                                         actor=AUDITOR)
        # the caller's own mistakes (no file, another file) leave it pending: the right file can still run it
        with pytest.raises(AuditError):
            fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR)
        assert fairness.get_audit(store, audit_id=audit_id)["status"] == "defined"

        with monkeypatch.context() as patched:
            patched.setattr(fairness, "finest_cells", broken)
            with pytest.raises(IndexError):   # the page and the CLI report it as unexpected, with a reference
                fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR, data=data)
        closed = fairness.get_audit(store, audit_id=audit_id)
        assert (closed["status"], closed["verdict"], closed["evidence_hash"]) == ("failed", None, None)
        assert closed["failure"]["reason"] == RUN_BROKE.format(kind="IndexError")
        assert closed["failure"]["failed_by"] == AUDITOR.recorded_as
        assert fairness.list_audits(store)["verdict"].tolist() == ["could not run"]
        with pytest.raises(AuditError) as caught:   # closed for good: a new audit is the way on
            fairness.run_audit(store, audit_id=audit_id, actor=AUDITOR, data=data)
        assert str(caught.value) == COULD_NOT_RUN.format(audit_id=audit_id, reason=closed["failure"]["reason"])
        assert fairness.verify_audit(store, audit_id=audit_id)["ok"] is False

        # define-and-run in one command (the CLI, the API) stores nothing unless the run completes
        with monkeypatch.context() as patched:
            patched.setattr(fairness, "finest_cells", broken)
            with pytest.raises(IndexError):
                fairness.run_new_audit(store, data=data, actor=AUDITOR, sensitive=["g"], bootstrap=200)
        assert fairness.list_audits(store)["audit_id"].tolist() == [audit_id]
        ran = fairness.run_new_audit(store, data=data, actor=AUDITOR, sensitive=["g"], bootstrap=200)
        assert (ran["audit_id"], ran["status"]) == ("FA-0002", "completed")
        assert ran["defined_at"] <= ran["ran_at"]
        assert fairness.verify_audit(store, audit_id="FA-0002")["ok"]


# --- mitigation preview ------------------------------------------------------------------------------------------
def test_mitigation_preview_on_the_sex_four_fifths_criterion(adult):
    audit, rows = adult
    preview = mitigation_preview(rows=rows, sensitive=["sex"], criterion="demographic_parity_ratio>=0.8", seed=0)
    assert preview["constraint"] == "demographic_parity"
    assert preview["rows_fitted"] + preview["rows_judged"] == len(rows)
    judge = np.random.default_rng(0).permutation(len(rows))[len(rows) // 2:]
    held_out = rows.iloc[judge]
    before_rates = held_out.groupby("sex")["y_pred"].mean()
    before, after = preview["before"], preview["after"]
    assert before["selection_rate_by_group"] == pytest.approx(before_rates.to_dict(), abs=1e-12)
    assert before["accuracy"] == pytest.approx((held_out["y_true"] == held_out["y_pred"]).mean(), abs=1e-12)
    for figures in (before, after):
        rates = figures["selection_rate_by_group"]
        assert set(rates) == {"Female", "Male"}
        assert figures["demographic_parity_ratio"] == pytest.approx(min(rates.values()) / max(rates.values()),
                                                                    abs=1e-12)
        assert figures["passes"] == (figures["demographic_parity_ratio"] >= 0.8)
    assert after["demographic_parity_ratio"] > before["demographic_parity_ratio"]
    assert before["passes"] is False


def test_mitigation_preview_refuses_a_criterion_without_a_threshold_constraint(adult):
    _, rows = adult
    with pytest.raises(AuditError) as caught:
        mitigation_preview(rows=rows, sensitive=["sex"], criterion="accuracy_difference<=0.05")
    assert str(caught.value) == NO_MITIGATION_CONSTRAINT.format(metric="accuracy")


def test_audit_rows_are_the_evaluation_set(adult, demo_workspace):
    audit, rows = adult
    with GovernanceStore(demo_workspace) as store:
        stored = store.query("SELECT y_true, y_pred, score, sensitive->>'sex' AS sex, sensitive->>'race' AS race "
                             "FROM evaluation_row WHERE model = 'adult-income' AND version = 'v1' ORDER BY row_id")
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), stored, check_dtype=False)
    assert audit["definition"]["source"]["rows"] == len(rows)
