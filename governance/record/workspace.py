"""Where the workspace lives: --db on the CLI, else QUORUM_DB, else data/quorum.duckdb.

A DuckDB file's path, or a PostgreSQL URL (postgresql://…) for a shared deployment, whose telemetry then lives
in the lake folder QUORUM_LAKE (or --lake)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_WORKSPACE = DATA_DIR / "quorum.duckdb"


def workspace_path(*, db: str | os.PathLike | None = None) -> Path | str:
    """The DuckDB file's path, or the PostgreSQL URL as it was given."""
    location = db or os.environ.get("QUORUM_DB")
    if not location:
        return DEFAULT_WORKSPACE
    return str(location) if is_database_url(location) else Path(location)


def is_database_url(location) -> bool:
    return str(location or "").startswith(("postgresql://", "postgres://"))


def lake_path(*, lake: str | os.PathLike | None = None) -> str | None:
    """The telemetry lake of a PostgreSQL workspace: --lake, else QUORUM_LAKE."""
    return str(lake or os.environ.get("QUORUM_LAKE") or "") or None


def is_default_workspace(path: Path | str) -> bool:
    return not is_database_url(path) and Path(path).resolve() == DEFAULT_WORKSPACE.resolve()
