""""Cannot tell" as its own outcome: how often reviewers could not decide, by reviewer or
by subject group.

A reviewer who answers "cannot tell" gives no label, so agreement and bias statistics
(which read labels) leave the answer out; what it says is measured here instead. A
reviewer who often cannot tell may need guidance (or the instructions may); a subject
group whose cases often cannot be told may be shown too little to decide fairly.

The input is the long table of assignments, one row per (case, reviewer), with
``outcome`` one of ``"rated"``, ``"cannot_tell"`` or ``"open"``
(:meth:`audits.store.Store.review_outcomes`). Open assignments have no answer yet and
are not counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits.fairness.intervals import wilson_interval

__all__ = ["MSG_BAD_OUTCOME", "MSG_MISSING_COLUMN", "OUTCOMES", "cannot_tell_rates"]

#: The outcomes an assignment may have.
OUTCOMES = ("rated", "cannot_tell", "open")
MSG_MISSING_COLUMN = "outcomes has no column {column!r}; columns: {columns}"
MSG_BAD_OUTCOME = "outcome must be one of {choices}; got {values}"
COLUMNS = ["n_answered", "n_cannot_tell", "cannot_tell_rate", "ci_low", "ci_high"]


def cannot_tell_rates(outcomes: pd.DataFrame, by: str, *, level: float = 0.95) -> pd.DataFrame:
    """Return the share of answers that were "cannot tell", per value of ``by``.

    Parameters
    ----------
    outcomes : pandas.DataFrame of shape (n_assignments, >= 2)
        One row per assignment, with ``outcome`` (see :data:`OUTCOMES`) and ``by``.
    by : str
        The column to group by, e.g. ``"reviewer_id"`` or ``"subject_group"``.
    level : float, default 0.95
        The level of the Wilson score interval.

    Returns
    -------
    pandas.DataFrame
        One row per value of ``by`` with at least one answer: ``by``, ``n_answered``
        (rated or cannot tell), ``n_cannot_tell``, ``cannot_tell_rate`` and its interval
        ``ci_low``, ``ci_high``; highest rate first (ties by the value of ``by``).

    Raises
    ------
    ValueError
        A missing column, or an outcome not in :data:`OUTCOMES` (the message names it).

    Examples
    --------
    >>> table = pd.DataFrame({"reviewer_id": [1, 1, 1, 2, 2],
    ...                       "outcome": ["rated", "cannot_tell", "open", "rated", "rated"]})
    >>> rates = cannot_tell_rates(table, "reviewer_id")
    >>> rates["reviewer_id"].tolist(), rates["cannot_tell_rate"].tolist()
    ([1, 2], [0.5, 0.0])
    """
    for column in ("outcome", by):
        if column not in outcomes.columns:
            raise ValueError(MSG_MISSING_COLUMN.format(column=column,
                                                       columns=list(outcomes.columns)))
    bad = sorted(set(outcomes["outcome"].astype(str)) - set(OUTCOMES))
    if bad:
        raise ValueError(MSG_BAD_OUTCOME.format(choices=list(OUTCOMES), values=bad))
    answered = outcomes[outcomes["outcome"] != "open"]
    if answered.empty:
        return pd.DataFrame(columns=[by, *COLUMNS])
    counts = (answered.assign(unsure=answered["outcome"].eq("cannot_tell").astype(int))
              .groupby(by, sort=True)["unsure"].agg(["size", "sum"]))
    n = counts["size"].to_numpy(dtype=np.int64)
    k = counts["sum"].to_numpy(dtype=np.int64)
    low, high = wilson_interval(k, n, level=level)
    out = pd.DataFrame({by: counts.index.to_numpy(), "n_answered": n, "n_cannot_tell": k,
                        "cannot_tell_rate": k / n, "ci_low": low, "ci_high": high})
    order = np.lexsort((np.arange(len(out)), -out["cannot_tell_rate"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)
