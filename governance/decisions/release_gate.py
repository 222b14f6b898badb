"""What a version needs before it ships, and when a model needs retraining: the validation checklist, the retraining
policy with its triggers, and the stage gate that CI/CD pipelines call.

Everything here is recorded in the ledger (append-only, hash-chained): a model's retraining policy (the newest
entry is in force, the earlier ones are its history), each checklist attestation ("explanation reviewed", "risks
reviewed"), and every gate check with its answer and reasons, so a deployment can later be traced to the check
that let it through.

The checklist of a version:
- fairness: its newest fairness audit passed, or failed with a fairness risk of the model accepted by its owner;
- robustness: its newest robustness run passed;
- explanation reviewed: a stored explanation exists and someone attested to reviewing it;
- risks reviewed: someone attested to reviewing the model's risks after the register last changed for it.
The gate for a stage passes only when the version has a valid approving committee decision for that stage, its
checklist is complete, and no blocking risk is open (an open risk of the model at level high or critical, by its
residual score where one is set; accepted, closed, withdrawn and dismissed risks do not block).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from governance.access import identity
from governance.access.identity import User
from governance.decisions import risks
from governance.decisions.review_state import approval_for_gate
from governance.errors import InvalidInputError
from governance.evidence import robustness
from governance.evidence.explanations import current_explanation   # shap itself only when one is computed
from governance.evidence.fairness_policy import StandingFairnessResult, standing_result
from governance.evidence.version_drift import drift_periods
from governance.monitoring import telemetry_sources
from governance.monitoring.drift import judged_period
from governance.monitoring.inventory import list_versions, require_model
from governance.monitoring.kpis import Window, kpi_series, ratio
from governance.monitoring.service_levels import service_levels
from governance.monitoring.telemetry_sql import VERSION_LABELLED_SQL
from governance.record import clock, ledger
from governance.record.store import GovernanceStore
from governance.validation import checked_text
from governance.vocabulary import ATTESTED  # item -> the permission it needs
from governance.vocabulary import DEFAULT_RETRAINING_POLICY as DEFAULT_POLICY, SIGNOFF_STAGES as STAGES

CHECKLIST = ("fairness", "robustness", "explanation reviewed", "risks reviewed")
BLOCKING_LEVELS = ("high", "critical")
OPEN_EXEMPT = ("accepted", "closed", "withdrawn", "dismissed")
POLICY_WINDOW_DAYS = 30
LABEL_LAG_DAYS = 3           # predictions this recent are not expected to have their labels yet

BAD_ITEM = "the checklist items one attests to are {known}; got {value!r}"
BAD_POLICY = "{field} must be {what}, got {value!r}"
UNKNOWN_POLICY_FIELD = "unknown policy field {field!r}; the fields are {known}"
NOBODY_ASKED = ("a gate check is recorded with the account that asked: sign in, give --by USER on the command line, "
               "or call it through the server with an API token")


def _subject(model: str, version: str) -> str:
    return f"{model} {version}"


# --- retraining policy -------------------------------------------------------------------------------------------
def _checked_policy(changes: dict) -> dict:
    policy = dict(DEFAULT_POLICY)
    for field, value in changes.items():
        if field not in DEFAULT_POLICY:
            raise InvalidInputError(UNKNOWN_POLICY_FIELD.format(field=field, known=", ".join(DEFAULT_POLICY)))
        if value is None:
            policy[field] = None
        elif field == "drift_act":
            if not isinstance(value, bool):
                raise InvalidInputError(BAD_POLICY.format(field=field, what="true or false", value=value))
            policy[field] = value
        elif field in ("accuracy_below_slo_days", "max_model_age_days"):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
                raise InvalidInputError(BAD_POLICY.format(field=field, what="a whole number of days from 1 to 3650",
                                                          value=value))
            policy[field] = value
        elif field == "min_label_coverage":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InvalidInputError(BAD_POLICY.format(field=field, what="a share from 0 to 1", value=value))
            policy[field] = float(value)
        else:
            policy[field] = checked_text(value, field="policy text", limit=4000)
    return policy


def set_policy(store: GovernanceStore, *, model: str, policy: dict, actor: User) -> dict:
    """Record the model's retraining policy (fields left out take their defaults); the newest is in force."""
    identity.require(actor, "configure monitoring")
    require_model(store, model=model)
    checked = _checked_policy(policy)
    entry = ledger.append(store, actor=actor.recorded_as, kind="retraining_policy", subject=model,
                          payload={"model": model, **checked, "set_by": actor.signature_name,
                                   "set_at": clock.now_iso_micro()},
                          idempotency_key=f"retraining_policy:{model}:{uuid.uuid4().hex}")
    return entry["payload"]


def policy(store: GovernanceStore, *, model: str, before: datetime | None = None) -> dict:
    """The policy in force: the newest recorded one, or the defaults (set_by None) if none was recorded. `before`
    (naive UTC): the one in force then (governance.record.as_of)."""
    recorded = ledger.entries(store, kind="retraining_policy", subject=model, before=before)
    return recorded[-1]["payload"] if recorded else {"model": model, **DEFAULT_POLICY, "set_by": None,
                                                      "set_at": None}


def _serving_version(store: GovernanceStore, *, model: str) -> dict | None:
    """The version the triggers are judged on: the one in production, else the newest with telemetry."""
    versions = list_versions(store)
    versions = versions[versions["model"] == model]
    live = versions[versions["stage"] == "production"]
    chosen = live if len(live) else versions[versions["telemetry_rows"] > 0]
    return None if chosen.empty else chosen.sort_values("version").iloc[-1].to_dict()


def retraining_triggers(store: GovernanceStore, *, model: str, today: date | None = None) -> dict:
    """Which of the policy's triggers the model meets now, each with the evidence in words."""
    today = today or clock.today()
    rules = policy(store, model=model)
    version = _serving_version(store, model=model)
    found = {"model": model, "version": None if version is None else version["version"], "policy": rules,
             "triggers": []}
    if version is None:
        found["note"] = "no version of this model is in production or has telemetry"
        return found
    name = version["version"]

    def add(trigger: str, met: bool | None, detail: str) -> None:
        found["triggers"].append({"trigger": trigger, "met": met, "detail": detail})

    last = pd.Timestamp(version["last_ts"]) if not pd.isna(version["last_ts"]) else None
    if rules["drift_act"] and last is not None:
        periods = drift_periods(store, model=model, version=name)
        period = judged_period(periods)   # the latest complete week, as on the Drift page; never a partial one
        newest = periods[periods["period"] == period] if period is not None else periods.iloc[:0]
        acting = sorted(newest.loc[newest["status"] == "act", "feature"])
        add("drift at 'act'", bool(acting) if period is not None else None,
            f"in the week of {period.date()}: {', '.join(acting)}" if acting
            else f"no feature at 'act' in the week of {period.date()}, the latest complete week" if period is not None
            else "no complete week of telemetry to judge")
    levels = service_levels(store, model=model)
    if rules["accuracy_below_slo_days"] and last is not None and "accuracy" in levels:
        end = last.normalize() + pd.Timedelta(days=1)
        series = kpi_series(store, model=model, window=Window(end - pd.Timedelta(days=POLICY_WINDOW_DAYS), end),
                            grain="day", version=name)
        series = series[series["version"] == name]
        target = levels["accuracy"].target
        judged = series[series["labelled"] >= 30]
        below = judged[judged["accuracy"] < target]
        add(f"accuracy below its service level on {rules['accuracy_below_slo_days']}+ days",
            len(below) >= rules["accuracy_below_slo_days"],
            f"{len(below)} of {len(judged)} judged days in the last {POLICY_WINDOW_DAYS} below {target:.3f}")
    if rules["min_label_coverage"] is not None and last is not None:
        cutoff = last - pd.Timedelta(days=LABEL_LAG_DAYS)
        counts = telemetry_sources.query_records(store, VERSION_LABELLED_SQL, {
            "model": model, "version": name, "start": cutoff - pd.Timedelta(days=POLICY_WINDOW_DAYS), "end": cutoff})[0]
        coverage = ratio("label_coverage", counts)   # the KPI page's definition: labelled / successful requests
        add(f"label coverage below {rules['min_label_coverage']:.0%}",
            None if coverage is None else coverage < rules["min_label_coverage"],
            "no successful predictions old enough to have labels" if coverage is None else
            f"{coverage:.1%} of {int(counts['n'] - counts['failures']):,} successful predictions labelled "
            f"(the last {LABEL_LAG_DAYS} days excluded)")
    if rules["max_model_age_days"]:
        created = pd.Timestamp(version["created_at"]).date()
        age = (today - created).days
        add(f"model older than {rules['max_model_age_days']} days", age > rules["max_model_age_days"],
            f"{name} was created on {created}: {age} days ago")
    found["retrain"] = any(t["met"] for t in found["triggers"])
    return found


def all_triggers(store: GovernanceStore, *, today: date | None = None) -> list[dict]:
    return [retraining_triggers(store, model=m, today=today)
            for m in sorted(list_versions(store)["model"].unique())]


# --- the validation checklist ------------------------------------------------------------------------------------
def attest(store: GovernanceStore, *, model: str, version: str, item: str, note: str, actor: User) -> dict:
    """Record that `actor` reviewed the explanation or the risks of this version, with a note."""
    if item not in ATTESTED:
        raise InvalidInputError(BAD_ITEM.format(known=", ".join(ATTESTED), value=item))
    identity.require(actor, ATTESTED[item])
    require_model(store, model=model, version=version)
    note = checked_text(note, field="note", limit=2000)
    entry = ledger.append(store, actor=actor.recorded_as, kind="checklist_attestation",
                          subject=_subject(model, version),
                          payload={"model": model, "version": version, "item": item, "note": note,
                                   "by": actor.display_name, "role": actor.role, "at": clock.now_iso_micro()},
                          idempotency_key=f"attest:{model}:{version}:{item}:{uuid.uuid4().hex}")
    return entry["payload"]


def standing_fairness_result(store: GovernanceStore, *, model: str, version: str,
                             mapped: list[dict] | None = None) -> StandingFairnessResult:
    """The fairness result that stands for the version (fairness_policy.standing_result), with the version's risks:
    a failure an owner accepted as a fairness risk counts for the checklist. `mapped`: the version's risks
    (risks.list_risks), when the caller has them already."""
    if mapped is None:
        mapped = risks.list_risks(store, model=model, version=version)
    return standing_result(store, model=model, version=version, mapped=mapped)


def _fairness_item(store: GovernanceStore, *, model: str, version: str, mapped: list[dict]) -> dict:
    # The standing result, not the newest audit: a failure stands until a pass under at least its criteria on at
    # least as much data, and an audit weaker than the model's fairness policy does not count.
    standing = standing_fairness_result(store, model=model, version=version, mapped=mapped)
    detail = standing.why   # names the standing audit and its verdict, or why none counts
    if standing.audit_id is not None and not standing.done:
        detail += "; no fairness risk of the model is accepted"
    return {"item": "fairness", "done": standing.done, "detail": detail}


def _robustness_item(store: GovernanceStore, *, model: str, version: str) -> dict:
    runs = [r for r in robustness.list_runs(store, model=model, version=version) if r["status"] == "completed"]
    if not runs:
        return {"item": "robustness", "done": False, "detail": "no robustness run of this version"}
    newest = runs[0]   # newest first
    return {"item": "robustness", "done": newest["verdict"] == "pass",
            "detail": f"{newest['run_id']} {newest['verdict']}"}


def _attested_item(store: GovernanceStore, *, model: str, version: str, item: str, since: str | None) -> dict:
    entries = [e for e in ledger.entries(store, kind="checklist_attestation", subject=_subject(model, version))
               if e["payload"]["item"] == item]
    if not entries:
        return {"item": item, "done": False, "detail": "nobody has attested to it"}
    p = entries[-1]["payload"]
    if since and datetime.fromisoformat(p["at"]) <= datetime.fromisoformat(since):
        return {"item": item, "done": False,
                "detail": f"{p['by']} attested on {p['at'][:10]}, but the risks changed since ({since[:10]})"}
    return {"item": item, "done": True, "detail": f"{p['by']} ({p['role']}), {p['at'][:10]}: {p['note']}"}


def checklist(store: GovernanceStore, *, model: str, version: str) -> dict:
    """The version's validation checklist: each item done or not, with the evidence in words."""
    require_model(store, model=model, version=version)
    mapped = risks.list_risks(store, model=model, version=version)
    explained = current_explanation(store, model=model, version=version)
    explanation = _attested_item(store, model=model, version=version, item="explanation reviewed", since=None)
    if explained.explanation is None:   # none, or only stale ones: what was reviewed is not this version's
        explanation = {"item": "explanation reviewed", "done": False, "detail": explained.reason}
    changed = max((r["updated_at"] for r in mapped), default=None)
    items = [_fairness_item(store, model=model, version=version, mapped=mapped),
             _robustness_item(store, model=model, version=version), explanation,
             _attested_item(store, model=model, version=version, item="risks reviewed",
                            since=changed)]
    return {"model": model, "version": version, "items": items, "complete": all(i["done"] for i in items)}


# --- the gate ----------------------------------------------------------------------------------------------------
def blocking_risks(store: GovernanceStore, *, model: str, version: str) -> list[dict]:
    blocking = []
    for r in risks.list_risks(store, model=model, version=version):
        level = r["residual_level"] or r["inherent_level"]
        if r["status"] not in OPEN_EXEMPT and level in BLOCKING_LEVELS:
            blocking.append({"risk_id": r["risk_id"], "title": r["title"], "level": level, "status": r["status"]})
    return blocking


def gate_findings(store: GovernanceStore, *, model: str, version: str, stage: str,
                  today: date | None = None) -> dict:
    """Would this version pass the gate into `stage` now? {ok, reasons, decision, checklist, blocking_risks}, every
    reason listed. Only reads: `gate` records the check; the Overview asks this of every serving version."""
    require_model(store, model=model, version=version)
    if stage not in STAGES[1:]:
        raise InvalidInputError(f"the stage must be one of {', '.join(STAGES[1:])}, got {stage!r}")
    state, decision_reasons = approval_for_gate(store, model=model, version=version, gate=stage, today=today)
    listed = checklist(store, model=model, version=version)
    blocking = blocking_risks(store, model=model, version=version)
    reasons = list(decision_reasons)
    reasons += [f"checklist: {i['item']} not done ({i['detail']})" for i in listed["items"] if not i["done"]]
    reasons += [f"blocking risk {r['risk_id']} ({r['level']}, {r['status']}): {r['title']}" for r in blocking]
    return {"model": model, "version": version, "stage": stage, "ok": not reasons, "reasons": reasons,
            "decision": None if state is None else {"review_id": state["review_id"],
                                                     "outcome": state["decision"]["outcome"],
                                                     "evidence_hash": state["evidence_hash"]},
            "checklist": listed["items"], "blocking_risks": blocking}


def gate(store: GovernanceStore, *, model: str, version: str, stage: str, actor: User, caller: str | None = None,
         today: date | None = None) -> dict:
    """May this version run at `stage`? {ok, reasons, ...}; every reason is listed, and the check is recorded in
    the ledger as the acting account's (`actor`, checked like every other writer: a password at the terminal, an
    API token through the server). Any enabled account may ask; `caller` is the asker's own words for where the
    check comes from (a pipeline run), kept beside the account, never instead of it."""
    if not isinstance(actor, User):
        raise identity.PermissionDeniedError(NOBODY_ASKED)
    actor = identity.get_user(store, user_name=actor.user_name)   # as stored now: not disabled since
    caller = checked_text(caller, field="caller", limit=200) if caller and caller.strip() else None
    result = {**gate_findings(store, model=model, version=version, stage=stage, today=today),
              "checked_at": clock.now_iso_micro(), "checked_by": actor.recorded_as, "caller": caller}
    entry = ledger.append(store, actor=actor.recorded_as, kind="gate_check", subject=_subject(model, version),
                          payload=result, idempotency_key=f"gate:{model}:{version}:{stage}:{uuid.uuid4().hex}")
    return {**result, "ledger_seq": entry["seq"]}


@dataclass(frozen=True)
class ServingOutsideGate:
    """A version that serves at a stage whose gate it does not pass today, and why."""
    model: str
    version: str
    stage: str
    reasons: tuple[str, ...]


def serving_outside_their_gate(store: GovernanceStore, *, today: date | None = None) -> list[ServingOutsideGate]:
    """Every version at a gated stage (past the first) that would not pass that stage's gate now: an approval
    gone stale, a checklist item undone since, a risk that became blocking. Reads only; records nothing."""
    found = []
    for v in list_versions(store).itertuples(index=False):
        if v.stage not in STAGES[1:]:
            continue
        findings = gate_findings(store, model=v.model, version=v.version, stage=v.stage, today=today)
        if not findings["ok"]:
            found.append(ServingOutsideGate(v.model, v.version, v.stage, tuple(findings["reasons"])))
    return found
