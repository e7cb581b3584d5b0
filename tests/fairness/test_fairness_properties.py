"""Properties every audit keeps: row order does not matter; renaming groups permutes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.fairness.audit import FairnessAudit, audit_fairness

ROWS = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from("abc"),
                          st.sampled_from("xy")), min_size=1, max_size=80)
NEW_A = st.permutations(["zeta", "alpha", "mu"])
NEW_B = st.permutations(["2", "1"])


def _audit(df: pd.DataFrame) -> FairnessAudit:
    return audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["a", "b"],
                          n_boot=60, random_state=3, min_n=5, min_cell_count=1)


def _frame(rows: list[tuple[int, int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["y", "p", "a", "b"])


@settings(max_examples=40, deadline=None)
@given(ROWS, st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_anything(rows: list[tuple[int, int, str, str]],
                                            seed: int) -> None:
    df = _frame(rows)
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(seed))
    a, b = _audit(df), _audit(shuffled.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.groups, b.groups)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.disparities, b.disparities)
    pd.testing.assert_frame_equal(a.summaries, b.summaries)
    assert a.to_dict() == b.to_dict()


@settings(max_examples=40, deadline=None)
@given(ROWS, NEW_A, NEW_B)
def test_renaming_groups_permutes_the_results(rows: list[tuple[int, int, str, str]],
                                              new_a: list[str], new_b: list[str]) -> None:
    df = _frame(rows)
    rename = {"a": dict(zip("abc", new_a, strict=True)), "b": dict(zip("xy", new_b,
                                                                       strict=True))}
    renamed = df.assign(a=df["a"].map(rename["a"]), b=df["b"].map(rename["b"]))
    a, b = _audit(df), _audit(renamed)
    to_b = {_key(a, gid, rename): gid for gid in a.groups["group_id"]}
    from_b = {_key(b, gid, None): gid for gid in b.groups["group_id"]}
    assert set(to_b) == set(from_b)
    gid_map = {ga: from_b[k] for k, ga in to_b.items()}
    untied = _untied_slices(a)
    ma = a.metrics.set_index(["group_id", "metric"])
    mb = b.metrics.set_index(["group_id", "metric"])
    for (ga, metric), row in ma.iterrows():
        other = mb.loc[(gid_map[ga], metric)]
        cols = ["value", "wilson_low", "wilson_high", "eligible"]
        if row["slice"] in untied:
            cols += ["ci_low", "ci_high"]
        for col in cols:
            assert _same(row[col], other[col]), (col, row, other)
    da = a.disparities.set_index(["group_id", "metric"])
    db = b.disparities.set_index(["group_id", "metric"])
    sized = _untied_slices(a, columns=["n"])  # equal sizes: the first label is the reference
    for (ga, metric), row in da.iterrows():
        if row["slice"] not in untied or row["slice"] not in sized:
            continue
        other = db.loc[(gid_map[ga], metric)]
        assert gid_map[row["reference_id"]] == other["reference_id"]
        for col in ("difference", "ratio", "p_value", "p_adjusted", "difference_ci_low",
                    "difference_ci_high", "ratio_ci_low", "ratio_ci_high", "verdict"):
            assert _same(row[col], other[col]), (col, row, other)


def _key(audit: FairnessAudit, gid: int, rename: dict[str, dict[str, str]] | None
         ) -> tuple[tuple[str, str], ...]:
    attrs = audit.attributes(gid)
    if rename is not None:
        attrs = {f: rename[f][v] for f, v in attrs.items()}
    return tuple(sorted(attrs.items()))


def _untied_slices(audit: FairnessAudit, columns: list[str] | None = None) -> set[str]:
    # Groups with identical counts are interchangeable; which takes which share of the
    # random stream then depends on their names, so intervals are compared elsewhere.
    g = audit.groups
    cells = g[columns or ["n", "tp", "fp", "fn", "tn"]].astype(str).agg("-".join, axis=1)
    return {s for s, part in cells.groupby(g["slice"]) if part.is_unique}


def _same(x: object, y: object) -> bool:
    if pd.isna(x) and pd.isna(y):  # type: ignore[call-overload]
        return True
    return bool(x == y)
