"""Active learning: the unreviewed decisions whose human label would teach the model most.

Uncertainty sampling with diversity. A decision the model is unsure of (its score near
the threshold) is worth a label; ten near-identical unsure decisions are worth little
more than one. So, within each subject group, a greedy max-min (k-center) pass over the
encoded feature space picks among the most uncertain rows, each pick as unsure *and* as
unlike the rows already picked as possible. Re-exported by :mod:`audits.flagging.flags`; see
there for the flags table contract.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audits.data.schema import check_columns_exist
from audits.flagging.common import (
    MSG_NOT_FRAME,
    MSG_SCORES,
    MSG_SEED,
    _check_count,
    _check_series,
    _check_unique,
    _table,
    seeded_key,
)
from audits.models.training import _model_input

__all__ = ["MSG_FEATURES", "MSG_GROUP_MISSING", "MSG_OPEN_THRESHOLD", "MSG_PROBABILITY",
           "MSG_SAME_ROWS", "active_learning_flags", "encoded_features", "uncertainty"]

MSG_FEATURES = "feature column {column!r} must hold finite numbers (pass the encoded inputs)"
MSG_PROBABILITY = "y_score must hold probabilities in [0, 1]; row {row!r} has {value!r}"
MSG_OPEN_THRESHOLD = "threshold must lie strictly between 0 and 1; got {value!r}"
MSG_SAME_ROWS = "features and {name} must label the same rows; {n} differ, e.g. {row!r}"
MSG_GROUP_MISSING = "groups has no subject group for row {row!r}"


def active_learning_flags(
    features: pd.DataFrame,
    y_score: pd.Series,
    *,
    threshold: float = 0.5,
    groups: pd.Series | None = None,
    k: int | None = None,
    exclude: Iterable[Hashable] = (),
    random_state: int = 0,
) -> pd.DataFrame:
    """Flag unreviewed decisions whose label would most improve the model.

    **Uncertainty** (:func:`uncertainty`) is ``1 - |s - t| / t`` below the threshold
    ``t`` and ``1 - |s - t| / (1 - t)`` at or above it: 1 at the threshold, 0 at the
    scores 0 and 1. **Diversity**: features are scaled (0/1 indicator columns kept, every
    other column divided by its standard deviation over the rows given) and, within each
    subject group, a greedy max-min pass over the group's eligible rows picks first the
    most uncertain row, then again and again the row maximising ``u * d / D``, where ``u``
    is its uncertainty, ``d`` its distance to the nearest row already picked in the group
    and ``D`` the largest distance of an eligible row to the group's first pick. That
    product is the flag **score** (the first pick scores its ``u``): a row needs to be
    both uncertain and new, so the most uncertain rows lead unless they repeat what is
    already picked. It never rises along a group's picks, so the policy takes them in
    that order, and a duplicate of a picked row scores 0 and is never flagged. Uncertain
    rows are not shortlisted by count first: a shortlist of the ``m`` most uncertain rows
    can be ``m`` near-duplicates, the very case diversity is for.

    The ``k`` flags are the first pick of every group (most uncertain first), then the
    other picks by score. Rows in ``exclude`` (already reviewed) and rows with ``u = 0``
    are never flagged. Ties go to the seeded order of :func:`audits.flagging.flags.seeded_key`;
    rows are processed in that order, so shuffling the inputs changes nothing.

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_rows, n_encoded)
        The model's encoded numeric inputs (:func:`encoded_features`); its index labels
        the rows.
    y_score : pandas.Series of shape (n_rows,)
        Probabilities of the positive class, on the same rows.
    threshold : float, default 0.5
        The decision threshold, strictly between 0 and 1.
    groups : pandas.Series or None, default None
        Row -> subject-group label (every row); None treats all rows as one group.
    k : int or None, default None
        Rows to flag; None: every eligible row. Time grows as ``k * n_rows * n_encoded``
        (quadratic in a group's size for None).
    exclude : iterable of row labels, default ()
        Rows already reviewed; labels not in ``features`` are ignored.
    random_state : int, default 0

    Returns
    -------
    pandas.DataFrame with columns :data:`audits.flagging.flags.FLAG_COLUMNS`, in pick order

    Raises
    ------
    TypeError, ValueError
        Inputs of the wrong type, duplicate or mismatched rows, non-finite features,
        scores outside [0, 1], a missing group, or an option out of range (``MSG_*``).

    Examples
    --------
    Row b duplicates row a, so the second flag goes to c, less uncertain but new:

    >>> x = pd.DataFrame({"income": [1.0, 1.0, 5.0, 9.0]}, index=list("abcd"))
    >>> s = pd.Series([0.5, 0.52, 0.4, 0.95], index=list("abcd"))
    >>> out = active_learning_flags(x, s, k=2)
    >>> out.row.tolist(), out.score.round(2).tolist()
    (['a', 'c'], [1.0, 0.4])
    >>> print(out.explanation[1])
    The model scored 0.40 against a threshold of 0.50 (uncertainty 0.80) and this case
    is unlike the 1 case already picked, so a human label here would teach the
    retrained model something new.
    """
    x, scores, labels = _checked(features, y_score, groups, threshold, k, random_state)
    keys = [seeded_key(label, random_state) for label in x.index.tolist()]
    order = sorted(range(len(keys)), key=keys.__getitem__)  # canonical, order-free
    x, scores, labels = x.iloc[order], scores.iloc[order], labels[order]
    u = uncertainty(scores, threshold=threshold).to_numpy()
    matrix = _scaled(x)
    eligible = (u > 0) & ~x.index.isin(list(exclude))
    limit = len(x) if k is None else k
    picks: list[tuple[bool, float, int, int, int, float]] = []
    for group in sorted(set(labels[eligible].tolist()), key=lambda g: seeded_key(g, random_state)):
        where = np.flatnonzero(eligible & (labels == group))
        where = where[np.argsort(-u[where], kind="stable")]  # most uncertain first
        for rank, (pos, value) in enumerate(_greedy(matrix[where], u[where], limit)):
            picks.append((rank > 0, -value, len(picks), int(where[pos]), rank, value))
    chosen = sorted(picks)[:limit]
    notes = [_note(float(scores.iloc[p]), threshold, float(u[p]), rank,
                   None if groups is None else str(labels[p]))
             for *_, p, rank, _ in chosen]
    return _table(x.index[[c[3] for c in chosen]], "active_learning",
                  np.clip([c[5] for c in chosen], 0.0, 1.0), notes)


def uncertainty(y_score: pd.Series, *, threshold: float = 0.5) -> pd.Series:
    """Return how unsure the model is: 1 at the threshold, falling linearly to 0 at 0 and 1.

    ``1 - (t - s) / t`` for ``s < t``, ``1 - (s - t) / (1 - t)`` for ``s >= t``.

    Examples
    --------
    >>> uncertainty(pd.Series([0.0, 0.15, 0.3, 0.65, 1.0]), threshold=0.3).round(2).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    s = y_score.astype(np.float64)
    below = 1.0 - (threshold - s) / threshold
    above = 1.0 - (s - threshold) / (1.0 - threshold)
    return below.where(s < threshold, above).clip(0.0, 1.0)


def encoded_features(pipeline: Any, frame: pd.DataFrame, *,
                     features: Sequence[str]) -> pd.DataFrame:
    """Return ``frame[features]`` as the model's final step sees them.

    A scikit-learn pipeline's steps before the last (fairpanel's ``preprocess``: imputing,
    scaling, one-hot encoding) are applied; a bare estimator's inputs are returned as
    they are.

    Examples
    --------
    >>> from audits.models.training import train_default_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = pd.DataFrame({"y": [0, 1] * 20, "g": ["a", "b"] * 20, "x": range(40)})
    >>> roles = ColumnRoles(target="y", sensitive_features=("g",), features=("x", "g"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> encoded_features(model.pipeline, df, features=roles.features).shape
    (40, 3)
    """
    check_columns_exist(frame, list(features), "feature")
    x = _model_input(pipeline, frame, features)
    steps = getattr(pipeline, "steps", None)
    names = None
    if steps is not None and len(steps) > 1:
        x = pipeline[:-1].transform(x)
        names = getattr(pipeline[:-1], "get_feature_names_out", lambda: None)()
    if isinstance(x, pd.DataFrame):
        return x.set_axis(frame.index, axis=0)
    values = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    columns = [str(n) for n in names] if names is not None else \
        [f"x{i}" for i in range(values.shape[1])]
    return pd.DataFrame(values, index=frame.index, columns=columns)


def _checked(features: Any, y_score: Any, groups: Any, threshold: Any, k: Any,
             random_state: Any) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """Validate the inputs; return features, scores and group labels on one row order."""
    if not isinstance(features, pd.DataFrame):
        raise TypeError(MSG_NOT_FRAME.format(kind=type(features).__name__))
    _check_unique(features.index, "features")
    for column in features.columns:
        values = features[column]
        numeric = pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool
        if not numeric or not np.isfinite(values.to_numpy(dtype=np.float64)).all():
            raise ValueError(MSG_FEATURES.format(column=column))
    scores = _aligned(_check_series(y_score, "y_score"), features.index, "y_score")
    numeric = pd.api.types.is_numeric_dtype(scores.dtype) and scores.dtype != bool
    values = scores.to_numpy(dtype=np.float64) if numeric else np.full(len(scores), np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        pos = int(bad.argmax())
        raise ValueError(MSG_SCORES.format(row=scores.index[pos], value=scores.tolist()[pos]))
    outside = (values < 0) | (values > 1)
    if outside.any():
        pos = int(outside.argmax())
        raise ValueError(MSG_PROBABILITY.format(row=scores.index[pos], value=values[pos]))
    ok = isinstance(threshold, int | float | np.number) and not isinstance(threshold, bool)
    if not ok or not 0.0 < float(threshold) < 1.0:
        raise ValueError(MSG_OPEN_THRESHOLD.format(value=threshold))
    if k is not None:
        _check_count(k, "k")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(MSG_SEED.format(value=random_state))
    return features, scores, _group_labels(groups, features.index)


def _aligned(values: pd.Series, index: pd.Index, name: str) -> pd.Series:
    differ = index.symmetric_difference(values.index, sort=False)
    if len(differ):
        raise ValueError(MSG_SAME_ROWS.format(name=name, n=len(differ), row=differ[0]))
    return values.loc[index]


def _group_labels(groups: Any, index: pd.Index) -> np.ndarray:
    if groups is None:
        return np.full(len(index), "", dtype=object)
    known = _check_series(groups, "groups")
    missing = ~index.isin(known.dropna().index)
    if missing.any():
        raise ValueError(MSG_GROUP_MISSING.format(row=index[int(missing.argmax())]))
    labels: np.ndarray = known.loc[index].astype(str).to_numpy(dtype=object)
    return labels


def _scaled(x: pd.DataFrame) -> np.ndarray:
    """Indicator (0/1) columns as they are, others divided by their standard deviation."""
    matrix: np.ndarray = x.to_numpy(dtype=np.float64).copy()
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        if not np.isin(column, (0.0, 1.0)).all():
            spread = float(column.std())
            matrix[:, j] = (column - column.mean()) / spread if spread > 0 else 0.0
    return matrix


def _greedy(x: np.ndarray, u: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """Weighted max-min picks over rows sorted most uncertain first: (position, value)."""
    if len(u) == 0 or limit == 0:
        return []
    distance = np.linalg.norm(x - x[0], axis=1)
    scale = float(distance.max())
    picks = [(0, float(u[0]))]
    taken = np.zeros(len(u), dtype=bool)
    taken[0] = True
    while len(picks) < limit and scale > 0:
        value = np.where(taken, -1.0, u * np.minimum(distance / scale, 1.0))
        best = int(value.argmax())  # first of equals: the most uncertain, then seeded
        if value[best] <= 0:
            break
        picks.append((best, float(value[best])))
        taken[best] = True
        distance = np.minimum(distance, np.linalg.norm(x - x[best], axis=1))
    return picks


def _note(score: float, threshold: float, u: float, rank: int, group: str | None) -> str:
    where = "" if group is None else f" in group {group}"
    head = (f"The model scored {score:.2f} against a threshold of {threshold:.2f} "
            f"(uncertainty {u:.2f})")
    if rank == 0:
        return (f"{head}: of the unreviewed cases{where}, it is least sure of this one, so "
                "a human label here would teach the retrained model the most.")
    cases = "case" if rank == 1 else "cases"
    return (f"{head} and this case is unlike the {rank} {cases} already picked{where}, so "
            "a human label here would teach the retrained model something new.")
