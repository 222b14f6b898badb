"""Fixtures of the unit tests about accounts: an empty workspace and its first admin, a local account."""

from __future__ import annotations

import pytest

from governance.access import identity
from governance.record.store import GovernanceStore

PASSWORD = "correct horse battery"


@pytest.fixture
def store(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as opened:
        yield opened


@pytest.fixture
def admin(store) -> identity.User:
    return identity.add_user(store, user_name="ada", display_name="Ada Admin", role="admin", actor=None,
                             password=PASSWORD)
