"""Consensus labels from several reviewers: majority vote and Dawid-Skene.

Every entry takes the reviews table ``case_id, reviewer_id, label`` (names set with
``item=``, ``rater=``, ``label=``): one row per rating, no missing value, at most one
rating per (case, reviewer). Classes are the sorted union of the labels; cases come out
sorted, so results do not depend on row order.

The rule the retraining loop uses (:func:`consensus_labels`), first that applies:

1. ``adjudicated``: a label an adjudicator set for the case;
2. ``dawid_skene``: the Dawid-Skene label if its posterior >= ``min_confidence`` (0.9),
   the fit converged, and either every reviewer of the case rated at least
   ``min_reviewer_cases`` (20) cases or the label is the case's untied majority label.
   Dawid-Skene learns each reviewer's confusion matrix
   from that reviewer's cases; run to convergence on a small table it grows confident
   on almost nothing (a 1-1 tie between two reviewers of three cases each reaches a
   posterior of 0.9999995), so a posterior from thin reviewers never settles a tie or
   overrules a majority;
3. ``majority``: the modal label when it is not tied;
4. ``none``: no label; the case goes back to review.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from audits.data.schema import check_columns_exist

__all__ = ["DawidSkene", "consensus_labels", "majority_vote"]

MSG_NOT_FRAME = "ratings must be a pandas DataFrame; got {type}"
MSG_EMPTY = "the ratings table has no rows"
MSG_SAME_COLUMN = "item, rater and label must name three different columns; got {names}"
MSG_MISSING_VALUE = "column {column!r} ({role}) has {n} missing value(s), first at row {row!r}"
MSG_DUPLICATE = ("{n} duplicate (case, reviewer) pair(s) in columns {item!r}, {rater!r}; "
                 "first: case {case!r} rated by reviewer {reviewer!r} more than once")
MSG_OPTION = "{name} must be one of {allowed}; got {value!r}"
MSG_RANGE = "{name} must be {rule}; got {value!r}"
MSG_ADJUDICATED_UNKNOWN = "adjudicated case {case!r} has no ratings; {n} such case(s)"
MSG_ADJUDICATED_MISSING = "adjudicated case {case!r} has a missing label"
MSG_NOT_FITTED = "this DawidSkene is not fitted yet; call fit(ratings) first"
MSG_NOT_CONVERGED = (
    "Dawid-Skene did not converge in n_iter={n_iter} EM iterations (largest posterior "
    "change {change:.2g} >= tol={tol:g}); its labels may change with more iterations: "
    "raise n_iter")

_TINY = np.finfo(float).tiny  # floor for log(0) when smoothing=0
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _Encoded:
    """The ratings as integer codes: case, reviewer and label of each rating."""

    cases: pd.Index
    reviewers: pd.Index
    classes: pd.Index
    case: NDArray[np.intp]
    reviewer: NDArray[np.intp]
    label: NDArray[np.intp]
    item: str
    label_name: str


def majority_vote(
    ratings: pd.DataFrame, *, tie_break: str | None = None,
    random_state: int | np.random.Generator | None = None, item: str = "case_id",
    rater: str = "reviewer_id", label: str = "label",
) -> pd.DataFrame:
    """Modal label of each case, with ties reported rather than silently broken.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Reviews table, one row per rating (see the module docstring).
    tie_break : {None, "random", "lowest"}, default None
        None leaves tied cases without a label. "lowest" takes the smallest tied label
        in sorted order; "random" draws one of the tied labels with ``random_state``.
    random_state : int, numpy Generator or None, default None
        Seed of the "random" tie-break.
    item, rater, label : str, default "case_id", "reviewer_id", "label"
        Column names.

    Returns
    -------
    pandas.DataFrame
        One row per case, sorted by case: ``item``, ``label`` (the modal label; None on
        an unbroken tie), ``n_ratings``, ``modal_share`` (votes for the modal label /
        ``n_ratings``), ``tie`` (bool), ``tied_labels`` (tuple of the tied labels, empty
        without a tie) and ``tie_broken`` (True where ``tie_break`` chose the label).

    Raises
    ------
    TypeError, ValueError
        ``ratings`` not a DataFrame; a missing column or value, a duplicate (case,
        reviewer) pair or a bad option (messages: the module's ``MSG_*`` constants).

    Examples
    --------
    >>> r = pd.DataFrame({"case_id": [1, 1, 1, 2, 2], "reviewer_id": list("abcab"),
    ...                   "label": ["yes", "yes", "no", "yes", "no"]})
    >>> majority_vote(r)[["case_id", "label", "tie", "tied_labels"]]
       case_id label    tie tied_labels
    0        1   yes  False          ()
    1        2  None   True   (no, yes)
    >>> majority_vote(r, tie_break="lowest")["label"].tolist()
    ['yes', 'no']
    """
    _check_option("tie_break", tie_break, (None, "random", "lowest"))
    enc = _encode(ratings, item, rater, label)
    counts = _vote_shares(enc, normalise=False)
    n_ratings = counts.sum(axis=1)
    is_top = counts == counts.max(axis=1, keepdims=True)
    tie = is_top.sum(axis=1) > 1
    if tie_break == "random":
        keys = np.random.default_rng(random_state).random(counts.shape)
        chosen = np.where(is_top, keys, -1.0).argmax(axis=1)
    else:
        chosen = is_top.argmax(axis=1)  # the lowest of the top labels
    labels = _object_array(enc.classes.take(chosen).tolist())
    if tie_break is None:
        labels[tie] = None
    tied: list[tuple[Any, ...]] = [()] * len(enc.cases)
    for i in np.flatnonzero(tie):
        tied[i] = tuple(enc.classes[is_top[i]].tolist())
    return pd.DataFrame({
        item: enc.cases, label: pd.Series(labels, dtype=object),
        "n_ratings": n_ratings.astype(np.int64), "modal_share": counts.max(axis=1) / n_ratings,
        "tie": tie, "tied_labels": pd.Series(tied, dtype=object),
        "tie_broken": tie & (tie_break is not None),
    })


class DawidSkene:
    """Dawid & Skene (1979) latent-class model fitted by expectation-maximisation.

    Each reviewer has a confusion matrix ``P(observed label | true class)``; each case's
    true class has the prior ``priors_``. EM starts from the vote shares of each case
    (the soft majority vote), then alternates an M-step (priors = mean posterior;
    confusion counts = posterior-weighted ratings) and an E-step (posterior of each case
    from the priors and the confusion rows of its ratings, in log space with a
    log-sum-exp normalisation so many ratings cannot underflow). One iteration is one
    M-step followed by one E-step, so ``probas_`` is the posterior under the fitted
    ``priors_`` and ``confusions_``. It stops when no posterior changed by ``tol`` or more
    in an iteration (a change of log-likelihood below 1e-7 per rating is looser: labels
    near 0.5 still flip on a flat likelihood), or after ``n_iter`` iterations: then
    ``converged_`` is False and :meth:`fit` warns (``ConvergenceWarning``). Small tables
    with missing ratings can need thousands of iterations (up to 5,833 in the tables
    measured in docs/statistics.md, where 100 iterations left about half unconverged), so
    the cap is high; each iteration is one pass over the ratings. On very small tables
    the converged fit can be overconfident: the prior of a rare class can collapse
    towards 0, so a 1-1 split gets a posterior near 1 (three cases, seven ratings: case
    ``2`` of the :func:`consensus_labels` example gets ``y`` at 0.9999995); trust
    ``probas_`` only with enough cases per reviewer.

    Parameters
    ----------
    n_iter : int, default 10000
        Maximum number of EM iterations (at least 1).
    tol : float, default 1e-7
        Convergence tolerance on the largest change of a posterior probability.
    smoothing : float, default 0.01
        Laplace-style pseudo-count added to every cell of every reviewer's confusion
        count matrix before each row is normalised. It keeps a reviewer seen on few
        cases from getting probabilities of exactly 0 or 1 (which would let one rating
        veto a class); 0 gives the plain maximum-likelihood M-step.
    init : {"majority"}, default "majority"
        Starting posteriors: the share of each case's votes for each class.

    Attributes
    ----------
    labels_ : pandas.Series
        Case id -> most probable class (the lowest class on an exact tie).
    probas_ : pandas.DataFrame
        Cases x classes posterior probabilities; rows sum to 1.
    confusions_ : dict
        Reviewer id -> DataFrame true class x observed label; rows sum to 1.
    priors_ : pandas.Series
        Class -> prior probability.
    n_iter_, converged_ : int, bool
        Iterations run; whether the tolerance was met within ``n_iter`` (a fit that did
        not converge also raises a ``ConvergenceWarning``).
    log_likelihood_ : float
        Log-likelihood of the ratings under ``priors_`` and ``confusions_``.

    Examples
    --------
    >>> r = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 2], "reviewer_id": list("abcabc"),
    ...                   "label": [0, 0, 1, 1, 1, 0]})
    >>> ds = DawidSkene().fit(r)
    >>> ds.labels_.tolist()
    [0, 1]
    >>> bool(ds.posterior_confidence().ge(0.5).all())
    True
    """

    def __init__(
        self, n_iter: int = 10_000, tol: float = 1e-7, *, smoothing: float = 0.01,
        init: str = "majority",
    ) -> None:
        self.n_iter, self.tol, self.smoothing, self.init = n_iter, tol, smoothing, init

    def fit(
        self, ratings: pd.DataFrame, *, item: str = "case_id", rater: str = "reviewer_id",
        label: str = "label",
    ) -> Self:
        """Fit to a reviews table and return ``self``; ValueError on bad params or ratings."""
        self._check_params()
        enc = _encode(ratings, item, rater, label)
        posterior = _vote_shares(enc, normalise=True)
        converged, iteration, change = False, 0, float("inf")
        for iteration in range(1, self.n_iter + 1):  # noqa: B007
            priors, confusion = _m_step(enc, posterior, self.smoothing)
            previous = posterior
            posterior, log_lik = _e_step(enc, priors, confusion)
            change = float(np.abs(posterior - previous).max())
            converged = change < self.tol
            if converged:
                break
        if not converged:
            warnings.warn(MSG_NOT_CONVERGED.format(n_iter=self.n_iter, change=change,
                                                   tol=self.tol), ConvergenceWarning,
                          stacklevel=2)
        self._store(enc, posterior, priors, confusion)
        self.n_iter_, self.converged_, self.log_likelihood_ = iteration, converged, log_lik
        return self

    def fit_predict(
        self, ratings: pd.DataFrame, *, item: str = "case_id", rater: str = "reviewer_id",
        label: str = "label",
    ) -> pd.Series:
        """Fit, then return ``labels_`` (case id -> consensus label)."""
        return self.fit(ratings, item=item, rater=rater, label=label).labels_

    def posterior_confidence(self) -> pd.Series:
        """Largest posterior probability of each case (case id -> float in [0, 1])."""
        if not hasattr(self, "probas_"):
            raise NotFittedError(MSG_NOT_FITTED)
        return self.probas_.max(axis=1).rename("confidence")

    def _check_params(self) -> None:
        n_iter = self.n_iter
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
            raise ValueError(MSG_RANGE.format(name="n_iter", rule="an int >= 1", value=n_iter))
        for name, value in (("tol", self.tol), ("smoothing", self.smoothing)):
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(MSG_RANGE.format(name=name, rule="a number >= 0", value=value))
        _check_option("init", self.init, ("majority",))

    def _store(self, enc: _Encoded, posterior: FloatArray, priors: FloatArray,
               confusion: FloatArray) -> None:
        cases = enc.cases.rename(enc.item)
        classes = enc.classes.rename(enc.label_name)
        self.probas_ = pd.DataFrame(posterior, index=cases, columns=classes)
        self.labels_ = pd.Series(enc.classes.take(posterior.argmax(axis=1)), index=cases,
                                 name=enc.label_name)
        self.priors_ = pd.Series(priors, index=classes, name="prior")
        true, observed = classes.rename("true"), classes.rename("observed")
        self.confusions_ = {reviewer: pd.DataFrame(confusion[r], index=true, columns=observed)
                            for r, reviewer in enumerate(enc.reviewers.tolist())}


def consensus_labels(
    ratings: pd.DataFrame, *, adjudicated: Mapping[Hashable, Any] | None = None,
    min_confidence: float = 0.9, min_reviewer_cases: int = 20,
    dawid_skene: DawidSkene | None = None, item: str = "case_id", rater: str = "reviewer_id",
    label: str = "label",
) -> pd.DataFrame:
    """One label per case by the retraining rule in the module docstring.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Reviews table (see the module docstring).
    adjudicated : mapping of case id to label, optional
        Final labels set by an adjudicator; each case must have ratings.
    min_confidence : float in [0, 1], default 0.9
        Smallest Dawid-Skene posterior that is trusted.
    min_reviewer_cases : int >= 1, default 20
        Dawid-Skene is trusted on a case (of a converged fit) only when every reviewer
        of it rated at least this many cases, or its label is the untied majority's.
    dawid_skene : DawidSkene, optional
        An (unfitted) estimator to use, fitted here in place; default ``DawidSkene()``.
    item, rater, label : str, default "case_id", "reviewer_id", "label"
        Column names.

    Returns
    -------
    pandas.DataFrame
        One row per case, sorted: ``item``, ``label`` (None for source "none"),
        ``source`` ("adjudicated", "dawid_skene", "majority" or "none") and
        ``confidence`` (1.0 if adjudicated, the posterior for Dawid-Skene, the modal
        share for majority, NaN for none). ``attrs["dawid_skene"]`` holds
        ``{"converged": bool, "n_iter": int}`` of the fit; a fit that did not converge
        also warns (``ConvergenceWarning``), so callers can report it.

    Raises
    ------
    ValueError
        Bad ratings; an adjudicated case without ratings or label; bad ``min_confidence``.

    Examples
    --------
    >>> r = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 3, 3],
    ...                   "reviewer_id": list("abcabab"),
    ...                   "label": ["y", "y", "y", "y", "n", "n", "y"]})
    >>> consensus_labels(r, adjudicated={3: "n"})[
    ...     ["case_id", "label", "source"]]
       case_id label       source
    0        1     y  dawid_skene
    1        2  None         none
    2        3     n  adjudicated
    """
    if not (isinstance(min_confidence, int | float) and 0.0 <= min_confidence <= 1.0):
        raise ValueError(MSG_RANGE.format(name="min_confidence", rule="in [0, 1]",
                                          value=min_confidence))
    if (isinstance(min_reviewer_cases, bool) or not isinstance(min_reviewer_cases, int)
            or min_reviewer_cases < 1):
        raise ValueError(MSG_RANGE.format(name="min_reviewer_cases", rule="an int >= 1",
                                          value=min_reviewer_cases))
    majority = majority_vote(ratings, item=item, rater=rater, label=label)
    adjudged = _adjudicated_labels(majority[item], adjudicated or {})
    model = dawid_skene if dawid_skene is not None else DawidSkene()
    model.fit(ratings, item=item, rater=rater, label=label)
    ds_conf = model.posterior_confidence().to_numpy()
    has_adj = adjudged.notna().to_numpy()
    thin = ratings[rater].map(ratings.groupby(rater)[item].size()) < min_reviewer_cases
    thin_cases = set(ratings.loc[thin.to_numpy(), item])
    well_rated = ~majority[item].isin(thin_cases).to_numpy()
    # Thin reviewers' posteriors are trusted only where they agree with a clear majority.
    agrees = ~majority["tie"].to_numpy() & (
        _object_array(model.labels_.tolist()) == majority[label].to_numpy(dtype=object))
    trust_ds = (~has_adj & (ds_conf >= min_confidence) & bool(model.converged_)
                & (well_rated | agrees))
    use_majority = ~has_adj & ~trust_ds & ~majority["tie"].to_numpy()
    source = np.select([has_adj, trust_ds, use_majority],
                       ["adjudicated", "dawid_skene", "majority"], "none")
    labels = np.where(has_adj, adjudged.to_numpy(), np.where(
        trust_ds, _object_array(model.labels_.tolist()),
        np.where(use_majority, majority[label].to_numpy(dtype=object), None)))
    confidence = np.select([has_adj, trust_ds, use_majority],
                           [1.0, ds_conf, majority["modal_share"].to_numpy()], np.nan)
    result = pd.DataFrame({item: majority[item], label: pd.Series(labels, dtype=object),
                           "source": pd.Series(source, dtype=object),
                           "confidence": confidence})
    result.attrs["dawid_skene"] = {"converged": bool(model.converged_),
                                   "n_iter": int(model.n_iter_)}
    return result


def _adjudicated_labels(cases: pd.Series, adjudicated: Mapping[Hashable, Any]) -> pd.Series:
    known = set(cases.tolist())
    unknown = [case for case in adjudicated if case not in known]
    if unknown:
        raise ValueError(MSG_ADJUDICATED_UNKNOWN.format(case=unknown[0], n=len(unknown)))
    missing = [case for case, value in adjudicated.items() if pd.isna(value)]
    if missing:
        raise ValueError(MSG_ADJUDICATED_MISSING.format(case=missing[0]))
    return pd.Series([adjudicated.get(case) for case in cases.tolist()], dtype=object)


def _encode(ratings: pd.DataFrame, item: str, rater: str, label: str) -> _Encoded:
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(MSG_NOT_FRAME.format(type=type(ratings).__name__))
    if len({item, rater, label}) < 3:
        raise ValueError(MSG_SAME_COLUMN.format(names=(item, rater, label)))
    roles = {item: "case id", rater: "reviewer id", label: "label"}
    for column, role in roles.items():  # one call per column: the message names the role
        check_columns_exist(ratings, [column], role)
    if ratings.empty:
        raise ValueError(MSG_EMPTY)
    for column, role in roles.items():
        missing = ratings[column].isna()
        if missing.any():
            raise ValueError(MSG_MISSING_VALUE.format(
                column=column, role=role, n=int(missing.sum()),
                row=ratings.index[missing.to_numpy()].tolist()[0]))
    duplicated = ratings.duplicated([item, rater])
    if duplicated.any():
        case, reviewer = (ratings[col][duplicated].tolist()[0] for col in (item, rater))
        raise ValueError(MSG_DUPLICATE.format(n=int(duplicated.sum()), item=item, rater=rater,
                                              case=case, reviewer=reviewer))
    (case, cases), (reviewer, reviewers), (code, classes) = (
        pd.factorize(ratings[col], sort=True) for col in (item, rater, label))
    return _Encoded(pd.Index(cases), pd.Index(reviewers), pd.Index(classes),
                    case.astype(np.intp), reviewer.astype(np.intp), code.astype(np.intp),
                    item=item, label_name=label)


def _vote_shares(enc: _Encoded, *, normalise: bool) -> FloatArray:
    """Cases x classes vote counts (or shares when ``normalise``)."""
    k = len(enc.classes)
    counts = np.bincount(enc.case * k + enc.label, minlength=len(enc.cases) * k).reshape(-1, k)
    return counts / counts.sum(axis=1, keepdims=True) if normalise else counts.astype(float)


def _m_step(enc: _Encoded, posterior: FloatArray,
            smoothing: float) -> tuple[FloatArray, FloatArray]:
    """Priors (classes) and confusion matrices (reviewers x true x observed)."""
    n_reviewers, k = len(enc.reviewers), len(enc.classes)
    weights = posterior[enc.case]  # ratings x true class
    flat = enc.reviewer * k + enc.label
    counts = np.empty((n_reviewers, k, k))
    for true in range(k):
        counts[:, true, :] = np.bincount(flat, weights=weights[:, true],
                                         minlength=n_reviewers * k).reshape(n_reviewers, k)
    counts += smoothing
    totals = counts.sum(axis=2, keepdims=True)
    # A reviewer with no weight on a true class (only when smoothing=0) gets a uniform row.
    confusion = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 1.0 / k)
    return posterior.mean(axis=0), confusion


def _e_step(enc: _Encoded, priors: FloatArray,
            confusion: FloatArray) -> tuple[FloatArray, float]:
    """Posteriors (cases x classes) and the log-likelihood of the ratings."""
    n_cases, k = len(enc.cases), len(enc.classes)
    log_conf = np.log(np.maximum(confusion, _TINY)).transpose(0, 2, 1)  # rev x obs x true
    per_rating = log_conf[enc.reviewer, enc.label]  # ratings x true class
    joint = np.empty((n_cases, k))
    for true in range(k):
        joint[:, true] = np.bincount(enc.case, weights=per_rating[:, true], minlength=n_cases)
    joint += np.log(np.maximum(priors, _TINY))
    norm = logsumexp(joint, axis=1)
    return np.exp(joint - norm[:, None]), float(norm.sum())


def _check_option(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(MSG_OPTION.format(name=name, allowed=allowed, value=value))


def _object_array(values: list[Any]) -> NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
