"""Column roles, validation of decision frames, and the engine's error messages.

Every public entry point of the engine that takes a frame of decisions validates it
here first, so a bad input is refused with a message that names the column, the row or
the setting, before anything is computed or stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "ColumnRoles",
    "DataValidationError",
    "validate_frame",
]

MSG_EMPTY = "the data has no rows{where}"
MSG_MISSING_COLUMN = "column {column!r} ({role}) is not in the data; columns present: {present}"
MSG_NON_BINARY = (
    "column {column!r} ({role}) must be binary (two values, or 0/1); found {n} distinct "
    "values: {values}"
)
MSG_NOT_NUMERIC = (
    "column {column!r} ({role}) must be numeric; row {row} holds {value!r}"
)
MSG_MISSING_SENSITIVE = (
    "sensitive feature {column!r} has {n} missing value(s), first at row {row}; "
    "fill them with an explicit category such as 'unknown' so they are audited, not dropped"
)
MSG_MISSING_TARGET = "column {column!r} ({role}) has {n} missing value(s), first at row {row}"
MSG_NO_SENSITIVE = "at least one sensitive feature is required"
MSG_ROLE_OVERLAP = "column {column!r} cannot be both {role_a} and {role_b}"
MSG_SCORE_RANGE = (
    "column {column!r} (score) must lie in [0, 1] or be a rank/decile score; "
    "row {row} holds {value!r}"
)


class DataValidationError(ValueError):
    """Raised when a frame of decisions does not satisfy its column roles."""


@dataclass(frozen=True)
class ColumnRoles:
    """What each column of a decision frame is for.

    Parameters
    ----------
    target : str
        The observed outcome ``y_true`` (binary; 1 is the positive class).
    sensitive_features : tuple of str
        Columns whose groups are audited (at least one).
    prediction : str or None, default None
        A logged decision ``y_pred`` of a deployed system, when the data carries one.
    score : str or None, default None
        A logged score ``y_score`` (probability or rank), when the data carries one.
    features : tuple of str, default ()
        Model inputs. Sensitive features are not model inputs unless listed here.
    positive_label : str, default "1"
        What ``target == 1`` means, in words (e.g. ``"income >50K"``).

    Examples
    --------
    >>> ColumnRoles(target="y", sensitive_features=("sex",), features=("age",)).target
    'y'
    """

    target: str
    sensitive_features: tuple[str, ...]
    prediction: str | None = None
    score: str | None = None
    features: tuple[str, ...] = field(default_factory=tuple)
    positive_label: str = "1"

    def __post_init__(self) -> None:
        if not self.sensitive_features:
            raise DataValidationError(MSG_NO_SENSITIVE)
        single = {"target": self.target, "prediction": self.prediction, "score": self.score}
        named = [(role, col) for role, col in single.items() if col is not None]
        named += [("sensitive feature", c) for c in self.sensitive_features]
        seen: dict[str, str] = {}
        for role, col in named:
            if col in seen:
                raise DataValidationError(
                    MSG_ROLE_OVERLAP.format(column=col, role_a=seen[col], role_b=role)
                )
            seen[col] = role
        for col in self.features:
            if col in single.values():
                raise DataValidationError(
                    MSG_ROLE_OVERLAP.format(column=col, role_a="feature", role_b="outcome")
                )

    def required_columns(self) -> list[str]:
        """Return every column these roles name, in a stable order."""
        cols = [self.target, *self.sensitive_features]
        cols += [c for c in (self.prediction, self.score) if c is not None]
        cols += [c for c in self.features if c not in cols]
        return cols

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready mapping of the roles."""
        return {
            "target": self.target,
            "sensitive_features": list(self.sensitive_features),
            "prediction": self.prediction,
            "score": self.score,
            "features": list(self.features),
            "positive_label": self.positive_label,
        }


def validate_frame(frame: pd.DataFrame, roles: ColumnRoles, *, where: str = "") -> pd.DataFrame:
    """Check a frame of decisions against its roles and return a normalised copy.

    The target and the prediction are coerced to integers 0/1, the score to float;
    sensitive features become strings (categorical), so numeric codes are groups,
    not quantities.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        The decisions.
    roles : ColumnRoles
        What each column is for.
    where : str, default ""
        A name for the data (a file path) used in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with only the columns named by ``roles``, index reset.

    Raises
    ------
    DataValidationError
        Naming the column, and the first bad row where there is one.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1], "sex": ["f", "m"], "age": [30, 40]})
    >>> roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age",))
    >>> validate_frame(df, roles).shape
    (2, 3)
    """
    suffix = f" ({where})" if where else ""
    if len(frame) == 0:
        raise DataValidationError(MSG_EMPTY.format(where=suffix))
    present = ", ".join(map(str, frame.columns[:30]))
    for col in roles.required_columns():
        if col not in frame.columns:
            role = _role_of(roles, col)
            raise DataValidationError(
                MSG_MISSING_COLUMN.format(column=col, role=role, present=present) + suffix
            )
    out = frame.loc[:, roles.required_columns()].reset_index(drop=True).copy()
    out[roles.target] = _as_binary(out[roles.target], roles.target, "target")
    if roles.prediction is not None:
        out[roles.prediction] = _as_binary(out[roles.prediction], roles.prediction, "prediction")
    if roles.score is not None:
        out[roles.score] = _as_numeric(out[roles.score], roles.score, "score")
    for col in roles.sensitive_features:
        out[col] = _as_groups(out[col], col)
    return out


def _role_of(roles: ColumnRoles, col: str) -> str:
    if col == roles.target:
        return "target"
    if col == roles.prediction:
        return "prediction"
    if col == roles.score:
        return "score"
    if col in roles.sensitive_features:
        return "sensitive feature"
    return "feature"


def _first_row(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _as_binary(values: pd.Series, col: str, role: str) -> pd.Series:
    missing = values.isna()
    if missing.any():
        raise DataValidationError(
            MSG_MISSING_TARGET.format(column=col, role=role, n=int(missing.sum()),
                                      row=_first_row(missing))
        )
    if values.dtype == bool:
        return values.astype("int8")
    distinct = pd.unique(values)
    if len(distinct) > 2:
        shown = ", ".join(repr(v) for v in sorted(distinct, key=str)[:8])
        raise DataValidationError(
            MSG_NON_BINARY.format(column=col, role=role, n=len(distinct), values=shown)
        )
    as_set = {str(v) for v in distinct}
    if as_set <= {"0", "1", "0.0", "1.0", "True", "False", "true", "false"}:
        mapped = values.astype(str).str.lower().map(
            {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0}
        )
        return mapped.astype("int8")
    shown = ", ".join(repr(v) for v in sorted(distinct, key=str))
    raise DataValidationError(
        MSG_NON_BINARY.format(column=col, role=role, n=len(distinct), values=shown)
        + "; encode the positive class as 1"
    )


def _as_numeric(values: pd.Series, col: str, role: str) -> pd.Series:
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        row = _first_row(bad)
        raise DataValidationError(
            MSG_NOT_NUMERIC.format(column=col, role=role, row=row, value=values.iloc[row])
        )
    if converted.isna().any():
        missing = converted.isna()
        raise DataValidationError(
            MSG_MISSING_TARGET.format(column=col, role=role, n=int(missing.sum()),
                                      row=_first_row(missing))
        )
    return converted.astype("float64")


def _as_groups(values: pd.Series, col: str) -> pd.Series:
    missing = values.isna()
    if missing.any():
        raise DataValidationError(
            MSG_MISSING_SENSITIVE.format(column=col, n=int(missing.sum()),
                                         row=_first_row(missing))
        )
    return values.astype(str).astype("category")


def check_columns_exist(frame: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """Raise :class:`DataValidationError` if any of ``columns`` is missing from ``frame``."""
    present = ", ".join(map(str, frame.columns[:30]))
    for col in columns:
        if col not in frame.columns:
            raise DataValidationError(MSG_MISSING_COLUMN.format(column=col, role=role,
                                                                present=present))
