"""Mitigation preview: what fairlearn's ThresholdOptimizer would do to a failing criterion. A what-if only."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator

from governance.evidence import fairness_metrics as fm
from governance.evidence.fairness import DEFAULT_SEED, Criterion, parse_criteria
from governance.evidence.fairness_inputs import AuditError

NO_SCORE_FOR_MITIGATION = ("a mitigation preview moves decision thresholds, so it needs each row's score: this "
                           "audit has no score column")
NO_MITIGATION_CONSTRAINT = ("ThresholdOptimizer has no constraint for {metric}; a preview exists for selection "
                            "rate, true-positive rate, false-positive rate, false-negative rate and equalized odds")
MITIGATION_CONSTRAINTS = {"selection_rate": "demographic_parity", "true_positive_rate": "true_positive_rate_parity",
                          "false_positive_rate": "false_positive_rate_parity",
                          "false_negative_rate": "false_negative_rate_parity"}


def mitigation_preview(*, rows: pd.DataFrame, sensitive: Sequence[str], criterion: str, seed: int = DEFAULT_SEED) -> dict:
    """What fairlearn's ThresholdOptimizer would do to one criterion: a what-if, no deployed model changes.

    Thresholds per group are fitted on a random half of the rows and judged on the other half, so the
    "after" figures are out of sample; "before" is the model's own decisions on that same half.
    """
    if "score" not in rows or rows["score"].isna().all():
        raise AuditError(NO_SCORE_FOR_MITIGATION)
    chosen = parse_criteria(criterion)[0]
    metrics = fm.CRITERION_BASES[chosen.base]
    constraint = "equalized_odds" if len(metrics) == 2 else MITIGATION_CONSTRAINTS.get(metrics[0])
    if constraint is None:
        raise AuditError(NO_MITIGATION_CONSTRAINT.format(metric=fm.METRIC_WORDS[metrics[0]]))
    group = rows[list(sensitive)].astype(str).agg(", ".join, axis=1).to_numpy()
    order = np.random.default_rng(seed).permutation(len(rows))
    fit, judge = order[: len(rows) // 2], order[len(rows) // 2:]
    score = rows[["score"]].to_numpy(np.float64)
    y_true = rows["y_true"].to_numpy(int)
    optimizer = ThresholdOptimizer(estimator=_ScoreAsPrediction().fit(score, y_true), constraints=constraint,
                                   objective="accuracy_score", prefit=True, predict_method="predict")
    optimizer.fit(score[fit], y_true[fit], sensitive_features=group[fit])
    after = optimizer.predict(score[judge], sensitive_features=group[judge], random_state=seed)
    before = rows["y_pred"].to_numpy(int)[judge]
    return {"criterion": chosen.text, "constraint": constraint, "sensitive": list(sensitive),
            "rows_fitted": len(fit), "rows_judged": len(judge),
            "before": _preview_figures(y_true[judge], before, group[judge], chosen),
            "after": _preview_figures(y_true[judge], np.asarray(after, dtype=int), group[judge], chosen),
            "note": ("What-if only: fairlearn's ThresholdOptimizer picks a (randomised) decision threshold per group "
                     "on half of the evaluation rows and is judged on the other half. No deployed model changes; "
                     "group-specific thresholds also need a legal review before any use.")}


def _preview_figures(y_true: np.ndarray, y_pred: np.ndarray, group: np.ndarray, criterion: Criterion) -> dict:
    names = sorted(set(group))
    counts = np.zeros((len(names), 2, 2, 1), dtype=np.int64)
    np.add.at(counts, (np.searchsorted(names, group), y_true, y_pred, 0), 1)
    metrics = fm.CRITERION_BASES[criterion.base]
    values = fm.group_metrics(counts, None, tuple(dict.fromkeys(("accuracy", "selection_rate") + metrics)))
    worst = None
    for metric in metrics:
        d = fm.disparity(values[metric])
        statistic = d.ratio if criterion.kind == "ratio" else d.difference
        if worst is None or (statistic < worst if criterion.kind == "ratio" else statistic > worst):
            worst = float(statistic)
    return {"accuracy": float((y_true == y_pred).mean()), criterion.name: fm.finite_or_none(worst),
            "passes": bool(worst is not None and np.isfinite(worst) and criterion.passes(worst)),
            "selection_rate_by_group": {n: fm.finite_or_none(v) for n, v in zip(names, values["selection_rate"])}}


class _ScoreAsPrediction(BaseEstimator):
    """Adapter that lets ThresholdOptimizer threshold a stored score: its one input column is the score."""

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0]
