"""The record of each ingested telemetry file (ingested_file), found by the SHA-256 of its bytes, so ingesting the
same content again is seen and does nothing. Its rows and quarantined rows are telemetry (monitoring/telemetry_sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore, WriteTransaction


@dataclass(frozen=True)
class IngestedFile:
    file_sha256: str
    file_name: str
    file_format: str
    model: str
    version: str
    rows_accepted: int
    rows_quarantined: int
    via: str
    ingested_at: datetime


def add_ingested_file(tx: WriteTransaction, *, record: IngestedFile) -> None:
    tx.execute("INSERT INTO ingested_file (file_sha256, file_name, file_format, model, version, rows_accepted, "
               "rows_quarantined, via, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [record.file_sha256, record.file_name, record.file_format, record.model, record.version,
                record.rows_accepted, record.rows_quarantined, record.via, record.ingested_at])


def ingested_file(store: GovernanceStore, *, file_sha256: str) -> IngestedFile | None:
    """The earlier ingest of this content, or None."""
    rows = store.query_records("SELECT file_sha256, file_name, file_format, model, version, rows_accepted, "
                               "rows_quarantined, via, ingested_at FROM ingested_file WHERE file_sha256 = ?",
                               [file_sha256])
    return IngestedFile(**rows[0]) if rows else None
