"""Committee reviews: a model version is reviewed before it moves to its next stage; the state of each review,
folded from its ledger entries; and whether a decision still stands as an approval.

Event-sourced from the ledger (governance/record/ledger.py, read through governance/record/repositories/reviews.py):
the ledger is the record and nothing here keeps a second copy of a vote. Entry kinds, each with the review id (or
"committee", or "MODEL VERSION") as subject:

    review_request    the request, with the evidence gathered and frozen at that moment and its SHA-256
                      (governance/decisions/review_evidence.py)
    signature         one committee member's vote, bound to the request's evidence hash (governance/decisions/voting.py)
    decision          appended in the same transaction as the signature that settles the outcome
    condition_update  a condition of an approval met or waived
    stage_change      the version moved to the gate its approval was for (governance/decisions/stage_changes.py)
    committee_change  a member added or removed, a quorum setting changed (governance/decisions/committee.py)

Every write runs in one `store.write()` transaction with the ledger entries appended in it; the anchor follows
once it commits.

Validity of a decision (`review()["validity"]`)
    pending   no decision yet
    rejected  the committee rejected it
    expired   today is after valid_until                                      -> re-review required
    stale     evidence newer than the request contradicts it                  -> re-review required
              * a fairness audit of the version with verdict "fail" that is not in the frozen evidence;
              * a service-level breach of the version that starts after as_of;
              * drift status "act" (weekly PSI) of the version in a week starting after as_of, on a feature
                that was not already at "act" in the frozen evidence (the committee saw and accepted that one);
    valid     otherwise; an open condition past its due date sets flagged = True (listed in the reasons).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pandas as pd

from governance.access import identity
from governance.access.identity import User
from governance.decisions.committee import current_account, members, on_committee, rules
from governance.decisions.review_evidence import evidence_hash, fairness_audits, gather_evidence, version_breaches
from governance.decisions.stages import NOT_NEXT_STAGE, check_gate, next_stage, stage_of
from governance.decisions.voting import (MAX_REASON, OUTCOMES, as_date, check_review_id, review_events, tally,
                                         votes_by_person)
from governance.errors import GovernanceError, InvalidInputError
from governance.evidence.version_drift import drift_periods
from governance.monitoring import telemetry_sources
from governance.monitoring.kpis import data_window
from governance.monitoring.telemetry_sql import VERSION_NEWEST_SQL
from governance.record import clock, ledger
from governance.record.repositories import reviews as review_record
from governance.record.store import GovernanceStore
from governance.validation import checked_text as _text
from governance.vocabulary import CONDITION_STATUSES

_CONDITION_ID = re.compile(r"^(RV-\d{4,})-C(\d+)$")

EMPTY_COMMITTEE = ("the review committee has no members: an admin or the chair adds them first "
                   "(`python -m governance signoff member add USER --by ADMIN`)")
OPEN_REVIEW = "{review_id} already reviews {model} {version} for {gate!r} and is still open: vote on it instead"
UNKNOWN_CONDITION = "there is no condition {condition_id!r}; `python -m governance signoff status RV-…` lists them"
BAD_CONDITION_STATUS = "a condition becomes one of {known}, got {value!r}"
OWN_CONDITION = ("{who} {why} the condition {condition_id}, so cannot be the one to mark it {status}: someone else who "
                 "may update conditions (a risk owner, the committee chair, an admin or another engineering leader) "
                 "checks the evidence and records it, with a reason the committee sees beside the condition")
OWN_CONDITION_RULE = ("A condition's owner and whoever requested the review do not close it themselves: someone else "
                      "who may update conditions checks the evidence and records it, with the reason shown here.")
CONDITION_CLOSED = "condition {condition_id} already is {status} (since {at}): nothing to update"
NO_DECISION = "no committee decision for the gate {gate!r} yet (request a review and have the committee vote)"
RE_REVIEW = "re-review required"


# --- requesting ------------------------------------------------------------------------------------------------
def _requests(store: GovernanceStore, *, before: datetime | None = None) -> list[dict]:
    return ledger.entries(store, kind="review_request", before=before)


def _newest_telemetry_day(store: GovernanceStore, *, model: str, version: str) -> date | None:
    last = telemetry_sources.query_rows(store, VERSION_NEWEST_SQL, {"model": model, "version": version})[0][0]
    return None if pd.isna(last) else pd.Timestamp(last).date()


def _open_review(store: GovernanceStore, *, model: str, version: str, gate: str) -> str | None:
    decided = {e["subject"] for e in ledger.entries(store, kind="decision")}
    for entry in _requests(store):
        p = entry["payload"]
        if (p["model"], p["version"], p["gate"]) == (model, version, gate) and entry["subject"] not in decided:
            return entry["subject"]
    return None


def request_review(store: GovernanceStore, *, model: str, version: str, gate: str, actor: User,
                   as_of: date | str | None = None, idempotency_key: str | None = None) -> dict:
    """Ask the committee to review a version for its next stage; the evidence is gathered and frozen now."""
    identity.require(actor, "request review")
    actor = current_account(store, actor)
    identity.require(actor, "request review")
    if idempotency_key:
        done = ledger.entries(store, kind="review_request")
        for entry in done:
            if entry["idempotency_key"] == idempotency_key:
                return review(store, review_id=entry["subject"])
    stage = stage_of(store, model=model, version=version)
    check_gate(model=model, version=version, stage=stage, gate=gate, what="requested")
    if not members(store):
        raise InvalidInputError(EMPTY_COMMITTEE)
    if as_of is None:
        as_of = _newest_telemetry_day(store, model=model, version=version) or clock.today()
    as_of = as_date(as_of, "as_of")
    evidence = gather_evidence(store, model=model, version=version, as_of=as_of)
    digest = evidence_hash(evidence)
    with store.write() as tx:
        if stage_of(store, model=model, version=version) != stage:
            raise InvalidInputError(NOT_NEXT_STAGE.format(model=model, version=version, stage=stage,
                                                          next=next_stage(stage), gate=gate, what="requested"))
        already = _open_review(store, model=model, version=version, gate=gate)
        if already:
            raise InvalidInputError(OPEN_REVIEW.format(review_id=already, model=model, version=version, gate=gate))
        number = review_record.requests_recorded(store) + 1
        review_id = f"RV-{number:04d}"
        ledger.append(store, actor=actor.recorded_as, kind="review_request", subject=review_id,
                      payload={"review_id": review_id, "model": model, "version": version, "from_stage": stage,
                               "gate": gate, "as_of": str(as_of), "evidence": evidence, "evidence_hash": digest,
                               "requested_by": actor.signature_name, "requested_by_user": actor.user_name},
                      idempotency_key=idempotency_key or f"review_request:{review_id}")
    return review(store, review_id=review_id)


# --- conditions ------------------------------------------------------------------------------------------------
def update_condition(store: GovernanceStore, *, condition_id: str, status: str, reason: str, actor: User) -> dict:
    """Mark a condition of an approval met or waived, with a reason."""
    identity.require(actor, "update condition")
    actor = current_account(store, actor)
    identity.require(actor, "update condition")
    match = _CONDITION_ID.match((condition_id or "").strip()) if isinstance(condition_id, str) else None
    if match is None:
        raise InvalidInputError(UNKNOWN_CONDITION.format(condition_id=condition_id))
    if status not in CONDITION_STATUSES:
        raise InvalidInputError(BAD_CONDITION_STATUS.format(known=", ".join(CONDITION_STATUSES), value=status))
    reason = _text(reason, "reason", limit=MAX_REASON)
    condition_id, review_id = match.group(0), match.group(1)
    with store.write() as tx:
        try:
            events = review_events(store, review_id)
        except InvalidInputError:
            raise InvalidInputError(UNKNOWN_CONDITION.format(condition_id=condition_id)) from None
        decision = events.decision["payload"] if events.decision else {"conditions": []}
        condition = next((c for c in decision["conditions"] if c["condition_id"] == condition_id), None)
        if condition is None:
            raise InvalidInputError(UNKNOWN_CONDITION.format(condition_id=condition_id))
        # Whoever gains from a condition being closed (its owner, who reports on it, and whoever asked for the
        # review, who moves the version on it) does not close it alone: a second person checks and gives the reason
        # the committee reads beside the condition.
        request = events.request["payload"]
        if actor.user_name in (condition["owner"], request.get("requested_by_user")):
            why = "owns" if actor.user_name == condition["owner"] else f"requested {review_id}, which set"
            raise InvalidInputError(OWN_CONDITION.format(who=actor.display_name, why=why, condition_id=condition_id,
                                                         status=status))
        for update in events.condition_updates:
            if update["payload"]["condition_id"] == condition_id:
                raise InvalidInputError(CONDITION_CLOSED.format(condition_id=condition_id,
                                                                status=update["payload"]["status"],
                                                                at=update["payload"]["updated_at"]))
        ledger.append(store, actor=actor.recorded_as, kind="condition_update", subject=review_id,
                      payload={"review_id": review_id, "condition_id": condition_id, "status": status,
                               "reason": reason, "updated_by": actor.signature_name,
                               "updated_at": clock.now_iso_seconds()},
                      idempotency_key=f"condition_update:{condition_id}")
    return review(store, review_id=review_id)


# --- the folded state ------------------------------------------------------------------------------------------
class _Newer:
    """Evidence after a decision's as_of, computed once per version for however many reviews ask. `before` (naive
    UTC): only the evidence there was by then (audits run before it, telemetry up to its day)."""

    def __init__(self, store: GovernanceStore, *, before: datetime | None = None):
        self.store = store
        self.before = before
        self._cache: dict = {}

    def failing_audits(self, model: str, version: str) -> list[dict]:
        key = ("audits", model, version)
        if key not in self._cache:
            cut = None if self.before is None else self.before.isoformat(timespec="seconds") + "Z"
            self._cache[key] = [a for a in fairness_audits(self.store, model=model, version=version)
                                if a["verdict"] == "fail" and (cut is None or (a["ran_at"] or cut) < cut)]
        return self._cache[key]

    def breaches(self, model: str, version: str) -> list[dict]:
        key = ("breaches", model, version)
        if key not in self._cache:
            span = data_window(self.store, model=model)
            if span is not None and self.before is not None:   # telemetry after the day was not there yet
                end = min(span.end, pd.Timestamp(self.before))   # a window is half-open: [start, end)
                span = None if end <= span.start else type(span)(span.start, end)
            self._cache[key] = ([] if span is None else
                                version_breaches(self.store, model=model, version=version, window=span))
        return self._cache[key]

    def drift_act(self, model: str, version: str) -> pd.DataFrame:
        key = ("drift", model, version)
        if key not in self._cache:
            try:
                until = None if self.before is None else (self.before - timedelta(microseconds=1)).date()
                periods = drift_periods(self.store, model=model, version=version, until=until)
                self._cache[key] = periods[periods["status"] == "act"]
            except GovernanceError:
                self._cache[key] = pd.DataFrame(columns=["period", "feature", "status", "psi"])
        return self._cache[key]


def _stale_reasons(newer: _Newer, request: dict) -> list[str]:
    model, version, as_of = request["model"], request["version"], request["as_of"]
    evidence = request["evidence"]
    reasons = []
    seen = {a["audit_id"] for a in evidence["fairness_audits"]}
    for a in newer.failing_audits(model, version):
        if a["audit_id"] not in seen:
            reasons.append(f"fairness audit {a['audit_id']} of {model} {version} fails (ran {a['ran_at']}), "
                           "after the evidence was frozen")
    for b in newer.breaches(model, version):
        if b["start"] > as_of:
            reasons.append(f"service level {b['kpi']} of {model} {version} breached from {b['start']} "
                           f"(worst {b['worst']:.4g} against {b['target']:g}), after as_of {as_of}")
    known_act = {f["feature"] for f in evidence["drift"].get("features", []) if f["status"] == "act"}
    acted = newer.drift_act(model, version)
    acted = acted[(pd.to_datetime(acted["period"]) > pd.Timestamp(as_of)) & ~acted["feature"].isin(known_act)]
    for feature, group in acted.groupby("feature", sort=True):
        first = str(pd.Timestamp(group["period"].min()).date())
        reasons.append(f"drift of {feature!r} in {model} {version} at 'act' from the week of {first}, "
                       f"after as_of {as_of}")
    return reasons


def _fold(store: GovernanceStore, review_id: str, *, today: date, newer: _Newer) -> dict:
    events = review_events(store, review_id, before=newer.before)
    request_entry = events.request
    request = request_entry["payload"]
    votes = votes_by_person(events.signatures)
    decision = events.decision["payload"] if events.decision else None
    updates = {u["payload"]["condition_id"]: u["payload"] for u in events.condition_updates}
    conditions = []
    for c in (decision or {}).get("conditions", []):
        update = updates.get(c["condition_id"])
        status = update["status"] if update else "open"
        conditions.append({**c, "status": status, "overdue": status == "open" and c["due"] < str(today),
                           "updated_by": update["updated_by"] if update else None,
                           "updated_at": update["updated_at"] if update else None,
                           "update_reason": update["reason"] if update else None})
    result = (tally(votes=votes, committee=members(store, before=newer.before), rule=rules(store, before=newer.before))
              if decision is None else decision["tally"])
    validity = _validity(request, decision, conditions, today=today, newer=newer)
    return {"review_id": review_id, "model": request["model"], "version": request["version"],
            "from_stage": request["from_stage"], "gate": request["gate"], "as_of": request["as_of"],
            "requested_by": request["requested_by"], "requested_at": request_entry["recorded_at"],
            "request": {k: v for k, v in request.items() if k != "evidence"},
            "evidence": request["evidence"], "evidence_hash": request["evidence_hash"],
            "status": "decided" if decision else "open",
            "votes": [{**v, "signature": f"{v['printed_name']} ({v['role']}), {v['meaning']}, {v['signed_at']}",
                       "bound_to_evidence": v["evidence_hash"] == request["evidence_hash"]}
                      for v in sorted(votes.values(), key=lambda v: v["seq"])],
            "tally": result, "decision": decision, "conditions": conditions, "validity": validity}


def _validity(request: dict, decision: dict | None, conditions: list[dict], *, today: date,
              newer: _Newer) -> dict:
    if decision is None:
        return {"state": "pending", "reasons": ["awaiting the committee's votes"], "flagged": False,
                "re_review_required": False}
    if decision["outcome"] == "rejected":
        return {"state": "rejected", "reasons": [f"rejected by the committee on {decision['decided_at'][:10]}"],
                "flagged": False, "re_review_required": False}
    reasons = []
    expired = str(today) > decision["valid_until"]
    if expired:
        reasons.append(f"the decision expired on {decision['valid_until']}")
    stale = _stale_reasons(newer, request)
    reasons += stale
    overdue = [c for c in conditions if c["overdue"]]
    reasons += [f"condition {c['condition_id']} ({c['text']}) is overdue since {c['due']} (owner {c['owner']})"
                for c in overdue]
    state = "expired" if expired else "stale" if stale else "valid"
    out = {"state": state, "reasons": reasons, "flagged": bool(overdue), "re_review_required": state != "valid"}
    if state != "valid":
        out["summary"] = f"{RE_REVIEW}: " + "; ".join(r for r in reasons)
    return out


def review(store: GovernanceStore, *, review_id: str, today: date | None = None,
           before: datetime | None = None) -> dict:
    """One review folded from its ledger entries: request, frozen evidence, votes, decision, conditions,
    validity. `before` (naive UTC) with `today` its day: the review as it stood then (governance.record.as_of)."""
    return _fold(store, check_review_id(review_id), today=today or clock.today(), newer=_Newer(store, before=before))


def _summary(state: dict) -> dict:
    return {k: state[k] for k in ("review_id", "model", "version", "from_stage", "gate", "as_of", "requested_by",
                                  "requested_at", "status", "evidence_hash")} | {
        "votes": len(state["votes"]), "outcome": (state["decision"] or {}).get("outcome"),
        "decided_at": (state["decision"] or {}).get("decided_at"),
        "valid_until": (state["decision"] or {}).get("valid_until"),
        "validity": state["validity"]["state"], "flagged": state["validity"]["flagged"],
        "open_conditions": sum(1 for c in state["conditions"] if c["status"] == "open")}


def list_reviews(store: GovernanceStore, *, model: str | None = None, version: str | None = None,
                 today: date | None = None, before: datetime | None = None) -> list[dict]:
    """Summaries of every review (of a model, or one version), newest first. `before` (naive UTC) with `today` its
    day: the reviews as they stood then, from the entries recorded before it (governance.record.as_of)."""
    newer, today = _Newer(store, before=before), today or clock.today()
    found = []
    for entry in reversed(_requests(store, before=before)):
        p = entry["payload"]
        if (model is None or p["model"] == model) and (version is None or p["version"] == version):
            found.append(_summary(_fold(store, entry["subject"], today=today, newer=newer)))
    return found


def standing_approval(reviews: list[dict], *, model: str, version: str, stage: str) -> dict | None:
    """Of `list_reviews`' summaries (newest first), the review a version's current stage stands on: the newest
    decided review for the gate of that stage, when it approved (as `approval_for_gate` takes the newest decision);
    None when there is none, or the newest decision rejected."""
    decided = next((r for r in reviews if (r["model"], r["version"], r["gate"]) == (model, version, stage)
                    and r["outcome"]), None)
    return decided if decided is not None and decided["outcome"] in OUTCOMES[:2] else None


def queue(store: GovernanceStore, *, user: User) -> list[dict]:
    """Open reviews awaiting this member's vote, oldest first (empty for anyone not on the committee)."""
    if not on_committee(store, user_name=user.user_name):
        return []
    decided = {e["subject"] for e in ledger.entries(store, kind="decision")}
    voted = {e["subject"] for e in ledger.entries(store, kind="signature")
             if e["payload"]["user_name"] == user.user_name}
    return [{"review_id": e["subject"], "model": e["payload"]["model"], "version": e["payload"]["version"],
             "gate": e["payload"]["gate"], "requested_by": e["payload"]["requested_by"],
             "requested_at": e["recorded_at"], "as_of": e["payload"]["as_of"]}
            for e in _requests(store) if e["subject"] not in decided | voted]


def approval_for_gate(store: GovernanceStore, *, model: str, version: str, gate: str,
                      today: date | None = None) -> tuple[dict | None, list[str]]:
    """The newest decision on this version for `gate` (folded), and every reason it does not stand as a valid
    approval now (none when it does): no decision, a rejection, a stale or expired decision, overdue conditions."""
    today = today or clock.today()
    decided = [e["subject"] for e in ledger.entries(store, kind="decision")
               if (e["payload"].get("model"), e["payload"].get("version"), e["payload"].get("gate"))
               == (model, version, gate)]
    state = _fold(store, decided[-1], today=today, newer=_Newer(store)) if decided else None
    reasons = []
    if state is None:
        reasons.append(NO_DECISION.format(gate=gate))
    elif state["decision"]["outcome"] == "rejected":
        reasons.append(f"the newest decision for this gate, {state['review_id']}, rejected it "
                       f"(on {state['decision']['decided_at'][:10]})")
    elif state["validity"]["reasons"]:
        reasons.append(f"{state['review_id']} needs attention")
        reasons += state["validity"]["reasons"]
        if state["validity"]["state"] != "valid":
            reasons.append(RE_REVIEW)
    return state, reasons
