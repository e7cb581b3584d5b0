"""How much the review panel agrees: Krippendorff's alpha, Fleiss' kappa, Gwet's AC1.

Ratings are a long table ``case_id, reviewer_id, label`` (names configurable with
``item=``, ``rater=``, ``label=``), validated at every public entry. Any number of
reviewers may rate a case; a case with fewer than two ratings has no pair of ratings to
compare and drops out of every agreement statistic (it still counts in ``n_items`` and
in Gwet's category prevalences, as in Gwet 2014).

A statistic that is undefined on the data (a single category used throughout, no case
with two ratings) is NaN here and ``None`` in :meth:`AgreementSummary.to_dict`.
Intervals of Fleiss' kappa, AC1 and percent agreement are percentile bootstraps over
cases: each replicate reweights the cases by how often a resample with replacement drew
them, over the sparse case x category count matrix (see
:mod:`audits.raters.agreement_stats`). Krippendorff's alpha gets a delete-one-case
jackknife interval on Fisher's z scale, ``tanh(atanh(alpha) -/+ t(n - 1) * se)``
(:func:`audits.raters.agreement_stats.jackknife_z_interval`). Simulated at 20, 50 and 200
cases (docs/statistics.md), it covers 94.5-96.7% of nominal 95% on nominal, ordinal and
interval (0-100) ratings where the percentile bootstrap covered 92.9-95.2%; on interval
ratings of strongly skewed true values both under-cover at 20-50 cases (table there).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from audits.raters.agreement_stats import (
    STATISTICS,
    EncodedRatings,
    alpha_kernel,
    bootstrap_weights,
    coincidence,
    compress,
    encode_ratings,
    evaluate,
    jackknife_z_interval,
    modal_count,
    percentile_interval,
    prepare,
)
from audits.raters.ratings import check_n_boot_limit

__all__ = [
    "MSG_BOOT",
    "MSG_LEVEL_CI",
    "MSG_WEIGHTS",
    "AgreementSummary",
    "Estimate",
    "FleissResult",
    "agreement_summary",
    "case_disagreement",
    "cohen_kappa_pairs",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "percent_agreement",
]

MSG_WEIGHTS = "weights must be None, 'linear' or 'quadratic'; got {value!r}"
MSG_BOOT = "n_boot must be a non-negative integer; got {value!r}"
MSG_LEVEL_CI = "level_ci must lie strictly between 0 and 1; got {value!r}"
FLEISS_NOTE = (
    "Fleiss' kappa needs the same number of ratings per case: it used the {used} case(s) "
    "with {m} ratings (the most common count) and left out {left} case(s) with other counts"
)
COLUMNS = {"item": "case_id", "rater": "reviewer_id", "label": "label"}


@dataclass(frozen=True)
class Estimate:
    """A statistic with its interval (NaN where undefined; see the module docstring)."""

    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float | None]:
        """The three numbers, with ``None`` in place of NaN."""
        return {"value": _none(self.value), "ci_low": _none(self.ci_low),
                "ci_high": _none(self.ci_high)}


@dataclass(frozen=True)
class FleissResult:
    """Fleiss' kappa, the cases it used, and why others were left out (or ``None``)."""

    value: float
    n_items_used: int
    note: str | None


@dataclass(frozen=True)
class AgreementSummary:
    """Every agreement statistic of one ratings table, with intervals.

    ``n_items`` counts distinct cases, ``n_raters`` distinct reviewers.
    """

    krippendorff_alpha: Estimate
    fleiss_kappa: Estimate
    gwet_ac1: Estimate
    percent_agreement: Estimate
    n_items: int
    n_raters: int
    level: str
    fleiss_note: str | None

    def to_dict(self) -> dict[str, Any]:
        """The public JSON contract: ``None`` wherever a value is undefined."""
        return {name: getattr(self, name).to_dict() for name in STATISTICS} | {
            "n_items": self.n_items, "n_raters": self.n_raters, "level": self.level,
            "fleiss_note": self.fleiss_note}


def krippendorff_alpha(
    ratings: pd.DataFrame, *, level: str = "nominal", item: str = "case_id",
    rater: str = "reviewer_id", label: str = "label",
) -> float:
    """Krippendorff's alpha, from the coincidence matrix of the pairable cases.

    Parameters
    ----------
    ratings : pandas.DataFrame, shape (n_ratings, >= 3)
        One row per rating: ``item``, ``rater``, ``label`` columns.
    level : {"nominal", "ordinal", "interval"}, default "nominal"
        Metric: mismatch; Krippendorff's ordinal metric (from the marginal frequencies
        of the categories between two ranks); squared difference. ``ordinal`` and
        ``interval`` need numeric labels (``ordinal`` also takes an ordered Categorical).
    item, rater, label : str, default "case_id", "reviewer_id", "label"
        Column names.

    Returns
    -------
    float
        In [-1, 1] roughly (1 is perfect agreement, 0 chance); NaN when undefined: no
        case has two ratings, or the pairable ratings use a single category.

    Raises
    ------
    ValueError
        Missing column, missing value, duplicate (case, reviewer) pair, unknown level,
        non-numeric labels for ``ordinal``/``interval``.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> round(krippendorff_alpha(ratings), 3)
    0.444
    """
    enc = encode_ratings(ratings, item=item, rater=rater, label=label, level=level)
    o = coincidence(enc.counts, enc.m)
    value = alpha_kernel(o.data[None, :], o.row, o.col, enc.positions, level)
    return float(value[0])


def fleiss_kappa(
    ratings: pd.DataFrame, *, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> FleissResult:
    """Fleiss' kappa over the cases with the most common number of ratings.

    Fleiss' kappa assumes every case has the same number ``m`` of ratings. When counts
    differ it uses the cases with the modal count among cases with at least two ratings
    (ties: the larger count) and says so in ``note``; ``note`` is ``None`` otherwise.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> result = fleiss_kappa(ratings)
    >>> round(result.value, 3), result.n_items_used, result.note
    (0.333, 3, None)
    """
    enc = encode_ratings(ratings, item=item, rater=rater, label=label)
    prep = prepare(enc.counts, enc.positions, "nominal", with_pairs=False)
    value = float(evaluate(prep, np.ones((1, len(enc.case_ids))), ("fleiss_kappa",))
                  ["fleiss_kappa"][0])
    return FleissResult(value, int(prep.fleiss_mask.sum()), _fleiss_note(enc))


def gwet_ac1(
    ratings: pd.DataFrame, *, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> float:
    """Gwet's AC1 for nominal labels, any number of ratings per case (Gwet 2014).

    ``pa`` is :func:`percent_agreement`; ``pe = sum_k pi_k (1 - pi_k) / (q - 1)`` with
    ``q`` the number of categories in the data and ``pi_k`` the mean over all cases of
    the share of the case's ratings in category ``k``; AC1 = (pa - pe) / (1 - pe), NaN
    when there is a single category or no case with two ratings.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> round(gwet_ac1(ratings), 3)
    0.333
    """
    return _point(ratings, "gwet_ac1", item=item, rater=rater, label=label)


def percent_agreement(
    ratings: pd.DataFrame, *, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> float:
    """Share of agreeing pairs of ratings within a case, averaged over pairable cases.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> round(percent_agreement(ratings), 3)
    0.667
    """
    return _point(ratings, "percent_agreement", item=item, rater=rater, label=label)


def cohen_kappa_pairs(
    ratings: pd.DataFrame, *, weights: str | None = None, item: str = "case_id",
    rater: str = "reviewer_id", label: str = "label",
) -> pd.DataFrame:
    """Cohen's kappa of every pair of reviewers with at least two cases in common.

    Parameters
    ----------
    weights : {None, "linear", "quadratic"}, default None
        As in :func:`sklearn.metrics.cohen_kappa_score`, over the ranks of all labels
        in the data (weights need numeric labels or an ordered Categorical).

    Returns
    -------
    pandas.DataFrame
        ``reviewer_a, reviewer_b, n_common, kappa`` (NaN when undefined, e.g. both
        reviewers always gave one and the same label), pairs in order of appearance.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> cohen_kappa_pairs(ratings).round(3).to_dict("records")
    [{'reviewer_a': 'a', 'reviewer_b': 'b', 'n_common': 3, 'kappa': 0.4}]
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(MSG_WEIGHTS.format(value=weights))
    enc = encode_ratings(ratings, item=item, rater=rater, label=label,
                         level="nominal" if weights is None else "ordinal")
    codes = pd.DataFrame({"case": enc.case_codes, "rater": enc.rater_codes,
                          "label": enc.label_codes})
    both = codes.merge(codes, on="case", suffixes=("_a", "_b"))
    both = both[both["rater_a"] < both["rater_b"]]
    labels = np.arange(len(enc.categories))
    rows = []
    for (a, b), pair in both.groupby(["rater_a", "rater_b"], sort=True):
        if len(pair) < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined kappa is reported as NaN
            kappa = cohen_kappa_score(pair["label_a"], pair["label_b"], labels=labels,
                                      weights=weights)
        rows.append({"reviewer_a": enc.rater_ids[a], "reviewer_b": enc.rater_ids[b],
                     "n_common": len(pair), "kappa": float(kappa)})
    return pd.DataFrame(rows, columns=["reviewer_a", "reviewer_b", "n_common", "kappa"])


def case_disagreement(
    ratings: pd.DataFrame, *, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> pd.DataFrame:
    """How split the panel is on each case (feeds adjudication).

    Returns
    -------
    pandas.DataFrame
        One row per case, in order of first appearance: ``case_id`` (named ``item``),
        ``n_ratings``, ``modal_label`` (ties: the label that sorts first),
        ``modal_share``, ``disagreement = 1 - modal_share`` and ``std`` (population
        standard deviation of numeric labels; NaN for non-numeric labels).

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 1, 2, 2],
    ...                         "reviewer_id": ["a", "b", "c", "a", "b"],
    ...                         "label": [2, 2, 5, 1, 1]})
    >>> case_disagreement(ratings).round(3).to_dict("records")[0]
    {'case_id': 1, 'n_ratings': 3, 'modal_label': 2, 'modal_share': 0.667,
     'disagreement': 0.333, 'std': 1.414}
    """
    enc = encode_ratings(ratings, item=item, rater=rater, label=label)
    counts, m = enc.counts.tocoo(), enc.m
    order = np.lexsort((counts.col, -counts.data, counts.row))
    first = order[np.r_[True, np.diff(counts.row[order]) != 0]]
    modal = np.empty(len(m), dtype=np.int64)
    modal[counts.row[first]] = counts.col[first]
    share = np.zeros(len(m))
    share[counts.row[first]] = counts.data[first] / m[counts.row[first]]
    x = enc.positions
    mean = (enc.counts @ np.nan_to_num(x)) / m
    std = np.sqrt(np.maximum((enc.counts @ np.nan_to_num(x) ** 2) / m - mean**2, 0.0))
    numeric = bool(np.isfinite(x).all()) and len(x) > 0
    return pd.DataFrame({
        item: enc.case_ids, "n_ratings": m.astype(np.int64),
        "modal_label": pd.Series(enc.categories[modal]).to_numpy(),
        "modal_share": share, "disagreement": 1.0 - share,
        "std": std if numeric else np.full(len(m), np.nan)})


def agreement_summary(
    ratings: pd.DataFrame, *, level: str = "nominal", n_boot: int = 1000,
    level_ci: float = 0.95, random_state: int | None = 0, item: str = "case_id",
    rater: str = "reviewer_id", label: str = "label",
) -> AgreementSummary:
    """Alpha (at ``level``), Fleiss' kappa, AC1 and percent agreement with intervals.

    Parameters
    ----------
    n_boot : int, default 1000
        Bootstrap replicates (resampling cases); 0 gives NaN intervals (alpha's
        jackknife interval too, so ``n_boot=0`` always means "no intervals").
    level_ci : float, default 0.95
        Level of the intervals (percentile ones over the replicates that are defined).
    random_state : int or None, default 0

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> summary = agreement_summary(ratings, n_boot=200)
    >>> round(summary.krippendorff_alpha.value, 3), summary.n_items, summary.fleiss_note
    (0.444, 3, None)
    """
    enc = encode_ratings(ratings, item=item, rater=rater, label=label, level=level)
    estimates = estimate_statistics(enc, level, STATISTICS, n_boot=n_boot,
                                    level_ci=level_ci, random_state=random_state)
    return AgreementSummary(**estimates, n_items=len(enc.case_ids),
                            n_raters=len(enc.rater_ids), level=level,
                            fleiss_note=_fleiss_note(enc))


def estimate_statistics(
    enc: EncodedRatings, level: str, names: tuple[str, ...], *, n_boot: int,
    level_ci: float, random_state: int | None,
) -> dict[str, Estimate]:
    """Point estimates and intervals of ``names``: percentile bootstrap, alpha jackknife-z."""
    check_bootstrap(n_boot, level_ci)
    counts, pattern, freq = compress(enc.counts)
    prep = prepare(counts, enc.positions, level, with_pairs="krippendorff_alpha" in names)
    point = evaluate(prep, freq[None, :], names)
    resampled = tuple(name for name in names if name != "krippendorff_alpha")
    blocks = [evaluate(prep, w, resampled) for w in bootstrap_weights(
        len(enc.case_ids), n_boot, random_state, pattern=pattern)]
    result = {}
    for name in names:
        value = float(point[name][0])
        low = high = float("nan")
        if blocks and math.isfinite(value) and name == "krippendorff_alpha":
            low, high = jackknife_z_interval(prep, freq, level_ci)
        elif blocks and math.isfinite(value):
            low, high = percentile_interval(np.concatenate([b[name] for b in blocks]),
                                            level_ci)
        result[name] = Estimate(value, low, high)
    return result


def check_bootstrap(n_boot: int, level_ci: float) -> None:
    """Raise ValueError for a negative or non-integer ``n_boot`` or a bad ``level_ci``."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(MSG_BOOT.format(value=n_boot))
    check_n_boot_limit(int(n_boot))
    if not 0.0 < level_ci < 1.0:
        raise ValueError(MSG_LEVEL_CI.format(value=level_ci))


def _point(ratings: pd.DataFrame, name: str, *, item: str, rater: str, label: str) -> float:
    enc = encode_ratings(ratings, item=item, rater=rater, label=label)
    prep = prepare(enc.counts, enc.positions, "nominal", with_pairs=False)
    return float(evaluate(prep, np.ones((1, len(enc.case_ids))), (name,))[name][0])


def _fleiss_note(enc: EncodedRatings) -> str | None:
    m = enc.m
    modal = modal_count(m)
    used = int((m == modal).sum())
    if used == len(m):
        return None
    return FLEISS_NOTE.format(used=used, m=modal, left=len(m) - used)


def _none(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)
