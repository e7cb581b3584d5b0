"""Slice discovery on generated data with planted slices, and on null data.

Oracles: pandas masks for each reported slice's size and rate, and statsmodels' Wilson
interval for its interval; the planted slices (a 2-way slice of two categorical columns,
and a 3-way one with a numeric column cut at a quartile) are what a correct method finds,
and nothing is what it finds when no slice differs. What bad input gets: an unknown
metric, column or depth, a support below 1, a non-binary outcome and too few rows are
each refused by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from audits.slices import find_slices, slice_columns


def planted(seed: int, n: int = 60_000, *, effect: bool = True) -> pd.DataFrame:
    """Six columns; errors at 10%, and at 25% in the two planted slices (if ``effect``)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"region": rng.choice(list("nsew"), n),
                       "product": rng.choice(["card", "loan", "lease"], n),
                       "channel": rng.choice(["web", "branch", "phone"], n),
                       "sex": rng.choice(["f", "m"], n),
                       "age": rng.integers(18, 90, n),
                       "tenure": rng.gamma(2.0, 3.0, n).round(2)})
    df["y"] = rng.integers(0, 2, n)
    bad = np.zeros(n, dtype=bool)
    if effect:
        age_q3 = np.quantile(df["age"], 0.75)
        bad = (((df["region"] == "s") & (df["product"] == "loan"))
               | ((df["channel"] == "phone") & (df["sex"] == "f") & (df["age"] >= age_q3)))
    error = rng.random(n) < np.where(bad, 0.25, 0.10)
    df["p"] = np.where(error, 1 - df["y"], df["y"])
    return df


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_the_planted_slices_are_found_and_nothing_else(seed: int) -> None:
    df = planted(seed)
    report = find_slices(df, y_true="y", y_pred="p", random_state=seed)
    found = [s.attributes for s in report.slices]
    assert {"region": "s", "product": "loan"} in found
    three = [a for a in found if a.get("channel") == "phone" and a.get("sex") == "f"
             and "age" in a]
    assert three, found
    # Nothing but the planted slices (no parent of them, no unrelated slice).
    assert len(found) == 2, found
    assert report.slices[0].value >= report.slices[1].value  # worst first
    for s in report.slices:  # figures over all rows, checked against pandas masks
        mask = np.ones(len(df), dtype=bool)
        for column, label in s.attributes.items():
            if column == "age":
                low = float(label.split(",")[0].strip("[("))
                mask &= df["age"].to_numpy() >= low
            else:
                mask &= (df[column] == label).to_numpy()
        errors = (df["y"] != df["p"]).to_numpy()
        assert s.n == mask.sum()
        assert s.value == pytest.approx(errors[mask].mean(), abs=1e-12)
        assert s.complement_value == pytest.approx(errors[~mask].mean(), abs=1e-12)
        low, high = proportion_confint(errors[mask].sum(), mask.sum(), method="wilson")
        assert (s.ci_low, s.ci_high) == pytest.approx((low, high), abs=1e-9)
        assert s.p_adjusted <= 0.05 and s.p_holdout <= 0.05
    assert report.n_tested > 100 and report.n_discovered >= 2


@pytest.mark.parametrize("seed", range(10))
def test_nothing_is_reported_when_no_slice_differs(seed: int) -> None:
    report = find_slices(planted(100 + seed, effect=False), y_true="y", y_pred="p",
                         random_state=seed)
    assert report.slices == ()
    assert report.n_tested > 100


def test_other_metrics_and_a_threshold_on_a_score() -> None:
    rng = np.random.default_rng(7)
    n = 40_000
    df = pd.DataFrame({"region": rng.choice(list("nsew"), n), "y": rng.integers(0, 2, n)})
    # Region w is denied more often among those who repaid: a worse false negative rate.
    score = rng.random(n) * 0.5 + df["y"] * 0.4 - (df["region"] == "w") * df["y"] * 0.2
    df["score"] = score
    report = find_slices(df, y_true="y", y_score="score", threshold=0.5,
                         metric="false_negative_rate", max_depth=1)
    assert [s.attributes for s in report.slices] == [{"region": "w"}]
    positives = df[df["y"] == 1]
    fnr = (positives.loc[positives["region"] == "w", "score"] < 0.5).mean()
    assert report.slices[0].value == pytest.approx(fnr)
    assert report.slices[0].n == (positives["region"] == "w").sum()  # its population


def test_ids_and_roles_are_not_sliced() -> None:
    df = pd.DataFrame({"id": range(5), "code": list("abcde"), "region": list("aabba"),
                       "y": [0, 1, 1, 0, 1], "s": [0.1] * 5})
    assert slice_columns(df, ["y", "s"]) == ["region"]


@pytest.mark.parametrize(("change", "message"), [
    ({"metric": "recall"}, "metric must be one of"),
    ({"max_depth": 4}, "max_depth must be 1, 2 or 3"),
    ({"min_support": 0}, "min_support must be an integer >= 1"),
    ({"columns": ["nope"]}, "column 'nope' is not in the data"),
    ({"y_true": "region"}, "y_true column 'region' must hold 0 and 1 only"),
    ({"min_support": 40_000}, "slice discovery needs at least 80000"),
])
def test_bad_input_is_named(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"y_true": "y", "y_pred": "p", **change}
    with pytest.raises(ValueError, match=message):
        find_slices(planted(0, n=2_000), **args)  # type: ignore[arg-type]


def test_a_missing_value_is_a_slice_of_its_own() -> None:
    rng = np.random.default_rng(11)
    n = 30_000
    region = rng.choice(["n", "s", "e"], n).astype(object)
    unknown = rng.random(n) < 0.1
    region[unknown] = None
    df = pd.DataFrame({"region": region, "y": rng.integers(0, 2, n)})
    df["p"] = np.where(rng.random(n) < np.where(unknown, 0.3, 0.1), 1 - df["y"], df["y"])
    report = find_slices(df, y_true="y", y_pred="p", max_depth=1)
    assert [s.attributes for s in report.slices] == [{"region": "<missing>"}]
    assert report.slices[0].n == unknown.sum()
