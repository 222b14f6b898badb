"""The evidence's repositories on a new workspace: models and evaluation sets, audits, explanations, workspace notes.

The evaluation set's content hash is recomputed here in Python from the rows' own values, independently of the
SQL that records it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pandas as pd
import pytest

from governance.record.repositories import audits, explanations, models, workspace_meta

AT = datetime(2026, 7, 1, 9, 30)
ROWS = pd.DataFrame({"model": "credit", "version": "v1", "row_id": [0, 1, 2],
                     "features": ['{"age":31}', '{"age":58}', '{"age":44}'],
                     "sensitive": ['{"sex":"f"}', '{"sex":"m","race":"x"}', '{"sex":"m"}'],
                     "y_true": [1, 0, 1], "y_pred": [1, 1, 0], "score": [0.75, 0.5, 0.25]})


def _add_version(store, *, with_rows: bool = True) -> None:
    with store.write() as tx:
        models.add_model(tx, name="credit", purpose="p", intended_use="u", owner="o", risk_tier="high",
                         dataset=None, created_at=AT)
        models.add_version(tx, model="credit", version="v1", algorithm="a", training_data="t", created_at=AT,
                           stage="development", training_metrics={"accuracy": 0.5})
        models.add_artifact(tx, model="credit", version="v1", sha256="ab" * 32, content=b"PK")
        if with_rows:
            models.add_evaluation_rows(tx, rows=ROWS)
            models.record_evaluation_set(store, tx, model="credit", version="v1", recorded_at=AT)


def test_a_version_written_through_the_repository_reads_back_as_records(store):
    assert (models.model_count(store), models.model_names(store), models.has_model(store, model="credit")) == (
        0, [], False)
    _add_version(store)
    assert models.model_names(store) == ["credit"] and models.version_names(store, model="credit") == ["v1"]
    assert models.has_version(store, model="credit", version="v1")
    assert not models.has_version(store, model="credit", version="v2")
    assert models.model_summaries(store) == [models.ModelSummary("credit", "o", "high", "p")]
    assert models.artifact(store, model="credit", version="v1") == models.ModelArtifact(b"PK", "ab" * 32)
    assert models.artifact(store, model="credit", version="v2") is None
    assert store.query_value("SELECT training_metrics FROM model_version") == json.dumps({"accuracy": 0.5})


def test_the_evaluation_sets_hash_is_the_rows_lines_hashed_in_row_order(store):
    _add_version(store)
    lines = "\n".join(f"{r.row_id}|{r.features}|{r.sensitive}|{r.y_true}|{r.y_pred}|{r.score}"
                      for r in ROWS.itertuples())
    digest = hashlib.sha256(lines.encode()).hexdigest()
    assert models.evaluation_set(store, model="credit", version="v1") == models.EvaluationSet(
        "credit", "v1", 3, ("race", "sex"), digest)
    assert models.evaluation_content_sha256(store, model="credit", version="v1") == digest
    assert models.evaluation_row_count(store, model="credit", version="v1") == 3
    assert models.average_score(store, model="credit", version="v1") == pytest.approx(0.5)
    assert models.closest_below(store, model="credit", version="v1", threshold=0.6) == 1
    assert list(models.evaluation_rows(store, model="credit", version="v1", row_ids=[2, 0])["row_id"]) == [0, 2]


def test_a_version_without_rows_has_no_evaluation_set(store):
    _add_version(store, with_rows=False)
    assert models.evaluation_set(store, model="credit", version="v1") is None
    assert models.evaluation_row_count(store, model="credit", version="v1") == 0


def test_an_audit_reads_back_defined_then_run_and_a_robustness_run_likewise(store):
    _add_version(store)
    assert audits.fairness_audit(store, audit_id="FA-0001") is None
    with store.write() as tx:
        audits.add_fairness_audit(tx, audit_id="FA-0001", model="credit", version="v1", source_name="s",
                                  definition="{}", definition_hash="d", defined_by="amara", defined_at=AT)
    assert (audits.fairness_audit_count(store), audits.fairness_audit_ran(store, audit_id="FA-0001"),
            audits.fairness_audit_closed(store, audit_id="FA-0001")) == (1, False, False)
    with store.write() as tx:
        audits.add_fairness_run(tx, audit_id="FA-0001", ran_by="amara", ran_at=AT, n_rows=3, data_sha256="h",
                                results='{"verdict":"pass"}', verdict="pass", evidence_hash="e")
    found = audits.fairness_audit(store, audit_id="FA-0001")
    assert (found.verdict, found.n_rows, found.reason) == ("pass", 3, None)
    assert audits.fairness_audit_closed(store, audit_id="FA-0001")
    assert audits.fairness_results(store, audit_id="FA-0001") == '{"verdict":"pass"}'

    with store.write() as tx:
        audits.add_robustness_run(tx, run_id="RB-0001", model="credit", version="v1", definition="{}",
                                  definition_hash="d", defined_by="amara", defined_at=AT)
    assert audits.robustness_run(store, run_id="RB-0001").results is None
    assert audits.latest_robustness_verdict(store, model="credit", version="v1") is None
    with store.write() as tx:
        audits.add_robustness_result(tx, run_id="RB-0001", ran_by="amara", ran_at=AT, n_rows=3, data_sha256="h",
                                     results="{}", verdict="fail", evidence_hash="e")
    assert [r.run_id for r in audits.robustness_runs(store, model="credit")] == ["RB-0001"]
    assert audits.latest_robustness_verdict(store, model="credit", version="v1") == "fail"


def test_stored_explanations_read_back_newest_first(store):
    _add_version(store)
    for i in (1, 2):
        with store.write() as tx:
            explanations.add_explanation(tx, explanation_id=f"EX-000{i}", model="credit", version="v1",
                                         model_sha256="m", data_sha256="d", settings="{}", settings_hash=f"s{i}",
                                         computed_at=AT.replace(hour=9 + i), seconds=1.0, summary="{}")
    assert explanations.explanation_count(store) == 2
    assert [e.explanation_id for e in explanations.explanations_of(store, model="credit", version="v1")] == [
        "EX-0002", "EX-0001"]


def test_the_workspace_notes_add_read_and_remove(store):
    with store.write() as tx:
        workspace_meta.add_values(tx, values={"demo_seed": "42", "demo_unfinished": "now"})
    assert workspace_meta.has_key(store, key="demo_unfinished")
    assert workspace_meta.value_of(store, key="demo_seed") == "42"
    with store.write() as tx:
        workspace_meta.remove_key(tx, key="demo_unfinished")
    assert not workspace_meta.has_key(store, key="demo_unfinished")
    assert workspace_meta.value_of(store, key="missing") is None
    tables = workspace_meta.record_tables(store)
    assert "model" in tables and not {"schema_version", "data_version", "workspace_meta"} & set(tables)
    assert ("model_version", "model") in workspace_meta.foreign_keys(store)
