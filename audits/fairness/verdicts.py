"""Verdicts: pass, fail or insufficient evidence, judged with the interval.

A rule allows a region for a disparity statistic, e.g. a ratio within
``[tau, 1/tau]`` or a difference within ``[-bound, bound]``. With the statistic's
confidence interval ``[low, high]``:

* **pass** only if the whole interval lies inside the allowed region;
* **fail** only if the whole interval lies outside it (entirely below or above);
* **insufficient_evidence** otherwise: the interval straddles a bound, or there is no
  interval (no bootstrap, an undefined statistic), or the group or its reference is too
  small (fewer than ``min_n`` rows, or fewer than ``min_cell_count`` of the positives,
  negatives or predictions that the metric divides by).

The bounds belong to the allowed region: a value exactly on a bound is allowed.
A point estimate outside the bound with an interval reaching inside is therefore not a
failure: the data do not yet show it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from audits.fairness.disparities import NAMED_SUMMARIES
from audits.fairness.metrics import METRIC_NAMES

#: Reported but never judged by a rule that names no metrics: prevalence (the base rate)
#: describes the data, not the decisions, so a gap in it is context, not a violation.
UNJUDGED_METRICS = frozenset({"prevalence"})


__all__ = [
    "FAIL",
    "INSUFFICIENT",
    "PASS",
    "Rule",
    "combine",
    "difference_rule",
    "judge",
    "parse_rule",
    "ratio_rule",
]

PASS = "pass"
FAIL = "fail"
INSUFFICIENT = "insufficient_evidence"

MSG_TAU = "tau must lie in (0, 1], got {value!r}"
MSG_BOUND = "bound must be a non-negative number, got {value!r}"
MSG_RULE_SYNTAX = (
    "cannot read rule {text!r}; write NAME OP NUMBER, e.g. 'impact_ratio<0.8' or "
    "'abs(false_positive_rate_difference)>0.1', with OP one of < <= > >="
)
MSG_RULE_NAME = (
    "rule {text!r} names {name!r}; use a summary ({summaries}) or METRIC_ratio / "
    "METRIC_difference for a metric of: {metrics}"
)
MSG_ABS_RATIO = "rule {text!r}: abs() applies to differences only"

_RULE = re.compile(
    r"^\s*(?:(abs)\(\s*([a-z_]+)\s*\)|([a-z_]+))\s*(<=|>=|<|>)\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Rule:
    """An allowed region ``[low, high]`` for a disparity statistic.

    Parameters
    ----------
    statistic : {"ratio", "difference"}
        Which disparity statistic the rule bounds.
    low, high : float
        The allowed region (bounds included; ``-inf``/``inf`` for one-sided rules).
    metrics : tuple of str or None, default None
        The metrics it applies to; ``None`` means every metric.
    summary : str or None, default None
        For a gate on a named summary (e.g. ``"impact_ratio"``): judged on the slice's
        summary instead of on each group's disparity.
    text : str, default ""
        How the rule reads (as parsed, or generated).

    Examples
    --------
    >>> ratio_rule(0.8).text
    'ratio within [0.8, 1.25]'
    """

    statistic: str
    low: float
    high: float
    metrics: tuple[str, ...] | None = None
    summary: str | None = None
    text: str = field(default="", compare=False)

    def applies_to(self, metric: str) -> bool:
        """Whether the rule judges disparities of ``metric``."""
        if self.summary is not None:
            return False
        if self.metrics is None:  # every metric of the decisions; prevalence is the data's
            return metric not in UNJUDGED_METRICS
        return metric in self.metrics

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready description (infinite bounds become null)."""
        return {"text": self.text, "statistic": self.statistic,
                "low": None if math.isinf(self.low) else self.low,
                "high": None if math.isinf(self.high) else self.high,
                "metrics": None if self.metrics is None else list(self.metrics),
                "summary": self.summary}


def ratio_rule(tau: float = 0.8, *, metrics: Sequence[str] | None = None) -> Rule:
    """Parity rule on ratios: within ``[tau, 1/tau]`` (the four-fifths rule at 0.8).

    Examples
    --------
    >>> ratio_rule(0.5, metrics=["selection_rate"]).high
    2.0
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(MSG_TAU.format(value=tau))
    return Rule("ratio", tau, 1.0 / tau, _metrics(metrics),
                text=f"ratio within [{tau:g}, {1.0 / tau:g}]")


def difference_rule(bound: float, *, metrics: Sequence[str] | None = None) -> Rule:
    """Parity rule on differences: ``|difference| <= bound``.

    Examples
    --------
    >>> difference_rule(0.1).text
    '|difference| <= 0.1'
    """
    if not bound >= 0.0:
        raise ValueError(MSG_BOUND.format(value=bound))
    return Rule("difference", -bound, bound, _metrics(metrics), text=f"|difference| <= {bound:g}")


def parse_rule(text: str) -> Rule:
    """Read a gate such as ``"impact_ratio<0.8"``: the condition that is a violation.

    ``NAME OP NUMBER`` where NAME is a named summary (``impact_ratio``,
    ``demographic_parity_difference``, ``equalized_odds_difference``, ...) judged per
    slice, or ``METRIC_ratio`` / ``METRIC_difference`` (optionally inside ``abs()``)
    judged per group against its reference. The returned rule allows the complement.

    Examples
    --------
    >>> r = parse_rule("impact_ratio<0.8")
    >>> r.summary, r.low, r.high
    ('impact_ratio', 0.8, inf)
    >>> r = parse_rule("abs(false_positive_rate_difference) > 0.1")
    >>> r.metrics, r.low, r.high
    (('false_positive_rate',), -0.1, 0.1)
    """
    match = _RULE.match(text)
    if match is None:
        raise ValueError(MSG_RULE_SYNTAX.format(text=text))
    is_abs, name = match.group(1) is not None, match.group(2) or match.group(3)
    op, value = match.group(4), float(match.group(5))
    summaries = {s[0]: s for s in NAMED_SUMMARIES}
    if name in summaries:
        statistic = "ratio" if summaries[name][2] != "difference" else "difference"
        metrics: tuple[str, ...] | None = summaries[name][1]
        summary: str | None = name
    else:
        metric, _, statistic = name.rpartition("_")
        if metric not in METRIC_NAMES or statistic not in ("ratio", "difference"):
            raise ValueError(MSG_RULE_NAME.format(text=text, name=name,
                                                  summaries=", ".join(summaries),
                                                  metrics=", ".join(METRIC_NAMES)))
        metrics, summary = (metric,), None
    if is_abs and statistic != "difference":
        raise ValueError(MSG_ABS_RATIO.format(text=text))
    low, high = _allowed(op, value, is_abs)
    return Rule(statistic, low, high, metrics, summary, text=text.strip())


def judge(low: np.ndarray, high: np.ndarray, rule: Rule) -> np.ndarray:
    """Verdict of intervals ``[low, high]`` against a rule (NaN -> insufficient evidence).

    Examples
    --------
    >>> judge(np.array([0.85, 0.5, 0.7, np.nan]), np.array([0.95, 0.7, 0.9, np.nan]),
    ...       ratio_rule(0.8)).tolist()
    ['pass', 'fail', 'insufficient_evidence', 'insufficient_evidence']
    """
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    inside = (lo >= rule.low) & (hi <= rule.high)
    outside = (hi < rule.low) | (lo > rule.high)
    return np.where(inside, PASS, np.where(outside, FAIL, INSUFFICIENT)).astype(object)


def combine(verdicts: Sequence[str]) -> str | None:
    """Combine one disparity's verdicts over several rules: any fail, else all pass.

    Examples
    --------
    >>> combine(["pass", "insufficient_evidence"]), combine(["pass", "fail"]), combine([])
    ('insufficient_evidence', 'fail', None)
    """
    if not verdicts:
        return None
    if FAIL in verdicts:
        return FAIL
    return PASS if all(v == PASS for v in verdicts) else INSUFFICIENT


def _metrics(metrics: Sequence[str] | None) -> tuple[str, ...] | None:
    if metrics is None:
        return None
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    for name in names:
        if name not in METRIC_NAMES:
            raise ValueError(f"unknown metric {name!r}; metrics: {', '.join(METRIC_NAMES)}")
    return names


def _allowed(op: str, value: float, is_abs: bool) -> tuple[float, float]:
    if is_abs:
        if op in ("<", "<="):  # |x| < v is the violation: allowed outside (-v, v)
            raise ValueError(MSG_RULE_SYNTAX.format(text=f"abs(...){op}{value}"))
        return -value, value
    if op in ("<", "<="):
        return value, math.inf
    return -math.inf, value
