"""The review committee's record: its members (committee_member) and its quorum settings (committee_rule).

Every change to either is also a `committee_change` ledger entry, appended by the service in the same transaction;
`changes_recorded` numbers them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.record.store import GovernanceStore, WriteTransaction


@dataclass(frozen=True)
class CommitteeMember:
    """A seat on the committee of an enabled account, with the account's name and role as stored now."""
    user_name: str
    display_name: str
    role: str
    added_at: datetime
    added_by: str


def members(store: GovernanceStore) -> list[CommitteeMember]:
    """The enabled accounts on the committee, chair(s) first, then by display name."""
    rows = store.query_rows("""
        SELECT c.user_name, u.display_name, u.role, c.added_at, c.added_by FROM committee_member c
        JOIN app_user u USING (user_name) WHERE NOT u.disabled
        ORDER BY u.role = 'committee chair' DESC, lower(u.display_name)""")
    return [CommitteeMember(*row) for row in rows]


@dataclass(frozen=True)
class Seat:
    """A committee_member row as stored, whether or not its account is still enabled (what `verify` compares with
    the ledger's committee changes)."""
    user_name: str
    added_at: datetime
    added_by: str


def seats(store: GovernanceStore) -> list[Seat]:
    return [Seat(*row) for row in store.query_rows("SELECT user_name, added_at, added_by FROM committee_member")]


def is_member(store: GovernanceStore, *, user_name: str) -> bool:
    """Whether the account has a seat (disabled or not)."""
    return bool(store.query_value("SELECT count(*) FROM committee_member WHERE user_name = ?", [user_name]))


def add_member(tx: WriteTransaction, *, user_name: str, added_at: datetime, added_by: str) -> None:
    tx.execute("INSERT INTO committee_member VALUES (?, ?, ?)", [user_name, added_at, added_by])


def remove_member(tx: WriteTransaction, *, user_name: str) -> None:
    tx.execute("DELETE FROM committee_member WHERE user_name = ?", [user_name])


def stored_rules(store: GovernanceStore) -> dict[str, str]:
    """The settings someone changed, as stored text by key (the defaults are the service's)."""
    return dict(store.query_rows("SELECT key, value FROM committee_rule"))


def set_rule(tx: WriteTransaction, *, key: str, value: str) -> None:
    tx.execute("INSERT INTO committee_rule (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])


def changes_recorded(store: GovernanceStore) -> int:
    """How many committee_change entries the ledger holds (inside a write: including the write's own)."""
    return store.query_value("SELECT count(*) FROM ledger WHERE kind = 'committee_change'")
