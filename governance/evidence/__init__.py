"""Evidence about a model version: the registry and its skops artifacts, evaluation sets, fairness audits, SHAP
explanations and robustness checks."""
