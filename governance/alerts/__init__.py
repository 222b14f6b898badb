"""Alerts: the conditions that need someone's attention, as episodes that open once, escalate, and close.

`check` evaluates every rule now: service-level breaches, drift at 'act', KPI anomalies, failing fairness audits
and robustness runs, overdue risk controls and decision conditions, decisions that are stale or expire within 30
days, and a ledger that fails verification. Each finding has a key naming the condition and when it began; a key
already open is not sent again unless its severity rose, and an open episode whose condition is gone is closed.
New and escalated episodes are queued for their recipients in the outbox (alert_delivery), which sends and
retries them. The rules per model (on or off, severity, recipients, the anomaly sensitivity, how early an expiring
decision is announced) are recorded in the ledger; until a model has its own, DEFAULT_RULES apply: each condition
goes to the role that acts on it. A recipient is a role (everyone in it), an account (its e-mail
address), an e-mail address or a webhook URL; whoever cannot be reached is listed in the check's result.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, fields
from datetime import date, datetime, timedelta

import pandas as pd

from governance.access import identity
from governance.access.identity import User
from governance.alerts.delivery import (DEFAULT_BASE_URL, check_webhook_url, deliver_pending, enqueue,
                                        settings_from_files)
from governance.decisions import review_state, risks
from governance.decisions.release_gate import standing_fairness_result
from governance.errors import InvalidInputError
from governance.evidence import version_drift
from governance.evidence.fairness import list_audits
from governance.evidence.robustness import list_runs
from governance.monitoring.anomalies import kpi_anomalies
from governance.monitoring.drift import JUDGED, judged_period
from governance.monitoring.inventory import list_versions, require_model
from governance.monitoring.kpis import Window, data_window
from governance.monitoring.performance_estimate import estimate_breaches
from governance.monitoring.service_levels import KPIS, slo_breaches
from governance.record import clock, ledger, verification
from governance.record.repositories import alerts as alert_records
from governance.record.store import GovernanceStore

SEVERITIES = ("info", "warning", "critical")
WHATS = ("slo_breach", "estimate_breach", "drift_act", "anomaly", "fairness_fail", "robustness_fail",
         "overdue_control", "overdue_condition", "decision_stale", "ledger_broken")
# Each condition goes, until a model's rules say otherwise, to the role that acts on it.
DEFAULT_RULES = {what: {"enabled": True, "severity": severity, "recipients": [role]} for what, severity, role in (
    ("slo_breach", "critical", "engineering leader"), ("estimate_breach", "warning", "engineering leader"),
    ("drift_act", "warning", "engineering leader"),
    ("anomaly", "warning", "engineering leader"), ("fairness_fail", "critical", "committee chair"),
    ("robustness_fail", "warning", "engineering leader"), ("overdue_control", "warning", "risk owner"),
    ("overdue_condition", "critical", "committee chair"), ("decision_stale", "warning", "committee chair"),
    ("ledger_broken", "critical", "admin"))}
# The rules' own thresholds; SLO targets and drift thresholds are set with the service levels and drift settings.
THRESHOLDS = {"anomaly": ("sensitivity", 4.0, 2.0, 10.0, "spreads from the expected value"),
              "decision_stale": ("days_ahead", 30, 1, 365, "days before a decision expires")}
for _what, (_name, _default, *_) in THRESHOLDS.items():
    DEFAULT_RULES[_what][_name] = _default
WHAT_WORDS = {"slo_breach": "service level breached",
              "estimate_breach": "estimated performance below its objective before labels arrived",
              "drift_act": "feature drift at 'act'",
              "anomaly": "KPI anomaly", "fairness_fail": "fairness audit fails",
              "robustness_fail": "robustness run fails", "overdue_control": "risk control overdue",
              "overdue_condition": "decision condition overdue",
              "decision_stale": "decision stale, expired or expiring", "ledger_broken": "ledger fails verification"}
# Judged per day, and per hour where an hour is enough to hurt users (labels arrive too late for hourly accuracy).
ANOMALY_KPIS = {"day": ("latency_p95_ms", "error_rate", "accuracy"), "hour": ("latency_p95_ms", "error_rate")}
WINDOW_DAYS = 30
BAD_RECIPIENT = ("{value!r} is not a recipient: give a role ({roles}), an account's user name, an e-mail address "
                 "or a webhook URL (https://…)")


# --- rules -------------------------------------------------------------------------------------------------------
def rules(store: GovernanceStore, *, model: str, before: datetime | None = None) -> dict:
    """The rules in force for a model: the newest recorded (before `before`, naive UTC, to read them as they stood
    then), over the defaults."""
    recorded = ledger.entries(store, kind="alert_rules", subject=model, before=before)
    merged = {what: dict(rule) for what, rule in DEFAULT_RULES.items()}
    if recorded:
        for what, rule in recorded[-1]["payload"]["rules"].items():
            merged[what].update(rule)
    return merged


def set_rules(store: GovernanceStore, *, model: str, changes: dict, actor: User) -> dict:
    """Record a model's alert rules ({what: {enabled, severity, recipients}}); leaders and admins.

    The changes are checked first (a webhook's host is looked up then, outside the write); the rules in force are
    read, merged and recorded inside one write, so that two edits at the same moment both count."""
    identity.require(actor, "configure monitoring")
    require_model(store, model=model)
    checked = {}
    for what, rule in changes.items():
        if what not in WHATS:
            raise InvalidInputError(f"unknown alert {what!r}; the alerts are {', '.join(WHATS)}")
        if "severity" in rule and rule["severity"] not in SEVERITIES:
            raise InvalidInputError(f"severity must be one of {', '.join(SEVERITIES)}, got {rule['severity']!r}")
        rule = dict(rule)
        if "recipients" in rule:
            if not isinstance(rule["recipients"], list):
                raise InvalidInputError("recipients must be a list")
            rule["recipients"] = [_checked_recipient(store, r) for r in rule["recipients"]]
        if what in THRESHOLDS and THRESHOLDS[what][0] in rule:
            name, _, low, high, words = THRESHOLDS[what]
            try:
                value = float(rule[name])
            except (TypeError, ValueError):
                value = float("nan")
            if not low <= value <= high:
                raise InvalidInputError(f"{what} {name} ({words}) must be a number from {low} to {high}, "
                                        f"got {rule[name]!r}")
            rule[name] = value
        kept = ("enabled", "severity", "recipients") + ((THRESHOLDS[what][0],) if what in THRESHOLDS else ())
        checked[what] = {k: v for k, v in rule.items() if k in kept}
    with store.write() as tx:   # read, merge and record under the write lock: no edit overwrites another
        current = rules(store, model=model)
        for what, rule in checked.items():
            current[what].update(rule)
        entry = ledger.append(store, actor=actor.recorded_as, kind="alert_rules", subject=model,
                              payload={"model": model, "rules": current, "set_by": actor.signature_name},
                              idempotency_key=f"alert_rules:{model}:{uuid.uuid4().hex}")
    return entry["payload"]


SCHEDULE_BOUNDS = (5, 1440)
DEFAULT_SCHEDULE_MINUTES = 60
BAD_SCHEDULE = "the rules are checked every {low} to {high} minutes, got {value!r}"


def schedule(store: GovernanceStore, *, before: datetime | None = None) -> dict:
    """How often the server checks the rules: the newest recorded schedule (before `before`, naive UTC), else
    hourly."""
    recorded = ledger.entries(store, kind="alert_schedule", subject="workspace", before=before)
    if not recorded:
        return {"every_minutes": DEFAULT_SCHEDULE_MINUTES, "set_by": None, "set_at": None}
    newest = recorded[-1]
    return {"every_minutes": newest["payload"]["every_minutes"], "set_by": newest["actor"],
            "set_at": str(newest["recorded_at"])}


def set_schedule(store: GovernanceStore, *, every_minutes: int, actor: User) -> dict:
    """Record how often the server checks the rules; leaders and admins, in the ledger."""
    identity.require(actor, "configure monitoring")
    low, high = SCHEDULE_BOUNDS
    if isinstance(every_minutes, bool) or not isinstance(every_minutes, int) or not low <= every_minutes <= high:
        raise InvalidInputError(BAD_SCHEDULE.format(low=low, high=high, value=every_minutes))
    ledger.append(store, actor=actor.recorded_as, kind="alert_schedule", subject="workspace",
                  payload={"every_minutes": every_minutes}, idempotency_key=f"alert_schedule:{uuid.uuid4()}")
    return schedule(store)


def _checked_recipient(store: GovernanceStore, value) -> str:
    """A role, an account's user name, an e-mail address or a webhook URL, as given (stripped)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith(("https://", "http://")):
        return check_webhook_url(text)   # a non-public host is refused now, with how an admin allows it
    if text in identity.ROLES or any(c["user_name"] == text for c in identity.contacts(store)):
        return text
    try:
        if identity.checked_email(text):
            return text
    except InvalidInputError:
        pass
    raise InvalidInputError(BAD_RECIPIENT.format(value=value, roles=", ".join(identity.ROLES)))


def addresses(store: GovernanceStore, *, recipients: list[str]) -> tuple[list[str], list[str]]:
    """Where the recipients are reached now: (e-mail addresses and webhook URLs, who has no address). A role is
    every enabled account in it; an account is its e-mail address."""
    contacts = identity.contacts(store)
    reached, unreachable = [], []
    for r in recipients:
        people = [c for c in contacts if (c["role"] if r in identity.ROLES else c["user_name"]) == r]
        for person in people:
            if person["email"]:
                reached.append(person["email"])
            else:
                unreachable.append(f"{person['user_name']} (no e-mail address)")
        if people:
            continue
        if r in identity.ROLES:
            unreachable.append(f"{r} (no enabled account has this role)")
        elif "@" in r or r.startswith(("https://", "http://")):
            reached.append(r)
        else:
            unreachable.append(f"{r} (no enabled account)")
    return list(dict.fromkeys(reached)), list(dict.fromkeys(unreachable))


# --- findings ----------------------------------------------------------------------------------------------------
def _finding(*, key: str, model: str | None, what: str, title: str, link: str, evidence: dict) -> dict:
    return {"alert_key": key, "model": model, "what": what, "title": title, "link": link, "evidence": evidence}


def _monitoring(store: GovernanceStore, *, model: str, in_force: dict) -> list[dict]:
    span = data_window(store, model=model)
    if span is None:
        return []
    window = Window(span.end - pd.Timedelta(days=WINDOW_DAYS), span.end)
    found = []
    for b in slo_breaches(store, model=model, window=window):   # burn-rate breaches, judged hourly
        if b.end >= window.end - pd.Timedelta(days=1):   # still breached on the newest day: open
            found.append(_finding(key=f"{model}:slo:{b.version}:{b.kpi}:{b.start.date()}", model=model,
                                  what="slo_breach", link=f"kpis?model={model}",
                                  title=f"{model} {b.version}: {KPIS[b.kpi].label} objective breached since "
                                        f"{b.start:%Y-%m-%d %H:00} ({b.rule})",
                                  evidence={"worst": b.as_dict()["worst"], "target": b.target, "hours": b.hours,
                                            "peak_burn": b.as_dict()["peak_burn"],
                                            "detected_at": b.detected_at.isoformat()}))
    # Before labels arrive: the estimate from scores (CBPE) wholly below the objective on days with no label yet,
    # only where the calibration check holds. A model exactly on its objective is called below it on at most 2.5% of
    # such days if the interval holds (measured: benchmarks/performance_estimate.py).
    for b in estimate_breaches(store, model=model):
        found.append(_finding(key=f"{model}:estimate:{b.version}:{b.metric}:{b.first_day}", model=model,
                              what="estimate_breach", link=f"kpis?model={model}",
                              title=f"{model} {b.version}: {KPIS[b.metric].label} estimated at {b.estimate:.1%} "
                                    f"(95% interval up to {b.ci_high:.1%}) against an objective of "
                                    f"{b.target:.1%} on {b.days} day{'s' if b.days != 1 else ''} with no label yet, "
                                    f"from {b.first_day}",
                              evidence=b.as_dict()))
    for version in list_versions(store).query("model == @model and telemetry_rows > 0")["version"]:
        periods = version_drift.drift_periods(store, model=model, version=version)
        period = judged_period(periods)   # the latest complete week: a partial week never raises an alert
        if period is None:
            continue
        judged = periods[periods["status"].isin(JUDGED)]
        newest = periods[periods["period"] == period]
        for row in newest[newest["status"] == "act"].itertuples(index=False):
            started = judged[(judged["feature"] == row.feature) & (judged["status"] == "act")]["period"].min()
            found.append(_finding(key=f"{model}:drift:{version}:{row.feature}:{pd.Timestamp(started).date()}",
                                  model=model, what="drift_act", link=f"drift?model={model}",
                                  title=f"{model} {version}: {row.feature} drifted to 'act' (PSI {row.psi:.2f} "
                                        f"in the week of {period.date()})",
                                  evidence={"feature": row.feature, "psi": float(row.psi),
                                            "since": str(pd.Timestamp(started).date())}))
    sensitivity = in_force["anomaly"]["sensitivity"]
    for grain, kpis in ANOMALY_KPIS.items():
        for kpi in kpis:
            result = kpi_anomalies(store, model=model, kpi=kpi, grain=grain, sensitivity=sensitivity)
            judged = result["points"][result["points"]["score"].notna()]   # judged against its past
            for e in result["episodes"]:
                last = judged[judged["version"] == e["version"]]["period"].max()
                if pd.Timestamp(e["end"]) <= pd.Timestamp(last):   # a judged normal period came after: cleared
                    continue
                start = pd.Timestamp(e["start"])
                since = str(start.date()) if grain == "day" else start.strftime("%Y-%m-%d %H:00")
                found.append(_finding(key=f"{model}:anomaly:{e['version']}:{kpi}:{since}", model=model,
                                      what="anomaly", link=f"kpis?model={model}",
                                      title=f"{model} {e['version']}: {kpi} far from its expected value since "
                                            f"{since}{' UTC' if grain == 'hour' else ''}",
                                      evidence={"grain": grain, "worst": float(e["worst"]),
                                                "expected": float(e["expected"]), "score": float(e["score"])}))
    return found


def _evidence_findings(store: GovernanceStore, *, model: str, in_force: dict, today: date) -> list[dict]:
    found = []
    days_ahead = int(in_force["decision_stale"]["days_ahead"])
    audits = list_audits(store, model=model)
    for version in sorted(audits["version"].unique()) if len(audits) else []:
        # The standing result: a failure stays open until a pass under at least its criteria on at least as much
        # data, so a weaker audit that passes does not close it.
        standing = standing_fairness_result(store, model=model, version=version)
        if standing.failing:
            found.append(_finding(key=f"{model}:fairness:{standing.audit_id}", model=model, what="fairness_fail",
                                  link=f"fairness?audit={standing.audit_id}",
                                  title=f"{model} {version}: fairness audit {standing.audit_id} fails",
                                  evidence={"audit_id": standing.audit_id, "why": standing.why}))
    latest = {}
    for run in list_runs(store, model=model):   # newest first
        if run["status"] == "completed":
            latest.setdefault(run["version"], run)
    for version, run in latest.items():
        if run["verdict"] == "fail":
            found.append(_finding(key=f"{model}:robustness:{run['run_id']}", model=model, what="robustness_fail",
                                  link="signoffs", title=f"{model} {version}: robustness run {run['run_id']} fails",
                                  evidence={"run_id": run["run_id"], "criteria": run["criteria"]}))
    for r in risks.list_risks(store, model=model):
        for c in risks.overdue_controls(r, today=today):   # only open risks: one rule with the register
            found.append(_finding(key=f"{model}:control:{r['risk_id']}:{c['control_id']}:{c['due']}",
                                  model=model, what="overdue_control", link=f"risks?risk={r['risk_id']}",
                                  title=f"{r['risk_id']} control {c['control_id']} is overdue (due {c['due']}, "
                                        f"owner {c['owner']})", evidence={"risk_id": r["risk_id"], **c}))
    for summary in review_state.list_reviews(store, model=model, today=today):
        review = review_state.review(store, review_id=summary["review_id"], today=today)
        for c in review["conditions"]:
            if c.get("overdue"):
                found.append(_finding(key=f"{model}:condition:{c['condition_id']}:{c['due']}", model=model,
                                      what="overdue_condition", link=f"signoffs?review={summary['review_id']}",
                                      title=f"condition {c['condition_id']} of {summary['review_id']} is overdue "
                                            f"(due {c['due']}, owner {c['owner']})", evidence=c))
        valid_until = summary.get("valid_until")
        expiring = (summary["outcome"] or "").startswith("approved") and valid_until and \
            date.fromisoformat(valid_until[:10]) <= today + timedelta(days=days_ahead)
        if summary["validity"] in ("stale", "expired") or expiring:
            state = summary["validity"] if summary["validity"] in ("stale", "expired") else "expiring"
            found.append(_finding(key=f"{model}:decision:{summary['review_id']}:{state}", model=model,
                                  what="decision_stale", link=f"signoffs?review={summary['review_id']}",
                                  title=f"{summary['review_id']} ({model} {summary['version']} → {summary['gate']}) "
                                        f"is {state}: re-review required" if state != "expiring" else
                                        f"{summary['review_id']} expires on {valid_until[:10]}",
                                  evidence={"review_id": summary["review_id"], "valid_until": valid_until}))
    return found


def findings(store: GovernanceStore, *, today: date | None = None) -> list[dict]:
    """Every alert condition that holds now, with its severity and recipients from the model's rules."""
    today = today or clock.today()
    found, in_force = [], {}
    state = verification.verify(store)
    if not state["ok"]:
        found.append(_finding(key=f"ledger:{state['first_bad_seq']}", model=None, what="ledger_broken",
                              link="signoffs", title=f"the ledger fails verification: {state['problem']}",
                              evidence=state))
    for model in sorted(list_versions(store)["model"].unique()):
        in_force[model] = rules(store, model=model)   # read once per check, not once per finding
        found += _monitoring(store, model=model, in_force=in_force[model]) + \
            _evidence_findings(store, model=model, in_force=in_force[model], today=today)
    out = []
    for f in found:
        rule = in_force[f["model"]][f["what"]] if f["model"] else DEFAULT_RULES[f["what"]]
        if rule["enabled"]:
            out.append({**f, "severity": rule["severity"], "recipients": list(rule["recipients"])})
    return out


# --- episodes ----------------------------------------------------------------------------------------------------
def _channel(recipient: str) -> str:
    return "webhook" if recipient.startswith(("https://", "http://")) else "email"


# The server's scheduled checks: no person starts them, so they are recorded under this system account (as
# identity.MONITORING proposes risks), never as a person's account, which could be disabled or renamed. It may do
# nothing but check the rules.
SCHEDULER = User(user_name="quorum-scheduler", display_name="Quorum scheduler", role="scheduler", source="system")
NO_ACTOR = ("a check that writes needs who runs it: a signed-in account, or alerts.SCHEDULER for the server's "
            "own schedule")


def _acting(actor: User | None) -> str:
    """How the check's actor is recorded: an account as in every record, or the scheduler. A person needs the
    right to configure monitoring."""
    if not isinstance(actor, User):
        raise InvalidInputError(NO_ACTOR)
    if actor != SCHEDULER:
        identity.require(actor, "configure monitoring")
    return actor.recorded_as


def check(store: GovernanceStore, *, actor: User | None = None, dry_run: bool = False,
          today: date | None = None, now: datetime | None = None, base_url: str = DEFAULT_BASE_URL,
          found: list[dict] | None = None) -> dict:
    """Evaluate every rule now: open new episodes and queue them, re-queue escalated ones, close cleared ones.
    With `dry_run`, say what would happen and write nothing (no actor needed).

    `actor` is who runs the check: a User (the page's signed-in account, the CLI's checked --by account) or
    SCHEDULER (the server's own schedule); it is recorded on each episode it opens, sees or closes. `found` is the
    findings judged already (as `findings` returns them), else they are judged now. Which episodes open,
    escalate and close is decided inside the write, from the rows as they are then, so that checks at the same
    moment open each episode once and never clash."""
    acting = None if dry_run else _acting(actor)
    now = now or clock.now_naive()
    found = {f["alert_key"]: f for f in (findings(store, today=today) if found is None else found)}
    result = {"dry_run": dry_run, "checked_at": now.isoformat(timespec="seconds") + "Z", "open": len(found),
              "opened": [], "escalated": [], "closed": [], "queued": 0, "unreachable": [],
              "alerts": [{k: f[k] for k in ("alert_key", "what", "severity", "title", "link")} for f in found.values()]}
    if dry_run:
        _decide(store, found, result)
        return result
    with store.write() as tx:
        open_rows, targets = _decide(store, found, result)
        for key in result["opened"]:
            f = found[key]
            alert_records.open_episode(tx, alert_key=key, model=f["model"], what=f["what"], severity=f["severity"],
                                       title=f["title"], link=f["link"],
                                       evidence=json.dumps(f["evidence"], default=str), at=now, by=acting)
        for key in found:
            if key in open_rows:
                alert_records.see_episode(tx, alert_key=key, at=now, by=acting, severity=found[key]["severity"])
        for key in result["closed"]:
            alert_records.close_episode(tx, alert_key=key, at=now, by=acting)
        for key in result["opened"] + result["escalated"]:
            f = found[key]
            for recipient in targets[key][0]:
                made = enqueue(store, alert_key=f"{key}:{f['severity']}", channel=_channel(recipient),
                               recipient=recipient, subject=f"[Quorum {f['severity']}] {f['title']}",
                               body=f"{WHAT_WORDS[f['what']].capitalize()}: {f['title']}.", link=f["link"],
                               evidence=f["evidence"], base_url=base_url, now=now)
                result["queued"] += int(made.get("created", False))
            alert_records.mark_notified(tx, alert_key=key, severity=f["severity"])
    return result


def _decide(store: GovernanceStore, found: dict, result: dict) -> tuple[dict, dict]:
    """Which findings open, escalate or close an episode, from the episodes as they are now (inside the write when
    the check writes), into `result`; and the open episodes and the escalated and new ones' addresses."""
    open_rows = {r.alert_key: {"severity": r.severity, "notified": r.notified_severity}
                 for r in alert_records.open_episodes(store)}
    known = alert_records.episode_keys(store)
    result["opened"] = [k for k in found if k not in known]
    rank = SEVERITIES.index
    result["escalated"] = [k for k in found if k in open_rows and
                           rank(found[k]["severity"]) > rank(open_rows[k]["notified"] or "info")]
    result["closed"] = [k for k in open_rows if k not in found]
    targets = {key: addresses(store, recipients=found[key]["recipients"])
               for key in result["opened"] + result["escalated"]}
    result["unreachable"] = [{"alert_key": key, "recipient": r} for key, (_, missed) in targets.items() for r in missed]
    return open_rows, targets


def episodes(store: GovernanceStore, *, open_only: bool = False) -> list[dict]:
    rows = pd.DataFrame([asdict(e) for e in alert_records.episodes(store, open_only=open_only)],
                        columns=[f.name for f in fields(alert_records.Episode)])
    found = json.loads(rows.to_json(orient="records", date_format="iso"))
    return [{**e, "evidence": json.loads(e["evidence"])} for e in found]


def check_and_send(store: GovernanceStore, *, actor, dry_run: bool = False) -> dict:
    """Judge every rule now and send what is due: on demand from the CLI (as the checked account), on its schedule in
    the server (as SCHEDULER), with the delivery settings of settings_from_files."""
    settings = settings_from_files()
    result = check(store, actor=actor, dry_run=dry_run, base_url=settings.base_url)
    if not dry_run:
        sent = deliver_pending(store, settings=settings)
        result["delivery"] = {k: sent[k] for k in ("tried", "delivered", "retrying", "failed")}
    return result
