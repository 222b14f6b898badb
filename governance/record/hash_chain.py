"""The one hash chain of Quorum's records: the ledger and the risk register are both such chains.

Each row's hash covers its content (canonical JSON) and the previous row's hash, so a row edited, reordered or
removed afterwards breaks the chain. A chain alone can be rewritten end to end by anyone who can write the
database file, so each row also carries an HMAC of its hash made with a sub-key of the ledger key (which lives
outside the workspace), and after every commit the heads of all chains (newest seq and hash of each) are
recorded, with their own HMAC, in one anchor file next to the workspace (quorum.duckdb.anchor): deleting the
newest rows of any chain leaves the anchor ahead of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Protocol

from governance.record import durable_file
from governance.record.canonical import canonical_json
from governance.record.repositories import ledger as ledger_rows
from governance.record.repositories.ledger import ChainHead

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore

GENESIS = "0" * 64
# The purposes the ledger key's sub-keys are derived for here: a chain's MACs (CHAIN_MAC + its name), the anchor.
CHAIN_MAC = "chain-mac:"
ANCHOR = "anchor"
_ANCHOR_LOCK = threading.Lock()  # one anchor writer at a time, so the anchor only moves forward


class LedgerKey(Protocol):
    """What the chains need of the ledger key: a MAC per purpose. The key module (governance.record.ledger_keys)
    builds on this one (its chains' purposes), not the other way round."""

    def mac(self, purpose: str, text: str) -> str: ...


@dataclass(frozen=True)
class Chain:
    """A chained table: `name` is what messages call it, `noun` what they call one row."""
    name: str
    table: str
    noun: str
    hash_column: str
    mac_column: str

    @property
    def words(self) -> dict:
        return {"chain": self.name, "noun": self.noun, "nouns": self.noun.replace("entry", "entrie") + "s"}

    @property
    def mac_purpose(self) -> str:
        return CHAIN_MAC + self.name


LEDGER = Chain(name="ledger", table="ledger", noun="entry", hash_column="entry_hash", mac_column="entry_mac")
RISK_REGISTER = Chain(name="risk register", table="risk_event", noun="event", hash_column="event_hash",
                      mac_column="event_mac")
CHAINS = (LEDGER, RISK_REGISTER)

# What a workspace holds besides its chains, as (table, label): a workspace with any of them is not new, so empty
# chains with no anchor are no longer the harmless "nothing recorded yet". The first group is only ever written
# in the same transaction as a ledger entry, so any of it beside an empty ledger means the ledger was emptied,
# whatever the anchor says (an old anchor of the empty ledger can be copied back).
LEDGER_BOUND = (("committee_member", "committee members"), ("committee_rule", "committee settings"),
                ("api_token", "API tokens"))
RECORDS = LEDGER_BOUND + (("model", "models"), ("model_version", "model versions"),
                          ("fairness_audit", "fairness audits"), ("robustness_run", "robustness runs"),
                          ("explanation", "explanations"))

MISSING = ("{chain} {noun} {seq} is missing (the next one is numbered {found}): "
           "{nouns} were deleted or renumbered after they were written")
OUT_OF_ORDER = "{chain} {noun} {found} appears where {noun} {seq} should be: {nouns} were renumbered or duplicated"
BROKEN_LINK = ("{chain} {noun} {seq} does not point at the {noun} before it: "
               "{nouns} before it were removed, reordered or rewritten")
CHANGED = "{chain} {noun} {seq} was changed after it was written: its hash does not match its content"
FORGED = ("{chain} {noun} {seq} was not written by Quorum with this ledger key: its signature does not match, "
          "so it was forged or the {chain} was rewritten")
UNSIGNED = ("{chain} {noun} {seq} carries no signature: it was inserted behind Quorum's back (or written by a "
            "version before the {chain} was signed)")
ANCHOR_MISSING = ("the anchor file {path} is missing: it is rewritten after every append, so it was deleted or the "
                  "workspace was copied without it; deleting the newest entries cannot be ruled out. Restore the "
                  "database and its anchor file together from a backup (a copy must take both)")
ANCHOR_FORGED = ("the anchor file {path} was not written by Quorum with this ledger key: "
                 "it was replaced or edited (or the ledger key changed)")
ANCHOR_AHEAD = ("the anchor records {anchored} {nouns} of the {chain} but its newest is number {count}: "
                "its newest {nouns} were deleted")
ANCHOR_MISMATCH = ("{chain} {noun} {seq} is not the one the anchor recorded: "
                   "the {chain} was replaced by another copy or rewritten")


@dataclass(frozen=True)
class Row:
    """One chained row: `content` is everything its hash covers, including `prev_hash`."""
    seq: int
    prev_hash: str
    hash: str
    mac: str | None
    content: dict


@dataclass(frozen=True)
class ChainCheck:
    chain: str
    rows: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: str | None = None


def digest(content: dict) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def head_row(store: GovernanceStore, chain: Chain) -> ChainHead | None:
    """The chain's newest row, or None when it is empty."""
    return ledger_rows.chain_head(store, table=chain.table, hash_column=chain.hash_column,
                                  mac_column=chain.mac_column)


def next_link(store: GovernanceStore, chain: Chain) -> tuple[int, str]:
    """(seq, prev_hash) for the row about to be appended, read inside the caller's write."""
    head = head_row(store, chain)
    return (head.seq + 1, head.hash) if head else (1, GENESIS)


def seal(key: LedgerKey, chain: Chain, content: dict) -> tuple[str, str]:
    """(hash, mac) of a new row's content."""
    row_hash = digest(content)
    return row_hash, key.mac(chain.mac_purpose, row_hash)


def check(rows: list[Row], *, chain: Chain, keys: list[tuple[int, LedgerKey]] | None) -> ChainCheck:
    """Numbering, links, hashes and (with `keys`: (first seq, key) pairs, oldest first) signatures, in order."""
    prev_hash = GENESIS
    words = chain.words
    for expected, row in enumerate(rows, start=1):
        problem = None
        if row.seq != expected:
            problem = (MISSING if row.seq > expected else OUT_OF_ORDER).format(seq=expected, found=row.seq, **words)
        elif row.prev_hash != prev_hash:
            problem = BROKEN_LINK.format(seq=row.seq, **words)
        elif row.hash != digest(row.content):
            problem = CHANGED.format(seq=row.seq, **words)
        elif keys is not None:
            key = _key_for(keys, row.seq)
            if not row.mac:
                problem = UNSIGNED.format(seq=row.seq, **words)
            elif not hmac.compare_digest(row.mac, key.mac(chain.mac_purpose, row.hash)):
                problem = FORGED.format(seq=row.seq, **words)
        if problem:
            return ChainCheck(chain=chain.name, rows=len(rows), head_hash=None, first_bad_seq=expected,
                              problem=problem)
        prev_hash = row.hash
    return ChainCheck(chain=chain.name, rows=len(rows), head_hash=prev_hash if rows else None)


def _key_for(keys: list[tuple[int, LedgerKey]], seq: int) -> LedgerKey:
    chosen = keys[0][1]
    for since, key in keys:
        if seq >= since:
            chosen = key
    return chosen


# --- the anchor --------------------------------------------------------------------------------------------------
def anchor_path(store: GovernanceStore) -> Path:
    return Path(f"{store.path}.anchor")


def _heads(store: GovernanceStore) -> dict[str, dict]:
    heads = {}
    for chain in CHAINS:
        head = head_row(store, chain)
        heads[chain.name] = {"seq": head.seq if head else 0, "hash": head.hash if head else GENESIS}
    return heads


def refresh_anchor(store: GovernanceStore, *, key: LedgerKey, signed_by: LedgerKey | None = None) -> None:
    """Record every chain's committed head in the anchor file, signed with `key` (`signed_by`: the key the
    current anchor was signed with, when a rotation changes it).

    An anchor that already shows tampering (missing beside records, forged, ahead of a chain or on another
    chain) is left as it is: moving it to the new heads would erase the evidence.
    """
    with _ANCHOR_LOCK:
        heads = _heads(store)
        path = anchor_path(store)
        if path.exists() or any(head["seq"] for head in heads.values()) or held(store, RECORDS, committed=True):
            if any(problem for problem, _ in anchor_problems(store, key=signed_by or key).values()):
                return
        durable_file.replace(path, json.dumps({"chains": heads, "mac": key.mac(ANCHOR, canonical_json(heads))}))


def read_anchor(store: GovernanceStore, *, key: LedgerKey | None) -> tuple[dict | None, str | None]:
    """(the anchored heads, a problem with the file itself). Without a key the heads are read but not proven."""
    path = anchor_path(store)
    try:
        anchor = json.loads(path.read_text(encoding="utf-8"))
        heads = anchor["chains"]
        if not all(isinstance(heads[c.name]["seq"], int) and isinstance(heads[c.name]["hash"], str)
                   for c in CHAINS):
            raise TypeError
        genuine = key is None or hmac.compare_digest(str(anchor["mac"]), key.mac(ANCHOR, canonical_json(heads)))
    except FileNotFoundError:
        return None, ANCHOR_MISSING.format(path=path)
    except (OSError, ValueError, KeyError, TypeError):  # unreadable, not JSON, fields missing or not the right type
        genuine = False
    if not genuine:
        return None, ANCHOR_FORGED.format(path=path)
    return heads, None


def anchor_problems(store: GovernanceStore, *, key: LedgerKey | None) -> dict[str, tuple[str | None, int | None]]:
    """For each chain: (problem, first bad seq) of the anchor against it; the file's own problem under 'anchor'."""
    heads, problem = read_anchor(store, key=key)
    result: dict[str, tuple[str | None, int | None]] = {"anchor": (problem, None)}
    for chain in CHAINS:
        result[chain.name] = (None, None)
        if heads is None:
            continue
        anchored, anchored_hash = heads[chain.name]["seq"], heads[chain.name]["hash"]
        newest = ledger_rows.newest_seq(store, table=chain.table)
        words = chain.words
        if anchored > newest:
            result[chain.name] = (ANCHOR_AHEAD.format(anchored=anchored, count=newest, **words), newest + 1)
            continue
        recorded = GENESIS if anchored == 0 else ledger_rows.hash_at(store, table=chain.table,
                                                                    hash_column=chain.hash_column, seq=anchored)
        if recorded != anchored_hash:
            result[chain.name] = (ANCHOR_MISMATCH.format(seq=anchored, **words), anchored)
    return result


def held(store: GovernanceStore, tables: tuple, *, committed: bool = False) -> str:
    """'models: 3, fairness audits: 2' for the tables that hold rows; '' when none does. `committed`: leave out
    the rows of a write open on this thread (the first record of a new workspace, written with its first entry)."""
    counts = [(ledger_rows.row_count(store, table=table, committed=committed), label) for table, label in tables]
    return ", ".join(f"{label}: {count:,}" for count, label in counts if count)
