"""The anchor follows every committed append by itself (an after-commit hook of the write), and never a rollback.

Nothing here calls refresh_anchor: the appends register the hook, the store runs it after the commit.
"""

from __future__ import annotations

import json

import pytest

from governance.record import hash_chain, ledger, risk_chain, verification
from governance.record.clock import now_naive
from tests.conftest import ENGINES
from tests.unit.record.repositories.conftest import open_engine

KEY = "test ledger key"


@pytest.fixture(autouse=True)
def ledger_key(monkeypatch):
    monkeypatch.setenv("QUORUM_LEDGER_KEY", KEY)


@pytest.fixture(params=ENGINES)
def store(request, tmp_path):
    """A new workspace on each engine: on PostgreSQL the anchor is the lake's, written after the database's commit."""
    with open_engine(request.param, tmp_path=tmp_path, request=request) as store:
        yield store


def anchored(store) -> dict:
    """{chain name: anchored seq}, read from the anchor file itself."""
    heads = json.loads(hash_chain.anchor_path(store).read_text(encoding="utf-8"))["chains"]
    return {name: head["seq"] for name, head in heads.items()}


def entry(store, n: int, **extra) -> dict:
    return ledger.append(store, actor="ada", kind="note", subject="s", payload={"n": n},
                         idempotency_key=f"note-{n}", **extra)


def event(store, tx, risk_id: str) -> None:
    risk_chain.append(store, tx, risk_id=risk_id, actor="ada", kind="created", field=None, old_value="null",
                      new_value=json.dumps({"title": risk_id}), reason=None, recorded_at=now_naive())


def test_a_committed_append_moves_the_anchor(store):
    entry(store, 1)
    assert anchored(store) == {"ledger": 1, "risk register": 0}
    with store.write() as tx:
        entry(store, 2)
        entry(store, 3)
        event(store, tx, "R-001")
        assert anchored(store)["ledger"] == 1   # not before the commit
    assert anchored(store) == {"ledger": 3, "risk register": 1}
    assert verification.verify(store)["ok"]


def test_a_rolled_back_write_leaves_the_anchor_untouched(store):
    entry(store, 1)
    before = hash_chain.anchor_path(store).read_bytes()
    with pytest.raises(RuntimeError), store.write() as tx:
        entry(store, 2)
        event(store, tx, "R-001")
        raise RuntimeError("the caller fails after appending")
    assert hash_chain.anchor_path(store).read_bytes() == before
    assert store.query_value("SELECT count(*) FROM ledger") == 1
    entry(store, 3)   # and the next committed append moves it on from where it was
    assert anchored(store) == {"ledger": 2, "risk register": 0}
    assert verification.verify(store)["ok"]


def test_a_write_with_many_appends_anchors_once(store, monkeypatch):
    entry(store, 1)
    calls = []
    refresh = hash_chain.refresh_anchor
    monkeypatch.setattr(hash_chain, "refresh_anchor", lambda *a, **k: calls.append(1) or refresh(*a, **k))
    with store.write() as tx:
        for n in range(2, 7):
            entry(store, n)
        event(store, tx, "R-001")
    assert len(calls) == 1 and anchored(store) == {"ledger": 6, "risk register": 1}
