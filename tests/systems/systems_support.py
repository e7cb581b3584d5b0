"""A credit-decision dataset fairpanel has never seen, and a model of its own, for tests.

The frame is generated here (2,000 applicants: ``id``, ``sex``, ``race``, four features,
the outcome ``repaid``, a logged score and decision), so nothing in it comes from the
bundled datasets; the model is a scikit-learn pipeline fitted in the test and saved
with skops, as a user would bring it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FEATURES = ("income", "debt_ratio", "years_employed", "region")
MAPPING = {"id": "id", "target": "repaid", "sensitive": ["sex", "race"],
           "prediction": "approved", "score": "score"}


def credit_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Applicants with a group-dependent outcome and a logged score and decision."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n, p=[0.45, 0.55])
    race = rng.choice(["group_a", "group_b", "group_c"], n, p=[0.6, 0.3, 0.1])
    income = rng.normal(50, 12, n) + np.where(sex == "male", 4, 0)
    debt = rng.uniform(0.05, 0.8, n)
    years = rng.integers(0, 30, n)
    region = rng.choice(["north", "south", "east"], n)
    logit = 0.08 * (income - 50) - 3.0 * (debt - 0.4) + 0.03 * years
    repaid = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    score = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.5, n) - np.where(race == "group_c",
                                                                         0.4, 0))))
    return pd.DataFrame({"id": np.arange(1000, 1000 + n), "sex": sex, "race": race,
                         "income": income.round(2), "debt_ratio": debt.round(4),
                         "years_employed": years, "region": region, "repaid": repaid,
                         "score": score.round(6), "approved": (score >= 0.5).astype(np.int64)})


def fit_model(frame: pd.DataFrame, features: tuple[str, ...] = FEATURES,
              target: str = "repaid") -> Pipeline:
    """A user's pipeline: scaled numbers and one-hot categories into a logistic regression."""
    numeric = [f for f in features if frame[f].dtype.kind in "if"]
    categorical = [f for f in features if f not in numeric]
    pipeline = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), numeric),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"),
                                     categorical)])),
        ("clf", LogisticRegression(max_iter=500)),
    ])
    return pipeline.fit(frame.loc[:, list(features)], frame[target])


def save_skops(pipeline: Pipeline, path: Path) -> Path:
    """Save a pipeline the way a user exports it."""
    sio.dump(pipeline, path)
    return path
