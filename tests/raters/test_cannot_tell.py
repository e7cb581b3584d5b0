"""The "cannot tell" rate: counted over answered assignments, per reviewer and per subject
group, with Wilson intervals checked against statsmodels-free hand computations."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from audits.raters.abstention import MSG_BAD_OUTCOME, cannot_tell_rates


def outcomes() -> pd.DataFrame:
    # Reviewer 1: 1 of 4 answers "cannot tell" (one open, not counted); reviewer 2: 2 of 2;
    # reviewer 3: only open assignments (no row).
    return pd.DataFrame({
        "case_id": [1, 2, 3, 4, 5, 1, 2, 3],
        "reviewer_id": [1, 1, 1, 1, 1, 2, 2, 3],
        "subject_group": ["a", "a", "b", "b", "b", "a", "b", "a"],
        "outcome": ["rated", "cannot_tell", "rated", "rated", "open", "cannot_tell",
                    "cannot_tell", "open"],
    })


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_rate_per_reviewer_counts_answers_only() -> None:
    rates = cannot_tell_rates(outcomes(), "reviewer_id")
    assert rates["reviewer_id"].tolist() == [2, 1]  # highest rate first; 3 never answered
    assert rates["n_answered"].tolist() == [2, 4]
    assert rates["n_cannot_tell"].tolist() == [2, 1]
    assert rates["cannot_tell_rate"].tolist() == [1.0, 0.25]
    low, high = wilson(1, 4)
    row = rates.iloc[1]
    assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)


def test_rate_per_subject_group() -> None:
    rates = cannot_tell_rates(outcomes(), "subject_group").set_index("subject_group")
    # a: rated, cannot_tell, cannot_tell (one open) -> 2 of 3; b: rated, rated, cannot_tell
    assert rates.loc["a", "n_answered"] == 3 and rates.loc["a", "n_cannot_tell"] == 2
    assert rates.loc["b", "cannot_tell_rate"] == pytest.approx(1 / 3)
    assert (rates["ci_low"] <= rates["cannot_tell_rate"]).all()
    assert (rates["cannot_tell_rate"] <= rates["ci_high"]).all()


def test_order_of_rows_does_not_change_the_result() -> None:
    shuffled = outcomes().sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(cannot_tell_rates(shuffled, "reviewer_id"),
                                  cannot_tell_rates(outcomes(), "reviewer_id"))


def test_nothing_answered_gives_an_empty_table() -> None:
    table = outcomes().assign(outcome="open")
    assert cannot_tell_rates(table, "reviewer_id").empty


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="no column 'reviewer'"):
        cannot_tell_rates(outcomes(), "reviewer")
    with pytest.raises(ValueError, match=MSG_BAD_OUTCOME.split("{")[0]):
        cannot_tell_rates(outcomes().assign(outcome="skipped"), "reviewer_id")
