"""The ratings table of the human-bias audits: validation, layout and shared statistics.

A ratings table is long, one row per (case, reviewer): ``case_id, reviewer_id, label``
(0/1 decisions, 1 the positive decision), optionally ``subject_group`` (the case's
group, one per case), ``model_shown`` (whether that reviewer saw the model's decision),
``model_decision`` (0/1), ``truth`` (0/1, missing where unknown), ``position`` (order in
the reviewer's session) and ``rated_at`` (a timestamp). Other column names are mapped to
these roles with ``columns={"label": "decision", ...}``.

:func:`prepare_ratings` checks a table and returns a copy with the role names;
:func:`leave_one_out` gives each rating the consensus of the *other* reviewers of its
case; :func:`holm` adjusts p-values for the family-wise error rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audits.data.schema import check_columns_exist
from audits.fairness.estimates import MAX_N_BOOT

__all__ = ["ROLES", "check_options", "leave_one_out", "prepare_ratings"]

#: Column roles of a ratings table; the first three are always required.
ROLES = ("case_id", "reviewer_id", "label", "subject_group", "model_shown",
         "model_decision", "truth", "position", "rated_at")
REQUIRED = ROLES[:3]
MISSING_GROUP = "<missing>"

MSG_FRAME = "ratings must be a pandas DataFrame, got {kind}"
MSG_EMPTY = "ratings has no rows"
MSG_ROLE = "unknown column role {role!r} in columns; roles: {roles}"
MSG_MISSING = "column {column!r} ({role}) has {n} missing value(s), first at row {row}"
MSG_BINARY = "column {column!r} ({role}) must hold 0/1 values; found {value!r}"
MSG_DUPLICATE = "ratings has more than one row for case {case!r} and reviewer {reviewer!r}"
MSG_CASE_CONSTANT = "column {column!r} ({role}) differs within case {case!r}"
MSG_NUMERIC = "column {column!r} ({role}) must be numeric; found {value!r}"
MSG_TIME = "column {column!r} ({role}) must hold timestamps: {error}"
MSG_INT_OPTION = "{name} must be an integer >= {low}, got {value!r}"
MSG_UNIT_OPTION = "{name} must lie strictly between 0 and 1, got {value!r}"
MSG_N_BOOT_MAX = "n_boot must be at most {limit:,} (memory and time); got {value:,}"


def prepare_ratings(ratings: pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                    required: Sequence[str] = ()) -> pd.DataFrame:
    """Validate a ratings table and return a copy holding only the role columns.

    Parameters
    ----------
    ratings : pandas.DataFrame of shape (n_ratings, n_columns)
    columns : mapping role -> column name, or None
        Where a role's column has another name; roles are :data:`ROLES`.
    required : sequence of str, default ()
        Optional roles this caller needs besides ``case_id, reviewer_id, label``.

    Returns
    -------
    pandas.DataFrame
        Columns named by role, rows sorted by case then reviewer (as text), index
        0..n-1: ``label``, ``model_shown`` and
        ``model_decision`` as int, ``truth`` as float (NaN unknown), ``subject_group``
        as str (missing becomes ``"<missing>"``), ``rated_at`` as datetime.

    Raises
    ------
    TypeError
        If ``ratings`` is not a DataFrame.
    ValueError
        Naming the column and value: a missing column, a missing id or label, a non-0/1
        decision, two rows for one (case, reviewer), a subject group that differs
        within a case.

    Examples
    --------
    >>> df = pd.DataFrame({"case": [1, 1], "reviewer_id": ["a", "b"], "label": [1, 0]})
    >>> prepare_ratings(df, {"case_id": "case"}).columns.tolist()
    ['case_id', 'reviewer_id', 'label']
    """
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(MSG_FRAME.format(kind=type(ratings).__name__))
    names = _names(columns)
    if len(ratings) == 0:
        raise ValueError(MSG_EMPTY)
    for role in (*REQUIRED, *required):
        check_columns_exist(ratings, [names[role]], role)
    present = [r for r in ROLES if names[r] in ratings.columns]
    data = ratings[[names[r] for r in present]].copy()
    data.columns = pd.Index(present)
    data = data.reset_index(drop=True)
    for role in present:
        data[role] = _convert(data[role], names[role], role)
    _check_unique(data)
    if "subject_group" in data:
        _check_case_constant(data, "subject_group", names["subject_group"])
    # A canonical row order makes every seeded result independent of the input's order.
    order = data.sort_values(["case_id", "reviewer_id"], key=lambda v: v.astype(str),
                             kind="stable").index
    return data.loc[order].reset_index(drop=True)


def leave_one_out(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean label of the other reviewers of each rating's case, and how many they are.

    Returns
    -------
    consensus : ndarray of float, shape (n_ratings,)
        NaN where the case has no other rating.
    others : ndarray of int, shape (n_ratings,)

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 1, 1, 2], "label": [1, 1, 0, 1]})
    >>> consensus, others = leave_one_out(df)
    >>> consensus.round(2).tolist(), others.tolist()
    ([0.5, 0.5, 1.0, nan], [2, 2, 2, 0])
    """
    codes, _ = pd.factorize(data["case_id"])
    label = data["label"].to_numpy(dtype=np.float64)
    total = np.bincount(codes, weights=label)[codes]
    others = np.bincount(codes)[codes] - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        consensus = np.where(others > 0, (total - label) / others, np.nan)
    return consensus, others


def check_options(*, ints: Mapping[str, tuple[object, int]] | None = None,
                  units: Mapping[str, object] | None = None) -> None:
    """Raise ValueError for an integer option below its minimum or a share outside (0, 1).

    ``n_boot`` is also capped at ``MAX_N_BOOT`` (see :func:`check_n_boot_limit`).

    Examples
    --------
    >>> check_options(ints={"n_boot": (100, 0)}, units={"level": 0.95})
    """
    for name, (value, low) in (ints or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(MSG_INT_OPTION.format(name=name, low=low, value=value))
        if name == "n_boot":
            check_n_boot_limit(int(value))
    for name, value in (units or {}).items():
        if isinstance(value, bool) or not isinstance(value, float | int) or not 0 < value < 1:
            raise ValueError(MSG_UNIT_OPTION.format(name=name, value=value))


def check_n_boot_limit(n_boot: int) -> None:
    """Raise ValueError when ``n_boot`` exceeds ``MAX_N_BOOT`` (10,000).

    A billion replicates asked by mistake would otherwise run for hours and exhaust
    memory before failing; 10 times the default is ample for stable intervals.

    Examples
    --------
    >>> check_n_boot_limit(1000)
    >>> check_n_boot_limit(10**9)
    Traceback (most recent call last):
    ...
    ValueError: n_boot must be at most 10,000 (memory and time); got 1,000,000,000
    """
    if n_boot > MAX_N_BOOT:
        raise ValueError(MSG_N_BOOT_MAX.format(limit=MAX_N_BOOT, value=n_boot))


def _names(columns: Mapping[str, str] | None) -> dict[str, str]:
    names = {role: role for role in ROLES}
    for role, column in (columns or {}).items():
        if role not in names:
            raise ValueError(MSG_ROLE.format(role=role, roles=", ".join(ROLES)))
        names[role] = column
    return names


def _convert(values: pd.Series, column: str, role: str) -> pd.Series:
    if role == "subject_group":
        return values.astype(object).where(values.notna(), MISSING_GROUP).astype(str)
    if role == "rated_at":
        _no_missing(values, column, role)
        try:
            mixed = values.dtype == object or pd.api.types.is_string_dtype(values)
            return pd.to_datetime(values, format="mixed" if mixed else None)
        except (ValueError, TypeError) as error:
            raise ValueError(MSG_TIME.format(column=column, role=role, error=error)) from None
    if role == "truth":
        return _binary(values, column, role, allow_missing=True)
    _no_missing(values, column, role)
    if role in ("label", "model_shown", "model_decision"):
        return _binary(values, column, role, allow_missing=False).astype(np.int64)
    if role == "position":
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            raise ValueError(MSG_NUMERIC.format(column=column, role=role,
                                                value=_plain(values[numeric.isna()].iloc[0])))
        return numeric.astype(np.float64)
    return values


def _no_missing(values: pd.Series, column: str, role: str) -> None:
    missing = values.isna()
    if missing.any():
        raise ValueError(MSG_MISSING.format(column=column, role=role, n=int(missing.sum()),
                                            row=int(np.flatnonzero(missing.to_numpy())[0])))


def _binary(values: pd.Series, column: str, role: str, *, allow_missing: bool) -> pd.Series:
    known = values.dropna() if allow_missing else values
    bad = ~known.isin([0, 1])
    if bad.any():
        first = _plain(known[bad].iloc[0])
        raise ValueError(MSG_BINARY.format(column=column, role=role, value=first))
    return values.astype(np.float64)


def _check_unique(data: pd.DataFrame) -> None:
    dup = data.duplicated(["case_id", "reviewer_id"])
    if dup.any():
        row = data[dup].iloc[0]
        raise ValueError(MSG_DUPLICATE.format(case=_plain(row["case_id"]),
                                              reviewer=_plain(row["reviewer_id"])))


def _check_case_constant(data: pd.DataFrame, role: str, column: str) -> None:
    distinct = data.groupby("case_id", sort=False)[role].nunique()
    if (distinct > 1).any():
        case = distinct.index[np.flatnonzero(distinct.to_numpy() > 1)[0]]
        raise ValueError(MSG_CASE_CONSTANT.format(column=column, role=role, case=_plain(case)))


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds, so messages read ``2``, not ``np.int64(2)``."""
    return value.item() if isinstance(value, np.generic) else value
