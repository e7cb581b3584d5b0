"""The panel statistics refuse absurd bootstrap counts and bound their memory.

``n_boot`` above ``MAX_N_BOOT`` is refused at every public entry with a message naming
the limit (a billion replicates once ran ten minutes at 4 GB before failing); a large
but allowed count is drawn in chunks, with the distribution of one big draw.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import audits.raters.human_bias as human_bias
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


def test_small_bootstraps_draw_exactly_as_before() -> None:
    diff = np.array([0.0, 1.0, -1.0, 0.5, 0.25])
    old = diff[np.random.default_rng(7).integers(0, 5, (300, 5))].mean(axis=1)
    new = human_bias._bootstrap_means(diff, 300, np.random.default_rng(7))
    np.testing.assert_array_equal(new, old)


def test_chunked_bootstrap_has_the_distribution_of_one_draw(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(human_bias, "_CHUNK_CELLS", 1_000)  # 50 replicates per chunk
    diff = np.random.default_rng(0).normal(size=20)
    boot = human_bias._bootstrap_means(diff, 20_001, np.random.default_rng(1))
    assert boot.shape == (20_001,)
    assert diff.min() <= boot.min() and boot.max() <= diff.max()
    # the bootstrap distribution of a mean: centre diff.mean(), spread sd / sqrt(n)
    assert boot.mean() == pytest.approx(diff.mean(), abs=0.01)
    assert boot.std() == pytest.approx(diff.std() / np.sqrt(20), rel=0.03)
