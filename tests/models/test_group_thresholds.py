"""audits.models.group_thresholds: fairlearn's fitted rules as JSON, applied identically."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.linear_model import LogisticRegression

from audits.models import group_thresholds as gt

RULE = {"p0": 1.0, "operator0": ">", "threshold0": 0.5, "p1": 0.0, "operator1": ">",
        "threshold1": "inf"}


def _msg(template: str) -> str:
    return ".*".join(re.escape(part) for part in re.split(r"\{[^}]*\}", template))


def _fitted(constraint: str, seed: int) -> tuple[ThresholdOptimizer, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 3000
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    shift = pd.Series(group).map({"a": 0.8, "b": -0.4, "c": 0.0}).to_numpy()
    x = pd.DataFrame({"x1": rng.normal(size=n) + shift, "x2": rng.normal(size=n)})
    y = (x["x1"] + rng.normal(scale=0.8, size=n) > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(x, y)
    post = ThresholdOptimizer(estimator=model, constraints=constraint, prefit=True,
                              predict_method="predict_proba")
    post.fit(x, y, sensitive_features=group)
    return post, x.assign(group=group), y


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds",
                                        "true_positive_rate_parity"])
@pytest.mark.parametrize("seed", [0, 1])
def test_json_rules_decide_exactly_as_fairlearn(constraint: str, seed: int) -> None:
    post, frame, _ = _fitted(constraint, seed)
    spec = json.loads(json.dumps(gt.thresholds_spec(post)))  # survives a JSON round trip
    x = frame[["x1", "x2"]]
    scores = post.estimator.predict_proba(x)[:, 1]
    for random_state in (0, 7):
        ours = gt.apply_thresholds(scores, frame["group"], spec, random_state=random_state)
        theirs = post.predict(x, sensitive_features=frame["group"], random_state=random_state)
        assert (ours == np.asarray(theirs)).all()
    assert set(spec) == {"a", "b", "c"}


def test_demographic_parity_rules_equalise_selection_rates() -> None:
    post, frame, _ = _fitted("demographic_parity", 3)
    scores = post.estimator.predict_proba(frame[["x1", "x2"]])[:, 1]
    pred = gt.apply_thresholds(scores, frame["group"], gt.thresholds_spec(post),
                               random_state=0)
    rates = pd.Series(pred).groupby(frame["group"].to_numpy()).mean()
    raw = pd.Series(scores >= 0.5).groupby(frame["group"].to_numpy()).mean()
    assert rates.max() - rates.min() < 0.05 < raw.max() - raw.min()


def test_infinite_thresholds_are_written_as_strings() -> None:
    post, _, _ = _fitted("demographic_parity", 0)
    spec = gt.thresholds_spec(post)
    for rule in spec.values():
        for key in ("threshold0", "threshold1"):
            assert isinstance(rule[key], float) or rule[key] in ("inf", "-inf")


@pytest.mark.parametrize(("spec", "template"), [
    ({}, gt.MSG_EMPTY),
    ({"a": {k: v for k, v in RULE.items() if k != "p1"}}, gt.MSG_SPEC),
    ({"a": {**RULE, "operator0": ">="}}, gt.MSG_SPEC),
    ({"a": {**RULE, "p0": 0.7}}, gt.MSG_SPEC),
    ({"a": {**RULE, "p0": 1.5, "p1": -0.5}}, gt.MSG_SPEC),
])
def test_bad_specs_are_refused_naming_the_problem(spec: dict[str, object],
                                                  template: str) -> None:
    with pytest.raises(ValueError, match=_msg(template)):
        gt.apply_thresholds([0.5], ["a"], spec, random_state=0)  # type: ignore[arg-type]


def test_a_group_without_a_rule_is_refused() -> None:
    with pytest.raises(ValueError, match=_msg(gt.MSG_UNKNOWN_GROUP)):
        gt.apply_thresholds([0.5, 0.6], ["a", "z"], {"a": RULE}, random_state=0)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match=_msg(gt.MSG_LENGTH)):
        gt.apply_thresholds([0.5, 0.6], ["a"], {"a": RULE}, random_state=0)


def test_unfitted_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape(gt.MSG_NOT_FITTED)):
        gt.thresholds_spec(ThresholdOptimizer(estimator=LogisticRegression()))
