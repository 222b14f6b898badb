"""The reads the record as it stood on a day needs beyond the ledger and the risk register's events: when the record
begins, when each version was registered, and the stored audits and explanations with their times.

Audits, robustness runs and explanations are append-only evidence: a row's own time says when it was stored, so
filtering by it gives what was stored by a day (governance.record.as_of)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore


@dataclass(frozen=True)
class Registration:
    model: str
    version: str
    created_at: datetime


@dataclass(frozen=True)
class StoredAudit:
    """A fairness audit or a robustness run as stored: when it was defined, when it ran (None: not yet) and its
    verdict then; `failed_at` when a fairness audit could not run."""
    audit_id: str
    model: str | None
    version: str | None
    defined_at: datetime
    ran_at: datetime | None
    verdict: str | None
    failed_at: datetime | None = None


@dataclass(frozen=True)
class StoredExplanationTime:
    explanation_id: str
    model: str
    version: str
    computed_at: datetime


def record_begins(store: GovernanceStore) -> datetime | None:
    """The earliest moment the record holds: its first ledger entry, risk event, model or account; None if empty."""
    return store.query_value("""
        SELECT min(t) FROM (SELECT min(recorded_at) AS t FROM ledger UNION ALL SELECT min(recorded_at) FROM risk_event
                            UNION ALL SELECT min(created_at) FROM model UNION ALL SELECT min(created_at) FROM app_user)
        AS firsts""")


def version_registrations(store: GovernanceStore) -> list[Registration]:
    return [Registration(*row) for row in store.query_rows(
        "SELECT model, version, created_at FROM model_version ORDER BY model, version")]


def fairness_audits(store: GovernanceStore) -> list[StoredAudit]:
    return [StoredAudit(*row) for row in store.query_rows("""
        SELECT a.audit_id, a.model, a.version, a.defined_at, r.ran_at, r.verdict, f.failed_at
        FROM fairness_audit a LEFT JOIN fairness_audit_run r USING (audit_id)
             LEFT JOIN fairness_audit_failure f USING (audit_id)
        ORDER BY a.defined_at DESC, a.audit_id DESC""")]


def robustness_runs(store: GovernanceStore) -> list[StoredAudit]:
    return [StoredAudit(*row) for row in store.query_rows("""
        SELECT r.run_id, r.model, r.version, r.defined_at, x.ran_at, x.verdict
        FROM robustness_run r LEFT JOIN robustness_result x USING (run_id)
        ORDER BY r.defined_at DESC, r.run_id DESC""")]


def explanation_times(store: GovernanceStore) -> list[StoredExplanationTime]:
    return [StoredExplanationTime(*row) for row in store.query_rows(
        "SELECT explanation_id, model, version, computed_at FROM explanation ORDER BY computed_at, explanation_id")]
