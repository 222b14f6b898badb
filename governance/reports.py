"""Audit reports that stand on their own. This first part builds the model version report as JSON: the model card
with its governance record (KPIs, drift, fairness audits, explanation, risks, every decision with its signatures
manifested) and the ledger's state, in one document with a schema version, for auditors who never open the app.

Per-group figures of groups smaller than the suppression threshold are withheld ("< 10") in exports: a table of
a handful of people can identify them. The report says so where it happens.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd

from governance import fairness, ledger, risks, signoffs
from governance.errors import InvalidInputError
from governance.inventory import list_models, list_versions, require_model
from governance.store import GovernanceStore

SCHEMA_VERSION = 1
SUPPRESS_BELOW = 10
SUPPRESSED_NOTE = ("Groups with fewer than {n} people are shown as \"< {n}\" without their figures, so that no "
                   "one in them can be identified from the report.")
BAD_THRESHOLD = "the suppression threshold must be a whole number from 1 to 1,000, got {value!r}"
SIGNATURE_FIELDS = ("printed_name", "role", "signed_at", "meaning", "reason", "evidence_hash", "auth_method")


def _card(store: GovernanceStore, *, model: str, version: str) -> dict:
    about = list_models(store).set_index("name").loc[model]
    row = list_versions(store).set_index(["model", "version"]).loc[(model, version)]
    return {"model": model, "version": version, "purpose": about["purpose"], "intended_use": about["intended_use"],
            "owner": about["owner"], "risk_tier": about["risk_tier"], "dataset": about["dataset"],
            "stage": row["stage"], "algorithm": row["algorithm"], "artifact_sha256": row["artifact_sha256"],
            "training_metrics": row["training_metrics"], "telemetry_rows": int(row["telemetry_rows"]),
            "telemetry_from": None if pd.isna(row["first_ts"]) else str(row["first_ts"]),
            "telemetry_to": None if pd.isna(row["last_ts"]) else str(row["last_ts"])}


def _group(group: dict, *, suppress_below: int) -> dict:
    if group.get("n", 0) >= suppress_below:
        return group
    return {"group": group["group"], "sensitive": group.get("sensitive"), "n": f"< {suppress_below}",
            "status": group.get("status"), "suppressed": True}


def _audit(store: GovernanceStore, *, audit_id: str, suppress_below: int) -> dict:
    audit = fairness.get_audit(store, audit_id=audit_id)
    groups = [_group(g, suppress_below=suppress_below) for g in audit.get("groups", [])]
    return {"audit_id": audit_id, "verdict": audit["verdict"], "ran_at": audit["ran_at"], "ran_by": audit["ran_by"],
            "defined_by": audit["defined_by"], "definition_hash": audit["definition_hash"],
            "evidence_hash": audit["evidence_hash"], "n": audit["n"], "correction": audit.get("correction"),
            "criteria": [{k: c.get(k) for k in ("name", "sensitive", "value", "ci_low", "ci_high", "threshold",
                                                 "operator", "verdict", "explanation")}
                         for c in audit.get("criteria", [])],
            "groups": groups, "suppressed_groups": sum(1 for g in groups if g.get("suppressed"))}


def _decision(store: GovernanceStore, *, review_id: str) -> dict:
    r = signoffs.review(store, review_id=review_id)
    return {"review_id": review_id, "gate": r["gate"], "from_stage": r["from_stage"], "as_of": r["as_of"],
            "requested_by": r["requested_by"], "requested_at": r["requested_at"], "evidence_hash": r["evidence_hash"],
            "signatures": [{k: v.get(k) for k in SIGNATURE_FIELDS} for v in r["votes"]],
            "decision": r["decision"], "conditions": r["conditions"], "validity": r["validity"]}


def model_report(store: GovernanceStore, *, model: str, version: str, as_of: date | None = None,
                 suppress_below: int = SUPPRESS_BELOW) -> dict:
    """The model version report as plain JSON values (schema_version 1; the README documents the fields)."""
    require_model(store, model=model, version=version)
    if isinstance(suppress_below, bool) or not isinstance(suppress_below, int) or not 1 <= suppress_below <= 1000:
        raise InvalidInputError(BAD_THRESHOLD.format(value=suppress_below))
    card = _card(store, model=model, version=version)
    as_of = as_of or (date.fromisoformat(card["telemetry_to"][:10]) if card["telemetry_to"] else date.today())
    evidence = signoffs.gather_evidence(store, model=model, version=version, as_of=as_of)
    audits = [_audit(store, audit_id=a["audit_id"], suppress_below=suppress_below)
              for a in evidence["fairness_audits"]]
    return {"schema_version": SCHEMA_VERSION, "kind": "model", "report_id": f"{model}-{version}-{as_of}",
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "generator": "Quorum", "workspace": store.path.name, "as_of": str(as_of),
            "model_card": card, "kpis": evidence["kpis"], "drift": evidence["drift"],
            "fairness_audits": audits, "explanation": evidence["explanation"],
            "risks": [r for r in risks.list_risks(store, model=model)
                      if any(m in (model, f"{model} {version}") for m in r["models"])],
            "decisions": [_decision(store, review_id=r["review_id"])
                          for r in signoffs.list_reviews(store, model=model, version=version)],
            "privacy": {"suppress_below": suppress_below,
                        "note": SUPPRESSED_NOTE.format(n=suppress_below)
                        if any(a["suppressed_groups"] for a in audits) else None},
            "ledger": ledger.verify(store)}
