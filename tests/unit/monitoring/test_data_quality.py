"""Data quality: every check fires on a crafted file or crafted telemetry, and stays silent on clean data; the
demo's label coverage against an independent count."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from governance.cli import quality
from governance.demo import DAYS, LABEL_LAG_DAYS, START
from governance.errors import InvalidInputError
from governance.monitoring import data_quality
from governance.monitoring.data_quality import check_file, quality_report
from governance.record.store import GovernanceStore

MODEL, VERSION = "adult-income", "v1"


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


@pytest.fixture(scope="module")
def evaluation(store) -> pd.DataFrame:
    """The version's own held-out evaluation set as a file would hold it: one column per feature, plus the label."""
    rows = store.query("SELECT features, y_true FROM evaluation_row WHERE model = ? AND version = ? ORDER BY row_id",
                       [MODEL, VERSION])
    frame = pd.DataFrame([json.loads(f) for f in rows["features"]])
    return frame.assign(label=rows["y_true"].to_numpy())


@pytest.fixture
def clean(evaluation) -> pd.DataFrame:
    return evaluation.sample(2_000, random_state=7).reset_index(drop=True)


def _checks(result: dict, check: str) -> dict:
    """feature (None for whole-row checks) -> check row."""
    return {c["feature"]: c for c in result["checks"] if c["check"] == check}


def _run(store, frame, label="label"):
    return check_file(store, model=MODEL, version=VERSION, frame=frame, label=label)


def test_a_sample_of_the_evaluation_set_is_clean(store, clean):
    result = _run(store, clean)
    statuses = {(c["check"], c["feature"]): c["status"] for c in result["checks"]}
    assert statuses.pop(("label delay", None)) == "not judged"   # a file records no label arrival times
    assert set(statuses.values()) == {"ok"}, {k: v for k, v in statuses.items() if v != "ok"}
    assert "held out from the training data" in result["reference"]["description"]
    features = {f for c, f in statuses if c == "missing values"}
    assert features == {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week", "workclass",
                        "marital_status", "occupation", "relationship", "native_country"}
    assert _checks(result, "out of range").keys() == {"age", "education_num", "capital_gain", "capital_loss",
                                                      "hours_per_week"}


def test_a_missing_column_fails_schema_and_missing_values(store, clean):
    result = _run(store, clean.drop(columns=["age"]))
    assert _checks(result, "schema conformity")["age"]["status"] == "fail"
    assert _checks(result, "schema conformity")["age"]["value"] == 1.0
    assert _checks(result, "missing values")["age"]["status"] == "fail"
    assert _checks(result, "schema conformity")["hours_per_week"]["status"] == "ok"


def test_thirty_percent_missing_values_fail(store, clean):
    frame = clean.copy()
    frame.loc[frame.sample(frac=0.3, random_state=1).index, "hours_per_week"] = np.nan
    result = _run(store, frame)
    missing = _checks(result, "missing values")["hours_per_week"]
    assert missing["status"] == "fail" and missing["value"] == pytest.approx(0.3, abs=0.001)
    assert "r + 20%" in missing["rule"] and missing["threshold"] == {"warn": 0.05, "fail": 0.2}
    assert _checks(result, "schema conformity")["hours_per_week"]["status"] == "ok"   # nulls are not a schema fault
    assert _checks(result, "missing values")["age"]["status"] == "ok"


def test_values_outside_the_reference_range(store, clean):
    frame = clean.copy()
    frame.loc[frame.sample(frac=0.04, random_state=2).index, "age"] = 150
    frame.loc[frame.sample(frac=0.2, random_state=3).index, "hours_per_week"] = -5
    result = _run(store, frame)
    ranges = _checks(result, "out of range")
    assert ranges["age"]["status"] == "warn" and ranges["age"]["value"] == pytest.approx(0.04, abs=0.001)
    assert ranges["hours_per_week"]["status"] == "fail"
    assert "17..90" in ranges["age"]["detail"]


def test_text_in_a_numeric_column_breaks_the_schema(store, clean):
    frame = clean.astype({"capital_gain": object})
    frame.loc[frame.sample(frac=0.05, random_state=4).index, "capital_gain"] = "lots"
    schema = _checks(_run(store, frame), "schema conformity")["capital_gain"]
    assert schema["status"] == "fail" and schema["value"] == pytest.approx(0.05, abs=0.001)


def test_duplicated_rows(store, clean):
    frame = pd.concat([clean, clean.iloc[:600]], ignore_index=True)
    duplicates = _checks(_run(store, frame), "duplicate rows")[None]
    assert duplicates["status"] == "fail" and duplicates["value"] >= 600 / 2_600
    assert duplicates["threshold"]["warn"] > 0.02   # judged against the reference's own repeats (identical people)


def test_a_telemetry_file_counts_exact_duplicate_rows(store, clean):
    stamped = clean.assign(ts=pd.date_range("2026-07-01", periods=len(clean), freq="min"), latency_ms=40.0)
    result = _run(store, pd.concat([stamped, stamped.iloc[:100]], ignore_index=True))
    assert _checks(result, "duplicate rows")[None]["status"] == "fail"   # 100 of 2,100 rows logged twice
    assert "ts" not in _checks(result, "schema conformity")               # a telemetry column, not unexpected
    assert _checks(_run(store, stamped), "duplicate rows")[None]["status"] == "ok"


def test_an_unseen_category(store, clean):
    frame = clean.copy()
    frame.loc[frame.sample(frac=0.03, random_state=5).index, "occupation"] = "Astronaut"
    result = _run(store, frame)
    unseen = _checks(result, "unseen categories")
    assert unseen["occupation"]["status"] == "warn" and unseen["workclass"]["status"] == "ok"
    frame.loc[frame.sample(frac=0.1, random_state=6).index, "workclass"] = "Pirate"
    assert _checks(_run(store, frame), "unseen categories")["workclass"]["status"] == "fail"


def test_missing_labels(store, clean):
    frame = clean.astype({"label": "Int8"})
    frame.loc[frame.sample(frac=0.6, random_state=8).index, "label"] = pd.NA
    coverage = _checks(_run(store, frame), "label coverage")[None]
    assert coverage["status"] == "fail" and coverage["value"] == pytest.approx(0.4, abs=0.001)
    assert "label coverage" not in {c["check"] for c in _run(store, clean.drop(columns=["label"]), None)["checks"]}


def test_extra_columns_are_noted_and_too_few_rows_are_not_judged(store, clean):
    result = _run(store, clean.assign(shoe_size=42, sex="Female"))
    extra = _checks(result, "schema conformity")
    assert extra["shoe_size"]["status"] == "warn" and "does not expect" in extra["shoe_size"]["rule"]
    assert "sex" not in extra   # a sensitive attribute stored with the evaluation set is known, not unexpected
    few = _run(store, clean.iloc[:40])
    for c in few["checks"]:
        assert c["status"] == "not judged" and c["value"] is None, c


def test_bad_inputs_are_refused(store, clean):
    with pytest.raises(InvalidInputError, match="label column 'outcome'"):
        check_file(store, model=MODEL, version=VERSION, frame=clean, label="outcome")
    with pytest.raises(InvalidInputError, match="no version"):
        check_file(store, model=MODEL, version="v9", frame=clean)
    with pytest.raises(InvalidInputError, match="grain"):
        quality_report(store, model=MODEL, grain="month")


# --- telemetry ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(store) -> dict:
    return quality_report(store, model=MODEL, version=VERSION, grain="day")


def test_demo_label_coverage_equals_an_independent_count_without_the_recent_days(store, report):
    due_before = pd.Timestamp(START) + pd.Timedelta(days=DAYS - LABEL_LAG_DAYS)   # the demo's unlabelled days
    assert report["label_due_before"] == due_before.isoformat()
    labelled, due, everything = store.query_rows("""
        SELECT count(label) FILTER (WHERE ts < $due), count(*) FILTER (WHERE ts < $due), count(label) / count(*)
        FROM telemetry WHERE model = $model AND version = $version AND NOT is_error""",
                                                {"model": MODEL, "version": VERSION, "due": due_before})[0]
    coverage = _checks(report, "label coverage")[None]
    assert coverage["value"] == pytest.approx(labelled / due, abs=1e-12) and coverage["n"] == due
    assert coverage["value"] > everything          # the not-yet-due days would drag it down
    assert coverage["status"] == "ok"               # 10% of the demo's labels never arrive: above 80%
    trend = pd.DataFrame(report["trend"])
    days = trend[trend["check"] == "label coverage"].set_index("period")
    recent = days.loc[[(due_before + pd.Timedelta(days=k)).isoformat() for k in range(LABEL_LAG_DAYS)]]
    assert (recent["status"] == "not judged").all() and recent["value"].isna().all()
    assert (days.drop(recent.index)["status"] == "ok").all()
    delay = _checks(report, "label delay")[None]
    assert delay["status"] == "ok" and LABEL_LAG_DAYS - 1 < delay["value"] <= LABEL_LAG_DAYS + 0.1


def test_demo_has_a_status_for_every_feature_and_check(store, report):
    reference = data_quality.quality_reference(store, model=MODEL, version=VERSION)
    statuses = {(c["check"], c["feature"]): c["status"] for c in report["checks"]}
    for f in reference.features:
        range_check = "out of range" if f.kind == "numeric" else "unseen categories"
        for check in ("schema conformity", "missing values", range_check):
            assert statuses[(check, f.name)] == "ok", (check, f.name)
    assert statuses[("duplicate rows", None)] == "ok"
    assert set(statuses.values()) <= set(data_quality.STATUSES)
    trend = pd.DataFrame(report["trend"])
    assert trend["period"].nunique() == DAYS and set(trend["check"]) == set(data_quality.CHECKS)
    assert len(trend) == DAYS * len(set(zip(trend["check"], trend["feature"].fillna(""))))


def test_crafted_telemetry_fires_duplicates_unseen_categories_and_schema(demo_copy):
    model = "german-credit"
    with GovernanceStore(demo_copy) as store:
        with store.write() as tx:
            tx.execute("INSERT INTO telemetry SELECT * FROM telemetry WHERE model = ? AND ts < '2026-07-15'", [model])
            tx.execute("""UPDATE telemetry_input SET features = json_merge_patch(features, '{"purpose": "spaceship"}')
                          WHERE model = ? AND input_id % 10 = 0""", [model])
            tx.execute("""UPDATE telemetry_input SET features = json_merge_patch(features, '{"age": null}')
                          WHERE model = ? AND input_id % 10 = 1""", [model])
            tx.execute("""UPDATE telemetry_input SET features = json_merge_patch(features, '{"pet": "cat"}')
                          WHERE model = ? AND input_id % 10 = 2""", [model])
        result = quality_report(store, model=model, version="v1", grain="week")
    assert _checks(result, "duplicate rows")[None]["status"] == "fail"
    assert _checks(result, "unseen categories")["purpose"]["status"] == "fail"
    assert _checks(result, "unseen categories")["housing"]["status"] == "ok"
    schema = _checks(result, "schema conformity")
    assert schema["age"]["status"] == "fail" and 0.05 < schema["age"]["value"] < 0.15   # the key removed
    assert schema["pet"]["status"] == "warn" and schema["housing"]["status"] == "ok"
    assert _checks(result, "missing values")["age"]["status"] == "warn"
    weeks = pd.DataFrame(result["trend"])
    duplicates = weeks[weeks["check"] == "duplicate rows"].set_index("period")["status"]
    assert duplicates.iloc[0] == "fail" and duplicates.iloc[-1] == "ok"   # only the first two weeks were doubled


# --- the command line -------------------------------------------------------------------------------------

def _cli(store, *argv: str) -> tuple[dict, int]:
    parser = argparse.ArgumentParser()
    quality.add_parser(parser.add_subparsers(dest="command"), workspace=argparse.ArgumentParser(add_help=False),
                           parser_class=argparse.ArgumentParser)
    run, show, exit_code = quality.COMMAND
    result = run(store, parser.parse_args(["quality", *argv]))
    show(result)
    json.dumps(result)
    return result, exit_code(result)


def test_cli_exits_1_only_when_a_check_fails(store, clean, tmp_path, capsys):
    result, code = _cli(store, "--model", "german-credit", "--version", "v1", "--grain", "week")
    assert code == 0 and result["summary"]["fail"] == 0
    assert "label coverage" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    clean.drop(columns=["age"]).to_csv(bad, index=False)
    result, code = _cli(store, "--model", MODEL, "--version", VERSION, "--file", str(bad), "--label", "label")
    assert code == 1 and _checks(result, "schema conformity")["age"]["status"] == "fail"
    good = tmp_path / "good.csv"
    clean.to_csv(good, index=False)
    result, code = _cli(store, "--model", MODEL, "--version", VERSION, "--file", str(good), "--label", "label")
    assert code == 0 and result["summary"]["fail"] == 0 and result["summary"]["warn"] == 0
    with pytest.raises(InvalidInputError, match="--file needs --version"):
        _cli(store, "--model", MODEL, "--file", str(good))
