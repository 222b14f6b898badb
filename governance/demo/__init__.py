"""The demo workspace: real models on UCI Adult and German credit, and 90 days of replayed telemetry.

Telemetry is made by replaying real held-out rows through the real models, so every prediction, score
and label is what the model actually did on a real person's record. On top of that replay, a few
episodes are scripted so the pages have something true to reveal:

* data drift: from day 60 a growing share of Adult traffic comes from older applicants who work longer
  hours (age +9 years, hours per week +7); every other feature keeps its mix;
* A/B split: adult-income v2 takes half of the Adult traffic from day 60 to day 89, beside v1;
* latency regression: adult-income v2 is about 3x slower on days 75-80 inclusive;
* error spike: german-credit v1 fails 20% of requests on day 40 between 10:00 and 13:00.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from governance import alerts, errors
from governance.access import identity
from governance.demo.datasets import (ADULT_CATEGORICAL, ADULT_NUMERIC, ADULT_SENSITIVE, GERMAN_CATEGORICAL,
                                      GERMAN_NUMERIC, GERMAN_SENSITIVE, load_adult, load_german)
from governance.demo.risks import seed_demo_risks
from governance.demo.signoffs import INSERTED_STAGES, seed_demo_signoffs
from governance.demo.training import TrainedModel, train
from governance.demo.validation import seed_demo_validation
from governance.evidence import fairness, fairness_policy
from governance.evidence.explanations import explain_version
from governance.evidence.model_artifacts import dump_model
from governance.monitoring import lake_rollup, rollup, service_levels as service_level_rules
from governance.record import clock, lake
from governance.record.hash_chain import anchor_path
from governance.record.repositories import models, settings, workspace_meta
from governance.record.store import GovernanceStore

DEFAULT_ROWS = 1_000_000
DEFAULT_SEED = 42
MIN_ROWS, MAX_ROWS = 10_000, 100_000_000
START = np.datetime64("2026-07-01T00:00:00")
DAYS = 90
AB_START_DAY = 60
DRIFT_START_DAY = 60
DRIFT_FULL_DAY = 67          # the drifted share ramps up linearly until this day
DRIFT_SHARE = 0.6            # share of Adult traffic from the shifted population once drift is full
DRIFT_AGE_YEARS = 9
DRIFT_HOURS = 7
LATENCY_REGRESSION_DAYS = (75, 80)   # inclusive
LATENCY_REGRESSION_FACTOR = 3.2
ERROR_SPIKE_DAY, ERROR_SPIKE_HOURS, ERROR_SPIKE_RATE = 40, (10, 13), 0.20
BASE_ERROR_RATE = 0.004
LABEL_MISSING_SHARE = 0.10
LABEL_LAG_DAYS = 3           # outcomes of the last days have not arrived yet
DRIFTED_INPUT_OFFSET = 1_000_000

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class DemoVersion:
    version: str
    kind: str
    stage: str
    created_at: str
    median_latency_ms: float
    cpu_base_pct: float
    memory_base_mb: float


@dataclass(frozen=True)
class DemoModel:
    name: str
    purpose: str
    intended_use: str
    owner: str
    risk_tier: str
    dataset: str
    training_data: str
    traffic_share: float
    segments: dict[str, float]
    versions: tuple[DemoVersion, ...]
    service_levels: dict[str, float]    # KPI -> target; amber levels follow the default rule


ADULT = DemoModel(
    name="adult-income",
    purpose="Pre-approve applicants for the premium credit card by predicting whether annual income exceeds $50K.",
    intended_use=("Decision support for the card team: a person reviews every decline. Not for employment, "
                  "housing or insurance decisions. Sex and race are not model inputs; they are kept for audits."),
    owner="Priya Raman (Retail Credit ML)",
    risk_tier="high",
    dataset="UCI Adult (1994 US census extract)",
    training_data=("UCI Adult training split (adult.data): 30,162 rows after dropping rows with missing values; "
                   "inputs: " + ", ".join(ADULT_NUMERIC + ADULT_CATEGORICAL) + ". Evaluated on adult.test "
                   "(15,060 rows)."),
    traffic_share=0.7,
    segments={"web": 0.55, "mobile": 0.30, "branch": 0.15},
    versions=(
        DemoVersion("v1", "logistic_regression", "production", "2026-05-12 09:30:00", 38.0, 22.0, 410.0),
        DemoVersion("v2", "gradient_boosting", "staging", "2026-08-20 14:00:00", 72.0, 41.0, 780.0),
    ),
    service_levels={"latency_p95_ms": 250.0, "accuracy": 0.82, "error_rate": 0.01},
)

GERMAN = DemoModel(
    name="german-credit",
    purpose="Score consumer loan applications as good or bad credit risk.",
    intended_use=("Decision support for loan officers, who make and explain the final decision. "
                  "Not for automated rejection."),
    owner="Jonas Weber (Lending Analytics)",
    risk_tier="high",
    dataset="Statlog German credit (UCI)",
    training_data=("Statlog German credit: 700 of 1,000 applicants (stratified split, fixed seed); inputs: "
                   + ", ".join(GERMAN_NUMERIC + GERMAN_CATEGORICAL) + ". Evaluated on the other 300."),
    traffic_share=0.3,
    segments={"branch": 0.50, "web": 0.35, "broker": 0.15},
    versions=(DemoVersion("v1", "random_forest", "production", "2026-04-03 11:00:00", 30.0, 30.0, 620.0),),
    service_levels={"latency_p95_ms": 250.0, "accuracy": 0.72, "error_rate": 0.01},
)

DEMO_MODELS = (ADULT, GERMAN)


@dataclass(frozen=True)
class _Prepared:
    model: DemoModel
    evaluation: pd.DataFrame             # held-out rows with target and sensitive attributes
    features: list[str]
    sensitive: list[str]
    trained: dict[str, TrainedModel]     # by version
    inputs: pd.DataFrame                 # input_id, source, features...; replay pool
    scores: dict[str, np.ndarray]        # by version, aligned with inputs


def _stratified_split(frame: pd.DataFrame, *, test_size: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    test_index = []
    for _, group in frame.groupby("target"):
        take = round(test_size * len(group) / len(frame))
        test_index.extend(rng.choice(group.index.to_numpy(), size=take, replace=False))
    test = frame.loc[sorted(test_index)]
    return frame.drop(index=test.index).reset_index(drop=True), test.reset_index(drop=True)


def _prepare(seed: int, report: ProgressCallback = lambda fraction, message: None) -> list[_Prepared]:
    """Train every version of both models; `report(share done, message)` before each."""
    adult_train, adult_test = load_adult()
    german_train, german_test = _stratified_split(load_german(), test_size=300, seed=seed)
    prepared = []
    versions = len(ADULT.versions) + len(GERMAN.versions)
    done = 0
    for model, train_frame, evaluation, numeric, categorical, sensitive in (
            (ADULT, adult_train, adult_test, ADULT_NUMERIC, ADULT_CATEGORICAL, ADULT_SENSITIVE),
            (GERMAN, german_train, german_test, GERMAN_NUMERIC, GERMAN_CATEGORICAL, GERMAN_SENSITIVE)):
        trained = {}
        for v in model.versions:
            source = "UCI Adult" if model is ADULT else "German credit"
            report(done / versions, f"Training {model.name} {v.version} on {source}")
            trained[v.version] = train(kind=v.kind, train_frame=train_frame, numeric=numeric,
                                       categorical=categorical, evaluation=evaluation, seed=seed)
            done += 1
        features = numeric + categorical
        base = evaluation[features].copy()
        base.insert(0, "input_id", np.arange(len(base), dtype=np.int64))
        base.insert(1, "source", "evaluation replay")
        pools = [base]
        if model is ADULT:
            shifted = base.copy()
            shifted["input_id"] += DRIFTED_INPUT_OFFSET
            shifted["source"] = "evaluation replay, shifted population (drift episode)"
            shifted["age"] = np.minimum(shifted["age"] + DRIFT_AGE_YEARS, 90)
            shifted["hours_per_week"] = np.minimum(shifted["hours_per_week"] + DRIFT_HOURS, 99)
            pools.append(shifted)
        inputs = pd.concat(pools, ignore_index=True)
        scores = {version: t.estimator.predict_proba(inputs[features])[:, 1] for version, t in trained.items()}
        labels = np.tile(evaluation["target"].to_numpy(), len(pools))  # a shifted copy keeps its real outcome
        prepared.append(_Prepared(model, evaluation, features, sensitive, trained, inputs.assign(_label=labels),
                                  scores))
    return prepared


def _json_lines(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    return frame.to_json(orient="records", lines=True).rstrip("\n").split("\n")


def _inventory_rows(store: GovernanceStore, p: _Prepared, tx) -> None:
    m = p.model
    models.add_model(tx, name=m.name, purpose=m.purpose, intended_use=m.intended_use, owner=m.owner,
                     risk_tier=m.risk_tier, dataset=m.dataset, created_at=min(v.created_at for v in m.versions))
    for v in m.versions:
        trained = p.trained[v.version]
        # one stage short of v.stage: the demo's review history (demo.signoffs) moves it there through the committee
        models.add_version(tx, model=m.name, version=v.version, algorithm=trained.algorithm,
                           training_data=m.training_data, created_at=v.created_at,
                           stage=INSERTED_STAGES.get((m.name, v.version), v.stage), training_metrics=trained.metrics)
        content, sha256 = dump_model(trained.estimator)
        models.add_artifact(tx, model=m.name, version=v.version, sha256=sha256, content=content)
        score = trained.estimator.predict_proba(p.evaluation[p.features])[:, 1]
        models.add_evaluation_rows(tx, rows=pd.DataFrame({
            "model": m.name, "version": v.version, "row_id": np.arange(len(p.evaluation), dtype=np.int32),
            "features": _json_lines(p.evaluation[p.features]), "sensitive": _json_lines(p.evaluation[p.sensitive]),
            "y_true": p.evaluation["target"].to_numpy(np.int8), "y_pred": (score >= 0.5).astype(np.int8),
            "score": score}))
        models.record_evaluation_set(store, tx, model=m.name, version=v.version, recorded_at=clock.now_naive())
    for kpi, target in m.service_levels.items():
        target, warning = service_level_rules.validate(kpi=kpi, target=target)
        settings.add_service_level_objective(tx, model=m.name, kpi=kpi, target=target, warning=warning,
                                             set_by=f"{m.owner} (demo set-up)", set_at=clock.now_naive())
    tx.insert_frame("telemetry_input", pd.DataFrame({
        "model": m.name, "input_id": p.inputs["input_id"], "source": p.inputs["source"],
        "features": _json_lines(p.inputs[p.features])}))


def _timestamps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Arrival times over 90 days: quieter weekends, a working-day curve over the hours."""
    day_weight = np.array([0.6 if (d + 2) % 7 in (5, 6) else 1.0 for d in range(DAYS)])  # 2026-07-01 is a Wednesday
    hour_weight = np.array([0.25, 0.2, 0.15, 0.15, 0.2, 0.35, 0.6, 0.9, 1.2, 1.4, 1.5, 1.5,
                            1.4, 1.5, 1.5, 1.4, 1.3, 1.2, 1.0, 0.9, 0.8, 0.6, 0.45, 0.3])
    days = rng.choice(DAYS, size=n, p=day_weight / day_weight.sum())
    hours = rng.choice(24, size=n, p=hour_weight / hour_weight.sum())
    seconds = days * 86_400 + hours * 3_600 + rng.integers(0, 3_600, size=n)
    return np.sort(seconds)


def _telemetry(p: _Prepared, *, n: int, rng: np.random.Generator) -> pd.DataFrame:
    m = p.model
    seconds = _timestamps(rng, n)
    day = seconds // 86_400
    hour = (seconds % 86_400) // 3_600
    load = np.interp(hour, [0, 4, 10, 14, 20, 23], [0.2, 0.1, 1.0, 1.0, 0.6, 0.3])

    version_index = np.zeros(n, dtype=np.int64)
    if len(m.versions) > 1:
        version_index = np.where((day >= AB_START_DAY) & (rng.random(n) < 0.5), 1, 0)

    n_base = int((p.inputs["input_id"] < DRIFTED_INPUT_OFFSET).sum())
    pool_row = rng.integers(0, n_base, size=n)
    if len(p.inputs) > n_base:  # this model has a drift episode
        drift_share = DRIFT_SHARE * np.clip((day - DRIFT_START_DAY + 1) / (DRIFT_FULL_DAY - DRIFT_START_DAY + 1), 0, 1)
        pool_row = np.where(rng.random(n) < drift_share, pool_row + n_base, pool_row)

    score = np.empty(n)
    median_ms = np.empty(n)
    cpu_base = np.empty(n)
    memory_base = np.empty(n)
    for i, v in enumerate(m.versions):
        chosen = version_index == i
        score[chosen] = p.scores[v.version][pool_row[chosen]]
        median_ms[chosen] = v.median_latency_ms
        cpu_base[chosen] = v.cpu_base_pct
        memory_base[chosen] = v.memory_base_mb

    regression = np.zeros(n, dtype=bool)
    if len(m.versions) > 1:
        low, high = LATENCY_REGRESSION_DAYS
        regression = (version_index == 1) & (day >= low) & (day <= high)
    latency_ms = median_ms * (1 + 0.25 * load) * np.exp(rng.normal(0, 0.38, n))
    latency_ms = np.where(regression, latency_ms * LATENCY_REGRESSION_FACTOR, latency_ms)

    error_rate = np.full(n, BASE_ERROR_RATE)
    if m is GERMAN:
        spike = (day == ERROR_SPIKE_DAY) & (hour >= ERROR_SPIKE_HOURS[0]) & (hour < ERROR_SPIKE_HOURS[1])
        error_rate = np.where(spike, ERROR_SPIKE_RATE, error_rate)
    is_error = rng.random(n) < error_rate
    latency_ms = np.where(is_error, rng.uniform(800, 3000, n), latency_ms)

    label = p.inputs["_label"].to_numpy()[pool_row].astype(np.float64)
    label_missing = (rng.random(n) < LABEL_MISSING_SHARE) | (day >= DAYS - LABEL_LAG_DAYS) | is_error
    label[label_missing] = np.nan
    score = np.where(is_error, np.nan, score)
    prediction = np.where(is_error, np.nan, (score >= 0.5).astype(np.float64))
    approved = prediction == 1

    if m is ADULT:  # premium card: a $5,000 credit line; value from the expected take-up and default
        volume = np.where(approved, 5_000.0, 0.0)
        value = np.where(approved, score * 180.0 - (1 - score) * 40.0, 0.0)
    else:           # consumer loan: the amount asked for; value from margin against expected loss
        amount = p.inputs["credit_amount"].to_numpy(np.float64)[pool_row]
        volume = np.where(approved, amount, 0.0)
        value = np.where(approved, amount * (score * 0.10 - (1 - score) * 0.25), 0.0)

    segments = list(m.segments)
    segment = np.array(segments)[rng.choice(len(segments), size=n, p=list(m.segments.values()))]
    cpu_pct = np.clip(cpu_base + 30 * load + np.where(regression, 25, 0) + rng.normal(0, 4, n), 1, 100)
    memory_mb = memory_base + 60 * load + rng.normal(0, 15, n)
    cost_usd = 0.00012 + latency_ms * 0.000004

    versions = np.array([v.version for v in m.versions])
    return pd.DataFrame({
        "ts": START + seconds.astype("timedelta64[s]"),
        "model": m.name,
        "version": versions[version_index],
        "segment": segment,
        "input_id": p.inputs["input_id"].to_numpy()[pool_row],
        "prediction": pd.array(prediction, dtype="Int8"),
        "score": score,
        "label": pd.array(label, dtype="Int8"),
        "latency_ms": latency_ms.round(2),
        "is_error": is_error,
        "cpu_pct": cpu_pct.round(1),
        "memory_mb": memory_mb.round(1),
        "cost_usd": cost_usd,
        "approved_volume_usd": volume,
        "expected_value_usd": value.round(2),
    })


# Audits the demo ships with, each locked and run like any other (sensitive features, intersectional).
DEMO_AUDITS = (("adult-income", "v1", ("sex", "race"), True), ("adult-income", "v2", ("sex", "race"), True),
               ("german-credit", "v1", ("sex", "age_band", "foreign_worker"), False))
DEMO_AUDITOR = identity.DEMO_USERS[0]   # Amara Okafor, the committee chair
DEMO_EXPLAINER = identity.DEMO_USERS[5]   # Farid Haddad, the engineering leader, computes the explanations


# Each model's fairness policy, set by the committee chair before any audit of it, with the reason on record.
DEMO_FAIRNESS_POLICIES = {
    "adult-income": "the four-fifths rule for selection rates, and at most 10 points between groups in error rates "
                    "(equalized odds) and in approvals of the creditworthy (equal opportunity), as the committee's "
                    "fairness standard for consumer credit requires",
    "german-credit": "the committee's fairness standard for consumer credit: the four-fifths rule for approvals, "
                     "and at most 10 points between groups in error rates and in approvals of the creditworthy",
}


def _fairness_audits(store: GovernanceStore, tx, *, seed: int) -> None:
    for model in dict.fromkeys(m for m, *_ in DEMO_AUDITS):   # the bar first, in the ledger, then the audits
        fairness_policy.set_policy(store, model=model, criteria=fairness.DEFAULT_CRITERIA,
                                   reason=DEMO_FAIRNESS_POLICIES[model], actor=DEMO_AUDITOR)
    for model, version, sensitive, intersectional in DEMO_AUDITS:
        data = fairness.evaluation_set_data(store, model=model, version=version)
        fairness.record_audit_in(store, tx, data=data, actor=DEMO_AUDITOR, sensitive=sensitive,
                                 intersectional=intersectional, seed=seed)


def _require_empty(store: GovernanceStore) -> None:
    if models.model_count(store):
        raise errors.WorkspaceNotEmptyError(errors.WORKSPACE_NOT_EMPTY.format(path=store.location))   # a URL or a file


# The build's stages and where each ends on the progress bar, in proportion to their time in the app on a 2-core
# machine (1 million rows: training 9 s of 33, the telemetry 4 s, the explanations 7 s, the risk register 2 s,
# the reviews 4 s, the alert check 7 s): the bar moves with the work, not with the number of steps.
STAGES = {"train": 0.26, "inventory": 0.32, "telemetry": 0.37, "audits": 0.39, "explain": 0.60, "risks": 0.67,
          "reviews": 0.79, "alerts": 0.99}
UNFINISHED = "demo_unfinished"   # workspace_meta key: set in the build's first transaction, removed by its last write


def _stage(report: ProgressCallback, start: float, end: float) -> ProgressCallback:
    """`report` for one stage: its own 0 … 1 mapped onto start … end of the whole build."""
    return lambda fraction, message: report(start + (end - start) * min(max(fraction, 0.0), 1.0), message)


def unfinished(store: GovernanceStore) -> bool:
    """The workspace holds a demo whose build stopped before its end (the process ended during it): its models and
    telemetry are in, perhaps not its explanations, risk register or reviews."""
    return workspace_meta.has_key(store, key=UNFINISHED)


def discard_unfinished(store: GovernanceStore) -> None:
    """Empty a workspace whose demo build stopped halfway and remove its ledger anchor, so that the demo can be
    built again from the start. Refused for any other workspace.

    One write per table, those that refer to others first (DuckDB checks a foreign key against rows deleted in the
    same transaction), and the marker's table last: stopped in the middle, the workspace is still recognised as
    unfinished and the next start discards the rest."""
    if not unfinished(store):
        raise errors.InvalidInputError(f"{store.location} holds no unfinished demo build: nothing was discarded")
    tables = workspace_meta.record_tables(store)
    refers = {}
    for table, referenced in workspace_meta.foreign_keys(store):
        refers.setdefault(referenced, set()).add(table)
    emptied: set[str] = set()
    while len(emptied) < len(tables):
        ready = [t for t in tables if t not in emptied and refers.get(t, set()) & set(tables) <= emptied]
        for table in ready or [t for t in tables if t not in emptied]:   # (a cycle: let DuckDB say so)
            with store.write() as tx:
                workspace_meta.empty_table(tx, table=table)
            emptied.add(table)
    if store.engine == "postgresql":   # its telemetry is files in the lake, not a table
        lake.empty(store.lake)
    with store.write() as tx:
        workspace_meta.remove_all(tx)
    anchor_path(store).unlink(missing_ok=True)   # the demo's own ledger, now empty: a new one starts with the build


def seed_demo(store: GovernanceStore, *, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED,
              progress: ProgressCallback | None = None, records: bool = True) -> dict:
    """Build the demo into an empty workspace: its people, models, telemetry and fairness audits in one
    transaction (all of it lands, or none of it); then, with `records`, the risk register and the committee's
    review history, recorded through the services as the demo's people would, each change its own write.

    Until the last of those writes the workspace is marked unfinished (`unfinished`), so that a build cut short
    by the end of its process is recognised and can be discarded (`discard_unfinished`) and built again.
    `progress(fraction, message)` is called at least once per trained version, telemetry chunk, explained
    version and recorded stage, with fractions in proportion to the time each takes (STAGES)."""
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise errors.InvalidInputError(errors.ROWS_OUT_OF_RANGE.format(low=MIN_ROWS, high=MAX_ROWS, rows=rows))
    _require_empty(store)
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    report(0.0, "Training models on UCI Adult and German credit")
    prepared = _prepare(seed, _stage(report, 0.0, STAGES["train"]))
    rng = np.random.default_rng(seed)
    with store.write() as tx:
        _require_empty(store)  # again under the write lock: another session may have seeded meanwhile
        report(STAGES["train"], "Writing model inventory and evaluation sets")
        identity.seed_demo_users(store, tx)
        for p in prepared:
            _inventory_rows(store, p, tx)
        done = 0
        telemetry = _stage(report, STAGES["inventory"], STAGES["telemetry"])
        for p in prepared:
            n = round(rows * p.model.traffic_share) if p is not prepared[-1] else rows - done
            chunk = 2_000_000   # the draws depend on it: the demo's figures stay the same for a seed
            for offset in range(0, n, chunk):
                telemetry(done / rows, f"Replaying {p.model.name} telemetry ({done:,} of {rows:,} rows)")
                # Chunks are independent draws; each is sorted in time, so within a model rows stay near-sorted.
                size = min(chunk, n - offset)
                frame = _telemetry(p, n=size, rng=rng)
                tx.insert_frame("telemetry", frame, touched=rollup.frame_hours(frame))   # rollup: these hours
                done += size
        report(STAGES["telemetry"], "Running the demo's fairness audits")
        _fairness_audits(store, tx, seed=seed)
        meta = {"demo_seed": seed, "demo_rows": rows, "demo_start": str(START), "demo_days": DAYS,
                "built_at": clock.now().isoformat(timespec="seconds")}
        if records:
            meta[UNFINISHED] = meta["built_at"]
        workspace_meta.add_values(tx, values={k: str(v) for k, v in meta.items()})
    if store.engine == "postgresql":
        # Its telemetry landed in the lake at the commit: roll its days up now, before anything reads them (the
        # reviews' frozen evidence, the alert check), so every page reads summaries and none says it read rows.
        lake_rollup.rollup_dataset(location=str(store.lake))
    if records:
        versions = [(p.model.name, version) for p in prepared for version in p.trained]
        for i, (model, version) in enumerate(versions):   # before the reviews: the frozen evidence includes them
            start = STAGES["audits"] + (STAGES["explain"] - STAGES["audits"]) * i / len(versions)
            end = STAGES["audits"] + (STAGES["explain"] - STAGES["audits"]) * (i + 1) / len(versions)
            explaining = _stage(report, start, end)
            explaining(0.0, f"Explaining {model} {version} (SHAP)")
            explain_version(store, model=model, version=version, actor=DEMO_EXPLAINER,
                            progress=lambda f, m, say=explaining, name=f"{model} {version}": say(f, f"{name}: {m}"))
        report(STAGES["explain"], "Recording the demo's risk register")
        seed_demo_risks(store)
        seed_demo_validation(store)   # german-credit v1's checklist, before the reviews freeze their evidence
        report(STAGES["risks"], "Recording the committee's review history")
        seed_demo_signoffs(store)
        report(STAGES["reviews"], "Checking the alert rules")
        # as the server's first scheduled check would (no person runs it); the messages wait in the outbox:
        # nothing is sent until SMTP or a webhook is set
        alerts.check(store, actor=alerts.SCHEDULER)
        with store.write() as tx:
            workspace_meta.remove_key(tx, key=UNFINISHED)
    report(1.0, "Demo workspace ready")
    return {"rows": rows, "seed": seed, "seconds": round(time.perf_counter() - started, 2)}
