"""The ledger: one append-only, hash-chained, HMAC-anchored record of sign-offs, decisions, stage changes,
condition updates and gate calls.

Each entry's hash covers its content and the previous entry's hash, so an entry edited, reordered or removed
afterwards breaks the chain. A chain alone can be rewritten end to end by anyone who can write the database
file, so each entry also carries an HMAC of its hash made with the ledger key, and after every commit the
head (newest seq and hash) is recorded, with its own HMAC, in an anchor file next to the workspace
(quorum.duckdb.anchor): deleting the newest entries leaves the anchor ahead of the chain.

The key lives outside the workspace ($QUORUM_LEDGER_KEY, else the file $QUORUM_LEDGER_KEY_FILE, by default
~/.config/quorum/ledger.key, created on first use): someone who can rewrite the database file must not also
hold the key, or they could re-sign whatever they wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from governance import clock
from governance.canonical import canonical_json
from governance.errors import GovernanceError, InvalidInputError
from governance.store import GovernanceStore, WriteTransaction
from governance.validation import EMPTY

GENESIS = "0" * 64
DEFAULT_KEY_FILE = "~/.config/quorum/ledger.key"
COLUMNS = ("seq", "recorded_at", "actor", "kind", "subject", "payload", "idempotency_key", "prev_hash", "entry_hash",
           "entry_mac")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM ledger"
_ANCHOR_LOCK = threading.Lock()  # one anchor writer at a time, so the anchor only moves forward

NOT_A_DICT = "the payload must be a dict of JSON values, got {type}"
NOT_JSON = "the payload cannot be stored as JSON ({reason}): use strings, numbers, booleans, lists and dicts"
KEY_REUSED = ("idempotency key {key!r} was already used for a different entry (seq {seq}): "
              "a retry must send exactly the same content; new content needs a new key")
EMPTY_KEY_FILE = "the ledger key file {path} is empty: delete it to have a new key made, or restore the old one"

MISSING = ("entry {seq} is missing (the next entry is numbered {found}): "
           "entries were deleted or renumbered after they were written")
OUT_OF_ORDER = "entry {found} appears where entry {seq} should be: entries were renumbered or duplicated"
BROKEN_LINK = ("entry {seq} does not point at the entry before it: "
               "entries before it were removed, reordered or rewritten")
CHANGED = "entry {seq} was changed after it was written: its hash does not match its content"
FORGED = ("entry {seq} was not written by Quorum with this ledger key: its signature does not match, "
          "so it was forged or the chain was rewritten (or the ledger key changed)")
ANCHOR_MISSING = ("the anchor file {path} is missing: it is rewritten after every append, so it was deleted or the "
                  "workspace was copied without it; deleting the newest entries cannot be ruled out. Restore the "
                  "database and its anchor file together from a backup (a copy must take both)")
LEDGER_EMPTIED = ("the ledger is empty, yet the workspace holds records that are only ever written together with "
                  "a ledger entry ({records}): the ledger was emptied. Restore the database and its anchor file "
                  "{path} together from a backup")
ANCHOR_MISSING_EMPTY = ("the ledger is empty and its anchor file {path} is missing, yet the workspace holds "
                        "records ({records}): the ledger may have been emptied and the anchor deleted, or the "
                        "workspace was copied without the anchor file. Restore the database and its anchor file "
                        "together from a backup; a workspace that never had a ledger entry gets its anchor with "
                        "the first one")
# What a workspace holds besides the ledger, as (table, label): a workspace with any of them is not new, so an
# empty ledger with no anchor is no longer the harmless "nothing recorded yet". The first group is only ever
# written in the same transaction as a ledger entry, so any of it beside an empty ledger means the ledger was
# emptied, whatever the anchor says (an old anchor of the empty ledger can be copied back).
_LEDGER_BOUND = (("committee_member", "committee members"), ("committee_rule", "committee settings"),
                 ("api_token", "API tokens"))
_RECORDS = _LEDGER_BOUND + (("model", "models"), ("model_version", "model versions"),
                            ("risk_event", "risk register events"), ("fairness_audit", "fairness audits"),
                            ("robustness_run", "robustness runs"), ("explanation", "explanations"))
ANCHOR_FORGED = ("the anchor file {path} was not written by Quorum with this ledger key: "
                 "it was replaced or edited (or the ledger key changed)")
ANCHOR_AHEAD = ("the anchor records {anchored} entries but the ledger holds {count}: "
                "the newest entries were deleted")
ANCHOR_MISMATCH = ("entry {seq} is not the entry the anchor recorded: "
                   "the ledger was replaced by another copy or rewritten")


# --- the key -----------------------------------------------------------------------------------------------------
def ledger_key() -> bytes:
    """$QUORUM_LEDGER_KEY, else the key file (made with 32 random bytes, readable only by you, on first use)."""
    if os.environ.get("QUORUM_LEDGER_KEY"):
        return os.environ["QUORUM_LEDGER_KEY"].encode("utf-8")
    path = Path(os.environ.get("QUORUM_LEDGER_KEY_FILE") or DEFAULT_KEY_FILE).expanduser()
    if not path.exists():
        _create_key_file(path)
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise GovernanceError(EMPTY_KEY_FILE.format(path=path))
    return key.encode("utf-8")


def existing_key() -> bytes | None:
    """The ledger key if this machine has one, without making one (for checks that can do without it)."""
    path = Path(os.environ.get("QUORUM_LEDGER_KEY_FILE") or DEFAULT_KEY_FILE).expanduser()
    return ledger_key() if os.environ.get("QUORUM_LEDGER_KEY") or path.exists() else None


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


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# --- entries -----------------------------------------------------------------------------------------------------
def _entry_hash(seq: int, recorded_at: datetime, actor: str, kind: str, subject: str, payload: str,
                idempotency_key: str, prev_hash: str) -> str:
    """`payload` is already canonical JSON; `recorded_at` is the naive UTC datetime as stored."""
    return hashlib.sha256(canonical_json({
        "seq": seq, "recorded_at": recorded_at.isoformat(), "actor": actor, "kind": kind, "subject": subject,
        "payload": payload, "idempotency_key": idempotency_key, "prev_hash": prev_hash}).encode("utf-8")).hexdigest()


def _entry(row: tuple) -> dict:
    entry = dict(zip(COLUMNS, row))
    return {**entry, "recorded_at": entry["recorded_at"].isoformat() + "Z", "payload": json.loads(entry["payload"])}


def _text(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(EMPTY.format(field=field))
    return value


def append(store: GovernanceStore, *, actor: str, kind: str, subject: str, payload: dict, idempotency_key: str,
           tx: WriteTransaction | None = None) -> dict:
    """Append one entry and return it; a retry with the same idempotency key and content returns the first one.

    With `tx` (an open `store.write()` of this thread) the entry commits or rolls back with the caller's own
    rows; the caller then calls `refresh_anchor(store)` after its write block.
    """
    fields = {"actor": _text(actor, "actor"), "kind": _text(kind, "kind"), "subject": _text(subject, "subject"),
              "idempotency_key": _text(idempotency_key, "idempotency key")}
    if not isinstance(payload, dict):
        raise InvalidInputError(NOT_A_DICT.format(type=type(payload).__name__))
    try:
        fields["payload"] = canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(NOT_JSON.format(reason=exc)) from None
    if tx is not None:
        return _append(store, tx, **fields)
    with store.write() as own:
        entry = _append(store, own, **fields)
    refresh_anchor(store)
    return entry


def _append(store: GovernanceStore, tx: WriteTransaction, *, actor: str, kind: str, subject: str, payload: str,
            idempotency_key: str) -> dict:
    """Inside the write lock: reads on this thread's cursor see the transaction's own uncommitted entries."""
    existing = store.query_rows(f"{_SELECT} WHERE idempotency_key = ?", [idempotency_key])
    if existing:
        if existing[0][2:6] != (actor, kind, subject, payload):
            raise InvalidInputError(KEY_REUSED.format(key=idempotency_key, seq=existing[0][0]))
        return _entry(existing[0])
    key = ledger_key()
    head = store.query_rows("SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1")
    seq, prev_hash = (head[0][0] + 1, head[0][1]) if head else (1, GENESIS)
    if seq == 1:  # anchor the empty ledger first, so a crash right after the first commit leaves it behind, not absent
        refresh_anchor(store)
    recorded_at = clock.now_naive()
    entry_hash = _entry_hash(seq, recorded_at, actor, kind, subject, payload, idempotency_key, prev_hash)
    row = (seq, recorded_at, actor, kind, subject, payload, idempotency_key, prev_hash, entry_hash,
           _mac(key, entry_hash))
    tx.execute(f"INSERT INTO ledger ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", list(row))
    return _entry(row)


def entries(store: GovernanceStore, *, subject: str | None = None, kind: str | None = None) -> list[dict]:
    rows = store.query_rows(f"{_SELECT} WHERE (? IS NULL OR subject = ?) AND (? IS NULL OR kind = ?) ORDER BY seq",
                            [subject, subject, kind, kind])
    return [_entry(row) for row in rows]


# --- the anchor --------------------------------------------------------------------------------------------------
def anchor_path(store: GovernanceStore) -> Path:
    return Path(f"{store.path}.anchor")


def refresh_anchor(store: GovernanceStore) -> None:
    """Record the committed head in the anchor file.

    An anchor that already shows tampering (missing, forged, ahead of the chain or on another chain) is left
    as it is: moving it to the new head would erase the evidence.
    """
    key = ledger_key()
    with _ANCHOR_LOCK:
        head = store.query_rows("SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1")
        seq, head_hash = head[0] if head else (0, GENESIS)
        if _anchor_problem(store, key, count=seq)[0] is not None:
            return
        path = anchor_path(store)
        content = json.dumps({"seq": seq, "head_hash": head_hash, "mac": _mac(key, f"{seq}:{head_hash}")})
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise


def _anchor_problem(store: GovernanceStore, key: bytes, *, count: int) -> tuple[str | None, int | None, int | None]:
    """(problem, first bad seq, anchored seq) of the anchor file against a chain of `count` entries."""
    path = anchor_path(store)
    try:
        anchor = json.loads(path.read_text(encoding="utf-8"))
        anchored, head_hash = anchor["seq"], anchor["head_hash"]
        genuine = hmac.compare_digest(anchor["mac"], _mac(key, f"{anchored}:{head_hash}"))
    except FileNotFoundError:
        return (None if count == 0 else ANCHOR_MISSING.format(path=path)), None, None
    except (OSError, ValueError, KeyError, TypeError):  # unreadable, not JSON, fields missing or not text
        genuine = False
    if not genuine:
        return ANCHOR_FORGED.format(path=path), None, None
    if anchored > count:
        return ANCHOR_AHEAD.format(anchored=anchored, count=count), count + 1, anchored
    recorded = GENESIS if anchored == 0 else store.query_value("SELECT entry_hash FROM ledger WHERE seq = ?",
                                                               [anchored])
    if recorded != head_hash:
        return ANCHOR_MISMATCH.format(seq=anchored), anchored, anchored
    return None, None, anchored


# --- verification ------------------------------------------------------------------------------------------------
def verify(store: GovernanceStore) -> dict:
    """Recheck numbering, links, hashes and signatures in order, then the anchor; report the first problem."""
    key = ledger_key()
    rows = store.query_rows(f"{_SELECT} ORDER BY seq")
    result = {"ok": False, "entries": len(rows), "first_bad_seq": None, "problem": None,
              "head_hash": rows[-1][8] if rows else None, "anchor_seq": None}
    prev_hash = GENESIS
    for expected, row in enumerate(rows, start=1):
        problem = _entry_problem(row, expected=expected, prev_hash=prev_hash, key=key)
        if problem:
            return {**result, "first_bad_seq": expected, "problem": problem}
        prev_hash = row[8]
    if not rows:
        problem = _empty_ledger_problem(store)
        if problem:
            return {**result, "problem": problem}
    problem, first_bad_seq, anchor_seq = _anchor_problem(store, key, count=len(rows))
    return {**result, "ok": problem is None, "first_bad_seq": first_bad_seq, "problem": problem,
            "anchor_seq": anchor_seq}


def _held(store: GovernanceStore, tables: tuple) -> str:
    """'models: 3, risk register events: 12' for the tables that hold rows; '' when none does."""
    counts = [(store.query_value(f"SELECT count(*) FROM {table}"), label) for table, label in tables]
    return ", ".join(f"{label}: {count:,}" for count, label in counts if count)


def _empty_ledger_problem(store: GovernanceStore) -> str | None:
    """An empty ledger is intact only in a workspace that holds nothing yet, or holds records that need no
    ledger entry (models, risks, audits) and still has the anchor of the empty ledger."""
    path = anchor_path(store)
    bound = _held(store, _LEDGER_BOUND)
    if bound:
        return LEDGER_EMPTIED.format(records=bound, path=path)
    if not path.exists():
        held = _held(store, _RECORDS)
        if held:
            return ANCHOR_MISSING_EMPTY.format(path=path, records=held)
    return None


def _entry_problem(row: tuple, *, expected: int, prev_hash: str, key: bytes) -> str | None:
    seq, recorded_at, actor, kind, subject, payload, idempotency_key, stored_prev, entry_hash, entry_mac = row
    if seq != expected:
        return (MISSING if seq > expected else OUT_OF_ORDER).format(seq=expected, found=seq)
    if stored_prev != prev_hash:
        return BROKEN_LINK.format(seq=seq)
    if entry_hash != _entry_hash(seq, recorded_at, actor, kind, subject, payload, idempotency_key, stored_prev):
        return CHANGED.format(seq=seq)
    if not hmac.compare_digest(entry_mac.encode("utf-8"), _mac(key, entry_hash).encode("utf-8")):
        return FORGED.format(seq=seq)
    return None
