"""Accounts, passwords, identity-provider mapping and demo mode, on real workspaces."""

from __future__ import annotations

import pytest

from governance.access import identity
from governance.access.identity import PermissionDeniedError, SignInError
from governance.errors import InvalidInputError
from tests.conftest import ROOT
from tests.unit.conftest import PASSWORD



def test_the_first_account_is_an_admin_added_without_an_actor_and_then_only_admins_add(store):
    with pytest.raises(InvalidInputError, match="first account of a workspace must be an admin"):
        identity.add_user(store, user_name="val", display_name="", role="viewer", actor=None, password=PASSWORD)
    admin = identity.add_user(store, user_name="ada", display_name="", role="admin", actor=None, password=PASSWORD)
    assert admin.display_name == "ada"
    with pytest.raises(PermissionDeniedError, match="has an admin"):
        identity.add_user(store, user_name="eve", display_name="", role="admin", actor=None, password=PASSWORD)
    leader = identity.add_user(store, user_name="lee", display_name="Lee", role="engineering leader", actor=admin,
                               password=PASSWORD)
    with pytest.raises(PermissionDeniedError, match="manage users needs the role admin"):
        identity.add_user(store, user_name="eve", display_name="", role="admin", actor=leader, password=PASSWORD)
    assert [u.user_name for u in identity.list_users(store)] == ["ada", "lee"]


@pytest.mark.parametrize("name, role, password, message", [
    ("<script>alert(1)</script>", "viewer", PASSWORD, "a user name is 1 to 100 characters"),
    ("x" * 101, "viewer", PASSWORD, "a user name is 1 to 100 characters"),
    ("", "viewer", PASSWORD, "a user name is 1 to 100 characters"),
    ("val", "superuser", PASSWORD, "role must be one of viewer, engineering leader"),
    ("val", "viewer", "short", "at least 12 characters"),
    ("ADA", "viewer", PASSWORD, "there already is a user 'ADA'"),
])
def test_bad_accounts_are_refused_with_what_to_change(store, admin, name, role, password, message):
    with pytest.raises(InvalidInputError, match=message):
        identity.add_user(store, user_name=name, display_name="", role=role, actor=admin, password=password)
    assert store.query_value("SELECT count(*) FROM app_user") == 1


def test_passwords_are_stored_as_argon2id_hashes_and_checked(store, admin):
    stored = store.query_value("SELECT password_hash FROM app_user WHERE user_name = 'ada'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert identity.authenticate(store, user_name="ada", password=PASSWORD) == admin
    for name, password in (("ada", PASSWORD + "!"), ("ada", ""), ("nobody", PASSWORD)):
        with pytest.raises(SignInError) as refused:   # one message: it does not reveal who has an account
            identity.authenticate(store, user_name=name, password=password)
        assert str(refused.value) == identity.SIGN_IN_FAILED


def test_a_disabled_account_can_neither_sign_in_nor_act(store, admin):
    identity.add_user(store, user_name="val", display_name="Val", role="viewer", actor=admin, password=PASSWORD)
    identity.set_disabled(store, user_name="val", disabled=True, actor=admin)
    with pytest.raises(PermissionDeniedError, match="disabled"):
        identity.authenticate(store, user_name="val", password=PASSWORD)
    with pytest.raises(PermissionDeniedError, match="disabled"):
        identity.get_user(store, user_name="val")
    assert [u.user_name for u in identity.list_users(store)] == ["ada"]
    identity.set_disabled(store, user_name="val", disabled=False, actor=admin)
    assert identity.get_user(store, user_name="val").role == "viewer"


def test_the_identity_provider_proves_who_and_the_workspace_decides_what(store, admin):
    identity.add_user(store, user_name="Chen@Example.org", display_name="Chen", role="committee member",
                      actor=admin, source="oidc")
    assert identity.oidc_user(store, email="chen@example.org", subject="x").role == "committee member"
    with pytest.raises(SignInError, match="has no Quorum account"):
        identity.oidc_user(store, email="stranger@example.org", subject="y")
    with pytest.raises(SignInError, match="has no Quorum account"):   # a local account is not an OIDC identity
        identity.oidc_user(store, email="ada", subject=None)
    with pytest.raises(SignInError, match="identity provider"):
        identity.authenticate(store, user_name="Chen@Example.org", password="")


def test_demo_mode_needs_the_setting_the_demo_workspace_this_machine_and_no_identity_provider(store, admin,
                                                                                                  monkeypatch):
    monkeypatch.delenv(identity.DEMO_MODE_SETTING, raising=False)
    local = {"server_address": "localhost", "identity_provider": False}
    # not the demo workspace: nothing offered, nothing to say, whatever the setting
    assert identity.demo_mode(store, **local, setting="1") == identity.DemoMode(offered=False, reason=None)
    with store.write() as tx:
        identity.seed_demo_users(store, tx)
    # the demo workspace on localhost, as before this rule, but without the setting: off, and the screen says how
    assert identity.demo_mode(store, **local) == identity.DemoMode(False, identity.DEMO_MODE_OFF)
    for not_on in ("", "0", "true", "yes", " 2 "):
        assert not identity.demo_mode(store, **local, setting=not_on).offered, not_on
    assert identity.demo_mode(store, **local, setting="1") == identity.DemoMode(offered=True)
    assert identity.demo_mode(store, server_address="127.0.0.1", identity_provider=False, setting="1").offered
    monkeypatch.setenv(identity.DEMO_MODE_SETTING, "1")   # the environment is the setting's default source
    assert identity.demo_mode(store, **local).offered
    assert not identity.demo_mode(store, **local, setting="0").offered
    # an identity provider wins over the setting
    assert identity.demo_mode(store, server_address="localhost", identity_provider=True) == identity.DemoMode(
        False, identity.DEMO_MODE_NOT_WITH_IDENTITY_PROVIDER)
    for exposed in ("0.0.0.0", "", None, "10.0.0.5", "::"):
        decided = identity.demo_mode(store, server_address=exposed, identity_provider=False)
        assert not decided.offered and decided.reason == identity.DEMO_MODE_NOT_LOCAL.format(address=exposed or "")
    assert {u.role for u in identity.DEMO_USERS} == set(identity.ROLES)


def test_require_names_the_roles_that_may_act(store, admin):
    viewer = identity.User("val", "Val", "viewer")
    with pytest.raises(PermissionDeniedError) as refused:
        identity.require(viewer, "accept risk")
    assert str(refused.value) == "Val acts as 'viewer'; accept risk needs the role risk owner or committee chair or admin"
    with pytest.raises(PermissionDeniedError):
        identity.require(None, "run audit")
    identity.require(admin, "manage users")


def test_the_readme_table_is_the_permission_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    header = "| action | " + " | ".join(identity.ROLES) + " |"
    assert header in readme
    rows = readme.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    table = {cells[0]: tuple(role for role, mark in zip(identity.ROLES, cells[1:]) if mark == "✓")
             for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}
    assert table == identity.PERMISSIONS


def test_make_run_serves_the_demo_with_demo_mode_on_and_can_turn_it_off():
    """The README's one-command quick start lands in demo mode: `make run` sets the setting for the server."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for extra, expected in (((), "QUORUM_DEMO_MODE=1 "), (("DEMO_MODE=0",), "QUORUM_DEMO_MODE=0 ")):
        planned = subprocess.run(["make", "-n", "run", *extra], cwd=ROOT, capture_output=True, text=True,
                                 timeout=60, check=True).stdout
        serve = [line for line in planned.splitlines() if "-m governance serve" in line]
        assert len(serve) == 1 and serve[0].startswith(expected), planned
