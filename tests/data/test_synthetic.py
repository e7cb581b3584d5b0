"""The synthetic loan generator puts in exactly the bias it says it does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits.data.synthetic import SyntheticBias, make_synthetic_loans


def test_same_seed_same_frame_different_seed_different_frame() -> None:
    a = make_synthetic_loans(2_000, random_state=7)
    pd.testing.assert_frame_equal(a, make_synthetic_loans(2_000, random_state=7))
    assert not a.equals(make_synthetic_loans(2_000, random_state=8))


def test_injected_proxy_label_noise_and_decision_bias_are_recovered() -> None:
    bias = SyntheticBias(minority_share=0.4, proxy_strength=0.6, label_noise={"B": 0.2},
                         decision_penalty=1.5)
    df = make_synthetic_loans(200_000, random_state=3, bias=bias)
    assert df["group"].eq("B").mean() == pytest.approx(0.4, abs=0.005)
    r1 = df["zip_region"].eq("R1").groupby(df["group"]).mean()
    assert r1["A"] == pytest.approx(0.1, abs=0.005)  # (1 - 0.6) * 0.25
    assert r1["B"] == pytest.approx(0.7, abs=0.005)
    # Truth does not depend on group; recorded labels lose 20% of B's repayments.
    truth = df.groupby("group")["repaid_true"].mean()
    assert truth["A"] == pytest.approx(truth["B"], abs=0.01)
    flipped = df[df["repaid_true"] == 1].groupby("group")["repaid"].mean()
    assert flipped["A"] == 1.0
    assert 1 - flipped["B"] == pytest.approx(0.2, abs=0.006)
    # Decisions are biased through the proxy only: within a region, groups are alike.
    approved = df.groupby(["zip_region", "group"])["approved"].mean().unstack()
    assert (approved["A"] - approved["B"]).abs().max() < 0.02
    assert df.groupby("group")["approved"].mean().diff().iloc[-1] < -0.1


def test_no_bias_means_no_gap() -> None:
    bias = SyntheticBias(proxy_strength=0.0, label_noise={}, decision_penalty=0.0)
    df = make_synthetic_loans(100_000, random_state=1, bias=bias)
    rates = df.groupby("group")[["approved", "repaid"]].mean()
    assert (rates.loc["A"] - rates.loc["B"]).abs().max() < 0.015


def test_scales_to_a_million_rows() -> None:
    df = make_synthetic_loans(1_000_000, random_state=0)
    assert len(df) == 1_000_000
    assert df.memory_usage(deep=False).sum() < 200_000_000


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"minority_share": 1.5}, "minority_share must lie in"),
    ({"proxy_strength": -0.1}, "proxy_strength must lie in"),
    ({"label_noise": {"C": 0.1}}, "label_noise names group 'C'"),
    ({"label_noise": {"B": 2.0}}, r"label_noise\['B'\] must lie in"),
])
def test_bad_bias_settings_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticBias(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, -5, 2.5, True])
def test_bad_row_counts(n: object) -> None:
    with pytest.raises(ValueError, match="n_rows must be a positive integer"):
        make_synthetic_loans(n)  # type: ignore[arg-type]


def test_columns_and_types() -> None:
    df = make_synthetic_loans(500, random_state=2)
    assert set(df["approved"].unique()) <= {0, 1}
    assert df["approval_score"].between(0, 1).all()
    assert np.array_equal(df["approved"], (df["approval_score"] >= 0.5).astype("int8"))
