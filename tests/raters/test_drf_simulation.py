"""Differential rater functioning on simulated panels (slow).

Measures the share of panels with ANY (rater group, subject group) cell flagged
(Benjamini-Hochberg, alpha 0.05) when one background group of 10 of 20 reviewers is
uniformly harsher (severity 1 log-odds on every case) and the subject groups have base
rates 0.2 and 0.8 (no interaction on the logit scale: the old probability-scale
difference in differences flagged 18-25% of such panels), and the power when the group is
instead harsher on subject group B only (leniency -1). 600 cases, 3 reviewers each,
accuracy 0.85, the model of :class:`audits.panel.simulation.SimulatedReviewer`
vectorised. R = 150 null panels and 50 power panels, 300 permutations each, seeds fixed;
about 25 s on one core (0.12 s per panel).
Asserted: ``rate <= 0.05 + 2.5 * sqrt(0.05 * 0.95 / R)`` and
``power >= measured - 2.5 * MC SE``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audits.raters.human_bias import differential_rater_functioning

pytestmark = pytest.mark.slow

R_NULL, R_POWER = 150, 50
N_CASES, N_REVIEWERS, PER_CASE, ACCURACY = 600, 20, 3, 0.85
GROUPS = {f"r{j:02d}": "x" if j < N_REVIEWERS // 2 else "y" for j in range(N_REVIEWERS)}
NOMINAL = 0.05
#: Power for a -1 log-odds interaction, measured on these seeds (R = 50).
POWER = 0.86


def group_panel(seed: int, *, harsher: float = 0.0, on_b: float = 0.0) -> pd.DataFrame:
    """Group x is harsher by ``harsher`` on every case and by ``on_b`` more on group B."""
    rng = np.random.default_rng(seed)
    subject = np.where(np.arange(N_CASES) % 2 == 0, "A", "B")
    truth = (rng.random(N_CASES) < np.where(subject == "A", 0.2, 0.8)).astype(int)
    picks = np.argsort(rng.random((N_CASES, N_REVIEWERS)), axis=1)[:, :PER_CASE]
    case, reviewer = np.repeat(np.arange(N_CASES), PER_CASE), picks.ravel()
    in_x = reviewer < N_REVIEWERS // 2
    base = math.log(ACCURACY / (1 - ACCURACY))
    logit = (np.where(truth[case] == 1, base, -base) - harsher * in_x
             - on_b * (in_x & (subject[case] == "B")))
    label = (rng.random(len(case)) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"case_id": case, "label": label, "subject_group": subject[case],
                         "reviewer_id": [f"r{i:02d}" for i in reviewer]})


def test_a_uniformly_harsher_group_is_not_an_interaction() -> None:
    flagged = 0
    for i in range(R_NULL):
        out = differential_rater_functioning(group_panel(i, harsher=1.0), GROUPS,
                                             n_permutations=300, random_state=i)
        flagged += bool(out["flagged"].any())
    rate = flagged / R_NULL
    assert rate <= NOMINAL + 2.5 * math.sqrt(NOMINAL * (1 - NOMINAL) / R_NULL), rate


def test_a_real_interaction_is_found() -> None:
    found = 0
    for i in range(R_POWER):
        out = differential_rater_functioning(group_panel(5000 + i, on_b=1.0), GROUPS,
                                             n_permutations=300, random_state=i)
        cell = out.set_index(["rater_group", "subject_group"]).loc[("x", "B")]
        found += bool(cell["flagged"]) and cell["effect"] < 0
    power = found / R_POWER
    assert power >= POWER - 2.5 * math.sqrt(POWER * (1 - POWER) / R_POWER), power
