"""Reviewer severity flags on simulated panels with one harsh reviewer (slow).

Measures, for panels of 6, 14 and 20 reviewers (600 cases, 3 reviewers each, truth 50/50,
every reviewer of accuracy 0.85) with reviewer r00 at severity 3 (log-odds), the share of
panels in which ANY innocent reviewer is flagged (Holm, alpha 0.05; the family-wise rate
the flags promise), and the power to flag a reviewer at severity 1.5 with 20 reviewers.
The generator is the model of :class:`audits.panel.simulation.SimulatedReviewer`
(``logit P(1) = +-logit(accuracy) - severity``), vectorised: simulate_ratings draws one
rating at a time, too slow for hundreds of panels. R = 150 panels per cell, seeds fixed;
about 40 s on one idle core.

Panels shaped like the demo's (14 reviewers, 190 cases, 4 reviewers per case, a quarter
of the cases positive) add the case where Wald's test failed: a reviewer at severity 3
who almost never gives the positive decision where a colleague does. On the 300 panels
of the test below, the score test flags them in 95.0% with an innocent flagged in 1.7%;
the case-clustered Wald test it replaced (issue 17) flagged them in 70.0% with an
innocent flagged in 10.3% (the harsh reviewer it missed stayed in the reference and made
colleagues look lenient). With nobody harsh, 2.3% of 300 panels had a flag (Wald: 7.0%).
Every rate is asserted with its Monte-Carlo error:
``rate <= 0.05 + 2.5 * sqrt(0.05 * 0.95 / R)`` and ``power >= measured - 2.5 * MC SE``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audits.raters.human_bias import reviewer_severity

pytestmark = pytest.mark.slow

R = 150
N_CASES, PER_CASE, ACCURACY = 600, 3, 0.85
NOMINAL = 0.05
MARGIN = 2.5 * math.sqrt(NOMINAL * (1 - NOMINAL) / R)
#: Power at severity 1.5 with 20 reviewers, measured on these seeds (R = 150).
POWER_20 = 0.73
#: Power at severity 3 on the demo-shaped panels, measured on these seeds (R = 300).
POWER_DEMO = 0.95


def harsh_panel(seed: int, n_reviewers: int, severity: float, *, n_cases: int = N_CASES,
                per_case: int = PER_CASE, positive: float | None = None) -> pd.DataFrame:
    """Ratings of one simulated panel; reviewer r00 has ``severity``, the rest none.

    A ``positive`` share of the cases is positive (half, drawn as fair coins, if None).
    """
    rng = np.random.default_rng(seed)
    truth = (rng.integers(0, 2, n_cases) if positive is None
             else (rng.random(n_cases) < positive).astype(int))
    picks = np.argsort(rng.random((n_cases, n_reviewers)), axis=1)[:, :per_case]
    case, reviewer = np.repeat(np.arange(n_cases), per_case), picks.ravel()
    base = math.log(ACCURACY / (1 - ACCURACY))
    logit = np.where(truth[case] == 1, base, -base) - np.where(reviewer == 0, severity, 0.0)
    label = (rng.random(len(case)) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"case_id": case, "label": label,
                         "reviewer_id": [f"r{i:02d}" for i in reviewer]})


def flag_rates(n_reviewers: int, severity: float) -> tuple[float, float]:
    """Share of panels with any innocent flagged, and share with r00 flagged."""
    innocent = harsh = 0
    for i in range(R):
        out = reviewer_severity(harsh_panel(10_000 * n_reviewers + i, n_reviewers, severity),
                                n_boot=0)
        flagged = out.set_index("reviewer_id")["flagged"]
        innocent += bool(flagged.drop("r00").any())
        harsh += bool(flagged["r00"])
    return innocent / R, harsh / R


@pytest.mark.parametrize("n_reviewers", [6, 14, 20])
def test_one_harsh_reviewer_does_not_get_innocents_flagged(n_reviewers: int) -> None:
    innocent, harsh = flag_rates(n_reviewers, 3.0)
    assert innocent <= NOMINAL + MARGIN, innocent
    assert harsh >= 0.95, harsh  # measured 1.00 in every panel size


def test_power_at_severity_one_and_a_half_with_twenty_reviewers() -> None:
    innocent, harsh = flag_rates(20, 1.5)
    assert innocent <= NOMINAL + MARGIN, innocent
    assert harsh >= POWER_20 - 2.5 * math.sqrt(POWER_20 * (1 - POWER_20) / R), harsh


def demo_shaped_panel(seed: int, severity: float) -> pd.DataFrame:
    """Ratings of a panel shaped like the demo's: 14 reviewers, 190 cases, 4 per case,
    a quarter of the cases positive, accuracy 0.85; r00 has ``severity``."""
    return harsh_panel(seed, 14, severity, n_cases=190, per_case=4, positive=0.25)


def test_a_nearly_separated_harsh_reviewer_is_flagged_and_nobody_else() -> None:
    # Measured on these seeds: harsh flagged 0.950, an innocent flagged 0.017 (R = 300).
    r = 300
    margin = 2.5 * math.sqrt(NOMINAL * (1 - NOMINAL) / r)
    innocent = harsh = 0
    for i in range(r):
        out = reviewer_severity(demo_shaped_panel(50_000 + i, 3.0), n_boot=0)
        flagged = out.set_index("reviewer_id")["flagged"]
        innocent += bool(flagged.drop("r00").any())
        harsh += bool(flagged["r00"])
    assert innocent / r <= NOMINAL + margin, innocent / r
    assert harsh / r >= POWER_DEMO - 2.5 * math.sqrt(POWER_DEMO * (1 - POWER_DEMO) / r), harsh / r


def test_nobody_is_flagged_on_a_demo_shaped_panel_without_a_harsh_reviewer() -> None:
    # Measured on these seeds: 0.023 (R = 300).
    r = 300
    margin = 2.5 * math.sqrt(NOMINAL * (1 - NOMINAL) / r)
    anyone = sum(bool(reviewer_severity(demo_shaped_panel(60_000 + i, 0.0),
                                        n_boot=0)["flagged"].any()) for i in range(r))
    assert anyone / r <= NOMINAL + margin, anyone / r
