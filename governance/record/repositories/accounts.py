"""Accounts (app_user) and their API tokens (api_token).

The password and token hashes are read only where a check needs them, and never shown: they are left out of
the records' repr, so a log line or traceback cannot carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # the command line imports the account services to build its parsers: no DuckDB for that
    from governance.record.store import GovernanceStore, WriteTransaction

_ACCOUNT_COLUMNS = "user_name, display_name, role, source, email, disabled, password_hash"
_INSERT_COLUMNS = "user_name, display_name, role, source, password_hash, created_at, created_by, disabled, email"
_TOKEN_COLUMNS = ("token_id, name, user_name, prefix, created_at, created_by, expires_at, last_used_at, revoked_at, "
                  "revoked_by, token_hash")


@dataclass(frozen=True)
class AccountRecord:
    user_name: str
    display_name: str
    role: str
    source: str                  # 'local', 'oidc' or 'demo'
    email: str | None
    disabled: bool
    password_hash: str | None = field(repr=False)   # local accounts only


@dataclass(frozen=True)
class DemoAccount:
    user_name: str
    display_name: str
    role: str
    email: str


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    user_name: str
    prefix: str
    created_at: datetime         # UTC, naive
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    token_hash: str = field(repr=False)


# --- accounts ----------------------------------------------------------------------------------------------------
def account(store: GovernanceStore, *, user_name: str) -> AccountRecord | None:
    """The account of exactly that name, enabled or not (inside a write: as the write sees it)."""
    rows = store.query_rows(f"SELECT {_ACCOUNT_COLUMNS} FROM app_user WHERE user_name = ?", [user_name])
    return AccountRecord(*rows[0]) if rows else None


def oidc_account(store: GovernanceStore, *, name: str) -> AccountRecord | None:
    """The identity provider's account whose name is this e-mail address or subject, in any letter case."""
    rows = store.query_rows(f"SELECT {_ACCOUNT_COLUMNS} FROM app_user WHERE lower(user_name) = lower(?) "
                            "AND source = 'oidc'", [name])
    return AccountRecord(*rows[0]) if rows else None


def accounts(store: GovernanceStore, *, enabled_only: bool = False) -> list[AccountRecord]:
    """By display name (in any letter case)."""
    rows = store.query_rows(f"SELECT {_ACCOUNT_COLUMNS} FROM app_user WHERE NOT (? AND disabled) "
                            "ORDER BY lower(display_name)", [enabled_only])
    return [AccountRecord(*row) for row in rows]


def has_accounts(store: GovernanceStore) -> bool:
    return bool(store.query_value("SELECT count(*) FROM app_user"))


def name_taken(store: GovernanceStore, *, user_name: str) -> bool:
    """Whether an account has this name in any letter case."""
    return bool(store.query_value("SELECT count(*) FROM app_user WHERE lower(user_name) = lower(?)", [user_name]))


def has_admin_besides_demo(store: GovernanceStore) -> bool:
    return bool(store.query_value("SELECT count(*) FROM app_user WHERE role = 'admin' AND source <> 'demo'"))


def other_enabled_admins(store: GovernanceStore, *, user_name: str) -> int:
    return store.query_value("SELECT count(*) FROM app_user WHERE role = 'admin' AND NOT disabled AND user_name <> ?",
                             [user_name])


def has_demo_accounts(store: GovernanceStore) -> bool:
    return bool(store.query_value("SELECT count(*) FROM app_user WHERE source = 'demo'"))


def add_account(tx: WriteTransaction, *, user_name: str, display_name: str, role: str, source: str,
                password_hash: str | None, created_at: datetime, created_by: str, email: str | None) -> None:
    tx.execute(f"INSERT INTO app_user ({_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, false, ?)",
               [user_name, display_name, role, source, password_hash, created_at, created_by, email])


def add_demo_accounts(tx: WriteTransaction, people: list[DemoAccount], *, created_at: datetime) -> None:
    """The demo's people: no password, made by the demo."""
    tx.executemany(f"INSERT INTO app_user ({_INSERT_COLUMNS}) VALUES (?, ?, ?, 'demo', NULL, ?, 'demo', false, ?)",
                   [[p.user_name, p.display_name, p.role, created_at, p.email] for p in people])


def set_email(tx: WriteTransaction, *, user_name: str, email: str | None) -> None:
    tx.execute("UPDATE app_user SET email = ? WHERE user_name = ?", [email, user_name])


def set_disabled(tx: WriteTransaction, *, user_name: str, disabled: bool) -> None:
    tx.execute("UPDATE app_user SET disabled = ? WHERE user_name = ?", [disabled, user_name])


# --- API tokens --------------------------------------------------------------------------------------------------
def tokens(store: GovernanceStore) -> list[TokenRecord]:
    """Every token ever issued, newest first."""
    return [TokenRecord(*row) for row in store.query_rows(
        f"SELECT {_TOKEN_COLUMNS} FROM api_token ORDER BY created_at DESC, token_id DESC")]


def token(store: GovernanceStore, *, token_id: str) -> TokenRecord | None:
    rows = store.query_rows(f"SELECT {_TOKEN_COLUMNS} FROM api_token WHERE token_id = ?", [token_id])
    return TokenRecord(*rows[0]) if rows else None


def token_by_hash(store: GovernanceStore, *, token_hash: str) -> TokenRecord | None:
    rows = store.query_rows(f"SELECT {_TOKEN_COLUMNS} FROM api_token WHERE token_hash = ?", [token_hash])
    return TokenRecord(*rows[0]) if rows else None


def next_token_number(store: GovernanceStore) -> int:
    """Inside a write: one more than the highest token number (TK-0001 is 1)."""
    return store.query_value("SELECT coalesce(max(CAST(substr(token_id, 4) AS INTEGER)), 0) + 1 FROM api_token")


def add_token(tx: WriteTransaction, *, token_id: str, name: str, user_name: str, prefix: str, created_at: datetime,
              created_by: str, expires_at: datetime | None, token_hash: str) -> None:
    tx.execute(f"INSERT INTO api_token ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?)",
               [token_id, name, user_name, prefix, created_at, created_by, expires_at, token_hash])


def revoke_token(tx: WriteTransaction, *, token_id: str, revoked_at: datetime, revoked_by: str) -> None:
    tx.execute("UPDATE api_token SET revoked_at = ?, revoked_by = ? WHERE token_id = ?",
               [revoked_at, revoked_by, token_id])


def record_use(tx: WriteTransaction, *, token_id: str, now: datetime, every: timedelta) -> None:
    """When the token was last used; the condition again, so concurrent requests record one use, not many."""
    tx.execute("UPDATE api_token SET last_used_at = ? WHERE token_id = ? "
               "AND (last_used_at IS NULL OR last_used_at <= ?)", [now, token_id, now - every])
