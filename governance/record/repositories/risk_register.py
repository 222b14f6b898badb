"""The risk register's events (risk_event, a hash chain) and the framework clauses risks are mapped to.

A risk's state is folded from its events by governance.decisions.risks; the chain's seal and its check are
governance.record.risk_chain's and governance.record.hash_chain's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore, WriteTransaction

_EVENT_COLUMNS = ("seq, risk_id, recorded_at, actor, kind, field, old_value, new_value, reason, prev_hash, event_hash, "
                  "event_mac")


@dataclass(frozen=True)
class RiskEvent:
    """One event as stored: `old_value` and `new_value` are JSON text, `recorded_at` naive UTC."""
    seq: int
    risk_id: str
    recorded_at: datetime
    actor: str
    kind: str
    field: str | None
    old_value: str
    new_value: str
    reason: str | None
    prev_hash: str
    event_hash: str
    event_mac: str | None


@dataclass(frozen=True)
class FrameworkClause:
    framework: str
    ref_id: str
    title: str | None
    detail: str | None


# --- events ------------------------------------------------------------------------------------------------------
def all_events(store: GovernanceStore, *, before: datetime | None = None) -> list[RiskEvent]:
    """Every event of every risk, in the chain's order; `before` (naive UTC): those recorded before it only."""
    cut, params = ("", []) if before is None else (" WHERE recorded_at < ?", [before])
    return [RiskEvent(*row) for row in store.query_rows(
        f"SELECT {_EVENT_COLUMNS} FROM risk_event{cut} ORDER BY seq", params)]


def events_of(store: GovernanceStore, *, risk_id: str, before: datetime | None = None) -> list[RiskEvent]:
    """One risk's events in order; `before` (naive UTC): those recorded before it only."""
    cut, params = ("", []) if before is None else (" AND recorded_at < ?", [before])
    return [RiskEvent(*row) for row in store.query_rows(
        f"SELECT {_EVENT_COLUMNS} FROM risk_event WHERE risk_id = ?{cut} ORDER BY seq", [risk_id, *params])]


def risk_count(store: GovernanceStore) -> int:
    """How many risks have events (inside a write: the ones it has already added too)."""
    return store.query_value("SELECT count(DISTINCT risk_id) FROM risk_event")


def add_event(tx: WriteTransaction, event: RiskEvent) -> None:
    tx.execute(f"INSERT INTO risk_event ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [event.seq, event.risk_id, event.recorded_at, event.actor, event.kind, event.field, event.old_value,
                event.new_value, event.reason, event.prev_hash, event.event_hash, event.event_mac])


# --- framework clauses -------------------------------------------------------------------------------------------
def clause_count(store: GovernanceStore) -> int:
    return store.query_value("SELECT count(*) FROM framework_clause")


def add_clauses(tx: WriteTransaction, clauses: list[FrameworkClause]) -> None:
    tx.executemany("INSERT INTO framework_clause VALUES (?, ?, ?, ?)",
                   [[c.framework, c.ref_id, c.title, c.detail] for c in clauses])


def clauses(store: GovernanceStore, *, framework: str | None = None) -> list[FrameworkClause]:
    """In the order they were loaded (the shipped files' order)."""
    return [FrameworkClause(*row) for row in store.query_rows(
        "SELECT framework, ref_id, title, detail FROM framework_clause "
        "WHERE CAST(? AS VARCHAR) IS NULL OR framework = ? ORDER BY framework, rowid", [framework, framework])]


def clause_refs(store: GovernanceStore) -> set[str]:
    return {row[0] for row in store.query_rows("SELECT ref_id FROM framework_clause")}
