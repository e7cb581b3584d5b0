"""What every flag reason shares: the flags table contract, its checks and messages.

:mod:`audits.flagging.flags` is the public face; this module holds the table's columns and
reasons, the error messages the reason functions raise, the checks of a flags table and
the seeded, order-independent key used wherever rows are drawn or tie-broken.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CONVERSATION_REASONS",
    "DECISION_REASONS",
    "FLAG_COLUMNS",
    "REASONS",
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
    "seeded_key",
    "validate_flags",
]

#: Why a decision needs a person (the first eight), and why a chatbot conversation does
#: (low confidence, the random control and gold are shared; the last four are its own,
#: see :mod:`audits.conversations.signals`).
REASONS: tuple[str, ...] = ("low_confidence", "disparity", "counterfactual", "attribution",
                            "random_control", "gold", "slice", "active_learning",
                            "asked_for_person", "policy_rule", "negative_sentiment",
                            "judge_fail")
#: The reasons of a model's or a decision log's decisions.
DECISION_REASONS: tuple[str, ...] = REASONS[:8]
#: The reasons of a chatbot's conversations (``counterfactual``: a probe with a user
#: attribute swapped answered differently beyond sampling noise).
CONVERSATION_REASONS: tuple[str, ...] = ("low_confidence", "asked_for_person", "policy_rule",
                                         "negative_sentiment", "judge_fail",
                                         "random_control", "gold", "counterfactual")


FLAG_COLUMNS = ("row", "reason", "score", "explanation")


MSG_NOT_SERIES = "{name} must be a pandas Series; got {kind}"


MSG_NOT_INDEX = "index must be a pandas Index; got {kind}"


MSG_SEED = "random_state must be an int; got {value!r}"


MSG_DUPLICATE_INDEX = "{name} has duplicate index label {label!r}; rows must be unique"


MSG_SCORES = "y_score must hold finite numbers; row {row!r} has {value!r}"


MSG_THRESHOLD = "threshold must be a finite number; got {value!r}"


MSG_NO_RULE = "give margin or k (k wins when both are given); both are None"


MSG_MARGIN = "margin must be a finite number > 0; got {value!r}"


MSG_COUNT = "{name} must be a non-negative integer; got {value!r}"


MSG_BINARY = "column {column!r} must hold 0/1 decisions; row {row!r} has {value!r}"


MSG_ITEM = "disparity #{i} lacks {key!r} (metric, attributes and verdict are required)"


MSG_NEEDS_Y_TRUE = (
    "disparity #{i} on {metric!r} is driven by cells that need the true outcome; "
    "pass y_true"
)


MSG_NO_DIRECTION = (
    "disparity #{i} on {metric!r} has no usable ratio or difference, so its direction "
    "is unknown"
)


MSG_NO_SENSITIVE = "at least one sensitive feature is required"


MSG_PROXY_KEY = "proxies name {column!r}, which is not a sensitive feature ({features})"


MSG_WATCHED = "watched must name at least one feature"


MSG_MIN_SHARE = "min_share must lie in (0, 1]; got {value!r}"


MSG_NOT_NUMERIC = "contribution column {column!r} must hold finite numbers"


MSG_KIND_NOT_WATCHED = "kinds names {column!r}, which is not a watched feature"


MSG_GOLD_MISSING = "answers has no value for row {row!r}"


MSG_SOURCE = "source must be a non-empty string; got {value!r}"


MSG_NOT_FRAME = "a flags table must be a pandas DataFrame; got {kind}"


MSG_FLAG_COLUMNS = "a flags table needs exactly the columns {expected}; got {columns}"


MSG_FLAG_REASON = "unknown flag reason {reason!r}; reasons: {choices}"


MSG_FLAG_SCORE = "flag score must lie in [0, 1]; row {row!r} ({reason}) has {value!r}"


MSG_FLAG_TEXT = "flag explanation must be a non-empty string; row {row!r} ({reason})"


MSG_FLAG_ROW = "flag rows must be labels, not missing values"


MSG_FLAG_DUPLICATE = "row {row!r} is flagged twice for {reason!r}"


TOLERANCE = 1e-9


_CELLS = ("a true positive", "a false positive", "a false negative", "a true negative")


_ERROR_CELLS = (0, 1, 1, 0)


def validate_flags(table: pd.DataFrame) -> pd.DataFrame:
    """Check a flags table and return it with columns in :data:`FLAG_COLUMNS` order.

    Examples
    --------
    >>> from audits.flagging.flags import gold_flags
    >>> validate_flags(gold_flags(pd.Series({"r": 0}))).shape
    (1, 4)
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(MSG_NOT_FRAME.format(kind=type(table).__name__))
    if sorted(map(str, table.columns)) != sorted(FLAG_COLUMNS) or table.columns.has_duplicates:
        raise ValueError(MSG_FLAG_COLUMNS.format(expected=list(FLAG_COLUMNS),
                                                 columns=list(table.columns)))
    out = table.loc[:, list(FLAG_COLUMNS)].reset_index(drop=True)
    if out["row"].isna().any():
        raise ValueError(MSG_FLAG_ROW)
    for row, reason, score, text in out.itertuples(index=False):
        if reason not in REASONS:
            raise ValueError(MSG_FLAG_REASON.format(reason=reason, choices=", ".join(REASONS)))
        ok = isinstance(score, int | float | np.number) and not isinstance(score, bool)
        if not ok or not 0.0 <= float(score) <= 1.0:
            raise ValueError(MSG_FLAG_SCORE.format(row=row, reason=reason, value=score))
        if not isinstance(text, str) or not text.strip():
            raise ValueError(MSG_FLAG_TEXT.format(row=row, reason=reason))
    twice = out.duplicated(["row", "reason"]).to_numpy()
    if twice.any():
        first = out.iloc[int(twice.argmax())]
        raise ValueError(MSG_FLAG_DUPLICATE.format(row=first["row"], reason=first["reason"]))
    return out.astype({"score": np.float64})


def seeded_key(label: Hashable, random_state: int) -> tuple[int, str]:
    """A seeded pseudo-random sort key of a row label, independent of any other label.

    Sorting labels by this key gives a uniform random order that depends on the seed
    and the labels only, so shuffling a table never changes who is drawn.

    Examples
    --------
    >>> seeded_key("a", 0) == seeded_key("a", 0), seeded_key("a", 0) == seeded_key("a", 1)
    (True, False)
    """
    if isinstance(label, np.generic):
        label = label.item()
    text = repr(label)
    digest = hashlib.blake2b(f"{random_state}\x1f{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big"), text


def _table(rows: Iterable[Any], reason: str, scores: Any, notes: Sequence[str]) -> pd.DataFrame:
    labels = list(rows)
    return pd.DataFrame({
        "row": pd.Series(labels, dtype=object if not labels else None),
        "reason": pd.Series([reason] * len(labels), dtype=object),
        "score": np.asarray(scores, dtype=np.float64),
        "explanation": pd.Series(list(notes), dtype=object),
    })


def _check_series(values: Any, name: str) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise TypeError(MSG_NOT_SERIES.format(name=name, kind=type(values).__name__))
    _check_unique(values.index, name)
    return values


def _check_unique(index: pd.Index, name: str) -> None:
    if index.has_duplicates:
        label = index[index.duplicated()][0]
        raise ValueError(MSG_DUPLICATE_INDEX.format(name=name, label=label))


def _check_count(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(MSG_COUNT.format(name=name, value=value))


def _binary(values: pd.Series, column: str) -> np.ndarray:
    numeric = pd.to_numeric(values, errors="coerce") if values.dtype != bool else values
    bad = ~numeric.isin([0, 1]).to_numpy()
    if bad.any():
        pos = int(bad.argmax())
        raise ValueError(MSG_BINARY.format(column=column, row=values.index[pos],
                                           value=values.tolist()[pos]))
    out: np.ndarray = numeric.to_numpy(dtype=np.int64)
    return out


def _finite_frame(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        ok = pd.api.types.is_numeric_dtype(frame[column].dtype)
        if not ok or pd.api.types.is_bool_dtype(frame[column].dtype) or \
                not np.isfinite(frame[column].to_numpy(dtype=np.float64)).all():
            raise ValueError(MSG_NOT_NUMERIC.format(column=column))
    return frame.astype(np.float64)


def _finite(value: Any) -> bool:
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    return ok and math.isfinite(float(value))


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None

