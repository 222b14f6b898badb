"""Moving a model version to its next stage: on a valid committee approval for that gate that no earlier move
used, and only when the release gate lets it through (governance/decisions/release_gate.py); every obstacle is
listed. The table change and its `stage_change` ledger entry are one transaction."""

from __future__ import annotations

from datetime import date

from governance.access import identity
from governance.access.identity import User
from governance.decisions.committee import current_account
from governance.decisions.release_gate import gate_findings
from governance.decisions.review_state import approval_for_gate
from governance.decisions.stages import check_gate, stage_of
from governance.decisions.voting import MAX_REASON
from governance.errors import InvalidInputError
from governance.record import clock, ledger
from governance.record.repositories import reviews as review_record
from governance.record.store import GovernanceStore
from governance.validation import checked_text as _text

ADVANCE_REFUSED = "{model} {version} cannot move to {stage!r}: {reasons}"
GATE_REFUSED = ("{model} {version} cannot move to {stage!r}: its gate refuses it ({reasons}). Complete the validation "
                "checklist (`python -m governance checklist show` and `checklist attest`, or the Stage gates tab), "
                "accept, mitigate or close each blocking risk in the risk register, then advance again; "
                "`python -m governance gate --model {model} --version {version} --stage {stage}` gives the same "
                "answer")


def advance_stage(store: GovernanceStore, *, model: str, version: str, to_stage: str, actor: User, reason: str,
                  today: date | None = None) -> dict:
    """Move a version to its next stage, on a valid committee approval for that gate; every obstacle is listed."""
    identity.require(actor, "change stage")
    actor = current_account(store, actor)
    identity.require(actor, "change stage")
    reason = _text(reason, "reason", limit=MAX_REASON)
    today = today or clock.today()
    stage = stage_of(store, model=model, version=version)
    check_gate(model=model, version=version, stage=stage, gate=to_stage, what="entered")
    state, reasons = approval_for_gate(store, model=model, version=version, gate=to_stage, today=today)
    if state is not None and state["decision"]["outcome"] != "rejected" and any(
            e["payload"].get("review_id") == state["review_id"] for e in ledger.entries(store, kind="stage_change")):
        reasons = [f"{state['review_id']} was already used to move {model} {version} to {to_stage!r}: "
                   "request a new review"]
    if reasons:
        raise InvalidInputError(ADVANCE_REFUSED.format(model=model, version=version, stage=to_stage,
                                                       reasons="; ".join(reasons)))
    # The same answer as the gate pipelines ask: a valid approval is not enough when the validation checklist is
    # open or a blocking risk is.
    findings = gate_findings(store, model=model, version=version, stage=to_stage, today=today)
    if not findings["ok"]:
        raise InvalidInputError(GATE_REFUSED.format(model=model, version=version, stage=to_stage,
                                                    reasons="; ".join(findings["reasons"])))
    review_id = state["review_id"]
    with store.write() as tx:
        if stage_of(store, model=model, version=version) != stage:
            raise InvalidInputError(ADVANCE_REFUSED.format(model=model, version=version, stage=to_stage,
                                                           reasons="its stage changed meanwhile; try again"))
        review_record.move_stage(tx, model=model, version=version, stage=to_stage)
        entry = ledger.append(store, actor=actor.recorded_as, kind="stage_change", subject=f"{model} {version}",
                              payload={"model": model, "version": version, "from_stage": stage, "to_stage": to_stage,
                                       "review_id": review_id, "evidence_hash": state["evidence_hash"],
                                       "reason": reason, "changed_by": actor.signature_name,
                                       "changed_at": clock.now_iso_seconds(), "gate": {"ok": True, "reasons": []}},
                              idempotency_key=f"stage_change:{model}:{version}:{to_stage}:{review_id}")
    return entry["payload"]
