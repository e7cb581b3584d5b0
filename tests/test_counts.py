"""Per-group confusion counts against scikit-learn on masked slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix

from audits.counts import COUNT_COLUMNS, group_counts
from audits.schema import DataValidationError
from audits.synthetic import make_synthetic_loans


def test_counts_match_sklearn_confusion_matrix_per_group() -> None:
    df = make_synthetic_loans(5_000, random_state=4)
    counts = group_counts(df, y_true="repaid", y_pred="approved",
                          sensitive_features=["group", "age_band"])
    assert tuple(counts.columns) == COUNT_COLUMNS
    for row in counts.itertuples():
        mask = df[row.feature] == row.group
        tn, fp, fn, tp = confusion_matrix(df.loc[mask, "repaid"], df.loc[mask, "approved"],
                                          labels=[0, 1]).ravel()
        assert (row.tp, row.fp, row.fn, row.tn) == (tp, fp, fn, tn)
        assert row.n == mask.sum()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from("abc")),
                min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_counts_are_order_invariant_and_sum_to_rows(rows: list[tuple[int, int, str]],
                                                    rnd: object) -> None:
    df = pd.DataFrame(rows, columns=["y", "p", "s"])
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(len(rows)))
    a = group_counts(df, y_true="y", y_pred="p", sensitive_features=["s"])
    b = group_counts(shuffled, y_true="y", y_pred="p", sensitive_features=["s"])
    pd.testing.assert_frame_equal(a, b)
    assert a["n"].sum() == len(df)
    assert (a[["tp", "fp", "fn", "tn"]].sum(axis=1) == a["n"]).all()


def test_missing_column_is_named() -> None:
    df = pd.DataFrame({"y": [1], "p": [0]})
    with pytest.raises(DataValidationError, match="column 's' \\(sensitive feature\\)"):
        group_counts(df, y_true="y", y_pred="p", sensitive_features=["s"])
