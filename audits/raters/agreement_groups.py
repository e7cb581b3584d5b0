"""Is the panel less consistent about one group, or split along reviewer backgrounds?

* :func:`agreement_by_group`: agreement within each SUBJECT group (cases grouped by,
  say, the applicant's group), each with a bootstrap interval over that group's cases.
* :func:`agreement_by_rater_group`: agreement among the reviewers of each background
  group, using only their ratings; groups with fewer than ``min_raters`` reviewers are
  suppressed (NaN, ``suppressed`` True) so that small groups are neither over-read nor
  exposed.
* :func:`in_group_vs_cross_group`: percent agreement of two reviewers on the same case
  when they share a background versus when they do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audits.raters.agreement import check_bootstrap, estimate_statistics
from audits.raters.agreement_stats import (
    STATISTICS,
    _plain,
    bootstrap_weights,
    encode_ratings,
    percentile_interval,
)

__all__ = [
    "MSG_STATISTIC",
    "MSG_UNMAPPED",
    "agreement_by_group",
    "agreement_by_rater_group",
    "in_group_vs_cross_group",
]

MSG_STATISTIC = "unknown statistic {value!r}; choose from {known}"
MSG_UNMAPPED = "{n} {what}(s) have no group in {argument}, first: {first!r}"
MSG_MIN_RATERS = "min_raters must be a positive integer; got {value!r}"


def agreement_by_group(
    ratings: pd.DataFrame, groups: Mapping[object, str] | pd.Series, *,
    statistics: Sequence[str] = ("krippendorff_alpha", "percent_agreement"),
    level: str = "nominal", n_boot: int = 1000, level_ci: float = 0.95,
    random_state: int | None = 0, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> pd.DataFrame:
    """Agreement within each subject group of cases.

    Parameters
    ----------
    groups : mapping or pandas.Series
        Case id -> subject group; every case in ``ratings`` needs one.
    statistics : sequence of str, default ("krippendorff_alpha", "percent_agreement")
        Any of "krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement".

    Returns
    -------
    pandas.DataFrame
        ``group, statistic, value, ci_low, ci_high, n_items`` (groups sorted).

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3],
    ...                         "reviewer_id": ["a", "b"] * 3,
    ...                         "label": ["x", "x", "y", "y", "x", "y"]})
    >>> table = agreement_by_group(ratings, {1: "A", 2: "A", 3: "B"},
    ...                            statistics=["percent_agreement"], n_boot=0)
    >>> table[["group", "value", "n_items"]].to_dict("records")
    [{'group': 'A', 'value': 1.0, 'n_items': 2}, {'group': 'B', 'value': 0.0, 'n_items': 1}]
    """
    names = _check_statistics(statistics)
    check_bootstrap(n_boot, level_ci)
    encode_ratings(ratings, item=item, rater=rater, label=label, level=level)
    case_group = _lookup(ratings[item], groups, "case", "groups")
    rows = []
    for group, part in ratings.groupby(case_group.to_numpy(), sort=True):
        enc = encode_ratings(part, item=item, rater=rater, label=label, level=level)
        estimates = estimate_statistics(enc, level, names, n_boot=n_boot, level_ci=level_ci,
                                        random_state=random_state)
        rows += [{"group": group, "statistic": name, "value": est.value,
                  "ci_low": est.ci_low, "ci_high": est.ci_high,
                  "n_items": len(enc.case_ids)} for name, est in estimates.items()]
    return pd.DataFrame(rows, columns=["group", "statistic", "value", "ci_low", "ci_high",
                                       "n_items"])


def agreement_by_rater_group(
    ratings: pd.DataFrame, rater_groups: Mapping[object, str] | pd.Series, *,
    min_raters: int = 5, statistics: Sequence[str] = ("krippendorff_alpha",
                                                        "percent_agreement"),
    level: str = "nominal", n_boot: int = 1000, level_ci: float = 0.95,
    random_state: int | None = 0, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> pd.DataFrame:
    """Agreement among the reviewers of each background group (their ratings only).

    Returns
    -------
    pandas.DataFrame
        ``rater_group, statistic, value, ci_low, ci_high, n_items, n_raters,
        suppressed``; a group with fewer than ``min_raters`` reviewers has NaN numbers
        and ``suppressed`` True.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 2],
    ...                         "reviewer_id": ["a", "b", "c"] * 2,
    ...                         "label": ["x", "x", "y", "y", "y", "y"]})
    >>> table = agreement_by_rater_group(ratings, {"a": "P", "b": "P", "c": "Q"},
    ...     min_raters=2, statistics=["percent_agreement"], n_boot=0)
    >>> table[["rater_group", "value", "n_raters", "suppressed"]].to_dict("records")
    [{'rater_group': 'P', 'value': 1.0, 'n_raters': 2, 'suppressed': False},
     {'rater_group': 'Q', 'value': nan, 'n_raters': 1, 'suppressed': True}]
    """
    names = _check_statistics(statistics)
    if isinstance(min_raters, bool) or not isinstance(min_raters, int) or min_raters < 1:
        raise ValueError(MSG_MIN_RATERS.format(value=min_raters))
    check_bootstrap(n_boot, level_ci)
    encode_ratings(ratings, item=item, rater=rater, label=label, level=level)
    background = _lookup(ratings[rater], rater_groups, "reviewer", "rater_groups")
    rows = []
    for group, part in ratings.groupby(background.to_numpy(), sort=True):
        enc = encode_ratings(part, item=item, rater=rater, label=label, level=level)
        n_raters = len(enc.rater_ids)
        suppressed = n_raters < min_raters
        estimates = {} if suppressed else estimate_statistics(
            enc, level, names, n_boot=n_boot, level_ci=level_ci, random_state=random_state)
        for name in names:
            est = estimates.get(name)
            rows.append({"rater_group": group, "statistic": name,
                         "value": est.value if est else np.nan,
                         "ci_low": est.ci_low if est else np.nan,
                         "ci_high": est.ci_high if est else np.nan,
                         "n_items": len(enc.case_ids), "n_raters": n_raters,
                         "suppressed": suppressed})
    return pd.DataFrame(rows, columns=["rater_group", "statistic", "value", "ci_low",
                                       "ci_high", "n_items", "n_raters", "suppressed"])


def in_group_vs_cross_group(
    ratings: pd.DataFrame, rater_groups: Mapping[object, str] | pd.Series, *,
    n_boot: int = 1000, level_ci: float = 0.95, random_state: int | None = 0,
    item: str = "case_id", rater: str = "reviewer_id", label: str = "label",
) -> pd.DataFrame:
    """Percent agreement of same-background versus cross-background reviewer pairs.

    For each case, the share of agreeing (identical-label) pairs among pairs of its
    reviewers from the same group, and among pairs from different groups; each is
    averaged over the cases that have such a pair. ``difference`` is within minus cross.

    Returns
    -------
    pandas.DataFrame
        ``comparison`` ("within_group", "cross_group", "difference"), ``value,
        ci_low, ci_high`` (bootstrap over cases), ``n_items`` (cases with such a pair;
        for the difference, cases with both), ``n_pairs``.

    Examples
    --------
    >>> ratings = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 2],
    ...                         "reviewer_id": ["a", "b", "c"] * 2,
    ...                         "label": ["x", "x", "y", "y", "y", "y"]})
    >>> table = in_group_vs_cross_group(ratings, {"a": "P", "b": "P", "c": "Q"}, n_boot=0)
    >>> table[["comparison", "value", "n_pairs"]].to_dict("records")
    [{'comparison': 'within_group', 'value': 1.0, 'n_pairs': 2},
     {'comparison': 'cross_group', 'value': 0.5, 'n_pairs': 4},
     {'comparison': 'difference', 'value': 0.5, 'n_pairs': 6}]
    """
    check_bootstrap(n_boot, level_ci)
    enc = encode_ratings(ratings, item=item, rater=rater, label=label)
    background = _lookup(ratings[rater], rater_groups, "reviewer", "rater_groups")
    group_codes = pd.factorize(background)[0]
    within, within_agree, total, total_agree = _pair_counts(
        enc.case_codes, group_codes, enc.label_codes, len(enc.case_ids))
    cross, cross_agree = total - within, total_agree - within_agree
    has_w, has_c = (within > 0).astype(float), (cross > 0).astype(float)
    share_w = np.divide(within_agree, within, out=np.zeros_like(within), where=within > 0)
    share_c = np.divide(cross_agree, cross, out=np.zeros_like(cross), where=cross > 0)

    def stats(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (w @ share_w) / (w @ has_w), (w @ share_c) / (w @ has_c)
        return a, b, a - b

    point = stats(np.ones((1, len(within))))
    boots = [stats(w) for w in bootstrap_weights(len(within), n_boot, random_state)]
    rows = []
    for i, name in enumerate(("within_group", "cross_group", "difference")):
        value = float(point[i][0])
        low, high = (percentile_interval(np.concatenate([b[i] for b in boots]), level_ci)
                     if boots and np.isfinite(value) else (np.nan, np.nan))
        n_items = [has_w.sum(), has_c.sum(), (has_w * has_c).sum()][i]
        n_pairs = [within.sum(), cross.sum(), total.sum()][i]
        rows.append({"comparison": name, "value": value, "ci_low": low, "ci_high": high,
                     "n_items": int(n_items), "n_pairs": int(n_pairs)})
    return pd.DataFrame(rows)


def _pair_counts(
    case: np.ndarray, group: np.ndarray, label: np.ndarray, n_cases: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per case: same-group pairs, agreeing same-group pairs, all pairs, agreeing pairs."""
    def pairs(*keys: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame({"case": case} | {f"k{i}": k for i, k in enumerate(keys)})
        sizes = frame.groupby(list(frame.columns), sort=False).size()
        per_case = (sizes * (sizes - 1) / 2).groupby(level="case").sum()
        out = np.zeros(n_cases)
        out[per_case.index.to_numpy()] = per_case.to_numpy()
        return out

    return pairs(group), pairs(group, label), pairs(), pairs(label)


def _check_statistics(statistics: Sequence[str]) -> tuple[str, ...]:
    names = tuple(statistics)
    for name in names:
        if name not in STATISTICS:
            raise ValueError(MSG_STATISTIC.format(value=name, known=STATISTICS))
    return names


def _lookup(
    keys: pd.Series, mapping: Mapping[object, str] | pd.Series, what: str, argument: str
) -> pd.Series:
    table = mapping if isinstance(mapping, pd.Series) else pd.Series(dict(mapping),
                                                                      dtype=object)
    found = keys.map(table)
    missing = found.isna().to_numpy()
    if missing.any():
        unmapped = pd.unique(keys[missing])
        raise ValueError(MSG_UNMAPPED.format(n=len(unmapped), what=what, argument=argument,
                                             first=_plain(unmapped[0])))
    return found.astype(str)
