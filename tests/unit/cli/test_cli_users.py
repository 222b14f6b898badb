"""`python -m governance users …` in a real subprocess: passwords from the environment, never from argv."""

from __future__ import annotations

import json

from governance.access import identity
from governance.record.store import GovernanceStore

PASSWORD = "correct horse battery"


def test_first_admin_then_accounts_added_by_an_admin_who_proves_it(tmp_path, cli):
    db = str(tmp_path / "ws.duckdb")
    first = cli("--db", db, "users", "add", "ada", "--role", "admin", "--display-name", "Ada Admin", "--json",
                env={"QUORUM_NEW_PASSWORD": PASSWORD})
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"user_name": "ada", "display_name": "Ada Admin", "role": "admin",
                                        "source": "local"}
    refused = cli("--db", db, "users", "add", "lee", "--role", "engineering leader",
                  env={"QUORUM_NEW_PASSWORD": PASSWORD})
    assert refused.returncode == 2 and "this workspace has an admin" in refused.stderr
    wrong = cli("--db", db, "users", "add", "lee", "--role", "engineering leader", "--by", "ada",
                env={"QUORUM_NEW_PASSWORD": PASSWORD, "QUORUM_PASSWORD": "guess"})
    assert wrong.returncode == 2 and "wrong user name or password" in wrong.stderr
    no_terminal = cli("--db", db, "users", "add", "lee", "--role", "engineering leader", "--by", "ada")
    assert no_terminal.returncode == 2 and "set QUORUM_PASSWORD" in no_terminal.stderr
    added = cli("--db", db, "users", "add", "chen@example.org", "--role", "committee member", "--oidc", "--by", "ada",
                env={"QUORUM_PASSWORD": PASSWORD})
    assert added.returncode == 0, added.stderr
    assert "signs in through the identity provider" in added.stdout
    listed = json.loads(cli("--db", db, "users", "list", "--json").stdout)["users"]
    assert [(u["user_name"], u["role"], u["source"]) for u in listed] == [
        ("ada", "admin", "local"), ("chen@example.org", "committee member", "oidc")]
    assert [u["email"] for u in listed] == [None, "chen@example.org"]   # the provider's name is the address
    with GovernanceStore(db) as store:
        assert identity.authenticate(store, user_name="ada", password=PASSWORD).role == "admin"
        assert store.query_value("SELECT password_hash FROM app_user WHERE user_name = 'chen@example.org'") is None

    bad = cli("--db", db, "users", "email", "ada", "ada at example", "--by", "ada", env={"QUORUM_PASSWORD": PASSWORD})
    assert bad.returncode == 2 and "is not an e-mail address" in bad.stderr
    set_ = cli("--db", db, "users", "email", "ada", "ada@example.org", "--by", "ada", "--json",
               env={"QUORUM_PASSWORD": PASSWORD})
    assert set_.returncode == 0 and json.loads(set_.stdout) == {"user_name": "ada", "email": "ada@example.org"}
    removed = cli("--db", db, "users", "email", "chen@example.org", "--by", "ada", env={"QUORUM_PASSWORD": PASSWORD})
    assert removed.returncode == 0 and "has no e-mail address" in removed.stdout
    listed = json.loads(cli("--db", db, "users", "list", "--json").stdout)["users"]
    assert [u["email"] for u in listed] == ["ada@example.org", None]


def test_a_short_password_or_a_bad_role_saves_nothing(tmp_path, cli):
    db = str(tmp_path / "ws.duckdb")
    short = cli("--db", db, "users", "add", "ada", "--role", "admin", env={"QUORUM_NEW_PASSWORD": "short"})
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    bad = cli("--db", db, "users", "add", "ada", "--role", "root", env={"QUORUM_NEW_PASSWORD": PASSWORD})
    assert bad.returncode == 2 and "invalid choice: 'root'" in bad.stderr
    assert json.loads(cli("--db", db, "users", "list", "--json").stdout) == {"users": []}
