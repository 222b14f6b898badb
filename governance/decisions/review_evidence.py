"""What the committee reviews: the evidence about a model version, gathered as it stands at a day (`as_of`) and
frozen into the review request with its SHA-256 (`evidence_hash`), so every signature is bound to what was seen.

Plain JSON values only: the newest fairness audits and robustness runs, the current explanation, the KPIs of the
last KPI_WINDOW_DAYS with their service-level breaches, the weekly drift, and the open risks of the version."""

from __future__ import annotations

import hashlib
from datetime import date

import pandas as pd

from governance.decisions.risks import list_risks
from governance.errors import GovernanceError
from governance.evidence.explanations import current_explanation
from governance.evidence.fairness import list_audits
from governance.evidence.robustness import list_runs
from governance.evidence.version_drift import drift_periods
from governance.monitoring import telemetry_sources
from governance.monitoring.kpis import Window, kpi_summary
from governance.monitoring.service_levels import slo_breaches
from governance.monitoring.telemetry_sql import VERSION_BEFORE_SQL
from governance.record.canonical import canonical_json
from governance.record.store import GovernanceStore

KPI_WINDOW_DAYS = 30
TOP_FEATURES = 5
CLOSED_RISK = ("closed", "withdrawn", "dismissed")


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


def fairness_audits(store: GovernanceStore, *, model: str, version: str) -> list[dict]:
    """The version's fairness audits, oldest first, as the evidence lists them."""
    frame = list_audits(store, model=model, version=version)
    found = []
    for a in frame.sort_values("audit_id").to_dict("records"):
        found.append({"audit_id": a["audit_id"], "verdict": a["verdict"],
                      "criteria": {v: (None if pd.isna(a[v]) else int(a[v])) for v in ("pass", "fail", "inconclusive")},
                      "evidence_hash": a["evidence_hash"] if isinstance(a["evidence_hash"], str) else None,
                      "ran_at": None if pd.isna(a["ran_at"]) else
                      pd.Timestamp(a["ran_at"]).isoformat(timespec="seconds") + "Z"})
    return found


def _robustness(store: GovernanceStore, *, model: str, version: str) -> list[dict]:
    return [{k: r[k] for k in ("run_id", "verdict", "criteria", "evidence_hash", "ran_at")}
            for r in reversed(list_runs(store, model=model, version=version)) if r["status"] == "completed"]


def _explanation(store: GovernanceStore, *, model: str, version: str) -> dict:
    """The version's current explanation (its model file, data and settings match), never a stale one."""
    found = current_explanation(store, model=model, version=version)
    if found.explanation is None:
        return {"note": found.reason}
    summary = found.explanation
    return {"explanation_id": summary["explanation_id"], "explainer": summary.get("explainer"),
            "rows": summary.get("rows_explained"), "computed_at": summary["computed_at"],
            "top_features": [{"feature": g["feature"], "mean_abs_shap": float(g["mean_abs_shap"])}
                             for g in summary.get("global", [])[:TOP_FEATURES]]}


def kpi_window(as_of: date) -> Window:
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return Window(end - pd.Timedelta(days=KPI_WINDOW_DAYS), end)


def version_breaches(store: GovernanceStore, *, model: str, version: str, window) -> list[dict]:
    """The version's service-level breaches in `window`, as the evidence lists them."""
    # burn-rate breaches judged on hourly counts; "periods" is the days a breach touches, as the frozen evidence
    # has always counted them, and start/end stay dates (end: the day after the last hour in breach, if it ends
    # at midnight; else its own day)
    return [{"kpi": b.kpi, "start": str(b.start.date()), "end": str(b.end.date()), "periods": b.days,
             "hours": b.hours, "worst": b.as_dict()["worst"], "target": float(b.target), "rule": b.rule,
             "peak_burn": b.as_dict()["peak_burn"]}
            for b in slo_breaches(store, model=model, window=window, version=version) if b.version == version]


def _kpis(store: GovernanceStore, *, model: str, version: str, as_of: date, has_telemetry: bool) -> dict:
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
            "breaches": version_breaches(store, model=model, version=version, window=window)}


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
    return [{"risk_id": r["risk_id"], "title": r["title"], "category": r["category"],
             "inherent_level": r["inherent_level"], "status": r["status"]}
            for r in list_risks(store, model=model, version=version) if r["status"] not in CLOSED_RISK]


def gather_evidence(store: GovernanceStore, *, model: str, version: str, as_of: date) -> dict:
    """What the committee reviews, as it stands at `as_of`: plain JSON values, frozen into the request."""
    has_telemetry = bool(telemetry_sources.query_rows(store, VERSION_BEFORE_SQL, {
        "model": model, "version": version, "end": pd.Timestamp(as_of) + pd.Timedelta(days=1)})[0][0])
    return {"model": model, "version": version, "as_of": str(as_of),
            "fairness_audits": fairness_audits(store, model=model, version=version),
            "robustness_runs": _robustness(store, model=model, version=version),
            "explanation": _explanation(store, model=model, version=version),
            "kpis": _kpis(store, model=model, version=version, as_of=as_of, has_telemetry=has_telemetry),
            "drift": _drift(store, model=model, version=version, as_of=as_of, has_telemetry=has_telemetry),
            "open_risks": _risks(store, model=model, version=version)}
