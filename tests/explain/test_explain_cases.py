"""Per-case waterfall and reason sentence."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from audits.data.schema import ColumnRoles
from audits.data.synthetic import make_synthetic_loans
from audits.explain.cases import MSG_UNKNOWN_ROW, OTHER_FEATURES, explain_case
from audits.explain.shap_values import Explanation, explain_model
from audits.models.training import train_default_model

FEATURES = ("income", "debt_to_income", "credit_history_years", "zip_region", "age_band")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # OpenMP spin-waiting makes HistGradientBoosting ~100x slower on busy shared cores.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def setup() -> tuple[pd.DataFrame, Explanation]:
    frame = make_synthetic_loans(1200, random_state=9)
    roles = ColumnRoles(target="approved", sensitive_features=("group",), features=FEATURES)
    model = train_default_model(frame, roles)
    return frame, explain_model(model.pipeline, frame.iloc[:40], features=FEATURES)


def test_waterfall_ends_at_the_output(setup: tuple[pd.DataFrame, Explanation]) -> None:
    frame, explanation = setup
    case = explain_case(explanation, frame, 5, top_k=2)
    assert list(case.table.columns) == ["feature", "value", "contribution", "cumulative"]
    assert case.table["feature"].iloc[-1] == OTHER_FEATURES
    assert len(case.table) == 3
    assert case.table["cumulative"].iloc[-1] == pytest.approx(explanation.output.loc[5])
    assert case.output == pytest.approx(explanation.output.loc[5])
    top = explanation.contributions.loc[5].abs().idxmax()
    assert case.table["feature"].iloc[0] == top
    assert case.table["value"].iloc[0] == frame.at[5, top]


def test_reason_names_features_pushing_towards_the_decision(
    setup: tuple[pd.DataFrame, Explanation]
) -> None:
    frame, explanation = setup
    for row in explanation.contributions.index[:15]:
        case = explain_case(explanation, frame, row)
        word = "Approved" if case.decision else "Declined"
        assert case.reason.startswith(word)
        assert case.decision == int(explanation.output.loc[row] >= 0.0)
        sign = 1 if case.decision else -1
        for feature, contribution in re.findall(r"(\w+) is [^(]*\((?:[^;]*; )?([+-][\d.]+)\)",
                                                case.reason):
            assert feature in FEATURES
            assert np.sign(float(contribution)) == sign


def test_numeric_values_are_called_high_or_low(
    setup: tuple[pd.DataFrame, Explanation]
) -> None:
    frame, explanation = setup
    reasons = [explain_case(explanation, frame, r).reason
               for r in explanation.contributions.index]
    assert any(re.search(r"income is (high|low) \([\d,.]+; [+-]", r) for r in reasons)


def test_unknown_row(setup: tuple[pd.DataFrame, Explanation]) -> None:
    frame, explanation = setup
    with pytest.raises(ValueError, match=MSG_UNKNOWN_ROW.split("{")[0]):
        explain_case(explanation, frame, 10_000)
