"""How raw values become counts keys: binary outcomes to 0/1, group values to labels.

The one pass (:mod:`audits.fairness.counts`) groups the raw values first and encodes only the
small table of distinct values afterwards, so the checks here cost nothing per row.
Both the pandas and the DuckDB backends go through these functions, which is why they
give identical groups and labels.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.data.schema import DataValidationError

__all__ = [
    "MISSING",
    "encode_groups",
    "encode_outcomes",
    "plain",
]

#: The group label given to missing values (NaN, None) of a sensitive feature.
MISSING = "<missing>"

MSG_NON_BINARY_LABELS = (
    "column {column!r} ({role}) must hold at most two labels (binary classification); "
    "found {n}: {values}"
)
MSG_LABELS_UNION = (
    "columns {y_true!r} (y_true) and {y_pred!r} (y_pred) hold {n} different labels "
    "between them, more than two: {values}"
)
MSG_POS_LABEL_REQUIRED = (
    "labels {values} are not a subset of {{0, 1}} or {{-1, 1}}; pass pos_label to say "
    "which one is the positive class"
)
MSG_POS_LABEL_ABSENT = (
    "pos_label {label!r} never occurs in {y_true!r} (y_true) or {y_pred!r} (y_pred); "
    "labels present: {values}"
)
MSG_MISSING_COLLISION = (
    "sensitive feature {column!r} holds missing values and also the literal value "
    "{missing!r}, which is the label of missing values; rename that value"
)


def plain(value: object) -> object:
    """Return a NumPy scalar as the equivalent Python scalar; other values unchanged.

    Examples
    --------
    >>> type(plain(np.int64(3))).__name__
    'int'
    """
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_outcomes(
    y_labels: Sequence[object],
    p_labels: Sequence[object] | None,
    *,
    y_true: str,
    y_pred: str,
    pos_label: object = None,
) -> tuple[np.ndarray, np.ndarray | None, object]:
    """Check binary outcome labels and say which of them are the positive class.

    Parameters
    ----------
    y_labels : sequence
        The distinct labels of ``y_true`` (no missing values).
    p_labels : sequence or None
        The distinct labels of ``y_pred``; ``None`` when the decisions are already 0/1
        (derived from a score threshold).
    y_true, y_pred : str
        Column names, for error messages.
    pos_label : scalar or None, default None
        The positive class. ``None`` accepts labels within {0, 1} or {-1, 1} (``True``
        counts as 1) and takes 1 as positive, like fairlearn. A string also matches a
        label by its string form, so ``"1"`` (from a command line) finds ``1``.

    Returns
    -------
    y_positive : ndarray of bool, shape (len(y_labels),)
    p_positive : ndarray of bool or None
    positive_label : object
        The label taken as positive, as it occurs in the data.

    Raises
    ------
    DataValidationError
        More than two labels, labels that need ``pos_label``, or a ``pos_label`` that
        occurs in neither column.

    Examples
    --------
    >>> y, p, pos = encode_outcomes(["no", "yes"], ["yes"], y_true="y", y_pred="p",
    ...                             pos_label="yes")
    >>> y.tolist(), p.tolist(), pos
    ([False, True], [True], 'yes')
    """
    ys = _distinct(y_labels)
    if len(ys) > 2:
        raise DataValidationError(MSG_NON_BINARY_LABELS.format(
            column=y_true, role="y_true", n=len(ys), values=_shown(ys)))
    union = _distinct([*ys, *(p_labels or [])])
    if len(union) > 2:
        raise DataValidationError(MSG_LABELS_UNION.format(
            y_true=y_true, y_pred=y_pred, n=len(union), values=_shown(union)))
    positive = _resolve_positive(union, pos_label, y_true=y_true, y_pred=y_pred)
    y_pos = np.array([_same(v, positive) for v in map(plain, y_labels)], dtype=bool)
    p_pos = None
    if p_labels is not None:
        p_pos = np.array([_same(v, positive) for v in map(plain, p_labels)], dtype=bool)
    return y_pos, p_pos, positive


def encode_groups(values: Sequence[object], *, column: str) -> tuple[list[str], np.ndarray]:
    """Map raw values of a sensitive feature to ordered string labels.

    Numbers sort numerically, anything else by its string form; missing values (NaN,
    None) become the group :data:`MISSING`, placed last. Values with the same string
    form are one group, as in :func:`audits.data.schema.validate_frame`.

    Parameters
    ----------
    values : sequence
        Raw values (one per row of a small table of distinct keys).
    column : str
        The feature's name, for error messages.

    Returns
    -------
    labels : list of str
        The ordered group labels.
    codes : ndarray of int64, shape (len(values),)
        Index into ``labels`` of each value.

    Examples
    --------
    >>> encode_groups([10, 2, None, 2], column="age")
    (['2', '10', '<missing>'], array([1, 0, 2, 0]))
    """
    raw = [plain(v) for v in values]
    missing = np.asarray(pd.isna(pd.Series(raw, dtype=object)), dtype=bool)
    distinct = list(dict.fromkeys(v for v, m in zip(raw, missing, strict=True) if not m))
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in distinct)
    if numeric:
        distinct.sort(key=lambda v: float(v))  # type: ignore[arg-type]
    else:
        distinct.sort(key=str)
    labels = list(dict.fromkeys(str(v) for v in distinct))
    if missing.any():
        if MISSING in labels:
            raise DataValidationError(MSG_MISSING_COLLISION.format(column=column,
                                                                   missing=MISSING))
        labels.append(MISSING)
    index = {label: i for i, label in enumerate(labels)}
    codes = [index[MISSING] if m else index[str(v)] for v, m in zip(raw, missing, strict=True)]
    return labels, np.asarray(codes, dtype=np.int64)


def _distinct(values: Sequence[object]) -> list[object]:
    return list(dict.fromkeys(plain(v) for v in values))


def _shown(values: Sequence[object]) -> str:
    ordered = sorted(values, key=str)
    text = ", ".join(repr(v) for v in ordered[:8])
    return text + (", ..." if len(ordered) > 8 else "")


def _same(value: object, positive: object) -> bool:
    # Python equality on plain scalars: True == 1 == 1.0, but "1" != 1.
    return bool(value == positive)


def _resolve_positive(labels: list[object], pos_label: object, *, y_true: str,
                      y_pred: str) -> object:
    if pos_label is None:
        if _within(labels, {0, 1}) or _within(labels, {-1, 1}):
            return 1
        raise DataValidationError(MSG_POS_LABEL_REQUIRED.format(values=_shown(labels)))
    pos_label = plain(pos_label)
    for label in labels:
        if type(label) is type(pos_label) and label == pos_label:
            return label
    for label in labels:
        if _numeric(label) and _numeric(pos_label) and label == pos_label:
            return label
    if isinstance(pos_label, str):
        by_text = [label for label in labels if str(label) == pos_label]
        if len(by_text) == 1:
            return by_text[0]
    raise DataValidationError(MSG_POS_LABEL_ABSENT.format(
        label=pos_label, y_true=y_true, y_pred=y_pred, values=_shown(labels)))


def _numeric(value: object) -> bool:
    return isinstance(value, numbers.Real)


def _within(labels: list[object], allowed: set[int]) -> bool:
    return all(_numeric(v) and v in allowed for v in labels)
