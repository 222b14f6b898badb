"""The EU AI Act's technical documentation (Annex IV of Regulation (EU) 2024/1689) of one model version, point by
point, filled from the workspace's record.

The structure is data: data/eu_ai_act_annex_iv.csv lists Annex IV's points (1(a)-(h), 2(a)-(h), 3 to 9), each with
the workspace *sources* that can fill it and what only people can write. Each source is read here through the
services the model version report uses (the model card, KPIs and service levels, fairness audits, robustness runs,
the explanation, the risk register and its framework coverage, the committee, the release checklist, the
retraining policy, alert rules and the ledger's stage changes); nothing is derived anew.

A point is *filled* when at least one of its sources holds a record made for this model: a default nobody chose
(the retraining policy or alert rules Quorum applies until someone records the model's own) or a placeholder
("(not given at registration)") fills nothing. Whatever a point still lacks is listed beside it with what would
fill it: the command or page action, or "written by people" for what Quorum does not record. A point with no
filled source is a *gap*. The report supports a provider's technical file; it is not legal advice.
"""

from __future__ import annotations

import csv
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from governance.decisions import committee, release_gate, review_state, risks
from governance.errors import GovernanceError, InvalidInputError
from governance.evidence.evaluation_sets import evaluation_set
from governance.evidence.model_registry import NOT_GIVEN, described_training_data
from governance.monitoring.drift import drift_thresholds
from governance.monitoring.inventory import list_versions
from governance.monitoring.service_levels import service_levels
from governance.record import ledger
from governance.record.repositories import models
from governance.record.store import GovernanceStore
from governance.record.workspace import DATA_DIR
from governance.vocabulary import SIGNOFF_STAGES, SUPPRESS_BELOW

ANNEX_IV_FILE = DATA_DIR / "eu_ai_act_annex_iv.csv"
COLUMNS = ("ref_id", "point", "heading", "title", "requirement", "sources", "written_by_people")
KIND = "annex-iv"
# What registration stores where a field was not given (governance/evidence/model_registry.py): not content.
BAD_COLUMNS = ("{name} must have the columns {expected}, got {found}: restore the file from the Quorum release "
               "(data/eu_ai_act_annex_iv.csv)")
BAD_ROW = "{name}, line {line}: {problem}; restore the file from the Quorum release (data/eu_ai_act_annex_iv.csv)"
PEOPLE = "written by people"
WRITE_IT = "write it in the technical file this report supports: Quorum does not record it"
DISCLAIMER = ("This document supports a provider's technical documentation under Article 11 and Annex IV of "
              "Regulation (EU) 2024/1689 with what Quorum records. It is not legal advice, and it is not the "
              "technical documentation by itself: the parts marked 'written by people' and every gap must be "
              "completed, and the whole reviewed, by the provider.")
TOP_FEATURES = 10
CLOSED = ("closed", "withdrawn", "dismissed")


class AnnexDataError(GovernanceError):
    """The shipped Annex IV structure cannot be read."""


@dataclass(frozen=True)
class AnnexPoint:
    """One point of Annex IV as the shipped file states it."""
    ref_id: str
    point: str
    heading: str
    title: str
    requirement: str
    sources: tuple[str, ...]
    written_by_people: str


@dataclass(frozen=True)
class SourceFill:
    """What one workspace source holds for the version: facts and tables when it is filled; otherwise what is
    missing and what would fill it."""
    source: str
    filled: bool
    facts: tuple[tuple[str, object], ...] = ()
    tables: tuple[dict, ...] = ()
    missing: str | None = None
    remedy: str | None = None

    def as_dict(self) -> dict:
        return {"source": self.source, "label": SOURCES[self.source][0],
                "facts": [{"label": label, "value": value} for label, value in self.facts],
                "tables": list(self.tables)}


def _table(caption: str, columns: list[str], rows: list[list]) -> dict:
    return {"caption": caption, "columns": columns, "rows": rows}


# --- the structure -----------------------------------------------------------------------------------------------
def load_points(*, path: Path = ANNEX_IV_FILE) -> tuple[AnnexPoint, ...]:
    """Annex IV's points from the shipped file, checked: its columns, one row per point, every source known."""
    name = path.name
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise AnnexDataError(BAD_COLUMNS.format(name=name, expected=", ".join(COLUMNS),
                                                        found=", ".join(reader.fieldnames or ()) or "nothing"))
            records = list(reader)
    except OSError as exc:
        raise AnnexDataError(f"cannot read {name} ({exc.strerror}): restore it from the Quorum release") from None
    points, seen = [], set()
    for line, record in enumerate(records, start=2):
        if None in record or any(record[c] is None for c in COLUMNS):
            raise AnnexDataError(BAD_ROW.format(name=name, line=line, problem=f"it needs exactly {len(COLUMNS)} "
                                                "fields (quote a field that holds a comma)"))
        empty = [c for c in COLUMNS[:5] if not record[c].strip()]
        if empty:
            raise AnnexDataError(BAD_ROW.format(name=name, line=line, problem=f"{', '.join(empty)} is empty"))
        if record["ref_id"] in seen:
            raise AnnexDataError(BAD_ROW.format(name=name, line=line, problem=f"{record['ref_id']} is listed twice"))
        seen.add(record["ref_id"])
        sources = tuple(s.strip() for s in record["sources"].split(";") if s.strip())
        unknown = [s for s in sources if s not in SOURCES]
        if unknown:
            raise AnnexDataError(BAD_ROW.format(name=name, line=line, problem=f"unknown source {unknown[0]!r} (the "
                                                f"sources are {', '.join(SOURCES)})"))
        if not sources and not record["written_by_people"].strip():
            raise AnnexDataError(BAD_ROW.format(name=name, line=line, problem="a point needs a source or what "
                                                "people write"))
        points.append(AnnexPoint(record["ref_id"].strip(), record["point"].strip(), record["heading"].strip(),
                                 record["title"].strip(), record["requirement"].strip(), sources,
                                 record["written_by_people"].strip()))
    if not points:
        raise AnnexDataError(BAD_ROW.format(name=name, line=2, problem="it lists no point"))
    return tuple(points)


# --- what the workspace holds about the version, read once --------------------------------------------------------
@dataclass
class _Record:
    store: GovernanceStore
    model: str
    version: str
    base: dict                                   # the model version report (reports.model_report)
    versions: list[dict]
    mapped: list[dict]                           # the version's risks, closed ones included
    cache: dict = field(default_factory=dict)

    @property
    def card(self) -> dict:
        return self.base["model_card"]

    def args(self) -> str:
        return f"--model {shlex.quote(self.model)} --version {shlex.quote(self.version)}"

    def once(self, key: str, compute: Callable[[], object]):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def _given(text) -> bool:
    return isinstance(text, str) and bool(text.strip()) and text.strip() != NOT_GIVEN


def _day(value) -> str | None:
    return None if value is None or pd.isna(value) else str(pd.Timestamp(value).date())


# --- the sources: each reads one part of the record through its service -------------------------------------------
def _registration(r: _Record) -> SourceFill:
    card = r.card
    if not _given(card["purpose"]):
        return SourceFill("registration", False, missing="the model's intended purpose: it was not given at "
                          "registration",
                          remedy="give it with --purpose when the model is first registered (`python -m governance "
                                 f"model register --model {shlex.quote(r.model)} --version VERSION --file MODEL.skops "
                                 "--purpose TEXT`); Quorum has no command to change it afterwards, so until then "
                                 "write it in the technical file")
    return SourceFill("registration", True, facts=(
        ("Model", r.model), ("Version", r.version), ("Intended purpose", card["purpose"]),
        ("Owner (who answers for it)", card["owner"]), ("Risk tier", card["risk_tier"]), ("Stage", card["stage"])))


def _versions(r: _Record) -> SourceFill:
    rows = [[v["version"], v["stage"], v["algorithm"], _day(v["created_at"]),
             v["artifact_sha256"] if isinstance(v["artifact_sha256"], str) else None] for v in r.versions]
    return SourceFill("versions", True, facts=(("This version", r.version), ("Versions of the model", len(rows))),
                      tables=(_table("Every version of the model", ["Version", "Stage", "Algorithm", "Registered",
                                                                    "Model file SHA-256"], rows),))


def _version_history(r: _Record) -> SourceFill:
    if len(r.versions) < 2:
        return SourceFill("version_history", False, missing=f"an earlier or later version: {r.version} is the "
                          "model's only version",
                          remedy="register each new version (`python -m governance model register --model "
                                 f"{shlex.quote(r.model)} --version NEW --file MODEL.skops --eval FILE.csv`)")
    return _versions(r)


def _intended_use(r: _Record) -> SourceFill:
    if not _given(r.card["intended_use"]):
        return SourceFill("intended_use", False, missing="the intended use: it was not given at registration",
                          remedy="give it with --intended-use when the model is first registered (`python -m "
                                 f"governance model register --model {shlex.quote(r.model)} --version VERSION "
                                 "--file MODEL.skops --intended-use TEXT`); Quorum has no command to change it "
                                 "afterwards, so for a model already registered write it in the technical file")
    return SourceFill("intended_use", True, facts=(("Intended use", r.card["intended_use"]),))


def _model_file(r: _Record) -> SourceFill:
    sha = r.card["artifact_sha256"]
    if not sha:
        return SourceFill("model_file", False, missing="the version's model file",
                          remedy="register the version with its model file (`python -m governance model register "
                                 f"{r.args()} --file MODEL.skops`)")
    return SourceFill("model_file", True, facts=(
        ("Model file", "skops format (scikit-learn objects, loaded without pickle)"), ("Model file SHA-256", sha),
        ("Algorithm", r.card["algorithm"]),
        ("How a version is updated", " → ".join(SIGNOFF_STAGES) + ": a version moves one stage at a time, each "
         "move on a valid committee approval and a passing release gate; a changed model is a new version")))


def _training(r: _Record) -> SourceFill:
    card = r.card
    if not card["algorithm"]:
        return SourceFill("training", False, missing="the version's algorithm",
                          remedy=f"register the version (`python -m governance model register {r.args()} "
                                 "--file MODEL.skops`)")
    this = next(v for v in r.versions if v["version"] == r.version)
    metrics = card["training_metrics"] or {}
    tables = (_table("Metrics on the held-out set at registration", ["Metric", "Value"],
                     [[k.replace("_", " "), v] for k, v in metrics.items()]),) if metrics else ()
    return SourceFill("training", True, facts=(("Algorithm", card["algorithm"]),
                                               ("Registered", _day(this["created_at"]))), tables=tables)


def _training_data(r: _Record) -> SourceFill:
    # the version's own description; the text registration writes when nobody gave one names no data
    described = described_training_data(models.training_data(r.store, model=r.model, version=r.version))
    dataset = r.card["dataset"] if _given(r.card["dataset"]) else None
    if described is None and dataset is None:
        return SourceFill("training_data", False, missing="the data the model was built from: neither a data set "
                          "nor a description of the training data was given at registration",
                          remedy="describe each new version's training data when registering it (`python -m "
                                 f"governance model register --model {shlex.quote(r.model)} --version NEW --file "
                                 "MODEL.skops --eval FILE.csv --training-data TEXT`); a registered version does not "
                                 "change, so for this one describe the data in the technical file")
    return SourceFill("training_data", True, facts=tuple(
        fact for fact in (("Data set, as registered", dataset),
                          ("Training data, as described at registration", described)) if fact[1] is not None))


def _evaluation(r: _Record):
    def read():
        try:
            return evaluation_set(r.store, model=r.model, version=r.version)
        except InvalidInputError:
            return None
    return r.once("evaluation", read)


def _evaluation_set(r: _Record) -> SourceFill:
    found = _evaluation(r)
    if found is None:
        return SourceFill("evaluation_set", False, missing="the version's held-out evaluation set",
                          remedy="register the version with its evaluation set and sensitive columns (`python -m "
                                 f"governance model register --model {shlex.quote(r.model)} --version NEW --file "
                                 "MODEL.skops --eval FILE.csv --sensitive COL`): a version registered without one "
                                 "needs a new version")
    return SourceFill("evaluation_set", True, facts=(
        ("Rows in the held-out evaluation set", found.rows),
        ("Sensitive attributes kept for audits", ", ".join(found.attributes) or "none"),
        ("Content SHA-256 of the set", found.content_sha256)))


def _explanation(r: _Record) -> SourceFill:
    e = r.base["explanation"]
    if e.get("note"):
        return SourceFill("explanation", False, missing=f"an explanation of the version's decisions ({e['note']})",
                          remedy=f"compute it on the Explanations page or with `python -m governance explain "
                                 f"{r.args()}`")
    rows = [[g["feature"], g["mean_abs_shap"]] for g in e["global"][:TOP_FEATURES]]
    return SourceFill("explanation", True, facts=(
        ("Explanation", f"{e['explanation_id']}, computed {e['computed_at']}"), ("Explainer", e["explainer"]),
        ("Rows explained", e["rows_explained"]), ("Output units", e["output_units"]),
        ("Ranking stability (Kendall's tau, worst)", e["stability_kendall_tau"]), ("In words", e["narrative"])),
        tables=(_table(f"The {len(rows)} inputs that move the score most", ["Input", "Mean |SHAP|"], rows),))


def _oversight(r: _Record) -> SourceFill:
    members = r.once("members", lambda: committee.members(r.store))
    if not members:
        return SourceFill("oversight", False, missing="a review committee: nobody sits on it",
                          remedy="put people with the role committee member or chair on it (`python -m governance "
                                 "signoff member add USER`, as an admin or the chair)")
    rules = committee.rules(r.store)
    listed = release_gate.checklist(r.store, model=r.model, version=r.version)
    return SourceFill("oversight", True, facts=(
        ("Quorum of the committee", f"{rules['quorum_fraction']:.0%} of its members"),
        ("Chair's vote required", "yes" if rules["chair_required"] else "no"),
        ("A decision is valid for", f"{rules['decision_validity_days']} days"),
        ("Sign-off required", "each stage (" + " → ".join(SIGNOFF_STAGES) + ") needs a committee approval of the "
         "frozen evidence, a complete validation checklist and no open blocking risk"),
        ("Validation checklist of this version", "complete" if listed["complete"] else "not complete")),
        tables=(_table("The review committee", ["Name", "Role", "On it since"],
                       [[m["display_name"], m["role"], m["added_at"][:10]] for m in members]),
                _table("Validation checklist", ["Item", "Done", "Evidence"],
                       [[i["item"], i["done"], i["detail"]] for i in listed["items"]])))


def _retraining_policy(r: _Record) -> SourceFill:
    policy = r.once("retraining", lambda: release_gate.policy(r.store, model=r.model))
    if not policy["set_by"]:
        return SourceFill("retraining_policy", False, missing="a retraining policy of this model: only Quorum's "
                          "default applies, nobody has recorded one",
                          remedy=f"record it on the Admin page (Retraining policy) or with `python -m governance "
                                 f"retraining policy --model {shlex.quote(r.model)} --text TEXT`")
    return SourceFill("retraining_policy", True, facts=(
        ("Retrain when a feature drifts to 'act'", bool(policy["drift_act"])),
        ("Retrain when accuracy is below its service level on (days of 30)", policy["accuracy_below_slo_days"]),
        ("Retrain when label coverage falls below", policy["min_label_coverage"]),
        ("Retrain when the model is older than (days)", policy["max_model_age_days"]),
        ("The written policy", policy["text"] or "none"), ("Recorded by", f"{policy['set_by']}, {policy['set_at']}")))


def _audit_remedy(r: _Record) -> str:
    found = _evaluation(r)
    attributes = ",".join(found.attributes) if found is not None and found.attributes else "COL"
    return f"run one on the Fairness page or with `python -m governance audit run {r.args()} --sensitive {attributes}`"


def _fairness_audits(r: _Record) -> SourceFill:
    audits = r.base["fairness_audits"]
    if not audits:
        return SourceFill("fairness_audits", False, missing="a fairness audit of the version",
                          remedy=_audit_remedy(r))
    rows = [[a["audit_id"], a["verdict"], a["ran_by"], a["ran_at"], a["n"],
             "; ".join(f"{c['name']} {c['operator']} {c['threshold']}: {c['verdict']}" for c in a["criteria"])]
            for a in audits]
    return SourceFill("fairness_audits", True, tables=(
        _table("Fairness audits (criteria fixed before each ran)", ["Audit", "Verdict", "Run by", "Run at",
                                                                    "People", "Criteria"], rows),))


def _robustness_runs(r: _Record) -> SourceFill:
    runs = r.base["robustness_runs"]
    if not runs:
        return SourceFill("robustness_runs", False, missing="a robustness run of the version",
                          remedy=f"`python -m governance robustness run {r.args()}`")
    return SourceFill("robustness_runs", True, tables=(
        _table("Robustness runs (criteria fixed before each ran)", ["Run", "Verdict", "Criteria", "Ran at"],
               [[x["run_id"], x["verdict"], x["criteria"], x["ran_at"]] for x in runs]),))


def _security_risks(r: _Record) -> SourceFill:
    found = [k for k in r.mapped if k["category"] == "security"]
    if not found:
        return SourceFill("security_risks", False, missing="a security risk of the version, with its controls",
                          remedy=f"record it on the Risks page or with `python -m governance risks add --category "
                                 f"security --model {shlex.quote(f'{r.model} {r.version}')} --title TEXT --owner "
                                 "USER --likelihood 1-5 --impact 1-5`")
    return SourceFill("security_risks", True, tables=(_risk_table(found, "Security risks"),
                                                      _control_table(found)))


def _risk_table(items: list[dict], caption: str) -> dict:
    return _table(caption, ["Risk", "Title", "Category", "Owner", "Inherent", "Residual", "Status", "Clauses"],
                  [[k["risk_id"], k["title"], k["category"], k["owner"],
                    f"{k['inherent_level']} ({k['inherent_score']})" if k["inherent_score"] else None,
                    f"{k['residual_level']} ({k['residual_score']})" if k["residual_score"] else None,
                    k["status"], ", ".join(k["clauses"])] for k in items])


def _control_table(items: list[dict]) -> dict:
    return _table("Their controls", ["Risk", "Control", "Title", "Owner", "Due", "Status"],
                  [[k["risk_id"], c["control_id"], c["title"], c["owner"], c.get("due"), c["status"]]
                   for k in items for c in k["controls"]])


def _performance(r: _Record) -> SourceFill:
    k = r.base["kpis"]
    if k.get("note"):
        return SourceFill("performance", False, missing=f"the version's figures in use ({k['note']})",
                          remedy=f"ingest its predictions and outcomes (`python -m governance ingest telemetry FILE "
                                 f"{r.args()}`, or a telemetry source on the Admin page)")
    window = k["window"]
    return SourceFill("performance", True, facts=(
        ("Window", f"{window['from']} to {window['to']} ({window['days']} days)"), ("Predictions", k["predictions"]),
        ("Accuracy (share of labelled predictions right)", k["accuracy"]), ("p95 latency (ms)", k["latency_p95_ms"]),
        ("Error rate (share of requests failed)", k["error_rate"]), ("Label coverage", k["label_coverage"]),
        ("Service-level breaches in the window", len(k.get("breaches") or []))),
        tables=(_table("Service levels over the window", ["Indicator", "Value", "Status", "Rule"],
                       [[s["label"], s["value"], s["status"], s["rule"]] for s in k["service_levels"]]),))


def _group_accuracy(r: _Record) -> SourceFill:
    audits = [a for a in r.base["fairness_audits"] if a["groups"]]
    if not audits:
        return SourceFill("group_accuracy", False, missing="accuracy for the groups of people the system is used "
                          "on (a fairness audit measures it)", remedy=_audit_remedy(r))
    newest = audits[-1]   # the evidence lists audits oldest first
    rows = []
    for g in newest["groups"]:
        accuracy = None if g.get("suppressed") else ((g.get("metrics") or {}).get("accuracy") or {}).get("value")
        rows.append([", ".join(f"{a} = {v}" for a, v in g["group"].items()), g["n"],
                     "withheld" if g.get("suppressed") else accuracy, g["status"]])
    return SourceFill("group_accuracy", True, facts=(("From audit", f"{newest['audit_id']}, run {newest['ran_at']}"),),
                      tables=(_table("Accuracy by group of people", ["Group", "People", "Accuracy", "Status"],
                                     rows),))


def _risks(r: _Record) -> SourceFill:
    if not r.mapped:
        return SourceFill("risks", False, missing="risks of the version in the risk register",
                          remedy=f"record them on the Risks page or with `python -m governance risks add --model "
                                 f"{shlex.quote(f'{r.model} {r.version}')} --title TEXT --category CATEGORY --owner "
                                 "USER --likelihood 1-5 --impact 1-5 --clause 'Article 9'`")
    blocking = release_gate.blocking_risks(r.store, model=r.model, version=r.version)
    open_risks = [k for k in r.mapped if k["status"] not in CLOSED]
    return SourceFill("risks", True, facts=(
        ("Risks of the version", f"{len(open_risks)} open, {len(r.mapped) - len(open_risks)} closed, withdrawn or "
                                 "dismissed"),
        ("Blocking its release gate", ", ".join(b["risk_id"] for b in blocking) or "none")),
        tables=(_risk_table(r.mapped, "The version's risks"), _control_table(r.mapped)))


def _stage_changes(r: _Record) -> SourceFill:
    found = [e["payload"] for e in ledger.entries(r.store, kind="stage_change") if e["payload"]["model"] == r.model]
    if not found:
        return SourceFill("stage_changes", False, missing="a stage change recorded in the ledger",
                          remedy=f"move the version on a committee approval (`python -m governance signoff advance "
                                 f"{r.args()} --stage STAGE --reason TEXT`)")
    return SourceFill("stage_changes", True, tables=(_table(
        "Stage changes recorded in the ledger", ["Version", "From", "To", "At", "By", "On review", "Reason"],
        [[p["version"], p["from_stage"], p["to_stage"], p["changed_at"], p["changed_by"], p["review_id"],
          p["reason"]] for p in found]),))


def _decisions(r: _Record) -> SourceFill:
    found = review_state.list_reviews(r.store, model=r.model)
    if not found:
        return SourceFill("decisions", False, missing="a committee review of the model",
                          remedy=f"request one on the Sign-offs page or with `python -m governance signoff request "
                                 f"{r.args()} --gate STAGE`")
    return SourceFill("decisions", True, tables=(_table(
        "Committee reviews and decisions", ["Review", "Version", "Gate", "Requested", "Outcome", "Decided",
                                            "Validity"],
        [[v["review_id"], v["version"], v["gate"], v["requested_at"], v["outcome"] or "open", v["decided_at"],
          v["validity"]] for v in reversed(found)]),))


def _service_levels(r: _Record) -> SourceFill:
    levels = r.once("levels", lambda: service_levels(r.store, model=r.model))
    if not levels:
        return SourceFill("service_levels", False, missing="service levels of the model",
                          remedy="set them on the KPIs page (Service-level objectives), as an engineering leader "
                                 "or admin")
    return SourceFill("service_levels", True, tables=(_table(
        "Service levels (each with its error budget)", ["Indicator", "Rule", "Set by", "Set at"],
        [[level.definition.label, level.rule(), level.set_by, _day(level.set_at)]
         for _, level in sorted(levels.items())]),))


def _telemetry(r: _Record) -> SourceFill:
    card = r.card
    if not card["telemetry_rows"]:
        return SourceFill("telemetry", False, missing="telemetry of the version in use",
                          remedy=f"ingest its predictions and outcomes (`python -m governance ingest telemetry FILE "
                                 f"{r.args()}`, or a telemetry source on the Admin page)")
    from governance import alerts   # the alert rules, only where the report is made

    thresholds = drift_thresholds(r.store, model=r.model)
    return SourceFill("telemetry", True, facts=(
        ("Predictions recorded", card["telemetry_rows"]),
        ("From", card["telemetry_from"]), ("To", card["telemetry_to"]),
        ("Alert rules checked every (minutes)", alerts.schedule(r.store)["every_minutes"]),
        ("Drift rule", thresholds.rule() + ("" if thresholds.set_by is None else f" (set by {thresholds.set_by})"))))


def _alert_rules(r: _Record) -> SourceFill:
    from governance import alerts

    recorded = ledger.entries(r.store, kind="alert_rules", subject=r.model)
    if not recorded:
        return SourceFill("alert_rules", False, missing="alert rules of this model: Quorum's defaults apply (each "
                          "condition to the role that acts on it), nobody has recorded the model's own",
                          remedy="record them on the Admin page (Alert rules)")
    in_force = alerts.rules(r.store, model=r.model)
    return SourceFill("alert_rules", True, facts=(("Recorded by", recorded[-1]["payload"]["set_by"]),), tables=(
        _table("Alert rules in force", ["Condition", "On", "Severity", "Recipients"],
               [[alerts.WHAT_WORDS[what], rule["enabled"], rule["severity"], ", ".join(rule["recipients"])]
                for what, rule in in_force.items()]),))


def _clauses(r: _Record, frameworks: tuple[str, ...]) -> list[list]:
    """Framework clauses the version's risks map to, with the clause's coverage across the portfolio."""
    ids = {k["risk_id"] for k in r.mapped}
    rows = []
    for key in frameworks:
        found = r.once(f"coverage-{key}", lambda key=key: risks.coverage(r.store, framework=key))
        for clause in found["clauses"]:
            mine = [k for k in clause["risks"] if k in ids]
            if mine:
                rows.append([found["name"], clause["ref_id"], clause["title"], ", ".join(mine), clause["status"]])
    return rows


def _standards(r: _Record) -> SourceFill:
    rows = _clauses(r, ("iso42001", "nist"))
    if not rows:
        return SourceFill("standards", False, missing="ISO/IEC 42001 or NIST AI RMF clauses the version's risks "
                          "map to",
                          remedy="map its risks to clauses on the Risks page or with `python -m governance risks "
                                 "update RISK-ID --clauses 'A.6;MEASURE 2.11' --reason TEXT`")
    return SourceFill("standards", True, tables=(_table(
        "Clauses of ISO/IEC 42001 and NIST AI RMF 1.0 the version's risks treat",
        ["Framework", "Clause", "Title", "Risks of this version", "Coverage"], rows),))


def _euaia_coverage(r: _Record) -> SourceFill:
    rows = _clauses(r, ("euaia",))
    if not rows:
        return SourceFill("euaia_coverage", False, missing="EU AI Act articles the version's risks map to",
                          remedy="map its risks to articles on the Risks page or with `python -m governance risks "
                                 "update RISK-ID --clauses 'Article 9;Article 15' --reason TEXT`")
    return SourceFill("euaia_coverage", True, tables=(_table(
        "EU AI Act requirements the version's risks treat",
        ["Framework", "Article", "Title", "Risks of this version", "Coverage"], rows),))


# source -> (what it is, in a reader's words; what reads it)
SOURCES: dict[str, tuple[str, Callable[[_Record], SourceFill]]] = {
    "registration": ("the model's registration", _registration),
    "versions": ("the model's versions", _versions),
    "version_history": ("the model's versions", _version_history),
    "intended_use": ("the registered intended use", _intended_use),
    "model_file": ("the version's model file", _model_file),
    "training": ("the version's registration", _training),
    "training_data": ("the registered training data", _training_data),
    "evaluation_set": ("the held-out evaluation set", _evaluation_set),
    "explanation": ("the explanation of the model's decisions", _explanation),
    "oversight": ("the review committee and the sign-off rules", _oversight),
    "retraining_policy": ("the retraining policy", _retraining_policy),
    "fairness_audits": ("fairness audits", _fairness_audits),
    "robustness_runs": ("robustness runs", _robustness_runs),
    "security_risks": ("security risks and their controls", _security_risks),
    "performance": ("KPIs and service levels in use", _performance),
    "group_accuracy": ("accuracy by group", _group_accuracy),
    "risks": ("the risk register", _risks),
    "stage_changes": ("stage changes in the ledger", _stage_changes),
    "decisions": ("committee decisions", _decisions),
    "service_levels": ("service levels", _service_levels),
    "telemetry": ("telemetry and monitoring settings", _telemetry),
    "alert_rules": ("alert rules", _alert_rules),
    "standards": ("ISO/IEC 42001 and NIST AI RMF coverage", _standards),
    "euaia_coverage": ("EU AI Act coverage", _euaia_coverage),
}


# --- the report --------------------------------------------------------------------------------------------------
def _point(point: AnnexPoint, fills: dict[str, SourceFill]) -> dict:
    found = [fills[s] for s in point.sources]
    content = [f.as_dict() for f in found if f.filled]
    missing = [{"source": f.source, "label": SOURCES[f.source][0], "what": f.missing, "remedy": f.remedy}
               for f in found if not f.filled]
    if point.written_by_people:
        missing.append({"source": PEOPLE, "label": PEOPLE, "what": point.written_by_people, "remedy": WRITE_IT})
    return {"ref_id": point.ref_id, "point": point.point, "heading": point.heading, "title": point.title,
            "requirement": point.requirement, "sources": list(point.sources),
            "status": "filled" if content else "gap", "content": content, "missing": missing}


def annex_iv_document(store: GovernanceStore, *, base: dict, points: tuple[AnnexPoint, ...] | None = None) -> dict:
    """The version's Annex IV technical documentation as plain JSON values, from its model version report `base`
    (reports.model_report, whose reads it shares) and the services behind each source: every point, filled or a
    gap, with what would fill what is missing."""
    points = load_points() if points is None else points
    model, version = base["model_card"]["model"], base["model_card"]["version"]
    versions = list_versions(store)
    record = _Record(store=store, model=model, version=version, base=base,
                     versions=versions[versions["model"] == model].to_dict("records"),
                     mapped=base["risks"] + base["closed_risks"])
    fills = {s: SOURCES[s][1](record) for s in dict.fromkeys(s for p in points for s in p.sources)}
    listed = [_point(p, fills) for p in points]
    filled = sum(p["status"] == "filled" for p in listed)
    return {**{k: base[k] for k in ("schema_version", "generated_at", "generated_by", "generator", "workspace")},
            "kind": KIND, "report_id": f"annex-iv-{model}-{version}-{base['as_of']}", "as_of": base["as_of"],
            "model": model, "version": version, "regulation": "Regulation (EU) 2024/1689, Annex IV",
            "disclaimer": DISCLAIMER,
            "summary": {"points": len(listed), "filled": filled, "gaps": len(listed) - filled,
                        # filled, but a source of the record is missing too (every point also has a part
                        # only people write: counting those would count every point)
                        "filled_partly": sum(1 for p in listed if p["status"] == "filled"
                                             and any(m["source"] != PEOPLE for m in p["missing"])),
                        "gap_points": [p["ref_id"] for p in listed if p["status"] == "gap"]},
            "points": listed, "privacy": base["privacy"], "seeds": base["seeds"], "ledger": base["ledger"]}
