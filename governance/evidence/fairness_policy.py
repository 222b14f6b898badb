"""Each model's fairness policy, and the standing fairness result of a version: criteria that cannot be shopped.

The policy is the bar every fairness audit of the model must clear: its criteria (the same `Criterion` audits
lock, e.g. demographic_parity_ratio>=0.8), the confidence of the intervals, and the largest minimum group size an
audit may use (a larger minimum leaves small groups, often the worst off, out of every disparity). It is set
before the audits, by the committee chair or an admin (permission "manage committee": the bar is the committee's,
not the auditor's), with a reason, as a ledger entry; the newest entry is in force, the earlier ones are its
history. A model without an entry has the defaults audits use (vocabulary.FAIRNESS_DEFAULT_CRITERIA, 95%, 30).

An audit is judged against the policy that was in force when it was locked, so a bar raised later does not
rewrite history, and a bar lowered later does not rescue an audit locked under a higher one:
- a pass (or an inconclusive verdict) counts only if the audit is at least as strict as that policy
  (`shortfalls`: every policy criterion present with a threshold at least as demanding, in the direction of the
  metric; the same or a higher confidence; a minimum group size no larger);
- a failure always counts: failing a weaker bar is evidence enough.
A failed audit then stays the standing result of the version until a later counting audit passes under at least
the failed audit's criteria, on every feature set it judged, with at least as many rows in all and in each of its
groups (`overturns`); or until a fairness risk of the version is accepted (the failure still stands, accepted).
The checklist and the fairness alert both read it through `release_gate.standing_fairness_result`, which hands
`standing_result` the version's risks: the evidence does not read the risk register, a layer above it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime

from governance.access import identity
from governance.access.identity import User
from governance.errors import InvalidInputError
from governance.evidence import fairness_metrics as fm
from governance.evidence.fairness import (DEFAULT_CRITERIA, DEFAULT_MIN_GROUP_SIZE, AuditDefinition, Criterion,
                                          get_audit, list_audits, parse_criteria)
from governance.monitoring.inventory import require_model
from governance.record import clock, ledger
from governance.record.store import GovernanceStore
from governance.validation import checked_text

KIND = "fairness_policy"
PERMISSION = "manage committee"      # committee chair, admin
RAN = ("pass", "fail", "inconclusive")
WEAKER_MARK = "weaker than the model's fairness policy: does not count"
WEAKER_FAILED_MARK = "weaker than the model's fairness policy: a pass would not count, but its failure stands"

NO_CRITERIA = "a fairness policy needs at least one criterion, e.g. demographic_parity_ratio>=0.8"
NO_REASON = "say why the policy is set or changed (--reason): the reason is recorded with it in the ledger"
BAD_CONFIDENCE = "confidence must be a share between 0.5 and 1 (e.g. 0.95), got {value!r}"
BAD_MIN_GROUP = "the minimum group size must be a whole number from 1 to 1,000,000, got {value!r}"


@dataclass(frozen=True)
class FairnessPolicy:
    """The bar a model's fairness audits must clear. `set_by` None: the defaults, never recorded."""
    model: str
    criteria: tuple[Criterion, ...]
    confidence: float = fm.CONFIDENCE
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    reason: str | None = None
    set_by: str | None = None
    set_at: str | None = None
    ledger_seq: int | None = None

    @property
    def text(self) -> str:
        return ",".join(c.text for c in self.criteria)

    @property
    def is_default(self) -> bool:
        return self.set_by is None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["criteria"] = [c.text for c in self.criteria]
        return out


def default_policy(model: str) -> FairnessPolicy:
    return FairnessPolicy(model=model, criteria=parse_criteria(DEFAULT_CRITERIA),
                          reason="the defaults fairness audits use (no policy recorded for this model)")


def _from_entry(entry: dict) -> FairnessPolicy:
    p = entry["payload"]
    return FairnessPolicy(model=p["model"], criteria=parse_criteria(p["criteria"]), confidence=p["confidence"],
                          min_group_size=p["min_group_size"], reason=p["reason"], set_by=p["set_by"],
                          set_at=p["set_at"], ledger_seq=entry["seq"])


def set_policy(store: GovernanceStore, *, model: str, criteria, reason: str, actor: User,
               confidence: float = fm.CONFIDENCE, min_group_size: int = DEFAULT_MIN_GROUP_SIZE) -> FairnessPolicy:
    """Record the model's fairness policy in the ledger; it is in force for every audit locked from now on.
    `criteria` as audits take them ("name>=x,name<=y" or a list). Inside a caller's open write (the demo's) the
    entry lands with the caller's rows (the anchor follows when the caller's write commits)."""
    identity.require(actor, PERMISSION)
    require_model(store, model=model)
    parsed = parse_criteria(criteria)
    if not parsed:
        raise InvalidInputError(NO_CRITERIA)
    if not (reason or "").strip():
        raise InvalidInputError(NO_REASON)
    reason = checked_text(reason, field="reason", limit=2000)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.5 <= confidence < 1:
        raise InvalidInputError(BAD_CONFIDENCE.format(value=confidence))
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) or not 1 <= min_group_size <= 1_000_000:
        raise InvalidInputError(BAD_MIN_GROUP.format(value=min_group_size))
    entry = ledger.append(store, actor=actor.recorded_as, kind=KIND, subject=model,
                          payload={"model": model, "criteria": [c.text for c in parsed],
                                   "confidence": float(confidence), "min_group_size": int(min_group_size),
                                   "reason": reason, "set_by": actor.signature_name, "set_at": clock.now_iso_micro()},
                          idempotency_key=f"{KIND}:{model}:{uuid.uuid4().hex}")
    return _from_entry(entry)


def policy_history(store: GovernanceStore, *, model: str) -> list[FairnessPolicy]:
    """Every recorded policy of the model, oldest first (read from the ledger, the only place it is kept)."""
    return [_from_entry(e) for e in ledger.entries(store, kind=KIND, subject=model)]


def _recorded_second(policy: FairnessPolicy) -> datetime:
    return datetime.fromisoformat(policy.set_at.replace("Z", "")).replace(microsecond=0, tzinfo=None)


def policy_in_force(store: GovernanceStore, *, model: str, at: datetime | None = None,
                    history: list[FairnessPolicy] | None = None) -> FairnessPolicy:
    """The policy in force at `at` (naive UTC, as audits store their lock time), or now."""
    return policies_in_force(store, model=model, at=at, history=history)[-1]


def policies_in_force(store: GovernanceStore, *, model: str, at: datetime | None = None,
                      history: list[FairnessPolicy] | None = None) -> list[FairnessPolicy]:
    """Every policy that may have been in force at `at`, oldest first; the last is the one shown.

    Audits record their lock time to the second, the ledger to the microsecond: a policy set in the very second an
    audit was locked may have come before it or after. Both the policy before that second and every policy set in
    it are returned, and an audit must meet them all, so the doubt never favours the audit."""
    history = policy_history(store, model=model) if history is None else history
    if at is None:
        return [history[-1] if history else default_policy(model)]
    at = at.replace(microsecond=0, tzinfo=None)
    before = [p for p in history if _recorded_second(p) < at]
    same = [p for p in history if _recorded_second(p) == at]
    return [before[-1] if before else default_policy(model)] + same


# --- strictness --------------------------------------------------------------------------------------------------
def _demanding(audit: Criterion, bar: Criterion) -> bool:
    """The audit's threshold is at least as demanding as the bar's: higher for a ratio (>=), lower for a
    difference (<=)."""
    return audit.threshold >= bar.threshold if bar.operator == ">=" else audit.threshold <= bar.threshold


def shortfalls(*, criteria, confidence: float, min_group_size: int, bar_criteria, bar_confidence: float,
               bar_min_group_size: int) -> list[str]:
    """Where an audit's choices are weaker than a bar's, in words; empty when it is at least as strict.

    Every criterion of the bar must be present with a threshold at least as demanding in the direction of the
    metric (extra criteria are fine); the confidence must be the same or higher; the minimum group size the
    same or smaller."""
    found = []
    by_name: dict[str, list[Criterion]] = {}
    for c in criteria:
        by_name.setdefault(c.name, []).append(c)
    for bar in bar_criteria:
        present = by_name.get(bar.name, [])
        if not present:
            found.append(f"no {bar.name} criterion (the bar: {bar.text})")
        elif not any(_demanding(c, bar) for c in present):
            found.append(f"{' / '.join(c.text for c in present)} is looser than {bar.text}")
    if confidence < bar_confidence:
        found.append(f"{confidence:.0%} intervals, below {bar_confidence:.0%}")
    if min_group_size > bar_min_group_size:
        found.append(f"minimum group size {min_group_size:,}, above {bar_min_group_size:,} (more groups left out)")
    return found


def at_least_as_strict(definition: AuditDefinition, policy: FairnessPolicy) -> bool:
    return not policy_shortfalls(definition, policy)


def policy_shortfalls(definition: AuditDefinition, policy: FairnessPolicy) -> list[str]:
    return shortfalls(criteria=definition.criteria, confidence=definition.confidence,
                      min_group_size=definition.min_group_size, bar_criteria=policy.criteria,
                      bar_confidence=policy.confidence, bar_min_group_size=policy.min_group_size)


def _group_key(group: dict) -> tuple:
    return tuple(group["sensitive"]), tuple((k, str(group["group"][k])) for k in group["sensitive"])


def overturn_shortfalls(passed: dict, failed: dict) -> list[str]:
    """Why the audit `passed` (as get_audit returns it) does not overturn the audit `failed`; empty when it does:
    at least the failed audit's criteria (strictness as above), every feature set it judged, and at least as many
    rows in all and in each of its groups."""
    a, f = AuditDefinition.from_dict(passed["definition"]), AuditDefinition.from_dict(failed["definition"])
    found = shortfalls(criteria=a.criteria, confidence=a.confidence, min_group_size=a.min_group_size,
                       bar_criteria=f.criteria, bar_confidence=f.confidence, bar_min_group_size=f.min_group_size)
    missing = [s for s in f.feature_sets if s not in a.feature_sets]
    if missing:
        found.append(f"does not judge {', '.join(' × '.join(s) for s in missing)}")
    if (passed["n"] or 0) < (failed["n"] or 0):
        found.append(f"{passed['n'] or 0:,} rows, fewer than {failed['n']:,}")
    sizes = {_group_key(g): g["n"] for g in passed.get("groups", [])}
    smaller = [g for g in failed.get("groups", []) if sizes.get(_group_key(g), 0) < g["n"]]
    if smaller:
        g = smaller[0]
        label = ", ".join(f"{k} = {v}" for k, v in _group_key(g)[1])
        found.append(f"fewer rows in {len(smaller)} of its groups (e.g. {label}: "
                     f"{sizes.get(_group_key(g), 0):,} against {g['n']:,})")
    return found


# --- judging a version's audits ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditStanding:
    """One audit of the version against the policy in force when it was locked."""
    audit_id: str
    verdict: str
    defined_at: str
    n: int | None
    policy: FairnessPolicy
    weaker: tuple[str, ...]          # how it falls short of that policy; empty: at least as strict

    @property
    def counts(self) -> bool:
        """A failure always counts; a pass or an inconclusive verdict only when at least as strict."""
        return self.verdict == "fail" or not self.weaker

    @property
    def mark(self) -> str | None:
        if not self.weaker:
            return None
        return WEAKER_FAILED_MARK if self.verdict == "fail" else WEAKER_MARK

    def as_dict(self) -> dict:
        return {"audit_id": self.audit_id, "verdict": self.verdict, "defined_at": self.defined_at, "n": self.n,
                "policy": self.policy.as_dict(), "weaker": list(self.weaker), "counts": self.counts,
                "mark": self.mark}


@dataclass(frozen=True)
class SetAside:
    audit_id: str
    verdict: str
    reason: str


@dataclass(frozen=True)
class StandingFairnessResult:
    model: str
    version: str
    policy: FairnessPolicy                 # in force now
    audit_id: str | None                   # the standing audit; None when no audit counts
    verdict: str | None
    why: str
    set_aside: tuple[SetAside, ...] = ()
    accepted_risks: tuple[str, ...] = ()
    audits: tuple[AuditStanding, ...] = field(default=(), repr=False)

    @property
    def done(self) -> bool:
        """Counts for the checklist: the standing audit passed, or it did not and a fairness risk is accepted."""
        return self.verdict == "pass" or (self.verdict is not None and bool(self.accepted_risks))

    @property
    def failing(self) -> bool:
        return self.verdict == "fail"

    def as_dict(self) -> dict:
        return {"model": self.model, "version": self.version, "policy": self.policy.as_dict(),
                "audit_id": self.audit_id, "verdict": self.verdict, "why": self.why, "done": self.done,
                "set_aside": [asdict(s) for s in self.set_aside], "accepted_risks": list(self.accepted_risks),
                "audits": [a.as_dict() for a in self.audits]}


def judge_audits(store: GovernanceStore, *, model: str, version: str | None = None) -> list[AuditStanding]:
    """Each audit of the model (of one version) that ran, oldest first, against the policy of its lock time."""
    history = policy_history(store, model=model)
    frame = list_audits(store, model=model, version=version)
    frame = frame[frame["verdict"].isin(RAN)].sort_values("audit_id")
    judged = []
    for row in frame.itertuples(index=False):
        audit = get_audit(store, audit_id=row.audit_id)
        locked = row.defined_at.to_pydatetime() if hasattr(row.defined_at, "to_pydatetime") else row.defined_at
        candidates = policies_in_force(store, model=model, at=locked, history=history)
        definition = AuditDefinition.from_dict(audit["definition"])
        weaker = list(dict.fromkeys(s for p in candidates for s in policy_shortfalls(definition, p)))
        policy = candidates[-1]
        judged.append(AuditStanding(audit_id=row.audit_id, verdict=row.verdict, defined_at=audit["defined_at"],
                                    n=None if audit["n"] is None else int(audit["n"]), policy=policy,
                                    weaker=tuple(weaker)))
    return judged


def standing_result(store: GovernanceStore, *, model: str, version: str,
                    mapped: list[dict]) -> StandingFairnessResult:
    """The fairness result that stands for the version, why, and which audits were set aside and why.

    `mapped`: the version's risks (risks.list_risks), for the fairness risks their owners accepted."""
    accepted = tuple(r["risk_id"] for r in mapped if r["category"] == "fairness/bias" and r["status"] == "accepted")
    now = policy_in_force(store, model=model)
    judged = judge_audits(store, model=model, version=version)
    full = {j.audit_id: get_audit(store, audit_id=j.audit_id) for j in judged if j.counts}
    set_aside: list[SetAside] = []
    outstanding: list[AuditStanding] = []       # failures not yet overturned, oldest first
    newest: AuditStanding | None = None
    for j in judged:
        if not j.counts:
            set_aside.append(SetAside(j.audit_id, j.verdict, f"{WEAKER_MARK} ({'; '.join(j.weaker)})"))
            continue
        if j.verdict == "fail":
            outstanding.append(j)
        elif j.verdict == "pass":
            kept = []
            for f in outstanding:
                short = overturn_shortfalls(full[j.audit_id], full[f.audit_id])
                if short:
                    kept.append(f)
                    set_aside.append(SetAside(j.audit_id, j.verdict,
                                              f"its pass does not overturn {f.audit_id}'s failure: "
                                              f"{'; '.join(short)}"))
                else:
                    set_aside.append(SetAside(f.audit_id, f.verdict,
                                              f"overturned by {j.audit_id}, which passed under at least its "
                                              "criteria on at least as much data"))
            outstanding = kept
        newest = j
    if outstanding:
        standing = outstanding[-1]
        for f in outstanding[:-1]:
            set_aside.append(SetAside(f.audit_id, f.verdict, f"also failed and not overturned; {standing.audit_id} "
                                                             "is the newest failure"))
        why = (f"{standing.audit_id} failed and no later audit passed under at least its criteria on at least as "
               "much data")
        if standing.weaker:
            why += (" (its criteria are weaker than the policy, so its pass would not have counted; a failure "
                    "under a weaker bar is still a failure)")
    elif newest is not None:
        standing = newest
        outcome = {"pass": "passed", "fail": "failed"}.get(standing.verdict, f"is {standing.verdict}")
        why = f"{standing.audit_id} {outcome}: the newest audit that counts"
    else:
        standing = None
        why = ("no fairness audit of this version has run" if not judged else
               "no audit of this version counts: each is weaker than the model's fairness policy")
    if standing is not None and standing.verdict != "pass" and accepted:
        why += f"; the fairness risk is accepted by its owner ({', '.join(accepted)})"
    # the audits not standing that were not yet explained: newer counting audits behind a standing failure, and
    # older counting audits a newer one replaced
    explained = {s.audit_id for s in set_aside} | ({standing.audit_id} if standing else set())
    for j in judged:
        if j.audit_id not in explained:
            reason = ("a failure stands before it" if outstanding else
                      f"superseded by the newer {standing.audit_id}" if standing else "does not count")
            set_aside.append(SetAside(j.audit_id, j.verdict, reason))
    order = {j.audit_id: i for i, j in enumerate(judged)}
    set_aside.sort(key=lambda s: order.get(s.audit_id, -1))
    return StandingFairnessResult(model=model, version=version, policy=now,
                                  audit_id=None if standing is None else standing.audit_id,
                                  verdict=None if standing is None else standing.verdict, why=why,
                                  set_aside=tuple(set_aside), accepted_risks=accepted if standing else (),
                                  audits=tuple(judged))
