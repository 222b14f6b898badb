"""The audit pack: one zip an auditor can keep and check offline. It holds the report as PDF, HTML and JSON, the
tables behind it as CSV, and manifest.json: each file's SHA-256 and size, the library versions and seeds the figures
came from, the ledger's head hash and verification result, the generator and the time.

`verify_pack` re-hashes every file against the manifest and names any file changed, missing or added. The manifest
also carries an HMAC made with the workspace's ledger key: where that key is available (the workspace's own
machine), it shows that the manifest itself was not rewritten to match altered files.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import platform
import zipfile
from importlib import metadata

from governance.csv_safety import safe_cell as _cell
from governance.errors import InvalidInputError
from governance.record import ledger_keys
from governance.record.canonical import canonical_json
from governance.record.store import GovernanceStore

MANIFEST = "manifest.json"
PACK_FORMAT = "quorum-audit-pack"
MANIFEST_VERSION = 1
LIBRARIES = ("duckdb", "pandas", "numpy", "scikit-learn", "scipy", "fairlearn", "shap", "skops", "streamlit",
             "plotly", "matplotlib", "Jinja2", "weasyprint")
MAX_MEMBER_BYTES = 512 * 1024 * 1024   # a pack member larger than this is not a Quorum pack: refuse, do not inflate
NOT_A_PACK = "{name} is not an audit pack: {why}. Give the .zip that `python -m governance report --format pack` wrote"


def _csv(columns: list[str], rows: list[dict]) -> bytes:
    """A CSV table, every text cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def _group_name(group: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in group.items())


def _model_tables(report: dict) -> dict[str, bytes]:
    criteria = [{"audit_id": a["audit_id"], **c} for a in report["fairness_audits"] for c in a["criteria"]]
    groups = []
    for audit in report["fairness_audits"]:
        for g in audit["groups"]:
            row = {"audit_id": audit["audit_id"], "group": _group_name(g["group"]), "n": g["n"],
                   "status": "withheld" if g.get("suppressed") else g["status"]}
            for name, value in (g.get("metrics") or {}).items():
                row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = (value.get("value"), value.get("ci_low"),
                                                                             value.get("ci_high"))
            groups.append(row)
    metric_columns = sorted({k for g in groups for k in g} - {"audit_id", "group", "n", "status"})
    risks = report["risks"] + report["closed_risks"]
    controls = [{"risk_id": r["risk_id"], **c} for r in risks for c in r["controls"]]
    signatures = [{"review_id": d["review_id"], **s} for d in report["decisions"] for s in d["signatures"]]
    conditions = [{"review_id": d["review_id"], **c} for d in report["decisions"] for c in d["conditions"]]
    return {
        "kpis_daily.csv": _csv(["date", "predictions", "accuracy", "latency_p50_ms", "latency_p95_ms",
                                "latency_p99_ms", "error_rate", "label_coverage"], report["kpis"].get("daily", [])),
        "service_levels.csv": _csv(["kpi", "value", "status", "target", "warning", "rule"],
                                   report["kpis"].get("service_levels", [])),
        "drift_weekly.csv": _csv(["period", "feature", "psi", "status"], report["drift"].get("weekly", [])),
        "fairness_criteria.csv": _csv(["audit_id", "name", "sensitive", "value", "ci_low", "ci_high", "operator",
                                       "threshold", "verdict", "explanation"], criteria),
        "fairness_groups.csv": _csv(["audit_id", "group", "n", "status", *metric_columns], groups),
        "explanation_importance.csv": _csv(["feature", "mean_abs_shap"], report["explanation"].get("global", [])),
        "risks.csv": _csv(["risk_id", "title", "category", "models", "owner", "status", "inherent_score",
                           "inherent_level", "residual_score", "residual_level", "clauses", "description"], risks),
        "risk_controls.csv": _csv(["risk_id", "control_id", "title", "owner", "due", "status"], controls),
        "signatures.csv": _csv(["review_id", "printed_name", "role", "signed_at", "meaning", "reason",
                                "evidence_hash", "auth_method"], signatures),
        "conditions.csv": _csv(["review_id", "condition_id", "text", "owner", "due", "status", "overdue",
                                "updated_by", "updated_at", "update_reason"], conditions),
    }


def _review_tables(report: dict) -> dict[str, bytes]:
    audits = [{**a, **{f"criteria_{k}": v for k, v in a["criteria"].items()}}
              for a in report["evidence"]["fairness_audits"]]
    return {
        "signatures.csv": _csv(["printed_name", "role", "signed_at", "meaning", "reason", "evidence_hash",
                                "auth_method"], report["signatures"]),
        "conditions.csv": _csv(["condition_id", "text", "owner", "due", "status", "overdue", "updated_by",
                                "updated_at", "update_reason"], report["conditions"]),
        "evidence_fairness_audits.csv": _csv(["audit_id", "verdict", "criteria_pass", "criteria_fail",
                                              "criteria_inconclusive", "evidence_hash"], audits),
        "evidence_open_risks.csv": _csv(["risk_id", "title", "category", "inherent_level", "status"],
                                        report["evidence"]["open_risks"]),
    }


def _coverage_tables(report: dict) -> dict[str, bytes]:
    clauses = [{"framework": f["name"], **c} for f in report["frameworks"] for c in f["clauses"]]
    return {
        "coverage.csv": _csv(["framework", "ref_id", "title", "status", "risks", "has_control",
                              "has_fresh_evidence"], clauses),
        "portfolio.csv": _csv(["model", "version", "stage", "risk_tier", "open_risks"], report["portfolio"]),
        "risks.csv": _csv(["risk_id", "title", "status", "owner", "models", "clauses", "inherent_level",
                           "residual_level"], report["risks"]),
    }


def _annex_iv_tables(report: dict) -> dict[str, bytes]:
    points = [{"ref_id": p["ref_id"], "heading": p["heading"], "title": p["title"], "status": p["status"],
               "filled_from": "; ".join(c["label"] for c in p["content"]),
               "missing_from_record": "; ".join(m["label"] for m in p["missing"] if m["source"] in p["sources"])}
              for p in report["points"]]
    missing = [{"ref_id": p["ref_id"], "status": p["status"], **m} for p in report["points"] for m in p["missing"]]
    return {"annex_iv_points.csv": _csv(["ref_id", "heading", "title", "status", "filled_from", "missing_from_record"],
                                        points),
            "annex_iv_missing.csv": _csv(["ref_id", "status", "source", "what", "remedy"], missing)}


def csv_tables(report: dict) -> dict[str, bytes]:
    """The tables behind a report, as CSV files by name (small groups already withheld in the report)."""
    return {"model": _model_tables, "review": _review_tables, "coverage": _coverage_tables,
            "annex-iv": _annex_iv_tables}[report["kind"]](report)


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _canonical(manifest: dict) -> bytes:
    """The manifest, less its seal, as the workspace's canonical JSON. Only a tampered manifest can hold NaN or
    infinity (a pack never writes them); it serialises to nothing, so its seal reads INVALID instead of failing."""
    try:
        return canonical_json({k: v for k, v in manifest.items() if k != "manifest_hmac"}).encode("utf-8")
    except ValueError:
        return b""


def build_pack(report: dict, *, rendered: dict[str, bytes], store: GovernanceStore) -> bytes:
    """The zip: report.pdf, report.html, report.json (from `rendered`), tables/*.csv and manifest.json, sealed
    with the workspace's key (refused, before anything is made, when the key at hand is missing or not its)."""
    seal_key = ledger_keys.for_writing(store).sub_key(ledger_keys.PACK_SEAL)
    files = {f"report.{fmt}": rendered[fmt] for fmt in ("pdf", "html", "json")}
    files.update({f"tables/{name}": content for name, content in csv_tables(report).items()})
    manifest = {
        "format": PACK_FORMAT, "manifest_version": MANIFEST_VERSION, "report_id": report["report_id"],
        "kind": report["kind"], "schema_version": report["schema_version"], "workspace": report["workspace"],
        "generator": report["generator"], "generated_at": report["generated_at"],
        "generated_by": report["generated_by"],
        "files": [{"path": path, "sha256": _sha256(content), "bytes": len(content)}
                  for path, content in sorted(files.items())],
        "libraries": library_versions(), "seeds": report.get("seeds"),
        "ledger": {"head_hash": report["ledger"].get("head_hash"), "entries": report["ledger"].get("entries"),
                   "verified": bool(report["ledger"].get("ok")), "problem": report["ledger"].get("problem")},
        "suppress_below": (report.get("privacy") or {}).get("suppress_below"),
    }
    manifest["manifest_hmac"] = hmac.new(seal_key, _canonical(manifest), hashlib.sha256).hexdigest()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        pack.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        for path, content in sorted(files.items()):
            pack.writestr(path, content)
    return out.getvalue()


def verify_pack(content: bytes, *, name: str = "the file", key: ledger_keys.LedgerKey | None = None) -> dict:
    """Every file re-hashed against the manifest: {ok, report_id, checked, changed, missing, added, manifest}.
    `manifest` says whether the manifest's HMAC matched the ledger key given ('verified', 'INVALID', or
    'not checked' when no key is at hand)."""
    try:
        pack = zipfile.ZipFile(io.BytesIO(content))
        listed = {i.filename: i for i in pack.infolist() if not i.is_dir()}
        if MANIFEST not in listed:
            raise InvalidInputError(NOT_A_PACK.format(name=name, why="it has no manifest.json"))
        manifest = json.loads(pack.read(MANIFEST))
        if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
            raise InvalidInputError(NOT_A_PACK.format(name=name, why="its manifest.json is not a Quorum manifest"))
        expected = {f["path"]: f for f in manifest["files"]}
        changed, checked = [], 0
        for path, entry in expected.items():
            if path not in listed:
                continue
            if listed[path].file_size > MAX_MEMBER_BYTES:
                changed.append(path)
                continue
            data = pack.read(path)
            checked += 1
            if _sha256(data) != entry["sha256"] or len(data) != entry["bytes"]:
                changed.append(path)
    except (zipfile.BadZipFile, json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(NOT_A_PACK.format(name=name, why=f"it cannot be read ({type(exc).__name__})")) \
            from None
    missing = sorted(set(expected) - set(listed))
    added = sorted(set(listed) - set(expected) - {MANIFEST})
    if key is None:
        seal = "not checked"
    else:
        genuine = hmac.compare_digest(str(manifest.get("manifest_hmac", "")),
                                      hmac.new(key.sub_key(ledger_keys.PACK_SEAL), _canonical(manifest),
                                               hashlib.sha256).hexdigest())
        seal = "verified" if genuine else "INVALID"
    return {"ok": not (changed or missing or added) and seal != "INVALID", "report_id": manifest.get("report_id"),
            "checked": checked, "changed": sorted(changed), "missing": missing, "added": added, "manifest": seal,
            "ledger": manifest.get("ledger")}
