"""The reviewer simulator: each injected bias shows up with the size it was given."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from audits.panel.simulation import MSG_ACCURACY, SimulatedReviewer, simulate_ratings

N = 4000


def _cases(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, N)
    return pd.DataFrame({"case_id": np.arange(N), "truth": truth,
                         "model_decision": rng.integers(0, 2, N),
                         "subject_group": np.where(rng.random(N) < 0.5, "A", "B")})


def _plan(reviewer: str, shown: bool | np.ndarray = False) -> pd.DataFrame:
    return pd.DataFrame({"case_id": np.arange(N), "reviewer_id": reviewer,
                         "model_shown": shown})


def test_an_unbiased_reviewer_is_right_at_their_accuracy() -> None:
    cases = _cases()
    out = simulate_ratings(cases, _plan("r"), {"r": SimulatedReviewer("r", accuracy=0.8)})
    accuracy = (out["label"].to_numpy() == cases["truth"].to_numpy()).mean()
    assert accuracy == pytest.approx(0.8, abs=0.02)  # 4000 draws: sd 0.006
    assert out["confidence"].between(1, 5).all() and (out["seconds_spent"] > 0).all()


def test_severity_lowers_the_positive_rate_and_leniency_is_group_specific() -> None:
    cases = _cases()
    plain = simulate_ratings(cases, _plan("r"), {"r": SimulatedReviewer("r")})
    severe = simulate_ratings(cases, _plan("r"), {"r": SimulatedReviewer("r", severity=1.5)})
    assert severe["label"].mean() < plain["label"].mean() - 0.15
    lenient = simulate_ratings(cases, _plan("r"),
                               {"r": SimulatedReviewer("r", leniency={"B": 2.0})})
    in_b = (cases["subject_group"] == "B").to_numpy()
    lift = lenient["label"].to_numpy() - plain["label"].to_numpy()
    assert lift[in_b].mean() > 0.15 and abs(lift[~in_b].mean()) < 0.03


def test_automation_bias_copies_the_model_only_when_shown() -> None:
    cases = _cases()
    shown = np.arange(N) % 2 == 0
    out = simulate_ratings(cases, _plan("r", shown),
                           {"r": SimulatedReviewer("r", automation_bias=0.6)})
    assert not out.loc[~shown, "copied"].any()
    assert out.loc[shown, "copied"].mean() == pytest.approx(0.6, abs=0.03)
    agrees = out["label"].to_numpy() == cases["model_decision"].to_numpy()
    assert agrees[shown].mean() > agrees[~shown].mean() + 0.25


def test_the_same_seed_gives_the_same_ratings_and_bad_input_is_named() -> None:
    cases = _cases()
    reviewers = {"r": SimulatedReviewer("r")}
    pd.testing.assert_frame_equal(simulate_ratings(cases, _plan("r"), reviewers),
                                  simulate_ratings(cases, _plan("r"), reviewers))
    with pytest.raises(ValueError, match=re.escape(MSG_ACCURACY.format(reviewer="x", value=0.4))):
        SimulatedReviewer("x", accuracy=0.4)
    with pytest.raises(ValueError, match="who is not simulated"):
        simulate_ratings(cases, _plan("stranger"), reviewers)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['truth'\]"):
        simulate_ratings(cases.drop(columns=["truth"]), _plan("r"), reviewers)
