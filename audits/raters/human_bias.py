"""Human bias in reviews: reviewer severity, differential rater functioning, the report.

Severity (:func:`reviewer_severity`)
    For each rating, the *leave-one-out consensus* is the mean label of the other
    reviewers of the same case; the rating's difference is ``consensus - label``. A
    reviewer's severity is the mean difference over their cases (cases nobody else rated
    drop out): positive means harsher than the panel (fewer positive decisions on the
    same cases), negative more lenient. Comparing within cases removes the difficulty
    and the group mix of the cases each reviewer happened to get.

    *Interval*: percentile bootstrap over the reviewer's cases. *Test*: a within-case
    permutation test. Under the null that on each case the reviewer's rating is
    exchangeable with the other ratings of that case (the reviewer is like a panel
    member drawn at random), the reviewer's difference on a case is equally likely to be
    any of the case's differences, which sum to zero. Each permutation draws one of them
    per case; ``p = (1 + #{|perm| >= |obs|}) / (1 + n_permutations)``. This test is
    exact for any prevalence; a sign-flip test would assume the differences symmetric
    about zero, which fails whenever the positive rate is not one half.
    *Adjustment*: Holm across reviewers. Flagging names a person, so the chance of
    flagging *anyone* wrongly is held at ``alpha`` (family-wise error), however many
    other reviewers are truly biased; Benjamini-Hochberg would only bound the share of
    wrong flags.

Differential rater functioning (:func:`differential_rater_functioning`)
    Whether reviewers of background group ``g`` treat cases of subject group ``s``
    differently from the other reviewers, over and above how they treat everyone. On each
    case rated by at least one reviewer in ``g`` and one not in ``g``,
    ``d = mean label of g - mean label of the others``;
    ``effect(g, s) = mean d over cases of s - mean d over the other cases`` (a difference
    in differences, so neither the case mix nor a group's overall severity enters).
    *Test*: the background labels are permuted across reviewers (each reviewer keeps all
    their ratings), ``p = (1 + #{|perm| >= |obs|}) / (1 + n_permutations)``, two-sided;
    Benjamini-Hochberg over every ``(g, s)`` cell, since these cells describe groups,
    not persons. The permutations run as matrix products over a case x reviewer layout.

The report (:func:`reviewer_report`) is the JSON contract of ``fairpanel reviewers``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from audits.fairness.intervals import percentile_interval
from audits.fairness.significance import benjamini_hochberg, holm
from audits.raters.automation import automation_bias
from audits.raters.ratings import check_options, leave_one_out, prepare_ratings

__all__ = ["differential_rater_functioning", "reviewer_report", "reviewer_severity"]

MSG_UNGROUPED = "rater_groups has no group for reviewer(s) {reviewers}"
MSG_ONE_GROUP = "rater_groups must put the reviewers in at least two groups; got {groups}"
MSG_GROUPS_TYPE = "rater_groups must be a mapping reviewer_id -> group, got {kind}"
CHUNK = 250
#: Most resample draws (n_boot x ratings) made in one call: 4 million int64, 32 MB.
_CHUNK_CELLS = 4_000_000


def reviewer_severity(ratings: pd.DataFrame, *, n_boot: int = 1000,
                      n_permutations: int = 2000, level: float = 0.95, alpha: float = 0.05,
                      random_state: int = 0,
                      columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Estimate and test each reviewer's severity relative to the rest of the panel.

    The method (leave-one-out consensus, bootstrap interval, within-case permutation
    test, Holm) is described in the module docstring.

    Parameters
    ----------
    ratings : pandas.DataFrame of shape (n_ratings, n_columns)
        ``case_id, reviewer_id, label``; see :mod:`audits.raters.ratings`.
    n_boot : int, default 1000
        Bootstrap replicates of each reviewer's interval (0: no interval).
    n_permutations : int, default 2000
        Permutations of each reviewer's test (at least 1). With ``m`` reviewers, Holm can
        flag only if ``m / (1 + n_permutations) < alpha``.
    level, alpha : float, default 0.95 and 0.05
    random_state : int, default 0
    columns : mapping role -> column name, or None

    Returns
    -------
    pandas.DataFrame
        One row per reviewer (sorted): ``reviewer_id, n`` (cases with another rating),
        ``severity, ci_low, ci_high, p_value, p_adjusted`` (Holm), ``flagged``
        (``p_adjusted < alpha``). NaN where ``n`` is 0.

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 2], "reviewer_id": list("abcabc"),
    ...                    "label": [0, 1, 1, 0, 1, 0]})
    >>> out = reviewer_severity(df, n_boot=50, n_permutations=50)
    >>> out[["reviewer_id", "n", "severity"]]
      reviewer_id  n  severity
    0           a  2      0.75
    1           b  2     -0.75
    2           c  2      0.00
    """
    check_options(ints={"n_boot": (n_boot, 0), "n_permutations": (n_permutations, 1)},
                  units={"level": level, "alpha": alpha})
    data = prepare_ratings(ratings, columns)
    consensus, _ = leave_one_out(data)
    keep = ~np.isnan(consensus)
    diff = consensus[keep] - data["label"].to_numpy(dtype=np.float64)[keep]
    cases, _ = pd.factorize(data["case_id"].to_numpy()[keep])
    order = np.argsort(cases, kind="stable")
    sizes = np.bincount(cases)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    reviewers = data["reviewer_id"].to_numpy()[keep]
    rng = np.random.default_rng(random_state)
    rows = []
    for reviewer in sorted(pd.unique(data["reviewer_id"]), key=str):
        mine = reviewers == reviewer
        rows.append(_one_reviewer(reviewer, diff[mine], starts[cases[mine]],
                                  sizes[cases[mine]], diff[order], rng,
                                  n_boot=n_boot, n_permutations=n_permutations, level=level))
    table = pd.DataFrame(rows)
    table["p_adjusted"] = holm(table["p_value"].to_numpy())
    table["flagged"] = (table["p_adjusted"] < alpha).to_numpy()
    return table


def differential_rater_functioning(
    ratings: pd.DataFrame, rater_groups: Mapping[Any, str], *, n_permutations: int = 2000,
    alpha: float = 0.05, random_state: int = 0, columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Test whether reviewer groups treat subject groups differently (within cases).

    The difference-in-differences effect and its permutation test are described in the
    module docstring. Reviewers are laid out in sorted order of their ids, and the
    permutations are ``argsort(rng.random((n_permutations, n_reviewers)), axis=1)``.

    Parameters
    ----------
    ratings : pandas.DataFrame
        ``case_id, reviewer_id, label, subject_group``.
    rater_groups : mapping reviewer_id -> str
        Background group of every reviewer in ``ratings`` (at least two groups).
    n_permutations : int, default 2000
    alpha : float, default 0.05
    random_state : int, default 0
    columns : mapping role -> column name, or None

    Returns
    -------
    pandas.DataFrame
        One row per (rater group, subject group): ``rater_group, subject_group, effect,
        p_value, p_adjusted`` (Benjamini-Hochberg), ``flagged`` (``p_adjusted < alpha``),
        ``n_cases`` (cases of that subject group with both kinds of reviewer).

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 1, 2, 2], "reviewer_id": ["a", "b"] * 2,
    ...                    "label": [1, 1, 0, 1], "subject_group": ["x", "x", "y", "y"]})
    >>> out = differential_rater_functioning(df, {"a": "g", "b": "h"}, n_permutations=10)
    >>> out[["rater_group", "subject_group", "effect", "n_cases"]]
      rater_group subject_group  effect  n_cases
    0           g             x     1.0        1
    1           g             y    -1.0        1
    2           h             x    -1.0        1
    3           h             y     1.0        1
    """
    check_options(ints={"n_permutations": (n_permutations, 1)}, units={"alpha": alpha})
    data = prepare_ratings(ratings, columns, required=("subject_group",))
    reviewers, groups = _group_codes(data, rater_groups)
    names = np.array(sorted(set(groups), key=str), dtype=object)
    codes = np.searchsorted(names, groups)
    layout = _Layout.build(data, reviewers)
    observed, n_cases = _did(layout, codes[None, :], len(names))
    rng = np.random.default_rng(random_state)
    perms = _reviewer_permutations(len(reviewers), n_permutations, rng)
    exceed = np.zeros(observed.shape[1:])
    for start in range(0, n_permutations, CHUNK):
        effects, _ = _did(layout, codes[perms[start:start + CHUNK]], len(names))
        exceed += _at_least(effects, observed[0]).sum(axis=0)
    p = np.where(np.isnan(observed[0]), np.nan, (1 + exceed) / (1 + n_permutations))
    g, s = np.meshgrid(np.arange(len(names)), np.arange(len(layout.subjects)), indexing="ij")
    table = pd.DataFrame({"rater_group": names[g.ravel()],
                          "subject_group": layout.subjects[s.ravel()],
                          "effect": observed[0].ravel(), "p_value": p.ravel()})
    table["p_adjusted"] = benjamini_hochberg(table["p_value"].to_numpy())
    table["flagged"] = (table["p_adjusted"] < alpha).to_numpy()
    table["n_cases"] = n_cases[0].ravel().astype(np.int64)
    return table


def reviewer_report(ratings: pd.DataFrame, *, rater_groups: Mapping[Any, str] | None = None,
                    n_boot: int = 1000, n_permutations: int = 2000, level: float = 0.95,
                    alpha: float = 0.05, random_state: int = 0,
                    columns: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Summarise reviewer bias as the JSON contract of ``fairpanel reviewers``.

    ``{"reviewers": [{"reviewer_id", "n", "severity": {"value", "ci_low", "ci_high"},
    "flagged"}], "interactions": [{"rater_group", "subject_group", "effect", "p_value",
    "p_adjusted", "flagged"}], "automation_bias": {"value", "ci_low", "ci_high"} or
    None}``. Reviewer ids become strings and NaN becomes None. ``interactions`` is empty
    without ``rater_groups`` or a ``subject_group`` column; ``automation_bias`` is None
    without ``model_shown`` and ``model_decision`` columns.

    Parameters
    ----------
    ratings : pandas.DataFrame
    rater_groups : mapping reviewer_id -> str, or None
    n_boot, n_permutations, level, alpha, random_state, columns
        As in :func:`reviewer_severity`.

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 1, 2, 2], "reviewer_id": [7, 8, 7, 8],
    ...                    "label": [1, 1, 0, 1]})
    >>> out = reviewer_report(df, n_boot=20, n_permutations=20)
    >>> out["reviewers"][0]["reviewer_id"], out["interactions"], out["automation_bias"]
    ('7', [], None)
    """
    data = prepare_ratings(ratings, columns)
    severity = reviewer_severity(data, n_boot=n_boot, n_permutations=n_permutations,
                                 level=level, alpha=alpha, random_state=random_state)
    reviewers = [{"reviewer_id": str(r.reviewer_id), "n": int(r.n),
                  "severity": _triple(r.severity, r.ci_low, r.ci_high),
                  "flagged": bool(r.flagged)} for r in severity.itertuples(index=False)]
    interactions: list[dict[str, Any]] = []
    if rater_groups is not None and "subject_group" in data:
        drf = differential_rater_functioning(data, rater_groups, n_permutations=n_permutations,
                                             alpha=alpha, random_state=random_state)
        interactions = [{"rater_group": str(r.rater_group), "subject_group": str(r.subject_group),
                         "effect": _num(r.effect), "p_value": _num(r.p_value),
                         "p_adjusted": _num(r.p_adjusted), "flagged": bool(r.flagged)}
                        for r in drf.itertuples(index=False)]
    bias = None
    if {"model_shown", "model_decision"} <= set(data.columns):
        est = automation_bias(data, n_boot=n_boot, level=level, random_state=random_state)
        bias = _triple(est.value, est.ci_low, est.ci_high)
    return {"reviewers": reviewers, "interactions": interactions, "automation_bias": bias}


def _one_reviewer(reviewer: Any, diff: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                  pool: np.ndarray, rng: np.random.Generator, *, n_boot: int,
                  n_permutations: int, level: float) -> dict[str, Any]:
    n = len(diff)
    row = {"reviewer_id": reviewer, "n": n, "severity": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "p_value": np.nan}
    if n == 0:
        return row
    row["severity"] = obs = float(diff.mean())
    if n_boot:
        boot = _bootstrap_means(diff, n_boot, rng)
        low, high = percentile_interval(boot, level=level)
        row["ci_low"], row["ci_high"] = float(low), float(high)
    picks = starts + np.floor(rng.random((n_permutations, n)) * sizes).astype(np.int64)
    null = pool[picks].mean(axis=1)
    row["p_value"] = float((1 + _at_least(null, obs).sum()) / (1 + n_permutations))
    return row


def _bootstrap_means(diff: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``diff``, drawn in chunks of bounded memory.

    Up to ``_CHUNK_CELLS`` draws are made in one call (the same stream as before chunks
    existed); beyond that, chunks keep memory at about 32 MB whatever ``n_boot`` is.
    """
    n = len(diff)
    step = max(1, _CHUNK_CELLS // n)
    if n_boot <= step:
        return np.asarray(diff[rng.integers(0, n, (n_boot, n))].mean(axis=1))
    return np.concatenate([diff[rng.integers(0, n, (min(step, n_boot - start), n))]
                           .mean(axis=1) for start in range(0, n_boot, step)])


def _at_least(null: np.ndarray, observed: np.ndarray | float) -> np.ndarray:
    """``|null| >= |observed|`` with a tolerance for float noise (NaN counts as False)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.abs(null) >= np.abs(observed) - 1e-12)


def _reviewer_permutations(n_reviewers: int, n_permutations: int,
                           rng: np.random.Generator) -> np.ndarray:
    return np.argsort(rng.random((n_permutations, n_reviewers)), axis=1)


def _group_codes(data: pd.DataFrame, rater_groups: Mapping[Any, str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(rater_groups, Mapping):
        raise TypeError(MSG_GROUPS_TYPE.format(kind=type(rater_groups).__name__))
    reviewers = np.array(sorted(pd.unique(data["reviewer_id"]), key=str), dtype=object)
    lookup = {str(k): v for k, v in rater_groups.items()}
    missing = [r for r in reviewers if r not in rater_groups and str(r) not in lookup]
    if missing:
        raise ValueError(MSG_UNGROUPED.format(reviewers=missing[:10]))
    groups = np.array([str(rater_groups.get(r, lookup.get(str(r)))) for r in reviewers],
                      dtype=object)
    if len(set(groups)) < 2:
        raise ValueError(MSG_ONE_GROUP.format(groups=sorted(set(groups))))
    return reviewers, groups


class _Layout:
    """Case x reviewer matrices of labels and of who rated what, and case subject codes."""

    def __init__(self, labels: np.ndarray, rated: np.ndarray, subject: np.ndarray,
                 subjects: np.ndarray) -> None:
        self.labels, self.rated, self.subjects = labels, rated, subjects
        self.onehot = (subject[:, None] == np.arange(len(subjects))[None, :]).astype(float)
        self.total, self.count = labels.sum(axis=1), rated.sum(axis=1)

    @classmethod
    def build(cls, data: pd.DataFrame, reviewers: np.ndarray) -> _Layout:
        case, cases = pd.factorize(data["case_id"])
        col = pd.Index(reviewers).get_indexer(data["reviewer_id"])
        labels = np.zeros((len(cases), len(reviewers)))
        rated = np.zeros_like(labels)
        labels[case, col] = data["label"].to_numpy(dtype=np.float64)
        rated[case, col] = 1.0
        per_case = data.groupby(case)["subject_group"].first().to_numpy()
        subjects = np.array(sorted(set(per_case)), dtype=object)
        return cls(labels, rated, np.searchsorted(subjects, per_case), subjects)


def _did(layout: _Layout, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Effects and case counts of shape (n_labellings, n_groups, n_subjects)."""
    effects, counts = [], []
    for g in range(n_groups):
        member = (codes == g).T.astype(float)  # (n_reviewers, n_labellings)
        n_in = layout.rated @ member
        sum_in = layout.labels @ member
        n_out = layout.count[:, None] - n_in
        valid = (n_in > 0) & (n_out > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(valid, sum_in / n_in - (layout.total[:, None] - sum_in) / n_out, 0.0)
            num, den = d.T @ layout.onehot, valid.T.astype(float) @ layout.onehot
            rest_num = num.sum(axis=1, keepdims=True) - num
            rest_den = den.sum(axis=1, keepdims=True) - den
            effects.append(num / den - rest_num / rest_den)
        counts.append(den)
    return np.stack(effects, axis=1), np.stack(counts, axis=1)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    x = float(value)
    return None if math.isnan(x) or math.isinf(x) else x


def _triple(value: Any, low: Any, high: Any) -> dict[str, float | None]:
    return {"value": _num(value), "ci_low": _num(low), "ci_high": _num(high)}
