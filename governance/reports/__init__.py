"""Audit reports that stand on their own: the content of each report as plain JSON values, for auditors, regulators
and committee members who never open the app. `reports.render` turns the same dict into HTML and PDF, and
`reports.audit_pack` bundles them, so every format says exactly the same thing.

Four kinds (schema_version 1; the README documents the fields):
- model: one version's model card with its governance record (KPIs and service levels, drift, fairness audits,
  the explanation, risks, every decision with its signatures manifested) and the ledger's state;
- review: one review request, its frozen evidence (re-hashed here, so the report says whether it is intact),
  the votes, the decision and its conditions;
- coverage: NIST AI RMF, EU AI Act and ISO/IEC 42001 coverage and gaps across the portfolio;
- annex-iv: one version's EU AI Act technical documentation, point by point of Annex IV, each point filled from
  the record or listed as a gap with what would fill it (reports.annex_iv).

Per-group figures of groups smaller than the suppression threshold are withheld ("< 10") in exports: a table of
a handful of people can identify them. The report says so where it happens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Callable
from urllib.parse import urlsplit

import pandas as pd

from governance.access.identity import PermissionDeniedError, User
from governance.decisions import committee, review_evidence, review_state, risks
from governance.errors import InvalidInputError
from governance.evidence import explanations, fairness, fairness_policy, version_drift
from governance.monitoring.drift import drift_thresholds, judged_period
from governance.monitoring.inventory import list_models, list_versions, require_model
from governance.monitoring.kpis import kpi_series, kpi_summary
from governance.monitoring.service_levels import service_levels, slo_judgment
from governance.record import clock, verification
from governance.record.repositories import workspace_meta
from governance.record.store import GovernanceStore
from governance.reports import annex_iv
from governance.vocabulary import REPORT_KINDS as KINDS, SUPPRESS_BELOW

SCHEMA_VERSION = 1
SUPPRESSED_NOTE = ("Groups with fewer than {n} people are shown as \"< {n}\" without their figures, so that no "
                   "one in them can be identified from the report.")
BAD_THRESHOLD = "the suppression threshold must be a whole number from 1 to 1,000, got {value!r}"
SIGNATURE_FIELDS = ("printed_name", "role", "signed_at", "meaning", "reason", "evidence_hash", "auth_method")
DAILY_KPIS = ("predictions", "accuracy", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate",
              "label_coverage")
CLOSED = ("closed", "withdrawn", "dismissed")
FORMATS = ("pdf", "html", "json", "pack")   # the pack seals the other three: asking for it renders them all
NOBODY_GENERATED = ("a report is printed with the account that generated it: sign in, give --by USER on the "
                    "command line, or call it through the server with an API token")
UNKNOWN_FORMAT = "a report format is one of {known}, got {value!r}"
ANNEX_IV_NEEDS_VERSION = "an Annex IV report needs --model and --version"


def _number(value):
    """A plain float, or None where the honest answer is 'not computable' (NaN never reaches a report)."""
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _header(store: GovernanceStore, *, kind: str, report_id: str, generated_by: str | None) -> dict:
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "report_id": report_id,
            "generated_at": clock.now_iso_seconds(),
            "generated_by": generated_by, "generator": "Quorum", "workspace": _workspace_name(store)}


def _workspace_name(store: GovernanceStore) -> str:
    """The workspace as a report names it: a DuckDB file's name, a PostgreSQL database's name. Never its folder,
    host or address: a report leaves the organisation. (A PostgreSQL store's path is a folder in its lake, the
    same name for every shared workspace.)"""
    if store.engine == "postgresql":
        return urlsplit(store.url).path.lstrip("/") or "postgresql"
    return store.path.name


def _seeds(store: GovernanceStore, **more) -> dict:
    """The random seeds behind the figures, so that anyone can reproduce them."""
    demo = workspace_meta.value_of(store, key="demo_seed")
    return {"demo_build": int(demo) if demo is not None else None, **more}


def _check_threshold(suppress_below) -> None:
    if isinstance(suppress_below, bool) or not isinstance(suppress_below, int) or not 1 <= suppress_below <= 1000:
        raise InvalidInputError(BAD_THRESHOLD.format(value=suppress_below))


# --- the model version report ------------------------------------------------------------------------------------
def _card(store: GovernanceStore, *, model: str, version: str) -> dict:
    about = list_models(store).set_index("name").loc[model]
    row = list_versions(store).set_index(["model", "version"]).loc[(model, version)]
    return {"model": model, "version": version, "purpose": about["purpose"], "intended_use": about["intended_use"],
            "owner": about["owner"], "risk_tier": about["risk_tier"], "dataset": about["dataset"],
            "stage": row["stage"], "algorithm": row["algorithm"], "artifact_sha256": row["artifact_sha256"],
            "training_metrics": row["training_metrics"], "telemetry_rows": int(row["telemetry_rows"]),
            "telemetry_from": None if pd.isna(row["first_ts"]) else str(row["first_ts"]),
            "telemetry_to": None if pd.isna(row["last_ts"]) else str(row["last_ts"])}


def _kpis(store: GovernanceStore, *, model: str, version: str, as_of: date, snapshot: dict) -> dict:
    """The frozen-evidence snapshot (30 days to as_of) plus what a reader needs to check it: each service level's
    status over the window and the daily series the charts draw."""
    window = review_evidence.kpi_window(as_of)
    levels = service_levels(store, model=model)
    summary = kpi_summary(store, model=model, window=window, version=version)
    summary = summary[summary["version"] == version]
    overall = summary.iloc[0] if len(summary) else None
    judged = slo_judgment(store, model=model, window=window, version=version)   # error budgets, burn rates
    slos = []
    for kpi, level in sorted(levels.items()):
        value = None if overall is None else _number(overall[kpi])
        budget = judged.budgets.get((version, kpi))
        slos.append({"kpi": kpi, "label": level.definition.label, "rule": level.rule(), "target": level.target,
                     "warning": level.warning, "value": value,
                     "budget_left": None if budget is None else budget.remaining,
                     "status": judged.status(version, kpi, end=window.end) if budget is not None else "unknown"})
    series = kpi_series(store, model=model, window=window, grain="day", version=version)
    series = series[series["version"] == version].rename(columns={"n": "predictions"})
    daily = [{"date": str(pd.Timestamp(r["period"]).date()), **{k: _number(r[k]) for k in DAILY_KPIS}}
             for r in series.to_dict("records")]
    for day in daily:
        day["predictions"] = int(day["predictions"] or 0)
    return {**snapshot, "service_levels": slos, "daily": daily}


def _drift(store: GovernanceStore, *, model: str, version: str, as_of: date, snapshot: dict) -> dict:
    if not snapshot.get("features") and snapshot.get("note"):
        return {**snapshot, "weekly": []}
    periods = version_drift.drift_periods(store, model=model, version=version, until=as_of)
    weekly = [{"period": str(pd.Timestamp(r["period"]).date()), "feature": r["feature"], "psi": _number(r["psi"]),
               "status": r["status"]} for r in periods.to_dict("records") if r["status"] != "no data"]
    # The status that counts is the latest complete week's (drift.judged_period); partial weeks are named, not judged.
    period = judged_period(periods)
    latest = {} if period is None else dict(periods.loc[periods["period"] == period, ["feature", "status"]].values)
    features = [{**f, "latest_status": latest.get(f["feature"], "not judged")} for f in snapshot.get("features", [])]
    partial = sorted({w["period"] for w in weekly if w["status"] == "partial"})
    return {**snapshot, "features": features, "thresholds": drift_thresholds(store, model=model).as_dict(),
            "weekly": weekly, "judged_period": None if period is None else str(period.date()), "partial": partial,
            "acting_now": sorted(f for f, status in latest.items() if status == "act")}


def _group(group: dict, *, suppress_below: int) -> dict:
    if group.get("n", 0) >= suppress_below:
        return group
    return {"group": group["group"], "sensitive": group.get("sensitive"), "n": f"< {suppress_below}",
            "status": group.get("status"), "suppressed": True}


def _policy_mark(judged) -> dict | None:
    """How the audit stands against the model's fairness policy of its lock time; None for an audit that did not
    run (nothing to count)."""
    if judged is None:
        return None
    return {"counts": judged.counts, "mark": judged.mark, "weaker": list(judged.weaker),
            "criteria": [c.text for c in judged.policy.criteria], "set_by": judged.policy.set_by}


def _audit(store: GovernanceStore, *, audit_id: str, suppress_below: int, judged=None) -> dict:
    audit = fairness.get_audit(store, audit_id=audit_id)
    groups = [_group(g, suppress_below=suppress_below) for g in audit.get("groups", [])]
    withheld = sum(1 for g in groups if g.get("suppressed"))
    notes = list(audit.get("notes") or [])
    if withheld:   # the audit's own notes speak of figures this export does not show
        notes.append(f"In this export, {withheld} group(s) smaller than {suppress_below} people are withheld: "
                     "their figures are not shown, whatever the notes above say.")
    return {"audit_id": audit_id, "verdict": audit["verdict"], "ran_at": audit["ran_at"], "ran_by": audit["ran_by"],
            "defined_by": audit["defined_by"], "definition_hash": audit["definition_hash"],
            "evidence_hash": audit["evidence_hash"], "n": audit["n"], "correction": audit.get("correction"),
            "criteria": [{k: c.get(k) for k in ("name", "sensitive", "value", "ci_low", "ci_high", "threshold",
                                                 "operator", "verdict", "explanation")}
                         for c in audit.get("criteria", [])],
            "groups": groups, "suppressed_groups": withheld, "notes": notes,
            "seed": audit["definition"].get("seed"), "policy": _policy_mark(judged)}


def _explanation(store: GovernanceStore, *, model: str, version: str) -> dict:
    """The version's current explanation (explanations.current_explanation: its model file, data and settings
    match), with its narrative; a report never computes one, and never shows a stale one as the version's."""
    found = explanations.current_explanation(store, model=model, version=version)
    if found.explanation is None:
        return {"note": found.reason[:1].upper() + found.reason[1:] + "."}
    summary = found.explanation
    return {"explanation_id": summary["explanation_id"], "computed_at": summary["computed_at"],
            "explainer": summary["explainer"], "explainer_settings": summary["explainer_settings"],
            "output_units": summary["output_units"], "rows_explained": summary["rows_explained"],
            "base_value": summary["base_value"], "additivity_max_error": summary["additivity_max_error"],
            "stability_kendall_tau": summary["stability_kendall_tau"], "model_sha256": summary["model_sha256"],
            "data_sha256": summary["data_sha256"], "global": summary["global"],
            "seed": summary["settings"]["seed"],
            "narrative": explanations.global_narrative(summary)}


def _decision(store: GovernanceStore, *, review_id: str) -> dict:
    r = review_state.review(store, review_id=review_id)
    return {"review_id": review_id, "gate": r["gate"], "from_stage": r["from_stage"], "as_of": r["as_of"],
            "requested_by": r["requested_by"], "requested_at": r["requested_at"], "evidence_hash": r["evidence_hash"],
            "signatures": [{k: v.get(k) for k in SIGNATURE_FIELDS} for v in r["votes"]],
            "decision": r["decision"], "conditions": r["conditions"], "validity": r["validity"]}


def model_report(store: GovernanceStore, *, model: str, version: str, as_of: date | None = None,
                 suppress_below: int = SUPPRESS_BELOW, generated_by: str | None = None) -> dict:
    """The model version report as plain JSON values."""
    require_model(store, model=model, version=version)
    _check_threshold(suppress_below)
    card = _card(store, model=model, version=version)
    as_of = as_of or (date.fromisoformat(card["telemetry_to"][:10]) if card["telemetry_to"] else clock.today())
    evidence = review_evidence.gather_evidence(store, model=model, version=version, as_of=as_of)
    judged = {j.audit_id: j for j in fairness_policy.judge_audits(store, model=model, version=version)}
    audits = [_audit(store, audit_id=a["audit_id"], suppress_below=suppress_below, judged=judged.get(a["audit_id"]))
              for a in evidence["fairness_audits"]]
    explanation = _explanation(store, model=model, version=version)
    mapped = risks.list_risks(store, model=model, version=version)
    return {**_header(store, kind="model", report_id=f"{model}-{version}-{as_of}", generated_by=generated_by),
            "as_of": str(as_of), "model_card": card,
            "kpis": _kpis(store, model=model, version=version, as_of=as_of, snapshot=evidence["kpis"]),
            "drift": _drift(store, model=model, version=version, as_of=as_of, snapshot=evidence["drift"]),
            "fairness_audits": audits, "robustness_runs": evidence["robustness_runs"], "explanation": explanation,
            "risks": [r for r in mapped if r["status"] not in CLOSED],
            "closed_risks": [r for r in mapped if r["status"] in CLOSED],
            "decisions": [_decision(store, review_id=r["review_id"])
                          for r in review_state.list_reviews(store, model=model, version=version)],
            "privacy": {"suppress_below": suppress_below,
                        "note": SUPPRESSED_NOTE.format(n=suppress_below)
                        if any(a["suppressed_groups"] for a in audits) else None},
            "seeds": _seeds(store, fairness_bootstrap={a["audit_id"]: a["seed"] for a in audits},
                            explanation=explanation.get("seed")),
            "ledger": verification.verify(store)}


# --- the committee review report ---------------------------------------------------------------------------------
def review_report(store: GovernanceStore, *, review_id: str, generated_by: str | None = None) -> dict:
    """One review request: its frozen evidence, re-hashed now, the votes, the decision and the conditions."""
    r = review_state.review(store, review_id=review_id)
    recomputed = review_evidence.evidence_hash(r["evidence"])
    return {**_header(store, kind="review", report_id=review_id, generated_by=generated_by),
            "review": {k: r[k] for k in ("review_id", "model", "version", "from_stage", "gate", "as_of",
                                         "requested_by", "requested_at", "status", "validity")},
            "request": r["request"], "evidence": r["evidence"], "evidence_hash": r["evidence_hash"],
            "evidence_intact": recomputed == r["evidence_hash"], "evidence_hash_recomputed": recomputed,
            "signatures": [{k: v.get(k) for k in SIGNATURE_FIELDS} for v in r["votes"]],
            "tally": r["tally"], "decision": r["decision"], "conditions": r["conditions"],
            "committee": committee.members(store), "seeds": _seeds(store), "ledger": verification.verify(store)}


# --- the framework coverage report -------------------------------------------------------------------------------
def coverage_report(store: GovernanceStore, *, generated_by: str | None = None, today: date | None = None) -> dict:
    """Coverage and gaps of every framework across the portfolio, with the models and risks they rest on."""
    today = today or clock.today()
    register = risks.list_risks(store)   # folded once, for every version below
    portfolio = [{"model": v["model"], "version": v["version"], "stage": v["stage"], "risk_tier": v["risk_tier"],
                  "open_risks": sum(1 for r in register if r["status"] not in CLOSED
                                    and risks.maps_to(r, model=v["model"], version=v["version"]))}
                 for v in list_versions(store).to_dict("records")]
    frameworks = [risks.coverage(store, framework=key, today=today) for key in risks.FRAMEWORKS]
    return {**_header(store, kind="coverage", report_id=f"coverage-{today}", generated_by=generated_by),
            "as_of": str(today), "portfolio": portfolio, "frameworks": frameworks,
            "risks": [{k: r[k] for k in ("risk_id", "title", "status", "owner", "clauses", "models",
                                         "inherent_level", "residual_level")} for r in register],
            "seeds": _seeds(store), "ledger": verification.verify(store)}


# --- the EU AI Act technical documentation (Annex IV) -----------------------------------------------------------------
def annex_iv_report(store: GovernanceStore, *, model: str, version: str, as_of: date | None = None,
                    suppress_below: int = SUPPRESS_BELOW, generated_by: str | None = None) -> dict:
    """One version's Annex IV technical documentation: the model version report's record, and the committee,
    checklist, policies, rules and framework coverage behind it, point by point (reports.annex_iv)."""
    base = model_report(store, model=model, version=version, as_of=as_of, suppress_below=suppress_below,
                        generated_by=generated_by)
    return annex_iv.annex_iv_document(store, base=base)


def build(store: GovernanceStore, *, kind: str, model: str | None = None, version: str | None = None,
          review_id: str | None = None, suppress_below: int = SUPPRESS_BELOW, generated_by: str | None = None) -> dict:
    """The report of `kind` with what it needs, or a clear error naming what is missing."""
    if kind == "model":
        if not model or not version:
            raise InvalidInputError("a model report needs --model and --version")
        return model_report(store, model=model, version=version, suppress_below=suppress_below,
                            generated_by=generated_by)
    if kind == "review":
        if not review_id:
            raise InvalidInputError("a review report needs --review, e.g. --review RV-0001")
        return review_report(store, review_id=review_id, generated_by=generated_by)
    if kind == "coverage":
        return coverage_report(store, generated_by=generated_by)
    if kind == "annex-iv":
        if not model or not version:
            raise InvalidInputError(ANNEX_IV_NEEDS_VERSION)
        return annex_iv_report(store, model=model, version=version, suppress_below=suppress_below,
                               generated_by=generated_by)
    raise InvalidInputError(f"the report kind must be one of {', '.join(KINDS)}, got {kind!r}")


# --- the pipeline ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedReport:
    """A report's content and its files, one per format asked (bytes), with the seconds each stage took."""
    report: dict
    files: dict[str, bytes]
    timings: dict[str, float]


def prepare_report(store: GovernanceStore, *, kind: str, formats: tuple[str, ...], actor: User,
                   model: str | None = None, version: str | None = None, review_id: str | None = None,
                   suppress_below: int = SUPPRESS_BELOW,
                   progress: Callable[[float, str], None] | None = None) -> PreparedReport:
    """The one report pipeline, the Reports page's and `python -m governance report`'s: gather the record, render
    the formats asked for, and seal the audit pack over the PDF, HTML and JSON when 'pack' is among them. The
    report is printed as generated by `actor`, the signed-in or checked account (never a name typed in)."""
    from governance.reports import audit_pack, render as report_render   # WeasyPrint and matplotlib: only when a report is made

    if not isinstance(actor, User):
        raise PermissionDeniedError(NOBODY_GENERATED)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InvalidInputError(UNKNOWN_FORMAT.format(known=", ".join(FORMATS), value=(unknown or [None])[0]))
    say = progress or (lambda fraction, message: None)
    say(0.02, "Gathering the record")
    built = build(store, kind=kind, model=model, version=version, review_id=review_id,
                  suppress_below=suppress_below, generated_by=actor.recorded_as)
    rendering = tuple(f for f in FORMATS[:3] if f in formats or "pack" in formats)
    rendered, timings = report_render.render(built, formats=rendering,
                                             progress=lambda f, m: say(0.1 + 0.8 * f, m))
    files = {f: rendered[f] for f in formats if f != "pack"}
    if "pack" in formats:
        say(0.95, "Sealing the audit pack")
        files["pack"] = audit_pack.build_pack(built, rendered=rendered, store=store)
    return PreparedReport(built, files, timings)
