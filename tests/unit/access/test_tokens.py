"""API tokens on real workspaces: only the hash is kept, a token acts as its account and never more, and expired,
revoked, unknown and disabled are refused."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from governance.access import identity, tokens
from governance.access.identity import PermissionDeniedError
from governance.access.tokens import TokenError
from governance.cli import tokens as cli_tokens
from governance.errors import InvalidInputError
from governance.record import clock, ledger, verification
from governance.record.store import GovernanceStore
from tests.conftest import ROOT
from tests.unit.conftest import PASSWORD



@pytest.fixture
def viewer(store, admin) -> identity.User:
    return identity.add_user(store, user_name="val", display_name="Val Viewer", role="viewer", actor=admin,
                             password=PASSWORD)


@pytest.fixture
def leader(store, admin) -> identity.User:
    return identity.add_user(store, user_name="lee", display_name="Lee Leader", role="engineering leader",
                             actor=admin, source="oidc")


def _later(monkeypatch, **delta) -> None:
    """Move the workspace clock forward."""
    real = clock.now_naive
    monkeypatch.setattr(clock, "now_naive", lambda: real() + timedelta(**delta))


def test_only_the_sha256_of_a_token_is_stored_and_it_is_shown_once(store, admin, viewer, tmp_path):
    issued = tokens.create_token(store, name="ci-release-gate", user_name="val", actor=admin, expires_days=90)
    assert issued.token.startswith("qrm_") and len(issued.token) >= 4 + 43
    assert (issued.token_id, issued.name, issued.user_name) == ("TK-0001", "ci-release-gate", "val")
    assert issued.token not in repr(issued)
    assert issued.prefix == issued.token[4:12]
    assert timedelta(days=89, hours=23) < issued.expires_at - issued.created_at <= timedelta(days=90)
    [row] = store.query_rows("SELECT * FROM api_token")
    assert not any(issued.token in str(value) for value in row)
    assert not any(issued.token[4:] in str(value) for value in row)
    assert store.query_value("SELECT token_hash FROM api_token") == hashlib.sha256(
        issued.token.encode()).hexdigest()
    assert not any(issued.token[4:] in str(value) for entry in store.query_rows("SELECT * FROM ledger")
                   for value in entry)
    store.close()
    assert issued.token[4:].encode() not in (tmp_path / "ws.duckdb").read_bytes()
    # the listing has no hash or text to show at all
    with GovernanceStore(tmp_path / "ws.duckdb") as again:
        [info] = tokens.list_tokens(again)
    assert not hasattr(info, "token") and not hasattr(info, "token_hash")
    assert (info.token_id, info.user_name, info.prefix, info.state, info.created_by) == (
        "TK-0001", "val", issued.prefix, "active", "ada")


def test_a_token_acts_as_its_account_with_that_role_and_never_more(store, admin, viewer, leader):
    issued = tokens.create_token(store, name="reader", user_name="val", actor=admin, expires_days=None)
    user = tokens.authenticate_token(store, token=issued.token)
    assert user == identity.get_user(store, user_name="val") and user.role == "viewer"
    with pytest.raises(PermissionDeniedError):
        identity.require(user, "manage users")
    with pytest.raises(PermissionDeniedError):   # nor may the viewer's token issue another
        tokens.create_token(store, name="escalate", user_name="ada", actor=user, expires_days=None)
    oidc = tokens.create_token(store, name="pipeline", user_name="lee", actor=admin, expires_days=None)
    assert tokens.authenticate_token(store, token=oidc.token).role == "engineering leader"
    assert tokens.list_tokens(store)[0].expires_at is None


def test_only_an_admin_issues_tokens_and_only_for_enabled_accounts(store, admin, viewer, leader):
    for actor in (viewer, leader, identity.MONITORING, None):
        with pytest.raises(PermissionDeniedError, match="manage users needs the role admin"):
            tokens.create_token(store, name="mine", user_name="val", actor=actor, expires_days=None)
    # an account demoted after signing in acts with its role as stored now
    stale_admin = identity.User("val", "Val Viewer", "admin", "local")
    with pytest.raises(PermissionDeniedError, match="manage users needs the role admin"):
        tokens.create_token(store, name="mine", user_name="val", actor=stale_admin, expires_days=None)
    with pytest.raises(InvalidInputError, match="there is no user 'nobody'"):
        tokens.create_token(store, name="x", user_name="nobody", actor=admin, expires_days=None)
    identity.set_disabled(store, user_name="val", disabled=True, actor=admin)
    with pytest.raises(PermissionDeniedError, match="disabled"):
        tokens.create_token(store, name="x", user_name="val", actor=admin, expires_days=None)
    assert store.query_value("SELECT count(*) FROM api_token") == 0
    assert ledger.entries(store, kind="token_created") == []


@pytest.mark.parametrize("name, days, message", [
    ("", None, "the token name is empty"),
    ("x" * 101, None, "the limit is 100"),
    ("two\nlines", None, "the token name is one line"),
    ("ok", 0, "from 1 to 3,650"),
    ("ok", -5, "from 1 to 3,650"),
    ("ok", 3651, "from 1 to 3,650"),
    ("ok", True, "from 1 to 3,650"),
    ("ok", "30", "from 1 to 3,650"),
])
def test_bad_names_and_expiries_are_refused_with_what_to_change(store, admin, viewer, name, days, message):
    with pytest.raises(InvalidInputError, match=message):
        tokens.create_token(store, name=name, user_name="val", actor=admin, expires_days=days)
    assert store.query_value("SELECT count(*) FROM api_token") == 0


@pytest.mark.parametrize("token", ["", "qrm_", "qrm_" + "A" * 43, "Bearer qrm_abc", "x" * 5000, None, b"qrm_x"])
def test_unknown_tokens_are_refused_with_one_message(store, admin, viewer, token):
    tokens.create_token(store, name="real", user_name="val", actor=admin, expires_days=None)
    with pytest.raises(TokenError) as refused:
        tokens.authenticate_token(store, token=token)
    assert str(refused.value) == tokens.TOKEN_REFUSED
    assert "expired or revoked" in tokens.TOKEN_REFUSED and "tokens create" in tokens.TOKEN_REFUSED


def test_expired_tokens_are_refused_and_listed_as_expired(store, admin, viewer, monkeypatch):
    issued = tokens.create_token(store, name="short", user_name="val", actor=admin, expires_days=1)
    assert tokens.authenticate_token(store, token=issued.token).user_name == "val"
    _later(monkeypatch, days=1, seconds=1)
    with pytest.raises(TokenError) as refused:
        tokens.authenticate_token(store, token=issued.token)
    assert str(refused.value) == tokens.TOKEN_REFUSED
    assert tokens.list_tokens(store)[0].state == "expired"


def test_revoked_tokens_are_refused_and_revoking_is_for_an_admin_or_the_tokens_own_account(store, admin, viewer,
                                                                                           leader):
    mine = tokens.create_token(store, name="val's", user_name="val", actor=admin, expires_days=None)
    theirs = tokens.create_token(store, name="lee's", user_name="lee", actor=admin, expires_days=None)
    with pytest.raises(PermissionDeniedError, match=r"an admin, or the account the token acts as \(lee\)"):
        tokens.revoke_token(store, token_id=theirs.token_id, actor=viewer)
    with pytest.raises(InvalidInputError, match="there is no API token 'TK-0099'"):
        tokens.revoke_token(store, token_id="TK-0099", actor=admin)
    revoked = tokens.revoke_token(store, token_id=mine.token_id, actor=viewer)   # its own account
    assert (revoked.state, revoked.revoked_by) == ("revoked", "val") and revoked.revoked_at is not None
    with pytest.raises(TokenError) as refused:
        tokens.authenticate_token(store, token=mine.token)
    assert str(refused.value) == tokens.TOKEN_REFUSED
    with pytest.raises(InvalidInputError, match=r"TK-0001 was already revoked \(at .* by val\): nothing to revoke"):
        tokens.revoke_token(store, token_id=mine.token_id, actor=admin)
    assert tokens.revoke_token(store, token_id=theirs.token_id, actor=admin).revoked_by == "ada"
    assert [t.state for t in tokens.list_tokens(store)] == ["revoked", "revoked"]


def test_a_disabled_accounts_tokens_are_refused_until_it_is_enabled(store, admin, viewer):
    issued = tokens.create_token(store, name="reader", user_name="val", actor=admin, expires_days=None)
    identity.set_disabled(store, user_name="val", disabled=True, actor=admin)
    with pytest.raises(TokenError) as refused:
        tokens.authenticate_token(store, token=issued.token)
    assert str(refused.value) == tokens.ACCOUNT_DISABLED and "val" not in str(refused.value)
    identity.set_disabled(store, user_name="val", disabled=False, actor=admin)
    assert tokens.authenticate_token(store, token=issued.token).user_name == "val"


def test_use_is_recorded_at_most_once_a_minute(store, admin, viewer, monkeypatch):
    issued = tokens.create_token(store, name="reader", user_name="val", actor=admin, expires_days=None)
    assert tokens.list_tokens(store)[0].last_used_at is None
    tokens.authenticate_token(store, token=issued.token)
    first = tokens.list_tokens(store)[0].last_used_at
    assert first is not None
    version = store.data_version()
    for _ in range(5):   # the same minute: no write at all
        tokens.authenticate_token(store, token=issued.token)
    assert (tokens.list_tokens(store)[0].last_used_at, store.data_version()) == (first, version)
    _later(monkeypatch, minutes=1, seconds=1)
    tokens.authenticate_token(store, token=issued.token)
    assert tokens.list_tokens(store)[0].last_used_at > first


def test_issuing_and_revoking_are_in_the_ledger_without_the_secret_and_it_verifies(store, admin, viewer):
    issued = tokens.create_token(store, name="ci-release-gate", user_name="val", actor=admin, expires_days=30)
    tokens.revoke_token(store, token_id=issued.token_id, actor=admin)
    [created] = ledger.entries(store, kind="token_created")
    [revoked] = ledger.entries(store, kind="token_revoked")
    assert (created["subject"], created["actor"]) == ("TK-0001", "ada (admin)")
    assert created["payload"]["user_name"] == "val" and created["payload"]["role"] == "viewer"
    assert created["payload"]["prefix"] == issued.prefix and created["payload"]["expires_at"].endswith("Z")
    assert (revoked["subject"], revoked["payload"]["revoked_by"]) == ("TK-0001", "Ada Admin (admin)")
    for entry in (created, revoked):
        assert issued.token[4:] not in str(entry) and tokens.token_hash(issued.token) not in str(entry)
    assert verification.verify(store)["ok"], verification.verify(store)


def test_ids_are_unique_when_twenty_threads_issue_tokens_at_once(store, admin, viewer):
    start = threading.Barrier(20)

    def issue(n: int) -> tokens.IssuedToken:
        start.wait()
        return tokens.create_token(store, name=f"worker-{n}", user_name="val", actor=admin, expires_days=None)

    with ThreadPoolExecutor(max_workers=20) as pool:
        issued = list(pool.map(issue, range(20)))
    assert sorted(t.token_id for t in issued) == [f"TK-{n:04d}" for n in range(1, 21)]
    assert len({t.token for t in issued}) == 20
    assert store.query_value("SELECT count(DISTINCT token_id) FROM api_token") == 20
    assert len(ledger.entries(store, kind="token_created")) == 20
    assert verification.verify(store)["ok"], verification.verify(store)
    for t in issued:
        assert tokens.authenticate_token(store, token=t.token).user_name == "val"


# --- the command line ------------------------------------------------------------------------------------------
def _run(store, *argv: str, capsys) -> tuple[dict, str]:
    parser = argparse.ArgumentParser()
    workspace = argparse.ArgumentParser(add_help=False)
    commands = parser.add_subparsers(dest="command", required=True)
    cli_tokens.add_parser(commands, workspace=workspace, parser_class=argparse.ArgumentParser)
    args = parser.parse_args(["tokens", *argv])
    run, show, exit_code = cli_tokens.COMMANDS[args.subcommand]
    result = run(store, args)
    assert exit_code(result) == 0
    show(result)
    return result, capsys.readouterr().out


def test_the_command_line_issues_lists_and_revokes(store, admin, viewer, monkeypatch, capsys):
    monkeypatch.setenv("QUORUM_PASSWORD", PASSWORD)
    created, out = _run(store, "create", "ci-release-gate", "--user", "val", "--expires", "30", "--by", "ada",
                        capsys=capsys)
    assert created["token"].startswith("qrm_") and created["token_id"] == "TK-0001"
    assert created["token"] in out.splitlines() and "will not be shown again" in out
    assert tokens.authenticate_token(store, token=created["token"]).user_name == "val"
    listed, out = _run(store, "list", capsys=capsys)
    assert [t["state"] for t in listed["tokens"]] == ["active"]
    assert created["token"] not in str(listed) and created["token"][12:] not in out
    revoked, out = _run(store, "revoke", "TK-0001", "--by", "val", capsys=capsys)
    assert revoked["state"] == "revoked" and "revoked TK-0001" in out
    monkeypatch.setenv("QUORUM_PASSWORD", "wrong password!!")
    with pytest.raises(identity.SignInError):
        _run(store, "create", "again", "--user", "val", "--by", "ada", capsys=capsys)


def test_the_command_module_imports_no_services_until_a_command_runs():
    code = ("import sys, governance.cli.tokens; "
            "print(sorted(m for m in ('governance.access.tokens', 'governance.access.identity', 'duckdb') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
