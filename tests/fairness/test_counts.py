"""Per-group confusion counts against scikit-learn on masked slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix

from audits.data.encoding import (
    MSG_LABELS_UNION,
    MSG_NON_BINARY_LABELS,
    MSG_POS_LABEL_ABSENT,
    MSG_POS_LABEL_REQUIRED,
)
from audits.data.schema import DataValidationError
from audits.data.synthetic import make_synthetic_loans
from audits.fairness.counts import (
    COUNT_COLUMNS,
    MAX_GROUPS,
    MISSING,
    count_groups,
    group_counts,
    resolve_slices,
)


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



def _frame(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.integers(0, 2, n), "p": rng.integers(0, 2, n),
        "race": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
        "sex": rng.choice(["f", "m"], n), "age": rng.choice([18, 30, 65], n),
        "score": rng.integers(1, 11, n),
    })


def test_every_slice_and_intersection_matches_sklearn_on_masks() -> None:
    df = _frame()
    counts = count_groups(df, y_true="y", y_pred="p", sensitive_features=["race", "sex", "age"])
    assert counts.slices == resolve_slices(["race", "sex", "age"], True)
    assert len(counts.slices) == 7
    g = counts.groups
    for row in g.itertuples(index=False):
        attrs = counts.attributes(row.group_id)
        mask = np.ones(len(df), dtype=bool)
        for feature, value in attrs.items():
            mask &= df[feature].astype(str).to_numpy() == value
        tn, fp, fn, tp = confusion_matrix(df.loc[mask, "y"], df.loc[mask, "p"],
                                          labels=[0, 1]).ravel()
        assert (row.tp, row.fp, row.fn, row.tn, row.n) == (tp, fp, fn, tn, mask.sum())
    for sl in counts.slices:
        assert g.loc[g["slice"] == " & ".join(sl), "n"].sum() == len(df)


def test_numeric_groups_sort_numerically_and_requested_intersections_only() -> None:
    df = _frame().assign(age=lambda d: d["age"].replace({18: 9}))
    counts = count_groups(df, y_true="y", y_pred="p", sensitive_features=["race", "age"],
                          intersections=[["age", "race"]])
    assert counts.slices == (("race",), ("age",), ("race", "age"))
    ages = counts.groups.loc[counts.groups["slice"] == "age", "age"].tolist()
    assert ages == ["9", "30", "65"]
    none = count_groups(df, y_true="y", y_pred="p", sensitive_features=["race", "age"],
                        intersections=False)
    assert none.slices == (("race",), ("age",))


def test_missing_sensitive_values_are_their_own_group() -> None:
    df = _frame(200)
    df["race"] = df["race"].astype(object)
    df.loc[[3, 7, 11], "race"] = None
    df.loc[[5], "race"] = np.nan
    counts = count_groups(df, y_true="y", y_pred="p", sensitive_features=["race", "sex"])
    race = counts.groups[counts.groups["slice"] == "race"]
    assert race["group_label"].tolist()[-1] == MISSING
    assert int(race.loc[race["group_label"] == MISSING, "n"].iloc[0]) == 4
    inter = counts.groups[counts.groups["slice"] == "race & sex"]
    assert inter.loc[inter["race"] == MISSING, "n"].sum() == 4


def test_string_and_numeric_labels_with_pos_label() -> None:
    df = _frame(500)
    words = df.assign(y=df["y"].map({1: "yes", 0: "no"}), p=df["p"].map({1: "yes", 0: "no"}))
    twos = df.assign(y=df["y"] + 1, p=df["p"] + 1)
    plain = count_groups(df, y_true="y", y_pred="p", sensitive_features="race")
    for data, label in ((words, "yes"), (twos, 2), (twos, "2")):
        got = count_groups(data, y_true="y", y_pred="p", sensitive_features="race",
                           pos_label=label)
        pd.testing.assert_frame_equal(got.groups, plain.groups)
    as_bool = df.assign(y=df["y"].astype(bool), p=df["p"].astype(bool))
    pd.testing.assert_frame_equal(
        count_groups(as_bool, y_true="y", y_pred="p", sensitive_features="race").groups,
        plain.groups)
    minus = df.assign(y=df["y"] * 2 - 1, p=df["p"] * 2 - 1)
    pd.testing.assert_frame_equal(
        count_groups(minus, y_true="y", y_pred="p", sensitive_features="race").groups,
        plain.groups)


def test_label_errors_are_clear() -> None:
    df = _frame(100)
    three = df.assign(y=np.arange(100) % 3)
    with pytest.raises(DataValidationError, match=MSG_NON_BINARY_LABELS.split("{")[0]):
        count_groups(three, y_true="y", y_pred="p", sensitive_features="race")
    with pytest.raises(DataValidationError, match="column 'y' \\(y_true\\)"):
        count_groups(three, y_true="y", y_pred="p", sensitive_features="race")
    extra = df.assign(p=np.where(np.arange(100) == 5, 7, df["p"]))
    with pytest.raises(DataValidationError, match=MSG_LABELS_UNION.split("{")[0]):
        count_groups(extra, y_true="y", y_pred="p", sensitive_features="race")
    words = df.assign(y=df["y"].map({1: "yes", 0: "no"}), p=df["p"].map({1: "yes", 0: "no"}))
    with pytest.raises(DataValidationError, match="pass pos_label"):
        count_groups(words, y_true="y", y_pred="p", sensitive_features="race")
    assert MSG_POS_LABEL_REQUIRED.endswith("positive class")
    with pytest.raises(DataValidationError,
                       match="pos_label 'Yes' never occurs in 'y' \\(y_true\\)"):
        count_groups(words, y_true="y", y_pred="p", sensitive_features="race", pos_label="Yes")
    assert "never occurs" in MSG_POS_LABEL_ABSENT
    missing = df.assign(y=df["y"].astype(float).where(np.arange(100) != 9))
    with pytest.raises(DataValidationError, match="'y' \\(y_true\\) has 1 missing value.*row 9"):
        count_groups(missing, y_true="y", y_pred="p", sensitive_features="race")


def test_argument_errors_name_the_setting() -> None:
    df = _frame(50)
    with pytest.raises(DataValidationError, match="at least one sensitive feature"):
        count_groups(df, y_true="y", y_pred="p", sensitive_features=[])
    with pytest.raises(DataValidationError, match="'race' is named twice"):
        count_groups(df, y_true="y", y_pred="p", sensitive_features=["race", "race"])
    with pytest.raises(DataValidationError, match="'y' cannot be both y_true and sensitive"):
        count_groups(df, y_true="y", y_pred="p", sensitive_features=["y"])
    with pytest.raises(DataValidationError, match="name of a column of the result tables"):
        count_groups(df.rename(columns={"race": "n"}), y_true="y", y_pred="p",
                     sensitive_features=["n"])
    with pytest.raises(ValueError, match="y_pred is required"):
        count_groups(df, y_true="y", y_pred=None, sensitive_features="race")
    with pytest.raises(ValueError, match="intersection"):
        count_groups(df, y_true="y", y_pred="p", sensitive_features=["race", "sex"],
                     intersections=[["race"]])
    with pytest.raises(DataValidationError, match="the data has no rows"):
        count_groups(df.head(0), y_true="y", y_pred="p", sensitive_features="race")
    ids = df.assign(uid=np.arange(50)).loc[np.repeat(np.arange(50), 500)]
    ids["uid2"] = np.arange(len(ids))
    with pytest.raises(DataValidationError, match=f"more than {MAX_GROUPS}"):
        count_groups(ids, y_true="y", y_pred="p", sensitive_features=["uid2"])


def test_score_histograms_exact_for_discrete_scores_and_threshold_decisions() -> None:
    df = _frame(2_000)
    counts = count_groups(df, y_true="y", y_pred="p", sensitive_features=["race"],
                          y_score="score")
    hist = counts.scores
    assert hist is not None and hist.exact and hist.edges.tolist() == list(range(1, 11))
    for gid, value in enumerate(counts.groups["race"]):
        rows = df[df["race"] == value]
        for label in (0, 1):
            expected = np.bincount(rows.loc[rows["y"] == label, "score"] - 1, minlength=10)
            assert hist.counts[gid, label].tolist() == expected.tolist()
    decided = count_groups(df, y_true="y", y_pred=None, sensitive_features=["race"],
                           y_score="score", threshold=6)
    manual = count_groups(df.assign(p=(df["score"] >= 6).astype(int)), y_true="y",
                          y_pred="p", sensitive_features=["race"])
    pd.testing.assert_frame_equal(decided.groups, manual.groups)


def test_continuous_scores_use_equal_width_bins() -> None:
    rng = np.random.default_rng(3)
    df = _frame(5_000).assign(score=rng.random(5_000))
    counts = count_groups(df, y_true="y", y_pred="p", sensitive_features="sex",
                          y_score="score", score_bins=100)
    hist = counts.scores
    assert hist is not None and not hist.exact and len(hist.edges) == 100
    assert hist.unit_interval
    for gid, value in enumerate(counts.groups["sex"]):
        rows = df[df["sex"] == value]
        for label in (0, 1):
            scores = rows.loc[rows["y"] == label, "score"].to_numpy()
            expected = np.bincount(np.floor(scores * 100).astype(int), minlength=100)
            assert hist.counts[gid, label].tolist() == expected.tolist()
            assert np.isclose(hist.sums[gid, label].sum(), scores.sum())


@pytest.mark.parametrize("with_scores", [False, True])
def test_duckdb_backend_gives_identical_counts(tmp_path: Path, with_scores: bool) -> None:
    pytest.importorskip("duckdb")
    from audits.fairness.pushdown import count_groups_duckdb

    df = _frame(3_000)
    df.loc[[1, 2], "race"] = None
    df["flag"] = df["sex"] == "f"
    if with_scores:
        df["score"] = np.round(np.random.default_rng(0).random(len(df)), 4)
    path = tmp_path / "decisions.parquet"
    df.to_parquet(path)
    kwargs = {"y_true": "y", "y_pred": "p", "sensitive_features": ["race", "flag", "age"],
              "y_score": "score" if with_scores else None}
    a = count_groups(df, **kwargs)  # type: ignore[arg-type]
    b = count_groups_duckdb(path, **kwargs)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(a.groups, b.groups)
    assert set(a.groups["flag"].dropna()) == {"False", "True"}
    if with_scores:
        assert a.scores is not None and b.scores is not None
        assert not a.scores.exact
        assert np.array_equal(a.scores.counts, b.scores.counts)
        np.testing.assert_allclose(a.scores.sums, b.scores.sums, rtol=1e-12)
    c = count_groups_duckdb(df, y_true="y", y_pred=None, sensitive_features=["race"],
                            y_score="score", threshold=5)
    d = count_groups(df, y_true="y", y_pred=None, sensitive_features=["race"],
                     y_score="score", threshold=5)
    pd.testing.assert_frame_equal(c.groups, d.groups)
    assert c.slices == (("race",),)
