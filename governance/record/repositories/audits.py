"""Audits kept as evidence: fairness audits (a locked definition, then its one run or the reason it could not run)
and robustness runs (a locked definition, then its result).

Definitions and results are canonical JSON text, stored and returned as it is: their hashes are over that text.
One audit or run comes back as a record; the list of fairness audits as a DataFrame, the table the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from governance.record.store import GovernanceStore, WriteTransaction

_ROBUSTNESS_RUN_SQL = """
    SELECT r.run_id, r.model, r.version, r.definition, r.definition_hash, r.defined_by, r.defined_at,
           x.ran_by, x.ran_at, x.n_rows, x.data_sha256, x.results, x.verdict, x.evidence_hash
    FROM robustness_run r LEFT JOIN robustness_result x USING (run_id)"""


@dataclass(frozen=True)
class FairnessAuditRecord:
    """A fairness audit as stored: its definition, its run (None until it ran) or its failure (None unless closed)."""
    audit_id: str
    definition: str
    definition_hash: str
    defined_by: str
    defined_at: datetime
    ran_by: str | None
    ran_at: datetime | None
    n_rows: int | None
    data_sha256: str | None
    results: str | None
    verdict: str | None
    evidence_hash: str | None
    failed_by: str | None
    failed_at: datetime | None
    reason: str | None


@dataclass(frozen=True)
class RobustnessRunRecord:
    """A robustness run as stored: its definition, and its result (None until it has one)."""
    run_id: str
    model: str
    version: str
    definition: str
    definition_hash: str
    defined_by: str
    defined_at: datetime
    ran_by: str | None
    ran_at: datetime | None
    n_rows: int | None
    data_sha256: str | None
    results: str | None
    verdict: str | None
    evidence_hash: str | None


# --- fairness audits ------------------------------------------------------------------------------------------------
def fairness_audit_count(store: GovernanceStore) -> int:
    """How many audits were ever defined (their ids number them: FA-0001 …)."""
    return store.query_value("SELECT count(*) FROM fairness_audit")


def add_fairness_audit(tx: WriteTransaction, *, audit_id: str, model: str | None, version: str | None,
                       source_name: str, definition: str, definition_hash: str, defined_by: str,
                       defined_at: datetime) -> None:
    tx.execute("INSERT INTO fairness_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [audit_id, model, version, source_name, definition, definition_hash, defined_by, defined_at])


def fairness_definition(store: GovernanceStore, *, audit_id: str) -> str | None:
    return store.query_value("SELECT definition FROM fairness_audit WHERE audit_id = ?", [audit_id])


def fairness_audit_ran(store: GovernanceStore, *, audit_id: str) -> bool:
    return bool(store.query_value("SELECT count(*) FROM fairness_audit_run WHERE audit_id = ?", [audit_id]))


def fairness_failure_reason(store: GovernanceStore, *, audit_id: str) -> str | None:
    """Why the audit could not run, when it was closed unrun; otherwise None."""
    return store.query_value("SELECT reason FROM fairness_audit_failure WHERE audit_id = ?", [audit_id])


def fairness_audit_closed(store: GovernanceStore, *, audit_id: str) -> bool:
    """The audit ran, or was closed as unable to run."""
    return bool(store.query_value("SELECT (SELECT count(*) FROM fairness_audit_run WHERE audit_id = ?) + "
                                  "(SELECT count(*) FROM fairness_audit_failure WHERE audit_id = ?)",
                                  [audit_id, audit_id]))


def add_fairness_failure(tx: WriteTransaction, *, audit_id: str, failed_by: str, failed_at: datetime,
                         reason: str) -> None:
    tx.execute("INSERT INTO fairness_audit_failure VALUES (?, ?, ?, ?)", [audit_id, failed_by, failed_at, reason])


def add_fairness_run(tx: WriteTransaction, *, audit_id: str, ran_by: str, ran_at: datetime, n_rows: int,
                     data_sha256: str, results: str, verdict: str, evidence_hash: str) -> None:
    tx.execute("INSERT INTO fairness_audit_run VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [audit_id, ran_by, ran_at, n_rows, data_sha256, results, verdict, evidence_hash])


def fairness_audit_table(store: GovernanceStore, *, model: str | None = None,
                         version: str | None = None) -> pd.DataFrame:
    """Every audit (of a model, of a version), newest first, with its run's figures and a verdict that says 'not
    run yet' or 'could not run' when it has none; definition and results as stored text."""
    return store.query("""
        SELECT a.audit_id, a.model, a.version, a.source_name, a.definition, a.defined_by, a.defined_at,
               r.ran_at, r.ran_by, r.n_rows,
               coalesce(r.verdict, CASE WHEN f.audit_id IS NULL THEN 'not run yet' ELSE 'could not run' END)
                   AS verdict, r.evidence_hash, r.results
        FROM fairness_audit a LEFT JOIN fairness_audit_run r USING (audit_id)
             LEFT JOIN fairness_audit_failure f USING (audit_id)
        WHERE (CAST(? AS VARCHAR) IS NULL OR a.model = ?) AND (CAST(? AS VARCHAR) IS NULL OR a.version = ?)
        ORDER BY a.defined_at DESC, a.audit_id DESC""", [model, model, version, version])


def fairness_audit(store: GovernanceStore, *, audit_id: str) -> FairnessAuditRecord | None:
    rows = store.query_rows("""
        SELECT a.definition, a.definition_hash, a.defined_by, a.defined_at, r.ran_by, r.ran_at, r.n_rows,
               r.data_sha256, r.results, r.verdict, r.evidence_hash, f.failed_by, f.failed_at, f.reason
        FROM fairness_audit a LEFT JOIN fairness_audit_run r USING (audit_id)
             LEFT JOIN fairness_audit_failure f USING (audit_id) WHERE a.audit_id = ?""", [audit_id])
    return FairnessAuditRecord(audit_id, *rows[0]) if rows else None


def fairness_results(store: GovernanceStore, *, audit_id: str) -> str | None:
    """The run's results as the canonical JSON text its evidence hash is over."""
    return store.query_value("SELECT results FROM fairness_audit_run WHERE audit_id = ?", [audit_id])


# --- robustness runs ------------------------------------------------------------------------------------------------
def robustness_run_count(store: GovernanceStore) -> int:
    """How many runs were ever defined (their ids number them: RB-0001 …)."""
    return store.query_value("SELECT count(*) FROM robustness_run")


def add_robustness_run(tx: WriteTransaction, *, run_id: str, model: str, version: str, definition: str,
                       definition_hash: str, defined_by: str, defined_at: datetime) -> None:
    tx.execute("INSERT INTO robustness_run VALUES (?, ?, ?, ?, ?, ?, ?)",
               [run_id, model, version, definition, definition_hash, defined_by, defined_at])


def add_robustness_result(tx: WriteTransaction, *, run_id: str, ran_by: str, ran_at: datetime, n_rows: int,
                          data_sha256: str, results: str, verdict: str, evidence_hash: str) -> None:
    tx.execute("INSERT INTO robustness_result VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [run_id, ran_by, ran_at, n_rows, data_sha256, results, verdict, evidence_hash])


def robustness_run(store: GovernanceStore, *, run_id: str) -> RobustnessRunRecord | None:
    rows = store.query_rows(_ROBUSTNESS_RUN_SQL + " WHERE r.run_id = ?", [run_id])
    return RobustnessRunRecord(*rows[0]) if rows else None


def robustness_runs(store: GovernanceStore, *, model: str | None = None,
                    version: str | None = None) -> list[RobustnessRunRecord]:
    """Every run (of a model, of a version), newest first."""
    return [RobustnessRunRecord(*row) for row in store.query_rows(
        _ROBUSTNESS_RUN_SQL + " WHERE (CAST(? AS VARCHAR) IS NULL OR r.model = ?) "
        "AND (CAST(? AS VARCHAR) IS NULL OR r.version = ?) "
        "ORDER BY r.defined_at DESC, r.run_id DESC", [model, model, version, version])]


def latest_robustness_verdict(store: GovernanceStore, *, model: str, version: str) -> str | None:
    """The verdict of the version's newest run that has a result, or None."""
    return store.query_value("""
        SELECT x.verdict FROM robustness_run r JOIN robustness_result x USING (run_id)
        WHERE r.model = ? AND r.version = ? ORDER BY r.defined_at DESC, r.run_id DESC LIMIT 1""", [model, version])
