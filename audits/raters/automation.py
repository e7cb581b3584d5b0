"""Automation bias: how showing the model's decision changes reviewers' decisions.

Automation bias (:func:`automation_bias`, :func:`over_reliance`)
    Whether the model's decision was shown is randomised per assignment, so the
    difference in means ``P(label == model_decision | shown) - P(label == model_decision
    | hidden)`` is an unbiased estimate of the effect of showing it on agreement with it.
    Ratings of one reviewer are not independent, so the interval treats *reviewers* as
    the sampling unit: a delete-one-reviewer jackknife standard error (the CR3
    cluster-robust variance, ``(G - 1) / G * sum_j (t_(-j) - mean)^2``) with a ``t``
    quantile on ``G - 1`` degrees of freedom, ``G`` the number of reviewers
    (``interval="jackknife"``, the default). A reviewer-cluster percentile bootstrap
    (``interval="bootstrap"``: replicate ``b`` takes reviewer ``j``, in sorted order of
    their ids as text, ``W[b, j]`` times, ``W = rng.multinomial(G, [1 / G] * G,
    size=n_boot)``) is kept for comparison: it under-covers with few reviewers (80.8%,
    86.0% and 93.2% of nominal 95% with 4, 6 and 20 reviewers, against 95.5%, 94.7%
    and 95.3% for the jackknife; 2,000 simulated panels each, docs/statistics.md). A
    single reviewer's ratings are independent given the reviewer: the effect gets
    Newcombe's hybrid score interval (Wilson intervals of the shown and hidden agreement)
    and the copy rate ``1 - RR`` the Katz log interval of the ratio ``RR`` of
    disagreement rates (0.5 added to each count when one is 0 or n); the parametric
    bootstrap used before covered 61% with 10 ratings per arm at 90% agreement.
    ``copy_rate = effect / P(disagree | hidden)`` is the share of would-be disagreements
    that showing the model turns into agreement (the ``automation_bias`` of
    :class:`audits.panel.simulation.SimulatedReviewer`, when reviewers copy the model at that
    rate). :func:`over_reliance` is the same effect
    on the cases where the model was wrong (known ``truth`` different from its decision):
    how much more often a shown wrong decision is followed.

    Heterogeneity across subject groups (:func:`automation_bias_heterogeneity`): a Wald
    test that all group effects are equal, ``Q = (C t)' (C S C')^+ (C t)`` with ``t`` the
    group effects, ``C`` the contrasts of each group with the first and ``S`` their
    delete-one-reviewer jackknife covariance (so a reviewer who rates several groups is
    accounted for); with ``q = k - 1`` contrasts, ``p`` is from Hotelling's small-sample
    form ``F = Q (G - q) / (q (G - 1))`` on ``(q, G - q)`` degrees of freedom (a
    chi-square reference with a bootstrap covariance rejected 14.8-36.1% of null panels
    of 4-6 reviewers at 5%; this rejects 4.8-5.8% with 4-20 reviewers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from audits.fairness.intervals import newcombe_difference, percentile_interval, wilson_interval
from audits.raters.ratings import check_options, prepare_ratings

__all__ = ["INTERVALS", "AutomationEffect", "HeterogeneityTest", "automation_bias",
           "automation_bias_heterogeneity", "over_reliance"]

INTERVALS = ("jackknife", "bootstrap")
MSG_BY = "by must be None, 'reviewer_id' or 'subject_group'; got {value!r}"
MSG_INTERVAL = "interval must be one of {allowed}; got {value!r}"
MSG_NO_WRONG = "no rating has a known truth different from the model's decision"
MSG_FEW_GROUPS = "heterogeneity needs at least two subject groups; got {groups}"
METHODS = {"jackknife": "reviewer jackknife, t on G - 1 df",
           "bootstrap": "reviewer-cluster percentile bootstrap",
           "single": "one reviewer: Newcombe (effect), Katz log ratio (copy rate)"}


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
    method : str
        How the intervals were computed (see the module docstring).
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
    method: str = METHODS["jackknife"]


@dataclass(frozen=True)
class HeterogeneityTest:
    """Wald test that the automation-bias effect is equal across subject groups.

    ``df`` is the numerator degrees of freedom (``k - 1``) and ``df_denominator`` that of
    the F reference (``G - k + 1``; NaN for the chi-square reference of the bootstrap).
    """

    statistic: float
    df: int
    p_value: float
    method: str
    df_denominator: float = float("nan")


def automation_bias(ratings: pd.DataFrame, *, by: str | None = None, n_boot: int = 2000,
                    level: float = 0.95, random_state: int = 0,
                    columns: Mapping[str, str] | None = None, interval: str = "jackknife",
                    ) -> AutomationEffect | pd.DataFrame:
    """Estimate how much showing the model's decision raises agreement with it.

    See the module docstring for the estimate and its intervals.

    Parameters
    ----------
    ratings : pandas.DataFrame
        ``case_id, reviewer_id, label, model_shown, model_decision`` (and
        ``subject_group`` for ``by="subject_group"``).
    by : None, "reviewer_id" or "subject_group", default None
        None: one :class:`AutomationEffect`; otherwise a table with one row per value.
    n_boot : int, default 2000
        Replicates of ``interval="bootstrap"`` (0: NaN intervals); unused otherwise.
    level : float, default 0.95
    random_state : int, default 0
    columns : mapping role -> column name, or None
    interval : {"jackknife", "bootstrap"}, default "jackknife"
        Reviewer jackknife with ``t`` on ``G - 1`` df, or the reviewer-cluster
        percentile bootstrap (under-covers with few reviewers).

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
    >>> est = automation_bias(df)
    >>> est.value, est.agree_shown, est.agree_hidden
    (0.25, 0.75, 0.5)
    """
    _check(by, interval, n_boot, level)
    need = ["model_shown", "model_decision"] + (["subject_group"] if by == "subject_group"
                                                  else [])
    data = prepare_ratings(ratings, columns, required=need)
    return _automation(data, by, _Options(interval, n_boot, level, random_state))


def over_reliance(ratings: pd.DataFrame, *, by: str | None = None, n_boot: int = 2000,
                  level: float = 0.95, random_state: int = 0,
                  columns: Mapping[str, str] | None = None, interval: str = "jackknife",
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
    >>> over_reliance(df).value
    0.5
    """
    _check(by, interval, n_boot, level)
    need = ["model_shown", "model_decision", "truth"] + (
        ["subject_group"] if by == "subject_group" else [])
    data = prepare_ratings(ratings, columns, required=need)
    wrong = data["truth"].notna() & (data["truth"] != data["model_decision"])
    if not wrong.any():
        raise ValueError(MSG_NO_WRONG)
    return _automation(data[wrong.to_numpy()], by,
                       _Options(interval, n_boot, level, random_state))


def automation_bias_heterogeneity(ratings: pd.DataFrame, *, n_boot: int = 2000,
                                  random_state: int = 0,
                                  columns: Mapping[str, str] | None = None,
                                  interval: str = "jackknife") -> HeterogeneityTest:
    """Test whether the automation-bias effect differs between subject groups.

    Wald test with a reviewer-jackknife covariance and Hotelling's F reference (module
    docstring); ``interval="bootstrap"`` gives the older bootstrap-covariance chi-square
    test (``n_boot`` replicates), which over-rejects with few reviewers.

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": list(range(8)) * 3,
    ...                    "reviewer_id": ["a"] * 8 + ["b"] * 8 + ["c"] * 8,
    ...                    "label": [1, 0] * 12, "model_decision": [1] * 24,
    ...                    "model_shown": [True, True, False, False] * 6,
    ...                    "subject_group": (["x"] * 4 + ["y"] * 4) * 3})
    >>> test = automation_bias_heterogeneity(df)
    >>> test.df, test.df_denominator
    (1, 2.0)
    """
    check_options(ints={"n_boot": (n_boot, 2)})
    _check(None, interval, n_boot, 0.95)
    data = prepare_ratings(ratings, columns,
                           required=("model_shown", "model_decision", "subject_group"))
    groups = np.array(sorted(pd.unique(data["subject_group"])), dtype=object)
    if len(groups) < 2:
        raise ValueError(MSG_FEW_GROUPS.format(groups=groups.tolist()))
    return _heterogeneity(_cluster_sums(data, groups), interval, n_boot, random_state)


def _heterogeneity(sums: np.ndarray, interval: str, n_boot: int,
                   random_state: int) -> HeterogeneityTest:
    """The test from per-reviewer, per-group sums, shape (n_reviewers, n_groups, 4)."""
    n_rev, n_groups = sums.shape[:2]
    contrast = np.eye(n_groups)[1:] - np.eye(n_groups)[0]
    diff = contrast @ _effect(sums.sum(axis=0))
    q = n_groups - 1
    if interval == "bootstrap":
        w = _weights(n_rev, n_boot, random_state)
        reps = _effect(np.einsum("br,rgk->bgk", w, sums)) @ contrast.T
        cov = np.atleast_2d(np.cov(reps[~np.isnan(reps).any(axis=1)].T))
        stat = float(diff @ np.linalg.pinv(cov) @ diff)
        return HeterogeneityTest(statistic=stat, df=q, p_value=float(stats.chi2.sf(stat, q)),
                                 method="Wald, reviewer-cluster bootstrap covariance")
    loo = _effect(sums.sum(axis=0)[None] - sums) @ contrast.T  # (n_reviewers, q)
    stat, p, df2 = float("nan"), float("nan"), float(n_rev - q)
    if n_rev > q and not np.isnan(loo).any():
        dev = loo - loo.mean(axis=0)
        cov = (n_rev - 1) / n_rev * dev.T @ dev
        stat = float(diff @ np.linalg.pinv(np.atleast_2d(cov)) @ diff)
        p = float(stats.f.sf(stat * (n_rev - q) / (q * (n_rev - 1)), q, n_rev - q))
    return HeterogeneityTest(statistic=stat, df=q, p_value=p, df_denominator=df2,
                             method="Wald, reviewer jackknife covariance, Hotelling F")


@dataclass(frozen=True)
class _Options:
    interval: str
    n_boot: int
    level: float
    random_state: int


def _check(by: str | None, interval: str, n_boot: int, level: float) -> None:
    if by not in (None, "reviewer_id", "subject_group"):
        raise ValueError(MSG_BY.format(value=by))
    if interval not in INTERVALS:
        raise ValueError(MSG_INTERVAL.format(allowed=INTERVALS, value=interval))
    check_options(ints={"n_boot": (n_boot, 0)}, units={"level": level})


def _automation(data: pd.DataFrame, by: str | None,
                opts: _Options) -> AutomationEffect | pd.DataFrame:
    if by is None:
        return _clustered(_cluster_sums(data, None)[:, 0, :], opts)
    rows = []
    for key in sorted(pd.unique(data[by]), key=str):
        part = data[(data[by] == key).to_numpy()]
        sums = _cluster_sums(part, None)[:, 0, :]
        est = _within(sums.sum(axis=0), opts) if by == "reviewer_id" else _clustered(sums, opts)
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


def _clustered(sums: np.ndarray, opts: _Options) -> AutomationEffect:
    total = sums.sum(axis=0)
    if opts.interval == "bootstrap":
        lo = hi = clo = chi = np.nan
        if opts.n_boot:
            reps = _weights(len(sums), opts.n_boot, opts.random_state) @ sums
            lo, hi = (float(x) for x in percentile_interval(_effect(reps), level=opts.level))
            clo, chi = (float(x) for x in percentile_interval(_copy(reps), level=opts.level))
        return _summary(total, (lo, hi, clo, chi), len(sums), METHODS["bootstrap"])
    if len(sums) == 1:
        return _within(total, opts)
    loo = total[None, :] - sums
    bounds = (*_jackknife_t(_effect(total), _effect(loo), opts.level),
              *_jackknife_t(_copy(total), _copy(loo), opts.level))
    return _summary(total, bounds, len(sums), METHODS["jackknife"])


def _jackknife_t(value: np.ndarray, loo: np.ndarray, level: float) -> tuple[float, float]:
    """``value -/+ t(G - 1) * jackknife se`` from the G leave-one-out values (NaN if any is)."""
    n = len(loo)
    if not np.isfinite(value) or not np.isfinite(loo).all():
        return float("nan"), float("nan")
    se = float(np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return float(value) - half, float(value) + half


def _within(total: np.ndarray, opts: _Options) -> AutomationEffect:
    """One reviewer: ratings are independent, two binomial samples."""
    if opts.interval == "bootstrap":
        return _within_bootstrap(total, opts)
    agree_s, n_s, agree_h, n_h = (float(x) for x in total)
    lo = hi = clo = chi = float("nan")
    if n_s > 0 and n_h > 0:
        ws, wh = (wilson_interval(np.array([a]), np.array([n]), level=opts.level)
                  for a, n in ((agree_s, n_s), (agree_h, n_h)))
        d_lo, d_hi = newcombe_difference(agree_s / n_s, ws[0], ws[1], agree_h / n_h,
                                         wh[0], wh[1])
        lo, hi = float(np.ravel(d_lo)[0]), float(np.ravel(d_hi)[0])
        clo, chi = _katz_copy(n_s - agree_s, n_s, n_h - agree_h, n_h, opts.level)
    return _summary(total, (lo, hi, clo, chi), 1, METHODS["single"])


def _katz_copy(dis_s: float, n_s: float, dis_h: float, n_h: float,
               level: float) -> tuple[float, float]:
    """``1 - RR`` interval, ``RR`` the ratio of disagreement rates (Katz log interval)."""
    if dis_h == 0:  # never disagreed with the hidden model: copy rate undefined
        return float("nan"), float("nan")
    add = 0.5 if min(dis_s, dis_h, n_s - dis_s, n_h - dis_h) == 0 else 0.0
    a, b, m1, m2 = dis_s + add, dis_h + add, n_s + 2 * add, n_h + 2 * add
    log_rr = np.log((a / m1) / (b / m2))
    se = np.sqrt(1 / a - 1 / m1 + 1 / b - 1 / m2)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return float(1 - np.exp(log_rr + z * se)), float(1 - np.exp(log_rr - z * se))


def _within_bootstrap(total: np.ndarray, opts: _Options) -> AutomationEffect:
    rng = np.random.default_rng(opts.random_state)
    bounds: tuple[float, ...] = (np.nan,) * 4
    if opts.n_boot:
        n_boot = opts.n_boot
        with np.errstate(invalid="ignore", divide="ignore"):
            shown = rng.binomial(int(total[1]), np.nan_to_num(total[0] / total[1]), n_boot)
            hidden = rng.binomial(int(total[3]), np.nan_to_num(total[2] / total[3]), n_boot)
        reps = np.stack([shown, np.full(n_boot, total[1]), hidden,
                         np.full(n_boot, total[3])], axis=1).astype(float)
        bounds = tuple(float(x) for x in (*percentile_interval(_effect(reps), level=opts.level),
                                          *percentile_interval(_copy(reps), level=opts.level)))
    return _summary(total, bounds, 1, METHODS["bootstrap"])


def _summary(total: np.ndarray, bounds: tuple[float, ...], n_reviewers: int,
             method: str) -> AutomationEffect:
    lo, hi, clo, chi = bounds
    with np.errstate(divide="ignore", invalid="ignore"):
        shown, hidden = total[0] / total[1], total[2] / total[3]
    return AutomationEffect(
        value=float(_effect(total)), ci_low=lo, ci_high=hi, copy_rate=float(_copy(total)),
        copy_rate_ci_low=clo, copy_rate_ci_high=chi, agree_shown=float(shown),
        agree_hidden=float(hidden), n_shown=int(total[1]), n_hidden=int(total[3]),
        n_reviewers=n_reviewers, method=method)
