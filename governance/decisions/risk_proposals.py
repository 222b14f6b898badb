"""The register fed by monitoring: failing fairness audits, drift "act" periods and service-level breaches.

Each finding either becomes a *proposed* risk with its evidence attached, or — when an open risk of the same
model and category already exists — is linked to that risk as evidence instead of duplicating it. A finding
already on record (same kind and reference) is skipped, so running this again changes nothing. Monitoring acts
as `identity.MONITORING`, which may do nothing else, and leaves the owner open: a person then accepts a
proposal (status identified, choosing its owner) or dismisses it, with a reason, through `risks.update_risk`.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.access import identity
from governance.decisions import risks
from governance.evidence.fairness import list_audits
from governance.monitoring.drift import drift_report
from governance.monitoring.inventory import list_versions
from governance.monitoring.kpis import resolve_window
from governance.monitoring.service_levels import slo_breaches
from governance.record.store import GovernanceStore

CLOSED = ("closed", "withdrawn", "dismissed")


@dataclass(frozen=True)
class Finding:
    kind: str               # an evidence kind of risks.EVIDENCE_KINDS
    ref: str                # what the evidence is: an audit id, a drift or breach window
    model: str
    version: str
    category: str
    title: str
    note: str
    likelihood: int
    impact: int
    clauses: tuple[str, ...]


def findings(store: GovernanceStore) -> list[Finding]:
    """What monitoring shows now, across every model version."""
    found = []
    audits = list_audits(store)
    for a in audits[audits["verdict"] == "fail"].itertuples(index=False):
        if not isinstance(a.model, str):   # an audit of an uploaded file names no model (NULL, NaN in the frame)
            continue
        found.append(Finding("fairness_audit", a.audit_id, a.model, a.version, "fairness/bias",
                             f"{a.model} {a.version} fails fairness criteria ({a.audit_id})",
                             f"{a.fail} failing criteria by {a.sensitive}; criteria: {a.criteria}", 4, 4,
                             ("MEASURE 2.11", "Article 10", "A.7")))
    versions = list_versions(store)
    for v in versions[versions["telemetry_rows"] > 0].itertuples(index=False):
        report = drift_report(store, model=v.model, version=v.version, grain="week")
        acted = report.periods[report.periods["status"] == "act"]
        if not acted.empty:
            first = str(acted["period"].min())[:10]
            features = ", ".join(sorted(acted["feature"].unique()))
            found.append(Finding("drift", f"drift {v.model} {v.version} from {first}", v.model, v.version,
                                 "performance/drift", f"{v.model} {v.version}: input drift at 'act' level",
                                 f"PSI at 'act' level from the week of {first} in: {features}", 3, 3,
                                 ("MEASURE 2.4", "MANAGE 4.1", "Article 72", "A.6")))
    for model in versions["model"].unique():
        # multi-window, multi-burn-rate breaches (service_levels), judged on hourly counts over the whole span
        for b in slo_breaches(store, model=model, window=resolve_window(store, model=model, pandas=False)):
            found.append(Finding("kpi_breach", f"{model} {b.version} {b.kpi} {b.start:%Y-%m-%d %H:00} to "
                                 f"{b.end:%Y-%m-%d %H:00}",
                                 model, b.version, "performance/drift" if b.kpi == "accuracy" else "operational",
                                 f"{model} {b.version}: {b.kpi} breached its service level",
                                 f"{b.hours} hour(s) from {b.start:%Y-%m-%d %H:00}, worst {b.worst:.4g} against "
                                 f"target {b.target:g}, peak burn {b.peak_burn:.1f}x; {b.rule}", 3,
                                 3 if b.kpi != "error_rate" else 4,
                                 ("MEASURE 2.4", "MANAGE 4.1", "Article 15", "A.6")))
    return found


def propose_from_monitoring(store: GovernanceStore) -> dict:
    """Turn new findings into proposals or evidence on existing open risks; returns what it did."""
    register = risks.list_risks(store)
    on_record = {(e["kind"], e["ref"]) for r in register for e in r["evidence"]}
    proposed, linked = [], []
    for f in findings(store):
        if (f.kind, f.ref) in on_record:
            continue
        same = [r for r in register if r["status"] not in CLOSED and r["category"] == f.category
                and any(m.split(" ")[0] == f.model for m in r["models"])]
        if same:
            target = same[0]["risk_id"]
        else:
            target = risks.add_risk(store, actor=identity.MONITORING, reason=f"proposed by monitoring: {f.ref}",
                                    status="proposed",
                                    risk=risks.NewRisk(title=f.title, category=f.category, owner=None,
                                                       likelihood=f.likelihood, impact=f.impact,
                                                       models=[f"{f.model} {f.version}"], description=f.note,
                                                       clauses=f.clauses))["risk_id"]
            proposed.append(target)
        risks.link_evidence(store, risk_id=target, kind=f.kind, ref=f.ref, note=f.note, actor=identity.MONITORING)
        if same:
            linked.append({"risk_id": target, "evidence": f.ref})
        on_record.add((f.kind, f.ref))
        register = risks.list_risks(store)
    return {"proposed": proposed, "linked": linked}
