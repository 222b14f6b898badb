"""Fixtures shared by all three layers: real DuckDB workspaces built by the real demo code."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from governance.demo import seed_demo  # noqa: E402
from governance.identity import User  # noqa: E402
from governance.store import GovernanceStore  # noqa: E402

DEMO_ROWS = 60_000
# Who acts in service-level tests: services check the role of the User they are given (pages and the CLI get it
# from a signed-in account); names and roles as in the demo.
LEADER = User("farid.haddad", "Farid Haddad", "engineering leader", "demo")
AUDITOR = User("amara.okafor", "Amara Okafor", "committee chair", "demo")
VIEWER = User("hugo.tanaka", "Hugo Tanaka", "viewer", "demo")


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory) -> Path:
    """A demo workspace at test size, built once per run. Tests must not write to it."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with GovernanceStore(path) as store:
        seed_demo(store, rows=DEMO_ROWS, seed=42)
    return path


@pytest.fixture
def demo_copy(demo_workspace, tmp_path) -> Path:
    """A private copy of the demo workspace, for tests that write or hand it to another process."""
    target = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_workspace, target)
    return target
