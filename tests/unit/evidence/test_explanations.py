"""SHAP explanations checked against independent computations: exact linear and brute-force tree Shapley values on
tiny models, additivity and one-hot grouping on the demo's models, the stored explanation and its reuse, cohorts and
proxy flags, and the narrative of one declined applicant."""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import shap
import skops.io as sio
from scipy.stats import f_oneway
from scipy.stats.contingency import association
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from governance.demo.datasets import ADULT_CATEGORICAL, ADULT_NUMERIC
from governance.errors import InvalidInputError
from governance.evidence import explanations
from governance.evidence.explanations import (AGNOSTIC_ROWS, FEATURES_MISMATCH, PROXY_ASSOCIATION, PROXY_TOP,
                                              UNKNOWN_ROW, choose_explainer, explain_row, explain_version,
                                              explanation_values, load_version, prepare, shap_values)
from governance.evidence.model_registry import register_model
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, copy_workspace

DEMO_VERSIONS = (("adult-income", "v1", "linear", "log_odds"), ("adult-income", "v2", "tree", "log_odds"),
                 ("german-credit", "v1", "tree", "probability"))
ROWS = 1_000


@pytest.fixture(scope="module")
def explained(demo_workspace, tmp_path_factory):
    """A private copy of the demo with a 1,000-row global explanation of each demo version already stored."""
    path = tmp_path_factory.mktemp("explained") / "demo.duckdb"
    copy_workspace(demo_workspace, path)
    with GovernanceStore(path) as store:
        summaries = {(m, v): explain_version(store, model=m, version=v, rows=ROWS, actor=LEADER) for m, v, _, _ in DEMO_VERSIONS}
    return path, summaries


def _frame(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])
    y = ((x.a + x.b * x.c - 0.5 * x.d + rng.normal(scale=0.5, size=rows)) > 0).astype(int)
    return x, y


# --- linear: coef x (x - mean(background)), exactly -------------------------------------------------------------
@pytest.mark.parametrize("wrapping", ["bare", "passthrough", "standard scaler"])
def test_linear_shap_values_are_coef_times_the_distance_from_the_background_mean(wrapping):
    x, y = _frame()
    x = x[["a", "b", "c"]] * [1.0, 3.0, 0.2] + [0.0, 5.0, -1.0]
    if wrapping == "bare":
        model = LogisticRegression().fit(x, y)
        classifier, z = model, x.to_numpy()
    else:
        step = "passthrough" if wrapping == "passthrough" else StandardScaler()
        model = Pipeline([("encode", ColumnTransformer([("numeric", step, ["a", "b", "c"])])),
                          ("classify", LogisticRegression())]).fit(x, y)
        classifier = model[-1]
        scaler = model[0].named_transformers_["numeric"]
        z = x.to_numpy() if wrapping == "passthrough" else (x.to_numpy() - scaler.mean_) / scaler.scale_
    prepared = prepare(model)
    assert prepared.features == ["a", "b", "c"] and choose_explainer(prepared.classifier) == "linear"
    encoded = prepared.encode(x)
    background = encoded[200:]
    values, base = shap_values(prepared, encoded[:60], kind="linear", background=background)

    coef, intercept = classifier.coef_[0], classifier.intercept_[0]
    mean = z[200:].mean(axis=0)
    np.testing.assert_allclose(values, coef * (z[:60] - mean), rtol=0, atol=1e-10)
    assert base == pytest.approx(intercept + coef @ mean, abs=1e-10)
    log_odds = intercept + z[:60] @ coef
    np.testing.assert_allclose(base + values.sum(axis=1), log_odds, rtol=0, atol=1e-10)


# --- trees: brute-force Shapley values over all 2^4 coalitions ----------------------------------------------------
def _path_expectation(tree, x: np.ndarray, coalition: frozenset, leaf_value) -> float:
    """E[f(x) | x_S] as tree-path-dependent SHAP defines it: features outside S follow the training cover."""
    t = tree.tree_

    def walk(node: int) -> float:
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            return leaf_value(t.value[node])
        if t.feature[node] in coalition:
            return walk(left if np.float32(x[t.feature[node]]) <= t.threshold[node] else right)
        cover = t.weighted_n_node_samples
        return (cover[left] * walk(left) + cover[right] * walk(right)) / cover[node]

    return walk(0)


def _brute_force_shapley(value, n: int) -> tuple[np.ndarray, float]:
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                phi[i] += weight * (value(s | {i}) - value(s))
    return phi, value(frozenset())


def _class_one(value: np.ndarray) -> float:
    return float(value[0, 1] / value[0].sum())


TREE_MODELS = {
    "decision tree": (lambda: DecisionTreeClassifier(max_depth=5, random_state=0), "probability",
                      lambda m, x, s: _path_expectation(m, x, s, _class_one)),
    "random forest": (lambda: RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0), "probability",
                      lambda m, x, s: np.mean([_path_expectation(t, x, s, _class_one) for t in m.estimators_])),
    # Boosting adds log-odds: the prior's log-odds plus the learning rate times each regression tree's output.
    "gradient boosting": (lambda: GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), "log_odds",
                          lambda m, x, s: float(np.log(m.init_.class_prior_[1] / m.init_.class_prior_[0]))
                          + m.learning_rate * sum(_path_expectation(t[0], x, s, lambda v: float(v[0, 0]))
                                                  for t in m.estimators_)),
}


@pytest.mark.parametrize("name", TREE_MODELS)
def test_tree_shap_values_equal_brute_force_path_dependent_shapley_values(name):
    make, units, expectation = TREE_MODELS[name]
    x, y = _frame()
    model = make().fit(x, y)
    prepared = prepare(model)
    assert choose_explainer(prepared.classifier) == "tree"
    assert explanations.output_units(prepared, "tree") == units
    encoded = prepared.encode(x.iloc[:12])
    values, base = shap_values(prepared, encoded, kind="tree", background=encoded)
    for row in range(len(encoded)):
        phi, empty = _brute_force_shapley(lambda s: expectation(model, encoded[row], s), 4)
        np.testing.assert_allclose(values[row], phi, rtol=0, atol=1e-9)
        assert base == pytest.approx(empty, abs=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # numpy rows into a model fitted on a DataFrame
        output = explanations.model_output(prepared, encoded, units=units)
    expected = model.decision_function(x.iloc[:12]) if units == "log_odds" else model.predict_proba(x.iloc[:12])[:, 1]
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base + values.sum(axis=1), output, rtol=0, atol=1e-9)


def test_the_brute_force_agrees_with_shap_on_the_interventional_definition():
    """The harness above, on the other definition: v(S) = mean over background rows of f(x_S, b_rest)."""
    x, y = _frame()
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, y)
    background, rows = x.iloc[:20], x.iloc[100:105]
    expected = shap.TreeExplainer(model, background, feature_perturbation="interventional").shap_values(rows)[..., 1]
    for r in range(len(rows)):
        def value(s, r=r):
            mixed = background.copy()
            for f in s:
                mixed.iloc[:, f] = rows.iloc[r, f]
            return float(model.predict_proba(mixed)[:, 1].mean())
        phi, _ = _brute_force_shapley(value, 4)
        # shap's interventional tree algorithm accumulates in float32 (relative error ~5e-7 here): 1e-6, not 1e-9.
        np.testing.assert_allclose(expected[r], phi, rtol=0, atol=1e-6)


# --- one-hot grouping ---------------------------------------------------------------------------------------------
def test_one_hot_columns_sum_back_to_their_input_on_the_demo_pipeline(explained):
    path, _ = explained
    with GovernanceStore(path) as store:
        prepared, _ = load_version(store, model="adult-income", version="v1")
        frame = explanations.evaluation_frame(store, model="adult-income", version="v1", limit=400)
    assert prepared.features == list(prepared.pipeline.feature_names_in_) == ADULT_NUMERIC + ADULT_CATEGORICAL
    names = list(prepared.encoder.get_feature_names_out())
    assert len(prepared.encoded_features) == len(names) == prepared.encode(frame.iloc[:1]).shape[1]
    for name, source in zip(names, prepared.encoded_features):
        assert name.split("__", 1)[1].startswith(source), (name, source)

    encoded = prepared.encode(frame)
    values, _ = shap_values(prepared, encoded[100:], kind="linear", background=encoded[:100])
    grouping = prepared.grouping()
    grouped = values @ grouping
    assert grouping.shape == (len(names), len(prepared.features)) and np.all(grouping.sum(axis=1) == 1)
    np.testing.assert_allclose(grouped.sum(axis=1), values.sum(axis=1), rtol=0, atol=1e-10)
    occupation = [i for i, n in enumerate(names) if n.startswith("categorical__occupation_")]
    assert len(occupation) > 5
    np.testing.assert_allclose(grouped[:, prepared.features.index("occupation")], values[:, occupation].sum(axis=1),
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(grouped[:, prepared.features.index("age")], values[:, names.index("numeric__age")])


def test_grouping_follows_dropped_categories_and_the_remainder():
    frame = pd.DataFrame({"colour": ["red", "blue", "green", "red"] * 10, "owner": ["yes", "no"] * 20,
                          "size": np.arange(40.0), "weight": np.arange(40.0) % 7})
    y = (frame["size"] % 3 == 0).astype(int)
    model = Pipeline([("encode", ColumnTransformer([
        ("categorical", OneHotEncoder(drop="if_binary", sparse_output=False), ["colour", "owner"])],
        remainder="passthrough")), ("classify", LogisticRegression())]).fit(frame, y)
    prepared = prepare(model)
    assert prepared.encoded_features == ["colour"] * 3 + ["owner"] + ["size", "weight"]
    assert prepared.encode(frame).shape[1] == len(prepared.encoded_features)


# --- the demo's three models --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,version,kind,units", DEMO_VERSIONS)
def test_demo_explanations_add_up_to_the_model_output(explained, model, version, kind, units):
    path, summaries = explained
    summary = summaries[(model, version)]
    assert (summary["explainer"], summary["output_units"], summary["estimate"]) == (kind, units, False)
    assert summary["additivity_max_error"] < 1e-6
    assert summary["rows_explained"] == min(ROWS, summary["rows_available"])
    with GovernanceStore(path) as store:
        row_id = explanations.near_threshold_rejection(store, model=model, version=version)
        local = explain_row(store, model=model, version=version, row_id=row_id)
        score = store.query_value("SELECT score FROM evaluation_row WHERE model = ? AND version = ? AND row_id = ?",
                                  [model, version, row_id])
        stored = store.query("SELECT r.row_id, r.output, sum(v.shap) AS total FROM explanation_row r "
                             "JOIN explanation_value v USING (explanation_id, row_id) WHERE r.explanation_id = ? "
                             "GROUP BY ALL", [summary["explanation_id"]])
    assert local["additivity_error"] < 1e-6
    total = local["base_value"] + sum(c["shap"] for c in local["contributions"])
    assert total == pytest.approx(local["output"], abs=1e-6)
    # The output is in the stated units: the registered score is its probability.
    probability = 1 / (1 + np.exp(-local["output"])) if units == "log_odds" else local["output"]
    assert probability == pytest.approx(score, abs=1e-9) and local["probability"] == pytest.approx(score, abs=1e-9)
    assert local["prediction"] == 0 and score < 0.5
    # The stored, grouped values still add up, row by row.
    assert len(stored) == summary["rows_explained"]
    np.testing.assert_allclose(summary["base_value"] + stored["total"], stored["output"], rtol=0, atol=1e-6)


def test_stored_tree_values_are_the_local_explanation_of_the_same_row(explained):
    """The exact tree explainer needs no background, so a row's stored values and its waterfall are the same."""
    path, summaries = explained
    summary = summaries[("adult-income", "v2")]
    with GovernanceStore(path) as store:
        values = explanation_values(store, explanation_id=summary["explanation_id"], max_rows=200)
        row_id = int(values["row_id"].iloc[0])
        local = explain_row(store, model="adult-income", version="v2", row_id=row_id)
        explained_rows = set(store.query("SELECT row_id FROM explanation_row WHERE explanation_id = ?",
                                         [summary["explanation_id"]])["row_id"])
    assert values["row_id"].nunique() == 200 and set(values["row_id"]) <= explained_rows
    assert values.groupby("row_id").size().eq(len(summary["global"])).all()
    stored = values[values["row_id"] == row_id].set_index("feature")["shap"]
    for c in local["contributions"]:
        assert stored[c["feature"]] == pytest.approx(c["shap"], abs=1e-9)
    assert local["base_value"] == pytest.approx(summary["base_value"], abs=1e-12)


def test_a_stored_explanation_is_reused_and_other_settings_make_a_new_one(explained):
    path, summaries = explained
    first = summaries[("adult-income", "v2")]
    with GovernanceStore(path) as store:
        count = store.query_value("SELECT count(*) FROM explanation")
        again = explain_version(store, model="adult-income", version="v2", rows=ROWS, actor=LEADER)
        assert store.query_value("SELECT count(*) FROM explanation") == count
        other = explain_version(store, model="adult-income", version="v2", rows=500, actor=LEADER)
        assert store.query_value("SELECT count(*) FROM explanation") == count + 1
        assert explain_version(store, model="adult-income", version="v2", rows=500, actor=LEADER)["explanation_id"] \
            == other["explanation_id"]
    assert again == first      # same id, same timing, same computed_at: read back, not recomputed
    assert other["explanation_id"] != first["explanation_id"] and other["rows_explained"] == 500


def test_a_model_whose_inputs_are_not_in_the_data_is_refused(demo_copy):
    with GovernanceStore(demo_copy) as store:
        before = store.query_value("SELECT count(*) FROM explanation")
        german = store.query_rows("SELECT content, sha256 FROM model_artifact WHERE model = 'german-credit'")[0]
        with store.write() as tx:   # an artifact that does not belong to these rows
            tx.execute("UPDATE model_artifact SET content = ?, sha256 = ? WHERE model = 'adult-income' "
                       "AND version = 'v1'", list(german))
        with pytest.raises(InvalidInputError) as refused:
            explain_version(store, model="adult-income", version="v1", rows=200, actor=LEADER)
        assert store.query_value("SELECT count(*) FROM explanation") == before
    prepared = prepare(sio.loads(german[0], trusted=sio.get_untrusted_types(data=german[0])))
    assert str(refused.value).startswith(FEATURES_MISMATCH.split("{missing}")[0].format(
        expected=", ".join(prepared.features)))
    assert "checking_status" in str(refused.value)


def test_an_unknown_row_is_refused_with_the_range(explained):
    path, _ = explained
    with GovernanceStore(path) as store, pytest.raises(InvalidInputError) as refused:
        explain_row(store, model="german-credit", version="v1", row_id=999_999)
    assert str(refused.value) == UNKNOWN_ROW.format(row_id=999_999, model="german-credit", version="v1", last=299)


# --- explainer choice ---------------------------------------------------------------------------------------------
def test_the_explainer_follows_the_model():
    x, y = _frame(200)
    coded = x.assign(a=(x.a > 0).astype(int) + 2 * (x.b > 0).astype(int))
    native = HistGradientBoostingClassifier(categorical_features=["a"], max_iter=5).fit(coded, y)
    ordinal = HistGradientBoostingClassifier(max_iter=5).fit(coded, y)
    assert choose_explainer(native) == "permutation"      # shap's tree explainer would misread categorical splits
    assert choose_explainer(ordinal) == "tree"
    assert choose_explainer(KNeighborsClassifier(3).fit(x, y)) == "permutation"
    assert choose_explainer(CalibratedClassifierCV(LinearSVC(), ensemble=False).fit(x, y)) == "permutation"
    assert choose_explainer(LogisticRegression().fit(x, y)) == "linear"
    assert choose_explainer(RandomForestClassifier(n_estimators=3).fit(x, y)) == "tree"
    assert explanations.output_units(prepare(native), "permutation") == "probability"


def test_a_native_categorical_model_is_explained_as_a_labelled_estimate(tmp_path, monkeypatch):
    """End to end on a registered model. Each permutation row costs ~70 model calls, so the samples are shrunk, and
    OpenMP is held to one thread: on a busy 2-core machine its spinning threads make each call ~30x slower."""
    monkeypatch.setattr(explanations, "AGNOSTIC_ROWS", 8)
    monkeypatch.setattr(explanations, "AGNOSTIC_STABILITY_ROWS", 4)
    monkeypatch.setattr(explanations, "STABILITY_SAMPLES", 2)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"colour": rng.integers(0, 4, 400), "x": rng.normal(size=400), "z": rng.normal(size=400)})
    y = ((frame.colour % 2 == 0) ^ (frame.x > 0)).astype(int)
    model = Pipeline([("encode", ColumnTransformer([("inputs", "passthrough", ["colour", "x", "z"])])),
                      ("classify", HistGradientBoostingClassifier(categorical_features=[0], max_iter=5,
                                                                  random_state=0))]).fit(frame, y)
    evaluation = frame.assign(y_true=y, sex=np.where(rng.random(400) < 0.5, "female", "male"))
    with GovernanceStore(tmp_path / "ws.duckdb") as store, threadpool_limits(1):
        register_model(store, model="native", version="v1", content=sio.dumps(model), file_name="native.skops",
                       actor=LEADER, evaluation=evaluation.to_csv(index=False).encode(),
                       evaluation_name="eval.csv", sensitive=["sex"])
        summary = explain_version(store, model="native", version="v1", rows=300, actor=LEADER)
        local = explain_row(store, model="native", version="v1", row_id=7)
    assert (summary["explainer"], summary["estimate"], summary["output_units"]) == ("permutation", True, "probability")
    assert summary["rows_explained"] == 8 <= AGNOSTIC_ROWS and "estimate" in summary["explainer_settings"]
    assert summary["additivity_max_error"] < 1e-6 and local["additivity_error"] < 1e-6
    assert local["probability"] == pytest.approx(model.predict_proba(frame.iloc[[7]])[0, 1], abs=1e-9)
    assert [g["feature"] for g in summary["global"]][0] in ("colour", "x")


# --- cohorts and proxies ------------------------------------------------------------------------------------------
def test_cohort_associations_and_proxy_flags_on_adult(explained):
    path, summaries = explained
    summary = summaries[("adult-income", "v1")]
    with GovernanceStore(path) as store:
        ids = store.query("SELECT row_id FROM explanation_row WHERE explanation_id = ?",
                          [summary["explanation_id"]])["row_id"].tolist()
        sample = explanations.evaluation_frame(store, model="adult-income", version="v1", row_ids=ids)
    assert len(sample) == ROWS
    cohorts = {c["attribute"]: c for c in summary["cohorts"]}
    assert set(cohorts) == {"sex", "race", "age_band"}
    by_feature = {f["feature"]: f for f in cohorts["sex"]["features"]}

    cramer = association(pd.crosstab(sample["relationship"], sample["sensitive:sex"]).to_numpy(), method="cramer")
    assert by_feature["relationship"]["association"] == pytest.approx(cramer, abs=1e-9)
    assert cramer > PROXY_ASSOCIATION
    # The correlation ratio of a numeric input, from one-way ANOVA's F: eta^2 = F(k-1) / (F(k-1) + n - k).
    groups = [g["hours_per_week"].to_numpy(float) for _, g in sample.groupby("sensitive:sex")]
    f_stat = f_oneway(*groups).statistic
    eta = np.sqrt(f_stat * (len(groups) - 1) / (f_stat * (len(groups) - 1) + len(sample) - len(groups)))
    assert by_feature["hours_per_week"]["association"] == pytest.approx(eta, abs=1e-9)
    assert cohorts["sex"]["sizes"] == sample["sensitive:sex"].value_counts().to_dict()

    top = {g["feature"] for g in summary["global"][:PROXY_TOP]}
    flagged = 0
    for cohort in cohorts.values():
        for f in cohort["features"]:
            rule = f["association"] is not None and f["association"] >= PROXY_ASSOCIATION and f["feature"] in top
            assert f["proxy"] == rule, (cohort["attribute"], f)
            flagged += f["proxy"]
    assert flagged >= 1


# --- the narrative ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,version,kind,units", DEMO_VERSIONS)
def test_the_narrative_names_the_largest_contributions_in_the_right_direction(explained, model, version, kind,
                                                                              units):
    path, _ = explained
    with GovernanceStore(path) as store:
        row_id = explanations.near_threshold_rejection(store, model=model, version=version)
        local = explain_row(store, model=model, version=version, row_id=row_id)
        content = store.query_value("SELECT content FROM model_artifact WHERE model = ? AND version = ?",
                                    [model, version])
        row = explanations.evaluation_frame(store, model=model, version=version, row_ids=[row_id])
    text = local["narrative"]
    unit = " log-odds" if units == "log_odds" else ""
    assert ("log-odds" in text) == (units == "log_odds")

    up = sorted((c for c in local["contributions"] if c["shap"] > 0), key=lambda c: -c["shap"])[:3]
    down = sorted((c for c in local["contributions"] if c["shap"] < 0), key=lambda c: c["shap"])[:3]
    assert up and down
    first_up = f"{up[0]['feature'].replace('_', ' ')} ({up[0]['value']}) raised the score by {up[0]['shap']:.2f}{unit}"
    first_down = (f"{down[0]['feature'].replace('_', ' ')} ({down[0]['value']}) lowered it by "
                  f"{-down[0]['shap']:.2f}{unit}")
    assert first_up in text and first_down in text, text
    positions = [text.index(f"{c['feature'].replace('_', ' ')} ({c['value']})") for c in up]
    assert positions == sorted(positions)
    assert text.index(first_up) < text.index(first_down)

    estimator = sio.loads(content, trusted=sio.get_untrusted_types(data=content))
    probability = estimator.predict_proba(row[estimator.feature_names_in_])[0, 1]
    printed = re.search(r"scored this applicant (\d+\.(\d+))", text)
    assert printed.group(1) == f"{probability:.{len(printed.group(2))}f}"
    assert float(printed.group(1)) < 0.5 and "(decline;" in text


# --- issue 21: the average applicant, the background by rule, the magnitudes' stability ---------------------------
@pytest.mark.parametrize("model,version,kind,units", DEMO_VERSIONS)
def test_the_narrative_gives_the_mean_predicted_probability_and_names_the_base_value(explained, model, version, kind,
                                                                                    units):
    path, summaries = explained
    with GovernanceStore(path) as store:
        row_id = explanations.near_threshold_rejection(store, model=model, version=version)
        local = explain_row(store, model=model, version=version, row_id=row_id)
        content = store.query_value("SELECT content FROM model_artifact WHERE model = ? AND version = ?",
                                    [model, version])
        frame = explanations.evaluation_frame(store, model=model, version=version)
    estimator = sio.loads(content, trusted=sio.get_untrusted_types(data=content))
    mean = float(np.mean(estimator.predict_proba(frame[list(estimator.feature_names_in_)])[:, 1]))
    assert local["average_probability"] == pytest.approx(mean, abs=1e-9)
    assert summaries[(model, version)]["average_probability"] == pytest.approx(mean, abs=1e-9)
    assert f"average a predicted probability of {mean:.2f}." in local["narrative"]
    assert f"start from the base value {local['base_value']:.2f}" in local["narrative"]
    assert local["base_value_meaning"] in local["narrative"]
    if units == "log_odds":   # the probability of the base value is printed as what it is, not as the average
        assert f"as a probability {1 / (1 + math.exp(-local['base_value'])):.2f}, which is not the average" in \
            local["narrative"]


def test_the_linear_background_is_the_whole_evaluation_set(explained):
    """adult-income v1: the base value is the model's log-odds at the mean of all evaluation rows, and each
    importance is mean |coef x (x - that mean)| summed over an input's columns (numpy, not shap)."""
    path, summaries = explained
    summary = summaries[("adult-income", "v1")]
    with GovernanceStore(path) as store:
        prepared, _ = load_version(store, model="adult-income", version="v1")
        frame = explanations.evaluation_frame(store, model="adult-income", version="v1")
        explained_ids = store.query("SELECT row_id FROM explanation_row WHERE explanation_id = ?",
                                    [summary["explanation_id"]])["row_id"].to_numpy()
    encoded = prepared.encode(frame)
    assert summary["background_rows"] == len(frame) == 15_060
    mean = encoded.mean(axis=0)
    coef = prepared.classifier.coef_[0]
    assert summary["base_value"] == pytest.approx(float(coef @ mean + prepared.classifier.intercept_[0]), abs=1e-9)
    rows = encoded[np.isin(frame["row_id"].to_numpy(), explained_ids)]
    importance = np.abs(((rows - mean) * coef) @ prepared.grouping()).mean(axis=0)
    for g in summary["global"]:
        assert g["mean_abs_shap"] == pytest.approx(importance[prepared.features.index(g["feature"])], rel=1e-9)


def _heavy_tailed_linear(seed: int = 0):
    """A logistic model whose 'gain' is 0 for 95% of rows and huge for the rest, like Adult's capital_gain."""
    rng = np.random.default_rng(seed)
    n = 20_000
    x = pd.DataFrame({"gain": np.where(rng.random(n) < 0.05, rng.pareto(3.0, n) * 5_000, 0.0),
                      "age": rng.normal(40, 12, n), "hours": rng.normal(40, 10, n)})
    y = ((x["age"] - 40) / 12 + (x["gain"] > 0) * 2 + rng.normal(size=n) > 0.5).astype(int)
    return prepare(LogisticRegression(max_iter=2000).fit(x, y)), x


def test_the_magnitude_check_measures_the_relative_change_under_background_resamples():
    """_stability's reported changes against an independent numpy recomputation with the same resamples; a heavy
    tail against a 100-row background moves the magnitudes beyond the tolerance, the whole set does not."""
    prepared, x = _heavy_tailed_linear()
    encoded = prepared.encode(x)
    for background_rows, expect_stable in ((100, False), (len(x), True)):
        background = encoded[:background_rows]
        values, _ = shap_values(prepared, encoded[:1_000], kind="linear", background=background)
        grouped = values @ prepared.grouping()
        result = explanations._stability(prepared, x, grouped, kind="linear", rng=np.random.default_rng(7),
                                         encoded=encoded[:1_000], background=background)["magnitudes"]
        rng = np.random.default_rng(7)   # the same draws, in the same order, recomputed by hand
        chosen = np.sort(rng.choice(1_000, size=min(explanations.STABILITY_ROWS, 1_000), replace=False))
        coef = prepared.classifier.coef_[0]
        reference = np.abs((encoded[chosen] - background.mean(axis=0)) * coef).mean(axis=0)
        worst = np.zeros(3)
        for _ in range(explanations.STABILITY_SAMPLES):
            resample = background[rng.integers(0, len(background), len(background))]
            other = np.abs((encoded[chosen] - resample.mean(axis=0)) * coef).mean(axis=0)
            worst = np.maximum(worst, np.abs(other - reference) / reference)
        for f in result["features"]:
            assert f["max_relative_change"] == pytest.approx(worst[prepared.features.index(f["feature"])], rel=1e-6)
        assert result["max_relative_change"] == pytest.approx(worst.max(), rel=1e-6)
        assert result["stable"] is expect_stable
        assert result["stable"] == (worst.max() <= explanations.MAGNITUDE_TOLERANCE)


def test_the_demo_checks_report_the_magnitudes(explained):
    _, summaries = explained
    for (model, version), summary in summaries.items():
        magnitudes = summary["stability"]["magnitudes"]
        assert len(magnitudes["features"]) == explanations.MAGNITUDE_TOP
        assert [f["feature"] for f in magnitudes["features"]] == [g["feature"] for g in summary["global"][:5]]
        changes = [f["max_relative_change"] for f in magnitudes["features"]]
        assert magnitudes["max_relative_change"] == max(changes)
        assert magnitudes["stable"] == (max(changes) <= 0.10)
        assert "moved by at most" in explanations.global_narrative(summary)
