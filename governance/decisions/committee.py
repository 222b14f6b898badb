"""The model review committee: who sits on it, the quorum rules it decides by, and who may change either.

Only the committee's membership and settings are tables (migrations/011_signoffs.sql, through the committee
repository); every change is also a `committee_change` ledger entry appended in the same transaction, so
governance.record.record_state can tell an edited row from a recorded one. The admin and the committee chair
(permission "manage committee") add and remove members and change the rules; only accounts with the role committee
member or committee chair sit on it."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from governance.access import identity
from governance.access.identity import PermissionDeniedError, User
from governance.errors import InvalidInputError
from governance.record import clock, ledger, record_state
from governance.record.repositories import committee as committee_record
from governance.record.store import GovernanceStore

COMMITTEE_ROLES = ("committee member", "committee chair")
DEFAULT_RULES = {"quorum_fraction": "0.5", "chair_required": "true", "decision_validity_days": "365"}

NOT_ON_COMMITTEE = ("{who} has the role {role!r} but is not on the review committee: "
                    "an admin or the chair adds them (`signoff member add`) before they can vote")
NOT_COMMITTEE_ROLE = ("{name} has the role {role!r}: only accounts with the role committee member or committee "
                      "chair sit on the committee (an admin changes the role first)")
ALREADY_MEMBER = "{name} already is on the review committee"
NOT_MEMBER = "{name} is not on the review committee"
UNKNOWN_RULE = "committee setting must be one of {known}, got {value!r}"
BAD_RULE = "{key} must be {what}, got {value!r}"


def current_account(store: GovernanceStore, actor: User) -> User:
    """The acting account as stored now (its role may have changed since it signed in)."""
    if not isinstance(actor, User):
        raise PermissionDeniedError("nobody is signed in: sign in first")
    return identity.get_user(store, user_name=actor.user_name)


def rules(store: GovernanceStore, *, before: datetime | None = None) -> dict:
    """The quorum settings in force: stored values over DEFAULT_RULES, parsed. `before` (naive UTC): the settings
    in force then, folded from the ledger's committee changes recorded before it (the table holds only today's)."""
    stored = (committee_record.stored_rules(store) if before is None else
              {key: value for key, (value, _) in record_state.committee_rules(store, before=before).items()})
    merged = {**DEFAULT_RULES, **stored}
    return {"quorum_fraction": float(merged["quorum_fraction"]),
            "chair_required": merged["chair_required"].lower() == "true",
            "decision_validity_days": int(merged["decision_validity_days"])}


def _check_rule(key: str, value) -> str:
    text = str(value).strip().lower()
    try:
        if key == "quorum_fraction":
            if not 0 < float(text) < 1:
                raise ValueError
            return str(float(text))
        if key == "chair_required":
            if text not in ("true", "false"):
                raise ValueError
            return text
        if key == "decision_validity_days":
            if not 1 <= int(text) <= 3650 or str(int(text)) != text:
                raise ValueError
            return text
    except ValueError:
        what = {"quorum_fraction": "a fraction between 0 and 1 (exclusive)", "chair_required": "true or false",
                "decision_validity_days": "a whole number of days from 1 to 3650"}[key]
        raise InvalidInputError(BAD_RULE.format(key=key, what=what, value=value)) from None
    raise InvalidInputError(UNKNOWN_RULE.format(known=", ".join(DEFAULT_RULES), value=key))


def _may_manage(store: GovernanceStore, actor: User) -> User:
    actor = current_account(store, actor)
    identity.require(actor, "manage committee")
    return actor


def _committee_entry(store: GovernanceStore, tx, *, actor: User, payload: dict) -> None:
    n = committee_record.changes_recorded(store) + 1
    ledger.append(store, actor=actor.recorded_as, kind="committee_change", subject="committee",
                  payload={**payload, "by": actor.signature_name, "by_user": actor.user_name,
                           "at": clock.now_iso_seconds()},
                  idempotency_key=f"committee_change:{n}")


def set_rule(store: GovernanceStore, *, key: str, value, actor: User) -> dict:
    """Change one quorum setting (admin or chair); recorded in the ledger."""
    actor = _may_manage(store, actor)
    if key not in DEFAULT_RULES:
        raise InvalidInputError(UNKNOWN_RULE.format(known=", ".join(DEFAULT_RULES), value=key))
    text = _check_rule(key, value)
    with store.write() as tx:
        committee_record.set_rule(tx, key=key, value=text)
        _committee_entry(store, tx, actor=actor, payload={"change": "rule", "key": key, "value": text})
    return rules(store)


def add_member(store: GovernanceStore, *, user_name: str, actor: User) -> dict:
    """Put an account with the role committee member or chair on the committee (admin or chair)."""
    actor = _may_manage(store, actor)
    member = identity.get_user(store, user_name=user_name)
    if member.role not in COMMITTEE_ROLES:
        raise InvalidInputError(NOT_COMMITTEE_ROLE.format(name=member.user_name, role=member.role))
    with store.write() as tx:
        if committee_record.is_member(store, user_name=member.user_name):
            raise InvalidInputError(ALREADY_MEMBER.format(name=member.user_name))
        added_at = clock.now().replace(tzinfo=None)
        committee_record.add_member(tx, user_name=member.user_name, added_at=added_at, added_by=actor.user_name)
        # the row's every field is in the entry, so governance.record.record_state can tell an edited row from this one
        _committee_entry(store, tx, actor=actor, payload={"change": "add", "user_name": member.user_name,
                                                          "member": member.signature_name,
                                                          "added_at": added_at.isoformat()})
    return {"user_name": member.user_name, "display_name": member.display_name, "role": member.role}


def remove_member(store: GovernanceStore, *, user_name: str, actor: User) -> dict:
    """Take someone off the committee (admin or chair); their past signatures stay on the record."""
    actor = _may_manage(store, actor)
    name = (user_name or "").strip()
    with store.write() as tx:
        if not committee_record.is_member(store, user_name=name):
            raise InvalidInputError(NOT_MEMBER.format(name=name))
        committee_record.remove_member(tx, user_name=name)
        _committee_entry(store, tx, actor=actor, payload={"change": "remove", "user_name": name})
    return {"user_name": name, "removed": True}


def members(store: GovernanceStore, *, before: datetime | None = None) -> list[dict]:
    """The committee: enabled accounts on it, chair(s) first. `before` (naive UTC): the committee then, folded from
    the ledger's committee and account changes recorded before it, in the same order."""
    if before is not None:
        return _members_before(store, before=before)
    return [{"user_name": m.user_name, "display_name": m.display_name, "role": m.role,
             "added_at": pd.Timestamp(m.added_at).isoformat(timespec="seconds") + "Z", "added_by": m.added_by}
            for m in committee_record.members(store)]


def _members_before(store: GovernanceStore, *, before: datetime) -> list[dict]:
    seats, _ = record_state.committee_seats(store, before=before)
    accounts = record_state.account_states(store, before=before)
    found = []
    for user_name, seat in seats.items():
        account = accounts.get(user_name)
        if account is None or account["disabled"]:
            continue
        added_at = seat.get("added_at") or seat["recorded_at"].rstrip("Z")   # entries before issue 22 name only who
        found.append({"user_name": user_name, "display_name": account["display_name"], "role": account["role"],
                      "added_at": pd.Timestamp(added_at).isoformat(timespec="seconds") + "Z",
                      "added_by": seat.get("by_user", seat.get("by"))})
    return sorted(found, key=lambda m: (m["role"] != "committee chair", m["display_name"].lower()))


def on_committee(store: GovernanceStore, *, user_name: str) -> bool:
    return committee_record.is_member(store, user_name=user_name)


def seed_demo_committee(store: GovernanceStore) -> None:
    """The demo's committee: its chair and three members, added by the demo's admin."""
    admin = next(u for u in identity.DEMO_USERS if u.role == "admin")
    for user in identity.DEMO_USERS:
        if user.role in COMMITTEE_ROLES and not committee_record.is_member(store, user_name=user.user_name):
            add_member(store, user_name=user.user_name, actor=admin)
