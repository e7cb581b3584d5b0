"""A system fairpanel has never seen (imported by basename from any test folder).

:func:`write_system` writes what an organisation brings: ``decisions.csv`` (an id, the
model's features, the observed outcome and the logged decision), ``demographics.csv``
(the sensitive features, held apart, keyed by the same id) and ``model.skops`` (the
scikit-learn pipeline that made the decisions), as in the README's "Audit your own
model". Women's incomes are drawn lower, so the model approves them less often: a
disparity the audit must find.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["OwnSystem", "write_system"]


@dataclass(frozen=True)
class OwnSystem:
    """Where the files are, and the frames they hold."""

    decisions: Path
    demographics: Path
    model: Path
    frame: pd.DataFrame
    sensitive: pd.DataFrame
    y_score: np.ndarray

    def joined(self) -> pd.DataFrame:
        """The decisions with their demographics and the model's score (``y_score``)."""
        return self.frame.merge(self.sensitive, on="applicant_id").assign(
            y_score=self.y_score)


def write_system(folder: Path, *, n: int = 1200, seed: int = 0) -> OwnSystem:
    """Write decisions.csv, demographics.csv and model.skops into ``folder``."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    income = (rng.gamma(4.0, 10.0, n) * np.where(sex == "male", 1.2, 1.0)).round(1)
    debt = rng.gamma(2.0, 8.0, n).round(1)
    region = rng.choice(["north", "south", "east", "west"], n)
    repaid = (rng.random(n) < 1 / (1 + np.exp(2.0 - 0.06 * income + 0.04 * debt))).astype(int)
    features = pd.DataFrame({"income": income, "debt": debt, "region": region})
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["region"]),
                                                  remainder=StandardScaler()),
                          LogisticRegression()).fit(features, repaid)
    frame = features.assign(applicant_id=np.arange(n), repaid=repaid,
                            approved=model.predict(features))
    sensitive = pd.DataFrame({"applicant_id": np.arange(n), "sex": sex,
                              "age_band": rng.choice(["18-29", "30-44", "45+"], n)})
    out = OwnSystem(folder / "decisions.csv", folder / "demographics.csv",
                    folder / "model.skops", frame, sensitive,
                    model.predict_proba(features)[:, 1])
    frame.to_csv(out.decisions, index=False)
    sensitive.to_csv(out.demographics, index=False)
    sio.dump(model, out.model)
    return out
