"""Group-specific randomised thresholds, stored as JSON and applied without pickles.

fairlearn's ``ThresholdOptimizer`` meets a fairness constraint by post-processing a
model's scores: in each group, with probability ``p0`` the rule ``score op0 t0`` decides,
else ``score op1 t1``. A fitted optimizer cannot be saved through the skops allow-list,
so a constrained model is stored as its pipeline file plus :func:`thresholds_spec` (the
rules as JSON, hashed with the model) and decided by :func:`apply_thresholds`, which
reproduces ``ThresholdOptimizer.predict`` draw for draw for the same ``random_state``
(``positive probability >= RandomState(seed).rand(n)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer

__all__ = ["apply_thresholds", "check_spec", "thresholds_spec"]

MSG_NOT_FITTED = "the threshold optimizer is not fitted (no interpolated_thresholder_)"
MSG_SPEC = "threshold spec for group {group!r}: {problem}"
MSG_EMPTY = "threshold spec must map at least one group to its rule; got {value!r}"
MSG_UNKNOWN_GROUP = ("group(s) {groups} have no threshold rule; the rules cover {known} "
                     "(a constrained model decides only groups it was fitted on)")
MSG_LENGTH = "y_score has {n} rows but groups has {m}"
_OPERATORS = (">", "<")


def thresholds_spec(optimizer: ThresholdOptimizer) -> dict[str, dict[str, Any]]:
    """Return a fitted optimizer's rules as JSON: group (as str) -> rule.

    Each rule has ``p0, operator0, threshold0, p1, operator1, threshold1`` and, when the
    optimizer mixes in a constant, ``p_ignore`` and ``prediction_constant``. Infinite
    thresholds are written as the strings ``"inf"``/``"-inf"``.

    Raises
    ------
    ValueError
        The optimizer is not fitted (:data:`MSG_NOT_FITTED`).
    """
    thresholder = getattr(optimizer, "interpolated_thresholder_", None)
    if thresholder is None:
        raise ValueError(MSG_NOT_FITTED)
    spec: dict[str, dict[str, Any]] = {}
    for group, rule in thresholder.interpolation_dict.items():
        entry: dict[str, Any] = {
            "p0": float(rule.p0), "operator0": str(rule.operation0.operator),
            "threshold0": _number(rule.operation0.threshold), "p1": float(rule.p1),
            "operator1": str(rule.operation1.operator),
            "threshold1": _number(rule.operation1.threshold)}
        if "p_ignore" in rule:
            entry["p_ignore"] = float(rule.p_ignore)
            entry["prediction_constant"] = float(rule.prediction_constant)
        spec[str(group)] = entry
    return check_spec(spec)


def check_spec(spec: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return ``spec`` as plain dicts after checking every rule.

    Raises
    ------
    ValueError
        No groups, or a rule with a missing field, an unknown operator, probabilities
        outside [0, 1] or ``p0 + p1 != 1`` (:data:`MSG_SPEC`, naming the group).

    Examples
    --------
    >>> rule = {"p0": 1.0, "operator0": ">", "threshold0": 0.5, "p1": 0.0,
    ...         "operator1": ">", "threshold1": "inf"}
    >>> sorted(check_spec({"a": rule})["a"])[:3]
    ['operator0', 'operator1', 'p0']
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(MSG_EMPTY.format(value=spec))
    out: dict[str, dict[str, Any]] = {}
    for group, rule in spec.items():
        missing = [k for k in ("p0", "operator0", "threshold0", "p1", "operator1",
                               "threshold1") if k not in rule]
        if missing:
            raise ValueError(MSG_SPEC.format(group=group, problem=f"missing {missing}"))
        for key in ("operator0", "operator1"):
            if rule[key] not in _OPERATORS:
                raise ValueError(MSG_SPEC.format(group=group,
                                                 problem=f"{key} {rule[key]!r} not > or <"))
        probs = [float(rule[k]) for k in ("p0", "p1", "p_ignore") if k in rule]
        if not all(0.0 <= p <= 1.0 for p in probs) or not math.isclose(
                float(rule["p0"]) + float(rule["p1"]), 1.0, abs_tol=1e-9):
            raise ValueError(MSG_SPEC.format(group=group, problem=(
                f"probabilities {probs} must lie in [0, 1] with p0 + p1 = 1")))
        out[str(group)] = dict(rule)
    return out


def apply_thresholds(
    y_score: npt.ArrayLike, groups: pd.Series | npt.ArrayLike,
    spec: Mapping[str, Mapping[str, Any]], *, random_state: int,
) -> npt.NDArray[np.int8]:
    """Decide 0/1 by each row's group rule, as ``ThresholdOptimizer.predict`` does.

    Parameters
    ----------
    y_score : array-like of shape (n_rows,)
        The model's positive-class probabilities.
    groups : array-like of shape (n_rows,)
        Each row's sensitive feature value (compared as str with the spec's keys).
    spec : mapping
        :func:`thresholds_spec` output.
    random_state : int
        Seed of the draws (the same seed as fairlearn's ``predict`` gives the same
        decisions).

    Raises
    ------
    ValueError
        Lengths differ, a bad spec, or a group without a rule (:data:`MSG_UNKNOWN_GROUP`).

    Examples
    --------
    >>> rule = {"p0": 1.0, "operator0": ">", "threshold0": 0.5, "p1": 0.0,
    ...         "operator1": ">", "threshold1": "inf"}
    >>> apply_thresholds([0.2, 0.7], ["a", "a"], {"a": rule}, random_state=0).tolist()
    [0, 1]
    """
    rules = check_spec(spec)
    scores = np.asarray(y_score, dtype=np.float64)
    keys = np.asarray(pd.Series(np.asarray(groups, dtype=object)).astype(str), dtype=object)
    if len(scores) != len(keys):
        raise ValueError(MSG_LENGTH.format(n=len(scores), m=len(keys)))
    unknown = sorted(set(keys.tolist()) - set(rules))
    if unknown:
        raise ValueError(MSG_UNKNOWN_GROUP.format(groups=unknown, known=sorted(rules)))
    positive = np.zeros(len(scores))
    for group, rule in rules.items():
        rows = keys == group
        s = scores[rows]
        p = (float(rule["p0"]) * _rule(s, rule["operator0"], rule["threshold0"])
             + float(rule["p1"]) * _rule(s, rule["operator1"], rule["threshold1"]))
        if "p_ignore" in rule:
            ignore = float(rule["p_ignore"])
            p = ignore * float(rule["prediction_constant"]) + (1 - ignore) * p
        positive[rows] = p
    draws = np.random.RandomState(random_state).rand(len(scores))
    return (positive >= draws).astype(np.int8)


def _rule(scores: npt.NDArray[np.float64], operator: str,
          threshold: float | str) -> npt.NDArray[np.float64]:
    t = float(threshold)
    hit = scores > t if operator == ">" else scores < t
    return hit.astype(np.float64)


def _number(value: Any) -> float | str:
    v = float(value)
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")
