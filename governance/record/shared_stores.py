"""The process's one store per workspace file, shared by the pages, the API and the scheduler.

Apart from governance.record.workspace (where the file lives), which the command line reads to build its parsers
without importing DuckDB.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from governance.record.postgres_store import PostgresStore
from governance.record.store import GovernanceStore
from governance.record.workspace import is_database_url, lake_path

_stores: dict[str, GovernanceStore] = {}
_stores_lock = threading.Lock()


def open_store(location: str | os.PathLike, *, lake: str | os.PathLike | None = None) -> GovernanceStore:
    """The workspace at `location`: a DuckDB file, or a PostgreSQL URL with its telemetry in `lake` (default
    QUORUM_LAKE)."""
    if is_database_url(location):
        return PostgresStore(str(location), lake=lake_path(lake=lake))
    return GovernanceStore(location)


def shared_store(path: str | os.PathLike) -> GovernanceStore:
    """One connection and one write lock per workspace, so the process's writes queue instead of
    conflicting."""
    key = str(path) if is_database_url(path) else str(Path(path).resolve())
    with _stores_lock:
        if key not in _stores:
            _stores[key] = open_store(path)
        return _stores[key]
