"""The tables that must say what the ledger says: a version's stage, the committee's members and its rules, and
the API tokens.

The services write these tables and their ledger entries in one transaction (governance/decisions/), and the
tallies, the gate and the pages read the tables. Anyone who edits a table behind the services' back (an UPDATE of
`model_version.stage`, a DELETE or INSERT OR REPLACE in `committee_member` or `committee_rule`) changes what the
app shows without a ledger entry, and the hash chain cannot see it. `differences` folds the ledger entries and
compares each table with the fold, so `verify` names every such edit.

What the ledger says, entry kind by entry kind (each folded in `seq` order):

    stage_change      {model, version, from_stage, to_stage}: the version's stage is the last to_stage.
                      A version with no stage change holds the stage it is registered with (development,
                      governance/evidence/model_registry.py).
    committee_change  {change: "add", user_name[, added_at, by_user]}, {change: "remove", user_name}: the members
                      are those added and not removed since. added_at and by_user are in entries written from
                      issue 22 on; older entries say only who, and then only membership is compared.
                      {change: "rule", key, value}: a rule's value is the last one set; a rule never set has no
                      row (its default applies).
    token_created     {token_id, name, user_name, prefix, expires_at[, token_hash_mac]}: the api_token row, which
                      must exist with these values; token_hash_mac (entries from issue 22 on, checked where the key
                      is at hand) is a keyed digest of the token's hash. A row no entry issued is a token slipped
                      in behind Quorum's back.
    token_revoked     {token_id, revoked_at}: the row must say revoked.
    account_change    {change: "add", user_name, display_name, role, source, password_mac}: the app_user row, which
                      must exist with these values (password_mac, a keyed digest of the password hash, checked
                      where the key is at hand); {change: "disabled"|"enabled", user_name}: its state.

The folds are public and take `before`, a moment: governance.record.as_of reads the record as it stood at the end
of a day from the same folds, over the entries recorded before it.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from governance.record import ledger, ledger_keys
from governance.record.repositories import accounts as account_rows, committee as committee_rows, reviews as review_rows

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore
from governance.vocabulary import SIGNOFF_STAGES

REGISTERED_STAGE = SIGNOFF_STAGES[0]   # what model_registry.register_model writes; every stage after is a change

STAGE_DIFFERS = ("model_version {model} {version}: the table says stage {table!r} but the ledger's stage changes end "
                 "at {ledger!r} (entry {seq})")
STAGE_NEVER_CHANGED = ("model_version {model} {version}: the table says stage {table!r} but the ledger holds no stage "
                       "change for it, so it is still at the stage it was registered with, {ledger!r}")
STAGE_ROW_MISSING = ("model_version {model} {version}: the table has no row, but the ledger's stage changes move it "
                     "to {ledger!r} (entry {seq})")
MEMBER_NOT_ADDED = ("committee_member {user}: the table lists {user} on the committee but no ledger entry adds them")
MEMBER_REMOVED = ("committee_member {user}: the table lists {user} on the committee but the ledger removed them "
                  "(entry {seq})")
MEMBER_MISSING = ("committee_member {user}: the table does not list {user}, but the ledger added them (entry {seq}) "
                  "and never removed them")
MEMBER_FIELD = ("committee_member {user}: the table says {field} {table!r} but the ledger says {ledger!r} "
                "(entry {seq})")
TOKEN_NOT_ISSUED = ("api_token {token_id}: the table holds this token but no ledger entry issued it: a token was "
                    "slipped in behind Quorum's back (revoke it)")
ACCOUNT_NOT_ADDED = ("app_user {user}: the table holds this account but no ledger entry added it: an account was "
                     "slipped in behind Quorum's back (disable it)")
ACCOUNT_ROW_MISSING = "app_user {user}: the ledger added this account (entry {seq}) but the table has no row"
ACCOUNT_FIELD = "app_user {user}: the table says {field} {table!r} but the ledger says {ledger!r} (entry {seq})"
ACCOUNT_PASSWORD_SWAPPED = ("app_user {user}: the account's password hash is not the one the ledger recorded (entry "
                            "{seq}): someone set a password behind Quorum's back (disable the account)")
TOKEN_HASH_SWAPPED = ("api_token {token_id}: the table's token hash is not the one the ledger issued (entry {seq}): "
                      "the token was replaced by another behind Quorum's back (revoke it)")
TOKEN_ROW_MISSING = "api_token {token_id}: the ledger issued it (entry {seq}) but the table has no row"
TOKEN_FIELD = "api_token {token_id}: the table says {field} {table!r} but the ledger says {ledger!r} (entry {seq})"
TOKEN_UNREVOKED = ("api_token {token_id}: the table says it is not revoked, but the ledger revoked it (entry {seq}): "
                   "a revoked token was made to work again")
TOKEN_REVOKED_UNRECORDED = "api_token {token_id}: the table says it is revoked, but no ledger entry revoked it"
RULE_NOT_SET = ("committee_rule {key}: the table says {table!r} but the ledger never set this rule, so its default "
                "applies")
RULE_DIFFERS = "committee_rule {key}: the table says {table!r} but the ledger set it to {ledger!r} (entry {seq})"
RULE_MISSING = ("committee_rule {key}: the table has no row (so the default applies) but the ledger set it to "
                "{ledger!r} (entry {seq})")


def differences(store: GovernanceStore, key: ledger_keys.LedgerKey | None = None) -> list[str]:
    """Every difference between the stage, committee, rule and token tables and the ledger, one sentence each
    naming the table, the row and what each says; empty when they agree. `key`: the workspace's verified key,
    to check the keyed digests of token hashes (unchecked without it)."""
    return _stages(store) + _members(store) + _rules(store) + _tokens(store, key) + _accounts(store, key)


# --- the folds: what the ledger says, read by `differences` (against the tables) and by governance.record.as_of
# (the record as it stood on a day: `before` keeps the entries recorded before that moment) ----------------------
def stage_changes(store: GovernanceStore, *, before: datetime | None = None) -> dict[tuple[str, str], tuple[str, int]]:
    """(model, version) -> (the stage its last stage change moved it to, that entry's seq); a version without one
    is at REGISTERED_STAGE."""
    moved: dict[tuple[str, str], tuple[str, int]] = {}
    for entry in ledger.entries(store, kind="stage_change", before=before):
        p = entry["payload"]
        moved[(p["model"], p["version"])] = (p["to_stage"], entry["seq"])
    return moved


def committee_seats(store: GovernanceStore, *,
                    before: datetime | None = None) -> tuple[dict[str, dict], dict[str, int]]:
    """(user name -> the add entry still in force, with its seq; user name -> the seq of the removal that ended
    their membership)."""
    added: dict[str, dict] = {}
    removed: dict[str, int] = {}
    for entry in _committee_changes(store, before=before):
        p = entry["payload"]
        if p.get("change") == "add":
            added[p["user_name"]] = {**p, "seq": entry["seq"], "recorded_at": entry["recorded_at"]}
            removed.pop(p["user_name"], None)
        elif p.get("change") == "remove" and p["user_name"] in added:
            added.pop(p["user_name"])
            removed[p["user_name"]] = entry["seq"]
    return added, removed


def committee_rules(store: GovernanceStore, *, before: datetime | None = None) -> dict[str, tuple[str, int]]:
    """Rule key -> (the value last set, that entry's seq); a rule never set has its default."""
    set_to: dict[str, tuple[str, int]] = {}
    for entry in _committee_changes(store, before=before):
        p = entry["payload"]
        if p.get("change") == "rule":
            set_to[p["key"]] = (p["value"], entry["seq"])
    return set_to


def account_states(store: GovernanceStore, *, before: datetime | None = None) -> dict[str, dict]:
    """User name -> the add entry's payload with `disabled` as the later entries left it and the seq of the last."""
    added: dict[str, dict] = {}
    for entry in ledger.entries(store, kind="account_change", before=before):
        p = entry["payload"]
        if p.get("change") == "add":
            added[p["user_name"]] = {**p, "seq": entry["seq"], "disabled": False}
        elif p.get("change") in ("disabled", "enabled") and p["user_name"] in added:
            added[p["user_name"]].update(disabled=p["change"] == "disabled", seq=entry["seq"])
    return added


def token_states(store: GovernanceStore, *, before: datetime | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """(token id -> its token_created entry; token id -> its token_revoked entry)."""
    issued = {e["payload"]["token_id"]: e for e in ledger.entries(store, kind="token_created", before=before)}
    revoked = {e["payload"]["token_id"]: e for e in ledger.entries(store, kind="token_revoked", before=before)}
    return issued, revoked


# --- the comparisons -----------------------------------------------------------------------------------------------
def _stages(store: GovernanceStore) -> list[str]:
    table = review_rows.stages(store)
    moved = stage_changes(store)
    found = []
    for model, version in sorted(set(table) | set(moved)):
        stage = table.get((model, version))
        if (model, version) in moved:
            expected, seq = moved[(model, version)]
            if stage is None:
                found.append(STAGE_ROW_MISSING.format(model=model, version=version, ledger=expected, seq=seq))
            elif stage != expected:
                found.append(STAGE_DIFFERS.format(model=model, version=version, table=stage, ledger=expected, seq=seq))
        elif stage != REGISTERED_STAGE:
            found.append(STAGE_NEVER_CHANGED.format(model=model, version=version, table=stage,
                                                    ledger=REGISTERED_STAGE))
    return found


def _committee_changes(store: GovernanceStore, *, before: datetime | None = None) -> list[dict]:
    return ledger.entries(store, kind="committee_change", before=before)


def _members(store: GovernanceStore) -> list[str]:
    table = {seat.user_name: (seat.added_at, seat.added_by) for seat in committee_rows.seats(store)}
    added, removed = committee_seats(store)
    found = []
    for user in sorted(set(table) | set(added)):
        if user not in added:
            found.append(MEMBER_REMOVED.format(user=user, seq=removed[user]) if user in removed
                         else MEMBER_NOT_ADDED.format(user=user))
            continue
        entry = added[user]
        if user not in table:
            found.append(MEMBER_MISSING.format(user=user, seq=entry["seq"]))
            continue
        added_at, added_by = table[user]
        if "by_user" in entry and added_by != entry["by_user"]:
            found.append(MEMBER_FIELD.format(user=user, field="added_by", table=added_by, ledger=entry["by_user"],
                                             seq=entry["seq"]))
        if "added_at" in entry and pd.Timestamp(added_at) != pd.Timestamp(entry["added_at"]):
            found.append(MEMBER_FIELD.format(user=user, field="added_at", table=pd.Timestamp(added_at).isoformat(),
                                             ledger=entry["added_at"], seq=entry["seq"]))
    return found


def _rules(store: GovernanceStore) -> list[str]:
    table = committee_rows.stored_rules(store)
    set_to = committee_rules(store)
    found = []
    for key in sorted(set(table) | set(set_to)):
        if key not in set_to:
            found.append(RULE_NOT_SET.format(key=key, table=table[key]))
        elif key not in table:
            found.append(RULE_MISSING.format(key=key, ledger=set_to[key][0], seq=set_to[key][1]))
        elif table[key] != set_to[key][0]:
            found.append(RULE_DIFFERS.format(key=key, table=table[key], ledger=set_to[key][0], seq=set_to[key][1]))
    return found


def _seconds(value) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).tz_localize(None).floor("s").isoformat()


def _tokens(store: GovernanceStore, key: ledger_keys.LedgerKey | None) -> list[str]:
    table = {record.token_id: asdict(record) for record in account_rows.tokens(store)}
    issued, revoked_entries = token_states(store)
    revoked = {token_id: e["seq"] for token_id, e in revoked_entries.items()}
    found = []
    for token_id in sorted(set(table) | set(issued)):
        if token_id not in issued:
            found.append(TOKEN_NOT_ISSUED.format(token_id=token_id))
            continue
        entry, seq = issued[token_id]["payload"], issued[token_id]["seq"]
        row = table.get(token_id)
        if row is None:
            found.append(TOKEN_ROW_MISSING.format(token_id=token_id, seq=seq))
            continue
        expected = {"name": entry["name"], "user_name": entry["user_name"], "prefix": entry["prefix"],
                    "expires_at": _seconds((entry.get("expires_at") or "").rstrip("Z") or None)}
        for field, value in expected.items():
            held = _seconds(row[field]) if field == "expires_at" else row[field]
            if held != value:
                found.append(TOKEN_FIELD.format(token_id=token_id, field=field, table=held, ledger=value, seq=seq))
        if key is not None and "token_hash_mac" in entry and not hmac.compare_digest(
                entry["token_hash_mac"], key.mac(ledger_keys.TOKEN_HASH, row["token_hash"])):
            found.append(TOKEN_HASH_SWAPPED.format(token_id=token_id, seq=seq))
        if token_id in revoked and row["revoked_at"] is None:
            found.append(TOKEN_UNREVOKED.format(token_id=token_id, seq=revoked[token_id]))
        elif token_id not in revoked and row["revoked_at"] is not None:
            found.append(TOKEN_REVOKED_UNRECORDED.format(token_id=token_id))
    return found


def _accounts(store: GovernanceStore, key: ledger_keys.LedgerKey | None) -> list[str]:
    table = {record.user_name: asdict(record) for record in account_rows.accounts(store)}
    added = account_states(store)
    found = []
    for user in sorted(set(table) | set(added)):
        if user not in added:
            found.append(ACCOUNT_NOT_ADDED.format(user=user))
            continue
        entry, row = added[user], table.get(user)
        if row is None:
            found.append(ACCOUNT_ROW_MISSING.format(user=user, seq=entry["seq"]))
            continue
        for field in ("display_name", "role", "source", "disabled"):
            if row[field] != entry[field]:
                found.append(ACCOUNT_FIELD.format(user=user, field=field, table=row[field], ledger=entry[field],
                                                  seq=entry["seq"]))
        expected = None if entry["password_mac"] is None or key is None else entry["password_mac"]
        if key is not None and (row["password_hash"] is None) != (entry["password_mac"] is None):
            found.append(ACCOUNT_PASSWORD_SWAPPED.format(user=user, seq=entry["seq"]))
        elif expected is not None and not hmac.compare_digest(
                expected, key.mac(ledger_keys.ACCOUNT_PASSWORD, row["password_hash"])):
            found.append(ACCOUNT_PASSWORD_SWAPPED.format(user=user, seq=entry["seq"]))
    return found
