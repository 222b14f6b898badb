"""The same rows on DuckDB and on PostgreSQL give the same answers: the evaluation set's content hash, the seeded
samples of evaluation rows and of explanation rows, the fairness cells and the average score (all DuckDB's, read
through store.analytics), and the statements rewritten into SQL both engines accept (an upsert, explicit columns,
typed NULL tests, windows for QUALIFY and arg_max, the catalogue through information_schema)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from governance.record.repositories import (accounts, alerts, committee, explanations, ingests, ledger, models,
                                            settings, workspace_meta)
from tests.unit.record.repositories.conftest import ENGINES, open_engine

AT = datetime(2026, 7, 1, 9, 30)
N = 400
_rng = np.random.default_rng(5)
# Scores whose text DuckDB writes in more than one way (exponents, long fractions, whole numbers), so the content
# hash depends on how the engine turns a double into text: it must be DuckDB's on both.
_SCORES = np.concatenate([[0.0, 1.0, 1e-05, 0.1 + 0.2, 1 / 3, 0.5, 2.5e-10], _rng.random(N - 7)])
ROWS = pd.DataFrame({
    "model": "credit", "version": "v1", "row_id": np.arange(N, dtype=np.int32),
    "features": [f'{{"age":{20 + i % 50},"income":{i * 37 % 1000}}}' for i in range(N)],
    "sensitive": [f'{{"sex":"{"fm"[i % 2]}","band":"{"abc"[i % 3]}"}}' if i % 7 else '{"sex":"m"}' for i in range(N)],
    "y_true": (_rng.random(N) < 0.4).astype(np.int8), "y_pred": (_SCORES >= 0.5).astype(np.int8), "score": _SCORES})
FEATURES = ("age", "income")


def _fill(store) -> None:
    with store.write() as tx:
        models.add_model(tx, name="credit", purpose="p", intended_use="u", owner="o", risk_tier="high", dataset=None,
                         created_at=AT)
        models.add_version(tx, model="credit", version="v1", algorithm="a", training_data="t", created_at=AT,
                           stage="development", training_metrics={"accuracy": 0.5})
        models.add_evaluation_rows(tx, rows=ROWS)
        models.record_evaluation_set(store, tx, model="credit", version="v1", recorded_at=AT)
        explanations.add_explanation(tx, explanation_id="EX-0001", model="credit", version="v1", model_sha256="m",
                                     data_sha256="d", settings="{}", settings_hash="s", computed_at=AT, seconds=1.0,
                                     summary="{}")
        explanations.add_rows(tx, rows=pd.DataFrame({"explanation_id": "EX-0001", "row_id": ROWS["row_id"],
                                                     "output": ROWS["score"] * 2 - 1, "score": ROWS["score"]}))
        explanations.add_values(tx, values=pd.DataFrame({
            "explanation_id": "EX-0001", "row_id": np.repeat(ROWS["row_id"].to_numpy(), len(FEATURES)),
            "feature": list(FEATURES) * N, "shap": np.linspace(-1, 1, N * len(FEATURES)),
            "value": None, "value_number": np.arange(N * len(FEATURES), dtype=float)}))


@pytest.fixture
def both(request, tmp_path):
    """The same evaluation set and explanation, written through the repositories into each engine."""
    opened = {engine: open_engine(engine, tmp_path=tmp_path / engine, request=request) for engine in ENGINES}
    try:
        for store in opened.values():
            _fill(store)
        yield opened
    finally:
        for store in opened.values():
            store.close()


def test_the_content_hash_is_the_same_on_both_engines_and_is_the_rows_lines_hashed(both):
    duck, pg = both["duckdb"], both["postgresql"]
    recorded = {e: models.evaluation_set(s, model="credit", version="v1") for e, s in both.items()}
    assert recorded["duckdb"] == recorded["postgresql"]
    assert recorded["duckdb"].rows == N and recorded["duckdb"].attributes == ("band", "sex")
    # the recomputation `verify` makes agrees with what was sealed, on each engine
    assert (models.evaluation_content_sha256(duck, model="credit", version="v1")
            == models.evaluation_content_sha256(pg, model="credit", version="v1") == recorded["duckdb"].content_sha256)
    # independently: DuckDB's text of each value, one line per row, hashed in Python
    lines = [f"{r[0]}|{r[1]}|{r[2]}|{r[3]}|{r[4]}|{r[5]}" for r in duck.query_rows(
        "SELECT row_id, features, sensitive, y_true, y_pred, CAST(score AS VARCHAR) FROM evaluation_row "
        "ORDER BY row_id")]
    assert recorded["duckdb"].content_sha256 == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    # a changed row changes the hash on PostgreSQL too: the hash is over its own rows, not a copy kept elsewhere
    with pg.write() as tx:
        tx.execute("UPDATE evaluation_row SET score = 0.75 WHERE row_id = 3")
    assert models.evaluation_content_sha256(pg, model="credit", version="v1") != recorded["duckdb"].content_sha256


def test_the_seeded_samples_are_the_same_rows_in_the_same_order_on_both_engines(both):
    duck, pg = both["duckdb"], both["postgresql"]
    for seed in (0, 7):
        on_duck = models.evaluation_rows(duck, model="credit", version="v1", limit=25, seed=seed)
        on_pg = models.evaluation_rows(pg, model="credit", version="v1", limit=25, seed=seed)
        assert list(on_pg["row_id"]) == list(on_duck["row_id"]) and len(on_duck) == 25
        assert list(on_pg["score"]) == list(on_duck["score"])
    other = models.evaluation_rows(duck, model="credit", version="v1", limit=25, seed=1)
    assert set(other["row_id"]) != set(models.evaluation_rows(duck, model="credit", version="v1", limit=25,
                                                              seed=0)["row_id"])   # the seed matters
    picked = models.evaluation_rows(pg, model="credit", version="v1", row_ids=[12, 3, 399])
    assert list(picked["row_id"]) == [3, 12, 399] and list(picked["score"]) == list(ROWS["score"].iloc[[3, 12, 399]])
    sampled = {e: explanations.value_table(s, explanation_id="EX-0001", max_rows=10) for e, s in both.items()}
    # the same rows and values (column types may differ: PostgreSQL's INTEGER comes back as int64)
    pd.testing.assert_frame_equal(sampled["postgresql"], sampled["duckdb"], check_dtype=False)
    assert sampled["duckdb"]["row_id"].nunique() == 10 and len(sampled["duckdb"]) == 10 * len(FEATURES)
    whole = explanations.value_table(pg, explanation_id="EX-0001")
    assert len(whole) == N * len(FEATURES) and list(whole["row_id"])[:2] == [0, 0]


def test_the_fairness_cells_and_the_average_are_the_same_on_both_engines_and_count_every_row(both):
    order = ["sensitive", "y_true", "y_pred", "bin"]
    cells = {e: models.evaluation_cells(s, model="credit", version="v1", bins=10, score_units=1000)
             .sort_values(order, ignore_index=True) for e, s in both.items()}
    assert cells["postgresql"].equals(cells["duckdb"])
    # independently, with pandas: the counts and the summed score units per (sensitive, outcome, prediction)
    frame = ROWS.assign(units=np.round(ROWS["score"] * 1000).astype(int))
    expected = frame.groupby(["sensitive", "y_true", "y_pred"]).agg(n=("units", "size"), units=("units", "sum"))
    got = cells["duckdb"].groupby(["sensitive", "y_true", "y_pred"]).agg(n=("n", "sum"), units=("score_units", "sum"))
    assert got["n"].tolist() == expected["n"].tolist() and got["units"].tolist() == expected["units"].tolist()
    averages = [models.average_score(s, model="credit", version="v1") for s in both.values()]
    assert averages[0] == averages[1] == pytest.approx(ROWS["score"].mean(), rel=1e-12)
    below = [models.closest_below(s, model="credit", version="v1", threshold=0.5) for s in both.values()]
    assert below[0] == below[1] == int(ROWS.loc[ROWS["score"] < 0.5].sort_values(
        ["score", "row_id"], ascending=[False, True]).iloc[0]["row_id"])


def test_a_committee_rule_set_twice_keeps_the_newest_value(store):
    with store.write() as tx:
        committee.set_rule(tx, key="quorum_fraction", value="0.5")
    with store.write() as tx:
        committee.set_rule(tx, key="quorum_fraction", value="0.6")
        committee.set_rule(tx, key="chair_required", value="false")
    assert committee.stored_rules(store) == {"quorum_fraction": "0.6", "chair_required": "false"}


def test_an_ingested_file_reads_back_with_its_types(store):
    _fill(store)
    record = ingests.IngestedFile("ab" * 32, "t.csv", "csv", "credit", "v1", 10, 2, "inbox", AT)
    with store.write() as tx:
        ingests.add_ingested_file(tx, record=record)
    assert ingests.ingested_file(store, file_sha256="ab" * 32) == record
    assert ingests.ingested_file(store, file_sha256="cd" * 32) is None


def test_accounts_tokens_and_key_fingerprints(store):
    with store.write() as tx:
        for name, display, role in (("zoe", "zoe Zed", "viewer"), ("ada", "Ada Admin", "admin"),
                                    ("bob", "Bob Bee", "admin")):
            accounts.add_account(tx, user_name=name, display_name=display, role=role, source="local",
                                 password_hash="h", created_at=AT, created_by="test", email=None)
        accounts.set_disabled(tx, user_name="bob", disabled=True)
        accounts.add_token(tx, token_id="TK-0009", name="ci", user_name="ada", prefix="qr_ab", created_at=AT,
                           created_by="ada", expires_at=None, token_hash="th")
    assert [a.user_name for a in accounts.accounts(store)] == ["ada", "bob", "zoe"]   # by display name, any case
    assert [a.user_name for a in accounts.accounts(store, enabled_only=True)] == ["ada", "zoe"]
    assert accounts.account(store, user_name="bob").disabled is True
    assert accounts.other_enabled_admins(store, user_name="zoe") == 1
    assert accounts.name_taken(store, user_name="ADA") and accounts.next_token_number(store) == 10
    with store.write() as tx:
        accounts.record_use(tx, token_id="TK-0009", now=AT + timedelta(hours=1), every=timedelta(minutes=5))
    assert accounts.token(store, token_id="TK-0009").last_used_at == AT + timedelta(hours=1)
    with store.write() as tx:   # the same fingerprint twice: recorded once
        for _ in range(2):
            ledger.add_key(tx, fingerprint="f1", since_seq=1, since_event=1, recorded_at=AT)
    assert ledger.recorded_keys(store) == [ledger.RecordedKey("f1", 1, 1)]
    assert ledger.entries(store, subject=None, kind=None) == [] and ledger.newest_seq(store, table="ledger") == 0


def test_the_newest_telemetry_source_per_model_and_failed_deliveries_by_id(store):
    _fill(store)
    with store.write() as tx:
        for kind, hours in (("parquet", 0), ("spark", 2), ("workspace", 1)):
            settings.add_telemetry_source(tx, model="credit", kind=kind, location=f"/{kind}", master=None,
                                          set_by="ann", set_at=AT + timedelta(hours=hours))
        alerts.add_delivery(tx, delivery=alerts.Delivery(1, "A", "email", "r@example.org", "s", "b", "{}", AT,
                                                         "failed", 3, 0, None, None))
    assert [(s.kind, s.location) for s in settings.telemetry_sources_in_force(store)] == [("spark", "/spark")]
    assert settings.models_read_elsewhere(store) == ["credit"]
    assert alerts.failed_delivery_ids(store, delivery_id=1, alert_key=None) == [1]
    assert alerts.failed_delivery_ids(store, delivery_id=2, alert_key=None) == []


def test_the_catalogue_lists_the_same_tables_and_foreign_keys_on_both_engines(both):
    tables = {e: workspace_meta.record_tables(s) for e, s in both.items()}
    lake = {"telemetry", "telemetry_input", "telemetry_hourly"}   # files in the lake, with PostgreSQL
    assert tables["postgresql"] == [t for t in tables["duckdb"] if t not in lake]
    assert "model" in tables["postgresql"] and "workspace_meta" not in tables["postgresql"]
    keys = {e: workspace_meta.foreign_keys(s) for e, s in both.items()}
    assert keys["postgresql"] == keys["duckdb"] and ("model_version", "model") in keys["duckdb"]
