"""Verify the whole record: every hash chain, the anchor, the key, and the tables derived from the ledger.

One answer for the CLI (`python -m governance verify`), the Sign-offs page, reports, audit packs and alerts.
Every problem found is listed, each naming the chain, entry or table it concerns; `problem` is the first.
Without the workspace's key at hand (an auditor's machine) the hashes, links and anchor contents are still
checked, but the signatures cannot be: the result says so and is not "ok". No key is ever made here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from governance.errors import GovernanceError
from governance.record import hash_chain, ledger, ledger_keys, record_state, risk_chain, server_file
from governance.record.hash_chain import CHAINS, LEDGER, LEDGER_BOUND, RECORDS

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore

KEY_NOT_HERE = ("{why}: the hashes, links and anchor of every chain were checked, but not their signatures, so a "
                "chain rewritten end to end could not be told apart. Verify where the workspace's key is "
                "($QUORUM_LEDGER_KEY or the key file), or give it to this command the same way")
KEY_NOT_THIS = ("the ledger key at hand ({source}, fingerprint {found}) is not this workspace's key (fingerprint "
                "{expected})")
PREVIOUS_KEY_MISSING = ("the ledger key was rotated at entry {since}, and the key before it (fingerprint "
                        "{fingerprint}) is not among the key file's previous keys")
ROTATION_UNPROVEN = ("ledger entry {seq} starts a new ledger key, but it is not the rotation entry signed by the "
                     "key before it: the key was swapped behind Quorum's back")
FINGERPRINT_MISSING = ("the workspace records no ledger key fingerprint although its chains hold {held}: the "
                       "fingerprint (table ledger_key) was deleted. Restore the database and its anchor file "
                       "together from a backup")
FINGERPRINT_FOREIGN = ("the workspace's ledger key fingerprint was replaced: the key at hand signed its entries "
                       "but its fingerprint {found} is not the one recorded ({expected})")
LEDGER_EMPTIED = ("the ledger is empty, yet the workspace holds records that are only ever written together with "
                  "a ledger entry ({records}): the ledger was emptied. Restore the database and its anchor file "
                  "{path} together from a backup")
ANCHOR_MISSING_EMPTY = ("the chains are empty and the anchor file {path} is missing, yet the workspace holds "
                        "records ({records}): the chains may have been emptied and the anchor deleted, or the "
                        "workspace was copied without the anchor file. Restore the database and its anchor file "
                        "together from a backup")


def _rows(store: GovernanceStore) -> dict[str, list[hash_chain.Row]]:
    return {LEDGER.name: ledger.chain_rows(store), hash_chain.RISK_REGISTER.name: risk_chain.chain_rows(store)}


def _keys(store: GovernanceStore, rows: dict) -> tuple[dict | None, str | None, list[str]]:
    """({chain: [(first seq, key), …]} to check signatures with, or None; why they cannot be checked; problems)."""
    try:
        key = ledger_keys.load()
    except GovernanceError as exc:   # an empty key file: said as it is
        return None, KEY_NOT_HERE.format(why=str(exc)), []
    if key is None:
        why = (f"no ledger key on this machine (${ledger_keys.KEY_ENV} is not set and "
               f"{ledger_keys.key_file_path()} does not exist)")
        return None, KEY_NOT_HERE.format(why=why), []
    recorded = ledger_keys.recorded(store)
    if not recorded:
        held = ", ".join(f"{len(chain_rows)} {name} rows" for name, chain_rows in rows.items() if chain_rows)
        return _each_chain([(key, 0, 0)]), None, [FINGERPRINT_MISSING.format(held=held)] if held else []
    expected = recorded[-1].fingerprint
    if key.fingerprint != expected:
        if _signed_with(rows, key):   # the key is right: the fingerprint row was what changed
            return _each_chain([(key, 0, 0)]), None, [FINGERPRINT_FOREIGN.format(found=key.fingerprint,
                                                                                expected=expected)]
        why = KEY_NOT_THIS.format(source=key.source, found=key.fingerprint, expected=expected)
        return None, KEY_NOT_HERE.format(why=why), []
    at_hand = {k.fingerprint: k for k in [key, *ledger_keys.previous_keys()]}
    generations = []
    for generation in recorded:
        if generation.fingerprint not in at_hand:
            why = PREVIOUS_KEY_MISSING.format(since=generation.since_seq, fingerprint=generation.fingerprint)
            return None, KEY_NOT_HERE.format(why=why), []
        generations.append((at_hand[generation.fingerprint], generation.since_seq, generation.since_event))
    return _each_chain(generations), None, _rotation_problems(rows, generations)


def _each_chain(generations: list[tuple]) -> dict:
    return {LEDGER.name: [(seq, key) for key, seq, _ in generations],
            hash_chain.RISK_REGISTER.name: [(event, key) for key, _, event in generations]}


def _rotation_problems(rows: dict, generations: list[tuple]) -> list[str]:
    """Each rotation entry must carry the old key's MAC of the new fingerprint: the old key agreed to it."""
    problems = []
    for (old, _, _), (new, since_seq, _) in zip(generations, generations[1:]):
        entry = next((r for r in rows[LEDGER.name] if r.seq == since_seq), None)
        payload = json.loads(entry.content["payload"]) if entry else {}
        if payload.get("new_fingerprint") != new.fingerprint or payload.get("old_key_mac") != old.mac(
                ledger_keys.ROTATION, new.fingerprint):
            problems.append(ROTATION_UNPROVEN.format(seq=since_seq))
    return problems


def _signed_with(rows: dict, key: ledger_keys.LedgerKey) -> bool:
    chain = next((c for c in CHAINS if rows[c.name]), None)
    if chain is None:
        return False
    head = rows[chain.name][-1]
    return head.mac == key.mac(chain.mac_purpose, head.hash)


def _empty_problems(store: GovernanceStore, rows: dict, *, anchor_missing: bool) -> list[str]:
    """Empty chains are intact only in a workspace that holds nothing yet, or holds records that need no ledger
    entry (models, audits) and still has the anchor of the empty chains."""
    path = hash_chain.anchor_path(store)
    problems = []
    bound = hash_chain.held(store, LEDGER_BOUND)
    if not rows[LEDGER.name] and bound:
        problems.append(LEDGER_EMPTIED.format(records=bound, path=path))
    if anchor_missing and not any(rows.values()):
        held = hash_chain.held(store, RECORDS)
        if held and not bound:
            problems.append(ANCHOR_MISSING_EMPTY.format(path=path, records=held))
    return problems


def verify(store: GovernanceStore) -> dict:
    """Every chain in order, then the anchor, the key's fingerprint and the derived tables; every problem found."""
    rows = _rows(store)
    keys, key_problem, problems = _keys(store, rows)
    checks = {chain.name: hash_chain.check(rows[chain.name], chain=chain, keys=keys and keys[chain.name])
              for chain in CHAINS}
    problems += [check.problem for check in checks.values() if check.problem]
    key = keys[LEDGER.name][-1][1] if keys else None
    anchor = hash_chain.anchor_problems(store, key=key)
    anchor_file_problem = anchor["anchor"][0]
    anchor_missing = not hash_chain.anchor_path(store).exists()
    problems += _empty_problems(store, rows, anchor_missing=anchor_missing)
    if anchor_file_problem and (any(rows.values()) or not anchor_missing):   # no anchor yet: see _empty_problems
        problems.append(anchor_file_problem)
    problems += [anchor[chain.name][0] for chain in CHAINS if anchor[chain.name][0]]
    problems += record_state.differences(store, key)   # the tables the ledger decides (stage, committee, …)
    if keys is not None and (forged := server_file.problem(workspace=store.path)):
        problems.append(forged)
    heads, _ = hash_chain.read_anchor(store, key=None)
    chains = {name: {"rows": check.rows, "head_hash": check.head_hash, "problem": check.problem or anchor[name][0],
                     "first_bad_seq": check.first_bad_seq or anchor[name][1],
                     "anchor_seq": heads[name]["seq"] if heads else None}
              for name, check in checks.items()}
    ledger_check = chains[LEDGER.name]
    return {"ok": not problems and key_problem is None, "signatures_checked": keys is not None,
            "key_problem": key_problem, "anchor_problem": anchor_file_problem if any(rows.values()) else None,
            "problem": problems[0] if problems else key_problem, "problems": problems,
            "entries": ledger_check["rows"], "first_bad_seq": ledger_check["first_bad_seq"],
            "head_hash": ledger_check["head_hash"], "anchor_seq": ledger_check["anchor_seq"], "chains": chains}



def verify_register(store: GovernanceStore) -> dict:
    """The risk register's part of `verify` (`python -m governance risks verify`): {ok, events, broken_at,
    problem, head}."""
    result = verify(store)
    register = result["chains"][hash_chain.RISK_REGISTER.name]
    problem = register["problem"] or (register["rows"] and result["anchor_problem"]) or result["key_problem"]
    return {"ok": not problem, "events": register["rows"], "broken_at": register["first_bad_seq"],
            "problem": problem or None, "head": register["head_hash"]}
