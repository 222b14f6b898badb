"""Sign-offs: a committee reviews a model version before it moves to its next stage, and signs.

Event-sourced from the ledger (governance/record/ledger.py): the ledger is the record and nothing here keeps a second
copy of a vote. Entry kinds, each with the review id (or "committee", or "MODEL VERSION") as subject:

    review_request    the request, with the evidence gathered and frozen at that moment and its SHA-256
    signature         one committee member's vote, bound to the request's evidence hash
    decision          appended in the same transaction as the signature that settles the outcome
    condition_update  a condition of an approval met or waived
    stage_change      the version moved to the gate its approval was for
    committee_change  a member added or removed, a quorum setting changed

Only the committee's membership and settings are tables (migrations/011_signoffs.sql). Every write runs in
one `store.write()` transaction, with the ledger entries appended in it, and re-anchors the ledger after.

Gates
    STAGES is the path a version follows; a *gate* is the stage a version would move to, and only the stage
    right after the version's current one may be requested or entered.

Decision rule
    N = the committee's members (current members and anyone who has voted on the review) minus those who
    recused themselves; *cast* = the votes other than recuse (approve, approve_with_conditions, reject,
    abstain). There is a **quorum** when cast > quorum_fraction x N (default one half, so more than half of
    the non-recused members) and, when chair_required (default), a committee chair has cast a vote -- unless
    every chair on the committee recused, when the requirement falls away rather than blocking the review.
    approvals = approve + approve_with_conditions; rejections = reject; abstentions count to the quorum only;
    remaining = non-recused members who have not voted yet. The review is decided as soon as there is a
    quorum and the outcome can no longer change:
        approved  when approvals > rejections + remaining
        rejected  when approvals + remaining <= rejections
    So once everybody has voted (remaining = 0) with a quorum, a tie (or all abstaining) is rejected: there is
    no majority to approve. "approved_with_conditions" is an approval where any approving vote carried
    conditions; each becomes a condition RV-0001-C1, … with an owner and a due date, open until met or waived.
    A decision is valid for decision_validity_days (default 365) after it was taken.

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

import hashlib
import json
import re
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from governance.record import clock
from governance.record.canonical import canonical_json
from governance.access import identity
from governance.monitoring import telemetry_sources
from governance.record import ledger
from governance.monitoring.telemetry_sql import VERSION_BEFORE_SQL, VERSION_NEWEST_SQL
from governance.errors import GovernanceError, InvalidInputError
from governance.access.identity import PermissionDeniedError, User
from governance.record.store import GovernanceStore
from governance.validation import checked_text as _text
from governance.vocabulary import CONDITION_STATUSES, VOTES
from governance.vocabulary import SIGNOFF_STAGES as STAGES

MEANINGS = {"approve": "approved", "approve_with_conditions": "approved with conditions", "reject": "rejected",
            "abstain": "abstained", "recuse": "recused"}
OUTCOMES = ("approved", "approved_with_conditions", "rejected")
COMMITTEE_ROLES = ("committee member", "committee chair")
DEFAULT_RULES = {"quorum_fraction": "0.5", "chair_required": "true", "decision_validity_days": "365"}
SIGNING_FRESHNESS_SECONDS = 600
KPI_WINDOW_DAYS = 30
TOP_FEATURES = 5
MAX_REASON = 2_000
MAX_CONDITION = 500
CLOSED_RISK = ("closed", "withdrawn", "dismissed")
_REVIEW_ID = re.compile(r"^RV-(\d{4,})$")
_CONDITION_ID = re.compile(r"^(RV-\d{4,})-C(\d+)$")

UNKNOWN_VERSION = "model {model!r} has no version {version!r}; `python -m governance status` lists them"
BAD_GATE = "gate must be one of {known}, got {value!r}"
NOT_NEXT_STAGE = ("{model} {version} is in {stage!r}: only its next stage ({next}) can be {what}, not {gate!r}")
NO_NEXT_STAGE = "{model} {version} is in {stage!r}: there is no further stage it can be {what}"
OPEN_REVIEW = "{review_id} already reviews {model} {version} for {gate!r} and is still open: vote on it instead"
EMPTY_COMMITTEE = ("the review committee has no members: an admin or the chair adds them first "
                   "(`python -m governance signoff member add USER --by ADMIN`)")
UNKNOWN_REVIEW = "there is no review {review_id!r}; `python -m governance signoff list` shows them"
BAD_VOTE = "vote must be one of {known}, got {value!r}"
NEEDS_CONDITIONS = "approve_with_conditions needs at least one condition (text, owner, due date)"
CONDITIONS_ONLY_WITH = "conditions go with the vote approve_with_conditions, not {vote!r}"
BAD_CONDITION = "a condition is {{text, owner, due}}, got {value!r}"
UNKNOWN_OWNER = "condition owner {name!r} has no account in this workspace"
BAD_DATE = "{field} must be a date like 2026-12-31, got {value!r}"
DUE_IN_PAST = "condition due date {due} is in the past: give a date from today ({today}) on"
NOT_ON_COMMITTEE = ("{who} has the role {role!r} but is not on the review committee: "
                    "an admin or the chair adds them (`signoff member add`) before they can vote")
ALREADY_VOTED = "you already voted on {review_id} ({vote}, at {at}): a signature cannot be changed or repeated"
ALREADY_DECIDED = "{review_id} was already decided ({outcome}, at {at}): votes are closed; request a new review"
REAUTH_NEEDED = ("signing needs you to confirm who you are: re-enter your password (local accounts) "
                 "or sign in again with the identity provider")
REAUTH_PASSWORD = "re-authentication failed: wrong password; re-enter your password to sign"
REAUTH_STALE = ("your identity-provider sign-in is {minutes} minutes old; signing needs one from the last "
                "{limit} minutes: sign in again")
REAUTH_METHOD = "{who} signs in {how}: {fix}"
REAUTH_DEMO = "demo sign-off without a password works only for demo users in the demo workspace: re-enter your password"
REAUTH_OTHER_USER = "re-authentication was for {other}, not {who}: sign in again as yourself"
VOTES_CLOSED = "Votes are closed: the committee has decided."
SIGNED_ALREADY = "You have signed this review."
NOT_A_VOTER = "Only committee members and the chair vote; you act as {role}."
CANNOT_SIGN_HERE = ("{who} cannot sign here: a vote needs the signer's password (a local account) or a sign-in to "
                    "the app (identity provider, demo mode); sign in the app to vote")
SIGNING_PLACES = ("app", "terminal", "server")
NOT_COMMITTEE_ROLE = ("{name} has the role {role!r}: only accounts with the role committee member or committee "
                      "chair sit on the committee (an admin changes the role first)")
ALREADY_MEMBER = "{name} already is on the review committee"
NOT_MEMBER = "{name} is not on the review committee"
UNKNOWN_RULE = "committee setting must be one of {known}, got {value!r}"
BAD_RULE = "{key} must be {what}, got {value!r}"
UNKNOWN_CONDITION = "there is no condition {condition_id!r}; `python -m governance signoff status RV-…` lists them"
BAD_CONDITION_STATUS = "a condition becomes one of {known}, got {value!r}"
OWN_CONDITION = ("{who} {why} the condition {condition_id}, so cannot be the one to mark it {status}: someone else who "
                 "may update conditions (a risk owner, the committee chair, an admin or another engineering leader) "
                 "checks the evidence and records it, with a reason the committee sees beside the condition")
OWN_CONDITION_RULE = ("A condition's owner and whoever requested the review do not close it themselves: someone else "
                      "who may update conditions checks the evidence and records it, with the reason shown here.")
CONDITION_CLOSED = "condition {condition_id} already is {status} (since {at}): nothing to update"
ADVANCE_REFUSED = "{model} {version} cannot move to {stage!r}: {reasons}"
GATE_REFUSED = ("{model} {version} cannot move to {stage!r}: its gate refuses it ({reasons}). Complete the validation "
                "checklist (`python -m governance checklist show` and `checklist attest`, or the Stage gates tab), "
                "accept, mitigate or close each blocking risk in the risk register, then advance again; "
                "`python -m governance gate --model {model} --version {version} --stage {stage}` gives the same "
                "answer")
NO_DECISION = "no committee decision for the gate {gate!r} yet (request a review and have the committee vote)"
RE_REVIEW = "re-review required"


# --- small helpers ---------------------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"




def _date(value, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInputError(BAD_DATE.format(field=field, value=value)) from None


def _plain(value):
    """A JSON-safe number: NaN and missing become None, numpy scalars plain floats."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return float(value)


def evidence_hash(evidence: dict) -> str:
    """SHA-256 of the evidence as canonical JSON (sorted keys, no spaces, UTF-8, no NaN)."""
    return hashlib.sha256(canonical_json(evidence).encode("utf-8")).hexdigest()


def _fresh(store: GovernanceStore, actor: User) -> User:
    """The acting account as stored now (its role may have changed since it signed in)."""
    if not isinstance(actor, User):
        raise PermissionDeniedError("nobody is signed in: sign in first")
    return identity.get_user(store, user_name=actor.user_name)


# --- committee -------------------------------------------------------------------------------------------------
def rules(store: GovernanceStore) -> dict:
    """The quorum settings in force: stored values over DEFAULT_RULES, parsed."""
    stored = dict(store.query_rows("SELECT key, value FROM committee_rule"))
    merged = {**DEFAULT_RULES, **stored}
    return {"quorum_fraction": float(merged["quorum_fraction"]),
            "chair_required": merged["chair_required"].lower() == "true",
            "decision_validity_days": int(merged["decision_validity_days"])}


def _check_rule(key: str, value) -> str:
    text = str(value).strip().lower()
    try:
        if key == "quorum_fraction":
            if not 0 < float(text) < 1:
                raise ValueError
            return str(float(text))
        if key == "chair_required":
            if text not in ("true", "false"):
                raise ValueError
            return text
        if key == "decision_validity_days":
            if not 1 <= int(text) <= 3650 or str(int(text)) != text:
                raise ValueError
            return text
    except ValueError:
        what = {"quorum_fraction": "a fraction between 0 and 1 (exclusive)", "chair_required": "true or false",
                "decision_validity_days": "a whole number of days from 1 to 3650"}[key]
        raise InvalidInputError(BAD_RULE.format(key=key, what=what, value=value)) from None
    raise InvalidInputError(UNKNOWN_RULE.format(known=", ".join(DEFAULT_RULES), value=key))


def _may_manage(store: GovernanceStore, actor: User) -> User:
    actor = _fresh(store, actor)
    identity.require(actor, "manage committee")
    return actor


def _committee_entry(store: GovernanceStore, tx, *, actor: User, payload: dict) -> None:
    n = store.query_value("SELECT count(*) FROM ledger WHERE kind = 'committee_change'") + 1
    ledger.append(store, actor=actor.recorded_as, kind="committee_change", subject="committee",
                  payload={**payload, "by": actor.signature_name, "by_user": actor.user_name,
                           "at": _iso(clock.now())},
                  idempotency_key=f"committee_change:{n}", tx=tx)


def set_rule(store: GovernanceStore, *, key: str, value, actor: User) -> dict:
    """Change one quorum setting (admin or chair); recorded in the ledger."""
    actor = _may_manage(store, actor)
    if key not in DEFAULT_RULES:
        raise InvalidInputError(UNKNOWN_RULE.format(known=", ".join(DEFAULT_RULES), value=key))
    text = _check_rule(key, value)
    with store.write() as tx:
        tx.execute("INSERT OR REPLACE INTO committee_rule VALUES (?, ?)", [key, text])
        _committee_entry(store, tx, actor=actor, payload={"change": "rule", "key": key, "value": text})
    ledger.refresh_anchor(store)
    return rules(store)


def add_member(store: GovernanceStore, *, user_name: str, actor: User) -> dict:
    """Put an account with the role committee member or chair on the committee (admin or chair)."""
    actor = _may_manage(store, actor)
    member = identity.get_user(store, user_name=user_name)
    if member.role not in COMMITTEE_ROLES:
        raise InvalidInputError(NOT_COMMITTEE_ROLE.format(name=member.user_name, role=member.role))
    with store.write() as tx:
        if store.query_value("SELECT count(*) FROM committee_member WHERE user_name = ?", [member.user_name]):
            raise InvalidInputError(ALREADY_MEMBER.format(name=member.user_name))
        added_at = clock.now().replace(tzinfo=None)
        tx.execute("INSERT INTO committee_member VALUES (?, ?, ?)", [member.user_name, added_at, actor.user_name])
        # the row's every field is in the entry, so governance.record.record_state can tell an edited row from this one
        _committee_entry(store, tx, actor=actor, payload={"change": "add", "user_name": member.user_name,
                                                          "member": member.signature_name,
                                                          "added_at": added_at.isoformat()})
    ledger.refresh_anchor(store)
    return {"user_name": member.user_name, "display_name": member.display_name, "role": member.role}


def remove_member(store: GovernanceStore, *, user_name: str, actor: User) -> dict:
    """Take someone off the committee (admin or chair); their past signatures stay on the record."""
    actor = _may_manage(store, actor)
    name = (user_name or "").strip()
    with store.write() as tx:
        if not store.query_value("SELECT count(*) FROM committee_member WHERE user_name = ?", [name]):
            raise InvalidInputError(NOT_MEMBER.format(name=name))
        tx.execute("DELETE FROM committee_member WHERE user_name = ?", [name])
        _committee_entry(store, tx, actor=actor, payload={"change": "remove", "user_name": name})
    ledger.refresh_anchor(store)
    return {"user_name": name, "removed": True}


def members(store: GovernanceStore) -> list[dict]:
    """The committee: enabled accounts on it, chair(s) first."""
    rows = store.query_rows("""
        SELECT c.user_name, u.display_name, u.role, c.added_at, c.added_by FROM committee_member c
        JOIN app_user u USING (user_name) WHERE NOT u.disabled
        ORDER BY u.role = 'committee chair' DESC, lower(u.display_name)""")
    return [{"user_name": r[0], "display_name": r[1], "role": r[2], "added_at": _iso_naive(r[3]), "added_by": r[4]}
            for r in rows]


def _iso_naive(moment) -> str:
    return pd.Timestamp(moment).isoformat(timespec="seconds") + "Z"


def seed_demo_committee(store: GovernanceStore) -> None:
    """The demo's committee: its chair and three members, added by the demo's admin."""
    admin = next(u for u in identity.DEMO_USERS if u.role == "admin")
    for user in identity.DEMO_USERS:
        if user.role in COMMITTEE_ROLES and not store.query_value(
                "SELECT count(*) FROM committee_member WHERE user_name = ?", [user.user_name]):
            add_member(store, user_name=user.user_name, actor=admin)


# --- evidence --------------------------------------------------------------------------------------------------
def _stage_of(store: GovernanceStore, *, model: str, version: str) -> str:
    stage = store.query_value("SELECT stage FROM model_version WHERE model = ? AND version = ?", [model, version])
    if stage is None:
        raise InvalidInputError(UNKNOWN_VERSION.format(model=model, version=version))
    return stage


def next_stage(stage: str) -> str | None:
    """The gate a version in `stage` may be reviewed for; None at the last stage."""
    if stage not in STAGES or stage == STAGES[-1]:
        return None
    return STAGES[STAGES.index(stage) + 1]


def _check_gate(*, model: str, version: str, stage: str, gate: str, what: str) -> None:
    if gate not in STAGES[1:]:
        raise InvalidInputError(BAD_GATE.format(known=", ".join(STAGES[1:]), value=gate))
    following = next_stage(stage)
    if following is None:
        raise InvalidInputError(NO_NEXT_STAGE.format(model=model, version=version, stage=stage,
                                                     what="reviewed for" if what == "requested" else "moved to"))
    if gate != following:
        raise InvalidInputError(NOT_NEXT_STAGE.format(model=model, version=version, stage=stage, next=following,
                                                      gate=gate, what=what))


def _newest_telemetry_day(store: GovernanceStore, *, model: str, version: str) -> date | None:
    last = telemetry_sources.query_rows(store, VERSION_NEWEST_SQL, {"model": model, "version": version})[0][0]
    return None if pd.isna(last) else pd.Timestamp(last).date()


def _audits(store: GovernanceStore, *, model: str, version: str) -> list[dict]:
    from governance.evidence.fairness import list_audits

    frame = list_audits(store, model=model, version=version)
    found = []
    for a in frame.sort_values("audit_id").to_dict("records"):
        found.append({"audit_id": a["audit_id"], "verdict": a["verdict"],
                      "criteria": {v: (None if pd.isna(a[v]) else int(a[v])) for v in ("pass", "fail", "inconclusive")},
                      "evidence_hash": a["evidence_hash"] if isinstance(a["evidence_hash"], str) else None,
                      "ran_at": None if pd.isna(a["ran_at"]) else _iso_naive(a["ran_at"])})
    return found


def _robustness(store: GovernanceStore, *, model: str, version: str) -> list[dict]:
    from governance.evidence.robustness import list_runs

    return [{k: r[k] for k in ("run_id", "verdict", "criteria", "evidence_hash", "ran_at")}
            for r in reversed(list_runs(store, model=model, version=version)) if r["status"] == "completed"]


def _explanation(store: GovernanceStore, *, model: str, version: str) -> dict:
    """The version's current explanation (its model file, data and settings match), never a stale one."""
    from governance.evidence.explanations import current_explanation   # shap: only when evidence is gathered

    found = current_explanation(store, model=model, version=version)
    if found.explanation is None:
        return {"note": found.reason}
    summary = found.explanation
    return {"explanation_id": summary["explanation_id"], "explainer": summary.get("explainer"),
            "rows": summary.get("rows_explained"), "computed_at": summary["computed_at"],
            "top_features": [{"feature": g["feature"], "mean_abs_shap": float(g["mean_abs_shap"])}
                             for g in summary.get("global", [])[:TOP_FEATURES]]}


def kpi_window(as_of: date):
    from governance.monitoring.kpis import Window

    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return Window(end - pd.Timedelta(days=KPI_WINDOW_DAYS), end)


def _version_breaches(store: GovernanceStore, *, model: str, version: str, window) -> list[dict]:
    from governance.monitoring.service_levels import slo_breaches

    # burn-rate breaches judged on hourly counts; "periods" is the days a breach touches, as the frozen evidence
    # has always counted them, and start/end stay dates (end: the day after the last hour in breach, if it ends
    # at midnight; else its own day)
    return [{"kpi": b.kpi, "start": str(b.start.date()), "end": str(b.end.date()), "periods": b.days,
             "hours": b.hours, "worst": b.as_dict()["worst"], "target": float(b.target), "rule": b.rule,
             "peak_burn": b.as_dict()["peak_burn"]}
            for b in slo_breaches(store, model=model, window=window, version=version) if b.version == version]


def _kpis(store: GovernanceStore, *, model: str, version: str, as_of: date, has_telemetry: bool) -> dict:
    from governance.monitoring.kpis import kpi_summary

    window = kpi_window(as_of)
    snapshot = {"window": {"from": str(window.start.date()), "to": str(as_of), "days": KPI_WINDOW_DAYS}}
    if not has_telemetry:
        return {**snapshot, "note": "no telemetry of this version"}
    summary = kpi_summary(store, model=model, window=window, version=version)
    summary = summary[summary["version"] == version]
    if summary.empty or not summary["n"].sum():
        return {**snapshot, "note": "no telemetry of this version in the window"}
    row = summary.iloc[0]
    return {**snapshot, "predictions": int(row["n"]), "accuracy": _plain(row["accuracy"]),
            "latency_p95_ms": _plain(row["latency_p95_ms"]), "error_rate": _plain(row["error_rate"]),
            "label_coverage": _plain(row["label_coverage"]),
            "breaches": _version_breaches(store, model=model, version=version, window=window)}


_DRIFT_MEMO: dict[tuple, pd.DataFrame] = {}
_DRIFT_MEMO_SIZE = 64
_DRIFT_MEMO_LOCK = threading.Lock()


def drift_periods(store: GovernanceStore, *, model: str, version: str, until: date | None = None) -> pd.DataFrame:
    """Weekly drift periods of the version's telemetry (up to and including `until`), or an empty frame.

    Kept while the data is the same (the workspace's data version and the telemetry sources' freshness): every
    review's validity, the gate, the alerts and the retraining policy ask for the same few versions."""
    key = (str(store.path), store.data_version(), telemetry_sources.freshness(store), model, version, until)
    with _DRIFT_MEMO_LOCK:
        found = _DRIFT_MEMO.get(key)
    if found is None:
        found = _drift_periods(store, model=model, version=version, until=until)
        with _DRIFT_MEMO_LOCK:
            while len(_DRIFT_MEMO) >= _DRIFT_MEMO_SIZE:
                _DRIFT_MEMO.pop(next(iter(_DRIFT_MEMO)))
            _DRIFT_MEMO[key] = found
    return found.copy()


def _drift_periods(store: GovernanceStore, *, model: str, version: str, until: date | None) -> pd.DataFrame:
    from governance.monitoring.drift import drift_report
    from governance.monitoring.kpis import Window, data_window

    span = data_window(store, model=model)
    if span is None:
        return pd.DataFrame(columns=["period", "feature", "status", "psi"])
    end = span.end if until is None else min(span.end, pd.Timestamp(until) + pd.Timedelta(days=1))
    if end <= span.start:
        return pd.DataFrame(columns=["period", "feature", "status", "psi"])
    report = drift_report(store, model=model, version=version, grain="week", current=Window(span.start, end))
    return report.periods


def _drift(store: GovernanceStore, *, model: str, version: str, as_of: date, has_telemetry: bool) -> dict:
    if not has_telemetry:
        return {"note": "no telemetry of this version", "features": []}
    try:
        periods = drift_periods(store, model=model, version=version, until=as_of)
    except GovernanceError as exc:
        return {"note": f"drift not computed: {exc}", "features": []}
    flagged = periods[periods["status"].isin(["watch", "act"])]
    features = []
    for feature, group in flagged.groupby("feature", sort=True):
        worst = "act" if (group["status"] == "act").any() else "watch"
        at_worst = group[group["status"] == worst]
        features.append({"feature": feature, "status": worst, "first_period": str(pd.Timestamp(
            at_worst["period"].min()).date()), "periods": int(len(at_worst)), "max_psi": _plain(group["psi"].max())})
    return {"grain": "week", "until": str(as_of), "features": features}


def _risks(store: GovernanceStore, *, model: str, version: str) -> list[dict]:
    from governance.decisions.risks import list_risks

    return [{"risk_id": r["risk_id"], "title": r["title"], "category": r["category"],
             "inherent_level": r["inherent_level"], "status": r["status"]}
            for r in list_risks(store, model=model, version=version) if r["status"] not in CLOSED_RISK]


def gather_evidence(store: GovernanceStore, *, model: str, version: str, as_of: date) -> dict:
    """What the committee reviews, as it stands at `as_of`: plain JSON values, frozen into the request."""
    has_telemetry = bool(telemetry_sources.query_rows(store, VERSION_BEFORE_SQL, {
        "model": model, "version": version, "end": pd.Timestamp(as_of) + pd.Timedelta(days=1)})[0][0])
    return {"model": model, "version": version, "as_of": str(as_of),
            "fairness_audits": _audits(store, model=model, version=version),
            "robustness_runs": _robustness(store, model=model, version=version),
            "explanation": _explanation(store, model=model, version=version),
            "kpis": _kpis(store, model=model, version=version, as_of=as_of, has_telemetry=has_telemetry),
            "drift": _drift(store, model=model, version=version, as_of=as_of, has_telemetry=has_telemetry),
            "open_risks": _risks(store, model=model, version=version)}


# --- reading the ledger ----------------------------------------------------------------------------------------
def _requests(store: GovernanceStore) -> list[dict]:
    return ledger.entries(store, kind="review_request")


def _check_review_id(review_id) -> str:
    text = (review_id or "").strip() if isinstance(review_id, str) else ""
    if not _REVIEW_ID.match(text):
        raise InvalidInputError(UNKNOWN_REVIEW.format(review_id=review_id))
    return text


def _events(store: GovernanceStore, review_id: str) -> dict:
    """The ledger entries of one review, sorted by kind (each list oldest first)."""
    found = ledger.entries(store, subject=review_id)
    by_kind: dict[str, list] = {"review_request": [], "signature": [], "decision": [], "condition_update": []}
    for entry in found:
        by_kind.setdefault(entry["kind"], []).append(entry)
    if not by_kind["review_request"]:
        raise InvalidInputError(UNKNOWN_REVIEW.format(review_id=review_id))
    return by_kind


def _votes(signatures: list[dict]) -> dict[str, dict]:
    """One vote per person: the first signature counts (the service never records a second)."""
    votes: dict[str, dict] = {}
    for entry in signatures:
        votes.setdefault(entry["payload"]["user_name"], {**entry["payload"], "seq": entry["seq"],
                                                         "entry_hash": entry["entry_hash"]})
    return votes


def tally(*, votes: dict[str, dict], committee: list[dict], rule: dict) -> dict:
    """The decision rule (see the module docstring) over votes by user name and the committee's members."""
    roles = {m["user_name"]: m["role"] for m in committee}
    roles.update({name: v["role"] for name, v in votes.items()})
    recused = {name for name, v in votes.items() if v["vote"] == "recuse"}
    electorate = set(roles) - recused
    cast = {name: v["vote"] for name, v in votes.items() if v["vote"] != "recuse"}
    counts = {vote: sum(1 for v in cast.values() if v == vote) for vote in VOTES if vote != "recuse"}
    counts["recuse"] = len(recused)
    approvals = counts["approve"] + counts["approve_with_conditions"]
    rejections = counts["reject"]
    remaining = len(electorate - set(votes))
    chairs = {name for name in electorate if roles[name] == "committee chair"}
    chair_cast = bool(chairs & set(cast))
    chair_ok = not rule["chair_required"] or not chairs or chair_cast
    quorum = bool(electorate) and len(cast) > rule["quorum_fraction"] * len(electorate) and chair_ok
    outcome = None
    if quorum:
        if approvals > rejections + remaining:
            conditional = any(v["vote"] == "approve_with_conditions" for v in votes.values())
            outcome = "approved_with_conditions" if conditional else "approved"
        elif approvals + remaining <= rejections:
            outcome = "rejected"
    return {"members": len(electorate), "cast": len(cast), "approvals": approvals, "rejections": rejections,
            "abstentions": counts["abstain"], "recusals": len(recused), "remaining": remaining,
            "counts": counts, "quorum": quorum, "chair_voted": chair_cast, "outcome": outcome}


def _decision_payload(*, review_id: str, request: dict, votes: dict[str, dict], result: dict, rule: dict) -> dict:
    decided = clock.now()
    outcome = result["outcome"]
    approving = outcome != "rejected"
    against = ("reject",) if approving else ("approve", "approve_with_conditions")
    ordered = sorted(votes.values(), key=lambda v: v["seq"])
    conditions = []
    if approving:
        for v in ordered:
            for c in v["conditions"]:
                conditions.append({"condition_id": f"{review_id}-C{len(conditions) + 1}", "text": c["text"],
                                   "owner": c["owner"], "due": c["due"], "status": "open",
                                   "set_by": v["user_name"]})
    return {"review_id": review_id, "outcome": outcome, "tally": result,
            "voters": [{"user_name": v["user_name"], "printed_name": v["printed_name"], "role": v["role"],
                        "vote": v["vote"]} for v in ordered],
            "dissent": [{"user_name": v["user_name"], "printed_name": v["printed_name"], "vote": v["vote"],
                         "reason": v["reason"]} for v in ordered if v["vote"] in against],
            "conditions": conditions, "decided_at": _iso(decided),
            "valid_until": str(decided.date() + timedelta(days=rule["decision_validity_days"])),
            "evidence_hash": request["evidence_hash"], "as_of": request["as_of"],
            "model": request["model"], "version": request["version"], "gate": request["gate"]}


# --- requesting ------------------------------------------------------------------------------------------------
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
    actor = _fresh(store, actor)
    identity.require(actor, "request review")
    if idempotency_key:
        done = ledger.entries(store, kind="review_request")
        for entry in done:
            if entry["idempotency_key"] == idempotency_key:
                return review(store, review_id=entry["subject"])
    stage = _stage_of(store, model=model, version=version)
    _check_gate(model=model, version=version, stage=stage, gate=gate, what="requested")
    if not members(store):
        raise InvalidInputError(EMPTY_COMMITTEE)
    if as_of is None:
        as_of = _newest_telemetry_day(store, model=model, version=version) or clock.today()
    as_of = _date(as_of, "as_of")
    evidence = gather_evidence(store, model=model, version=version, as_of=as_of)
    digest = evidence_hash(evidence)
    with store.write() as tx:
        if _stage_of(store, model=model, version=version) != stage:
            raise InvalidInputError(NOT_NEXT_STAGE.format(model=model, version=version, stage=stage,
                                                          next=next_stage(stage), gate=gate, what="requested"))
        already = _open_review(store, model=model, version=version, gate=gate)
        if already:
            raise InvalidInputError(OPEN_REVIEW.format(review_id=already, model=model, version=version, gate=gate))
        number = store.query_value("SELECT count(*) FROM ledger WHERE kind = 'review_request'") + 1
        review_id = f"RV-{number:04d}"
        ledger.append(store, actor=actor.recorded_as, kind="review_request", subject=review_id,
                      payload={"review_id": review_id, "model": model, "version": version, "from_stage": stage,
                               "gate": gate, "as_of": str(as_of), "evidence": evidence, "evidence_hash": digest,
                               "requested_by": actor.signature_name, "requested_by_user": actor.user_name},
                      idempotency_key=idempotency_key or f"review_request:{review_id}", tx=tx)
    ledger.refresh_anchor(store)
    return review(store, review_id=review_id)


# --- voting ----------------------------------------------------------------------------------------------------
def _conditions(store: GovernanceStore, vote: str, conditions, *, today: date) -> list[dict]:
    conditions = list(conditions or ())
    if vote != "approve_with_conditions":
        if conditions:
            raise InvalidInputError(CONDITIONS_ONLY_WITH.format(vote=vote))
        return []
    if not conditions:
        raise InvalidInputError(NEEDS_CONDITIONS)
    checked = []
    for c in conditions:
        if not isinstance(c, dict) or set(c) - {"text", "owner", "due"}:
            raise InvalidInputError(BAD_CONDITION.format(value=c))
        text = _text(c.get("text"), "condition", limit=MAX_CONDITION)
        owner = _text(c.get("owner"), "condition owner", limit=identity.MAX_NAME)
        try:
            owner = identity.get_user(store, user_name=owner).user_name
        except GovernanceError:
            raise InvalidInputError(UNKNOWN_OWNER.format(name=owner)) from None
        due = _date(c.get("due"), "condition due date")
        if due < today:
            raise InvalidInputError(DUE_IN_PAST.format(due=due, today=today))
        checked.append({"text": text, "owner": owner, "due": str(due)})
    return checked


def reauthentication_method(store: GovernanceStore, *, signer: User, where: str) -> str:
    """How `signer` proves at signing time that they are there: the one rule the Sign-offs page and the CLI share.

    A local account re-enters its password (in the app, at a terminal or through the server). An account of the
    identity provider signs in the app, on a sign-in from the last SIGNING_FRESHNESS_SECONDS (no terminal can show
    that). A demo person signs without a password, only in the demo workspace and not through a server: a token
    proves its account, not that anyone is at the keyboard. `where`: "app", "terminal" or "server".
    Returns "password", "oidc" or "demo" (the `reauth` method `vote` then checks), or refuses saying where to sign."""
    if where not in SIGNING_PLACES:
        raise ValueError(f"where must be one of {SIGNING_PLACES}, got {where!r}")
    if signer.source == "local":
        return "password"
    if signer.source == "oidc" and where == "app":
        return "oidc"
    if signer.source == "demo" and where != "server" and identity.is_demo_workspace(store):
        return "demo"
    raise PermissionDeniedError(CANNOT_SIGN_HERE.format(who=signer.user_name))


def reauthenticate(store: GovernanceStore, *, actor: User, reauth) -> str:
    """Confirm the signer is present now; returns the method used. See `vote`."""
    if not isinstance(reauth, dict) or reauth.get("method") not in ("password", "oidc", "demo"):
        raise PermissionDeniedError(REAUTH_NEEDED)
    method = reauth["method"]
    if method == "password":
        if actor.source != "local":
            how = "through the identity provider" if actor.source == "oidc" else "as a demo user"
            fix = "sign in again" if actor.source == "oidc" else "use the demo sign-off"
            raise PermissionDeniedError(REAUTH_METHOD.format(who=actor.user_name, how=how, fix=fix))
        try:
            confirmed = identity.authenticate(store, user_name=actor.user_name, password=reauth.get("password") or "")
        except identity.SignInError:
            raise PermissionDeniedError(REAUTH_PASSWORD) from None
        if confirmed.user_name != actor.user_name:
            raise PermissionDeniedError(REAUTH_OTHER_USER.format(other=confirmed.user_name, who=actor.user_name))
        return "password"
    if method == "oidc":
        if actor.source != "oidc":
            raise PermissionDeniedError(REAUTH_METHOD.format(
                who=actor.user_name, how="with a password" if actor.source == "local" else "as a demo user",
                fix="re-enter your password" if actor.source == "local" else "use the demo sign-off"))
        signed_in_at = reauth.get("signed_in_at")
        if isinstance(signed_in_at, bool) or not isinstance(signed_in_at, (int, float)):
            raise PermissionDeniedError(REAUTH_NEEDED)
        age = time.time() - float(signed_in_at)
        if age > SIGNING_FRESHNESS_SECONDS or age < -60:  # a minute of clock skew either way, no more
            raise PermissionDeniedError(REAUTH_STALE.format(minutes=max(0, round(age / 60)),
                                                            limit=SIGNING_FRESHNESS_SECONDS // 60))
        return "oidc"
    if actor.source != "demo" or not identity.is_demo_workspace(store):
        raise PermissionDeniedError(REAUTH_DEMO)
    return "demo"


def vote(store: GovernanceStore, *, review_id: str, actor: User, vote: str, reason: str, conditions=(),
         reauth: dict | None = None, idempotency_key: str | None = None) -> dict:
    """Sign a review: one vote per committee member, bound to the request's evidence hash.

    vote       approve, approve_with_conditions, reject, abstain or recuse
    reason     why, in the signer's words (required, at most 2,000 characters)
    conditions with approve_with_conditions only, at least one: {text, owner (a user name), due (ISO date)}
    reauth     proof the signer is present now: {"method": "password", "password": …} for local accounts,
               {"method": "oidc", "signed_in_at": epoch seconds} within SIGNING_FRESHNESS_SECONDS for accounts of
               the identity provider, {"method": "demo"} for demo users in the demo workspace
    Returns {"signature", "decision" (None while open), "retried"}. Submitting the very same vote again (a
    retry) returns the first signature; any other second vote is refused.
    """
    identity.require(actor, "vote")
    review_id = _check_review_id(review_id)
    if vote not in VOTES:
        raise InvalidInputError(BAD_VOTE.format(known=", ".join(VOTES), value=vote))
    reason = _text(reason, "reason", limit=MAX_REASON)
    checked = _conditions(store, vote, conditions, today=clock.today())
    signer = _fresh(store, actor)
    identity.require(signer, "vote")
    method = reauthenticate(store, actor=signer, reauth=reauth)
    with store.write() as tx:
        events = _events(store, review_id)
        request = events["review_request"][0]["payload"]
        votes = _votes(events["signature"])
        mine = votes.get(signer.user_name)
        if mine is not None:
            same = (mine["vote"], mine["reason"], mine["conditions"]) == (vote, reason, checked)
            if same and (idempotency_key is None or mine.get("submission") in (None, idempotency_key)):
                decision = events["decision"][0]["payload"] if events["decision"] else None
                return {"signature": mine, "decision": decision, "retried": True}
            raise InvalidInputError(ALREADY_VOTED.format(review_id=review_id, vote=mine["vote"], at=mine["signed_at"]))
        if not on_committee(store, user_name=signer.user_name):
            raise PermissionDeniedError(NOT_ON_COMMITTEE.format(who=signer.display_name, role=signer.role))
        if events["decision"]:
            d = events["decision"][0]["payload"]
            raise InvalidInputError(ALREADY_DECIDED.format(review_id=review_id, outcome=d["outcome"],
                                                           at=d["decided_at"]))
        payload = {"review_id": review_id, "evidence_hash": request["evidence_hash"], "user_name": signer.user_name,
                   "printed_name": signer.display_name, "role": signer.role, "meaning": MEANINGS[vote],
                   "vote": vote, "reason": reason, "conditions": checked, "signed_at": _iso(clock.now()),
                   "auth_method": method}
        if idempotency_key:
            payload["submission"] = idempotency_key
        entry = ledger.append(store, actor=signer.recorded_as, kind="signature", subject=review_id,
                              payload=payload, idempotency_key=f"signature:{review_id}:{signer.user_name}", tx=tx)
        votes[signer.user_name] = {**payload, "seq": entry["seq"], "entry_hash": entry["entry_hash"]}
        rule = rules(store)
        result = tally(votes=votes, committee=members(store), rule=rule)
        decision = None
        if result["outcome"]:
            decision = _decision_payload(review_id=review_id, request=request, votes=votes, result=result, rule=rule)
            ledger.append(store, actor=signer.recorded_as, kind="decision", subject=review_id, payload=decision,
                          idempotency_key=f"decision:{review_id}", tx=tx)
    ledger.refresh_anchor(store)
    return {"signature": votes[signer.user_name], "decision": decision, "retried": False}


# --- conditions ------------------------------------------------------------------------------------------------
def update_condition(store: GovernanceStore, *, condition_id: str, status: str, reason: str, actor: User) -> dict:
    """Mark a condition of an approval met or waived, with a reason."""
    identity.require(actor, "update condition")
    actor = _fresh(store, actor)
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
            events = _events(store, review_id)
        except InvalidInputError:
            raise InvalidInputError(UNKNOWN_CONDITION.format(condition_id=condition_id)) from None
        decision = events["decision"][0]["payload"] if events["decision"] else {"conditions": []}
        condition = next((c for c in decision["conditions"] if c["condition_id"] == condition_id), None)
        if condition is None:
            raise InvalidInputError(UNKNOWN_CONDITION.format(condition_id=condition_id))
        # Whoever gains from a condition being closed (its owner, who reports on it, and whoever asked for the
        # review, who moves the version on it) does not close it alone: a second person checks and gives the reason
        # the committee reads beside the condition.
        request = events["review_request"][0]["payload"]
        if actor.user_name in (condition["owner"], request.get("requested_by_user")):
            why = "owns" if actor.user_name == condition["owner"] else f"requested {review_id}, which set"
            raise InvalidInputError(OWN_CONDITION.format(who=actor.display_name, why=why, condition_id=condition_id,
                                                         status=status))
        for update in events["condition_update"]:
            if update["payload"]["condition_id"] == condition_id:
                raise InvalidInputError(CONDITION_CLOSED.format(condition_id=condition_id,
                                                                status=update["payload"]["status"],
                                                                at=update["payload"]["updated_at"]))
        ledger.append(store, actor=actor.recorded_as, kind="condition_update", subject=review_id,
                      payload={"review_id": review_id, "condition_id": condition_id, "status": status,
                               "reason": reason, "updated_by": actor.signature_name, "updated_at": _iso(clock.now())},
                      idempotency_key=f"condition_update:{condition_id}", tx=tx)
    ledger.refresh_anchor(store)
    return review(store, review_id=review_id)


# --- the folded state ------------------------------------------------------------------------------------------
class _Newer:
    """Evidence after a decision's as_of, computed once per version for however many reviews ask."""

    def __init__(self, store: GovernanceStore):
        self.store = store
        self._cache: dict = {}

    def failing_audits(self, model: str, version: str) -> list[dict]:
        key = ("audits", model, version)
        if key not in self._cache:
            self._cache[key] = [a for a in _audits(self.store, model=model, version=version) if a["verdict"] == "fail"]
        return self._cache[key]

    def breaches(self, model: str, version: str) -> list[dict]:
        key = ("breaches", model, version)
        if key not in self._cache:
            from governance.monitoring.kpis import data_window

            span = data_window(self.store, model=model)
            self._cache[key] = ([] if span is None else
                                _version_breaches(self.store, model=model, version=version, window=span))
        return self._cache[key]

    def drift_act(self, model: str, version: str) -> pd.DataFrame:
        key = ("drift", model, version)
        if key not in self._cache:
            try:
                periods = drift_periods(self.store, model=model, version=version)
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
    events = _events(store, review_id)
    request_entry = events["review_request"][0]
    request = request_entry["payload"]
    votes = _votes(events["signature"])
    decision_entry = events["decision"][0] if events["decision"] else None
    decision = decision_entry["payload"] if decision_entry else None
    updates = {u["payload"]["condition_id"]: u["payload"] for u in events["condition_update"]}
    conditions = []
    for c in (decision or {}).get("conditions", []):
        update = updates.get(c["condition_id"])
        status = update["status"] if update else "open"
        conditions.append({**c, "status": status, "overdue": status == "open" and c["due"] < str(today),
                           "updated_by": update["updated_by"] if update else None,
                           "updated_at": update["updated_at"] if update else None,
                           "update_reason": update["reason"] if update else None})
    result = tally(votes=votes, committee=members(store), rule=rules(store)) if decision is None else decision["tally"]
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


def review(store: GovernanceStore, *, review_id: str, today: date | None = None) -> dict:
    """One review folded from its ledger entries: request, frozen evidence, votes, decision, conditions,
    validity."""
    return _fold(store, _check_review_id(review_id), today=today or clock.today(), newer=_Newer(store))


def _summary(state: dict) -> dict:
    return {k: state[k] for k in ("review_id", "model", "version", "from_stage", "gate", "as_of", "requested_by",
                                  "requested_at", "status", "evidence_hash")} | {
        "votes": len(state["votes"]), "outcome": (state["decision"] or {}).get("outcome"),
        "decided_at": (state["decision"] or {}).get("decided_at"),
        "valid_until": (state["decision"] or {}).get("valid_until"),
        "validity": state["validity"]["state"], "flagged": state["validity"]["flagged"],
        "open_conditions": sum(1 for c in state["conditions"] if c["status"] == "open")}


def list_reviews(store: GovernanceStore, *, model: str | None = None, version: str | None = None,
                 today: date | None = None) -> list[dict]:
    """Summaries of every review (of a model, or one version), newest first."""
    newer, today = _Newer(store), today or clock.today()
    found = []
    for entry in reversed(_requests(store)):
        p = entry["payload"]
        if (model is None or p["model"] == model) and (version is None or p["version"] == version):
            found.append(_summary(_fold(store, entry["subject"], today=today, newer=newer)))
    return found


def on_committee(store: GovernanceStore, *, user_name: str) -> bool:
    return bool(store.query_value("SELECT count(*) FROM committee_member WHERE user_name = ?", [user_name]))


def why_no_vote(store: GovernanceStore, *, review: dict, user: User) -> str | None:
    """None when `user` may sign `review` (as `review` folds it) now, else why not: the eligibility the Sign-offs
    page shows, from the same facts `vote` checks (an open review, one signature each, a voting role, a seat on the
    committee)."""
    if review["status"] != "open":
        return VOTES_CLOSED
    if any(v["user_name"] == user.user_name for v in review["votes"]):
        return SIGNED_ALREADY
    if not identity.allowed(user, "vote"):
        return NOT_A_VOTER.format(role=user.role)
    if not on_committee(store, user_name=user.user_name):
        return NOT_ON_COMMITTEE.format(who=user.display_name, role=user.role)
    return None


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


# --- moving a version ------------------------------------------------------------------------------------------
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


def advance_stage(store: GovernanceStore, *, model: str, version: str, to_stage: str, actor: User, reason: str,
                  today: date | None = None) -> dict:
    """Move a version to its next stage, on a valid committee approval for that gate; every obstacle is listed."""
    identity.require(actor, "change stage")
    actor = _fresh(store, actor)
    identity.require(actor, "change stage")
    reason = _text(reason, "reason", limit=MAX_REASON)
    today = today or clock.today()
    stage = _stage_of(store, model=model, version=version)
    _check_gate(model=model, version=version, stage=stage, gate=to_stage, what="entered")
    state, reasons = approval_for_gate(store, model=model, version=version, gate=to_stage, today=today)
    if state is not None and state["decision"]["outcome"] != "rejected" and any(
            e["payload"].get("review_id") == state["review_id"] for e in ledger.entries(store, kind="stage_change")):
        reasons = [f"{state['review_id']} was already used to move {model} {version} to {to_stage!r}: "
                   "request a new review"]
    if reasons:
        raise InvalidInputError(ADVANCE_REFUSED.format(model=model, version=version, stage=to_stage,
                                                       reasons="; ".join(reasons)))
    # The same answer as the gate pipelines ask (release_gate imports this module, hence the late import): a valid
    # approval is not enough when the validation checklist is open or a blocking risk is.
    from governance.decisions.release_gate import gate_findings

    findings = gate_findings(store, model=model, version=version, stage=to_stage, today=today)
    if not findings["ok"]:
        raise InvalidInputError(GATE_REFUSED.format(model=model, version=version, stage=to_stage,
                                                    reasons="; ".join(findings["reasons"])))
    review_id = state["review_id"]
    with store.write() as tx:
        if _stage_of(store, model=model, version=version) != stage:
            raise InvalidInputError(ADVANCE_REFUSED.format(model=model, version=version, stage=to_stage,
                                                           reasons="its stage changed meanwhile; try again"))
        tx.execute("UPDATE model_version SET stage = ? WHERE model = ? AND version = ?", [to_stage, model, version])
        entry = ledger.append(store, actor=actor.recorded_as, kind="stage_change", subject=f"{model} {version}",
                              payload={"model": model, "version": version, "from_stage": stage, "to_stage": to_stage,
                                       "review_id": review_id, "evidence_hash": state["evidence_hash"],
                                       "reason": reason, "changed_by": actor.signature_name,
                                       "changed_at": _iso(clock.now()), "gate": {"ok": True, "reasons": []}},
                              idempotency_key=f"stage_change:{model}:{version}:{to_stage}:{review_id}", tx=tx)
    ledger.refresh_anchor(store)
    return entry["payload"]
