"""The quality figures a model version records from its held-out evaluation: accuracy, precision, recall, F1, ROC AUC.

One rule for the demo's trained versions and for a registered one, so the two are measured alike."""

from __future__ import annotations

from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score


def training_metrics(*, y_true, y_pred, score) -> dict[str, float]:
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "precision": round(float(precision_score(y_true, y_pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y_true, y_pred, zero_division=0)), 4),
        "f1": round(float(f1_score(y_true, y_pred, zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(y_true, score)), 4),
    }
