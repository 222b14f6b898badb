"""Disabling accounts and setting the committee's rules from the command line (they were reachable only from
Python): `users disable|enable NAME --by ADMIN` and `signoff rules [SETTING VALUE] --by USER`, each in its own
process with --json, acting as a checked account, calling identity.set_disabled and committee.set_rule, recorded in
the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from governance.access import identity
from governance.decisions import committee
from governance.record import ledger
from governance.record.store import GovernanceStore
from tests.conftest import ROOT

ADMIN, CHAIR, LEADER, VIEWER = "grace.lindqvist", "amara.okafor", "farid.haddad", "hugo.tanaka"
PASSWORD = "a password for lin the member"


def governance(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("QUORUM_SERVER", "QUORUM_TOKEN", "QUORUM_PASSWORD",
                                                                 "QUORUM_DB")}
    return subprocess.run([sys.executable, "-m", "governance", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**clean, **(env or {})}, timeout=300)


def refused(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 2 and result.stdout == "", (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr


def test_users_disable_and_enable_an_account_as_a_checked_admin(demo_copy):
    with GovernanceStore(demo_copy) as store:
        identity.add_user(store, user_name="lin", display_name="Lin", role="committee member",
                          actor=identity.get_user(store, user_name=ADMIN), password=PASSWORD)
        changes = len(ledger.entries(store, kind="account_change"))
    db = ("--db", demo_copy)
    refused(governance(*db, "users", "disable", "lin", "--by", VIEWER, "--json"), "manage users needs the role admin")
    refused(governance(*db, "users", "disable", "nobody", "--by", ADMIN, "--json"), "there is no user 'nobody'")
    refused(governance(*db, "users", "disable", ADMIN, "--by", ADMIN, "--json"), "last enabled admin")

    done = governance(*db, "users", "disable", "lin", "--by", ADMIN, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"user_name": "lin", "disabled": True, "changed": True}
    listed = json.loads(governance(*db, "users", "list", "--json").stdout)["users"]
    assert "lin" not in [u["user_name"] for u in listed] and ADMIN in [u["user_name"] for u in listed]
    # a disabled account can no longer act on the command line, even with its password
    refused(governance(*db, "users", "email", "lin", "lin@example.org", "--by", "lin",
                       env={"QUORUM_PASSWORD": PASSWORD}), "disabled")

    again = governance(*db, "users", "disable", "lin", "--by", ADMIN)
    assert again.returncode == 0 and again.stdout == "lin is disabled already: nothing changed\n", again.stdout
    back = governance(*db, "users", "enable", "lin", "--by", ADMIN, "--json")
    assert back.returncode == 0 and json.loads(back.stdout) == {"user_name": "lin", "disabled": False,
                                                                 "changed": True}, back.stderr
    with GovernanceStore(demo_copy) as store:
        assert identity.authenticate(store, user_name="lin", password=PASSWORD).user_name == "lin"
        recorded = ledger.entries(store, kind="account_change")[changes:]
    assert [(e["actor"], e["subject"], e["payload"]["change"]) for e in recorded] == [
        ("grace.lindqvist (admin)", "lin", "disabled"), ("grace.lindqvist (admin)", "lin", "enabled")]


def test_signoff_rules_shows_and_sets_the_committee_rules(demo_copy):
    db = ("--db", demo_copy)
    with GovernanceStore(demo_copy) as store:
        before = committee.rules(store)
        changes = len(ledger.entries(store, kind="committee_change"))
    shown = governance(*db, "signoff", "rules", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == {"rules": before}, shown.stderr

    refused(governance(*db, "signoff", "rules", "quorum_fraction", "0.6", "--by", LEADER),
            "manage committee needs the role committee chair or admin")
    refused(governance(*db, "signoff", "rules", "quorum_fraction", "1.5", "--by", CHAIR),
            "quorum_fraction must be a fraction between 0 and 1")
    refused(governance(*db, "signoff", "rules", "quorum_size", "3", "--by", CHAIR), "committee setting must be one of")
    refused(governance(*db, "signoff", "rules", "chair_required", "--by", CHAIR), "give the new value")

    for key, value, parsed in (("quorum_fraction", "0.6", 0.6), ("chair_required", "false", False)):
        done = governance(*db, "signoff", "rules", key, value, "--by", CHAIR, "--json")
        assert done.returncode == 0, done.stderr
        before = {**before, key: parsed}
        assert json.loads(done.stdout) == {"rules": before}
    printed = governance(*db, "signoff", "rules")
    assert printed.stdout == f"quorum: more than 0.6 of the non-recused members; decisions valid " \
                             f"{before['decision_validity_days']} days\n"
    with GovernanceStore(demo_copy) as store:
        assert committee.rules(store) == before
        recorded = ledger.entries(store, kind="committee_change")[changes:]
    assert [(e["actor"], e["payload"]["key"], e["payload"]["value"]) for e in recorded] == [
        ("amara.okafor (committee chair)", "quorum_fraction", "0.6"),
        ("amara.okafor (committee chair)", "chair_required", "false")]


@pytest.mark.parametrize("words", [["users", "disable", "--help"], ["users", "enable", "--help"],
                                   ["signoff", "rules", "--help"]])
def test_the_commands_are_listed_in_the_help(words):
    shown = governance(*words)
    assert shown.returncode == 0 and "--by" in shown.stdout and "--json" in shown.stdout
