"""The tamper matrix (issue 22): every kind of change, made behind Quorum's back with DuckDB or the file system, to
every table of the record, the key, the anchor and the server file. `python -m governance verify` names what
changed in every case and exits 0 only on the untouched workspace (1: broken; 3: the signatures could not be
checked because the key at hand is missing or not the workspace's).

Every case runs on both engines: on PostgreSQL the same statements run with psycopg on the database (DuckDB's
`SELECT * REPLACE` spelled out column by column), and the anchor and server file are those in the lake. So the
record of a shared workspace is as provable as a file's.

The workspace is a copy of the session's demo with two API tokens (one revoked) and a stage moved through the
services, so that every table holds rows to tamper with."""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from governance.access import identity, tokens
from governance.decisions import committee
from governance.record import server_file
from governance.record.postgres_store import psycopg_sql
from governance.record.store import GovernanceStore
from tests.conftest import (ENGINES, PgWorkspace, copy_on_engine, copy_postgres_workspace, copy_workspace,
                            drop_postgres_workspace, migrate_to_postgres, workspace_args)

ADMIN = next(u for u in identity.DEMO_USERS if u.role == "admin")
SESSION_KEY = os.environ["QUORUM_LEDGER_KEY"]


@pytest.fixture(scope="module")
def template(demo_workspace, tmp_path_factory) -> Path:
    path = copy_workspace(demo_workspace, tmp_path_factory.mktemp("tamper") / "template.duckdb")
    with GovernanceStore(path) as store:
        tokens.create_token(store, name="ci", user_name=ADMIN.user_name, actor=ADMIN, expires_days=None)
        second = tokens.create_token(store, name="laptop", user_name=ADMIN.user_name, actor=ADMIN, expires_days=None)
        tokens.revoke_token(store, token_id=second.token_id, actor=ADMIN)
        committee.set_rule(store, key="decision_validity_days", value=180, actor=ADMIN)
        committee.set_rule(store, key="quorum_fraction", value=0.6, actor=ADMIN)
        identity.add_user(store, user_name="local.admin", display_name="Local Admin", role="admin", actor=ADMIN,
                          password="a long enough password")
        identity.set_disabled(store, user_name="local.admin", disabled=True, actor=ADMIN)
    return path


@pytest.fixture(scope="module")
def pg_template(template, postgres_server, tmp_path_factory) -> PgWorkspace:
    made = migrate_to_postgres(postgres_server, source=template, name="t_tamper_template",
                               folder=tmp_path_factory.mktemp("tamper_pg"))
    yield made
    drop_postgres_workspace(made)


@pytest.fixture(params=ENGINES)
def workspace(request, template, tmp_path):
    """A private copy of the template: a DuckDB file, or a PostgreSQL database with its lake."""
    yield from copy_on_engine(request, template=template, tmp_path=tmp_path)


def beside(workspace) -> Path:
    """The name the workspace's own files start with: the DuckDB file, or PostgresStore.path in the lake."""
    return workspace.path if isinstance(workspace, PgWorkspace) else Path(workspace)


_STAR_REPLACE = re.compile(r"INSERT INTO (\w+) SELECT \* REPLACE \((.*)\) (FROM \w+ WHERE .*)", re.DOTALL)


def _items(text: str) -> list[str]:
    """`a, f(b, c) AS d` -> ['a', 'f(b, c) AS d']: split at the commas outside parentheses."""
    found, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == "," and depth == 0:
            found.append(text[start:i].strip())
            start = i + 1
    return found + [text[start:].strip()]


def _spelled_out(con, statement: str) -> str:
    """DuckDB's `INSERT INTO t SELECT * REPLACE (expr AS col, …) FROM …` as PostgreSQL takes it: every column of t
    named, the replaced ones by their expression (an identity column is left to number itself)."""
    match = _STAR_REPLACE.fullmatch(statement)
    if not match:
        return statement
    table, items, rest = match.groups()
    replaced = {column.strip(): expression for expression, _, column in (i.rpartition(" AS ") for i in _items(items))}
    columns = [row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND is_identity = 'NO' ORDER BY ordinal_position", [table])]
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(replaced.get(c, c) for c in columns)} {rest}")


@contextmanager
def behind_quorums_back(workspace):
    """run(statement, params) on the database itself, as someone with access to it would: DuckDB on the file, or
    psycopg on the PostgreSQL database."""
    if isinstance(workspace, PgWorkspace):
        import psycopg

        with psycopg.connect(workspace.url, autocommit=True) as con:
            yield lambda statement, params=None: con.execute(psycopg_sql(_spelled_out(con, statement)), params)
        return
    with duckdb.connect(str(workspace)) as con:
        yield con.execute


def sql(*statements: str):
    def tamper(workspace) -> None:
        with behind_quorums_back(workspace) as run:
            for statement in statements:
                run(statement)
    return tamper


def newest(table: str, key: str = "seq") -> str:
    return f"(SELECT max({key}) FROM {table})"


def swap(table: str, column: str, where_a: str, where_b: str) -> callable:
    """Two rows trade one column's values (a reorder of what the rows say)."""
    def tamper(workspace) -> None:
        with behind_quorums_back(workspace) as run:
            a = run(f"SELECT {column} FROM {table} WHERE {where_a}").fetchone()[0]
            b = run(f"SELECT {column} FROM {table} WHERE {where_b}").fetchone()[0]
            assert a != b, (table, column)
            run(f"UPDATE {table} SET {column} = ? WHERE {where_a}", [b])
            run(f"UPDATE {table} SET {column} = ? WHERE {where_b}", [a])
    return tamper


def chain_cases(table: str, text_column: str, hash_column: str, extra: str = "") -> dict:
    """`extra`: more REPLACE items, for the columns an inserted copy must change to pass the UNIQUE constraints."""
    return {
        f"{table}: edit": sql(f"UPDATE {table} SET {text_column} = 'edited' WHERE seq = 5"),
        f"{table}: delete the newest": sql(f"DELETE FROM {table} WHERE seq = {newest(table)}"),
        f"{table}: delete a middle row": sql(f"DELETE FROM {table} WHERE seq = 3"),
        f"{table}: insert": sql(f"INSERT INTO {table} SELECT * REPLACE (seq + 1 AS seq, {hash_column} AS prev_hash, "
                                f"repeat('c', 64) AS {hash_column}{extra}) FROM {table} WHERE seq = {newest(table)}"),
        f"{table}: reorder": swap(table, text_column, "seq = 2", "seq = 4"),
        f"{table}: truncate": sql(f"DELETE FROM {table}"),
    }


def move_anchor(content: str):
    def tamper(workspace) -> None:
        Path(f"{beside(workspace)}.anchor").write_text(content)
    return tamper


def anchor_of_another_workspace(workspace) -> None:
    """A genuine anchor (the same key signed it) of another copy that went on to record one entry more."""
    if isinstance(workspace, PgWorkspace):
        other = copy_postgres_workspace(workspace, lake=workspace.lake.with_name("other-lake"))
        try:
            with other.open() as store:
                tokens.create_token(store, name="elsewhere", user_name=ADMIN.user_name, actor=ADMIN,
                                    expires_days=None)
        finally:
            drop_postgres_workspace(other)
        shutil.copyfile(other.anchor, workspace.anchor)
        return
    other = copy_workspace(workspace, workspace.with_name("other.duckdb"))
    with GovernanceStore(other) as store:
        tokens.create_token(store, name="elsewhere", user_name=ADMIN.user_name, actor=ADMIN, expires_days=None)
    shutil.copyfile(f"{other}.anchor", f"{workspace}.anchor")


def anchor_removed(workspace) -> None:
    Path(f"{beside(workspace)}.anchor").unlink()


def server_file_redirected(workspace) -> None:
    server_file.write(workspace=beside(workspace), url="http://127.0.0.1:8501")   # genuine, signed
    target = server_file.path_for(beside(workspace))
    found = json.loads(target.read_text())
    target.write_text(json.dumps({**found, "url": "http://attacker.example:8501"}))


def server_file_unsigned(workspace) -> None:
    server_file.path_for(beside(workspace)).write_text(json.dumps(
        {"url": "http://attacker.example:8501", "pid": os.getpid(), "workspace": str(beside(workspace))}))


CASES = {
    **chain_cases("ledger", "subject", "entry_hash", ", idempotency_key || '-forged' AS idempotency_key"),
    **chain_cases("risk_event", "new_value", "event_hash"),
    "model_version: edit a stage": sql("UPDATE model_version SET stage = 'production' "
                                       "WHERE model = 'adult-income' AND version = 'v2'"),
    "model_version: reorder stages": swap("model_version", "stage", "model = 'adult-income' AND version = 'v1'",
                                          "model = 'adult-income' AND version = 'v2'"),
    "model_version: insert": sql("INSERT INTO model_version SELECT * REPLACE ('v9' AS version, 'production' AS stage) "
                                 "FROM model_version WHERE model = 'german-credit' AND version = 'v1'"),
    "committee_member: edit": sql("UPDATE committee_member SET added_by = 'mallory' "
                                  "WHERE user_name = (SELECT min(user_name) FROM committee_member)"),
    "committee_member: delete the newest": sql("DELETE FROM committee_member WHERE added_at = "
                                               "(SELECT max(added_at) FROM committee_member)"),
    "committee_member: delete a middle row": sql("DELETE FROM committee_member WHERE user_name = "
                                                 "(SELECT user_name FROM committee_member ORDER BY added_at "
                                                 "LIMIT 1 OFFSET 1)"),
    "committee_member: insert": sql("INSERT INTO committee_member VALUES ('mallory', now(), 'mallory')"),
    "committee_member: truncate": sql("DELETE FROM committee_member"),
    "committee_rule: edit": sql("UPDATE committee_rule SET value = '1' WHERE key = (SELECT min(key) FROM committee_rule)"),
    "committee_rule: delete": sql("DELETE FROM committee_rule WHERE key = (SELECT min(key) FROM committee_rule)"),
    "committee_rule: insert": sql("INSERT INTO committee_rule VALUES ('chair_required', 'false')"),
    "committee_rule: truncate": sql("DELETE FROM committee_rule"),
    "api_token: edit its hash": sql("UPDATE api_token SET token_hash = repeat('a', 64) WHERE token_id = 'TK-0001'"),
    "api_token: revive a revoked one": sql("UPDATE api_token SET revoked_at = NULL, revoked_by = NULL "
                                           "WHERE revoked_at IS NOT NULL"),
    "api_token: delete the newest": sql(f"DELETE FROM api_token WHERE token_id = {newest('api_token', 'token_id')}"),
    "api_token: insert": sql("INSERT INTO api_token SELECT * REPLACE ('TK-0099' AS token_id, repeat('b', 64) AS "
                             "token_hash) FROM api_token WHERE token_id = 'TK-0001'"),
    "api_token: truncate": sql("DELETE FROM api_token"),
    "app_user: raise a role": sql("UPDATE app_user SET role = 'admin' WHERE user_name = 'farid.haddad'"),
    "app_user: swap a password hash": sql("UPDATE app_user SET password_hash = '$argon2id$forged' "
                                          "WHERE user_name = 'farid.haddad'"),
    "app_user: swap a local account's password hash": sql(
        "UPDATE app_user SET password_hash = (SELECT password_hash FROM app_user WHERE user_name = 'local.admin') "
        "|| 'x' WHERE user_name = 'local.admin'"),
    "app_user: re-enable": sql("UPDATE app_user SET disabled = false WHERE disabled"),
    "app_user: insert": sql("INSERT INTO app_user SELECT * REPLACE ('mallory' AS user_name) FROM app_user "
                            "WHERE user_name = 'farid.haddad'"),
    "app_user: delete": sql("DELETE FROM app_user WHERE user_name = 'farid.haddad'"),
    "ledger_key: edit the fingerprint": sql("UPDATE ledger_key SET fingerprint = repeat('a', 32)"),
    "ledger_key: insert another key": sql("INSERT INTO ledger_key VALUES (repeat('b', 32), 10000, 10000, now())"),
    "ledger_key: truncate": sql("DELETE FROM ledger_key"),
    "anchor: replaced by another workspace's": anchor_of_another_workspace,
    "anchor: replaced by garbage": move_anchor("not an anchor"),
    "anchor: removed": anchor_removed,
    "server file: redirected": server_file_redirected,
    "server file: unsigned": server_file_unsigned,
}
KEY_CASES = {"key: swapped": {"QUORUM_LEDGER_KEY": "another key"},
             "key: removed": {"QUORUM_LEDGER_KEY": "", "QUORUM_LEDGER_KEY_FILE": "/nonexistent/ledger.key"}}


def verify(cli, workspace, env: dict | None = None) -> tuple[int, dict]:
    done = cli(*workspace_args(workspace), "verify", "--json", env=env)
    return done.returncode, json.loads(done.stdout)


def test_the_untouched_workspace_verifies(workspace, cli):
    code, result = verify(cli, workspace)
    assert (code, result["ok"], result["problems"]) == (0, True, []), result
    assert result["chains"]["risk register"]["rows"] > 0 and result["entries"] > 0


@pytest.mark.parametrize("case", CASES)
def test_every_change_is_named(workspace, cli, case):
    CASES[case](workspace)
    code, result = verify(cli, workspace)
    assert (code, result["ok"]) == (1, False), result
    table = case.split(":")[0]
    named = {"ledger": "ledger entry", "risk_event": "risk register", "anchor": "anchor",
             "server file": "server file", "ledger_key": "ledger key", "model_version": "model_version",
             "committee_member": "committee_member", "committee_rule": "committee_rule",
             "api_token": "api_token", "app_user": "app_user"}[table]
    text = " ".join(result["problems"])
    assert named in text or (table == "ledger" and "ledger" in text), result["problems"]


@pytest.mark.parametrize("case", KEY_CASES)
def test_a_swapped_or_removed_key_is_named(workspace, cli, case):
    code, result = verify(cli, workspace, env=KEY_CASES[case])
    assert (code, result["ok"], result["signatures_checked"]) == (3, False, False), result
    assert ("is not this workspace's key" if "swapped" in case else "no ledger key on this machine") in result["problem"]
