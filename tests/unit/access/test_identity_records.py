"""The accounts repository: what it hands the services, and that the hashes it reads never show in a repr."""

from __future__ import annotations

from governance.access import identity, tokens
from governance.record.repositories import accounts as account_rows
from tests.unit.conftest import PASSWORD


def test_accounts_come_back_as_records_and_their_password_hash_is_never_shown(store, admin):
    identity.add_user(store, user_name="val", display_name="Val", role="viewer", actor=admin, password=PASSWORD)
    identity.set_disabled(store, user_name="val", disabled=True, actor=admin)
    ada = account_rows.account(store, user_name="ada")
    assert (ada.user_name, ada.display_name, ada.role, ada.source, ada.disabled) == ("ada", "Ada Admin", "admin",
                                                                                     "local", False)
    assert ada.password_hash.startswith("$argon2id$") and ada.password_hash not in repr(ada)
    assert account_rows.account(store, user_name="nobody") is None
    assert [a.user_name for a in account_rows.accounts(store)] == ["ada", "val"]
    assert [a.user_name for a in account_rows.accounts(store, enabled_only=True)] == ["ada"]


def test_a_token_record_keeps_its_hash_out_of_its_repr(store, admin):
    issued = tokens.create_token(store, name="ci", user_name="ada", actor=admin, expires_days=None)
    record = account_rows.token(store, token_id=issued.token_id)
    assert record.token_hash == tokens.token_hash(issued.token) and record.token_hash not in repr(record)
    assert account_rows.token_by_hash(store, token_hash=record.token_hash) == record
    assert account_rows.tokens(store) == [record]
