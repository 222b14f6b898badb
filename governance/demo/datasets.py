"""The public data sets shipped in data/: UCI Adult and Statlog German credit (see data/README.md).

Each loader returns a clean DataFrame with readable column names and values, a binary target and the
sensitive attributes a fairness audit needs. Nothing here is downloaded: the files ship with Quorum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.record.workspace import DATA_DIR

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
]
ADULT_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
ADULT_CATEGORICAL = ["workclass", "marital_status", "occupation", "relationship", "native_country"]
ADULT_SENSITIVE = ["sex", "race", "age_band"]

GERMAN_COLUMNS = [
    "checking_status", "duration_months", "credit_history", "purpose", "credit_amount", "savings",
    "employment_since", "installment_rate_pct", "personal_status", "other_debtors", "residence_since",
    "property", "age", "other_installment_plans", "housing", "existing_credits", "job", "dependents",
    "telephone", "foreign_worker", "credit_risk",
]
GERMAN_NUMERIC = ["duration_months", "credit_amount", "installment_rate_pct", "residence_since", "age",
                  "existing_credits", "dependents"]
GERMAN_CATEGORICAL = ["checking_status", "credit_history", "purpose", "savings", "employment_since",
                      "other_debtors", "property", "other_installment_plans", "housing", "job", "telephone"]
GERMAN_SENSITIVE = ["sex", "age_band", "foreign_worker"]

# Codebook of german.data (attribute documentation of the UCI Statlog data set).
GERMAN_CODES = {
    "checking_status": {"A11": "< 0 DM", "A12": "0-200 DM", "A13": ">= 200 DM", "A14": "no account"},
    "credit_history": {"A30": "no credits / all paid", "A31": "all paid at this bank", "A32": "existing paid duly",
                       "A33": "past delays", "A34": "critical account"},
    "purpose": {"A40": "car (new)", "A41": "car (used)", "A42": "furniture", "A43": "radio/TV",
                "A44": "appliances", "A45": "repairs", "A46": "education", "A47": "vacation",
                "A48": "retraining", "A49": "business", "A410": "other"},
    "savings": {"A61": "< 100 DM", "A62": "100-500 DM", "A63": "500-1000 DM", "A64": ">= 1000 DM",
                "A65": "unknown / none"},
    "employment_since": {"A71": "unemployed", "A72": "< 1 year", "A73": "1-4 years", "A74": "4-7 years",
                         "A75": ">= 7 years"},
    "personal_status": {"A91": "male: divorced/separated", "A92": "female: divorced/separated/married",
                        "A93": "male: single", "A94": "male: married/widowed", "A95": "female: single"},
    "other_debtors": {"A101": "none", "A102": "co-applicant", "A103": "guarantor"},
    "property": {"A121": "real estate", "A122": "savings/insurance", "A123": "car or other",
                 "A124": "unknown / none"},
    "other_installment_plans": {"A141": "bank", "A142": "stores", "A143": "none"},
    "housing": {"A151": "rent", "A152": "own", "A153": "for free"},
    "job": {"A171": "unskilled non-resident", "A172": "unskilled resident", "A173": "skilled",
            "A174": "management / self-employed"},
    "telephone": {"A191": "none", "A192": "yes"},
    "foreign_worker": {"A201": "yes", "A202": "no"},
}

AGE_BANDS = [(0, 25, "<25"), (25, 45, "25-44"), (45, 65, "45-64"), (65, 200, "65+")]


def age_band(age: pd.Series) -> pd.Series:
    """Age bands used as a sensitive attribute in both data sets."""
    edges = [low for low, _, _ in AGE_BANDS] + [AGE_BANDS[-1][1]]
    labels = [label for _, _, label in AGE_BANDS]
    return pd.cut(age, bins=edges, right=False, labels=labels).astype(str)


def _read_adult_file(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / name, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?",
                        comment="|", header=None)
    frame = frame.dropna().drop(columns=["fnlwgt"]).reset_index(drop=True)
    frame["income"] = frame["income"].str.rstrip(".")
    frame["target"] = (frame["income"] == ">50K").astype(np.int8)
    frame["age_band"] = age_band(frame["age"])
    for column in ADULT_NUMERIC:
        frame[column] = frame[column].astype(np.int64)
    return frame


def load_adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    """UCI Adult as (train, test): the official split, rows with missing values dropped (30,162 / 15,060)."""
    return _read_adult_file("adult.data.gz"), _read_adult_file("adult.test.gz")


def load_german() -> pd.DataFrame:
    """Statlog German credit, 1,000 applicants; target 1 = good credit risk (would be approved)."""
    frame = pd.read_csv(DATA_DIR / "german.data", sep=" ", names=GERMAN_COLUMNS, header=None)
    for column, codes in GERMAN_CODES.items():
        frame[column] = frame[column].map(codes)
    frame["target"] = (frame["credit_risk"] == 1).astype(np.int8)
    frame["sex"] = np.where(frame["personal_status"].str.startswith("female"), "female", "male")
    frame["age_band"] = age_band(frame["age"])
    return frame
