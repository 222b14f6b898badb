"""The ledger: one append-only, hash-chained, HMAC-anchored record of sign-offs, decisions, stage changes,
condition updates and gate calls.

It is one of Quorum's hash chains (governance.record.hash_chain, which says how a chain and its anchor prove it was not
edited), signed with a sub-key of the workspace's ledger key (governance.record.ledger_keys: made only at `init`, and
refused before it signs anything when it is not the workspace's key). `governance.record.verification` checks it
together with the other chains and the tables derived from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from governance.errors import GovernanceError, InvalidInputError
from governance.record import clock, hash_chain, ledger_keys
from governance.record.canonical import canonical_json
from governance.record.hash_chain import LEDGER
from governance.record.repositories import ledger as ledger_rows
from governance.record.repositories.ledger import LedgerEntry
from governance.validation import EMPTY

if TYPE_CHECKING:   # the command line imports the account services to build its parsers: no DuckDB for that
    from governance.record.store import GovernanceStore, WriteTransaction

NOT_A_DICT = "the payload must be a dict of JSON values, got {type}"
NOT_JSON = "the payload cannot be stored as JSON ({reason}): use strings, numbers, booleans, lists and dicts"
KEY_REUSED = ("idempotency key {key!r} was already used for a different entry (seq {seq}): "
              "a retry must send exactly the same content; new content needs a new key")
ANCHOR_HOOK = "anchor"   # the after-commit hook that moves the anchor to the chains' new heads


# --- entries -----------------------------------------------------------------------------------------------------
def _content(seq: int, recorded_at: datetime, actor: str, kind: str, subject: str, payload: str,
             idempotency_key: str, prev_hash: str) -> dict:
    """What an entry's hash covers: `payload` is already canonical JSON; `recorded_at` the naive UTC datetime."""
    return {"seq": seq, "recorded_at": recorded_at.isoformat(), "actor": actor, "kind": kind, "subject": subject,
            "payload": payload, "idempotency_key": idempotency_key, "prev_hash": prev_hash}


def chain_rows(store: GovernanceStore) -> list[hash_chain.Row]:
    return [hash_chain.Row(seq=e.seq, prev_hash=e.prev_hash, hash=e.entry_hash, mac=e.entry_mac,
                           content=_content(e.seq, e.recorded_at, e.actor, e.kind, e.subject, e.payload,
                                            e.idempotency_key, e.prev_hash))
            for e in ledger_rows.all_entries(store)]


def _entry(entry: LedgerEntry) -> dict:
    return {**asdict(entry), "recorded_at": entry.recorded_at.isoformat() + "Z", "payload": json.loads(entry.payload)}


def _text(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(EMPTY.format(field=field))
    return value


def append(store: GovernanceStore, *, actor: str, kind: str, subject: str, payload: dict, idempotency_key: str) -> dict:
    """Append one entry and return it; a retry with the same idempotency key and content returns the first one.

    Inside a caller's open `store.write()` (its unit of work) the entry commits or rolls back with the caller's
    own rows. Either way the anchor moves to the chains' new heads once the write commits (an after-commit hook),
    never after a rollback.
    """
    fields = {"actor": _text(actor, "actor"), "kind": _text(kind, "kind"), "subject": _text(subject, "subject"),
              "idempotency_key": _text(idempotency_key, "idempotency key")}
    if not isinstance(payload, dict):
        raise InvalidInputError(NOT_A_DICT.format(type=type(payload).__name__))
    try:
        fields["payload"] = canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(NOT_JSON.format(reason=exc)) from None
    with store.write() as tx:
        return _append(store, tx, **fields)


def anchor_after_commit(store: GovernanceStore, tx: WriteTransaction, *, key: ledger_keys.LedgerKey) -> None:
    """Once `tx` commits, record every chain's new head in the anchor file (once per write, however many rows it
    appends); nothing moves if it rolls back."""
    tx.after_commit(ANCHOR_HOOK, lambda: hash_chain.refresh_anchor(store, key=key))


def _append(store: GovernanceStore, tx: WriteTransaction, *, actor: str, kind: str, subject: str, payload: str,
            idempotency_key: str, key: ledger_keys.LedgerKey | None = None) -> dict:
    """Inside the write lock: reads on this thread's cursor see the transaction's own uncommitted entries."""
    existing = ledger_rows.entry_for_key(store, idempotency_key=idempotency_key)
    if existing is not None:
        if (existing.actor, existing.kind, existing.subject, existing.payload) != (actor, kind, subject, payload):
            raise InvalidInputError(KEY_REUSED.format(key=idempotency_key, seq=existing.seq))
        return _entry(existing)
    key = key or ledger_keys.for_writing(store)   # refuses, before anything is written, a missing or foreign key
    seq, prev_hash = hash_chain.next_link(store, LEDGER)
    if seq == 1:  # anchor the empty ledger first, so a crash right after the first commit leaves it behind, not absent
        hash_chain.refresh_anchor(store, key=key)
    recorded_at = clock.now_naive()
    entry_hash, entry_mac = hash_chain.seal(key, LEDGER, _content(seq, recorded_at, actor, kind, subject, payload,
                                                                  idempotency_key, prev_hash))
    entry = LedgerEntry(seq=seq, recorded_at=recorded_at, actor=actor, kind=kind, subject=subject, payload=payload,
                        idempotency_key=idempotency_key, prev_hash=prev_hash, entry_hash=entry_hash,
                        entry_mac=entry_mac)
    ledger_rows.add_entry(tx, entry)
    anchor_after_commit(store, tx, key=key)
    return _entry(entry)


def entries(store: GovernanceStore, *, subject: str | None = None, kind: str | None = None,
            before: datetime | None = None) -> list[dict]:
    """Oldest first; `before` (naive UTC): only those recorded before it, to read the record as it stood then."""
    return [_entry(entry) for entry in ledger_rows.entries(store, subject=subject, kind=kind, before=before)]


def count_of_kind(store: GovernanceStore, *, kind: str) -> int:
    """How many entries of this kind (inside a write: its own too), to number the next one's idempotency key."""
    return ledger_rows.count_of_kind(store, kind=kind)


def rotate_key(store: GovernanceStore, *, new_secret: str, recorded_as: str) -> dict:
    """Replace the ledger key: one `ledger_key_rotated` entry names both fingerprints, carries the old key's MAC of
    the new fingerprint and is itself signed with the new key, which signs everything after it. The key file then
    holds the new key first and the old ones after it, to verify the entries they signed. Only an admin may: the
    caller checks (governance.access.identity.rotate_ledger_key); `recorded_as` is the admin as entries name them."""
    old = ledger_keys.for_writing(store)
    if os.environ.get(ledger_keys.KEY_ENV):
        raise GovernanceError(ledger_keys.ROTATION_NEEDS_FILE.format(env=ledger_keys.KEY_ENV,
                                                                     file_env=ledger_keys.KEY_FILE_ENV))
    new = ledger_keys.LedgerKey(_text(new_secret, "new ledger key").strip().encode("utf-8"), source="the new key")
    if new.fingerprint == old.fingerprint:
        raise InvalidInputError(ledger_keys.SAME_KEY.format(fingerprint=old.fingerprint))
    payload = {"old_fingerprint": old.fingerprint, "new_fingerprint": new.fingerprint,
               "old_key_mac": old.mac(ledger_keys.ROTATION, new.fingerprint)}

    def after_commit() -> None:   # the key file first, then the anchor signed with the new key (over the old one's)
        ledger_keys.keep_rotated(new, old)
        hash_chain.refresh_anchor(store, key=new, signed_by=old)

    with store.write() as tx:
        tx.after_commit(ANCHOR_HOOK, after_commit)   # first, so the entry's own anchor hook does not replace it
        since_seq, _ = hash_chain.next_link(store, LEDGER)
        since_event, _ = hash_chain.next_link(store, hash_chain.RISK_REGISTER)
        ledger_keys.record_key(tx, new, since_seq=since_seq, since_event=since_event)
        entry = _append(store, tx, actor=recorded_as, kind="ledger_key_rotated", subject="ledger key",
                        payload=canonical_json(payload), idempotency_key=f"ledger-key-rotated:{new.fingerprint}",
                        key=new)
    return {"seq": entry["seq"], **payload}


def refresh_anchor(store: GovernanceStore) -> None:
    """Record every chain's committed head in the anchor file now. Appends do it themselves after their commit;
    this is for before a new workspace's first record (`init`, a first model or audit or risk), so that a workspace
    whose ledger and anchor were removed is told apart from one that never held anything."""
    hash_chain.refresh_anchor(store, key=ledger_keys.for_writing(store))
