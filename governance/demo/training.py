"""Real scikit-learn models for the demo workspace, trained with fixed seeds on the shipped data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from governance.evidence.model_metrics import training_metrics


@dataclass(frozen=True)
class TrainedModel:
    estimator: Pipeline
    features: list[str]
    algorithm: str
    metrics: dict[str, float]


def _one_hot_pipeline(numeric: list[str], categorical: list[str], classifier) -> Pipeline:
    encode = ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])
    return Pipeline([("encode", encode), ("classify", classifier)])


def _ordinal_pipeline(numeric: list[str], categorical: list[str], classifier) -> Pipeline:
    encode = ColumnTransformer([
        ("numeric", "passthrough", numeric),
        ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
    ])
    return Pipeline([("encode", encode), ("classify", classifier)])


def train(*, kind: str, train_frame: pd.DataFrame, numeric: list[str], categorical: list[str],
          evaluation: pd.DataFrame, seed: int) -> TrainedModel:
    """Fit one of the demo's model kinds and measure it on the held-out evaluation frame."""
    features = numeric + categorical
    if kind == "logistic_regression":
        estimator = _one_hot_pipeline(numeric, categorical, LogisticRegression(max_iter=2000, C=1.0))
        algorithm = "Logistic regression (one-hot categoricals, standardised numerics)"
    elif kind == "gradient_boosting":
        # Categories enter as ordinal codes, not as native categorical splits: shap's exact tree explainer
        # reads thresholds only, and would silently mis-attribute a native categorical split.
        estimator = _ordinal_pipeline(numeric, categorical, HistGradientBoostingClassifier(
            max_iter=120, learning_rate=0.08, max_leaf_nodes=24, random_state=seed))
        algorithm = "Gradient-boosted trees (scikit-learn HistGradientBoosting, 120 iterations, ordinal-coded categories)"
    elif kind == "random_forest":
        estimator = _one_hot_pipeline(numeric, categorical, RandomForestClassifier(
            n_estimators=300, max_depth=8, min_samples_leaf=3, random_state=seed, n_jobs=1))
        algorithm = "Random forest (300 trees, depth 8)"
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    estimator.fit(train_frame[features], train_frame["target"])
    score = estimator.predict_proba(evaluation[features])[:, 1]
    y_pred = (score >= 0.5).astype(np.int8)
    return TrainedModel(estimator, features, algorithm,
                        training_metrics(y_true=evaluation["target"], y_pred=y_pred, score=score))
