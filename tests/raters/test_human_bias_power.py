"""Power and false-flag rates of the human-bias tests on simulated review panels.

Each simulation: 600 cases (half in subject group A, half in B, truth 50/50, a model
right 80% of the time), 20 reviewers of accuracy 0.85, 3 distinct reviewers per case, the
model's decision shown at random on half the assignments (audits.panel.simulation is the
ground truth). Measured on this file's seeds (recorded so a change shows):

* a severity-1.5 reviewer is flagged in 12 of 20 simulations (about 90 ratings per
  reviewer; an information limit, see the test) and in 20 of 20 with 1000 cases;
* background group x (10 reviewers) with leniency -1.5 on subject group B is flagged by
  DRF in 20 of 20;
* copy probability 0.3 for everyone: the effect's interval excludes 0 in 20 of 20, and
  the copy-rate interval covers 0.3 in 19 of 20 (and the effect's interval covers the
  true effect 0.3 x (1 - 0.71) = 0.087 in 19 of 20);
* unbiased panels (80 simulations): some reviewer flagged by severity in 3 (3.8%, the
  family-wise rate Holm controls; 3 of 1,600 reviewer-simulations); some DRF cell
  flagged in 4 (5.0%).

Every rate is asserted against its target with binomial Monte-Carlo error in mind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audits.panel.simulation import SimulatedReviewer, simulate_ratings
from audits.raters.automation import automation_bias
from audits.raters.human_bias import differential_rater_functioning, reviewer_severity

N_CASES, N_REVIEWERS, PER_CASE = 600, 20, 3
REVIEWERS = [f"r{i:02d}" for i in range(N_REVIEWERS)]
BACKGROUND = {r: "x" if i < N_REVIEWERS // 2 else "y" for i, r in enumerate(REVIEWERS)}
N_POWER, N_NULL = 20, 80
#: True automation-bias effect for copy rate 0.3: P(agree | hidden) = 0.85 * 0.8 + 0.15 * 0.2.
TRUE_EFFECT = 0.3 * (1 - (0.85 * 0.8 + 0.15 * 0.2))

#: Power and false-flag studies over many simulated panels: run with -m slow (.ci/run does).
pytestmark = pytest.mark.slow


def simulate_panel(seed: int, biases: dict[str, dict[str, object]] | None = None,
                   n_cases: int = N_CASES) -> pd.DataFrame:
    """One simulated panel's ratings with the case columns joined on."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_cases)
    cases = pd.DataFrame({
        "case_id": np.arange(n_cases), "truth": truth,
        "model_decision": np.where(rng.random(n_cases) < 0.8, truth, 1 - truth),
        "subject_group": np.where(np.arange(n_cases) % 2 == 0, "A", "B")})
    picks = np.argsort(rng.random((n_cases, N_REVIEWERS)), axis=1)[:, :PER_CASE]
    plan = pd.DataFrame({"case_id": np.repeat(np.arange(n_cases), PER_CASE),
                         "reviewer_id": np.array(REVIEWERS)[picks.ravel()],
                         "model_shown": rng.random(n_cases * PER_CASE) < 0.5})
    reviewers = {r: SimulatedReviewer(r, **(biases or {}).get(r, {}))  # type: ignore[arg-type]
                 for r in REVIEWERS}
    ratings = simulate_ratings(cases, plan, reviewers, random_state=seed)
    return ratings.assign(model_shown=plan["model_shown"].to_numpy()).merge(
        cases, on="case_id")


def not_above(count: int, n: int, rate: float = 0.05) -> bool:
    """Whether ``count`` of ``n`` is consistent with a true rate <= ``rate`` (one-sided 1%)."""
    return bool(stats.binom.sf(count - 1, n, rate) > 0.01)


@pytest.fixture(scope="module")
def null_panels() -> list[pd.DataFrame]:
    return [simulate_panel(1000 + i) for i in range(N_NULL)]


@pytest.mark.parametrize(("n_cases", "min_power"), [(N_CASES, 0.4), (1000, 0.9)])
def test_a_severe_reviewer_is_flagged(n_cases: int, min_power: float) -> None:
    # 600 cases give each reviewer about 90 ratings: the severity-1.5 reviewer's
    # log-odds contrast is about 3 standard errors from 0, right at the Holm threshold
    # for 20 reviewers (p < 0.05 / 20), so power is about 60% (measured 12/20 with the
    # score test). With 1000 cases (150 ratings each) it is measured 20/20.
    flagged = 0
    for i in range(N_POWER):
        ratings = simulate_panel(i, {"r00": {"severity": 1.5}}, n_cases=n_cases)
        out = reviewer_severity(ratings, n_boot=0, n_permutations=1000, random_state=i)
        flagged += bool(out.set_index("reviewer_id").loc["r00", "flagged"])
    assert flagged / N_POWER >= min_power, flagged


def test_drf_detects_a_background_group_harsher_on_one_subject_group() -> None:
    harsh = {r: {"leniency": {"B": -1.5}} for r, g in BACKGROUND.items() if g == "x"}
    detected = 0
    for i in range(N_POWER):
        out = differential_rater_functioning(simulate_panel(100 + i, harsh), BACKGROUND,
                                             n_permutations=500, random_state=i)
        cell = out.set_index(["rater_group", "subject_group"]).loc[("x", "B")]
        detected += bool(cell["flagged"]) and cell["effect"] < 0
    assert detected / N_POWER >= 0.8, detected  # measured 20/20


def test_automation_bias_is_estimated_with_covering_intervals() -> None:
    copying = {r: {"automation_bias": 0.3} for r in REVIEWERS}
    excludes_zero = covers_rate = covers_effect = 0
    for i in range(N_POWER):
        est = automation_bias(simulate_panel(200 + i, copying), n_boot=500, random_state=i)
        assert not isinstance(est, pd.DataFrame)
        excludes_zero += est.ci_low > 0
        covers_rate += est.copy_rate_ci_low <= 0.3 <= est.copy_rate_ci_high
        covers_effect += est.ci_low <= TRUE_EFFECT <= est.ci_high
    assert excludes_zero / N_POWER >= 0.9, excludes_zero  # measured 20/20
    # 95% intervals: fewer than 16 of 20 covering would have chance < 2%.
    assert covers_rate >= 16 and covers_effect >= 16, (covers_rate, covers_effect)


def test_unbiased_panels_are_flagged_at_most_at_the_nominal_rate(
        null_panels: list[pd.DataFrame]) -> None:
    any_severity = reviewer_flags = any_drf = 0
    for i, ratings in enumerate(null_panels):
        severity = reviewer_severity(ratings, n_boot=0, n_permutations=1000, random_state=i)
        reviewer_flags += int(severity["flagged"].sum())
        any_severity += bool(severity["flagged"].any())
        drf = differential_rater_functioning(ratings, BACKGROUND, n_permutations=300,
                                             random_state=i)
        any_drf += bool(drf["flagged"].any())
    # Severity: the family-wise rate (any reviewer flagged in a panel), which Holm holds
    # at alpha; DRF: any cell flagged (the 2 x 2 cells are one hypothesis here).
    assert not_above(any_severity, N_NULL), any_severity  # measured 3/80
    assert not_above(any_drf, N_NULL), any_drf  # measured 4/80
    assert reviewer_flags / (N_NULL * N_REVIEWERS) <= 0.05, reviewer_flags
