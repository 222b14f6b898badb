"""The AI risk register: an append-only, hash-chained log of events from which each risk's state is derived.

Nothing is updated or deleted: a change is a new event (who, when, field, old value, new value, reason), a
risk ends closed or withdrawn with a reason, and each event is a row of a hash chain, signed and anchored like
the ledger's (governance.record.hash_chain), so `verification.verify_register` finds any event edited, removed or
inserted afterwards. Text is stored exactly as typed; pages render it
as text, never as HTML.

Every command takes the acting `identity.User` and checks its role before writing ("edit risks"; accepting a
risk also needs "accept risk"). Monitoring (`identity.MONITORING`) may only propose risks and link evidence.
Owners of risks and controls are accounts of the workspace, recorded by user name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence

import pandas as pd

from governance.access import identity
from governance.csv_safety import neutralise
from governance.errors import GovernanceError, InvalidInputError
from governance.record import clock, ledger, risk_chain
from governance.record.repositories import models as model_rows, risk_register as register_rows
from governance.record.repositories.risk_register import FrameworkClause, RiskEvent
from governance.record.store import GovernanceStore
from governance.record.workspace import DATA_DIR
from governance.validation import checked_text as _text
from governance.vocabulary import (RISK_CATEGORIES as CATEGORIES, RISK_EDITABLE as EDITABLE,
                                   RISK_FRAMEWORKS as FRAMEWORKS, RISK_STATUSES as STATUSES, STALE_AFTER_DAYS)

# "proposed" comes from monitoring (risk_proposals.py): a person makes it "identified" or dismisses it.
NEXT_STATUSES = {"proposed": {"identified", "dismissed"}, "dismissed": set(),
                 "identified": {"assessed", "withdrawn"}, "assessed": {"mitigating", "accepted", "closed", "withdrawn"},
                 "mitigating": {"accepted", "closed", "withdrawn"}, "accepted": {"mitigating", "closed"},
                 "closed": set(), "withdrawn": set()}
NEW_STATUSES = ("identified", "proposed")
ENDED_STATUSES = ("closed", "withdrawn", "dismissed")   # no overdue reviews or controls once a risk ended
CONTROL_STATUSES = ("planned", "in progress", "done")
EVIDENCE_KINDS = ("fairness_audit", "drift", "kpi_breach", "explanation", "other")
MAX_TITLE, MAX_TEXT, MAX_NAME = 200, 5_000, 100

UNKNOWN_RISK = "there is no risk {risk_id!r}; `python -m governance risks list` shows them"
BAD_SCORE = "{field} must be a whole number from 1 to 5, got {value!r}"
BAD_CATEGORY = "category {value!r} is not one of: {known}"
BAD_STATUS_MOVE = "a risk goes from {old!r} to one of {allowed}, not to {new!r}"
NEEDS_REASON = "say why ({what}): a reason is recorded with the change"
UNKNOWN_OWNER = "owner {name!r} has no account in this workspace; owners: {known}"
NO_OWNER = "a risk that is {status!r} needs an owner: choose the account that answers for it"
BAD_NEW_STATUS = "a new risk is 'identified' (or 'proposed' by monitoring), not {value!r}"
UNKNOWN_CLAUSE = "{ref!r} is not a clause of NIST AI RMF 1.0, the EU AI Act or ISO/IEC 42001 Annex A (e.g. 'MEASURE 2.11', 'Article 10', 'A.7')"
UNKNOWN_MODEL = "there is no model {model!r} in this workspace; models: {known}"
BAD_DATE = "{field} must be a date like 2026-12-31, got {value!r}"
NOT_EDITABLE = "{field!r} cannot be changed this way; fields: {known}"
NO_CHANGE = "{field} already is {value!r}: nothing to record"
UNKNOWN_CONTROL = "risk {risk_id} has no control {control_id!r}"
UNKNOWN_FRAMEWORK = "framework must be one of {known}, got {value!r}"
IMPORT_PROBLEMS = "nothing was imported: {count} problem(s) in {name}:\n{problems}"
IMPORT_COLUMNS = ("title", "description", "category", "models", "owner", "likelihood", "impact", "clauses",
                  "next_review")


def level(score: int | None) -> str | None:
    """likelihood x impact on the usual 5x5 bands."""
    if score is None:
        return None
    return "low" if score <= 4 else "medium" if score <= 9 else "high" if score <= 14 else "critical"


# --- reference frameworks ----------------------------------------------------------------------------------------
def ensure_frameworks(store: GovernanceStore) -> None:
    """Load the shipped framework CSVs into the workspace once."""
    if register_rows.clause_count(store):
        return
    rows = []
    for key, (_, file_name) in FRAMEWORKS.items():
        with open(DATA_DIR / file_name, newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                title = record.get("title") or record.get("topic") or record.get("outcome")
                detail = record.get("outcome") if key == "nist" else record.get("applies_to")
                rows.append(FrameworkClause(framework=key, ref_id=record["ref_id"], title=title, detail=detail))
    with store.write() as tx:
        if not register_rows.clause_count(store):
            register_rows.add_clauses(tx, rows)


def frameworks_loaded(store: GovernanceStore) -> bool:
    """Whether the shipped framework clauses are in the workspace yet (ensure_frameworks loads them)."""
    return bool(register_rows.clause_count(store))


def clauses(store: GovernanceStore, *, framework: str | None = None) -> pd.DataFrame:
    ensure_frameworks(store)
    return pd.DataFrame([asdict(c) for c in register_rows.clauses(store, framework=framework)],
                        columns=["framework", "ref_id", "title", "detail"])


# --- validation --------------------------------------------------------------------------------------------------


def _score(value, field: str, *, required: bool = True) -> int | None:
    if value in (None, "") and not required:
        return None
    try:
        number = int(str(value).strip())
        if str(number) != str(value).strip() or not 1 <= number <= 5:
            raise ValueError
    except ValueError:
        raise InvalidInputError(BAD_SCORE.format(field=field, value=value)) from None
    return number


def _date(value, field: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise InvalidInputError(BAD_DATE.format(field=field, value=value)) from None


def _names(value) -> list[str]:
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else re.split(r"[;,]", str(value))
    return list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


def _account(store: GovernanceStore, value, *, field: str, required: bool) -> str | None:
    """The user name of an enabled account, or None when empty and not required."""
    name = _text(value, field, limit=MAX_NAME, required=required)
    if not name:
        return None
    try:
        return identity.get_user(store, user_name=name).user_name
    except GovernanceError:   # unknown or disabled: either way nobody who can answer for it
        known = ", ".join(u.user_name for u in identity.list_users(store)) or "none yet"
        raise InvalidInputError(UNKNOWN_OWNER.format(name=name, known=known)) from None


def _require_owner(owner: str | None, status: str) -> None:
    """Only a proposal from monitoring may wait for an owner (a person gives it one when accepting it), and a
    dismissed proposal never gets one."""
    if not owner and status not in ("proposed", "dismissed"):
        raise InvalidInputError(NO_OWNER.format(status=status))


def _check_value(store: GovernanceStore, field: str, value):
    """The canonical form of one field's value, or a clear error."""
    if field == "title":
        return _text(value, "title", limit=MAX_TITLE)
    if field == "description":
        return _text(value, "description", limit=MAX_TEXT, required=False)
    if field == "owner":
        return _account(store, value, field="owner", required=False)
    if field == "category":
        if value not in CATEGORIES:
            raise InvalidInputError(BAD_CATEGORY.format(value=value, known=", ".join(CATEGORIES)))
        return value
    if field in ("likelihood", "impact"):
        return _score(value, field)
    if field in ("residual_likelihood", "residual_impact"):
        return _score(value, field, required=False)
    if field == "next_review":
        return _date(value, field)
    if field == "models":
        models = _names(value)
        known = model_rows.model_names(store)
        for model in models:
            if model.split(" ")[0] not in known:
                raise InvalidInputError(UNKNOWN_MODEL.format(model=model, known=", ".join(known) or "none yet"))
        return models
    if field == "clauses":
        refs = _names(value)
        ensure_frameworks(store)
        known = register_rows.clause_refs(store)
        for ref in refs:
            if ref not in known:
                raise InvalidInputError(UNKNOWN_CLAUSE.format(ref=ref))
        return refs
    if field == "status":
        if value not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}, got {value!r}")
        return value
    raise InvalidInputError(NOT_EDITABLE.format(field=field, known=", ".join(EDITABLE)))


# --- the event log -----------------------------------------------------------------------------------------------
def _append(store: GovernanceStore, tx, *, risk_id: str, actor: str, kind: str, field: str | None = None,
            old=None, new=None, reason: str | None = None) -> None:
    """One event of the register's chain, inside the caller's write (the anchor follows once it commits)."""
    risk_chain.append(store, tx, risk_id=risk_id, actor=actor, kind=kind, field=field, old_value=json.dumps(old),
                      new_value=json.dumps(new), reason=reason, recorded_at=clock.now_naive())


def history(store: GovernanceStore, *, risk_id: str, before: datetime | None = None) -> list[dict]:
    """Every event of the risk, oldest first (`before`, naive UTC: those recorded before it)."""
    events = register_rows.events_of(store, risk_id=risk_id, before=before)
    if not events:
        raise InvalidInputError(UNKNOWN_RISK.format(risk_id=risk_id))
    return [{"seq": e.seq, "at": pd.Timestamp(e.recorded_at).isoformat() + "Z", "actor": e.actor, "kind": e.kind,
             "field": e.field, "old_value": json.loads(e.old_value), "new_value": json.loads(e.new_value),
             "reason": e.reason} for e in events]


def _fold(events: Iterable) -> dict:
    """The state of one risk from its events, in order."""
    state: dict = {}
    for e in events:
        new = json.loads(e.new_value)
        if e.kind == "created":
            state = {**new, "controls": [], "evidence": [], "created_at": e.recorded_at, "created_by": e.actor}
        elif e.kind == "changed":
            state[e.field] = new
            if e.field == "status" and new in ("accepted", "closed", "withdrawn", "dismissed"):
                state["status_reason"] = e.reason
        elif e.kind == "control_added":
            state["controls"].append(new)
        elif e.kind == "control_changed":
            control = next(c for c in state["controls"] if c["control_id"] == new["control_id"])
            control[e.field] = new["value"]
        elif e.kind == "evidence_linked":
            state["evidence"].append({**new, "linked_at": pd.Timestamp(e.recorded_at).isoformat() + "Z", "linked_by": e.actor})
        state["updated_at"] = e.recorded_at
    return state


def get_risk(store: GovernanceStore, *, risk_id: str) -> dict:
    events = register_rows.events_of(store, risk_id=risk_id)
    if not events:
        raise InvalidInputError(UNKNOWN_RISK.format(risk_id=risk_id))
    return _public(risk_id, _fold(events))


def _public(risk_id: str, state: dict, *, today: date | None = None) -> dict:
    inherent = state["likelihood"] * state["impact"]
    residual = (state["residual_likelihood"] * state["residual_impact"]
                if state.get("residual_likelihood") and state.get("residual_impact") else None)
    day = today or clock.today()
    today = day.isoformat()
    open_risk = is_open(state)
    return {"risk_id": risk_id, **{k: v for k, v in state.items() if k not in ("created_at", "updated_at")},
            "created_at": pd.Timestamp(state["created_at"]).isoformat() + "Z",
            "updated_at": pd.Timestamp(state["updated_at"]).isoformat() + "Z",
            "inherent_score": inherent, "inherent_level": level(inherent),
            "residual_score": residual, "residual_level": level(residual),
            "review_overdue": bool(open_risk and state.get("next_review") and state["next_review"] < today),
            "overdue_controls": len(overdue_controls(state, today=day))}


def is_open(risk: dict) -> bool:
    """A risk still being handled: not closed, withdrawn or dismissed (an accepted one stays under watch)."""
    return risk["status"] not in ENDED_STATUSES


def overdue_controls(risk: dict, *, today: date) -> list[dict]:
    """The one rule for overdue controls, used by the register and by alerts: the controls of an open risk that
    are not done and whose due date is before `today`. A risk that ended has no overdue controls: its controls
    were answered by closing, withdrawing or dismissing it."""
    if not is_open(risk):
        return []
    return [c for c in risk["controls"] if c["status"] != "done" and c.get("due")
            and date.fromisoformat(c["due"]) < today]


def maps_to(risk: dict, *, model: str, version: str) -> bool:
    """Whether a risk concerns this version: mapped to the whole model, or to this version by name."""
    return any(m in (model, f"{model} {version}") for m in risk["models"])


def list_risks(store: GovernanceStore, *, model: str | None = None, version: str | None = None,
               status: str | None = None, today: date | None = None, before: datetime | None = None) -> list[dict]:
    """Every risk, or those of a model (any of its versions), or of one version (`model` and `version`).
    `before` (naive UTC) with `today` its day: the register as it stood then, folded from the events recorded
    before it (governance.record.as_of)."""
    by_risk: dict[str, list[RiskEvent]] = {}
    for event in register_rows.all_events(store, before=before):   # each risk in the order of its first event
        by_risk.setdefault(event.risk_id, []).append(event)
    risks = [_public(risk_id, _fold(events), today=today) for risk_id, events in by_risk.items()]
    if model:
        risks = [r for r in risks if any(m.split(" ")[0] == model for m in r["models"])]
    if model and version:
        risks = [r for r in risks if maps_to(r, model=model, version=version)]
    if status:
        risks = [r for r in risks if r["status"] == status]
    return sorted(risks, key=lambda r: r["risk_id"])


# --- commands ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewRisk:
    title: str
    category: str
    owner: str | None          # a user name; None only for a proposal
    likelihood: int
    impact: int
    models: Sequence[str] = ()
    description: str = ""
    clauses: Sequence[str] = ()
    next_review: str | None = None
    residual_likelihood: int | None = None
    residual_impact: int | None = None


def _checked_new(store: GovernanceStore, risk: NewRisk) -> dict:
    return {field: _check_value(store, field, getattr(risk, field))
            for field in ("title", "description", "category", "models", "owner", "likelihood", "impact",
                          "residual_likelihood", "residual_impact", "next_review", "clauses")}


def _next_id(store: GovernanceStore) -> str:
    """Inside a write: the transaction's own cursor sees the risks it has already added."""
    count = register_rows.risk_count(store)
    return f"R-{count + 1:03d}"


def _who(actor: identity.User) -> str:
    """The actor as events record it: account and role, so the record shows in what capacity they acted."""
    return actor.display_name if actor == identity.MONITORING else actor.recorded_as


def _may_edit(actor: identity.User, *, monitoring_may: bool = False) -> str:
    """Refuse before anything is checked or written unless the actor may edit risks (or is monitoring doing
    what monitoring may); returns the actor as recorded."""
    if not (monitoring_may and actor == identity.MONITORING):
        identity.require(actor, "edit risks")
    return _who(actor)


def add_risk(store: GovernanceStore, *, risk: NewRisk, actor: identity.User, reason: str | None = None,
             status: str = "identified") -> dict:
    """Record a new risk: identified, or proposed (without an owner yet) when monitoring suggests it."""
    who = _may_edit(actor, monitoring_may=status == "proposed")
    if status not in NEW_STATUSES:
        raise InvalidInputError(BAD_NEW_STATUS.format(value=status))
    state = {**_checked_new(store, risk), "status": status}
    _require_owner(state["owner"], status)
    ledger.refresh_anchor(store)   # a new workspace's first record: its empty ledger is anchored first (see ledger)
    with store.write() as tx:
        risk_id = _next_id(store)
        _append(store, tx, risk_id=risk_id, actor=who, kind="created", new=state, reason=reason)
    return get_risk(store, risk_id=risk_id)


def update_risk(store: GovernanceStore, *, risk_id: str, changes: dict, actor: identity.User, reason: str) -> dict:
    """Change fields; one event per field that changes, all in one transaction. A reason is required."""
    who = _may_edit(actor)
    reason = _text(reason, "reason", limit=MAX_TEXT, required=False)
    if not reason:
        raise InvalidInputError(NEEDS_REASON.format(what="every change to a risk"))
    current = get_risk(store, risk_id=risk_id)
    checked = {}
    for field, value in changes.items():
        if field not in EDITABLE:
            raise InvalidInputError(NOT_EDITABLE.format(field=field, known=", ".join(EDITABLE)))
        checked[field] = _check_value(store, field, value)
        if checked[field] == current.get(field):
            raise InvalidInputError(NO_CHANGE.format(field=field, value=checked[field]))
    if "status" in checked:
        old, new = current["status"], checked["status"]
        if new not in NEXT_STATUSES[old]:
            raise InvalidInputError(BAD_STATUS_MOVE.format(old=old, new=new,
                                                           allowed=", ".join(sorted(NEXT_STATUSES[old])) or "none"))
        if new == "accepted":
            identity.require(actor, "accept risk")
    _require_owner(checked.get("owner", current.get("owner")), checked.get("status", current["status"]))
    with store.write() as tx:
        for field, value in checked.items():
            _append(store, tx, risk_id=risk_id, actor=who, kind="changed", field=field, old=current.get(field),
                    new=value, reason=reason)
    return get_risk(store, risk_id=risk_id)


def add_control(store: GovernanceStore, *, risk_id: str, title: str, owner: str, due: str | None,
                actor: identity.User, status: str = "planned") -> dict:
    who = _may_edit(actor)
    current = get_risk(store, risk_id=risk_id)
    if status not in CONTROL_STATUSES:
        raise InvalidInputError(f"control status must be one of {', '.join(CONTROL_STATUSES)}, got {status!r}")
    control = {"control_id": f"C{len(current['controls']) + 1}", "title": _text(title, "control", limit=MAX_TITLE),
               "owner": _account(store, owner, field="control owner", required=True), "due": _date(due, "due date"),
               "status": status}
    with store.write() as tx:
        _append(store, tx, risk_id=risk_id, actor=who, kind="control_added", new=control)
    return get_risk(store, risk_id=risk_id)


def update_control(store: GovernanceStore, *, risk_id: str, control_id: str, status: str, actor: identity.User,
                   reason: str) -> dict:
    who = _may_edit(actor)
    current = get_risk(store, risk_id=risk_id)
    control = next((c for c in current["controls"] if c["control_id"] == control_id), None)
    if control is None:
        raise InvalidInputError(UNKNOWN_CONTROL.format(risk_id=risk_id, control_id=control_id))
    if status not in CONTROL_STATUSES:
        raise InvalidInputError(f"control status must be one of {', '.join(CONTROL_STATUSES)}, got {status!r}")
    if not (reason or "").strip():
        raise InvalidInputError(NEEDS_REASON.format(what="a control's status change"))
    with store.write() as tx:
        _append(store, tx, risk_id=risk_id, actor=who, kind="control_changed", field="status",
                old={"control_id": control_id, "value": control["status"]},
                new={"control_id": control_id, "value": status}, reason=reason.strip())
    return get_risk(store, risk_id=risk_id)


def link_evidence(store: GovernanceStore, *, risk_id: str, kind: str, ref: str, note: str,
                  actor: identity.User) -> dict:
    who = _may_edit(actor, monitoring_may=True)
    get_risk(store, risk_id=risk_id)
    if kind not in EVIDENCE_KINDS:
        raise InvalidInputError(f"evidence kind must be one of {', '.join(EVIDENCE_KINDS)}, got {kind!r}")
    evidence = {"kind": kind, "ref": _text(ref, "evidence reference", limit=MAX_TITLE),
                "note": _text(note, "evidence note", limit=MAX_TEXT, required=False)}
    with store.write() as tx:
        _append(store, tx, risk_id=risk_id, actor=who, kind="evidence_linked", new=evidence)
    return get_risk(store, risk_id=risk_id)


# --- views -------------------------------------------------------------------------------------------------------
def coverage(store: GovernanceStore, *, framework: str, stale_after_days: int = STALE_AFTER_DAYS,
             today: date | None = None, before: datetime | None = None) -> dict:
    """Per clause: the risks mapped to it (closed ones included: they were treated; not withdrawn, dismissed or
    merely proposed ones), whether any has a control, and whether any has evidence younger than the cut-off.
    `before` (naive UTC) with `today` its day: the coverage as the register stood then."""
    if framework not in FRAMEWORKS:
        raise InvalidInputError(UNKNOWN_FRAMEWORK.format(known=", ".join(FRAMEWORKS), value=framework))
    cutoff = (today or clock.today()) - timedelta(days=stale_after_days)
    risks = [r for r in list_risks(store, today=today, before=before)
             if r["status"] not in ("withdrawn", "dismissed", "proposed")]
    rows = []
    for clause in clauses(store, framework=framework).itertuples(index=False):
        mapped = [r for r in risks if clause.ref_id in r["clauses"]]
        controlled = any(r["controls"] for r in mapped)
        fresh = any(date.fromisoformat(e["linked_at"][:10]) >= cutoff for r in mapped for e in r["evidence"])
        status = "gap" if not mapped else "covered" if controlled and fresh else "partial"
        rows.append({"ref_id": clause.ref_id, "title": clause.title, "risks": [r["risk_id"] for r in mapped],
                     "has_control": controlled, "has_fresh_evidence": fresh, "status": status})
    counts = {s: sum(r["status"] == s for r in rows) for s in ("covered", "partial", "gap")}
    return {"framework": framework, "name": FRAMEWORKS[framework][0], "stale_after_days": stale_after_days,
            "clauses": rows, "counts": counts}


def export_csv(risks: Sequence[dict]) -> str:
    columns = ["risk_id", "title", "category", "models", "owner", "status", "likelihood", "impact", "inherent_score",
               "inherent_level", "residual_score", "residual_level", "next_review", "clauses", "description"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in risks:
        writer.writerow([neutralise("; ".join(r[c]) if isinstance(r.get(c), list) else r.get(c)) for c in columns])
    return out.getvalue()


def import_csv(store: GovernanceStore, *, content: bytes, name: str, actor: identity.User) -> list[dict]:
    """Every row is checked first; any problem and nothing is imported, with each problem by row and column."""
    who = _may_edit(actor)
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {name} as CSV ({str(exc).splitlines()[0][:160]})") from None
    missing = [c for c in ("title", "category", "owner", "likelihood", "impact") if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{name} lacks the columns {', '.join(missing)}; columns: {', '.join(IMPORT_COLUMNS)}")
    problems, checked = [], []
    for number, record in enumerate(frame.to_dict("records"), start=2):   # row 1 is the header
        state = {}
        for field in ("title", "description", "category", "models", "owner", "likelihood", "impact", "clauses",
                      "next_review"):
            try:
                state[field] = _check_value(store, field, record.get(field, ""))
            except InvalidInputError as exc:
                problems.append(f"row {number}, column {field}: {exc}")
        try:
            if "owner" in state:   # an unknown owner is already reported above
                _require_owner(state["owner"], "identified")
        except InvalidInputError as exc:
            problems.append(f"row {number}, column owner: {exc}")
        checked.append(state)
    if problems:
        shown = "\n".join(problems[:50]) + (f"\n… and {len(problems) - 50} more" if len(problems) > 50 else "")
        raise InvalidInputError(IMPORT_PROBLEMS.format(count=len(problems), name=name, problems=shown))
    with store.write() as tx:
        ids = []
        for state in checked:
            risk_id = _next_id(store)
            _append(store, tx, risk_id=risk_id, actor=who, kind="created",
                    new={**state, "residual_likelihood": None, "residual_impact": None, "status": "identified"},
                    reason=f"imported from {name}")
            ids.append(risk_id)
    return [get_risk(store, risk_id=i) for i in ids]
