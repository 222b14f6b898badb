"""Alerts: the conditions that need someone's attention, as episodes that open once, escalate, and close.

`check` evaluates every rule now: service-level breaches, drift at 'act', KPI anomalies, failing fairness audits
and robustness runs, overdue risk controls and decision conditions, decisions that are stale or expire within 30
days, and a ledger that fails verification. Each finding has a key naming the condition and when it began; a key
already open is not sent again unless its severity rose, and an open episode whose condition is gone is closed.
New and escalated episodes are queued for their recipients in the outbox (alert_delivery), which sends and
retries them. The rules per model (severity, recipients, the anomaly sensitivity) are recorded in the ledger;
until a model has its own, DEFAULT_RULES apply with no recipients: episodes are kept, nothing is sent.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from governance import identity, ledger, risks, signoffs
from governance.alert_delivery import enqueue
from governance.errors import InvalidInputError
from governance.identity import User
from governance.inventory import list_versions, require_model
from governance.store import GovernanceStore

SEVERITIES = ("info", "warning", "critical")
WHATS = ("slo_breach", "drift_act", "anomaly", "fairness_fail", "robustness_fail", "overdue_control",
         "overdue_condition", "decision_stale", "ledger_broken")
DEFAULT_RULES = {what: {"enabled": True, "severity": severity, "recipients": []} for what, severity in (
    ("slo_breach", "critical"), ("drift_act", "warning"), ("anomaly", "warning"), ("fairness_fail", "critical"),
    ("robustness_fail", "warning"), ("overdue_control", "warning"), ("overdue_condition", "critical"),
    ("decision_stale", "warning"), ("ledger_broken", "critical"))}
ANOMALY_KPIS = ("latency_p95_ms", "error_rate", "accuracy")
WINDOW_DAYS = 30
EXPIRING_DAYS = 30


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# --- rules -------------------------------------------------------------------------------------------------------
def rules(store: GovernanceStore, *, model: str) -> dict:
    """The rules in force for a model: the newest recorded, over the defaults."""
    recorded = ledger.entries(store, kind="alert_rules", subject=model)
    merged = {what: dict(rule) for what, rule in DEFAULT_RULES.items()}
    if recorded:
        for what, rule in recorded[-1]["payload"]["rules"].items():
            merged[what].update(rule)
    return merged


def set_rules(store: GovernanceStore, *, model: str, changes: dict, actor: User) -> dict:
    """Record a model's alert rules ({what: {enabled, severity, recipients}}); leaders and admins."""
    identity.require(actor, "configure monitoring")
    require_model(store, model=model)
    current = rules(store, model=model)
    for what, rule in changes.items():
        if what not in WHATS:
            raise InvalidInputError(f"unknown alert {what!r}; the alerts are {', '.join(WHATS)}")
        if "severity" in rule and rule["severity"] not in SEVERITIES:
            raise InvalidInputError(f"severity must be one of {', '.join(SEVERITIES)}, got {rule['severity']!r}")
        recipients = rule.get("recipients", current[what]["recipients"])
        if not isinstance(recipients, list) or not all(isinstance(r, str) and r.strip() for r in recipients):
            raise InvalidInputError("recipients must be a list of e-mail addresses or webhook URLs")
        current[what].update({k: v for k, v in rule.items() if k in ("enabled", "severity", "recipients")})
    entry = ledger.append(store, actor=actor.recorded_as, kind="alert_rules", subject=model,
                          payload={"model": model, "rules": current, "set_by": actor.signature_name},
                          idempotency_key=f"alert_rules:{model}:{uuid.uuid4().hex}")
    ledger.refresh_anchor(store)
    return entry["payload"]


# --- findings ----------------------------------------------------------------------------------------------------
def _finding(*, key: str, model: str | None, what: str, title: str, link: str, evidence: dict) -> dict:
    return {"alert_key": key, "model": model, "what": what, "title": title, "link": link, "evidence": evidence}


def _monitoring(store: GovernanceStore, *, model: str) -> list[dict]:
    from governance.anomalies import kpi_anomalies
    from governance.kpis import Window, data_window
    from governance.service_levels import slo_breaches

    span = data_window(store, model=model)
    if span is None:
        return []
    window = Window(span.end - pd.Timedelta(days=WINDOW_DAYS), span.end)
    found = []
    for b in slo_breaches(store, model=model, window=window, grain="day"):
        if b.end >= window.end - pd.Timedelta(days=1):   # still breached on the newest day: open
            found.append(_finding(key=f"{model}:slo:{b.version}:{b.kpi}:{b.start.date()}", model=model,
                                  what="slo_breach", link=f"kpis?model={model}",
                                  title=f"{model} {b.version}: {b.rule} breached since {b.start.date()}",
                                  evidence={"worst": b.worst, "target": b.target, "periods": b.periods}))
    for version in list_versions(store).query("model == @model and telemetry_rows > 0")["version"]:
        periods = signoffs.drift_periods(store, model=model, version=version)
        judged = periods[periods["status"].isin(["ok", "watch", "act"])]
        if judged.empty:
            continue
        newest = judged[judged["period"] == judged["period"].max()]
        for row in newest[newest["status"] == "act"].itertuples(index=False):
            started = judged[(judged["feature"] == row.feature) & (judged["status"] == "act")]["period"].min()
            found.append(_finding(key=f"{model}:drift:{version}:{row.feature}:{pd.Timestamp(started).date()}",
                                  model=model, what="drift_act", link=f"drift?model={model}",
                                  title=f"{model} {version}: {row.feature} drifted to 'act' (PSI {row.psi:.2f})",
                                  evidence={"feature": row.feature, "psi": float(row.psi),
                                            "since": str(pd.Timestamp(started).date())}))
    sensitivity = rules(store, model=model)["anomaly"].get("sensitivity", 4.0)
    for kpi in ANOMALY_KPIS:
        result = kpi_anomalies(store, model=model, kpi=kpi, grain="day", sensitivity=sensitivity)
        for e in result["episodes"]:
            if pd.Timestamp(e["end"]) >= span.end.normalize():   # anomalous up to the newest day: open
                found.append(_finding(key=f"{model}:anomaly:{e['version']}:{kpi}:{pd.Timestamp(e['start']).date()}",
                                      model=model, what="anomaly", link=f"kpis?model={model}",
                                      title=f"{model} {e['version']}: {kpi} far from its expected value since "
                                            f"{pd.Timestamp(e['start']).date()}",
                                      evidence={"worst": float(e["worst"]), "expected": float(e["expected"]),
                                                "score": float(e["score"])}))
    return found


def _evidence_findings(store: GovernanceStore, *, model: str, today: date) -> list[dict]:
    from governance.fairness import list_audits
    from governance.robustness import list_runs

    found = []
    audits = list_audits(store, model=model)
    for version, group in audits.groupby("version") if len(audits) else []:
        newest = group.sort_values("audit_id").iloc[-1]
        if newest["verdict"] == "fail":
            found.append(_finding(key=f"{model}:fairness:{newest['audit_id']}", model=model, what="fairness_fail",
                                  link=f"fairness?audit={newest['audit_id']}",
                                  title=f"{model} {version}: fairness audit {newest['audit_id']} fails",
                                  evidence={"audit_id": newest["audit_id"]}))
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
        for c in r["controls"]:
            if c["status"] != "done" and c.get("due") and date.fromisoformat(c["due"]) < today:
                found.append(_finding(key=f"{model}:control:{r['risk_id']}:{c['control_id']}:{c['due']}",
                                      model=model, what="overdue_control", link=f"risks?risk={r['risk_id']}",
                                      title=f"{r['risk_id']} control {c['control_id']} is overdue (due {c['due']}, "
                                            f"owner {c['owner']})", evidence={"risk_id": r["risk_id"], **c}))
    for summary in signoffs.list_reviews(store, model=model, today=today):
        review = signoffs.review(store, review_id=summary["review_id"], today=today)
        for c in review["conditions"]:
            if c.get("overdue"):
                found.append(_finding(key=f"{model}:condition:{c['condition_id']}:{c['due']}", model=model,
                                      what="overdue_condition", link=f"signoffs?review={summary['review_id']}",
                                      title=f"condition {c['condition_id']} of {summary['review_id']} is overdue "
                                            f"(due {c['due']}, owner {c['owner']})", evidence=c))
        valid_until = summary.get("valid_until")
        expiring = (summary["outcome"] or "").startswith("approved") and valid_until and \
            date.fromisoformat(valid_until[:10]) <= today + timedelta(days=EXPIRING_DAYS)
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
    today = today or date.today()
    found = []
    state = ledger.verify(store)
    if not state["ok"]:
        found.append(_finding(key=f"ledger:{state['first_bad_seq']}", model=None, what="ledger_broken",
                              link="signoffs", title=f"the ledger fails verification: {state['problem']}",
                              evidence=state))
    for model in sorted(list_versions(store)["model"].unique()):
        found += _monitoring(store, model=model) + _evidence_findings(store, model=model, today=today)
    out = []
    for f in found:
        rule = rules(store, model=f["model"])[f["what"]] if f["model"] else DEFAULT_RULES[f["what"]]
        if rule["enabled"]:
            out.append({**f, "severity": rule["severity"], "recipients": list(rule["recipients"])})
    return out


# --- episodes ----------------------------------------------------------------------------------------------------
def _channel(recipient: str) -> str:
    return "webhook" if recipient.startswith(("https://", "http://")) else "email"


def check(store: GovernanceStore, *, dry_run: bool = False, today: date | None = None,
          now: datetime | None = None) -> dict:
    """Evaluate every rule now: open new episodes and queue them, re-queue escalated ones, close cleared ones.
    With `dry_run`, say what would happen and write nothing."""
    now = now or _now()
    found = {f["alert_key"]: f for f in findings(store, today=today)}
    open_rows = {r[0]: {"severity": r[1], "notified": r[2]} for r in store.query_rows(
        "SELECT alert_key, severity, notified_severity FROM alert_episode WHERE closed_at IS NULL")}
    opened = [k for k in found if k not in open_rows and not store.query_value(
        "SELECT count(*) FROM alert_episode WHERE alert_key = ?", [k])]
    escalated = [k for k in found if k in open_rows and
                 SEVERITIES.index(found[k]["severity"]) > SEVERITIES.index(open_rows[k]["notified"] or "info")]
    closed = [k for k in open_rows if k not in found]
    result = {"dry_run": dry_run, "checked_at": now.isoformat(timespec="seconds") + "Z", "open": len(found),
              "opened": opened, "escalated": escalated, "closed": closed, "queued": 0,
              "alerts": [{k: f[k] for k in ("alert_key", "what", "severity", "title", "link")} for f in found.values()]}
    if dry_run:
        return result
    with store.write() as tx:
        for key in opened:
            f = found[key]
            tx.execute("INSERT INTO alert_episode VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                       [key, f["model"], f["what"], f["severity"], f["title"], f["link"],
                        json.dumps(f["evidence"], default=str), now, now])
        for key in found:
            if key in open_rows:
                tx.execute("UPDATE alert_episode SET last_seen_at = ?, severity = ? WHERE alert_key = ?",
                           [now, found[key]["severity"], key])
        for key in closed:
            tx.execute("UPDATE alert_episode SET closed_at = ? WHERE alert_key = ?", [now, key])
    for key in opened + escalated:
        f = found[key]
        for recipient in f["recipients"]:
            made = enqueue(store, alert_key=f"{key}:{f['severity']}", channel=_channel(recipient),
                           recipient=recipient, subject=f"[Quorum {f['severity']}] {f['title']}",
                           body=f"{f['title']}.", link=f["link"], evidence=f["evidence"], now=now)
            result["queued"] += int(made.get("created", False))
        with store.write() as tx:
            tx.execute("UPDATE alert_episode SET notified_severity = ? WHERE alert_key = ?", [f["severity"], key])
    return result


def episodes(store: GovernanceStore, *, open_only: bool = False) -> list[dict]:
    rows = store.query(f"SELECT * FROM alert_episode {'WHERE closed_at IS NULL' if open_only else ''} "
                       "ORDER BY opened_at DESC, alert_key")
    return json.loads(rows.to_json(orient="records", date_format="iso"))
