"""Data drift: PSI, KS and chi-square checked against independent numpy and scipy computations on a small
hand-made workspace; the demo's drift episode found where it was scripted and nowhere else; thresholds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from governance.access.identity import PermissionDeniedError, User
from tests.conftest import LEADER, VIEWER

ADA = User("ada", "Ada", "admin")

from governance.demo import DRIFT_FULL_DAY, DRIFT_START_DAY, START
from governance.errors import InvalidInputError
from governance.monitoring import drift
from governance.monitoring.drift import (DriftThresholds, chi2_from_counts, drift_report, drift_threshold_history,
                                         drift_thresholds, ks_from_counts, set_drift_thresholds)
from governance.monitoring.kpis import Window
from governance.record.store import GovernanceStore

DAY0 = pd.Timestamp("2026-03-02")      # a Monday: periods of week grain start on Mondays
DAYS = 14
WINDOW = Window(DAY0, DAY0 + pd.Timedelta(days=DAYS))
CATEGORIES = ["red", "green", "blue", "grey"]


# --- a small hand-made workspace ------------------------------------------------------------------------

def _reference_rows(rng, n=400) -> pd.DataFrame:
    return pd.DataFrame({
        "age": rng.integers(18, 70, n),
        "income": np.round(rng.gamma(2.0, 20.0, n), 1),      # continuous: many distinct values
        "colour": rng.choice(CATEGORIES, n, p=[0.4, 0.3, 0.2, 0.1]),
        "score": rng.beta(2, 5, n),
    })


def _inputs(rng, n=300) -> pd.DataFrame:
    """Distinct inputs: half like the reference, half shifted (older, richer, other colours, some unseen)."""
    shifted = np.arange(n) >= n // 2
    age = np.where(shifted, rng.integers(35, 90, n), rng.integers(18, 70, n)).astype(float)
    income = np.round(np.where(shifted, rng.gamma(2.0, 30.0, n), rng.gamma(2.0, 20.0, n)), 1)
    colour = np.where(shifted, rng.choice(["blue", "grey", "violet"], n),
                      rng.choice(CATEGORIES, n, p=[0.4, 0.3, 0.2, 0.1])).astype(object)
    age[[5, 200]] = np.nan          # missing numbers (JSON null) ...
    colour[[7, 210]] = None         # ... and a missing category
    return pd.DataFrame({"input_id": np.arange(n, dtype=np.int64), "shifted": shifted, "age": age,
                         "income": income, "colour": colour})


def _feature_json(row) -> str:
    value = {"age": None if np.isnan(row.age) else int(row.age), "income": float(row.income),
             "colour": row.colour}
    if row.input_id == 11:
        del value["income"]          # a key that is absent altogether counts as missing too
    return json.dumps(value)


def _telemetry(rng, inputs: pd.DataFrame, n=6_000) -> pd.DataFrame:
    """Two weeks; the second week draws mostly from the shifted inputs. Scores follow the input."""
    seconds = np.sort(rng.integers(0, DAYS * 86_400, n))
    second_week = seconds >= 7 * 86_400
    plain = inputs.index[~inputs["shifted"]].to_numpy()
    moved = inputs.index[inputs["shifted"]].to_numpy()
    pick = np.where(second_week & (rng.random(n) < 0.7), rng.choice(moved, n), rng.choice(plain, n))
    score = np.clip(inputs["age"].fillna(40).to_numpy()[pick] / 100 + rng.normal(0, 0.05, n), 0, 1).round(3)
    is_error = rng.random(n) < 0.02
    label = np.where(rng.random(n) < 0.8, (rng.random(n) < 0.3).astype(float), np.nan)
    label[seconds >= (DAYS - 2) * 86_400] = np.nan        # the last two days have no labels yet
    return pd.DataFrame({
        "ts": DAY0 + pd.to_timedelta(seconds, unit="s"), "model": "m", "version": "v1", "segment": "web",
        "input_id": inputs["input_id"].to_numpy()[pick], "is_error": is_error,
        "prediction": pd.array(np.where(is_error, np.nan, (score >= 0.5).astype(float)), dtype="Int8"),
        "score": np.where(is_error, np.nan, score),
        "label": pd.array(np.where(is_error, np.nan, label), dtype="Int8"),
        "latency_ms": 10.0, "cpu_pct": 10.0, "memory_mb": 100.0, "cost_usd": 0.001,
        "approved_volume_usd": 0.0, "expected_value_usd": 0.0})


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    rng = np.random.default_rng(7)
    reference = _reference_rows(rng)
    inputs = _inputs(rng)
    telemetry = _telemetry(rng, inputs)
    store = GovernanceStore(tmp_path_factory.mktemp("drift") / "x.duckdb")
    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        tx.execute("INSERT INTO model VALUES ('other', 'p', 'u', 'o', 'high', NULL, now())")
        tx.execute("INSERT INTO model_version VALUES ('m', 'v1', 'logistic_regression', 't', now(), "
                   "'production', '{}')")
        tx.insert_frame("evaluation_row", pd.DataFrame({
            "model": "m", "version": "v1", "row_id": np.arange(len(reference), dtype=np.int32),
            "features": [json.dumps({"age": int(r.age), "income": float(r.income), "colour": r.colour})
                         for r in reference.itertuples()],
            "sensitive": "{}", "y_true": np.int8(0), "y_pred": np.int8(0), "score": reference["score"]}))
        tx.insert_frame("telemetry_input", pd.DataFrame({
            "model": "m", "input_id": inputs["input_id"], "source": "test",
            "features": [_feature_json(r) for r in inputs.itertuples()]}))
        tx.insert_frame("telemetry", telemetry)
    # the rows as the test sees them: every telemetry row with its input's features
    rows = telemetry.merge(inputs, on="input_id", how="left")
    rows.loc[rows["input_id"] == 11, "income"] = np.nan
    yield store, reference, rows
    store.close()


# --- independent computations -----------------------------------------------------------------------

def _numpy_edges(values: np.ndarray) -> np.ndarray:
    return np.unique(np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf"))


def _numpy_psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    r = np.where(r == 0, 1e-4, r)
    c = np.where(c == 0, 1e-4, c)
    return float(np.sum((c - r) * np.log(c / r)))


def _numeric_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin counts by the documented rule, with numpy.digitize (right-closed), a missing bin when needed."""
    edges = _numpy_edges(ref)
    bins = len(edges) + 1
    ref_counts = np.bincount(np.digitize(ref, edges, right=True), minlength=bins).astype(float)
    present = cur[~np.isnan(cur)]
    cur_counts = np.bincount(np.digitize(present, edges, right=True), minlength=bins).astype(float)
    if np.isnan(cur).any():
        ref_counts = np.append(ref_counts, 0.0)
        cur_counts = np.append(cur_counts, np.isnan(cur).sum())
    return ref_counts, cur_counts


def _categorical_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    order = ref.value_counts().sort_index().sort_values(ascending=False, kind="stable").index.tolist()
    ref_counts = np.array([(ref == c).sum() for c in order] + [0], dtype=float)
    cur_counts = np.array([(cur == c).sum() for c in order] + [(~cur.isin(order)).sum()], dtype=float)
    return ref_counts, cur_counts


def _weeks(rows: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    return [(DAY0 + pd.Timedelta(days=7 * w), rows[(rows["ts"] >= DAY0 + pd.Timedelta(days=7 * w))
                                                  & (rows["ts"] < DAY0 + pd.Timedelta(days=7 * (w + 1)))])
            for w in range(2)]


def _cell(report, feature: str, period: pd.Timestamp) -> dict:
    periods = report.periods
    row = periods[(periods["feature"] == feature) & (periods["period"] == period)]
    assert len(row) == 1
    return row.iloc[0].to_dict()


# --- PSI, KS and chi-square against numpy and scipy ------------------------------------------------------

def test_psi_matches_numpy_per_week_and_window(small):
    store, reference, rows = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    assert report.feature_names == ["age", "income", "colour", drift.SCORE_FEATURE]
    scored = rows[~rows["is_error"]]
    cases = {
        "age": lambda frame: _numeric_counts(reference["age"].to_numpy(float), frame["age"].to_numpy(float)),
        "income": lambda frame: _numeric_counts(reference["income"].to_numpy(), frame["income"].to_numpy()),
        "colour": lambda frame: _categorical_counts(reference["colour"], frame["colour"]),
    }
    for feature, counts in cases.items():
        expected = _numpy_psi(*counts(rows))
        assert report.feature(feature)["window_psi"] == pytest.approx(expected, rel=1e-9), feature
        for period, frame in _weeks(rows):
            assert _cell(report, feature, period)["psi"] == pytest.approx(_numpy_psi(*counts(frame)), rel=1e-9)
            assert _cell(report, feature, period)["n"] == len(frame)
    expected = _numpy_psi(*_numeric_counts(reference["score"].to_numpy(), scored["score"].to_numpy()))
    assert report.feature(drift.SCORE_FEATURE)["window_psi"] == pytest.approx(expected, rel=1e-9)
    for period, frame in _weeks(scored):
        counts = _numeric_counts(reference["score"].to_numpy(), frame["score"].to_numpy())
        assert _cell(report, drift.SCORE_FEATURE, period)["psi"] == pytest.approx(_numpy_psi(*counts), rel=1e-9)


def test_distributions_show_bins_and_shares(small):
    store, reference, rows = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    colour = report.distribution("colour")
    assert list(colour["bin_label"]) == ["red", "green", "blue", "grey", drift.OTHER_BIN]
    assert list(colour["reference_count"]) == [(reference["colour"] == c).sum() for c in CATEGORIES] + [0]
    unseen = (rows["colour"] == "violet").sum() + rows["colour"].isna().sum()
    assert colour["current_count"].iloc[-1] == unseen
    assert colour["current_share"].sum() == pytest.approx(1.0)
    age = report.distribution("age")
    edges = _numpy_edges(reference["age"].to_numpy(float))
    assert list(age["bin_label"])[0] == f"<= {edges[0]:g}" and list(age["bin_label"])[-2] == f"> {edges[-1]:g}"
    assert age["bin_label"].iloc[-1] == drift.MISSING_BIN
    assert age["current_count"].iloc[-1] == rows["age"].isna().sum()
    assert age["reference_share"].sum() == pytest.approx(1.0)


def test_ks_matches_scipy_on_the_same_data(small):
    store, reference, rows = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    scored = rows[~rows["is_error"]]
    for feature, ref, cur in (("age", reference["age"], rows["age"]), ("income", reference["income"], rows["income"]),
                              (drift.SCORE_FEATURE, reference["score"], scored["score"])):
        ref, cur = ref.dropna().to_numpy(float), cur.dropna().to_numpy(float)
        expected = stats.ks_2samp(ref, cur, method="asymp")
        row = report.feature(feature)
        assert row["test"] == "ks"
        assert row["window_statistic"] == pytest.approx(expected.statistic, abs=1e-12), feature
        en = len(ref) * len(cur) / (len(ref) + len(cur))
        assert row["window_p_value"] == pytest.approx(special.kolmogorov(np.sqrt(en) * expected.statistic), rel=1e-9)
        assert row["window_p_value"] == pytest.approx(expected.pvalue, abs=0.3 / np.sqrt(en))
    for period, frame in _weeks(rows):               # per week: age has few values, so it is tested per period
        cur = frame["age"].dropna().to_numpy(float)
        expected = stats.ks_2samp(reference["age"].to_numpy(float), cur, method="asymp")
        cell = _cell(report, "age", period)
        assert cell["statistic"] == pytest.approx(expected.statistic, abs=1e-12)
        assert cell["p_value"] == pytest.approx(expected.pvalue, abs=0.3 / np.sqrt(len(cur) * 400 / (len(cur) + 400)))
        assert np.isnan(_cell(report, drift.SCORE_FEATURE, period)["statistic"])    # not computed per period


def test_chi_square_matches_scipy_on_the_same_data(small):
    store, reference, rows = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    expected = stats.chi2_contingency(np.vstack(_categorical_counts(reference["colour"], rows["colour"])))
    row = report.feature("colour")
    assert row["test"] == "chi2"
    assert row["window_statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert row["window_p_value"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert row["window_significant"] is True
    for period, frame in _weeks(rows):
        table = np.vstack(_categorical_counts(reference["colour"], frame["colour"]))
        table = table[:, table.sum(axis=0) > 0]
        expected = stats.chi2_contingency(table)
        cell = _cell(report, "colour", period)
        assert cell["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
        assert cell["p_value"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_ks_from_counts_equals_ks_2samp_on_random_samples():
    rng = np.random.default_rng(11)
    for _ in range(25):
        a = rng.integers(0, rng.integers(2, 30), rng.integers(5, 400)).astype(float)
        b = rng.integers(0, rng.integers(2, 30), rng.integers(5, 400)).astype(float) + rng.integers(0, 3)
        ref_values, ref_counts = np.unique(a, return_counts=True)
        cur_values, cur_counts = np.unique(b, return_counts=True)
        d, p = ks_from_counts(ref_values, ref_counts, cur_values, cur_counts)
        expected = stats.ks_2samp(a, b, method="asymp")
        assert d[0] == pytest.approx(expected.statistic, abs=1e-12)
        en = len(a) * len(b) / (len(a) + len(b))
        assert p[0] == pytest.approx(special.kolmogorov(np.sqrt(en) * expected.statistic), rel=1e-12)


def test_chi2_from_counts_equals_chi2_contingency():
    rng = np.random.default_rng(5)
    tables = [np.array([[30, 0, 12, 5], [20, 0, 40, 1]]),          # a bin empty on both sides
              np.array([[50, 10], [40, 30]]),                      # one degree of freedom: Yates
              np.array([[50, 10, 0], [40, 30, 0]]),
              np.array([[5, 0, 0], [7, 0, 0]])]                    # nothing to test: dof 0
    tables += [rng.integers(0, 40, (2, rng.integers(2, 8))) for _ in range(20)]
    for table in tables:
        statistic, p = chi2_from_counts(table[0], table[1][None, :])
        kept = table[:, table.sum(axis=0) > 0]
        if kept.shape[1] < 2:
            assert (statistic[0], p[0]) == (0.0, 1.0)
            continue
        expected = stats.chi2_contingency(kept)
        assert statistic[0] == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
        assert p[0] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_high_cardinality_numeric_counted_per_bin_gives_the_same_psi(small, monkeypatch):
    store, _, _ = small
    by_value = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    monkeypatch.setattr(drift, "VALUE_LIMIT", 0)          # every numeric feature takes the per-bin path
    by_bin = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    pd.testing.assert_frame_equal(by_value.features, by_bin.features)
    pd.testing.assert_series_equal(by_value.periods["psi"], by_bin.periods["psi"])
    assert by_bin.periods.loc[by_bin.periods["feature"] == "age", "statistic"].isna().all()
    assert by_value.periods.loc[by_value.periods["feature"] == "age", "statistic"].notna().all()


def test_statuses_label_coverage_and_json(small):
    store, _, rows = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    first, second = DAY0, DAY0 + pd.Timedelta(days=7)
    assert _cell(report, "age", first)["status"] == "ok"           # week one: inputs like the reference
    assert _cell(report, "age", second)["status"] in ("watch", "act")
    assert _cell(report, "colour", second)["status"] == "act"
    # label coverage per day: the last two days have no labels
    daily = drift_report(store, model="m", version="v1", current=WINDOW, grain="day")
    ok = rows[~rows["is_error"]]
    expected = ok.groupby(ok["ts"].dt.floor("D"))["label"].apply(lambda s: s.notna().mean())
    coverage = daily.label_coverage.set_index("period")["label_coverage"]
    np.testing.assert_allclose(coverage.to_numpy(), expected.reindex(coverage.index).to_numpy())
    assert list(daily.label_coverage["labels_missing"].tail(2)) == [True, True]
    assert not daily.label_coverage["labels_missing"].iloc[:-2].any()
    assert daily.label_note.startswith("labels missing for 2 of 14 periods")
    assert "showing prediction drift" in daily.label_note
    assert not daily.prediction_drift_only
    # days have ~430 rows: fewer than the PSI can be judged on
    assert set(daily.periods["status"]) == {"not judged"}
    assert daily.heatmap().notna().all().all() and daily.heatmap(judged_only=True).isna().all().all()
    assert daily.heatmap("status").shape == (4, 14)
    # only the last two days: no labels at all
    tail = drift_report(store, model="m", version="v1", current=Window(DAY0 + pd.Timedelta(days=12), WINDOW.end))
    assert tail.label_note == drift.LABELS_NONE and tail.prediction_drift_only
    text = json.dumps(report.as_dict(), allow_nan=False)
    assert json.loads(text)["features"][0]["feature"] == "age"


def test_telemetry_period_as_reference(small):
    store, _, rows = small
    report = drift_report(store, model="m", version="v1", reference=("2026-03-02", "2026-03-08"), grain="week")
    week_two = DAY0 + pd.Timedelta(days=7)
    first, second = rows[rows["ts"] < week_two], rows[rows["ts"] >= week_two]
    assert report.reference.kind == "telemetry" and report.reference.rows == len(first)
    assert report.current == Window(week_two, WINDOW.end)          # by default: the span after the reference
    expected = _numpy_psi(*_categorical_counts(first["colour"].fillna("(missing)"),
                                               second["colour"].fillna("(missing)")))
    assert report.feature("colour")["psi"] == pytest.approx(expected, rel=1e-9)
    assert report.feature("colour")["status"] == "act"


# --- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"grain": "hour"}, "grain must be one of day, week"),
    ({"model": "nope"}, "there is no model named 'nope'"),
    ({"version": "v9"}, "has no version 'v9': choose one of v1"),
    ({"reference": "production"}, 'reference must be "training"'),
    ({"reference": ("2026-03-09", "2026-03-02")}, "the reference period ends"),
    ({"reference": ("2026-04-01", "2026-04-30")}, "'m' v1 served no predictions from 2026-04-01 to 2026-04-30"),
    ({"reference": ("yesterday", "2026-03-02")}, "must be a date like"),
    ({"current": Window(pd.Timestamp("2026-05-01"), pd.Timestamp("2026-05-08"))}, "holds no telemetry"),
    ({"current": "last week"}, "current must be a Window"),
    ({"features": ["age", "height"]}, "has no feature 'height': choose from age, income, colour"),
    ({"features": []}, "features must list at least one feature name"),
    ({"features": "age"}, "features must list at least one feature name"),
])
def test_invalid_input_is_refused_with_a_message(small, kwargs, message):
    store, _, _ = small
    arguments = {"model": "m", "version": "v1", **kwargs}
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        drift_report(store, **arguments)


def test_choosing_features(small):
    store, _, _ = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, features=["colour"])
    assert report.feature_names == ["colour"]
    with pytest.raises(InvalidInputError, match="has no feature 'age'"):
        report.distribution("age")
    both = drift_report(store, model="m", version="v1", current=WINDOW, features=[drift.SCORE_FEATURE, "age"])
    assert both.feature_names == ["age", drift.SCORE_FEATURE]


def test_bad_feature_keys_are_left_out_not_put_in_sql(tmp_path):
    with GovernanceStore(tmp_path / "keys.duckdb") as store:
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('k', 'p', 'u', 'o', 'high', NULL, now())")
            tx.execute("INSERT INTO model_version VALUES ('k', 'v1', 'a', 't', now(), 'production', '{}')")
            features = json.dumps({"x": 1, "bad key'); DROP TABLE model; --": 2, "nothing": None})
            tx.insert_frame("evaluation_row", pd.DataFrame({
                "model": "k", "version": "v1", "row_id": np.arange(40, dtype=np.int32), "features": features,
                "sensitive": "{}", "y_true": np.int8(0), "y_pred": np.int8(0), "score": 0.5}))
            tx.insert_frame("telemetry_input", pd.DataFrame({"model": "k", "input_id": [0], "source": "t",
                                                             "features": [features]}))
            tx.insert_frame("telemetry", pd.DataFrame({
                "ts": [pd.Timestamp("2026-01-01 10:00")], "model": "k", "version": "v1", "segment": "s",
                "input_id": [0], "score": [0.5], "latency_ms": 1.0, "is_error": False}))
        report = drift_report(store, model="k", version="v1")
        assert report.feature_names == ["x", drift.SCORE_FEATURE]
        assert any("bad key" in note for note in report.notes)
        assert any("'nothing'" in note for note in report.notes)
        assert store.query_value("SELECT count(*) FROM model") == 1


# --- the demo: the drift episode where it was scripted, and nowhere else ------------------------------------

@pytest.fixture(scope="module")
def demo(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        yield store


def _full_weeks(report) -> pd.DataFrame:
    """Per-week cells of weeks that lie wholly inside the window (the first and last are partial)."""
    periods = report.periods
    inside = (periods["period"] >= report.current.start) & \
             (periods["period"] + pd.Timedelta(days=7) <= report.current.end)
    return periods[inside]


def test_demo_adult_drift_found_after_day_60_and_only_in_age_and_hours(demo):
    report = drift_report(demo, model="adult-income", version="v1", grain="week")
    weeks = _full_weeks(report)
    start = pd.Timestamp(START)
    drifted = weeks[weeks["period"] >= start + pd.Timedelta(days=DRIFT_FULL_DAY)]
    before = weeks[weeks["period"] + pd.Timedelta(days=7) <= start + pd.Timedelta(days=DRIFT_START_DAY)]
    assert drifted["period"].nunique() >= 2 and before["period"].nunique() >= 7
    for feature in ("age", "hours_per_week"):
        assert set(drifted.loc[drifted["feature"] == feature, "status"]) <= {"watch", "act"}, feature
        assert set(before.loc[before["feature"] == feature, "status"]) == {"ok"}, feature
    assert set(drifted.loc[drifted["feature"] == "hours_per_week", "status"]) == {"act"}
    for feature in ("education_num", "occupation", "relationship", "workclass", "marital_status",
                    "capital_gain", "capital_loss"):
        assert set(weeks.loc[weeks["feature"] == feature, "status"]) == {"ok"}, feature
        everywhere = set(report.periods.loc[report.periods["feature"] == feature, "status"])
        assert everywhere <= {"ok", "partial", "not judged"}, feature      # partial weeks are never judged
    # the KS test sees the shift too, with p far below alpha
    assert drifted.loc[drifted["feature"] == "hours_per_week", "p_value"].max() < 1e-6


def test_demo_german_credit_shows_no_drift(demo):
    report = drift_report(demo, model="german-credit", version="v1", grain="week")
    assert set(report.features["status"]) == {"ok"}
    assert set(report.periods["status"]) <= {"ok", "partial", "not judged"}
    assert set(_full_weeks(report)["status"]) == {"ok"}


def test_demo_labels_lag_is_reported(demo):
    report = drift_report(demo, model="adult-income", version="v1", grain="day")
    missing = report.label_coverage[report.label_coverage["labels_missing"]]
    assert len(missing) == 3                       # the demo's last 3 days have no labels yet
    assert report.label_note.startswith("labels missing for 3 of 90 periods")


def test_demo_telemetry_reference_finds_the_drift_too(demo):
    report = drift_report(demo, model="adult-income", version="v1", reference=("2026-07-01", "2026-08-09"),
                          current=("2026-09-07", "2026-09-27"), grain="week")
    assert report.reference.kind == "telemetry"
    assert report.feature("hours_per_week")["status"] == "act"
    assert report.feature("age")["status"] in ("watch", "act")
    assert report.feature("education_num")["status"] == "ok"
    assert report.feature("occupation")["status"] == "ok"


def test_a_versions_default_reference_period_is_its_own_first_days_with_days_left_after_it(demo):
    served = {version: [pd.Timestamp(t).date() for t in demo.query_rows(
        "SELECT min(ts), max(ts) FROM telemetry WHERE model = 'adult-income' AND version = ?", [version])[0]]
        for version in ("v1", "v2")}
    first, last = served["v1"]    # 90 days: its first 30
    assert drift.default_reference_period(demo, model="adult-income", version="v1") == (
        first, first + pd.Timedelta(days=drift.REFERENCE_DAYS - 1))
    first, last = served["v2"]    # began serving later, for 30 days: its first half, so that 15 days remain
    assert first > pd.Timestamp(START).date() and (last - first).days + 1 == 30
    start, end = drift.default_reference_period(demo, model="adult-income", version="v2")
    assert (start, end) == (first, first + pd.Timedelta(days=14))
    report = drift_report(demo, model="adult-income", version="v2", reference=(start, end), grain="week")
    assert report.reference.kind == "telemetry" and report.reference.rows > 0
    assert report.current.start.date() == end + pd.Timedelta(days=1) and report.current.end.date() > last
    assert drift.default_reference_period(demo, model="adult-income", version="v9") is None


def test_a_reference_period_the_version_did_not_serve_says_so_and_when_it_did(demo):
    first, last = [pd.Timestamp(t).date() for t in demo.query_rows(
        "SELECT min(ts), max(ts) FROM telemetry WHERE model = 'adult-income' AND version = 'v2'")[0]]
    with pytest.raises(InvalidInputError) as raised:
        drift_report(demo, model="adult-income", version="v2", reference=("2026-07-01", "2026-07-30"))
    assert str(raised.value) == drift.EMPTY_REFERENCE_PERIOD.format(
        model="adult-income", version="v2", start="2026-07-01", end="2026-07-30",
        served=drift.SERVED_FROM.format(first=first, last=last))
    assert "evaluation set" in str(raised.value) and "store" not in str(raised.value)   # v2 has one already


# --- thresholds -----------------------------------------------------------------------------------------

def test_thresholds_default_then_set_append_only(tmp_path):
    with GovernanceStore(tmp_path / "t.duckdb") as store:
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        default = drift_thresholds(store, model="m")
        assert (default.psi_watch, default.psi_act, default.alpha) == (0.1, 0.25, 0.01) and default.is_default
        set_drift_thresholds(store, model="m", psi_watch=0.2, psi_act=0.3, actor=ADA)
        newest = set_drift_thresholds(store, model="m", psi_watch="0.05", psi_act=0.15, alpha=0.001, actor=LEADER)
        assert (newest.psi_watch, newest.psi_act, newest.alpha, newest.set_by) == (0.05, 0.15, 0.001, LEADER.recorded_as)
        assert drift_thresholds(store, model="m") == newest
        history = drift_threshold_history(store, model="m")
        assert list(history["set_by"]) == [LEADER.recorded_as, ADA.recorded_as] and list(history["psi_watch"]) == [0.05, 0.2]
        assert history["set_at"].is_monotonic_decreasing
        with pytest.raises(PermissionDeniedError):
            set_drift_thresholds(store, model="m", psi_watch=0.2, psi_act=0.3, actor=VIEWER)


@pytest.mark.parametrize("kwargs, message", [
    ({"psi_watch": 0.3, "psi_act": 0.2}, "need 0 < watch < act"),
    ({"psi_watch": 0.2, "psi_act": 0.2}, "need 0 < watch < act"),
    ({"psi_watch": 0, "psi_act": 0.2}, "need 0 < watch < act"),
    ({"psi_watch": -0.1, "psi_act": 0.2}, "need 0 < watch < act"),
    ({"psi_watch": float("nan"), "psi_act": 0.2}, "psi_watch must be a finite number"),
    ({"psi_watch": 0.1, "psi_act": float("inf")}, "psi_act must be a finite number"),
    ({"psi_watch": "high", "psi_act": 0.2}, "psi_watch must be a finite number"),
    ({"psi_watch": True, "psi_act": 0.2}, "psi_watch must be a finite number"),
    ({"psi_watch": 0.1, "psi_act": 0.2, "alpha": 1.0}, "alpha must be a number between 0 and 1"),
    ({"psi_watch": 0.1, "psi_act": 0.2, "alpha": 0}, "alpha must be a number between 0 and 1"),
    ({"psi_watch": 0.1, "psi_act": 0.2, "model": "ghost"}, "there is no model named 'ghost'"),
])
def test_thresholds_validation(tmp_path, kwargs, message):
    with GovernanceStore(tmp_path / "v.duckdb") as store:
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        arguments = {"model": "m", "actor": ADA, **kwargs}
        with pytest.raises(InvalidInputError, match=message):
            set_drift_thresholds(store, **arguments)
        assert drift_threshold_history(store, model="m").empty


def test_stored_thresholds_decide_the_status(small):
    store, _, _ = small
    before = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    psi = before.feature("income")["psi"]
    assert before.feature("income")["status"] == ("ok" if psi < 0.1 else "watch" if psi < 0.25 else "act")
    set_drift_thresholds(store, model="m", psi_watch=psi / 4, psi_act=psi / 2, actor=LEADER)
    try:
        after = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
        assert after.feature("income")["status"] == "act"
        assert after.thresholds.set_by == LEADER.recorded_as and "PSI <" in after.thresholds.rule()
    finally:
        set_drift_thresholds(store, model="m", psi_watch=0.1, psi_act=0.25, actor=LEADER)


def test_status_rule():
    t = DriftThresholds("m")
    assert t.status(0.05, 10_000) == "ok" and t.status(0.1, 10_000) == "watch" and t.status(0.3, 10_000) == "act"
    assert t.status(0.3, 499) == "not judged" and t.status(0.3, 0) == "no data"
    assert t.status(0.3, 900, bins=41) == "not judged" and t.status(0.3, 1_100, bins=41) == "act"
    assert t.status(float("nan"), 10_000) == "not judged"


# --- the status a user sees: the latest complete period; partial periods labelled, never judged -------------------

def _expected_status(psi: float) -> str:
    return "act" if psi >= drift.DEFAULT_PSI_ACT else "watch" if psi >= drift.DEFAULT_PSI_WATCH else "ok"


def test_status_is_the_latest_complete_weeks_and_the_whole_window_is_reported_beside_it(small):
    store, reference, rows = small
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    second = DAY0 + pd.Timedelta(days=7)
    assert report.judged_period == second and "2026-03-09 (the latest complete week)" in report.judged_period_label
    week = rows[rows["ts"] >= second]
    counts = {"colour": lambda f: _categorical_counts(reference["colour"], f["colour"]),
              "income": lambda f: _numeric_counts(reference["income"].to_numpy(), f["income"].to_numpy())}
    for feature, count in counts.items():
        row = report.feature(feature)
        psi = _numpy_psi(*count(week))
        assert row["psi"] == pytest.approx(psi, rel=1e-9) and row["status"] == _expected_status(psi), feature
        assert row["n_current"] == len(week)
        assert row["window_psi"] == pytest.approx(_numpy_psi(*count(rows)), rel=1e-9)
        assert row["window_n"] == len(rows)
    # drift confined to the last week is diluted in the pooled window: the status must not follow the pool
    colour = report.feature("colour")
    assert colour["status"] == "act" and colour["window_psi"] < colour["psi"]


def test_a_partial_week_is_labelled_partial_and_never_judged(small):
    store, _, rows = small
    # the window takes 1 day (Monday) of the second week
    report = drift_report(store, model="m", version="v1", current=Window(DAY0, DAY0 + pd.Timedelta(days=8)),
                          grain="week")
    cut = report.periods[report.periods["period"] == DAY0 + pd.Timedelta(days=7)]
    assert not cut["complete"].any() and set(cut["days"]) == {1.0} and set(cut["status"]) == {"partial"}
    monday = rows[(rows["ts"] >= DAY0 + pd.Timedelta(days=7)) & (rows["ts"] < DAY0 + pd.Timedelta(days=8))]
    assert set(cut.loc[cut["feature"] == "colour", "n"]) == {len(monday)}
    assert list(report.partial_periods["period"]) == [DAY0 + pd.Timedelta(days=7)]
    assert report.judged_period == DAY0               # the statuses shown are the first (complete) week's
    first = report.periods[report.periods["period"] == DAY0].set_index("feature")["status"]
    assert report.features.set_index("feature")["status"].to_dict() == first.to_dict()
    # a week cut short by the end of the telemetry (not by the window) is partial too
    with store.write() as tx:
        tx.execute("DELETE FROM telemetry WHERE ts >= ?", [DAY0 + pd.Timedelta(days=10)])
    report = drift_report(store, model="m", version="v1", current=WINDOW, grain="week")
    cut = report.periods[report.periods["period"] == DAY0 + pd.Timedelta(days=7)]
    assert set(cut["days"]) == {3.0} and set(cut["status"]) == {"partial"} and report.judged_period == DAY0
    # no complete week at all: nothing judged, and the report says why
    short = drift_report(store, model="m", version="v1", current=Window(DAY0, DAY0 + pd.Timedelta(days=3)),
                         grain="week")
    assert short.judged_period is None and set(short.features["status"]) == {"not judged"}
    assert any("no complete week" in note for note in short.notes)
    assert drift.judged_period(short.periods) is None


def test_demo_alerts_and_retraining_judge_the_latest_complete_week_not_the_partial_one(demo):
    # The demo ends on Monday 2026-09-28: that 1-day week read PSI 0.50 on 4,378 rows for hours_per_week and
    # drove the alert. Now the alert, the retraining policy and the page judge the week of 2026-09-21.
    from governance import alerts
    from governance.decisions import release_gate

    report = drift_report(demo, model="adult-income", version="v1", grain="week")
    assert report.judged_period == pd.Timestamp("2026-09-21")
    partial = report.periods[report.periods["period"] == pd.Timestamp("2026-09-28")]
    assert set(partial["status"]) == {"partial"} and set(partial["days"]) == {1.0}
    hours = report.feature("hours_per_week")
    week = report.periods[(report.periods["feature"] == "hours_per_week")
                          & (report.periods["period"] == pd.Timestamp("2026-09-21"))].iloc[0]
    assert hours["status"] == "act" and hours["psi"] == week["psi"]            # the window pooled said "ok"
    assert hours["window_psi"] < drift.DEFAULT_PSI_WATCH
    found = [f for f in alerts.findings(demo) if f["what"] == "drift_act" and ":v1:" in f["alert_key"]]
    assert found and all("week of 2026-09-21" in f["title"] for f in found)
    assert {f["evidence"]["feature"] for f in found} == {"hours_per_week"}
    assert [f["evidence"]["psi"] for f in found] == [pytest.approx(week["psi"], rel=1e-12)]
    triggers = release_gate.retraining_triggers(demo, model="adult-income")
    (trigger,) = [t for t in triggers["triggers"] if t["trigger"] == "drift at 'act'"]
    assert trigger["met"] is True and "week of 2026-09-21" in trigger["detail"]
