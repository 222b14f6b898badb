"""Where the workspace file lives: --db on the CLI, else QUORUM_DB, else data/quorum.duckdb."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_WORKSPACE = DATA_DIR / "quorum.duckdb"


def workspace_path(*, db: str | os.PathLike | None = None) -> Path:
    if db:
        return Path(db)
    if os.environ.get("QUORUM_DB"):
        return Path(os.environ["QUORUM_DB"])
    return DEFAULT_WORKSPACE


def is_default_workspace(path: Path) -> bool:
    return Path(path).resolve() == DEFAULT_WORKSPACE.resolve()
