"""Simulated reviewers with known biases: the demo panel and the ground truth of tests.

Each simulated reviewer decides a case from its true answer through a logistic model
whose terms are the biases to be detected later:

``logit P(label = 1) = ±logit(accuracy) - severity + leniency[subject group]``

(``+`` when the true answer is 1), and, when the model's decision is shown, copies it
with probability ``automation_bias`` instead. Confidence grows with how far that
probability is from one half; time spent is log-normal. Everything is drawn from one
seeded generator, so a simulation is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["CASE_COLUMNS", "SimulatedReviewer", "simulate_ratings"]

CASE_COLUMNS = ("case_id", "truth", "model_decision", "subject_group")
ASSIGNMENT_COLUMNS = ("case_id", "reviewer_id", "model_shown")
MSG_SHARE = "{name} of reviewer {reviewer!r} must lie in [0, 1]; got {value!r}"
MSG_ACCURACY = "accuracy of reviewer {reviewer!r} must lie in (0.5, 1); got {value!r}"
MSG_COLUMNS = "{name} lacks column(s) {missing}"
MSG_UNKNOWN_REVIEWER = "assignments name reviewer {reviewer!r}, who is not simulated"
MSG_UNKNOWN_CASE = "assignments name case {case!r}, which is not in cases"


@dataclass(frozen=True)
class SimulatedReviewer:
    """A simulated reviewer and the biases injected into their ratings.

    Parameters
    ----------
    reviewer_id : str
    accuracy : float, default 0.85
        Chance of the right answer with no other bias, in (0.5, 1).
    severity : float, default 0.0
        Log-odds subtracted from a positive decision (harsh > 0, lenient < 0).
    leniency : mapping of subject group -> float, default {}
        Log-odds added for cases of that subject group (group-specific bias).
    automation_bias : float, default 0.0
        Chance of copying the model's decision when it is shown, in [0, 1].
    """

    reviewer_id: str
    accuracy: float = 0.85
    severity: float = 0.0
    leniency: Mapping[str, float] = field(default_factory=dict)
    automation_bias: float = 0.0

    def __post_init__(self) -> None:
        if not 0.5 < self.accuracy < 1.0:
            raise ValueError(MSG_ACCURACY.format(reviewer=self.reviewer_id, value=self.accuracy))
        if not 0.0 <= self.automation_bias <= 1.0:
            raise ValueError(MSG_SHARE.format(name="automation_bias", reviewer=self.reviewer_id,
                                              value=self.automation_bias))
        object.__setattr__(self, "leniency", dict(self.leniency))


def simulate_ratings(cases: pd.DataFrame, assignments: pd.DataFrame,
                     reviewers: Mapping[str, SimulatedReviewer], *,
                     random_state: int = 0) -> pd.DataFrame:
    """Draw each simulated reviewer's rating of each assigned case.

    Parameters
    ----------
    cases : pandas.DataFrame
        :data:`CASE_COLUMNS`: ``truth`` and ``model_decision`` are 0/1.
    assignments : pandas.DataFrame
        ``case_id, reviewer_id, model_shown``; rows of reviewers not in ``reviewers``
        are an error (real reviewers rate for themselves).
    reviewers : mapping of reviewer id -> SimulatedReviewer
    random_state : int, default 0

    Returns
    -------
    pandas.DataFrame
        One row per assignment: ``case_id, reviewer_id, label, confidence,
        seconds_spent, copied`` (whether the model's decision was copied).

    Examples
    --------
    >>> cases = pd.DataFrame({"case_id": [1, 2], "truth": [1, 0], "model_decision": [1, 1],
    ...                       "subject_group": ["a", "b"]})
    >>> plan = pd.DataFrame({"case_id": [1, 2], "reviewer_id": ["r", "r"],
    ...                      "model_shown": [False, False]})
    >>> simulate_ratings(cases, plan, {"r": SimulatedReviewer("r", accuracy=0.999)})["label"]
    0    1
    1    0
    Name: label, dtype: int64
    """
    _check(cases, CASE_COLUMNS, "cases")
    _check(assignments, ASSIGNMENT_COLUMNS, "assignments")
    by_case = cases.set_index("case_id")
    rng = np.random.default_rng(random_state)
    rows = []
    for a in assignments.itertuples(index=False):
        reviewer = reviewers.get(str(a.reviewer_id))
        if reviewer is None:
            raise ValueError(MSG_UNKNOWN_REVIEWER.format(reviewer=a.reviewer_id))
        if a.case_id not in by_case.index:
            raise ValueError(MSG_UNKNOWN_CASE.format(case=a.case_id))
        case = by_case.loc[a.case_id]
        rows.append(_rate(reviewer, case, bool(a.model_shown), rng) | {
            "case_id": a.case_id, "reviewer_id": a.reviewer_id})
    columns = ["case_id", "reviewer_id", "label", "confidence", "seconds_spent", "copied"]
    return pd.DataFrame(rows, columns=columns)


def _rate(reviewer: SimulatedReviewer, case: pd.Series, model_shown: bool,
          rng: np.random.Generator) -> dict[str, object]:
    base = math.log(reviewer.accuracy / (1 - reviewer.accuracy))
    logit = (base if int(case["truth"]) == 1 else -base) - reviewer.severity
    logit += reviewer.leniency.get(str(case["subject_group"]), 0.0)
    p = 1.0 / (1.0 + math.exp(-logit))
    copied = model_shown and rng.random() < reviewer.automation_bias
    label = int(case["model_decision"]) if copied else int(rng.random() < p)
    sureness = abs(p - 0.5) * 2
    confidence = int(np.clip(round(1 + 4 * sureness + rng.normal(0, 0.6)), 1, 5))
    seconds = float(np.round(rng.lognormal(mean=3.6, sigma=0.5), 1))
    return {"label": label, "confidence": confidence, "seconds_spent": seconds,
            "copied": bool(copied)}


def _check(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(MSG_COLUMNS.format(name=name, missing=missing))
