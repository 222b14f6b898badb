"""The demo workspace: real models, the row counts asked for, the scripted episodes, and determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from governance import demo, errors
from governance.demo.datasets import load_adult
from governance.evidence.model_artifacts import load_model
from governance.record import verification
from governance.record.store import GovernanceStore
from tests.conftest import DEMO_ROWS


@pytest.fixture(scope="module")
def store(demo_workspace):
    with GovernanceStore(demo_workspace) as opened:
        yield opened


def test_inventory_has_the_three_versions_with_stages(store):
    rows = store.query_rows("SELECT model, version, stage FROM model_version ORDER BY 1, 2")
    assert rows == [("adult-income", "v1", "production"), ("adult-income", "v2", "staging"),
                    ("german-credit", "v1", "production")]
    assert store.query_value("SELECT count(*) FROM model WHERE owner <> '' AND purpose <> ''") == 2


def test_telemetry_has_exactly_the_rows_asked_for(store):
    assert store.query_value("SELECT count(*) FROM telemetry") == DEMO_ROWS
    days = store.query_value("SELECT date_diff('day', min(ts), max(ts)) + 1 FROM telemetry")
    assert days == demo.DAYS


def test_evaluation_sets_are_the_real_held_out_rows(store):
    counts = dict(store.query_rows("SELECT model || ' ' || version, count(*) FROM evaluation_row GROUP BY 1"))
    assert counts == {"adult-income v1": 15_060, "adult-income v2": 15_060, "german-credit v1": 300}
    sensitive = json.loads(store.query_value(
        "SELECT sensitive FROM evaluation_row WHERE model = 'german-credit' LIMIT 1"))
    assert set(sensitive) == {"sex", "age_band", "foreign_worker"}


def test_stored_model_reproduces_its_stored_predictions_and_metrics(store):
    """Independent check: reload the skops artifact, predict adult.test ourselves, compare."""
    content = store.query_value(
        "SELECT content FROM model_artifact WHERE model = 'adult-income' AND version = 'v1'")
    model = load_model(content)
    _, test = load_adult()
    ours = model.predict(test[model.feature_names_in_])
    stored = store.query("SELECT y_pred, y_true FROM evaluation_row WHERE model = 'adult-income' "
                         "AND version = 'v1' ORDER BY row_id")
    assert np.array_equal(ours, stored["y_pred"].to_numpy())
    assert np.array_equal(test["target"].to_numpy(), stored["y_true"].to_numpy())
    metrics = json.loads(store.query_value(
        "SELECT training_metrics FROM model_version WHERE model = 'adult-income' AND version = 'v1'"))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(test["target"], ours), abs=1e-4)
    assert 0.80 < metrics["accuracy"] < 0.90  # logistic regression on Adult lands near 0.85


def test_ab_split_overlaps_for_thirty_days(store):
    v1_first, v1_last, v2_first, v2_last = store.query_rows("""
        SELECT min(ts) FILTER (version = 'v1'), max(ts) FILTER (version = 'v1'),
               min(ts) FILTER (version = 'v2'), max(ts) FILTER (version = 'v2')
        FROM telemetry WHERE model = 'adult-income'""")[0]
    overlap_days = (min(v1_last, v2_last) - max(v1_first, v2_first)).days + 1
    assert overlap_days == 30
    share_v2 = store.query_value("""SELECT avg((version = 'v2')::INT) FROM telemetry
        WHERE model = 'adult-income' AND ts >= TIMESTAMP '2026-07-01' + INTERVAL 60 DAY""")
    assert 0.45 < share_v2 < 0.55


def _day_window(day_from: int, day_to: int) -> str:
    return (f"ts >= TIMESTAMP '2026-07-01' + INTERVAL {day_from} DAY "
            f"AND ts < TIMESTAMP '2026-07-01' + INTERVAL {day_to + 1} DAY")


def test_latency_regression_shows_in_v2_days_75_to_80_only(store):
    p95 = lambda where: store.query_value(  # noqa: E731
        f"SELECT quantile_cont(latency_ms, 0.95) FROM telemetry WHERE model = 'adult-income' "
        f"AND version = 'v2' AND NOT is_error AND {where}")
    during, before, after = p95(_day_window(75, 80)), p95(_day_window(60, 74)), p95(_day_window(81, 89))
    assert during > 2.5 * before and during > 250
    assert before < 250 and after < 250
    v1_during = store.query_value(f"SELECT quantile_cont(latency_ms, 0.95) FROM telemetry "
                                  f"WHERE model = 'adult-income' AND version = 'v1' AND {_day_window(75, 80)}")
    assert v1_during < 250


def test_error_spike_on_day_40(store):
    rate = lambda where: store.query_value(  # noqa: E731
        f"SELECT avg(is_error::INT) FROM telemetry WHERE model = 'german-credit' AND {where}")
    spike = rate(_day_window(40, 40) + " AND hour(ts) BETWEEN 10 AND 12")
    normal = rate("NOT (" + _day_window(40, 40) + ")")
    assert spike > 0.1 and normal < 0.01
    assert store.query_value("SELECT count(*) FROM telemetry WHERE is_error AND prediction IS NOT NULL") == 0


def test_drift_moves_age_and_hours_from_day_60_and_nothing_else(store):
    def mean_of(feature: str, days: tuple[int, int]) -> float:
        return store.query_value(f"""
            SELECT avg(CAST(i.features ->> '{feature}' AS DOUBLE))
            FROM telemetry t JOIN telemetry_input i USING (model, input_id)
            WHERE t.model = 'adult-income' AND {_day_window(*days)}""")
    for feature, shift in (("age", 0.6 * demo.DRIFT_AGE_YEARS), ("hours_per_week", 0.6 * demo.DRIFT_HOURS)):
        before, after = mean_of(feature, (0, 59)), mean_of(feature, (70, 89))
        assert after - before == pytest.approx(shift, rel=0.25), feature
    before, after = mean_of("education_num", (0, 59)), mean_of("education_num", (70, 89))
    assert abs(after - before) < 0.1  # years of education: no drift scripted

    def married(days: tuple[int, int]) -> float:
        return store.query_value(f"""
            SELECT avg((i.features ->> 'marital_status' = 'Married-civ-spouse')::INT)
            FROM telemetry t JOIN telemetry_input i USING (model, input_id)
            WHERE t.model = 'adult-income' AND {_day_window(*days)}""")
    assert abs(married((70, 89)) - married((0, 59))) < 0.02


def test_labels_arrive_for_most_rows_but_not_the_last_days(store):
    coverage = store.query_value("SELECT count(label) / count(*) FROM telemetry")
    assert 0.8 < coverage < 0.9
    assert store.query_value(f"SELECT count(label) FROM telemetry WHERE {_day_window(87, 89)}") == 0


def test_same_seed_gives_the_same_workspace_and_another_seed_does_not(tmp_path):
    def fingerprint(seed: int, name: str) -> str:
        with GovernanceStore(tmp_path / name) as store:
            demo.seed_demo(store, rows=20_000, seed=seed, records=False)   # the register is checked elsewhere
            return store.query_value(
                "SELECT md5(string_agg(concat_ws('|', ts, model, version, segment, input_id, prediction, score, label,"
                " latency_ms, is_error, cost_usd), ';' ORDER BY model, ts, version, input_id, latency_ms)) "
                "FROM telemetry")
    first = fingerprint(7, "a.duckdb")
    assert first == fingerprint(7, "b.duckdb")
    assert first != fingerprint(8, "c.duckdb")


def test_the_demo_is_only_built_into_an_empty_workspace(demo_copy):
    with GovernanceStore(demo_copy) as store:
        before = store.data_version()
        with pytest.raises(errors.WorkspaceNotEmptyError, match="new --db path"):
            demo.seed_demo(store, rows=20_000)
        assert store.data_version() == before


def test_rows_out_of_range_are_refused(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with pytest.raises(errors.InvalidInputError, match="--rows must be between"):
            demo.seed_demo(store, rows=5)


# --- issue 20: a bar that moves, and no half-built workspace ------------------------------------------------------
class _Stopped(Exception):
    """The build's process ending at a chosen moment."""


def test_a_build_cut_short_is_recognised_discarded_and_built_again(tmp_path):
    path = tmp_path / "cut.duckdb"
    seen: list[tuple[float, str]] = []

    def stop_at_the_risk_register(fraction: float, message: str) -> None:
        seen.append((fraction, message))
        if message.startswith("Recording the demo's risk register"):
            raise _Stopped

    with GovernanceStore(path) as store:
        with pytest.raises(_Stopped):
            demo.seed_demo(store, rows=demo.MIN_ROWS, progress=stop_at_the_risk_register)
        fractions = [f for f, _ in seen]
        assert fractions == sorted(fractions)                                  # never backwards
        assert len({round(f, 3) for f in fractions if f < demo.STAGES["train"]}) >= 3   # per trained version
        assert any(m.startswith("Explaining adult-income v2") for _, m in seen)
        assert max(b - a for a, b in zip(fractions, fractions[1:])) <= 0.2      # no jump over a fifth of the bar
        assert store.query_value("SELECT count(*) FROM model") == 2 and demo.unfinished(store)
        assert store.query_value("SELECT count(*) FROM risk_event") == 0

        demo.discard_unfinished(store)
        assert not demo.unfinished(store)
        counts = store.table_row_counts()   # as a new workspace: only the schema's and the data's versions
        assert {t: n for t, n in counts.items() if n and t not in ("schema_version", "data_version")} == {}
        assert not path.with_name("cut.duckdb.anchor").exists()

        built = demo.seed_demo(store, rows=demo.MIN_ROWS)
        assert built["rows"] == demo.MIN_ROWS and not demo.unfinished(store)
        assert store.query_value("SELECT count(*) FROM risk_event") > 0
        assert store.query_value("SELECT count(*) FROM explanation") == 3
        assert verification.verify(store)["ok"]


def test_only_an_unfinished_build_is_ever_discarded(demo_copy):
    with GovernanceStore(demo_copy) as store:
        assert not demo.unfinished(store)
        with pytest.raises(errors.InvalidInputError):
            demo.discard_unfinished(store)
        assert store.query_value("SELECT count(*) FROM model") == 2
