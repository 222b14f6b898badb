"""The tables that must say what the ledger says: a version's stage, the committee's members and its rules.

The services write these tables and their ledger entries in one transaction (governance/signoffs.py), and the
tallies, the gate and the pages read the tables. Anyone who edits a table behind the services' back (an UPDATE of
`model_version.stage`, a DELETE or INSERT OR REPLACE in `committee_member` or `committee_rule`) changes what the
app shows without a ledger entry, and the hash chain cannot see it. `differences` folds the ledger entries and
compares each table with the fold, so `verify` names every such edit.

What the ledger says, entry kind by entry kind (each folded in `seq` order):

    stage_change      {model, version, from_stage, to_stage}: the version's stage is the last to_stage.
                      A version with no stage change holds the stage it is registered with (development,
                      governance/model_registry.py).
    committee_change  {change: "add", user_name[, added_at, by_user]}, {change: "remove", user_name}: the members
                      are those added and not removed since. added_at and by_user are in entries written from
                      issue 22 on; older entries say only who, and then only membership is compared.
                      {change: "rule", key, value}: a rule's value is the last one set; a rule never set has no
                      row (its default applies).
"""

from __future__ import annotations

import pandas as pd

from governance import ledger
from governance.store import GovernanceStore
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
RULE_NOT_SET = ("committee_rule {key}: the table says {table!r} but the ledger never set this rule, so its default "
                "applies")
RULE_DIFFERS = "committee_rule {key}: the table says {table!r} but the ledger set it to {ledger!r} (entry {seq})"
RULE_MISSING = ("committee_rule {key}: the table has no row (so the default applies) but the ledger set it to "
                "{ledger!r} (entry {seq})")


def differences(store: GovernanceStore) -> list[str]:
    """Every difference between the stage, committee and rule tables and the ledger, one sentence each naming the
    table, the row and what each says; empty when they agree."""
    return _stages(store) + _members(store) + _rules(store)


def _stages(store: GovernanceStore) -> list[str]:
    table = {(m, v): s for m, v, s in store.query_rows("SELECT model, version, stage FROM model_version")}
    moved: dict[tuple[str, str], tuple[str, int]] = {}
    for entry in ledger.entries(store, kind="stage_change"):
        p = entry["payload"]
        moved[(p["model"], p["version"])] = (p["to_stage"], entry["seq"])
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


def _committee_changes(store: GovernanceStore) -> list[dict]:
    return ledger.entries(store, kind="committee_change")


def _members(store: GovernanceStore) -> list[str]:
    table = {name: (added_at, added_by) for name, added_at, added_by in
             store.query_rows("SELECT user_name, added_at, added_by FROM committee_member")}
    added: dict[str, dict] = {}      # user name -> the add entry still in force
    removed: dict[str, int] = {}     # user name -> the seq of the removal that ended their membership
    for entry in _committee_changes(store):
        p = entry["payload"]
        if p.get("change") == "add":
            added[p["user_name"]] = {**p, "seq": entry["seq"]}
            removed.pop(p["user_name"], None)
        elif p.get("change") == "remove" and p["user_name"] in added:
            added.pop(p["user_name"])
            removed[p["user_name"]] = entry["seq"]
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
    table = dict(store.query_rows("SELECT key, value FROM committee_rule"))
    set_to: dict[str, tuple[str, int]] = {}
    for entry in _committee_changes(store):
        p = entry["payload"]
        if p.get("change") == "rule":
            set_to[p["key"]] = (p["value"], entry["seq"])
    found = []
    for key in sorted(set(table) | set(set_to)):
        if key not in set_to:
            found.append(RULE_NOT_SET.format(key=key, table=table[key]))
        elif key not in table:
            found.append(RULE_MISSING.format(key=key, ledger=set_to[key][0], seq=set_to[key][1]))
        elif table[key] != set_to[key][0]:
            found.append(RULE_DIFFERS.format(key=key, table=table[key], ledger=set_to[key][0], seq=set_to[key][1]))
    return found
