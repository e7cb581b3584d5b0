"""The ratings contract and the vectorised kernels behind :mod:`audits.raters.agreement`.

Ratings are a long table ``case_id, reviewer_id, label`` (crowd-kit's ``task, worker,
label``). :func:`encode_ratings` validates it and turns it into a sparse case x category
count matrix ``C``; every statistic is then a function of ``C`` and of one weight per
case. The point estimate uses weight 1 for every case; a bootstrap replicate uses the
number of times each case was drawn (multinomial weights), so no frame is rebuilt.

Memory stays O(cases + categories^2): Krippendorff's coincidence matrix is
``C^T D C - diag(C^T d)`` with ``d_u = 1 / (m_u - 1)`` (a sparse product), never a
cases x categories x categories array.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from audits.data.schema import DataValidationError, check_columns_exist

__all__ = [
    "LEVELS",
    "MSG_DUPLICATE",
    "MSG_EMPTY",
    "MSG_LEVEL",
    "MSG_MISSING_VALUE",
    "MSG_NOT_NUMERIC",
    "EncodedRatings",
    "alpha_kernel",
    "bootstrap_weights",
    "encode_ratings",
    "jackknife_z_interval",
    "percentile_interval",
]

LEVELS = ("nominal", "ordinal", "interval")
MSG_LEVEL = "level must be one of {levels}; got {value!r}"
MSG_EMPTY = "the ratings table has no rows"
MSG_MISSING_VALUE = "column {column!r} ({role}) has {n} missing value(s), first at row {row}"
MSG_DUPLICATE = (
    "{n} duplicate ({item}, {rater}) pair(s): each reviewer rates a case at most once; "
    "first duplicate: case {case!r}, reviewer {reviewer!r}"
)
MSG_NOT_NUMERIC = (
    "level {level!r} needs numeric labels (or, for 'ordinal', an ordered pandas "
    "Categorical); column {column!r} holds {dtype} values such as {value!r}"
)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AnyArray = npt.NDArray[Any]
_CHUNK_CELLS = 4_000_000  # bootstrap weights held at once (32 MB of float64)


@dataclass(frozen=True, eq=False)
class EncodedRatings:
    """A validated ratings table as a sparse case x category count matrix.

    Attributes
    ----------
    counts : scipy.sparse.csr_matrix, shape (n_cases, n_categories)
        How many reviewers gave each category to each case.
    categories : numpy.ndarray, shape (n_categories,)
        The labels, in order (sorted for numbers; category order for ordered Categoricals).
    positions : numpy.ndarray of float, shape (n_categories,)
        The numeric value of each category (NaN when labels are not numeric).
    case_ids : pandas.Index
        Case ids in order of first appearance (rows of ``counts``).
    case_codes, rater_codes, label_codes : numpy.ndarray of int, shape (n_ratings,)
        Per rating: its row in ``counts``, its reviewer and its category.
    rater_ids : pandas.Index
        Reviewer ids in order of first appearance.
    ordered : bool
        Whether the categories have a meaningful order (numbers, ordered Categorical).
    """

    counts: sp.csr_matrix
    categories: AnyArray
    positions: AnyArray
    case_ids: pd.Index
    case_codes: AnyArray
    rater_codes: AnyArray
    label_codes: AnyArray
    rater_ids: pd.Index
    ordered: bool

    @property
    def m(self) -> AnyArray:
        """Ratings per case, shape (n_cases,)."""
        return np.asarray(self.counts.sum(axis=1), dtype=np.float64).ravel()


def encode_ratings(
    ratings: pd.DataFrame, *, item: str, rater: str, label: str, level: str = "nominal"
) -> EncodedRatings:
    """Validate ``ratings`` and encode it (see :class:`EncodedRatings`).

    Raises
    ------
    TypeError
        If ``ratings`` is not a DataFrame.
    ValueError
        Unknown ``level``; missing column, missing id or label; duplicate
        (case, reviewer) pair; non-numeric labels for ``ordinal``/``interval``.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a pandas DataFrame; got {type(ratings).__name__}")
    if level not in LEVELS:
        raise ValueError(MSG_LEVEL.format(levels=LEVELS, value=level))
    for column, role in ((item, "case id, item="), (rater, "reviewer id, rater="),
                         (label, "label, label=")):
        check_columns_exist(ratings, [column], role)
        missing = ratings[column].isna().to_numpy()
        if missing.any():
            raise DataValidationError(MSG_MISSING_VALUE.format(
                column=column, role=role, n=int(missing.sum()),
                row=_plain(ratings.index[int(np.argmax(missing))])))
    if len(ratings) == 0:
        raise DataValidationError(MSG_EMPTY)
    case_codes, case_ids = pd.factorize(ratings[item], sort=False)
    rater_codes, rater_ids = pd.factorize(ratings[rater], sort=False)
    _check_duplicates(case_codes, rater_codes, case_ids, rater_ids, item, rater)
    label_codes, categories, positions, ordered = _encode_labels(ratings[label], label, level)
    counts = sp.csr_matrix(
        (np.ones(len(case_codes)), (case_codes, label_codes)),
        shape=(len(case_ids), len(categories)))
    counts.sum_duplicates()
    return EncodedRatings(counts, categories, positions, pd.Index(case_ids), case_codes,
                          rater_codes, label_codes, pd.Index(rater_ids), ordered)


def _check_duplicates(
    case_codes: AnyArray, rater_codes: AnyArray, case_ids: pd.Index,
    rater_ids: pd.Index, item: str, rater: str,
) -> None:
    key = case_codes.astype(np.int64) * max(len(rater_ids), 1) + rater_codes
    dup = pd.Series(key).duplicated(keep="first").to_numpy()
    if dup.any():
        first = int(np.argmax(dup))
        raise DataValidationError(MSG_DUPLICATE.format(
            n=int(dup.sum()), item=item, rater=rater, case=_plain(case_ids[case_codes[first]]),
            reviewer=_plain(rater_ids[rater_codes[first]])))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so messages read ``1``, not ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


def _encode_labels(
    values: pd.Series, column: str, level: str
) -> tuple[AnyArray, AnyArray, AnyArray, bool]:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) and (dtype.ordered or level == "nominal"):
        if level == "interval" and not pd.api.types.is_numeric_dtype(dtype.categories):
            raise DataValidationError(MSG_NOT_NUMERIC.format(
                level=level, column=column, dtype="categorical", value=values.iloc[0]))
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        categories = np.asarray(dtype.categories)
        return codes, categories, _positions(categories), bool(dtype.ordered)
    if pd.api.types.is_numeric_dtype(dtype):
        numbers = values.to_numpy()
        if numbers.dtype == object:
            numbers = numbers.astype(np.float64)
        categories, codes = np.unique(numbers, return_inverse=True)
        return codes.astype(np.int64), categories, categories.astype(np.float64), True
    if level != "nominal":
        raise DataValidationError(MSG_NOT_NUMERIC.format(
            level=level, column=column, dtype=str(dtype), value=values.iloc[0]))
    codes, uniques = pd.factorize(values, sort=False)
    try:  # a deterministic order (ties in modal labels go to the first) where one exists
        order = np.argsort(np.asarray(uniques, dtype=object), kind="stable")
    except TypeError:
        order = np.arange(len(uniques))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    categories = np.asarray(uniques, dtype=object)[order]
    return rank[codes], categories, np.full(len(categories), np.nan), False


def _positions(categories: AnyArray) -> AnyArray:
    try:
        return categories.astype(np.float64)
    except (TypeError, ValueError):
        return np.full(len(categories), np.nan)


def coincidence(counts: sp.csr_matrix, m: AnyArray) -> sp.coo_matrix:
    """Krippendorff's coincidence matrix (pairable cases only), sparse, shape (K, K)."""
    d = np.zeros_like(m)
    pairable = m >= 2
    d[pairable] = 1.0 / (m[pairable] - 1.0)
    weighted = sp.diags(d) @ counts
    o = (counts.T @ weighted).tocsr() - sp.diags(np.asarray(weighted.sum(axis=0)).ravel())
    return sp.coo_matrix(o)


def pair_matrix(counts: sp.csr_matrix, m: AnyArray) -> tuple[sp.csr_matrix, AnyArray,
                                                                AnyArray]:
    """Each case's contribution to the coincidence matrix, one column per category pair.

    Returns ``(P, rows, cols)``: ``P`` has shape (n_cases, n_pairs) so that ``w @ P`` is
    the coincidence matrix of case weights ``w`` at the pairs ``(rows, cols)``.
    """
    indptr, indices, data = counts.indptr, counts.indices, counts.data
    lengths = np.diff(indptr)
    case_of_entry = np.repeat(np.arange(len(lengths)), lengths)
    reps = lengths[case_of_entry]  # each entry pairs with every entry of its case
    left = np.repeat(np.arange(len(indices)), reps)
    offsets = np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps)
    right = indptr[case_of_entry[left]] + offsets
    case = case_of_entry[left]
    d = np.where(m >= 2, 1.0 / np.maximum(m - 1.0, 1.0), 0.0)[case]
    value = (data[left] * data[right] - np.where(left == right, data[left], 0.0)) * d
    n_cat = counts.shape[1]
    keys, column = np.unique(indices[left] * n_cat + indices[right], return_inverse=True)
    matrix = sp.csr_matrix((value, (case, column)), shape=(counts.shape[0], len(keys)))
    return matrix, keys // n_cat, keys % n_cat


def alpha_kernel(
    o: AnyArray, rows: AnyArray, cols: AnyArray, positions: AnyArray, level: str
) -> AnyArray:
    """Krippendorff's alpha for a batch of coincidence matrices given at pairs.

    ``o`` has shape (B, n_pairs); ``rows``/``cols`` give each pair's categories. Returns
    shape (B,), NaN where undefined (no pairable value, or a single category).
    """
    n_cat = len(positions)
    by_row = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))),
                           shape=(n_cat, len(rows)))
    n_c = np.asarray((by_row @ o.T).T)
    n = n_c.sum(axis=1)
    if level == "nominal":
        observed = (o * (rows != cols)).sum(axis=1)
        expected = n**2 - (n_c**2).sum(axis=1)
    elif level == "interval":
        observed = o @ (positions[rows] - positions[cols]) ** 2
        first, second = n_c @ positions, n_c @ positions**2
        expected = 2.0 * (n * second - first**2)
    else:
        cum = np.cumsum(n_c, axis=1)
        delta = (cum[:, cols] - cum[:, rows] + (n_c[:, rows] - n_c[:, cols]) / 2.0) ** 2
        observed = (o * delta).sum(axis=1)
        expected = _ordinal_expected(n_c, cum)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * observed / expected
    defined = ((n_c > 0).sum(axis=1) >= 2) & (expected > 0)
    return np.where(defined, alpha, np.nan)


def _ordinal_expected(n_c: AnyArray, cum: AnyArray) -> AnyArray:
    """Sum over category pairs of n_c n_k delta_ck, in blocks of rows (O(B K) memory)."""
    total = np.zeros(n_c.shape[0])
    n_cat = n_c.shape[1]
    block = max(1, 2_000_000 // max(n_cat * n_c.shape[0], 1))
    for start in range(0, n_cat, block):
        c = slice(start, min(start + block, n_cat))
        delta = (cum[:, None, :] - cum[:, c, None]
                 + (n_c[:, c, None] - n_c[:, None, :]) / 2.0) ** 2
        total += np.einsum("bc,bk,bck->b", n_c[:, c], n_c, delta)
    return total


def bootstrap_weights(
    n_cases: int, n_boot: int, random_state: int | np.random.Generator | None,
    *, pattern: IntArray | None = None,
) -> Iterator[FloatArray]:
    """Yield blocks of case weights, shape (b, n_patterns), b replicates at a time.

    Each replicate resamples ``n_cases`` cases with replacement; its weights count how
    often each case (or each case's ``pattern``, when cases with identical count rows
    are merged) was drawn: multinomial weights, so a statistic's replicate is the
    statistic under those weights.
    """
    rng = np.random.default_rng(random_state)
    pattern = np.arange(n_cases) if pattern is None else pattern
    n_patterns = int(pattern.max()) + 1 if n_cases else 0
    step = max(1, min(n_boot, _CHUNK_CELLS // max(n_cases, n_patterns, 1)))
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        draws = pattern[rng.integers(0, n_cases, size=(size, n_cases))]
        draws += n_patterns * np.arange(size)[:, None]
        tally = np.bincount(draws.ravel(), minlength=size * n_patterns)
        yield tally.reshape(size, n_patterns).astype(np.float64)


def compress(counts: Any) -> tuple[Any, IntArray, FloatArray]:
    """Merge cases with identical count rows: ``(unique rows, pattern of each case, freq)``.

    Every statistic depends on a case only through its count row, so the bootstrap can
    run over the (often few) distinct rows. Skipped (one pattern per case) when a dense
    copy would be large.
    """
    n_cases, n_cat = counts.shape
    if n_cases * n_cat > 20_000_000:
        return counts, np.arange(n_cases), np.ones(n_cases)
    rows, pattern, freq = np.unique(counts.toarray(), axis=0, return_inverse=True,
                                    return_counts=True)
    return sp.csr_matrix(rows), pattern.ravel().astype(np.int64), freq.astype(np.float64)


def percentile_interval(replicates: AnyArray, level_ci: float) -> tuple[float, float]:
    """Percentile interval of the finite replicates, (NaN, NaN) when there are none."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level_ci) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def jackknife_z_interval(
    prep: Prepared, freq: FloatArray, level_ci: float
) -> tuple[float, float]:
    """Krippendorff's alpha interval: delete-one-case jackknife on Fisher's z scale.

    ``z = atanh(alpha)``; ``se`` is the jackknife standard error of ``z`` over the
    pairable cases (``(n - 1) / n * sum (z_(-u) - mean)^2``), and the interval is
    ``tanh(z -/+ t(n - 1) * se)``. Leaving out case ``u`` subtracts its row of the pair
    matrix from the coincidence matrix, so the ``n`` refits cost one product each.
    Leave-one-out values that are undefined (NaN) are left out; (NaN, NaN) with fewer
    than two pairable cases or an undefined alpha. ``freq`` counts the cases of each row
    of ``prep`` (rows are distinct count patterns after :func:`compress`).
    """
    if prep.pairs is None:
        raise ValueError("prepare(..., with_pairs=True) is needed for krippendorff_alpha")
    matrix, rows, cols = prep.pairs
    total = np.asarray(matrix.T @ freq).ravel()
    alpha = alpha_kernel(total[None, :], rows, cols, prep.positions, prep.level)[0]
    used = np.flatnonzero((freq > 0) & (prep.pairable > 0))
    n = float(freq[used].sum())
    if not np.isfinite(alpha) or n < 2:
        return float("nan"), float("nan")
    dense = matrix.tocsr()
    step = max(1, _CHUNK_CELLS // max(len(rows), 1))
    loo = np.concatenate([
        alpha_kernel(total[None, :] - dense[used[i:i + step]].toarray(), rows, cols,
                     prep.positions, prep.level) for i in range(0, len(used), step)])
    ok = np.isfinite(loo)
    weight, z_loo = freq[used][ok], _fisher_z(loo[ok])
    n_ok = float(weight.sum())
    if n_ok < 2:
        return float("nan"), float("nan")
    centre = float((weight * z_loo).sum() / n_ok)
    se = math.sqrt((n_ok - 1.0) / n_ok * float((weight * (z_loo - centre) ** 2).sum()))
    half = float(stats.t.ppf(0.5 + level_ci / 2.0, n_ok - 1.0)) * se
    z = float(_fisher_z(np.array([alpha]))[0])
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def _fisher_z(values: AnyArray) -> FloatArray:
    """``atanh`` of values clipped into (-1, 1), so alpha = 1 maps to a finite z."""
    return np.asarray(np.arctanh(np.clip(values, -1.0 + 1e-12, 1.0 - 1e-12)), dtype=np.float64)


STATISTICS = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement")


@dataclass(frozen=True, eq=False)
class Prepared:
    """Per-case quantities from which every statistic follows for any case weights."""

    counts: Any  # sparse (n_cases, K)
    positions: FloatArray
    level: str
    pairable: FloatArray  # 1.0 where the case has >= 2 ratings
    agreement: FloatArray  # share of agreeing pairs within each pairable case
    shares: Any  # sparse (n_cases, K): n_uk / m_u
    fleiss_mask: FloatArray  # 1.0 where the case has the modal number of ratings
    fleiss_m: int
    pairs: tuple[Any, AnyArray, AnyArray] | None


def prepare(counts: Any, positions: FloatArray, level: str, *, with_pairs: bool) -> Prepared:
    """Precompute the per-case quantities (``with_pairs`` for alpha under case weights)."""
    m = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    pairable = (m >= 2).astype(np.float64)
    squares = np.asarray(counts.multiply(counts).sum(axis=1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        agreement = np.where(pairable > 0, (squares - m) / (m * (m - 1.0)), 0.0)
    shares = sp.diags(1.0 / m) @ counts
    fleiss_m = modal_count(m)
    mask = ((m == fleiss_m) & (m >= 2)).astype(np.float64)
    pairs = pair_matrix(counts, m) if with_pairs else None
    return Prepared(counts, positions, level, pairable, agreement, shares, mask, fleiss_m, pairs)


def modal_count(m: FloatArray) -> int:
    """The most common number of ratings among pairable cases (ties: the larger), or 0."""
    pairable = m[m >= 2].astype(np.int64)
    if len(pairable) == 0:
        return 0
    tally = np.bincount(pairable)
    return int(len(tally) - 1 - np.argmax(tally[::-1]))


def evaluate(prep: Prepared, weights: FloatArray, names: tuple[str, ...]) -> dict[str, FloatArray]:
    """Each named statistic for each row of case ``weights`` (shape (B, n_cases))."""
    out: dict[str, FloatArray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = (weights @ (prep.agreement * prep.pairable)) / (weights @ prep.pairable)
        if "percent_agreement" in names:
            out["percent_agreement"] = pa
        if "gwet_ac1" in names:
            out["gwet_ac1"] = _ac1(prep, weights, pa)
        if "fleiss_kappa" in names:
            out["fleiss_kappa"] = _fleiss(prep, weights)
    if "krippendorff_alpha" in names:
        if prep.pairs is None:
            raise ValueError("prepare(..., with_pairs=True) is needed for krippendorff_alpha")
        matrix, rows, cols = prep.pairs
        o = np.asarray((matrix.T @ weights.T).T)
        out["krippendorff_alpha"] = alpha_kernel(o, rows, cols, prep.positions, prep.level)
    return out


def _ac1(prep: Prepared, weights: FloatArray, pa: FloatArray) -> FloatArray:
    q = prep.counts.shape[1]
    if q < 2:
        return np.full(weights.shape[0], np.nan)
    pi = np.asarray((prep.shares.T @ weights.T).T) / weights.sum(axis=1)[:, None]
    pe = (pi * (1.0 - pi)).sum(axis=1) / (q - 1.0)
    result: FloatArray = (pa - pe) / (1.0 - pe)
    return result


def _fleiss(prep: Prepared, weights: FloatArray) -> FloatArray:
    used = weights @ prep.fleiss_mask
    p_bar = (weights @ (prep.agreement * prep.fleiss_mask)) / used
    masked = sp.diags(prep.fleiss_mask) @ prep.counts
    p = np.asarray((masked.T @ weights.T).T) / (prep.fleiss_m * used)[:, None]
    pe = (p**2).sum(axis=1)
    kappa = (p_bar - pe) / (1.0 - pe)
    result: FloatArray = np.where(pe < 1.0 - 1e-12, kappa, np.nan)
    return result
