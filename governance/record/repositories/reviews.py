"""The record of committee reviews: each review's ledger entries, and the stage a version is at.

A review has no table: it is event-sourced from the ledger (review_request, signature, decision, condition_update,
with the review id as subject; stage_change with "MODEL VERSION"), so this repository reads those entries and
leaves the folding to the services (governance/decisions/review_state.py). The stage a version is at is a column of
model_version, which a stage change writes in the same transaction as its ledger entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.record import ledger
from governance.record.store import GovernanceStore, WriteTransaction


@dataclass(frozen=True)
class ReviewRecord:
    """One review's ledger entries (ledger.entries' dicts), each kind oldest first."""
    request: dict                          # the review_request entry
    signatures: tuple[dict, ...]
    decision: dict | None                  # the decision entry, once decided
    condition_updates: tuple[dict, ...]


def review_record(store: GovernanceStore, *, review_id: str, before: datetime | None = None) -> ReviewRecord | None:
    """The review's entries (`before`: those recorded before it), or None when no review was requested under this
    id (by then)."""
    by_kind: dict[str, list] = {"review_request": [], "signature": [], "decision": [], "condition_update": []}
    for entry in ledger.entries(store, subject=review_id, before=before):
        by_kind.setdefault(entry["kind"], []).append(entry)
    if not by_kind["review_request"]:
        return None
    return ReviewRecord(request=by_kind["review_request"][0], signatures=tuple(by_kind["signature"]),
                        decision=by_kind["decision"][0] if by_kind["decision"] else None,
                        condition_updates=tuple(by_kind["condition_update"]))


def requests_recorded(store: GovernanceStore) -> int:
    """How many reviews were requested (inside a write: including the write's own), which numbers the next."""
    return store.query_value("SELECT count(*) FROM ledger WHERE kind = 'review_request'")


def stage_of(store: GovernanceStore, *, model: str, version: str) -> str | None:
    """The stage the version is at, or None when there is no such version."""
    return store.query_value("SELECT stage FROM model_version WHERE model = ? AND version = ?", [model, version])


def stages(store: GovernanceStore) -> dict[tuple[str, str], str]:
    """Every version's stage, by (model, version)."""
    return {(model, version): stage for model, version, stage in store.query_rows(
        "SELECT model, version, stage FROM model_version")}


def move_stage(tx: WriteTransaction, *, model: str, version: str, stage: str) -> None:
    tx.execute("UPDATE model_version SET stage = ? WHERE model = ? AND version = ?", [stage, model, version])
