"""The repositories' tests run on both engines: a new DuckDB workspace, and a new PostgreSQL database (on the test
worker's real server) with its lake. Record SQL is written once for both, so each test is the same on either."""

from __future__ import annotations

import pytest

from governance.record.postgres_store import PostgresStore
from governance.record.store import GovernanceStore

ENGINES = ("duckdb", "postgresql")


def open_engine(engine: str, *, tmp_path, request):
    """A new, empty workspace on `engine`: a DuckDB file, or a database of its own with a lake folder."""
    if engine == "duckdb":
        return GovernanceStore(tmp_path / "ws.duckdb")
    return PostgresStore(request.getfixturevalue("postgres_url"), lake=tmp_path / "lake")


@pytest.fixture(params=ENGINES)
def engine_store(request, tmp_path):
    """An empty workspace on each engine in turn."""
    opened = open_engine(request.param, tmp_path=tmp_path, request=request)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def store(engine_store):
    """The repositories' tests use `store`: here, on each engine."""
    return engine_store
