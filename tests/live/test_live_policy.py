"""Holding live decisions: the online reasons agree with the batch ones, the random
control is a fair per-decision coin, and bad settings are named.

Oracles: a live decision is flagged exactly as the same row in a batch of the system's
data (the batch flag functions on the whole frame); the model's own ``predict_proba`` on
a hand-made counterfactual row; the binomial distribution for the control's rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audits.flagging.flags import low_confidence_flags
from audits.flagging.reasons import MSG_REFERENCE, counterfactual_flags
from audits.live.policy import (
    MSG_INDEX,
    MSG_NEEDS_MODEL,
    MSG_NEEDS_SHAP,
    LivePolicy,
    evaluate_live,
    random_control_drawn,
)

FEATURES = ["sex", "income", "zip_band"]


@pytest.fixture(scope="module")
def system() -> tuple[LogisticRegression, pd.DataFrame]:
    """A model that leans on sex and on a proxy of it (zip_band), and its data."""
    rng = np.random.default_rng(7)
    n = 600
    sex = rng.integers(0, 2, n)
    zip_band = np.where(rng.random(n) < 0.8, sex, 1 - sex) * 2.0 + rng.normal(0, 0.3, n)
    income = rng.normal(50, 10, n)
    logit = 1.5 * sex + 0.05 * (income - 50) + 0.4 * zip_band - 1.2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"sex": sex, "income": income, "zip_band": zip_band},
                         index=[f"d{i}" for i in range(n)])
    model = LogisticRegression().fit(frame[FEATURES].to_numpy(), y)
    return model, frame


def scores_of(model: LogisticRegression, frame: pd.DataFrame) -> pd.Series:
    return pd.Series(model.predict_proba(frame[FEATURES].to_numpy())[:, 1], index=frame.index)


def test_a_live_row_is_flagged_as_the_same_row_in_a_batch_of_the_systems_data(
        system: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = system
    batch = counterfactual_flags(model, frame, features=FEATURES, sensitive_features=["sex"],
                                 proxies={"sex": ["zip_band"]}).set_index("row")
    assert 20 < len(batch) < len(frame)  # some flip, most do not
    for key in frame.index[:120]:
        alone = counterfactual_flags(model, frame.loc[[key]], features=FEATURES,
                                     sensitive_features=["sex"],
                                     proxies={"sex": ["zip_band"]}, reference=frame)
        if key in batch.index:
            assert alone["row"].tolist() == [key]
            assert alone["score"].iloc[0] == pytest.approx(batch.loc[key, "score"], abs=1e-12)
            assert alone["explanation"].iloc[0] == batch.loc[key, "explanation"]
        else:
            assert alone.empty
    # Without the reference a row alone knows only its own group: nothing can flip.
    lone = counterfactual_flags(model, frame.loc[[batch.index[0]]], features=FEATURES,
                                sensitive_features=["sex"], proxies={"sex": ["zip_band"]})
    assert lone.empty


def test_a_counterfactual_hold_matches_the_models_own_scores(
        system: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = system
    scores = scores_of(model, frame)
    out = evaluate_live(frame, scores, threshold=0.5, policy=LivePolicy(
        low_confidence_margin=None, random_rate=0.0), pipeline=model, features=FEATURES,
        sensitive_features=["sex"], reference=frame)
    held = out[out["held"]]
    assert set(held["primary_reason"]) == {"counterfactual"}
    # Oracle: flip sex by hand and ask the model.
    flipped = frame.assign(sex=1 - frame["sex"])
    after = pd.Series(model.predict_proba(flipped[FEATURES].to_numpy())[:, 1], index=frame.index)
    flips = (after >= 0.5) != (scores >= 0.5)
    assert held.index.tolist() == flips[flips].index.tolist()
    assert (out["model_decision"] == (scores >= 0.5).astype(int)).all()
    assert out.loc[held.index[0], "reasons"][0]["score"] == pytest.approx(
        abs(after[held.index[0]] - scores[held.index[0]]), abs=1e-4)


def test_low_confidence_holds_exactly_the_batch_rows_and_reasons_are_ordered(
        system: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = system
    scores = scores_of(model, frame)
    policy = LivePolicy(low_confidence_margin=0.05, counterfactual=True, random_rate=0.0)
    out = evaluate_live(frame, scores, threshold=0.5, policy=policy, pipeline=model,
                        features=FEATURES, sensitive_features=["sex"], reference=frame)
    expected = set(low_confidence_flags(scores, threshold=0.5, margin=0.05)["row"])
    low = {key for key, reasons in out["reasons"].items()
           if any(r["reason"] == "low_confidence" for r in reasons)}
    assert low == expected
    both = [r for r in out["reasons"] if len(r) > 1]
    assert both, "some decisions are both near the threshold and flip"
    assert all(r[0]["reason"] == "counterfactual" for r in both)  # the stronger reason leads
    assert (out["held"] == out["reasons"].map(bool)).all()


def test_the_random_control_is_a_fair_coin_per_decision() -> None:
    keys = [f"loan-{i}" for i in range(20000)]
    rate = 0.05
    drawn = sum(random_control_drawn(k, rate, 11) for k in keys)
    sd = np.sqrt(len(keys) * rate * (1 - rate))
    assert abs(drawn - len(keys) * rate) < 4 * sd
    # The same decision is drawn or not whatever it is sent with, and per seed.
    frame = pd.DataFrame({"x": np.zeros(len(keys))}, index=keys)
    policy = LivePolicy(low_confidence_margin=None, counterfactual=False, random_rate=rate,
                        random_state=11)
    whole = evaluate_live(frame, pd.Series(0.9, index=frame.index), threshold=0.5,
                          policy=policy)
    part = evaluate_live(frame.iloc[::-7], pd.Series(0.9, index=frame.index[::-7]),
                         threshold=0.5, policy=policy)
    assert whole.loc[part.index, "held"].tolist() == part["held"].tolist()
    assert int(whole["held"].sum()) == drawn
    assert set(whole.loc[whole["held"], "primary_reason"]) == {"random_control"}
    assert ([random_control_drawn(k, rate, 12) for k in keys[:2000]]
            != [random_control_drawn(k, rate, 11) for k in keys[:2000]])  # another seed
    assert not any(random_control_drawn(k, 0.0, 0) for k in keys[:100])
    assert all(random_control_drawn(k, 1.0, 0) for k in keys[:100])


def test_attribution_holds_decisions_leaning_on_watched_features() -> None:
    frame = pd.DataFrame({"x": [0.0, 0.0]}, index=["a", "b"])
    contributions = pd.DataFrame({"zip": [0.6, 0.05], "income": [0.4, 0.95]}, index=frame.index)
    out = evaluate_live(frame, pd.Series([0.9, 0.9], index=frame.index), threshold=0.5,
                        policy=LivePolicy(low_confidence_margin=None, counterfactual=False,
                                          random_rate=0.0, attribution_min_share=0.5),
                        contributions=contributions, watched=["zip"])
    assert out["held"].tolist() == [True, False]
    assert out.loc["a", "reasons"][0]["score"] == pytest.approx(0.6)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("low_confidence_margin", 0.0, "low_confidence_margin must lie in (0, 1]"),
    ("low_confidence_margin", float("nan"), "low_confidence_margin must lie in (0, 1]"),
    ("attribution_min_share", 1.5, "attribution_min_share must lie in (0, 1]"),
    ("random_rate", -0.1, "random_rate must lie in [0, 1]"),
    ("random_rate", True, "random_rate must lie in [0, 1]"),
    ("random_state", 1.5, "random_state must be an int"),
    ("reviews_per_day", 0, "reviews_per_day must be a finite number > 0"),
    ("sla_hours", float("inf"), "sla_hours must be a finite number > 0"),
    ("burst", 0.5, "burst must be a finite number >= 1"),
    ("when_spent", "drop", "when_spent must be one of auto, hold"),
    ("fallback", "approve", "fallback must be one of model, positive, negative"),
    ("counterfactual", "yes", "counterfactual must be one of True, False"),
])
def test_bad_policy_settings_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as bad:
        LivePolicy(**{field: value})  # type: ignore[arg-type]
    assert message in str(bad.value)


def test_missing_inputs_are_named(system: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = system
    scores = scores_of(model, frame)
    with pytest.raises(ValueError, match="counterfactual reason needs the model"):
        evaluate_live(frame, scores, threshold=0.5, policy=LivePolicy())
    assert MSG_NEEDS_MODEL.startswith("the counterfactual reason")
    with pytest.raises(ValueError, match="attribution reason needs"):
        evaluate_live(frame, scores, threshold=0.5, policy=LivePolicy(
            counterfactual=False, attribution_min_share=0.3))
    assert MSG_NEEDS_SHAP.startswith("the attribution reason")
    with pytest.raises(ValueError, match="same index"):
        evaluate_live(frame, scores.iloc[1:], threshold=0.5,
                      policy=LivePolicy(counterfactual=False))
    assert "same index" in MSG_INDEX
    with pytest.raises(TypeError, match="reference must be a pandas DataFrame"):
        counterfactual_flags(model, frame.head(1), features=FEATURES,
                             sensitive_features=["sex"], reference=frame.to_numpy())
    assert MSG_REFERENCE.startswith("reference must be")
    with pytest.raises(ValueError, match="reference column"):
        counterfactual_flags(model, frame.head(1), features=FEATURES,
                             sensitive_features=["sex"], reference=frame[["sex"]])


def test_policy_round_trips_through_json_values() -> None:
    policy = LivePolicy(random_rate=0.1, when_spent="hold", fallback="negative", burst=50)
    assert LivePolicy(**policy.to_dict()) == policy
    assert policy.capacity == 50.0 and LivePolicy().capacity == 200.0
