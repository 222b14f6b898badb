"""The ledger key: made once, when a workspace is created, and checked before every signature.

The key lives outside the workspace ($QUORUM_LEDGER_KEY, else the file $QUORUM_LEDGER_KEY_FILE, by default
~/.config/quorum/ledger.key): someone who can rewrite the database file must not also hold the key, or they
could re-sign whatever they wrote. The workspace stores only the key's fingerprint (an HMAC of a fixed label),
so a different key is refused before it signs anything: an empty CI secret, or the app and the CLI running as
different OS users, would otherwise make every later entry unverifiable for good.

The key is never used directly. HKDF derives one sub-key per purpose (each chain's MACs, the anchor, the audit
pack seal), so a value made for one purpose can never be passed off as another.

Rotation (README, "The ledger key"): `python -m governance ledger rotate-key --new-key-file PATH` appends a
`ledger_key_rotated` entry naming both fingerprints, MAC-ed with the old key inside its payload and signed
with the new key as an entry; entries before it verify with the old key, which stays in the key file's
`previous` lines.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

from governance.errors import GovernanceError
from governance.record import clock, durable_file, hash_chain
from governance.record.repositories import ledger as ledger_rows

if TYPE_CHECKING:   # the command line imports the account services to build its parsers: no DuckDB for that
    from governance.record.store import GovernanceStore, WriteTransaction

KEY_ENV = "QUORUM_LEDGER_KEY"
KEY_FILE_ENV = "QUORUM_LEDGER_KEY_FILE"
DEFAULT_KEY_FILE = "~/.config/quorum/ledger.key"
FINGERPRINT_LABEL = "quorum ledger key fingerprint v1"
# The purposes a sub-key is derived for (the chains' and the anchor's are in governance.record.hash_chain).
PACK_SEAL = "audit-pack-seal"
ACCOUNT_PASSWORD = "account-password-hash"   # a keyed digest of an account's password hash, in its entry
TOKEN_HASH = "api-token-hash"   # a keyed digest of a token's hash, in its ledger entry
ROTATION = "key-rotation"   # the old key's MAC of the new key's fingerprint, in the rotation entry

EMPTY_KEY_FILE = ("the ledger key file {path} is empty: restore the key this workspace was created with "
                  "(its fingerprint is recorded in the workspace)")
KEY_MISSING = ("no ledger key on this machine ({env} is not set and {path} does not exist), so nothing can be "
               "signed and nothing was written. Set {env} (or {file_env}) to the key this workspace was created "
               "with; a new workspace gets its key from `python -m governance init`")
KEY_MISMATCH = ("the ledger key at hand ({source}, fingerprint {found}) is not the key this workspace was created "
                "with (fingerprint {expected}), so nothing was signed and nothing was written. Use the workspace's "
                "key: the same {env} for the app, the server, the CLI and CI")
ROTATION_NEEDS_FILE = ("the ledger key comes from ${env}: a rotation keeps the old key beside the new one in the "
                       "key file, so unset {env} and use {file_env} (or the default key file) to rotate")
SAME_KEY = "the new ledger key is the current one (fingerprint {fingerprint}): give a new key"
KEY_UNPROVEN = ("this workspace records no ledger key fingerprint, and its newest {chain} entry was not signed with "
                "the key at hand ({source}): nothing was written. Use the key the workspace was written with")


@dataclass(frozen=True)
class LedgerKey:
    """The root key (never shown) and where it came from."""
    secret: bytes = field(repr=False)
    source: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.secret)

    def sub_key(self, purpose: str) -> bytes:
        return _derive(self.secret, purpose)

    def mac(self, purpose: str, text: str) -> str:
        return hmac.new(self.sub_key(purpose), text.encode("utf-8"), hashlib.sha256).hexdigest()


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, FINGERPRINT_LABEL.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@lru_cache(maxsize=64)
def _derive(secret: bytes, purpose: str) -> bytes:
    from cryptography.hazmat.primitives import hashes   # on first signature, not when the CLI builds its parsers
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"quorum/{purpose}".encode("utf-8")).derive(secret)


def key_file_path() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()


def load() -> LedgerKey | None:
    """$QUORUM_LEDGER_KEY, else the key file's first line; None when neither exists. Never makes a key."""
    if os.environ.get(KEY_ENV):
        return LedgerKey(os.environ[KEY_ENV].encode("utf-8"), source=f"${KEY_ENV}")
    path = key_file_path()
    if not path.exists():
        return None
    lines = _lines(path)
    if not lines:
        raise GovernanceError(EMPTY_KEY_FILE.format(path=path))
    return LedgerKey(lines[0].encode("utf-8"), source=str(path))


def previous_keys() -> list[LedgerKey]:
    """Keys the key file keeps after its first line: the ones rotated out, to verify older entries."""
    path = key_file_path()
    if os.environ.get(KEY_ENV) or not path.exists():
        return []
    return [LedgerKey(line.encode("utf-8"), source=f"{path} (previous key)")
            for line in _lines(path)[1:]]


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _missing() -> GovernanceError:
    return GovernanceError(KEY_MISSING.format(env=KEY_ENV, file_env=KEY_FILE_ENV, path=key_file_path()))


def recorded(store: GovernanceStore) -> list[ledger_rows.RecordedKey]:
    """Each key the workspace was signed with (its fingerprint, first ledger seq and first risk register seq),
    oldest first (more than one after a rotation)."""
    return ledger_rows.recorded_keys(store)


def current_fingerprint(store: GovernanceStore) -> str | None:
    keys = recorded(store)
    return keys[-1].fingerprint if keys else None


def for_writing(store: GovernanceStore) -> LedgerKey:
    """The key, checked against the workspace's fingerprint; raises with what to do when it is missing or wrong.

    A workspace without a fingerprint (made before fingerprints, or by code that opened the file directly) gets
    it here, inside the caller's write, but only if its chains are empty or the key signed their newest entry.
    """
    key = load()
    if key is None:
        raise _missing()
    expected = current_fingerprint(store)
    if expected is None:
        _prove(store, key)
        with store.write() as tx:   # inside the caller's write, when it has one open
            record_key(tx, key, since_seq=0, since_event=0)
    elif not hmac.compare_digest(expected, key.fingerprint):
        raise GovernanceError(KEY_MISMATCH.format(source=key.source, found=key.fingerprint, expected=expected,
                                                  env=KEY_ENV))
    return key


def _prove(store: GovernanceStore, key: LedgerKey) -> None:
    for chain in hash_chain.CHAINS:
        head = hash_chain.head_row(store, chain)
        if head is not None and not hmac.compare_digest(str(head.mac or ""), key.mac(chain.mac_purpose, head.hash)):
            raise GovernanceError(KEY_UNPROVEN.format(chain=chain.name, source=key.source))


def record_key(tx: WriteTransaction, key: LedgerKey, *, since_seq: int, since_event: int) -> None:
    """The key's fingerprint, signing the chains from these rows on (0, 0 for a new workspace)."""
    ledger_rows.add_key(tx, fingerprint=key.fingerprint, since_seq=since_seq, since_event=since_event,
                        recorded_at=clock.now_naive())


def initialise(store: GovernanceStore) -> tuple[LedgerKey, bool]:
    """At `init` (and a server's or the app's first start on a new workspace): the one place a key is ever made.

    Returns (key, made). An existing key is used as it is; a new one is made only when there is none at all.
    """
    made = False
    if load() is None:
        _create_key_file(key_file_path())
        made = True
    return for_writing(store), made


def initialise_if_new(store: GovernanceStore) -> None:
    """A server starting on a workspace that has no key fingerprint and nothing signed yet is that workspace's
    `init`: its key is there before the server file is signed and before the first start builds the demo."""
    if current_fingerprint(store) is None and all(hash_chain.head_row(store, c) is None for c in hash_chain.CHAINS):
        initialise(store)


def keep_rotated(new: LedgerKey, old: LedgerKey) -> None:
    """After a rotation has committed: the key file holds the new key first, then every key before it."""
    path = key_file_path()
    kept = [new.secret.decode("utf-8"), old.secret.decode("utf-8"), *(k.secret.decode("utf-8")
                                                                      for k in previous_keys())]
    durable_file.replace(path, "\n".join(kept) + "\n")


def _create_key_file(path: Path) -> None:
    """Written whole, then linked into place: a process racing us finds either no key or the complete one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process made one first: everyone uses theirs
            pass
    finally:
        os.unlink(temporary)
