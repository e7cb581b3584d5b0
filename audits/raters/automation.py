"""Automation bias: how showing the model's decision changes reviewers' decisions.

Automation bias (:func:`automation_bias`, :func:`over_reliance`)
    Whether the model's decision was shown is randomised per assignment, so the
    difference in means ``P(label == model_decision | shown) - P(label == model_decision
    | hidden)`` is an unbiased estimate of the effect of showing it on agreement with it.
    Ratings of one reviewer are not independent, so intervals resample *reviewers* with
    replacement (cluster bootstrap, percentile interval; replicate ``b`` takes reviewer
    ``j``, in sorted order of their ids as text, ``W[b, j]`` times, where ``W =
    rng.multinomial(n_reviewers, [1 / n_reviewers] * n_reviewers, size=n_boot)``); a
    single reviewer's interval resamples that reviewer's shown and hidden ratings.
    ``copy_rate = effect / P(disagree | hidden)`` is the share of would-be disagreements
    that showing the model turns into agreement (the ``automation_bias`` of
    :class:`audits.panel.simulation.SimulatedReviewer`, when reviewers copy the model at that
    rate). :func:`over_reliance` is the same effect
    on the cases where the model was wrong (known ``truth`` different from its decision):
    how much more often a shown wrong decision is followed.

    Heterogeneity across subject groups (:func:`automation_bias_heterogeneity`): a Wald
    test that all group effects are equal, ``Q = (C t)' (C S C')^+ (C t)`` with ``t`` the
    group effects, ``C`` the contrasts of each group with the first and ``S`` their
    covariance over the same reviewer-cluster bootstrap replicates (so a reviewer who
    rates several groups is accounted for); ``p`` from chi-square with ``k - 1`` degrees
    of freedom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from audits.fairness.intervals import percentile_interval
from audits.raters.ratings import check_options, prepare_ratings

__all__ = ["AutomationEffect", "HeterogeneityTest", "automation_bias",
           "automation_bias_heterogeneity", "over_reliance"]

MSG_BY = "by must be None, 'reviewer_id' or 'subject_group'; got {value!r}"
MSG_NO_WRONG = "no rating has a known truth different from the model's decision"
MSG_FEW_GROUPS = "heterogeneity needs at least two subject groups; got {groups}"


@dataclass(frozen=True)
class AutomationEffect:
    """Effect of showing the model's decision on agreement with it.

    Attributes
    ----------
    value, ci_low, ci_high : float
        ``P(agree | shown) - P(agree | hidden)`` and its interval.
    copy_rate, copy_rate_ci_low, copy_rate_ci_high : float
        ``value / (1 - P(agree | hidden))`` and its interval.
    agree_shown, agree_hidden : float
    n_shown, n_hidden, n_reviewers : int
    """

    value: float
    ci_low: float
    ci_high: float
    copy_rate: float
    copy_rate_ci_low: float
    copy_rate_ci_high: float
    agree_shown: float
    agree_hidden: float
    n_shown: int
    n_hidden: int
    n_reviewers: int


@dataclass(frozen=True)
class HeterogeneityTest:
    """Wald test that the automation-bias effect is equal across subject groups."""

    statistic: float
    df: int
    p_value: float
    method: str


def automation_bias(ratings: pd.DataFrame, *, by: str | None = None, n_boot: int = 2000,
                    level: float = 0.95, random_state: int = 0,
                    columns: Mapping[str, str] | None = None
                    ) -> AutomationEffect | pd.DataFrame:
    """Estimate how much showing the model's decision raises agreement with it.

    See the module docstring for the estimate and the cluster bootstrap.

    Parameters
    ----------
    ratings : pandas.DataFrame
        ``case_id, reviewer_id, label, model_shown, model_decision`` (and
        ``subject_group`` for ``by="subject_group"``).
    by : None, "reviewer_id" or "subject_group", default None
        None: one :class:`AutomationEffect`; otherwise a table with one row per value.
    n_boot : int, default 2000
    level : float, default 0.95
    random_state : int, default 0
    columns : mapping role -> column name, or None

    Returns
    -------
    AutomationEffect or pandas.DataFrame
        The table has the key column (``reviewer_id`` or ``subject_group``) and the
        fields of :class:`AutomationEffect`.

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 2, 3, 4] * 2, "reviewer_id": list("aaaabbbb"),
    ...                    "label": [1, 1, 0, 1, 1, 0, 1, 0],
    ...                    "model_decision": [1, 1, 1, 1, 1, 1, 1, 1],
    ...                    "model_shown": [True, True, False, False] * 2})
    >>> est = automation_bias(df, n_boot=100)
    >>> est.value, est.agree_shown, est.agree_hidden
    (0.25, 0.75, 0.5)
    """
    if by not in (None, "reviewer_id", "subject_group"):
        raise ValueError(MSG_BY.format(value=by))
    check_options(ints={"n_boot": (n_boot, 0)}, units={"level": level})
    need = ["model_shown", "model_decision"] + (["subject_group"] if by == "subject_group"
                                                  else [])
    data = prepare_ratings(ratings, columns, required=need)
    return _automation(data, by, n_boot=n_boot, level=level, random_state=random_state)


def over_reliance(ratings: pd.DataFrame, *, by: str | None = None, n_boot: int = 2000,
                  level: float = 0.95, random_state: int = 0,
                  columns: Mapping[str, str] | None = None
                  ) -> AutomationEffect | pd.DataFrame:
    """The automation-bias effect on cases where the model was wrong.

    :func:`automation_bias` restricted to ratings whose ``truth`` is known and differs
    from ``model_decision``: the rise in following a wrong decision when it is shown.

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 2, 3, 4] * 2, "reviewer_id": list("aaaabbbb"),
    ...                    "label": [1, 1, 0, 1, 1, 0, 0, 0], "truth": [0] * 8,
    ...                    "model_decision": [1] * 8,
    ...                    "model_shown": [True, True, False, False] * 2})
    >>> over_reliance(df, n_boot=100).value
    0.5
    """
    if by not in (None, "reviewer_id", "subject_group"):
        raise ValueError(MSG_BY.format(value=by))
    check_options(ints={"n_boot": (n_boot, 0)}, units={"level": level})
    need = ["model_shown", "model_decision", "truth"] + (
        ["subject_group"] if by == "subject_group" else [])
    data = prepare_ratings(ratings, columns, required=need)
    wrong = data["truth"].notna() & (data["truth"] != data["model_decision"])
    if not wrong.any():
        raise ValueError(MSG_NO_WRONG)
    return _automation(data[wrong.to_numpy()], by, n_boot=n_boot, level=level,
                       random_state=random_state)


def automation_bias_heterogeneity(ratings: pd.DataFrame, *, n_boot: int = 2000,
                                  random_state: int = 0,
                                  columns: Mapping[str, str] | None = None
                                  ) -> HeterogeneityTest:
    """Test whether the automation-bias effect differs between subject groups.

    Wald test with a reviewer-cluster bootstrap covariance (module docstring).

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": list(range(8)) * 2, "reviewer_id": ["a"] * 8 + ["b"] * 8,
    ...                    "label": [1, 0] * 8, "model_decision": [1] * 16,
    ...                    "model_shown": [True, True, False, False] * 4,
    ...                    "subject_group": ["x"] * 4 + ["y"] * 4 + ["x"] * 4 + ["y"] * 4})
    >>> automation_bias_heterogeneity(df, n_boot=50).df
    1
    """
    check_options(ints={"n_boot": (n_boot, 2)})
    data = prepare_ratings(ratings, columns,
                           required=("model_shown", "model_decision", "subject_group"))
    groups = np.array(sorted(pd.unique(data["subject_group"])), dtype=object)
    if len(groups) < 2:
        raise ValueError(MSG_FEW_GROUPS.format(groups=groups.tolist()))
    sums = _cluster_sums(data, groups)  # (n_reviewers, n_groups, 4)
    effect = _effect(sums.sum(axis=0))
    reps = _effect(np.einsum("br,rgk->bgk", _weights(len(sums), n_boot, random_state), sums))
    contrast = np.eye(len(groups))[1:] - np.eye(len(groups))[0]
    diff = contrast @ effect
    ok = ~np.isnan(reps).any(axis=1)
    cov = np.atleast_2d(np.cov((reps[ok] @ contrast.T).T))
    q = float(diff @ np.linalg.pinv(cov) @ diff)
    df = len(groups) - 1
    return HeterogeneityTest(statistic=q, df=df, p_value=float(stats.chi2.sf(q, df)),
                             method="Wald, reviewer-cluster bootstrap covariance")


def _automation(data: pd.DataFrame, by: str | None, *, n_boot: int, level: float,
                random_state: int) -> AutomationEffect | pd.DataFrame:
    if by is None:
        sums = _cluster_sums(data, None)[:, 0, :]
        return _clustered(sums, n_boot, level, random_state)
    rows = []
    for key in sorted(pd.unique(data[by]), key=str):
        part = data[(data[by] == key).to_numpy()]
        sums = _cluster_sums(part, None)[:, 0, :]
        est = (_within(sums.sum(axis=0), n_boot, level, random_state) if by == "reviewer_id"
               else _clustered(sums, n_boot, level, random_state))
        rows.append({by: key} | vars(est))
    return pd.DataFrame(rows)


def _cluster_sums(data: pd.DataFrame, groups: np.ndarray | None) -> np.ndarray:
    """Per reviewer (and subject group): agree shown, n shown, agree hidden, n hidden."""
    reviewer, _ = pd.factorize(data["reviewer_id"].astype(str), sort=True)
    group = (np.zeros(len(data), dtype=np.int64) if groups is None
             else np.searchsorted(groups, data["subject_group"].to_numpy()))
    n_groups = 1 if groups is None else len(groups)
    agree = (data["label"].to_numpy() == data["model_decision"].to_numpy()).astype(float)
    shown = data["model_shown"].to_numpy() == 1
    cell = reviewer * n_groups + group
    size = (reviewer.max() + 1) * n_groups
    parts = [np.bincount(cell, weights=w, minlength=size)
             for w in (agree * shown, shown * 1.0, agree * ~shown, ~shown * 1.0)]
    return np.stack(parts, axis=1).reshape(-1, n_groups, 4)


def _effect(sums: np.ndarray) -> np.ndarray:
    """Effect from sums whose last axis is (agree shown, n shown, agree hidden, n hidden)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(sums[..., 0] / sums[..., 1] - sums[..., 2] / sums[..., 3])


def _copy(sums: np.ndarray) -> np.ndarray:
    """Copy rate; NaN where the reviewers never disagreed with the hidden model."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = _effect(sums) / (1.0 - sums[..., 2] / sums[..., 3])
    return np.asarray(np.where(np.isfinite(rate), rate, np.nan))


def _weights(n_clusters: int, n_boot: int, random_state: int) -> np.ndarray:
    rng = np.random.default_rng(random_state)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot)


def _clustered(sums: np.ndarray, n_boot: int, level: float,
               random_state: int) -> AutomationEffect:
    reps = _weights(len(sums), n_boot, random_state) @ sums if n_boot else None
    return _summary(sums.sum(axis=0), reps, len(sums), level)


def _within(total: np.ndarray, n_boot: int, level: float, random_state: int
            ) -> AutomationEffect:
    rng = np.random.default_rng(random_state)
    reps = None
    if n_boot:
        with np.errstate(invalid="ignore", divide="ignore"):
            shown = rng.binomial(int(total[1]), np.nan_to_num(total[0] / total[1]), n_boot)
            hidden = rng.binomial(int(total[3]), np.nan_to_num(total[2] / total[3]), n_boot)
        reps = np.stack([shown, np.full(n_boot, total[1]), hidden,
                         np.full(n_boot, total[3])], axis=1).astype(float)
    return _summary(total, reps, 1, level)


def _summary(total: np.ndarray, reps: np.ndarray | None, n_reviewers: int,
             level: float) -> AutomationEffect:
    lo = hi = clo = chi = np.nan
    if reps is not None:
        lo, hi = (float(x) for x in percentile_interval(_effect(reps), level=level))
        clo, chi = (float(x) for x in percentile_interval(_copy(reps), level=level))
    with np.errstate(divide="ignore", invalid="ignore"):
        shown, hidden = total[0] / total[1], total[2] / total[3]
    return AutomationEffect(
        value=float(_effect(total)), ci_low=lo, ci_high=hi, copy_rate=float(_copy(total)),
        copy_rate_ci_low=clo, copy_rate_ci_high=chi, agree_shown=float(shown),
        agree_hidden=float(hidden), n_shown=int(total[1]), n_hidden=int(total[3]),
        n_reviewers=n_reviewers)
