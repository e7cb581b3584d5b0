"""inject_drift moves exactly one group's scores on the log-odds scale, and its decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from audits.data.synthetic import inject_drift, make_synthetic_loans


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_synthetic_loans(3_000, random_state=5)


def test_only_the_chosen_group_changes(loans: pd.DataFrame) -> None:
    out = inject_drift(loans, column="age_band", value="50+", shift=-1.0)
    rows = loans["age_band"].eq("50+")
    pd.testing.assert_frame_equal(out[~rows], loans[~rows])
    untouched = [c for c in loans.columns if c not in ("approval_score", "approved")]
    pd.testing.assert_frame_equal(out[untouched], loans[untouched])
    assert (out.loc[rows, "approval_score"] != loans.loc[rows, "approval_score"]).mean() > 0.9


def test_scores_follow_the_logit_shift_oracle(loans: pd.DataFrame) -> None:
    out = inject_drift(loans, column="group", value="B", shift=0.7, threshold=0.6)
    rows = loans["group"].eq("B")
    p = np.clip(loans.loc[rows, "approval_score"].to_numpy(), 1e-6, 1 - 1e-6)
    expected = np.round(expit(logit(p) + 0.7), 4)
    np.testing.assert_allclose(out.loc[rows, "approval_score"], expected, rtol=0, atol=1e-12)
    assert (out.loc[rows, "approved"] == (expected >= 0.6)).all()
    assert out["approved"].dtype == np.int8


def test_shift_zero_is_the_identity_and_input_is_not_mutated(loans: pd.DataFrame) -> None:
    before = loans.copy()
    out = inject_drift(loans, column="age_band", value="18-29", shift=0.0)
    pd.testing.assert_frame_equal(out, loans)
    assert out is not loans
    inject_drift(loans, column="age_band", value="18-29", shift=-3.0)
    pd.testing.assert_frame_equal(loans, before)


@pytest.mark.parametrize("shift", [-0.5, -2.0])
def test_negative_shift_lowers_the_groups_selection_rate(loans: pd.DataFrame,
                                                         shift: float) -> None:
    out = inject_drift(loans, column="age_band", value="50+", shift=shift)
    rows = loans["age_band"].eq("50+")
    assert out.loc[rows, "approved"].mean() < loans.loc[rows, "approved"].mean() - 0.05
    # Scores only fall, so no one in the group is newly approved.
    assert (out.loc[rows, "approved"] <= loans.loc[rows, "approved"]).all()


def test_scores_at_zero_and_one_are_clipped_not_infinite() -> None:
    df = pd.DataFrame({"g": ["a", "a", "b"], "approval_score": [0.0, 1.0, 0.3],
                       "approved": [0, 1, 0]})
    out = inject_drift(df, column="g", value="a", shift=2.0)
    assert np.isfinite(out["approval_score"]).all()
    assert out["approval_score"].tolist() == [0.0, 1.0, 0.3]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"column": "region"}, r"column 'region' \(group\) is not in the frame"),
    ({"value": "65+"}, r"value '65\+' does not occur in column 'age_band'"),
    ({"score": "p"}, r"column 'p' \(score\) is not in the frame"),
    ({"decision": "d"}, r"column 'd' \(decision\) is not in the frame"),
    ({"shift": float("nan")}, "shift must be a finite number"),
    ({"threshold": float("inf")}, "threshold must be a finite number"),
])
def test_bad_inputs_are_named(loans: pd.DataFrame, kwargs: dict[str, object],
                              message: str) -> None:
    args: dict[str, object] = {"column": "age_band", "value": "50+", "shift": -1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        inject_drift(loans, **args)  # type: ignore[arg-type]
