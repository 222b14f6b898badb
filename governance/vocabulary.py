"""The fixed words and defaults that both the services and the command line's parsers need: roles, stages, votes,
statuses, grains, kinds and default settings.

They live here, defined once, so that building the command line's parsers (and `--help`) imports nothing but
this module: the services that own them (identity, signoffs, risks, fairness, robustness ...) import them from
here under their usual names (`risks.STATUSES`, `stages.STAGES` ...), and those names keep working.
Standard library only: importing this module must cost nothing.
"""

from __future__ import annotations

# --- accounts (identity) ---------------------------------------------------------------------------------------
ROLES = ("viewer", "engineering leader", "risk owner", "committee member", "committee chair", "admin")
# role x action: the README shows this table and a test exercises every cell. Everyone signed in may view every
# page and export reports; these are the actions that change the record.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "configure monitoring": ("engineering leader", "admin"),
    "register model": ("engineering leader", "admin"),
    "run audit": ("engineering leader", "risk owner", "committee member", "committee chair", "admin"),
    "edit risks": ("engineering leader", "risk owner", "committee chair", "admin"),
    "accept risk": ("risk owner", "committee chair", "admin"),
    "request review": ("engineering leader", "risk owner", "committee chair", "admin"),
    "vote": ("committee member", "committee chair"),
    "manage committee": ("committee chair", "admin"),
    "update condition": ("engineering leader", "risk owner", "committee chair", "admin"),
    "change stage": ("engineering leader", "admin"),
    "manage users": ("admin",),
}

# --- committee sign-offs (signoffs) ----------------------------------------------------------------------------
SIGNOFF_STAGES = ("development", "validation", "staging", "production")
VOTES = ("approve", "approve_with_conditions", "reject", "abstain", "recuse")
CONDITION_STATUSES = ("met", "waived")

# --- release gate and retraining (release_gate) ----------------------------------------------------------------
ATTESTED = {"explanation reviewed": "run audit", "risks reviewed": "edit risks"}   # item -> the permission it needs
DEFAULT_RETRAINING_POLICY = {"drift_act": True, "accuracy_below_slo_days": 3, "min_label_coverage": 0.5,
                             "max_model_age_days": 365, "text": None}

# --- the risk register (risks) ---------------------------------------------------------------------------------
RISK_CATEGORIES = ("fairness/bias", "performance/drift", "robustness/adversarial", "privacy", "security",
                   "transparency/explainability", "safety", "compliance", "operational")
RISK_STATUSES = ("proposed", "identified", "assessed", "mitigating", "accepted", "closed", "withdrawn", "dismissed")
RISK_FRAMEWORKS = {"nist": ("NIST AI RMF 1.0", "nist_ai_rmf_1_0.csv"),
                   "euaia": ("EU AI Act", "eu_ai_act_articles.csv"),
                   "iso42001": ("ISO/IEC 42001 Annex A", "iso_iec_42001_annex_a.csv")}
RISK_EDITABLE = ("title", "description", "category", "models", "owner", "likelihood", "impact",
                 "residual_likelihood", "residual_impact", "status", "next_review", "clauses")
STALE_AFTER_DAYS = 90

# --- fairness audits (fairness) --------------------------------------------------------------------------------
FAIRNESS_DEFAULT_MIN_GROUP_SIZE = 30
FAIRNESS_DEFAULT_BOOTSTRAP = 1_000
FAIRNESS_DEFAULT_SEED = 0
FAIRNESS_DEFAULT_CRITERIA = ("demographic_parity_ratio>=0.8,equalized_odds_difference<=0.1,"
                             "equal_opportunity_difference<=0.1")

# --- robustness checks (robustness) ----------------------------------------------------------------------------
ROBUSTNESS_DEFAULT_LEVELS = (0.01, 0.05, 0.1)
# A robust model barely notices 5% noise: at most 5% of its predictions change and it loses at most 2 points of
# accuracy; and no group of the evaluation set is more than 10 points less accurate than the whole set.
ROBUSTNESS_DEFAULT_CRITERIA = "flip_rate<=0.05@0.05,accuracy_drop<=0.02@0.05,slice_accuracy_gap<=0.10"
ROBUSTNESS_DEFAULT_SEED = 0
ROBUSTNESS_DEFAULT_MIN_SLICE = 30
# name -> (what it measures, whether it is judged at a noise level)
ROBUSTNESS_CRITERIA = {
    "flip_rate": ("share of predictions that change with every feature perturbed at the level", True),
    "feature_flip_rate": ("the largest share of predictions that change when one feature is perturbed", True),
    "accuracy_drop": ("accuracy lost with every feature perturbed at the level", True),
    "slice_accuracy_gap": ("how much less accurate the worst group of the evaluation set is than the whole set",
                           False),
    "week_accuracy_gap": ("how much less accurate the worst labelled week of telemetry is than the evaluation set",
                          False),
}

# --- reports (reports) -----------------------------------------------------------------------------------------
REPORT_KINDS = ("model", "review", "coverage", "annex-iv")
SUPPRESS_BELOW = 10

# --- telemetry: sources, KPIs, data quality (telemetry_sources, kpis, data_quality) ------------------------------
TELEMETRY_SOURCE_KINDS = ("workspace", "parquet", "spark")
DEFAULT_SPARK_MASTER = "local[2]"
KPI_GRAINS = ("hour", "day", "week")
QUALITY_GRAINS = ("day", "week")
QUALITY_STATUSES = ("ok", "warn", "fail", "not judged")
QUALITY_CHECKS = ("schema conformity", "missing values", "out of range", "unseen categories", "duplicate rows",
                  "label coverage", "label delay")

# --- KPI names as people read them (every page, table, chart and rule text uses these) ---------------------------
# Units live in the identifiers (_ms, _usd, _per_min, _pct, _mb); ratios (0..1) are the rates listed here.
KPI_LABELS = {
    "predictions": "predictions",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "label_coverage": "label coverage",
    "error_rate": "error rate",
    "failures": "failed requests",
    "latency_p50_ms": "p50 latency",
    "latency_p95_ms": "p95 latency",
    "latency_p99_ms": "p99 latency",
    "throughput_per_min": "throughput",
    "cost_per_1k_usd": "cost per 1k predictions",
    "value_per_prediction_usd": "value per prediction",
    "expected_value_usd": "expected value",
    "approved_volume_usd": "approved volume",
    "cpu_pct": "CPU",
    "memory_mb": "memory",
}
KPI_RATIOS = ("accuracy", "precision", "recall", "label_coverage", "error_rate")
