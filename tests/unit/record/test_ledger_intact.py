"""An empty or missing chain is not an intact one: a workspace that holds records (models, risks, committee
members, …) with its ledger emptied or its anchor file gone fails `verify`; a new, empty workspace passes.
The records a failure names are counted here with DuckDB directly, not through Quorum."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from governance.record import hash_chain, ledger, verification
from governance.record.store import GovernanceStore
from tests.conftest import PgWorkspace, open_workspace, workspace_args


def _anchor(workspace) -> Path:
    """Where the anchor is: beside the DuckDB file, or in a PostgreSQL workspace's lake."""
    return workspace.anchor if isinstance(workspace, PgWorkspace) else Path(f"{workspace}.anchor")


def _behind_quorums_back(workspace, statement: str, *, read: bool = False):
    """One statement on the database itself (DuckDB, or psycopg on PostgreSQL), as an attacker with access to it
    would run it, not through Quorum."""
    if isinstance(workspace, PgWorkspace):
        import psycopg

        with psycopg.connect(workspace.url, autocommit=True) as con:
            found = con.execute(statement)
            return found.fetchone()[0] if read else None
    with duckdb.connect(str(workspace), read_only=read) as con:
        found = con.execute(statement)
        return found.fetchone()[0] if read else None


def _count(workspace, table: str) -> int:
    return _behind_quorums_back(workspace, f"SELECT count(*) FROM {table}", read=True)


def _empty_the_ledger(workspace) -> None:
    _behind_quorums_back(workspace, "DELETE FROM ledger")


def _verify(workspace) -> dict:
    with open_workspace(workspace) as store:
        return verification.verify(store)


def test_the_untouched_demo_is_intact(demo_on_engine, cli):
    result = _verify(demo_on_engine)
    assert result["ok"] and result["entries"] == _count(demo_on_engine, "ledger") > 0
    assert cli(*workspace_args(demo_on_engine), "verify").returncode == 0


def test_the_anchor_removed_is_not_intact(demo_on_engine, cli):
    _anchor(demo_on_engine).unlink()
    result = _verify(demo_on_engine)
    missing = hash_chain.ANCHOR_MISSING.format(path=_anchor(demo_on_engine))
    assert not result["ok"] and result["problems"] == [missing]
    done = cli(*workspace_args(demo_on_engine), "verify")
    assert done.returncode == 1 and "record BROKEN" in done.stdout


def test_the_ledger_emptied_and_the_anchor_removed_is_not_intact(demo_on_engine, cli):
    members, rules = _count(demo_on_engine, "committee_member"), _count(demo_on_engine, "committee_rule")
    tokens = _count(demo_on_engine, "api_token")
    assert members > 0   # the demo has a committee, each member added with a ledger entry
    _empty_the_ledger(demo_on_engine)
    _anchor(demo_on_engine).unlink()
    result = _verify(demo_on_engine)
    held = ", ".join(f"{label}: {n:,}" for n, label in ((members, "committee members"), (rules, "committee settings"),
                                                        (tokens, "API tokens")) if n)
    assert (result["ok"], result["entries"]) == (False, 0)
    assert result["problem"] == verification.LEDGER_EMPTIED.format(records=held, path=_anchor(demo_on_engine))
    done = cli(*workspace_args(demo_on_engine), "verify")
    assert done.returncode == 1 and done.stdout.startswith("record BROKEN")
    assert f"  - {result['problem']}\n" in done.stdout
    as_json = cli(*workspace_args(demo_on_engine), "verify", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["ok"] is False


def test_no_anchor_of_the_empty_ledger_is_written_over_an_emptied_ledger(demo_on_engine):
    _empty_the_ledger(demo_on_engine)
    _anchor(demo_on_engine).unlink()
    with open_workspace(demo_on_engine) as store:
        ledger.refresh_anchor(store)   # Quorum anchors no empty ledger over a workspace that holds records
        assert not _anchor(demo_on_engine).exists()
        result = verification.verify(store)
    assert not result["ok"] and result["problem"].startswith("the ledger is empty, yet the workspace holds")


def test_models_and_risks_without_ledger_or_anchor_are_not_intact(tmp_path):
    path = tmp_path / "ws.duckdb"
    with GovernanceStore(path) as store:
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
        result = verification.verify(store)
        assert not result["ok"]
        assert result["problem"] == verification.ANCHOR_MISSING_EMPTY.format(path=_anchor(path), records="models: 1")
        ledger.refresh_anchor(store)   # Quorum does not anchor empty chains beside records made without an anchor
        assert not Path(f"{path}.anchor").exists() and not verification.verify(store)["ok"]


def test_a_fresh_workspace_is_intact(tmp_path, cli):
    path = tmp_path / "new.duckdb"
    assert cli("init", "--db", path).returncode == 0
    done = cli("--db", path, "verify")
    assert done.returncode == 0 and done.stdout.startswith("record intact: ledger 0, risk register 0")
    assert _verify(path)["ok"]
