"""The one pass: confusion counts and score histograms per group, from which metrics are read.

Every classification fairness metric is a function of per-group confusion counts, so the
engine groups the decisions once and works on the small table of counts afterwards.

The pass runs in two stages. A backend (pandas here, DuckDB in
:mod:`audits.fairness.pushdown`) reduces the rows to :class:`FineCounts`: one row per
distinct raw key (every sensitive feature, ``y_true``, ``y_pred`` and the score bin) with
its count. :func:`counts_from_fine` then checks and encodes the few distinct labels and
rolls the fine keys up to every slice (each sensitive feature and each intersection), so
both backends give identical :class:`GroupCounts`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.data.encoding import MISSING
from audits.data.schema import (
    MSG_NO_SENSITIVE,
    MSG_ROLE_OVERLAP,
    DataValidationError,
    check_columns_exist,
)
from audits.fairness.count_types import (
    CELLS,
    DEFAULT_SCORE_BINS,
    GROUP_COLUMNS,
    MAX_GROUPS,
    FineCounts,
    GroupCounts,
    ScoreHistogram,
)
from audits.fairness.rollup import MSG_TOO_MANY_GROUPS, counts_from_fine

__all__ = [
    "CELLS",
    "COUNT_COLUMNS",
    "DEFAULT_SCORE_BINS",
    "GROUP_COLUMNS",
    "MAX_GROUPS",
    "MISSING",
    "FineCounts",
    "GroupCounts",
    "ScoreHistogram",
    "check_roles",
    "count_groups",
    "counts_from_fine",
    "group_counts",
    "resolve_slices",
]

#: Columns of the legacy table returned by :func:`group_counts`.
COUNT_COLUMNS = ("feature", "group", "n", "tp", "fp", "fn", "tn")

MSG_NOT_FRAME = "frame must be a pandas DataFrame, got {type}"
MSG_EMPTY = "the data has no rows"
MSG_NO_FEATURES = MSG_NO_SENSITIVE  # one wording for one check, wherever it runs
MSG_DUPLICATE_FEATURE = "sensitive feature {column!r} is named twice"
MSG_ROLE_CLASH = MSG_ROLE_OVERLAP
MSG_RESERVED = (
    "sensitive feature {column!r} has the name of a column of the result tables "
    "({reserved}); rename it"
)
MSG_NO_PREDICTION = "y_pred is required unless both y_score and threshold are given"
MSG_MISSING_OUTCOME = "column {column!r} ({role}) has {n} missing value(s), first at row {row}"
MSG_SCORE_NOT_FINITE = (
    "column {column!r} (y_score) must hold finite numbers; row {row} holds {value!r}"
)
MSG_BAD_INTERSECTION = (
    "intersection {combo!r} must name two or more different sensitive features among {features}"
)
MSG_SCORE_BINS = "score_bins must be an integer >= 2, got {value!r}"


def count_groups(
    frame: pd.DataFrame,
    *,
    y_true: str,
    y_pred: str | None,
    sensitive_features: Sequence[str] | str,
    y_score: str | None = None,
    threshold: float | None = None,
    pos_label: object = None,
    intersections: bool | Sequence[Sequence[str]] = True,
    score_bins: int = DEFAULT_SCORE_BINS,
) -> GroupCounts:
    """Count confusion cells (and score histograms) per group in one pass over the rows.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        The decisions.
    y_true, y_pred : str
        Columns of the observed outcome and the decision: binary, any two labels (see
        ``pos_label``). ``y_pred`` may be ``None`` when ``y_score`` and ``threshold``
        are given: the decision is then ``y_score >= threshold``.
    sensitive_features : sequence of str
        Columns whose groups are counted. Missing values form the group ``"<missing>"``.
    y_score : str or None, default None
        A score column (probability or rank); adds :attr:`GroupCounts.scores`.
    threshold : float or None, default None
        Used only when ``y_pred`` is None.
    pos_label : scalar or None, default None
        The positive class; see :func:`audits.data.encoding.encode_outcomes`.
    intersections : bool or sequence of sequence of str, default True
        True counts every combination of two or more features, False none; or the
        combinations to count.
    score_bins : int, default 1000
        Scores with at most this many distinct values are counted exactly; otherwise in
        this many equal-width bins.

    Returns
    -------
    GroupCounts

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0, 1, 1], "p": [1, 1, 0, 1], "s": list("aabb"),
    ...                    "t": list("xyxy")})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features=["s", "t"])
    >>> c.groups[["slice", "group_label", "n", "tp"]].tail(2)
       slice group_label  n  tp
    6  s & t       b & x  1   0
    7  s & t       b & y  1   1
    """
    features = _check_arguments(frame, y_true, y_pred, sensitive_features, y_score,
                                threshold, score_bins)
    slices = resolve_slices(features, intersections)
    fine = _fine_from_frame(frame, y_true=y_true, y_pred=y_pred, features=features,
                            y_score=y_score, threshold=threshold, score_bins=score_bins)
    return counts_from_fine(fine, y_true=y_true, y_pred=y_pred or "y_score >= threshold",
                            pos_label=pos_label, slices=slices)


def group_counts(
    frame: pd.DataFrame, *, y_true: str, y_pred: str, sensitive_features: Sequence[str]
) -> pd.DataFrame:
    """Count true/false positives/negatives per group of each sensitive feature.

    A compact view of :func:`count_groups` without intersections.

    Returns
    -------
    pandas.DataFrame
        One row per (feature, group) with columns :data:`COUNT_COLUMNS`.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0, 1, 1], "p": [1, 1, 0, 1], "s": list("aabb")})
    >>> group_counts(df, y_true="y", y_pred="p", sensitive_features=["s"])[["group", "tp"]]
      group  tp
    0     a   1
    1     b   1
    """
    counts = count_groups(frame, y_true=y_true, y_pred=y_pred,
                          sensitive_features=sensitive_features, intersections=False)
    g = counts.groups
    out = pd.DataFrame({"feature": g["slice"].to_numpy(), "group": g["group_label"].to_numpy()})
    for col in COUNT_COLUMNS[2:]:
        out[col] = g[col].to_numpy()
    return out


def resolve_slices(
    features: Sequence[str], intersections: bool | Sequence[Sequence[str]]
) -> tuple[tuple[str, ...], ...]:
    """Return the slices to count: each feature alone, then the intersections.

    Examples
    --------
    >>> resolve_slices(["race", "sex", "age"], [["sex", "race"]])
    (('race',), ('sex',), ('age',), ('race', 'sex'))
    """
    singles = [(f,) for f in features]
    if intersections is True:
        combos = [c for k in range(2, len(features) + 1)
                  for c in itertools.combinations(features, k)]
        return (*singles, *combos)
    if intersections is False:
        return tuple(singles)
    order = {f: i for i, f in enumerate(features)}
    chosen: list[tuple[str, ...]] = []
    for combo in intersections:
        names = (combo,) if isinstance(combo, str) else tuple(combo)
        if len(set(names)) < 2 or len(set(names)) != len(names) or any(
            n not in order for n in names
        ):
            raise ValueError(MSG_BAD_INTERSECTION.format(combo=combo, features=list(features)))
        key = tuple(sorted(names, key=order.__getitem__))
        if key not in chosen:
            chosen.append(key)
    return (*singles, *chosen)

def check_roles(
    *, y_true: str, y_pred: str | None, sensitive_features: Sequence[str] | str,
    y_score: str | None, threshold: float | None, score_bins: int,
) -> tuple[str, ...]:
    """Check the column roles and counting options; return the sensitive features.

    Examples
    --------
    >>> check_roles(y_true="y", y_pred="p", sensitive_features="sex", y_score=None,
    ...             threshold=None, score_bins=1000)
    ('sex',)
    """
    features = (sensitive_features,) if isinstance(sensitive_features, str) else tuple(
        sensitive_features)
    if not features:
        raise DataValidationError(MSG_NO_FEATURES)
    if len(set(features)) != len(features):
        dup = next(f for f in features if features.count(f) > 1)
        raise DataValidationError(MSG_DUPLICATE_FEATURE.format(column=dup))
    if y_pred is None and (y_score is None or threshold is None):
        raise ValueError(MSG_NO_PREDICTION)
    if isinstance(score_bins, bool) or not isinstance(score_bins, int) or score_bins < 2:
        raise ValueError(MSG_SCORE_BINS.format(value=score_bins))
    seen: dict[str, str] = {}
    named = [("y_true", y_true), ("y_pred", y_pred), ("y_score", y_score)]
    for role, col in [*named, *(("sensitive feature", f) for f in features)]:
        if col is None:
            continue
        if col in seen:
            raise DataValidationError(MSG_ROLE_CLASH.format(column=col, role_a=seen[col],
                                                            role_b=role))
        if role == "sensitive feature" and col in GROUP_COLUMNS:
            raise DataValidationError(MSG_RESERVED.format(column=col,
                                                          reserved=", ".join(GROUP_COLUMNS)))
        seen[col] = role
    return features


def _check_arguments(
    frame: pd.DataFrame, y_true: str, y_pred: str | None,
    sensitive_features: Sequence[str] | str, y_score: str | None, threshold: float | None,
    score_bins: int,
) -> tuple[str, ...]:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(MSG_NOT_FRAME.format(type=type(frame).__name__))
    if len(frame) == 0:
        raise DataValidationError(MSG_EMPTY)
    features = check_roles(y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features,
                           y_score=y_score, threshold=threshold, score_bins=score_bins)
    for role, col in (("y_true", y_true), ("y_pred", y_pred), ("y_score", y_score)):
        if col is not None:
            check_columns_exist(frame, [col], role)
    check_columns_exist(frame, list(features), "sensitive feature")
    return features


def _fine_from_frame(
    frame: pd.DataFrame, *, y_true: str, y_pred: str | None, features: tuple[str, ...],
    y_score: str | None, threshold: float | None, score_bins: int,
) -> FineCounts:
    digits: list[np.ndarray] = []
    decoders: list[np.ndarray] = []
    for col in features:
        codes, values = _factorize(frame[col], column=col, role=None)
        digits.append(codes)
        decoders.append(values)
    outcomes: tuple[tuple[str | None, str], ...] = ((y_true, "y_true"), (y_pred, "y_pred"))
    for name, role in outcomes:
        if name is not None:
            codes, values = _factorize(frame[name], column=name, role=role)
            digits.append(codes)
            decoders.append(values)
    score = None if y_score is None else _score_column(frame[y_score], y_score)
    binning: tuple[str, float, float] = ("", 0.0, 1.0)
    if score is not None:
        if y_pred is None:
            cut = float(threshold) if threshold is not None else 0.0  # checked by the caller
            digits.append((score >= cut).astype(np.int64))
            decoders.append(np.array([0, 1], dtype=object))
        codes, values, binning = _score_digits(score, score_bins)
        digits.append(codes)
        decoders.append(values)
    dims = [len(d) for d in decoders]
    occupied, count, sums = _bincount(digits, dims, score)
    decoded = [dec[idx] for dec, idx in zip(decoders, np.unravel_index(occupied, dims),
                                            strict=True)]
    n_feat = len(features)
    return FineCounts(
        rows=len(frame), features=features, values=tuple(decoded[:n_feat]),
        y=decoded[n_feat], p=decoded[n_feat + 1], count=count, pred_coded=y_pred is None,
        score_key=decoded[n_feat + 2] if score is not None else None, score_sum=sums,
        score_mode=binning[0] or None, score_bins=score_bins, bin_low=binning[1],
        bin_high=binning[2],
        score_min=float(score.min()) if score is not None else 0.0,
        score_max=float(score.max()) if score is not None else 1.0,
    )


def _factorize(values: pd.Series, *, column: str, role: str | None) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    # Fast path for 0/1-like outcomes; group values keep their own form (True, not 1).
    if role is not None and isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":
        arr = values.to_numpy()
        arr = arr.astype(np.int8) if arr.dtype.kind == "b" else arr
        low, high = arr.min(), arr.max()
        if int(high) - int(low) <= 1:
            codes = (arr - low).astype(np.int64)
            return codes, np.array([low, high][: 1 + int(high > low)], dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    decoder = np.asarray(uniques, dtype=object)
    missing = codes < 0
    if missing.any():
        if role is not None:
            raise DataValidationError(MSG_MISSING_OUTCOME.format(
                column=column, role=role, n=int(missing.sum()),
                row=int(np.flatnonzero(missing)[0])))
        codes = np.where(missing, len(decoder), codes)
        decoder = np.concatenate([decoder, np.array([None], dtype=object)])
    return codes.astype(np.int64, copy=False), decoder


def _score_column(values: pd.Series, column: str) -> np.ndarray:
    score = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(score)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataValidationError(MSG_SCORE_NOT_FINITE.format(column=column, row=row,
                                                              value=values.iloc[row]))
    out: np.ndarray = score
    return out


def _score_digits(score: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray,
                                                         tuple[str, float, float]]:
    low, high = float(score.min()), float(score.max())
    # A cheap look at the first rows rules out exact mode for continuous scores.
    if len(pd.unique(score[: 4 * bins])) <= bins:
        codes, uniques = pd.factorize(score)
        if len(uniques) <= bins:
            return codes.astype(np.int64), np.asarray(uniques, dtype=object), ("exact", low,
                                                                                high)
    lo, hi = (0.0, 1.0) if low >= 0.0 and high <= 1.0 else (low, high)
    idx = np.clip(np.floor((score - lo) / (hi - lo) * bins), 0, bins - 1).astype(np.int64)
    return idx, np.arange(bins, dtype=np.int64).astype(object), ("binned", lo, hi)


def _bincount(digits: list[np.ndarray], dims: list[int],
              weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    total = math.prod(dims)
    if total >= 2**62:
        raise DataValidationError(MSG_TOO_MANY_GROUPS.format(n=f"over {2**62}",
                                                             limit=MAX_GROUPS))
    key = digits[0].astype(np.int64)
    for digit, dim in zip(digits[1:], dims[1:], strict=True):
        key = key * dim + digit
    if total <= max(1 << 22, 2 * len(key)):
        counts = np.bincount(key, minlength=total)
        occupied = np.flatnonzero(counts)
        sums = None if weights is None else np.bincount(key, weights, total)[occupied]
        return occupied, counts[occupied], sums
    occupied, inverse = np.unique(key, return_inverse=True)
    sums = None if weights is None else np.bincount(inverse, weights, len(occupied))
    return occupied, np.bincount(inverse, minlength=len(occupied)), sums
