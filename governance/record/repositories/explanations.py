"""Stored global explanations of model versions: the summary (explanation), every sampled row's SHAP value per input
(explanation_value) and each sampled row's model output (explanation_row).

An explanation names the model file, evaluation data and settings it was computed for by their hashes; which
stored explanation is a version's current one is the service's rule (evidence.explanations.current_explanation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from governance.record.store import GovernanceStore, WriteTransaction


@dataclass(frozen=True)
class StoredExplanation:
    explanation_id: str
    model_sha256: str
    data_sha256: str | None
    settings_hash: str
    summary: str            # the summary's JSON text
    computed_at: datetime


def explanation_count(store: GovernanceStore) -> int:
    """How many explanations were ever stored (their ids number them: EX-0001 …)."""
    return store.query_value("SELECT count(*) FROM explanation")


def add_explanation(tx: WriteTransaction, *, explanation_id: str, model: str, version: str, model_sha256: str,
                    data_sha256: str | None, settings: str, settings_hash: str, computed_at: datetime,
                    seconds: float, summary: str) -> None:
    tx.execute("INSERT INTO explanation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [explanation_id, model, version, model_sha256, data_sha256, settings, settings_hash, computed_at,
                seconds, summary])


def add_values(tx: WriteTransaction, *, values: pd.DataFrame) -> None:
    """Rows of explanation_value: explanation_id, row_id, feature, shap, value, value_number."""
    tx.insert_frame("explanation_value", values)


def add_rows(tx: WriteTransaction, *, rows: pd.DataFrame) -> None:
    """Rows of explanation_row: explanation_id, row_id, output, score."""
    tx.insert_frame("explanation_row", rows)


def explanations_of(store: GovernanceStore, *, model: str, version: str) -> list[StoredExplanation]:
    """Every stored explanation of a version, newest first."""
    return [StoredExplanation(*row) for row in store.query_rows(
        "SELECT explanation_id, model_sha256, data_sha256, settings_hash, summary, computed_at "
        "FROM explanation WHERE model = ? AND version = ? ORDER BY computed_at DESC, "
        "explanation_id DESC", [model, version])]


def value_table(store: GovernanceStore, *, explanation_id: str, max_rows: int | None = None) -> pd.DataFrame:
    """Long table (row_id, feature, shap, value, value_number) by row and input; with `max_rows`, of that many
    sampled rows chosen by DuckDB's hash(row_id), so the same rows on either engine."""
    sql = "SELECT row_id, feature, shap, value, value_number FROM explanation_value WHERE explanation_id = ? "
    if max_rows is None:
        return store.query(sql + "ORDER BY row_id, feature", [explanation_id])
    # The sample from the small table of rows, by DuckDB (store.analytics); the values, many per row, then read
    # where they are kept, so a PostgreSQL workspace never copies every value to pick a few.
    picked = [r[0] for r in store.analytics.query_rows(
        "SELECT row_id FROM explanation_row WHERE explanation_id = ? ORDER BY hash(row_id) LIMIT ?",
        [explanation_id, max_rows])]
    return store.query(sql + "AND row_id IN (SELECT unnest(?)) ORDER BY row_id, feature", [explanation_id, picked])
