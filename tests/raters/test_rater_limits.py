"""The panel statistics refuse absurd bootstrap counts.

``n_boot`` above ``MAX_N_BOOT`` is refused at every public entry with a message naming
the limit (a billion replicates once ran ten minutes at 4 GB before failing); a large
but allowed count is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest

from audits.fairness.audit import audit_fairness
from audits.fairness.estimates import MAX_N_BOOT
from audits.raters.agreement import agreement_summary
from audits.raters.automation import automation_bias
from audits.raters.human_bias import reviewer_report, reviewer_severity

LIMIT_MESSAGE = f"n_boot must be at most {MAX_N_BOOT:,} (memory and time); got 1,000,000,000"


@pytest.fixture
def ratings() -> pd.DataFrame:
    return pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3], "reviewer_id": ["a", "b"] * 3,
                         "label": [1, 1, 0, 1, 0, 0], "model_shown": [True, False] * 3,
                         "model_decision": [1, 0, 0, 1, 0, 1]})


@pytest.mark.parametrize("entry", [
    lambda df, n: agreement_summary(df, n_boot=n),
    lambda df, n: reviewer_severity(df[["case_id", "reviewer_id", "label"]], n_boot=n),
    lambda df, n: reviewer_report(df[["case_id", "reviewer_id", "label"]], n_boot=n),
    lambda df, n: automation_bias(df, n_boot=n),
], ids=["agreement_summary", "reviewer_severity", "reviewer_report", "automation_bias"])
def test_every_entry_refuses_more_than_the_limit(entry: Callable[[pd.DataFrame, int], object],
                                                 ratings: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=re.escape(LIMIT_MESSAGE)):
        entry(ratings, 1_000_000_000)


def test_the_fairness_audit_refuses_more_than_the_limit() -> None:
    df = pd.DataFrame({"y": [1, 0] * 20, "p": [1, 1, 0, 0] * 10, "s": ["a", "b"] * 20})
    with pytest.raises(ValueError, match=f"n_boot must be at most {MAX_N_BOOT:,}"):
        audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
                       n_boot=MAX_N_BOOT + 1)


def test_the_limit_itself_is_allowed(ratings: pd.DataFrame) -> None:
    summary = agreement_summary(ratings, n_boot=MAX_N_BOOT)
    assert summary.n_items == 3
