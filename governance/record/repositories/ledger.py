"""The ledger's entries, the heads of the record's hash chains, and the ledger key's fingerprints.

Chain-wide reads (a chain's head, its newest number, the hash of one row) take the chain's table and column
names, so the one module that knows what a chain is (governance.record.hash_chain) describes both chains, and
this module only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # the command line imports the services above this module to build its parsers: no DuckDB
    from governance.record.store import GovernanceStore, WriteTransaction

COLUMNS = ("seq", "recorded_at", "actor", "kind", "subject", "payload", "idempotency_key", "prev_hash", "entry_hash",
           "entry_mac")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM ledger"


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row as stored: `payload` is canonical JSON text, `recorded_at` naive UTC."""
    seq: int
    recorded_at: datetime
    actor: str
    kind: str
    subject: str
    payload: str
    idempotency_key: str
    prev_hash: str
    entry_hash: str
    entry_mac: str | None


@dataclass(frozen=True)
class ChainHead:
    """The newest row of a chain."""
    seq: int
    hash: str
    mac: str | None


@dataclass(frozen=True)
class RecordedKey:
    """A ledger key the workspace was signed with, from these rows of each chain on."""
    fingerprint: str
    since_seq: int
    since_event: int


# --- entries -----------------------------------------------------------------------------------------------------
def all_entries(store: GovernanceStore) -> list[LedgerEntry]:
    return [LedgerEntry(*row) for row in store.query_rows(f"{_SELECT} ORDER BY seq")]


def entries(store: GovernanceStore, *, subject: str | None = None, kind: str | None = None,
            before: datetime | None = None) -> list[LedgerEntry]:
    """Oldest first; `before` (naive UTC): only the entries recorded before that moment (the record as it stood)."""
    cut, params = ("", []) if before is None else (" AND recorded_at < ?", [before])
    rows = store.query_rows(f"{_SELECT} WHERE (CAST(? AS VARCHAR) IS NULL OR subject = ?) "
                            f"AND (CAST(? AS VARCHAR) IS NULL OR kind = ?){cut} ORDER BY seq",
                            [subject, subject, kind, kind, *params])
    return [LedgerEntry(*row) for row in rows]


def entry_for_key(store: GovernanceStore, *, idempotency_key: str) -> LedgerEntry | None:
    """The entry written with this idempotency key (inside a write: its own uncommitted entries too)."""
    rows = store.query_rows(f"{_SELECT} WHERE idempotency_key = ?", [idempotency_key])
    return LedgerEntry(*rows[0]) if rows else None


def count_of_kind(store: GovernanceStore, *, kind: str) -> int:
    return store.query_value("SELECT count(*) FROM ledger WHERE kind = ?", [kind])


def add_entry(tx: WriteTransaction, entry: LedgerEntry) -> None:
    row = [getattr(entry, column) for column in COLUMNS]
    tx.execute(f"INSERT INTO ledger ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", row)


# --- the chains' heads -------------------------------------------------------------------------------------------
def chain_head(store: GovernanceStore, *, table: str, hash_column: str, mac_column: str) -> ChainHead | None:
    """The chain's newest row, or None when it is empty (inside a write: its own uncommitted rows too)."""
    rows = store.query_rows(f"SELECT seq, {hash_column}, {mac_column} FROM {table} ORDER BY seq DESC LIMIT 1")
    return ChainHead(*rows[0]) if rows else None


def newest_seq(store: GovernanceStore, *, table: str) -> int:
    """The highest number in a chain; 0 when it is empty."""
    return store.query_value(f"SELECT coalesce(max(seq), 0) FROM {table}")


def hash_at(store: GovernanceStore, *, table: str, hash_column: str, seq: int) -> str | None:
    return store.query_value(f"SELECT {hash_column} FROM {table} WHERE seq = ?", [seq])


def row_count(store: GovernanceStore, *, table: str, committed: bool = False) -> int:
    """Rows in a record table; `committed`: without those of a write open on this thread."""
    count = store.committed_value if committed else store.query_value
    return count(f"SELECT count(*) FROM {table}")


# --- the ledger key's fingerprints -------------------------------------------------------------------------------
def recorded_keys(store: GovernanceStore) -> list[RecordedKey]:
    """Oldest first (more than one after a rotation)."""
    return [RecordedKey(*row) for row in store.query_rows(
        "SELECT fingerprint, since_seq, since_event FROM ledger_key ORDER BY since_seq")]


def add_key(tx: WriteTransaction, *, fingerprint: str, since_seq: int, since_event: int,
            recorded_at: datetime) -> None:
    tx.execute("INSERT INTO ledger_key (fingerprint, since_seq, since_event, recorded_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT DO NOTHING", [fingerprint, since_seq, since_event, recorded_at])
