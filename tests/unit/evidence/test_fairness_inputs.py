"""Fairness audit inputs: every mistake the issue lists is refused with its message, or handled as documented."""

from __future__ import annotations

import hashlib

import pytest

from governance.evidence import fairness
from governance.evidence.fairness import (BAD_CRITERION, BAD_SETTING, DIFFERENCE_DIRECTION, RATIO_DIRECTION,
                                          SCORE_METRIC_NEEDS_SCORE, UNKNOWN_METRIC, make_definition, parse_criteria)
from governance.evidence.fairness_inputs import (CONSTANT_PREDICTIONS, LENGTH_MISMATCH, LOOKS_LIKE_PROBABILITIES,
                                                 MISSING_GROUP, MISSING_VALUES, NOT_BINARY, NO_ROWS, NO_SENSITIVE,
                                                 SCORE_RANGE, SINGLE_GROUP, TEXT_LABELS_NEED_POSITIVE, UNKNOWN_COLUMN,
                                                 UNKNOWN_POSITIVE, UNREADABLE_CSV, AuditData, AuditError, frame_data,
                                                 read_csv_data)

GROUPS = ["a", "a", "a", "b", "b", "b"]
TRUTH = [1, 0, 1, 0, 1, 0]
PREDICTED = [1, 0, 0, 1, 1, 0]


def refused(message: str, action) -> None:
    with pytest.raises(AuditError) as caught:
        action()
    assert str(caught.value) == message


def test_a_single_group_is_refused():
    refused(SINGLE_GROUP.format(column="sex", group="F"),
            lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED, sensitive={"sex": ["F"] * 6}))


def test_constant_predictions_are_refused():
    refused(CONSTANT_PREDICTIONS.format(value="1"),
            lambda: frame_data(y_true=TRUTH, y_pred=[1] * 6, sensitive={"g": GROUPS}))


def test_text_labels_need_a_positive_label():
    truth = ["yes", "no", "yes", "no", "yes", "no"]
    predicted = ["yes", "no", "no", "yes", "yes", "no"]
    refused(TEXT_LABELS_NEED_POSITIVE.format(role="outcome", column="y_true", shown="'no', 'yes'"),
            lambda: frame_data(y_true=truth, y_pred=predicted, sensitive={"g": GROUPS}))
    data = frame_data(y_true=truth, y_pred=predicted, sensitive={"g": GROUPS}, pos_label="yes")
    assert data.pos_label == "yes"
    assert data.frame["y_true"].tolist() == TRUTH and data.frame["y_pred"].tolist() == PREDICTED


def test_a_positive_label_that_does_not_occur_is_refused():
    truth = ["yes", "no", "yes", "no", "yes", "no"]
    refused(UNKNOWN_POSITIVE.format(label="approved", column="y_true", shown="'no', 'yes'"),
            lambda: frame_data(y_true=truth, y_pred=truth[::-1], sensitive={"g": GROUPS}, pos_label="approved"))


def test_probabilities_passed_as_predictions_are_refused():
    refused(LOOKS_LIKE_PROBABILITIES.format(column="y_pred", example=0.2),
            lambda: frame_data(y_true=TRUTH, y_pred=[0.2, 0.9, 0.4, 0.7, 0.55, 0.1], sensitive={"g": GROUPS}))


def test_columns_of_different_lengths_are_refused():
    refused(LENGTH_MISMATCH.format(lengths="outcome 6, prediction 5, g 6"),
            lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED[:5], sensitive={"g": GROUPS}))
    refused(LENGTH_MISMATCH.format(lengths="outcome 6, prediction 6, score 4, g 6"),
            lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED, score=[0.1] * 4, sensitive={"g": GROUPS}))


def test_missing_outcomes_and_predictions_are_refused_never_dropped():
    refused(MISSING_VALUES.format(role="outcome", column="y_true", count=2, first=2),
            lambda: frame_data(y_true=[1, None, 1, float("nan"), 1, 0], y_pred=PREDICTED, sensitive={"g": GROUPS}))
    refused(MISSING_VALUES.format(role="prediction", column="y_pred", count=1, first=6),
            lambda: frame_data(y_true=TRUTH, y_pred=[1, 0, 0, 1, 1, ""], sensitive={"g": GROUPS}))
    refused(MISSING_VALUES.format(role="score", column="score", count=1, first=1),
            lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED, score=[None, .2, .3, .4, .5, .6], sensitive={"g": GROUPS}))


def test_missing_sensitive_values_form_their_own_group_with_a_note():
    data = frame_data(y_true=TRUTH, y_pred=PREDICTED, sensitive={"g": ["a", "a", None, "b", "", "b"]})
    assert data.frame["g"].tolist() == ["a", "a", MISSING_GROUP, "b", MISSING_GROUP, "b"]
    assert len(data.notes) == 1 and "2 rows have no value for g" in data.notes[0] and MISSING_GROUP in data.notes[0]
    definition = make_definition(data=data, sensitive=["g"], min_group_size=1, bootstrap=100)
    results = fairness.compute_results(definition=definition,
                                       cells=fairness.finest_cells(None, data=data, definition=definition))
    groups = {g["group"]["g"]: g for g in results["groups"]}
    assert set(groups) == {"a", "b", MISSING_GROUP}
    assert groups[MISSING_GROUP]["n"] == 2 and groups[MISSING_GROUP]["status"] == "ok"
    # rows 3 and 5: (y_true 1, y_pred 0) and (1, 1)
    assert groups[MISSING_GROUP]["metrics"]["selection_rate"]["value"] == 1 / 2
    assert groups[MISSING_GROUP]["metrics"]["true_positive_rate"]["value"] == 1 / 2


def test_more_than_two_label_values_are_refused():
    refused(NOT_BINARY.format(role="outcome", column="y_true", count=3, shown="'0', '1', '2'"),
            lambda: frame_data(y_true=[0, 1, 2, 0, 1, 2], y_pred=PREDICTED, sensitive={"g": GROUPS}))
    # A third prediction value is named as such, not mistaken for text labels of the outcome.
    refused(NOT_BINARY.format(role="prediction", column="y_pred", count=3, shown="'0', '1', '2'"),
            lambda: frame_data(y_true=TRUTH, y_pred=[0, 1, 2, 0, 1, 0], sensitive={"g": GROUPS}))
    refused(NOT_BINARY.format(role="outcome", column="y_true", count=3, shown="'high', 'low', 'mid'"),
            lambda: frame_data(y_true=["low", "mid", "high"] * 2, y_pred=["low", "high"] * 3, sensitive={"g": GROUPS},
                               pos_label="high"))


def test_scores_outside_zero_to_one_are_refused():
    refused(SCORE_RANGE.format(column="score", low=-0.1, high=0.9),
            lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED, score=[-0.1, .2, .3, .9, .5, .6], sensitive={"g": GROUPS}))
    refused(SCORE_RANGE.format(column="score", low=0.2, high=87),
            lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED, score=[87, .2, .3, .9, .5, .6], sensitive={"g": GROUPS}))


def test_no_or_unknown_sensitive_features_are_refused():
    refused(NO_SENSITIVE, lambda: frame_data(y_true=TRUTH, y_pred=PREDICTED, sensitive={}))
    data = frame_data(y_true=TRUTH, y_pred=PREDICTED, sensitive={"g": GROUPS})
    refused(UNKNOWN_COLUMN.format(column="gender", source="rows given in memory", known="g"),
            lambda: make_definition(data=data, sensitive=["gender"]))
    refused(NO_SENSITIVE, lambda: make_definition(data=data, sensitive=[" "]))


@pytest.mark.parametrize("text, message", [
    ("demographic_parity_ratio=0.8", BAD_CRITERION.format(text="demographic_parity_ratio=0.8",
                                                          known=", ".join(fairness.CRITERION_NAMES))),
    ("demographic parity >= 0.8", BAD_CRITERION.format(text="demographic parity >= 0.8",
                                                       known=", ".join(fairness.CRITERION_NAMES))),
    ("statistical_parity_ratio>=0.8", BAD_CRITERION.format(text="statistical_parity_ratio>=0.8",
                                                           known=", ".join(fairness.CRITERION_NAMES))),
    ("demographic_parity_ratio>=-0.8", BAD_CRITERION.format(text="demographic_parity_ratio>=-0.8",
                                                            known=", ".join(fairness.CRITERION_NAMES))),
    ("demographic_parity_ratio<=0.8", RATIO_DIRECTION.format(name="demographic_parity_ratio")),
    ("demographic_parity_ratio>=1.25", RATIO_DIRECTION.format(name="demographic_parity_ratio")),
    ("equalized_odds_difference>=0.1", DIFFERENCE_DIRECTION.format(name="equalized_odds_difference")),
    ("accuracy_difference<=1.5", DIFFERENCE_DIRECTION.format(name="accuracy_difference")),
])
def test_malformed_criteria_are_refused(text, message):
    refused(message, lambda: parse_criteria(text))
    refused(message, lambda: parse_criteria(f"equal_opportunity_difference<=0.1, {text}"))


def test_criteria_are_read_whatever_the_spacing_and_duplicates_collapse():
    parsed = parse_criteria(" demographic_parity_ratio >= 0.8 ,equalized_odds_difference<=.1,"
                            "demographic_parity_ratio=>0.8")
    assert [c.text for c in parsed] == ["demographic_parity_ratio>=0.8", "equalized_odds_difference<=0.1"]


@pytest.mark.parametrize("setting, value, message", [
    ("bootstrap", 99, BAD_SETTING.format(name="bootstrap resamples", low=100, high=100_000, value=99)),
    ("bootstrap", 100_001, BAD_SETTING.format(name="bootstrap resamples", low=100, high=100_000, value=100_001)),
    ("bootstrap", 500.0, BAD_SETTING.format(name="bootstrap resamples", low=100, high=100_000, value=500.0)),
    ("bootstrap", True, BAD_SETTING.format(name="bootstrap resamples", low=100, high=100_000, value=True)),
    ("min_group_size", 0, BAD_SETTING.format(name="minimum group size", low=1, high=1_000_000, value=0)),
    ("min_group_size", "30", BAD_SETTING.format(name="minimum group size", low=1, high=1_000_000, value="30")),
    ("seed", -1, BAD_SETTING.format(name="seed", low=0, high=2**32 - 1, value=-1)),
])
def test_settings_out_of_range_are_refused(setting, value, message):
    data = frame_data(y_true=TRUTH, y_pred=PREDICTED, sensitive={"g": GROUPS})
    refused(message, lambda: make_definition(data=data, sensitive=["g"], **{setting: value}))


def test_unknown_metrics_and_score_metrics_without_a_score_are_refused():
    data = frame_data(y_true=TRUTH, y_pred=PREDICTED, sensitive={"g": GROUPS})
    refused(UNKNOWN_METRIC.format(name="recall", known=", ".join(fairness.fm.ALL_METRICS)),
            lambda: make_definition(data=data, sensitive=["g"], metrics=["recall"]))
    refused(SCORE_METRIC_NEEDS_SCORE.format(name="calibration_gap"),
            lambda: make_definition(data=data, sensitive=["g"], metrics=["calibration_gap"]))
    # A criterion's metrics are always reported, even when not asked for.
    definition = make_definition(data=data, sensitive=["g"], metrics=["accuracy"])
    assert definition.metrics == ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate")


CSV = b"outcome,decision,sex,p\n1,1,F,0.9\n0,0,F,0.2\n1,0,M,0.4\n0,1,M,0.7\n"


def test_a_csv_file_is_checked_and_hashed_by_its_bytes():
    data = read_csv_data(content=CSV, name="audit.csv", y_true="outcome", y_pred="decision", sensitive=["sex"],
                         score="p")
    assert data.data_sha256 == hashlib.sha256(CSV).hexdigest()
    assert (data.kind, data.rows, data.attributes, data.y_true, data.y_pred, data.score) == (
        "file", 4, ("sex",), "outcome", "decision", "p")
    assert data.frame["y_true"].tolist() == [1, 0, 1, 0] and data.frame["y_pred"].tolist() == [1, 0, 0, 1]
    assert data.frame["score"].tolist() == [0.9, 0.2, 0.4, 0.7] and data.frame["sex"].tolist() == ["F", "F", "M", "M"]
    refused(UNKNOWN_COLUMN.format(column="gender", source="audit.csv", known="outcome, decision, sex, p"),
            lambda: read_csv_data(content=CSV, name="audit.csv", y_true="outcome", y_pred="decision",
                                  sensitive=["gender"]))


@pytest.mark.parametrize("content, reason", [
    (b"", "No columns to parse from file"),
    (b'outcome,decision,sex\n"1,1,F\n', "EOF inside string"),
    (b"\xff\xfeo\x00u\x00t\x00", "can't decode byte 0xff"),
])
def test_a_malformed_csv_is_refused_with_the_reason(content, reason):
    with pytest.raises(AuditError) as caught:
        read_csv_data(content=content, name="bad.csv", y_true="outcome", y_pred="decision", sensitive=["sex"])
    head, tail = UNREADABLE_CSV.format(name="bad.csv", reason="\0").split("\0")
    message = str(caught.value)
    assert message.startswith(head) and message.endswith(tail) and reason in message


def test_a_file_with_a_header_and_no_rows_is_refused_before_anything_is_locked():
    refused(NO_ROWS.format(source="header.csv"),
            lambda: read_csv_data(content=b"outcome,decision,sex\n", name="header.csv", y_true="outcome",
                                  y_pred="decision", sensitive=["sex"]))
    refused(NO_ROWS.format(source="rows given in memory"),
            lambda: frame_data(y_true=[], y_pred=[], sensitive={"sex": []}))
    # whatever the source (an evaluation set stored empty), no definition over no rows is made, so none is locked
    empty = AuditData("evaluation_set", "m v1 evaluation set", "0" * 64, 0, ("sex",), model="m", version="v1")
    refused(NO_ROWS.format(source="m v1 evaluation set"), lambda: make_definition(data=empty, sensitive=["sex"]))
