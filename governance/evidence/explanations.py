"""SHAP explanations a committee member can read: global, local, cohorts, and checks on the explanation itself.

The explainer follows the model: trees get shap's exact TreeExplainer, linear models its LinearExplainer (both
in the model's raw output: log-odds for boosted trees and logistic regression, probability for forests), and
anything else a permutation explainer over a 100-row background on a sample of rows, labelled an estimate.

The background, by a stated rule. Interventional SHAP values depend on the background sample: with 100 rows,
adult-income v1's capital_gain importance was 0.81 against 0.67 over all 15,060 evaluation rows. So:
* linear: the whole evaluation set (up to POOL_ROWS = 50,000 rows). The linear explainer uses only the
  background's mean, so a larger background costs nothing, and no sampling error is added by choosing it;
* permutation: BACKGROUND_ROWS = 100 rows, because its time grows in proportion to the background (about 0.2 s
  a row explained at 100 rows); the check below measures what that costs in precision and says so;
* tree: none; the exact tree explainer is tree-path-dependent and reads the model's own training cover.
The checks report, besides the ranking's Kendall's tau, how stable the magnitudes are: for each of the
MAGNITUDE_TOP most important inputs, the largest relative change of its mean |SHAP| across the resamples
(other backgrounds: bootstrap resamples of the evaluation set for the linear explainer, other 100-row draws for
the permutation explainer; bootstrap resamples of the explained rows for the tree explainer). The magnitudes are
called stable when no such change exceeds MAGNITUDE_TOLERANCE (10%).
Encoded columns are summed back to the column they came from (SHAP values add), so explanations speak of
"occupation", never "occupation_Exec-managerial". A global explanation is computed once per (model artifact,
evaluation data, settings), stored, and reused.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

# shap, scikit-learn, scipy and skops are imported inside the functions that compute: looking an explanation up
# (a gate check's checklist, sign-off evidence) must not cost their import, seconds on a busy host.
from governance.access.identity import PermissionDeniedError, User
from governance.errors import InvalidInputError
from governance.evidence.evaluation_sets import evaluation_set
from governance.evidence.fairness_inputs import sha256_text
from governance.evidence.model_artifacts import load_model
from governance.record import clock
from governance.record.canonical import canonical_json
from governance.record.repositories import explanations as stored_explanations, models
from governance.record.store import GovernanceStore

DEFAULT_ROWS = 10_000
POOL_ROWS = 50_000            # rows read from a large evaluation set to draw samples and backgrounds from
BACKGROUND_ROWS = 100         # the permutation explainer's background; the linear one takes the whole set (above)
LINEAR_BACKGROUND_ROWS = POOL_ROWS
MAGNITUDE_TOP = 5             # the inputs whose importance magnitudes the check follows
MAGNITUDE_TOLERANCE = 0.10    # largest relative change of a top input's mean |SHAP| still called stable
AGNOSTIC_ROWS = 200           # the permutation explainer's sample (about 0.2 s a row): an estimate, and it says so
STABILITY_SAMPLES = 5
STABILITY_ROWS = DEFAULT_ROWS   # the linear check: all the explained rows (it is cheap), as many as explained by default
AGNOSTIC_STABILITY_ROWS = 40  # the permutation explainer's stability check: 5 x 40 rows
TOP_K = 10
UNSTABLE_TAU = 0.7            # Kendall's tau of top-10 rankings below this: flagged unstable
PROXY_ASSOCIATION = 0.3       # Cramér's V or correlation ratio with a sensitive attribute
PROXY_TOP = 5                 # ...for a feature among the five most important
THRESHOLD = 0.5
CHUNK_ROWS = 50               # rows per shap call (the GIL is released between calls)
TREE_CLASSES = ("RandomForest", "ExtraTrees", "DecisionTree", "GradientBoosting", "HistGradientBoosting")
PROBABILITY_TREES = ("RandomForest", "ExtraTrees", "DecisionTree")   # their raw tree output is a probability

ProgressCallback = Callable[[float, str], None]
# A model fitted on a DataFrame is handed numpy arrays by shap; sklearn would warn on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)

NO_PROBABILITIES = ("model {model} {version} has no predict_proba: Quorum explains classifiers that output a "
                    "probability; wrap it (e.g. CalibratedClassifierCV) and register it again")
FEATURES_MISMATCH = ("the model expects the columns {expected}, but the evaluation data lacks {missing}: register "
                     "evaluation data with the model's input columns")
UNKNOWN_ROW = "row {row_id} is not in the evaluation set of {model} {version} (rows 0 to {last})"
UNGROUPABLE = "cannot map the model's encoded columns back to its inputs ({reason})"
NO_EXPLANATION = ("no explanation of {model} {version} has been computed: compute one on the Explanations page or "
                  "with `python -m governance explain --model {model} --version {version}`")
NOBODY_EXPLAINED = ("an explanation is stored with the account that computed it: sign in, give --by USER on the "
                    "command line, or call it through the server with an API token")
STALE_EXPLANATION = ("no stored explanation matches {model} {version} as it is now: the newest, {newest}, is stale "
                     "({why}); compute a current one on the Explanations page or with "
                     "`python -m governance explain --model {model} --version {version}`")


@dataclass(frozen=True)
class PreparedModel:
    """A fitted classifier split into its encoder and final estimator, with encoded columns mapped to inputs."""
    pipeline: object
    encoder: object | None
    classifier: object
    features: list[str]                 # the model's input columns
    encoded_features: list[str]         # the input column each encoded column came from

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        data = frame[self.features] if self.encoder is None else self.encoder.transform(frame[self.features])
        return np.asarray(data, dtype=np.float64)

    def grouping(self) -> np.ndarray:
        """(encoded columns x inputs) 0/1 matrix: SHAP values of a one-hot block add up to their input's."""
        matrix = np.zeros((len(self.encoded_features), len(self.features)))
        for i, name in enumerate(self.encoded_features):
            matrix[i, self.features.index(name)] = 1
        return matrix


def prepare(estimator) -> PreparedModel:
    from sklearn.pipeline import Pipeline

    if not hasattr(estimator, "predict_proba"):
        raise InvalidInputError(NO_PROBABILITIES.format(model="this", version="model"))
    features = [str(f) for f in getattr(estimator, "feature_names_in_", [])]
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        encoder, classifier = estimator[:-1], estimator[-1]
        return PreparedModel(estimator, encoder, classifier, features, _encoded_sources(encoder, features))
    return PreparedModel(estimator, None, estimator, features, list(features))


def _encoded_sources(encoder, features: list[str]) -> list[str]:
    """The input column behind each output column of a (pipeline of) ColumnTransformer / one-hot encoders."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    steps = [s for _, s in encoder.steps] if isinstance(encoder, Pipeline) else [encoder]
    transformers = [s for s in steps if isinstance(s, ColumnTransformer)]
    if len(transformers) != 1:
        raise InvalidInputError(UNGROUPABLE.format(reason="expected one ColumnTransformer"))
    sources: list[str] = []
    for _, transformer, columns in transformers[0].transformers_:
        if transformer == "drop":
            continue
        columns = [features[c] if isinstance(c, (int, np.integer)) else str(c) for c in np.atleast_1d(columns)]
        if isinstance(transformer, Pipeline):
            transformer = transformer[-1]
        if isinstance(transformer, OneHotEncoder):
            dropped = getattr(transformer, "drop_idx_", None)
            for i, column in enumerate(columns):
                width = len(transformer.categories_[i]) - (0 if dropped is None or dropped[i] is None else 1)
                sources += [column] * width
        else:  # scalers, ordinal encoders, passthrough: one column out per column in
            sources += columns
    return sources


def choose_explainer(classifier) -> str:
    name = type(classifier).__name__
    if any(name.startswith(t) for t in TREE_CLASSES) or name.startswith(("LGBM", "XGB")):
        if getattr(classifier, "is_categorical_", None) is not None and np.any(classifier.is_categorical_):
            return "permutation"   # shap's tree explainer ignores native categorical splits: it would be wrong
        return "tree"
    if hasattr(classifier, "coef_") and hasattr(classifier, "decision_function"):
        return "linear"
    return "permutation"


def output_units(prepared: PreparedModel, kind: str) -> str:
    if kind == "tree" and type(prepared.classifier).__name__.startswith(PROBABILITY_TREES):
        return "probability"
    return "probability" if kind == "permutation" else "log_odds"


def model_output(prepared: PreparedModel, encoded: np.ndarray, *, units: str) -> np.ndarray:
    """The figure the SHAP values add up to, in their units."""
    if units == "log_odds":
        return np.asarray(prepared.classifier.decision_function(encoded), dtype=np.float64)
    return np.asarray(prepared.classifier.predict_proba(encoded)[:, 1], dtype=np.float64)


def shap_values(prepared: PreparedModel, encoded: np.ndarray, *, kind: str, background: np.ndarray,
                progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, float]:
    """SHAP values per row and encoded column, and the base value; computed in chunks to report progress."""
    import shap   # heavy: only when an explanation is computed, never for looking one up
    from threadpoolctl import threadpool_limits

    if kind == "tree":
        explainer = shap.TreeExplainer(prepared.classifier)
        base = explainer.expected_value
    elif kind == "linear":
        # the whole background: given an array, shap keeps a random 100 rows of it (maskers.Independent's default)
        explainer = shap.LinearExplainer(prepared.classifier,
                                         shap.maskers.Independent(background, max_samples=len(background)))
        base = explainer.expected_value
    else:
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.PermutationExplainer(lambda x: prepared.classifier.predict_proba(x)[:, 1], masker)
        base = None
    # Short calls: shap's compiled explainers hold the GIL for a whole call, so a 1,000-row call froze the app's
    # other pages and sessions for up to a second while an explanation was computed in the background.
    chunks = np.array_split(np.arange(len(encoded)), max(1, -(-len(encoded) // CHUNK_ROWS)))
    parts = []
    for done, rows in enumerate(chunks, start=1):
        if kind == "permutation":
            # thousands of tiny predict calls: an OpenMP team per call thrashes (9x slower on a busy 2-core host)
            with threadpool_limits(limits=1, user_api="openmp"):
                result = explainer(encoded[rows], silent=True)
            parts.append(result.values)
            base = float(np.mean(result.base_values))
        else:
            values = (explainer.shap_values(encoded[rows], check_additivity=False) if kind == "tree"
                      else explainer.shap_values(encoded[rows]))
            parts.append(values[..., 1] if np.ndim(values) == 3 else values)
        if progress:
            progress(done / len(chunks))
    base = np.ravel(base)
    return np.concatenate(parts), float(base[-1] if base.size > 1 else base[0])


def evaluation_frame(store: GovernanceStore, *, model: str, version: str, limit: int | None = None,
                     seed: int = 0, row_ids: list[int] | None = None) -> pd.DataFrame:
    """Evaluation rows: row_id, score, y_pred, y_true, the features and the sensitive attributes.

    `limit` takes a seeded random subset in DuckDB, so a million-row set is never parsed whole; `row_ids`
    picks rows by id.
    """
    raw = models.evaluation_rows(store, model=model, version=version, limit=limit, seed=seed,
                                 row_ids=row_ids).sort_values("row_id", ignore_index=True)
    features = pd.DataFrame([json.loads(f) for f in raw.pop("features")])
    sensitive = pd.DataFrame([json.loads(s) for s in raw.pop("sensitive")]).add_prefix("sensitive:")
    return pd.concat([raw, features, sensitive], axis=1)


def load_version(store: GovernanceStore, *, model: str, version: str) -> tuple[PreparedModel, str]:
    stored = models.artifact(store, model=model, version=version)
    if stored is None:
        raise InvalidInputError(f"model {model} {version} has no stored model file: register one with "
                                "`python -m governance model register`")
    estimator = load_model(stored.content)
    if not hasattr(estimator, "predict_proba"):
        raise InvalidInputError(NO_PROBABILITIES.format(model=model, version=version))
    return prepare(estimator), stored.sha256


# --- global explanation, stored ----------------------------------------------------------------------------------
def explanation_settings(*, rows: int = DEFAULT_ROWS, seed: int = 0) -> dict:
    return {"rows": int(rows), "seed": int(seed), "background_rows": BACKGROUND_ROWS,
            "linear_background_rows": LINEAR_BACKGROUND_ROWS, "magnitude_top": MAGNITUDE_TOP,
            "magnitude_tolerance": MAGNITUDE_TOLERANCE,
            "stability_samples": STABILITY_SAMPLES, "stability_rows": STABILITY_ROWS,
            "agnostic_rows": AGNOSTIC_ROWS, "agnostic_stability_rows": AGNOSTIC_STABILITY_ROWS, "top_k": TOP_K}


@dataclass(frozen=True)
class CurrentExplanation:
    """The explanation of a version, or None with the reason there is none (never computed, or every stored one
    is stale: computed for another model file, other evaluation data or other settings)."""
    explanation: dict | None
    reason: str | None = None
    stale: tuple[str, ...] = ()      # the ids of stored explanations of this version that no longer match it


def current_explanation(store: GovernanceStore, *, model: str, version: str, rows: int = DEFAULT_ROWS,
                        seed: int = 0) -> CurrentExplanation:
    """The one rule for "the explanation of a version", used by the Explanations page, the CLI's cache, reports
    and sign-off evidence alike: the stored global explanation whose model file, evaluation data and settings
    hashes match the version's current model file, its current evaluation data and the settings (by default the
    ones the page computes). A newer row computed for anything else is stale and never shown as the version's."""
    found = stored_explanations.explanations_of(store, model=model, version=version)
    if not found:
        return CurrentExplanation(None, NO_EXPLANATION.format(model=model, version=version))
    artifact = models.artifact_sha256(store, model=model, version=version)
    try:
        data = evaluation_set(store, model=model, version=version).content_sha256
    except InvalidInputError:
        data = None
    settings_hash = sha256_text(canonical_json(explanation_settings(rows=rows, seed=seed)))
    for e in found:
        if (e.model_sha256, e.data_sha256, e.settings_hash) == (artifact, data, settings_hash):
            return CurrentExplanation({"explanation_id": e.explanation_id, **json.loads(e.summary),
                                       "computed_at": e.computed_at.isoformat(timespec="seconds") + "Z"})
    newest = found[0]
    why = ("the model file changed since" if newest.model_sha256 != artifact else
           "the evaluation data changed since" if newest.data_sha256 != data else
           "it was computed with other settings than the current ones")
    ids = tuple(e.explanation_id for e in found)
    return CurrentExplanation(None, STALE_EXPLANATION.format(model=model, version=version, newest=ids[0], why=why),
                              stale=ids)


def stored_explanation(store: GovernanceStore, *, model: str, version: str, rows: int = DEFAULT_ROWS,
                       seed: int = 0) -> dict | None:
    """The stored global explanation for the current model file, data and settings, or None."""
    return current_explanation(store, model=model, version=version, rows=rows, seed=seed).explanation


def background_rows(*, kind: str) -> int:
    """The background's size by the module's rule: all of the set (to 50,000 rows) for linear, 100 otherwise."""
    return LINEAR_BACKGROUND_ROWS if kind == "linear" else BACKGROUND_ROWS


def _background(store: GovernanceStore, prepared: PreparedModel, *, model: str, version: str,
                kind: str) -> np.ndarray:
    """The one background sample a version's explanations share, so the Local and Global base values agree."""
    return prepared.encode(evaluation_frame(store, model=model, version=version, limit=background_rows(kind=kind)))


def average_probability(store: GovernanceStore, *, model: str, version: str) -> float | None:
    """The mean predicted probability over the version's evaluation set: what an 'average applicant' scores."""
    value = models.average_score(store, model=model, version=version)
    return None if value is None else float(value)


def base_value_meaning(*, kind: str, units: str, background: int) -> str:
    """What the base value is, in words: it is not the average predicted probability unless it says so."""
    if kind == "linear":
        return f"the model's log-odds at the mean encoded input of the {background:,}-row background"
    if kind == "tree":
        return ("the model's mean log-odds over its training data, as its trees record it" if units == "log_odds"
                else "the model's mean predicted probability over its training data, as its trees record it")
    return f"the model's mean predicted probability over the {background:,}-row background"


def explain_version(store: GovernanceStore, *, model: str, version: str, actor: User, rows: int = DEFAULT_ROWS,
                    seed: int = 0, progress: ProgressCallback | None = None) -> dict:
    """The global explanation: stored if computed before for this model file, data and settings; else computed
    and stored with who computed it (`actor`, the signed-in or checked account: any role may)."""
    from threadpoolctl import threadpool_limits

    cached = stored_explanation(store, model=model, version=version, rows=rows, seed=seed)
    if cached is not None:
        return cached
    if not isinstance(actor, User):
        raise PermissionDeniedError(NOBODY_EXPLAINED)
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    prepared, artifact_sha256 = load_version(store, model=model, version=version)
    data = evaluation_set(store, model=model, version=version)
    frame = evaluation_frame(store, model=model, version=version, limit=max(POOL_ROWS, rows), seed=seed)
    missing = [f for f in prepared.features if f not in frame.columns]
    if missing:
        raise InvalidInputError(FEATURES_MISMATCH.format(expected=", ".join(prepared.features),
                                                         missing=", ".join(missing)))
    rng = np.random.default_rng(seed)
    kind = choose_explainer(prepared.classifier)
    limit = min(rows, AGNOSTIC_ROWS) if kind == "permutation" else rows
    sample = frame.iloc[np.sort(rng.choice(len(frame), size=min(limit, len(frame)), replace=False))]
    encoded = prepared.encode(sample)
    if kind == "linear" and len(frame) == data.rows <= LINEAR_BACKGROUND_ROWS:
        background = prepared.encode(frame)   # the whole set, in row order: the rows _background would read again
    else:
        background = _background(store, prepared, model=model, version=version, kind=kind)
    units = output_units(prepared, kind)
    report(0.05, f"Explaining {len(sample):,} rows with the {kind} explainer")
    values, base = shap_values(prepared, encoded, kind=kind, background=background,
                               progress=lambda f: report(0.05 + 0.7 * f, f"Explaining {len(sample):,} rows"))
    grouped = values @ prepared.grouping()
    with threadpool_limits(limits=1, user_api="openmp"):  # 20x faster than contended OpenMP threads here
        output = model_output(prepared, encoded, units=units)
    additivity = float(np.max(np.abs(base + values.sum(axis=1) - output)))
    report(0.8, "Checking the ranking's stability across background samples")
    stability = _stability(prepared, frame, grouped, kind=kind, rng=rng, encoded=encoded, background=background,
                           progress=lambda f: report(0.8 + 0.12 * f, "Checking the ranking's stability"))
    importance = np.abs(grouped).mean(axis=0)
    order = np.argsort(-importance)
    summary = {
        "model": model, "version": version, "explainer": kind, "estimate": kind == "permutation",
        "explainer_settings": _explainer_settings(kind, len(sample), len(background)),
        "output_units": units, "base_value": base, "rows_explained": len(sample), "rows_available": data.rows,
        "base_value_meaning": base_value_meaning(kind=kind, units=units, background=len(background)),
        "background_rows": 0 if kind == "tree" else len(background),
        "average_probability": average_probability(store, model=model, version=version),
        "threshold": THRESHOLD,
        "global": [{"feature": prepared.features[i], "mean_abs_shap": float(importance[i])} for i in order],
        "additivity_max_error": additivity, "stability": stability,
        "stability_kendall_tau": stability["min_tau"],
        "cohorts": cohort_importance(sample, grouped, features=prepared.features, importance=importance),
        "settings": explanation_settings(rows=rows, seed=seed), "model_sha256": artifact_sha256,
        "data_sha256": data.content_sha256, "seconds": round(time.perf_counter() - started, 3),
        "computed_by": actor.recorded_as,
    }
    report(0.95, "Storing the explanation")
    _store(store, summary=summary, sample=sample, grouped=grouped, output=output, features=prepared.features)
    report(1.0, "Done")
    return stored_explanation(store, model=model, version=version, rows=rows, seed=seed)


def _explainer_settings(kind: str, rows: int, background: int) -> str:
    if kind == "tree":
        return f"shap.TreeExplainer, exact, tree-path-dependent; {rows:,} rows"
    if kind == "linear":
        return (f"shap.LinearExplainer, exact, interventional over a {background:,}-row background (the evaluation "
                f"set, to {LINEAR_BACKGROUND_ROWS:,} rows); {rows:,} rows")
    return (f"shap.PermutationExplainer over a {background:,}-row background sample; an estimate on a sample of "
            f"{rows:,} rows")


def _stability(prepared: PreparedModel, frame: pd.DataFrame, grouped: np.ndarray, *, kind: str,
               rng: np.random.Generator, encoded: np.ndarray, background: np.ndarray,
               progress: Callable[[float], None] | None = None) -> dict:
    """How far the ranking and the magnitudes move under 5 perturbations of what the explanation rests on.

    Ranking: Kendall's tau between the top-10 importance ranking and the same ranking perturbed. Magnitudes: for
    each of the 5 most important inputs, the relative change of its mean |SHAP|, on the same rows, under the same
    perturbations; stable when none exceeds MAGNITUDE_TOLERANCE. The perturbations: the linear explainer is
    recomputed on the explained rows (up to 10,000) against 5 bootstrap resamples of its background (the set),
    the permutation explainer on 40 of them against 5 other 100-row backgrounds; the exact tree explainer uses no
    background, so its explained rows are resampled instead (5 bootstrap resamples), which shows how much the
    figures rest on the particular rows explained.
    """
    from scipy.stats import kendalltau

    reference = np.abs(grouped).mean(axis=0)
    top = np.argsort(-reference)[:TOP_K]
    followed = np.argsort(-reference)[:MAGNITUDE_TOP]
    taus, changes = [], []
    if kind == "tree":
        method = f"{STABILITY_SAMPLES} bootstrap resamples of the {len(grouped):,} explained rows"
        for _ in range(STABILITY_SAMPLES):
            other = np.abs(grouped[rng.integers(0, len(grouped), len(grouped))]).mean(axis=0)
            taus.append(float(kendalltau(reference[top], other[top]).statistic))
            changes.append(_relative_change(other, reference, followed))
    else:
        size = min(STABILITY_ROWS if kind == "linear" else AGNOSTIC_STABILITY_ROWS, len(encoded))
        chosen = np.sort(rng.choice(len(encoded), size=size, replace=False))
        rows, same_rows = encoded[chosen], np.abs(grouped[chosen]).mean(axis=0)
        if kind == "linear":
            method = (f"{STABILITY_SAMPLES} bootstrap resamples of the {len(background):,}-row background, on "
                      f"{len(rows):,} of the explained rows")
        else:
            method = (f"{STABILITY_SAMPLES} other {BACKGROUND_ROWS}-row background samples, on {len(rows)} "
                      "explained rows")
        for _ in range(STABILITY_SAMPLES):
            if kind == "linear":
                other_background = background[rng.integers(0, len(background), len(background))]
            else:
                other_background = prepared.encode(frame.iloc[rng.choice(
                    len(frame), size=min(BACKGROUND_ROWS, len(frame)), replace=False)])
            values, _ = shap_values(prepared, rows, kind=kind, background=other_background)
            other = np.abs(values @ prepared.grouping()).mean(axis=0)
            taus.append(float(kendalltau(reference[top], other[top]).statistic))
            changes.append(_relative_change(other, same_rows, followed))
            if progress:
                progress(len(taus) / STABILITY_SAMPLES)
    taus = [t if np.isfinite(t) else 1.0 for t in taus]
    worst = np.max(np.array(changes), axis=0)     # per followed input, over the perturbations
    finite = worst[np.isfinite(worst)]
    largest = float(finite.max()) if finite.size else None
    magnitudes = {
        "method": f"relative change of the top-{len(followed)} inputs' mean |SHAP| under {method}",
        "features": [{"feature": prepared.features[i], "mean_abs_shap": float(reference[i]),
                      "max_relative_change": float(w) if np.isfinite(w) else None} for i, w in zip(followed, worst)],
        "max_relative_change": largest, "tolerance": MAGNITUDE_TOLERANCE,
        # a change that cannot be computed (an input that moved nothing) is not called stable
        "stable": largest is not None and finite.size == worst.size and largest <= MAGNITUDE_TOLERANCE,
    }
    return {"method": f"Kendall's tau of the top-{len(top)} importance ranking against {method}",
            "taus": taus, "min_tau": min(taus), "unstable": min(taus) < UNSTABLE_TAU, "magnitudes": magnitudes}


def _relative_change(other: np.ndarray, reference: np.ndarray, followed: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(reference[followed] > 0, np.abs(other[followed] - reference[followed]) / reference[followed],
                        np.nan)


# --- cohorts and proxies -----------------------------------------------------------------------------------------
def cohort_importance(sample: pd.DataFrame, grouped: np.ndarray, *, features: list[str],
                      importance: np.ndarray) -> list[dict]:
    """Per sensitive attribute: mean |SHAP| by group, the features that matter most differently, proxy flags."""
    top = set(np.argsort(-importance)[:PROXY_TOP])
    out = []
    for column in [c for c in sample.columns if c.startswith("sensitive:")]:
        attribute = column.split(":", 1)[1]
        groups = sample[column].fillna("(missing)").astype(str).to_numpy()
        names = sorted(set(groups))
        if len(names) < 2:
            continue
        by_group = {g: np.abs(grouped[groups == g]).mean(axis=0) for g in names}
        share = {g: v / v.sum() if v.sum() > 0 else v for g, v in by_group.items()}
        rows = []
        for i, feature in enumerate(features):
            shares = [share[g][i] for g in names]
            association = association_strength(sample[feature], groups)
            rows.append({
                "feature": feature,
                "mean_abs_shap_by_group": {g: float(by_group[g][i]) for g in names},
                "share_spread": float(max(shares) - min(shares)),
                "association": association,
                "proxy": bool(association is not None and association >= PROXY_ASSOCIATION and i in top),
            })
        rows.sort(key=lambda r: -r["share_spread"])
        out.append({"attribute": attribute, "groups": names,
                    "sizes": {g: int((groups == g).sum()) for g in names}, "features": rows})
    return out


def association_strength(values: pd.Series, groups: np.ndarray) -> float | None:
    """Cramér's V for a categorical feature, the correlation ratio (eta) for a numeric one; None if undefined."""
    if pd.api.types.is_numeric_dtype(values):
        x = values.to_numpy(np.float64)
        total = np.nansum((x - np.nanmean(x)) ** 2)
        if total == 0:
            return None
        # summed in the groups' sorted order: a set's order changes with the process's hash seed, and so would the
        # last digit of the sum (two builds of the same demo gave two summaries)
        between = sum(np.sum(groups == g) * (np.nanmean(x[groups == g]) - np.nanmean(x)) ** 2
                      for g in sorted(set(groups)))
        return float(np.sqrt(between / total))
    table = pd.crosstab(values.astype(str).to_numpy(), groups).to_numpy(np.float64)
    if min(table.shape) < 2:
        return None
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = np.sum((table - expected) ** 2 / expected)
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))


# --- storage -----------------------------------------------------------------------------------------------------
def _store(store: GovernanceStore, *, summary: dict, sample: pd.DataFrame, grouped: np.ndarray,
           output: np.ndarray, features: list[str]) -> None:
    settings_text = canonical_json(summary["settings"])
    with store.write() as tx:
        explanation_id = f"EX-{stored_explanations.explanation_count(store) + 1:04d}"
        stored_explanations.add_explanation(
            tx, explanation_id=explanation_id, model=summary["model"], version=summary["version"],
            model_sha256=summary["model_sha256"], data_sha256=summary["data_sha256"], settings=settings_text,
            settings_hash=sha256_text(settings_text), computed_at=clock.now_naive(), seconds=summary["seconds"],
            summary=json.dumps(summary))
        n, k = grouped.shape
        values = sample[features]
        stored_explanations.add_values(tx, values=pd.DataFrame({
            "explanation_id": explanation_id,
            "row_id": np.repeat(sample["row_id"].to_numpy(np.int32), k),
            "feature": np.tile(features, n),
            "shap": grouped.reshape(-1),
            "value": values.astype(str).to_numpy().reshape(-1),
            "value_number": values.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64).reshape(-1),
        }))
        stored_explanations.add_rows(tx, rows=pd.DataFrame({
            "explanation_id": explanation_id, "row_id": sample["row_id"].to_numpy(np.int32),
            "output": output, "score": sample["score"].to_numpy(np.float64)}))


def explanation_values(store: GovernanceStore, *, explanation_id: str, max_rows: int | None = None) -> pd.DataFrame:
    """Long table (row_id, feature, shap, value, value_number) for the beeswarm and dependence plots."""
    return stored_explanations.value_table(store, explanation_id=explanation_id, max_rows=max_rows)


# --- local explanation -------------------------------------------------------------------------------------------
def near_threshold_rejection(store: GovernanceStore, *, model: str, version: str) -> int:
    """The declined applicant whose score came closest to the approval threshold."""
    row = models.closest_below(store, model=model, version=version, threshold=THRESHOLD)
    if row is None:
        raise InvalidInputError(f"no applicant of {model} {version} was declined: there is no rejection to explain")
    return int(row)


def explain_row(store: GovernanceStore, *, model: str, version: str, row_id: int) -> dict:
    """A waterfall from the base value to this row's output, grouped by input, with a plain-language narrative."""
    prepared, _ = load_version(store, model=model, version=version)
    chosen = evaluation_frame(store, model=model, version=version, row_ids=[row_id])
    if chosen.empty:
        rows = evaluation_set(store, model=model, version=version).rows
        raise InvalidInputError(UNKNOWN_ROW.format(row_id=row_id, model=model, version=version, last=rows - 1))
    kind = choose_explainer(prepared.classifier)
    background = _background(store, prepared, model=model, version=version, kind=kind)
    encoded = prepared.encode(chosen)
    values, base = shap_values(prepared, encoded, kind=kind, background=background)
    grouped = (values @ prepared.grouping())[0]
    units = output_units(prepared, kind)
    output = float(model_output(prepared, encoded, units=units)[0])
    probability = float(prepared.classifier.predict_proba(encoded)[0, 1])
    contributions = sorted(({"feature": f, "value": _plain(chosen.iloc[0][f]), "shap": float(grouped[i])}
                            for i, f in enumerate(prepared.features)), key=lambda c: -abs(c["shap"]))
    average = average_probability(store, model=model, version=version)
    meaning = base_value_meaning(kind=kind, units=units, background=len(background))
    return {"row_id": int(row_id), "prediction": int(probability >= THRESHOLD), "probability": probability,
            "output": output, "base_value": base, "base_value_meaning": meaning, "average_probability": average,
            "output_units": units, "explainer": kind,
            "contributions": contributions, "additivity_error": abs(base + float(values.sum()) - output),
            "narrative": narrative(base=base, output=output, probability=probability, units=units,
                                   contributions=contributions, average_probability=average, base_meaning=meaning)}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def narrative(*, base: float, output: float, probability: float, units: str, contributions: list[dict],
              average_probability: float | None = None, base_meaning: str | None = None, top: int = 3) -> str:
    """The waterfall in words, from the numbers, in the output's own units.

    The 'average applicant' is the mean predicted probability over the evaluation set. The base value, where
    the contributions start, is named for what it is: in log-odds it is not the average probability (the
    probability of the mean log-odds is lower than the mean probability when scores are skewed: adult-income
    v1's base value reads as 0.13, while its applicants average 0.25)."""
    decision = "approve" if probability >= THRESHOLD else "decline"
    unit = "" if units == "probability" else " log-odds"
    scored = _figure(probability, avoid=THRESHOLD)
    text = f"The model scored this applicant {scored} ({decision}; approve at {THRESHOLD} or above)"
    text += "." if units == "probability" else (f", {_figure(output, avoid=0.0)} in log-odds, the units of these "
                                                 "contributions.")
    if average_probability is not None:
        text += f" Applicants in the evaluation set average a predicted probability of {_figure(average_probability)}."
    meaning = f", {base_meaning}" if base_meaning else ""
    if units == "probability":
        text += f" The contributions start from the base value {_figure(base)}{meaning}; from there,"
    else:
        text += (f" The contributions start from the base value {_figure(base)} log-odds{meaning} (as a probability "
                 f"{_figure(_sigmoid(base))}, which is not the average predicted probability); from there,")
    visible = [c for c in contributions if abs(c["shap"]) >= 0.005]   # what prints as 0.00 moved nothing
    raised = [c for c in visible if c["shap"] > 0][:top]
    lowered = [c for c in visible if c["shap"] < 0][:top]
    clauses = [_listing(items, verb, unit) for items, verb in ((raised, "raised the score by"),
                                                               (lowered, "lowered it by")) if items]
    return f"{text} {'; '.join(clauses) or 'no input moved the score'}."


def _figure(value: float, *, avoid: float | None = None) -> str:
    """Two decimals, or as many as it takes not to print a value that sits just off `avoid` as `avoid` itself."""
    for digits in (2, 3, 4, 6):
        text = f"{value:.{digits}f}"
        if avoid is None or float(text) != avoid or value == avoid:
            break
    return "0.00" if text.strip("-0.") == "" else text


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) and not float(value).is_integer() else str(value)


def _listing(items: list[dict], verb: str, unit: str) -> str:
    """'marital status (Married) raised the score by 0.21, capital gain (7688) by 0.14 and age (52) by 0.05'."""
    parts = [f"{c['feature'].replace('_', ' ')} ({_value(c['value'])}) by {abs(c['shap']):.2f}{unit}" for c in items]
    parts[0] = parts[0].replace(" by ", f" {verb} ", 1)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def global_narrative(summary: dict, *, top: int = 3) -> str:
    """The global explanation in words, from its stored numbers: what moved the score most, how concentrated
    that is, and whether the ranking can be relied on. For readers of a report who are not specialists."""
    ranked = summary["global"]
    if not ranked:
        return "The explanation holds no feature importances."
    unit = "" if summary["output_units"] == "probability" else " log-odds"
    leading = [f"{g['feature'].replace('_', ' ')} ({g['mean_abs_shap']:.2f}{unit})" for g in ranked[:top]]
    named = leading[0] if len(leading) == 1 else ", ".join(leading[:-1]) + " and " + leading[-1]
    total = sum(g["mean_abs_shap"] for g in ranked)
    share = sum(g["mean_abs_shap"] for g in ranked[:top]) / total if total else None
    text = (f"Across the {summary['rows_explained']:,} applicants explained, the inputs that moved the model's score "
            f"most, on average, were {named}.")
    if share is not None:
        text += f" Together they account for {share:.0%} of all the movement of the {len(ranked)} inputs."
    tau = summary.get("stability_kendall_tau")
    if tau is not None:
        verdict = ("stable" if tau >= 0.9 else "fairly stable" if tau >= UNSTABLE_TAU
                   else "unstable, so read the order with care")
        text += f" The ranking is {verdict}: Kendall's tau against resampled explanations was {tau:.2f} at worst."
    magnitudes = (summary.get("stability") or {}).get("magnitudes")
    if magnitudes and magnitudes["max_relative_change"] is not None:
        text += (f" The sizes of the top {len(magnitudes['features'])} moved by at most "
                 f"{magnitudes['max_relative_change']:.1%} under the same resampling, "
                 + ("within" if magnitudes["stable"] else "beyond, so read them as approximate, outside")
                 + f" the {magnitudes['tolerance']:.0%} tolerance.")
    return text + " These are the model's associations, not causes in the world."
