"""The risk register as one of Quorum's hash chains (governance.record.hash_chain): what an event's hash covers,
appending a sealed event, and the chain's rows for `verify`.

What the events say about a risk (its fields, controls and evidence) is governance.decisions.risks'.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from governance.record import hash_chain, ledger, ledger_keys
from governance.record.hash_chain import RISK_REGISTER
from governance.record.repositories import risk_register as register_rows
from governance.record.repositories.risk_register import RiskEvent

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore, WriteTransaction


def _content(seq: int, risk_id: str, at: str, actor: str, kind: str, field: str | None, old_value: str,
             new_value: str, reason: str | None, prev_hash: str) -> dict:
    """What an event's hash covers; `at` is the naive UTC time in ISO form."""
    return {"seq": seq, "risk_id": risk_id, "at": at, "actor": actor, "kind": kind, "field": field,
            "old_value": old_value, "new_value": new_value, "reason": reason, "prev_hash": prev_hash}


def append(store: GovernanceStore, tx: WriteTransaction, *, risk_id: str, actor: str, kind: str, field: str | None,
           old_value: str, new_value: str, reason: str | None, recorded_at: datetime) -> RiskEvent:
    """Seal and append one event inside the caller's write (values already JSON text); the anchor moves to the
    register's new head once the write commits."""
    key = ledger_keys.for_writing(store)   # refuses, before anything is written, a missing or foreign key
    seq, prev_hash = hash_chain.next_link(store, RISK_REGISTER)
    content = _content(seq, risk_id, recorded_at.isoformat(), actor, kind, field, old_value, new_value, reason,
                       prev_hash)
    event_hash, event_mac = hash_chain.seal(key, RISK_REGISTER, content)
    event = RiskEvent(seq=seq, risk_id=risk_id, recorded_at=recorded_at, actor=actor, kind=kind, field=field,
                      old_value=old_value, new_value=new_value, reason=reason, prev_hash=prev_hash,
                      event_hash=event_hash, event_mac=event_mac)
    register_rows.add_event(tx, event)
    ledger.anchor_after_commit(store, tx, key=key)
    return event


def chain_rows(store: GovernanceStore) -> list[hash_chain.Row]:
    return [hash_chain.Row(seq=e.seq, prev_hash=e.prev_hash, hash=e.event_hash, mac=e.event_mac,
                           content=_content(e.seq, e.risk_id, e.recorded_at.isoformat(), e.actor, e.kind, e.field,
                                            e.old_value, e.new_value, e.reason, e.prev_hash))
            for e in register_rows.all_events(store)]
