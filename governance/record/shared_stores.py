"""The process's one store per workspace file, shared by the pages, the API and the scheduler.

Apart from governance.record.workspace (where the file lives), which the command line reads to build its parsers
without importing DuckDB.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from governance.record.store import GovernanceStore

_stores: dict[str, GovernanceStore] = {}
_stores_lock = threading.Lock()


def shared_store(path: str | os.PathLike) -> GovernanceStore:
    """One connection and one write lock per workspace file, so the process's writes queue instead of
    conflicting."""
    key = str(Path(path).resolve())
    with _stores_lock:
        if key not in _stores:
            _stores[key] = GovernanceStore(path)
        return _stores[key]
