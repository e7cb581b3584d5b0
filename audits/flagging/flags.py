"""Which decisions go to people, and why: one tidy table of flags per reason.

Every ``*_flags`` function returns a table with exactly :data:`FLAG_COLUMNS`: ``row``
(the row's index label in the caller's frame), ``reason`` (one of :data:`REASONS`),
``score`` in [0, 1] (higher means a person is more needed) and ``explanation`` (one
English sentence about that row, numbers rounded to two decimals).
:func:`combine_flags` stacks and checks the tables, and
:func:`audits.flagging.policy.select_cases` turns them into a budgeted review queue.

Random control and gold cases score a constant 0.5: they are chosen for what they
measure (the error rate of unflagged decisions, the accuracy of reviewers), not for how
doubtful they are, so they should neither lead nor trail the queue by content.

Active learning (:mod:`audits.flagging.active_learning`) flags the unreviewed decisions whose label
would teach the model most: uncertain, and unlike each other within a subject group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audits.data.schema import check_columns_exist
from audits.flagging.active_learning import active_learning_flags
from audits.flagging.common import (
    FLAG_COLUMNS,
    MSG_BINARY,
    MSG_COUNT,
    MSG_DUPLICATE_INDEX,
    MSG_FLAG_COLUMNS,
    MSG_FLAG_DUPLICATE,
    MSG_FLAG_REASON,
    MSG_FLAG_ROW,
    MSG_FLAG_SCORE,
    MSG_FLAG_TEXT,
    MSG_GOLD_MISSING,
    MSG_ITEM,
    MSG_KIND_NOT_WATCHED,
    MSG_MARGIN,
    MSG_MIN_SHARE,
    MSG_NEEDS_Y_TRUE,
    MSG_NO_DIRECTION,
    MSG_NO_RULE,
    MSG_NO_SENSITIVE,
    MSG_NOT_FRAME,
    MSG_NOT_INDEX,
    MSG_NOT_NUMERIC,
    MSG_NOT_SERIES,
    MSG_PROXY_KEY,
    MSG_SCORES,
    MSG_SEED,
    MSG_SOURCE,
    MSG_THRESHOLD,
    MSG_WATCHED,
    REASONS,
    TOLERANCE,
    _check_count,
    _check_series,
    _check_unique,
    _finite,
    _finite_frame,
    _table,
    seeded_key,
    validate_flags,
)
from audits.flagging.reasons import counterfactual_flags, disparity_flags
from audits.flagging.subgroups import slice_flags

__all__ = [
    "REASONS",
    "FLAG_COLUMNS",
    "MSG_BINARY",
    "MSG_COUNT",
    "MSG_DUPLICATE_INDEX",
    "MSG_FLAG_COLUMNS",
    "MSG_FLAG_DUPLICATE",
    "MSG_FLAG_REASON",
    "MSG_FLAG_ROW",
    "MSG_FLAG_SCORE",
    "MSG_FLAG_TEXT",
    "MSG_GOLD_MISSING",
    "MSG_ITEM",
    "MSG_KIND_NOT_WATCHED",
    "MSG_MARGIN",
    "MSG_MIN_SHARE",
    "MSG_NEEDS_Y_TRUE",
    "MSG_NOT_FRAME",
    "MSG_NOT_INDEX",
    "MSG_NOT_NUMERIC",
    "MSG_NOT_SERIES",
    "MSG_NO_DIRECTION",
    "MSG_NO_RULE",
    "MSG_NO_SENSITIVE",
    "MSG_PROXY_KEY",
    "MSG_SCORES",
    "MSG_SEED",
    "MSG_SOURCE",
    "MSG_THRESHOLD",
    "MSG_WATCHED",
    "TOLERANCE",
    "active_learning_flags",
    "attribution_flags",
    "combine_flags",
    "counterfactual_flags",
    "disparity_flags",
    "gold_flags",
    "low_confidence_flags",
    "random_control_flags",
    "seeded_key",
    "slice_flags",
    "validate_flags",
]


def low_confidence_flags(
    y_score: pd.Series, *, threshold: float, margin: float | None = 0.1, k: int | None = None
) -> pd.DataFrame:
    """Flag decisions whose score lies close to the decision threshold.

    Parameters
    ----------
    y_score : pandas.Series of shape (n_rows,)
        Model scores, on the rows' index.
    threshold : float
        The decision threshold, on the scores' scale.
    margin : float or None, default 0.1
        On the scores' scale (a share of the scale's width for scores that are not
        probabilities). Flag rows with ``|score - threshold| <= margin``; flag score
        ``1 - distance / margin``. Ignored when ``k`` is given.
    k : int or None, default None
        Flag the ``k`` rows nearest the threshold instead (ties go to the row that comes
        first in ``y_score``); the i-th nearest (from 0) scores ``1 - i / k``.

    Returns
    -------
    pandas.DataFrame with columns :data:`FLAG_COLUMNS`

    Raises
    ------
    ValueError
        Both ``margin`` and ``k`` are None, a score is not finite, or an option is out
        of range.

    Examples
    --------
    >>> s = pd.Series([0.48, 0.9, 0.55], index=["a", "b", "c"])
    >>> low_confidence_flags(s, threshold=0.5)[["row", "score"]].round(2).values.tolist()
    [['a', 0.8], ['c', 0.5]]
    >>> low_confidence_flags(s, threshold=0.5).explanation[0]
    'Score 0.48 is 0.02 from the threshold 0.50.'
    """
    scores = _check_series(y_score, "y_score")
    numeric = pd.api.types.is_numeric_dtype(scores.dtype) and scores.dtype != bool
    bad = ~np.isfinite(scores.to_numpy(dtype=np.float64)) if numeric else \
        np.ones(len(scores), dtype=bool)
    if bad.any():
        pos = int(bad.argmax())
        raise ValueError(MSG_SCORES.format(row=scores.index[pos], value=scores.tolist()[pos]))
    if not _finite(threshold):
        raise ValueError(MSG_THRESHOLD.format(value=threshold))
    distance = (scores.astype(np.float64) - threshold).abs()
    if k is not None:
        _check_count(k, "k")
        picked = distance.iloc[np.argsort(distance.to_numpy(), kind="stable")[:k]]
        flag = 1.0 - np.arange(len(picked)) / max(k, 1)
        tail = [f" (rank {i + 1} of the {k} nearest)." for i in range(len(picked))]
    elif margin is None:
        raise ValueError(MSG_NO_RULE)
    else:
        if not _finite(margin) or margin <= 0:
            raise ValueError(MSG_MARGIN.format(value=margin))
        picked = distance[distance <= margin + TOLERANCE]
        flag = np.clip(1.0 - picked.to_numpy() / margin, 0.0, 1.0)
        tail = ["."] * len(picked)
    notes = [f"Score {scores.loc[r]:.2f} is {d:.2f} from the threshold {threshold:.2f}{t}"
             for r, d, t in zip(picked.index, picked, tail, strict=True)]
    return _table(picked.index, "low_confidence", flag, notes)



def attribution_flags(
    contributions: pd.DataFrame,
    *,
    watched: Sequence[str],
    min_share: float = 0.2,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Flag decisions that lean on sensitive features or their proxies.

    A row's share is ``sum |contribution| over watched`` / ``sum |contribution| over all
    features`` (0 for a row whose contributions are all 0); rows with share >=
    ``min_share`` are flagged with that share as score.

    Parameters
    ----------
    contributions : pandas.DataFrame of shape (n_rows, n_features)
        SHAP values (``Explanation.contributions``); the index labels the rows.
    watched : sequence of str
        Features to watch (sensitive features that are inputs, likely proxies).
    min_share : float, default 0.2
        In (0, 1].
    kinds : mapping of str to str or None, default None
        Watched feature -> description, e.g. ``"a likely proxy of race"``; the default
        is ``"a watched feature"``.

    Returns
    -------
    pandas.DataFrame with columns :data:`FLAG_COLUMNS`

    Raises
    ------
    ValueError
        No watched feature, a watched or described feature that is missing, a column
        that is not finite numbers, or ``min_share`` out of range.

    Examples
    --------
    >>> c = pd.DataFrame({"zip": [0.3, 0.05], "income": [0.2, 0.95]}, index=[7, 8])
    >>> out = attribution_flags(c, watched=["zip"], kinds={"zip": "a likely proxy of race"})
    >>> out.row.tolist(), out.score.round(2).tolist()
    ([7], [0.6])
    >>> out.explanation[0]
    "zip carries 60% of this decision's attribution (zip is a likely proxy of race)."
    """
    if not isinstance(contributions, pd.DataFrame):
        raise TypeError(MSG_NOT_FRAME.format(kind=type(contributions).__name__))
    watched = list(dict.fromkeys(watched))
    if not watched:
        raise ValueError(MSG_WATCHED)
    check_columns_exist(contributions, watched, "watched feature")
    _check_unique(contributions.index, "contributions")
    if not 0.0 < float(min_share) <= 1.0:
        raise ValueError(MSG_MIN_SHARE.format(value=min_share))
    described = dict(kinds or {})
    for column in described:
        if column not in watched:
            raise ValueError(MSG_KIND_NOT_WATCHED.format(column=column))
    magnitude = _finite_frame(contributions).abs()
    total = magnitude.sum(axis=1).to_numpy()
    watched_abs = magnitude[watched]
    safe = np.where(total > 0, total, 1.0)
    share = np.where(total > 0, watched_abs.sum(axis=1).to_numpy() / safe, 0.0)
    keep = share >= min_share - TOLERANCE
    top = watched_abs.to_numpy().argmax(axis=1)
    notes = []
    for pos in np.flatnonzero(keep):
        name = watched[top[pos]]
        part = watched_abs.iloc[pos, top[pos]] / safe[pos]
        together = "" if len(watched) == 1 else f"; watched features carry {share[pos]:.0%}"
        kind = described.get(name, "a watched feature")
        notes.append(f"{name} carries {part:.0%} of this decision's attribution "
                     f"({name} is {kind}){together}.")
    return _table(contributions.index[keep], "attribution", np.clip(share[keep], 0, 1), notes)



def random_control_flags(index: pd.Index, *, n: int, random_state: int) -> pd.DataFrame:
    """Draw ``n`` rows uniformly without replacement as a control sample (score 0.5).

    The draw keeps the ``n`` labels with the smallest :func:`seeded_key`, so it depends
    on the seed and the set of labels only, never on their order.

    Parameters
    ----------
    index : pandas.Index
        Labels of the rows to draw from (unique).
    n : int
        Sample size; every row when there are fewer.
    random_state : int

    Returns
    -------
    pandas.DataFrame with columns :data:`FLAG_COLUMNS`

    Examples
    --------
    >>> a = random_control_flags(pd.Index(range(10)), n=3, random_state=1)
    >>> b = random_control_flags(pd.Index(range(9, -1, -1)), n=3, random_state=1)
    >>> a.row.tolist() == b.row.tolist(), len(a), a.score.unique().tolist()
    (True, 3, [0.5])
    """
    if not isinstance(index, pd.Index):
        raise TypeError(MSG_NOT_INDEX.format(kind=type(index).__name__))
    _check_count(n, "n")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(MSG_SEED.format(value=random_state))
    _check_unique(index, "index")
    drawn = sorted(index.tolist(), key=lambda label: seeded_key(label, random_state))[:n]
    notes = [f"Drawn at random (seed {random_state}, draw {i + 1} of {len(drawn)}) as a "
             "control: measures how often unflagged decisions are wrong."
             for i in range(len(drawn))]
    return _table(drawn, "random_control", np.full(len(drawn), 0.5), notes)



def gold_flags(answers: pd.Series, *, source: str = "adjudicated") -> pd.DataFrame:
    """Flag rows with a known answer, to measure reviewer accuracy (score 0.5).

    Parameters
    ----------
    answers : pandas.Series
        Index = row, value = the known answer (no missing values).
    source : str, default "adjudicated"
        Where the answers come from.

    Returns
    -------
    pandas.DataFrame with columns :data:`FLAG_COLUMNS`

    Examples
    --------
    >>> gold_flags(pd.Series({"r1": 1})).explanation[0]
    'Known answer (adjudicated): 1; measures reviewer accuracy.'
    """
    answers = _check_series(answers, "answers")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(MSG_SOURCE.format(value=source))
    missing = answers.isna().to_numpy()
    if missing.any():
        raise ValueError(MSG_GOLD_MISSING.format(row=answers.index[missing.argmax()]))
    notes = [f"Known answer ({source}): {value}; measures reviewer accuracy."
             for value in answers.tolist()]
    return _table(answers.index, "gold", np.full(len(answers), 0.5), notes)



def combine_flags(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stack flag tables after checking each, sorted by row then reason.

    Raises
    ------
    ValueError
        Wrong columns, unknown reason, score outside [0, 1], empty explanation, missing
        row, or a (row, reason) pair flagged twice (see :func:`validate_flags`).

    Examples
    --------
    >>> a = gold_flags(pd.Series({2: "yes"}))
    >>> b = low_confidence_flags(pd.Series([0.5, 0.5, 0.5]), threshold=0.5)
    >>> combine_flags(a, b)[["row", "reason"]].values.tolist()
    [[0, 'low_confidence'], [1, 'low_confidence'], [2, 'low_confidence'], [2, 'gold']]
    """
    parts = [part for part in map(validate_flags, tables) if len(part)]
    if not parts:
        return _table([], "gold", np.zeros(0), [])
    combined = validate_flags(pd.concat(parts, ignore_index=True))
    order = combined["reason"].map(REASONS.index).to_numpy()
    rows = combined["row"].tolist()
    try:
        keys = sorted(range(len(rows)), key=lambda i: (rows[i], order[i]))
    except TypeError:  # labels of mixed types: order by type, then text
        keys = sorted(range(len(rows)),
                      key=lambda i: (type(rows[i]).__name__, str(rows[i]), order[i]))
    return combined.iloc[keys].reset_index(drop=True)

