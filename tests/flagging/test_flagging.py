"""Flag reasons on hand-built data with known flagged rows, scores and sentences."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from audits.explain.counterfactual import MSG_PROXY_IS_SENSITIVE, MSG_PROXY_NOT_FEATURE
from audits.flagging.flags import (
    FLAG_COLUMNS,
    MSG_BINARY,
    MSG_COUNT,
    MSG_DUPLICATE_INDEX,
    MSG_FLAG_COLUMNS,
    MSG_FLAG_DUPLICATE,
    MSG_FLAG_REASON,
    MSG_FLAG_SCORE,
    MSG_FLAG_TEXT,
    MSG_GOLD_MISSING,
    MSG_KIND_NOT_WATCHED,
    MSG_MARGIN,
    MSG_MIN_SHARE,
    MSG_NEEDS_Y_TRUE,
    MSG_NO_DIRECTION,
    MSG_NO_RULE,
    MSG_NO_SENSITIVE,
    MSG_NOT_NUMERIC,
    MSG_PROXY_KEY,
    MSG_SCORES,
    MSG_SOURCE,
    MSG_THRESHOLD,
    MSG_WATCHED,
    REASONS,
    attribution_flags,
    combine_flags,
    counterfactual_flags,
    disparity_flags,
    gold_flags,
    low_confidence_flags,
    random_control_flags,
    seeded_key,
)
from audits.models.training import predict_decisions


def _check_contract(table: pd.DataFrame, reason: str) -> None:
    assert tuple(table.columns) == FLAG_COLUMNS
    assert (table["reason"] == reason).all()
    assert table["score"].between(0, 1).all()
    assert all(isinstance(t, str) and t.endswith(".") for t in table["explanation"])
    assert not table["row"].duplicated().any()


# --- low confidence ----------------------------------------------------------------


SCORES = pd.Series([0.48, 0.9, 0.55, 0.62, 0.5, 0.41, 0.59],
                   index=["a", "b", "c", "d", "e", "f", "g"])


def test_low_confidence_margin_flags_rows_within_margin_with_linear_score() -> None:
    out = low_confidence_flags(SCORES, threshold=0.5, margin=0.1)
    _check_contract(out, "low_confidence")
    # Oracle: a plain loop over the scores.
    expected = {r: 1 - abs(s - 0.5) / 0.1 for r, s in SCORES.items() if abs(s - 0.5) <= 0.1 + 1e-12}
    assert set(out["row"]) == set(expected) == {"a", "c", "e", "f", "g"}
    for row, score in zip(out["row"], out["score"], strict=True):
        assert score == pytest.approx(expected[row])
    notes = dict(zip(out["row"], out["explanation"], strict=True))
    assert notes["a"] == "Score 0.48 is 0.02 from the threshold 0.50."
    assert notes["f"] == "Score 0.41 is 0.09 from the threshold 0.50."


def test_low_confidence_on_a_decile_scale() -> None:
    # COMPAS-like deciles 1-10, threshold 5, margin 10% of the width 9.
    out = low_confidence_flags(pd.Series([1, 4, 5, 6, 10]), threshold=5, margin=0.9)
    assert out["row"].tolist() == [2]
    assert low_confidence_flags(pd.Series([1, 4, 5, 6, 10]), threshold=5,
                                margin=1.8)["score"].tolist() == pytest.approx([4 / 9, 1, 4 / 9])


def test_low_confidence_k_takes_the_k_nearest_ties_by_order() -> None:
    s = pd.Series([0.6, 0.4, 0.5, 0.9, 0.45], index=[10, 11, 12, 13, 14])
    out = low_confidence_flags(s, threshold=0.5, k=3)
    # distances 0.1, 0.1, 0, 0.4, 0.05 -> 12, 14, then 10 before 11 (tie, first in order)
    assert out["row"].tolist() == [12, 14, 10]
    assert out["score"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert out["explanation"].iloc[2] == (
        "Score 0.60 is 0.10 from the threshold 0.50 (rank 3 of the 3 nearest).")
    # k wins over margin; k larger than the data flags every row
    assert low_confidence_flags(s, threshold=0.5, margin=0.01, k=2)["row"].tolist() == [12, 14]
    assert len(low_confidence_flags(s, threshold=0.5, k=50)) == 5
    assert low_confidence_flags(s, threshold=0.5, k=0).empty


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"margin": None, "k": None}, MSG_NO_RULE),
    ({"margin": 0.0}, MSG_MARGIN.format(value=0.0)),
    ({"margin": -1}, MSG_MARGIN.format(value=-1)),
    ({"margin": "0.1"}, MSG_MARGIN.format(value="0.1")),
    ({"k": -1}, MSG_COUNT.format(name="k", value=-1)),
    ({"k": 2.5}, MSG_COUNT.format(name="k", value=2.5)),
])
def test_low_confidence_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=_re(message)):
        low_confidence_flags(SCORES, threshold=0.5, **kwargs)


def test_low_confidence_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match=_re(MSG_THRESHOLD.format(value=np.inf))):
        low_confidence_flags(SCORES, threshold=np.inf)
    with pytest.raises(ValueError, match=_re(MSG_SCORES.format(row="y", value=np.nan))):
        low_confidence_flags(pd.Series([0.5, np.nan], index=["x", "y"]), threshold=0.5)
    with pytest.raises(ValueError, match=_re(MSG_DUPLICATE_INDEX.format(name="y_score",
                                                                        label="x"))):
        low_confidence_flags(pd.Series([0.5, 0.4], index=["x", "x"]), threshold=0.5)
    with pytest.raises(TypeError, match="must be a pandas Series"):
        low_confidence_flags([0.5], threshold=0.5)  # type: ignore[arg-type]


# --- disparity ---------------------------------------------------------------------


def _item(metric: str, attributes: dict[str, Any], ratio: float | None, *, verdict: str | None
          = "fail", ci: tuple[float, float] | None = None, diff: float | None = None,
          reference: dict[str, Any] | None = None) -> dict[str, Any]:
    low, high = ci if ci else (ratio, ratio)
    return {"metric": metric, "attributes": attributes,
            "reference": reference or {"sex": "M"},
            "ratio": {"value": ratio, "ci_low": low, "ci_high": high},
            "difference": {"value": diff, "ci_low": diff, "ci_high": diff},
            "verdict": verdict, "p_value": 0.01}


@pytest.fixture
def people() -> pd.DataFrame:
    # y: true outcome, p: decision. Cells: tp, fp, fn, tn by row.
    return pd.DataFrame({
        "sex":  ["F", "F", "F", "F", "F", "M", "M", "M"],
        "race": ["B", "W", "B", "W", "B", "B", "W", "B"],
        "y":    [1,   0,   1,   0,   0,   1,   0,   0],
        "p":    [1,   1,   0,   0,   1,   0,   1,   0],
    }, index=[f"r{i}" for i in range(8)])


def test_low_selection_rate_flags_the_groups_denials_only(people: pd.DataFrame) -> None:
    item = _item("selection_rate", {"sex": "F"}, 0.35, ci=(0.31, 0.39))
    out = disparity_flags(people, y_true=None, y_pred="p", disparities=[item])
    _check_contract(out, "disparity")
    expected = people.index[(people["sex"] == "F") & (people["p"] == 0)]
    assert out["row"].tolist() == list(expected) == ["r2", "r3"]
    # CI wholly below 1: severity from its upper bound, |log2 0.39| capped at 1.
    assert out["score"].tolist() == pytest.approx([min(1, abs(math.log(0.39, 2)))] * 2)
    assert out["explanation"].iloc[0] == (
        "Declined, in group sex=F whose selection rate is 0.35x that of sex=M "
        "(fails the rule).")


def test_high_selection_rate_flags_approvals_and_severity_uses_ci(people: pd.DataFrame) -> None:
    item = _item("selection_rate", {"sex": "F"}, 1.5, ci=(1.2, 1.9))
    out = disparity_flags(people, y_true=None, y_pred="p", disparities=[item])
    assert out["row"].tolist() == ["r0", "r1", "r4"]
    assert out["score"].tolist() == pytest.approx([math.log2(1.2)] * 3)
    # CI straddling 1: severity from the point ratio
    item = _item("selection_rate", {"sex": "F"}, 1.5, ci=(0.9, 2.5))
    out = disparity_flags(people, y_true=None, y_pred="p", disparities=[item])
    assert out["score"].tolist() == pytest.approx([math.log2(1.5)] * 3)


def test_high_false_positive_rate_flags_only_the_groups_false_positives(
        people: pd.DataFrame) -> None:
    item = _item("false_positive_rate", {"sex": "F"}, 2.1, ci=(1.4, 3.0))
    out = disparity_flags(people, y_true="y", y_pred="p", disparities=[item])
    fp = (people["sex"] == "F") & (people["y"] == 0) & (people["p"] == 1)
    assert out["row"].tolist() == list(people.index[fp]) == ["r1", "r4"]
    assert out["explanation"].iloc[0] == (
        "Approved (a false positive), in group sex=F whose false positive rate is 2.10x "
        "that of sex=M (fails the rule).")
    with pytest.raises(ValueError, match=_re(MSG_NEEDS_Y_TRUE.format(
            i=0, metric="false_positive_rate"))):
        disparity_flags(people, y_true=None, y_pred="p", disparities=[item])


def test_low_true_positive_rate_flags_false_negatives(people: pd.DataFrame) -> None:
    item = _item("true_positive_rate", {"sex": "F"}, 0.5, ci=(0.3, 0.7))
    out = disparity_flags(people, y_true="y", y_pred="p", disparities=[item])
    assert out["row"].tolist() == ["r2"]  # the group's only fn


def test_intersection_needs_every_attribute(people: pd.DataFrame) -> None:
    item = _item("selection_rate", {"sex": "F", "race": "B"}, 0.5,
                 reference={"sex": "M", "race": "W"})
    out = disparity_flags(people, y_true=None, y_pred="p", disparities=[item])
    assert out["row"].tolist() == ["r2"]
    assert "in group sex=F & race=B whose" in out["explanation"].iloc[0]
    assert "that of sex=M & race=W" in out["explanation"].iloc[0]


@pytest.mark.parametrize("verdict", ["pass", "insufficient_evidence", None])
def test_non_failing_items_are_ignored(people: pd.DataFrame, verdict: str | None) -> None:
    item = _item("selection_rate", {"sex": "F"}, 0.35, verdict=verdict)
    out = disparity_flags(people, y_true=None, y_pred="p", disparities=[item])
    assert out.empty and tuple(out.columns) == FLAG_COLUMNS


def test_error_metrics_and_worst_of_several(people: pd.DataFrame) -> None:
    weak = _item("selection_rate", {"sex": "F"}, 0.9)
    strong = _item("balanced_accuracy", {"race": "B"}, 0.4)
    out = disparity_flags(people, y_true="y", y_pred="p", disparities=[weak, strong])
    got = dict(zip(out["row"], out["score"], strict=True))
    # balanced accuracy: errors of race=B are r2, r5 (fn) and r4 (fp); selection rate
    # low: denials of F are r2, r3. r2 keeps the worse (balanced accuracy) score.
    assert set(got) == {"r2", "r3", "r4", "r5"}
    assert got["r2"] == pytest.approx(min(1.0, abs(math.log2(0.4)))) == got["r4"]
    assert got["r3"] == pytest.approx(abs(math.log2(0.9)))
    notes = dict(zip(out["row"], out["explanation"], strict=True))
    assert "balanced accuracy is 0.40x" in notes["r2"]
    assert notes["r2"].startswith("Declined (a false negative), in group race=B")


def test_values_compare_as_text_and_difference_is_the_fallback() -> None:
    df = pd.DataFrame({"grp": [1, 1, 2], "p": [0, 1, 0]})
    item = {"metric": "selection_rate", "attributes": {"grp": "1"}, "reference": {"grp": 2},
            "ratio": {"value": None, "ci_low": None, "ci_high": None},
            "difference": {"value": -0.3, "ci_low": -0.5, "ci_high": -0.1}, "verdict": "fail"}
    out = disparity_flags(df, y_true=None, y_pred="p", disparities=[item],
                          positive_is_favourable=False)
    assert out["row"].tolist() == [0]
    assert out["score"].tolist() == pytest.approx([0.1])
    assert out["explanation"].iloc[0] == (
        "Negative (favourable), in group grp=1 whose selection rate is 0.30 lower than that "
        "of grp=2 (fails the rule).")
    item["difference"] = {"value": None}
    with pytest.raises(ValueError, match=_re(MSG_NO_DIRECTION.format(
            i=0, metric="selection_rate"))):
        disparity_flags(df, y_true=None, y_pred="p", disparities=[item])


def test_disparity_rejects_bad_inputs(people: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown metric 'parity'"):
        disparity_flags(people, y_true=None, y_pred="p",
                        disparities=[_item("parity", {"sex": "F"}, 0.5, verdict="pass")])
    with pytest.raises(ValueError, match="lacks 'attributes'"):
        disparity_flags(people, y_true=None, y_pred="p",
                        disparities=[{"metric": "selection_rate", "verdict": "fail"}])
    with pytest.raises(ValueError, match=_re(MSG_BINARY.format(column="p", row="r1",
                                                               value=2))):
        disparity_flags(people.assign(p=[0, 2, 0, 0, 0, 0, 0, 0]), y_true=None, y_pred="p",
                        disparities=[])
    with pytest.raises(ValueError, match="column 'zip'"):
        disparity_flags(people, y_true=None, y_pred="p",
                        disparities=[_item("selection_rate", {"zip": "1"}, 0.5)])


# --- counterfactual -------------------------------------------------------------------


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 300
    sex = rng.choice(["F", "M"], n)
    zip_ = np.where(rng.random(n) < 0.8, np.where(sex == "F", "Z1", "Z2"), "Z3")
    x = rng.normal(0, 1, n)
    y = (x + 2.5 * (sex == "M") - 1.25 + rng.normal(0, 0.3, n) > 0).astype(int)
    return pd.DataFrame({"sex": sex, "zip": zip_, "x": x, "y": y})


def _fit(frame: pd.DataFrame, features: list[str]) -> Pipeline:
    cats = [c for c in features if c != "x"]
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cats)],
                            remainder="passthrough")
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame[features],
                                                                       frame["y"])


def test_counterfactual_flags_rows_whose_decision_flips_with_sex(loans: pd.DataFrame) -> None:
    model = _fit(loans, ["sex", "x"])
    rows = loans.head(40)
    out = counterfactual_flags(model, rows, features=["sex", "x"], sensitive_features=["sex"])
    _check_contract(out, "counterfactual")
    # Oracle: swap sex by hand and score with sklearn directly.
    before = model.predict_proba(rows[["sex", "x"]])[:, 1]
    swapped = rows.assign(sex=rows["sex"].map({"F": "M", "M": "F"}))
    after = model.predict_proba(swapped[["sex", "x"]])[:, 1]
    flips = (before >= 0.5) != (after >= 0.5)
    assert flips.sum() > 3
    assert out["row"].tolist() == list(rows.index[flips])
    assert out["score"].to_numpy() == pytest.approx(np.abs(after - before)[flips])
    first = out["row"].iloc[0]
    own, other = rows.loc[first, "sex"], {"F": "M", "M": "F"}[rows.loc[first, "sex"]]
    b, a = before[rows.index.get_loc(first)], after[rows.index.get_loc(first)]
    words = ("Approved", "declined") if b >= 0.5 else ("Declined", "approved")
    assert out["explanation"].iloc[0] == (
        f"{words[0]} as sex={own} (score {b:.2f}); {words[1]} if sex were {other} "
        f"(score {a:.2f}).")


def test_counterfactual_through_a_proxy_of_a_blind_model(loans: pd.DataFrame) -> None:
    model = _fit(loans, ["zip", "x"])
    rows = loans.iloc[:60]
    assert counterfactual_flags(model, rows, features=["zip", "x"],
                                sensitive_features=["sex"]).empty
    out = counterfactual_flags(model, rows, features=["zip", "x"], sensitive_features=["sex"],
                               proxies={"sex": ["zip"]})
    # Oracle: the other group's most frequent zip over the frame passed in.
    typical = {g: rows.loc[rows["sex"] == g, "zip"].mode().iloc[0] for g in ("F", "M")}
    base = predict_decisions(model, rows, features=["zip", "x"])["y_pred"]
    moved = rows.assign(zip=[typical["M" if s == "F" else "F"] for s in rows["sex"]])
    flips = base != predict_decisions(model, moved, features=["zip", "x"])["y_pred"]
    assert flips.sum() > 0
    assert out["row"].tolist() == list(rows.index[flips])
    assert all(f"zip took the typical value of sex={'M' if rows.loc[r, 'sex'] == 'F' else 'F'}"
               in note for r, note in zip(out["row"], out["explanation"], strict=True))


def test_counterfactual_sensitive_input_and_proxy_together(loans: pd.DataFrame) -> None:
    model = _fit(loans, ["sex", "zip", "x"])
    out = counterfactual_flags(model, loans.head(30), features=["sex", "zip", "x"],
                               sensitive_features=["sex"], proxies={"sex": ["zip"]},
                               positive_is_favourable=False)
    assert not out.empty
    assert "if sex were" in out["explanation"].iloc[0]
    assert "and zip took that group's typical value" in out["explanation"].iloc[0]
    assert out["explanation"].iloc[0].startswith(("Positive as", "Negative as"))


def test_counterfactual_rejects_bad_proxies(loans: pd.DataFrame) -> None:
    model = _fit(loans, ["zip", "x"])
    kw: dict[str, Any] = {"features": ["zip", "x"], "sensitive_features": ["sex"]}
    with pytest.raises(ValueError, match=_re(MSG_PROXY_NOT_FEATURE.format(column="y"))):
        counterfactual_flags(model, loans, proxies={"sex": ["y"]}, **kw)
    with pytest.raises(ValueError, match=_re(MSG_PROXY_IS_SENSITIVE.format(column="sex"))):
        counterfactual_flags(model, loans, proxies={"sex": ["sex"]}, **kw)
    with pytest.raises(ValueError, match=_re(MSG_PROXY_KEY.format(column="zip",
                                                                  features=["sex"]))):
        counterfactual_flags(model, loans, proxies={"zip": ["x"]}, **kw)
    with pytest.raises(ValueError, match=_re(MSG_NO_SENSITIVE)):
        counterfactual_flags(model, loans, features=["zip", "x"], sensitive_features=[])


# --- attribution, random control, gold -----------------------------------------------


def test_attribution_flags_rows_leaning_on_watched_features() -> None:
    c = pd.DataFrame({"zip": [0.3, -0.05, 0.0, 0.1], "sex": [0.1, 0.0, 0.0, -0.3],
                      "income": [0.6, 0.95, 0.0, -0.6]}, index=["a", "b", "c", "d"])
    out = attribution_flags(c, watched=["zip", "sex"], min_share=0.2,
                            kinds={"sex": "a sensitive feature"})
    _check_contract(out, "attribution")
    magnitude = c.abs()
    share = (magnitude["zip"] + magnitude["sex"]) / magnitude.sum(axis=1)
    assert out["row"].tolist() == ["a", "d"]  # b: 5%; c: all zero -> share 0
    assert out["score"].tolist() == pytest.approx(share[["a", "d"]].tolist())
    assert out["explanation"].tolist() == [
        "zip carries 30% of this decision's attribution (zip is a watched feature); "
        "watched features carry 40%.",
        "sex carries 30% of this decision's attribution (sex is a sensitive feature); "
        "watched features carry 40%.",
    ]
    assert attribution_flags(c, watched=["zip"], min_share=0.3)["row"].tolist() == ["a"]


def test_attribution_rejects_bad_inputs() -> None:
    c = pd.DataFrame({"zip": [0.3], "income": [0.6]})
    with pytest.raises(ValueError, match=_re(MSG_WATCHED)):
        attribution_flags(c, watched=[])
    with pytest.raises(ValueError, match="column 'sex'"):
        attribution_flags(c, watched=["sex"])
    with pytest.raises(ValueError, match=_re(MSG_MIN_SHARE.format(value=0))):
        attribution_flags(c, watched=["zip"], min_share=0)
    with pytest.raises(ValueError, match=_re(MSG_KIND_NOT_WATCHED.format(column="income"))):
        attribution_flags(c, watched=["zip"], kinds={"income": "a sensitive feature"})
    with pytest.raises(ValueError, match=_re(MSG_NOT_NUMERIC.format(column="income"))):
        attribution_flags(c.assign(income=[np.nan]), watched=["zip"])


def test_random_control_is_seeded_order_free_and_uniform() -> None:
    index = pd.Index([f"case-{i}" for i in range(50)])
    a = random_control_flags(index, n=7, random_state=4)
    _check_contract(a, "random_control")
    shuffled = pd.Index(np.random.default_rng(0).permutation(index.to_numpy()))
    b = random_control_flags(shuffled, n=7, random_state=4)
    assert a["row"].tolist() == b["row"].tolist()
    assert a["score"].eq(0.5).all() and len(set(a["row"])) == 7
    assert set(a["row"]) != set(random_control_flags(index, n=7, random_state=5)["row"])
    # Oracle: the 7 labels with the smallest seeded keys.
    assert a["row"].tolist() == sorted(index, key=lambda r: seeded_key(r, 4))[:7]
    assert len(random_control_flags(index[:3], n=7, random_state=4)) == 3
    # Uniform: over many seeds each of 10 labels is drawn about 3/10 of the time.
    hits = pd.Series(0, index=range(10))
    for seed in range(1500):
        hits[random_control_flags(pd.Index(range(10)), n=3, random_state=seed)["row"]] += 1
    assert hits.between(450 - 90, 450 + 90).all()  # sd ~ 17.7


def test_random_control_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match=_re(MSG_COUNT.format(name="n", value=-2))):
        random_control_flags(pd.Index([1]), n=-2, random_state=0)
    with pytest.raises(ValueError, match="random_state must be an int"):
        random_control_flags(pd.Index([1]), n=1, random_state=0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="index must be a pandas Index"):
        random_control_flags([1, 2], n=1, random_state=0)  # type: ignore[arg-type]


def test_gold_flags() -> None:
    out = gold_flags(pd.Series({"r7": "approve", "r2": "decline"}), source="audit panel")
    _check_contract(out, "gold")
    assert out["row"].tolist() == ["r7", "r2"] and out["score"].eq(0.5).all()
    assert out["explanation"].iloc[0] == (
        "Known answer (audit panel): approve; measures reviewer accuracy.")
    with pytest.raises(ValueError, match=_re(MSG_GOLD_MISSING.format(row="b"))):
        gold_flags(pd.Series({"a": 1, "b": None}))
    with pytest.raises(ValueError, match=_re(MSG_SOURCE.format(value=""))):
        gold_flags(pd.Series({"a": 1}), source="")


# --- combine -------------------------------------------------------------------------


def test_combine_sorts_by_row_then_reason_order() -> None:
    gold = gold_flags(pd.Series({3: "y", 1: "n"}))
    low = low_confidence_flags(pd.Series([0.5, 0.45, 0.9, 0.52]), threshold=0.5)
    out = combine_flags(gold, low)
    assert out[["row", "reason"]].values.tolist() == [
        [0, "low_confidence"], [1, "low_confidence"], [1, "gold"], [3, "low_confidence"],
        [3, "gold"]]
    assert tuple(out.columns) == FLAG_COLUMNS
    assert combine_flags().empty and tuple(combine_flags().columns) == FLAG_COLUMNS
    assert combine_flags(gold.iloc[:0], gold)["row"].tolist() == [1, 3]
    assert REASONS.index("low_confidence") < REASONS.index("gold")


def test_combine_rejects_bad_tables() -> None:
    good = gold_flags(pd.Series({"a": 1}))
    with pytest.raises(ValueError, match=_re(MSG_FLAG_DUPLICATE.format(row="a",
                                                                       reason="gold"))):
        combine_flags(good, good)
    with pytest.raises(ValueError, match=_re(MSG_FLAG_COLUMNS.format(
            expected=list(FLAG_COLUMNS), columns=["row", "reason", "score"]))):
        combine_flags(good.drop(columns="explanation"))
    with pytest.raises(ValueError, match=_re(MSG_FLAG_REASON.format(
            reason="hunch", choices=", ".join(REASONS)))):
        combine_flags(good.assign(reason="hunch"))
    with pytest.raises(ValueError, match=_re(MSG_FLAG_SCORE.format(row="a", reason="gold",
                                                                   value=1.5))):
        combine_flags(good.assign(score=1.5))
    with pytest.raises(ValueError, match=_re(MSG_FLAG_TEXT.format(row="a", reason="gold"))):
        combine_flags(good.assign(explanation=" "))


def _re(message: str) -> str:
    import re

    return re.escape(message)
