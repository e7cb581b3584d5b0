"""Which column of a system's data is what: the mapping, its checks, and a first guess.

:class:`ColumnMapping` names the id, the outcome, the logged decision or score, the
sensitive features and the model inputs of a system's data. :func:`check_mapping` checks
it against the column names alone (before any row is read into the store);
:func:`validate_table` checks the content of a :class:`pyarrow.Table` with
:mod:`pyarrow.compute`, so millions of rows take seconds. :func:`suggest_mapping` guesses
a mapping from column names and types, for the "New system" page to propose.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audits.data.schema import ColumnRoles, DataValidationError

__all__ = [
    "SENSITIVE_NAMES",
    "ColumnMapping",
    "check_mapping",
    "suggest_mapping",
    "validate_sensitive_table",
    "validate_table",
]

MSG_NO_SENSITIVE = "at least one sensitive feature is required"
MSG_NO_DECISION = (
    "map a prediction (the logged decision) or a score with a threshold: the audit "
    "needs the system's decisions"
)
MSG_NO_THRESHOLD = (
    "score column {score!r} needs a threshold (decision = score >= threshold) when no "
    "prediction column is mapped"
)
MSG_THRESHOLD_WITHOUT_SCORE = "threshold {threshold!r} is given but no score column is mapped"
MSG_TWICE = "column {column!r} is mapped twice: as {role_a} and as {role_b}"
MSG_MISSING = "column {column!r} ({role}) is not in the data{hint}"
MSG_HINT = "; did you mean {names}?"
MSG_PRESENT = "; columns present: {names}"
MSG_NO_ROWS = "the data has no rows"
MSG_IN_SENSITIVE = "in the sensitive data: "
MSG_ID_MISSING = "id column {column!r} has {n} missing value(s), first at row {row}"
MSG_ID_DUPLICATE = (
    "id column {column!r} must be unique: {n} id(s) occur more than once, e.g. {ids}"
)
MSG_NON_BINARY = (
    "column {column!r} ({role}) must be binary; found {n} distinct values: {values}"
)
MSG_NOT_01 = (
    "column {column!r} ({role}) holds {values}: give positive_label (the value that "
    "means 1) or encode the positive class as 1"
)
MSG_POSITIVE_LABEL = (
    "positive_label {label!r} is not a value of target column {column!r}; values: {values}"
)
MSG_MISSING_VALUES = (
    "column {column!r} ({role}) has {n} missing value(s), at id(s) {ids}"
)
MSG_NOT_NUMERIC = "column {column!r} (score) must be numeric, not {type}"
MSG_THRESHOLD_RANGE = (
    "threshold {threshold!r} lies outside the range of score {column!r} "
    "[{low}, {high}]: every decision would be the same"
)

_ONE_ZERO = frozenset({"0", "1", "0.0", "1.0", "true", "false"})
_SHOWN = 5

#: Usual names of sensitive features (lower case, words joined by ``_``).
SENSITIVE_NAMES = frozenset({
    "sex", "gender", "race", "ethnicity", "ethnic_group", "ethnic_origin", "age",
    "age_group", "age_band", "age_cat", "age_category", "age_bracket", "religion",
    "religious_belief", "disability", "disabled", "disability_status", "marital_status",
    "married", "civil_status", "nationality", "national_origin", "native_country",
    "country_of_birth", "citizenship", "foreign_worker", "immigrant", "language",
    "primary_language", "mother_tongue", "sexual_orientation", "pregnancy", "pregnant",
    "color", "colour", "skin_color", "caste", "veteran", "veteran_status",
    "political_opinion", "union_member", "trade_union_membership", "health_status",
    "protected_group", "group",
})
_ID_NAMES = ("id", "uid", "uuid", "key", "record_id", "row_id", "case_id")
_TARGET_NAMES = (
    "y_true", "target", "label", "outcome", "y", "true_label", "ground_truth", "actual",
    "truth", "default", "defaulted", "repaid", "class", "is_fraud", "fraud", "churn",
    "churned", "recidivism", "two_year_recid", "income_over_50k", "credit_good",
)
_PREDICTION_NAMES = (
    "y_pred", "prediction", "predicted", "pred", "predicted_label", "pred_label",
    "decision", "model_decision", "approved", "approval", "accepted", "granted", "y_hat",
    "yhat", "high_risk", "flagged", "selected", "hired", "admitted",
)
_SCORE_NAMES = (
    "y_score", "score", "probability", "prob", "proba", "y_prob", "y_proba", "risk_score",
    "approval_score", "decile_score", "likelihood", "confidence", "predicted_probability",
)
_TIME_NAMES = (
    "timestamp", "date", "time", "datetime", "created_at", "decided_at", "decision_date",
    "application_date", "event_time", "ts", "updated_at",
)
_NUMERIC_TYPE = re.compile(r"^(u?int|float|double|decimal|halffloat|number|numeric|real)")
_TIME_TYPE = re.compile(r"^(timestamp|date|datetime|time)")


@dataclass(frozen=True)
class ColumnMapping:
    """What each column of a system's data is for.

    Parameters
    ----------
    id : str
        A unique key of each decision (joins separate sensitive data, names cases).
    target : str
        The observed outcome ``y_true`` (binary).
    sensitive : tuple of str
        The sensitive features whose groups are audited (at least one).
    prediction : str or None, default None
        The logged decision ``y_pred`` (binary).
    score : str or None, default None
        The logged score ``y_score`` (numeric).
    threshold : float or None, default None
        With a score and no prediction: the decision is ``score >= threshold``.
    features : tuple of str or None, default None
        Model inputs; None means every column with no other role.
    positive_label : str or None, default None
        The target value that means 1, when the target is not 0/1 or boolean.
    time : str or None, default None
        When each decision was made.

    Examples
    --------
    >>> m = ColumnMapping(id="id", target="repaid", sensitive=("sex",), prediction="approved")
    >>> m.resolved_features(["id", "repaid", "sex", "approved", "income"])
    ('income',)
    """

    id: str
    target: str
    sensitive: tuple[str, ...]
    prediction: str | None = None
    score: str | None = None
    threshold: float | None = None
    features: tuple[str, ...] | None = None
    positive_label: str | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        # A single name or a list is accepted and stored as a tuple (hashable, frozen).
        if isinstance(self.sensitive, str):
            object.__setattr__(self, "sensitive", (self.sensitive,))
        else:
            object.__setattr__(self, "sensitive", tuple(self.sensitive))
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        if self.positive_label is not None:
            object.__setattr__(self, "positive_label", str(self.positive_label))

    def named_roles(self) -> list[tuple[str, str]]:
        """Return ``(role, column)`` for every mapped column except the features."""
        single = [("id", self.id), ("target", self.target), ("prediction", self.prediction),
                  ("score", self.score), ("time", self.time)]
        named = [(role, col) for role, col in single if col is not None]
        return named + [("sensitive feature", col) for col in self.sensitive]

    def resolved_features(self, columns: Sequence[str]) -> tuple[str, ...]:
        """Return the model inputs: ``features``, or every column with no other role."""
        if self.features is not None:
            return self.features
        taken = {col for _, col in self.named_roles()}
        return tuple(c for c in columns if c not in taken)

    def roles(self, columns: Sequence[str]) -> ColumnRoles:
        """Return the engine's :class:`~audits.data.schema.ColumnRoles` for these columns."""
        return ColumnRoles(target=self.target, sensitive_features=self.sensitive,
                           prediction=self.prediction, score=self.score,
                           features=self.resolved_features(columns),
                           positive_label=self.positive_label or "1")

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping (inverse of :meth:`from_dict`)."""
        return {"id": self.id, "target": self.target, "sensitive": list(self.sensitive),
                "prediction": self.prediction, "score": self.score,
                "threshold": self.threshold,
                "features": None if self.features is None else list(self.features),
                "positive_label": self.positive_label, "time": self.time}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnMapping:
        """Build a mapping from :meth:`as_dict` output."""
        features = data.get("features")
        return cls(id=data["id"], target=data["target"], sensitive=tuple(data["sensitive"]),
                   prediction=data.get("prediction"), score=data.get("score"),
                   threshold=data.get("threshold"),
                   features=None if features is None else tuple(features),
                   positive_label=data.get("positive_label"), time=data.get("time"))


def check_mapping(
    schema_or_columns: pa.Schema | Sequence[str],
    mapping: ColumnMapping,
    *,
    sensitive_elsewhere: Sequence[str] = (),
) -> None:
    """Check a mapping against the data's column names, before any content is read.

    Parameters
    ----------
    schema_or_columns : pyarrow.Schema or sequence of str
        The data's columns.
    mapping : ColumnMapping
        What each column is for.
    sensitive_elsewhere : sequence of str, default ()
        Sensitive features held in a separate file, so not required in these columns.

    Raises
    ------
    DataValidationError
        No sensitive feature; neither a prediction nor a score; a score with no
        threshold and no prediction; a threshold with no score; a column mapped twice
        (naming both roles); a missing column (naming close names). The range of the
        threshold is checked by :func:`validate_table`, which sees the scores.

    Examples
    --------
    >>> m = ColumnMapping(id="id", target="y", sensitive=("sex",), prediction="p")
    >>> check_mapping(["id", "y", "gender", "p"], m)
    Traceback (most recent call last):
    ...
    audits.data.schema.DataValidationError: column 'sex' (sensitive feature) is not in the data; columns present: id, y, gender, p
    """  # noqa: E501
    columns = list(schema_or_columns.names if isinstance(schema_or_columns, pa.Schema)
                   else schema_or_columns)
    if not mapping.sensitive:
        raise DataValidationError(MSG_NO_SENSITIVE)
    if mapping.prediction is None and mapping.score is None:
        raise DataValidationError(MSG_NO_DECISION)
    if mapping.score is not None and mapping.prediction is None and mapping.threshold is None:
        raise DataValidationError(MSG_NO_THRESHOLD.format(score=mapping.score))
    if mapping.threshold is not None and mapping.score is None:
        raise DataValidationError(MSG_THRESHOLD_WITHOUT_SCORE.format(
            threshold=mapping.threshold))
    _check_twice(mapping)
    elsewhere = set(sensitive_elsewhere)
    wanted = [(role, col) for role, col in mapping.named_roles()
              if not (role == "sensitive feature" and col in elsewhere)]
    wanted += [("feature", col) for col in mapping.features or ()
               if col not in elsewhere]
    missing = [_missing_message(col, role, columns) for role, col in wanted
               if col not in columns]
    if missing:
        raise DataValidationError("; ".join(dict.fromkeys(missing)))


def _check_twice(mapping: ColumnMapping) -> None:
    seen: dict[str, str] = {}
    for role, col in mapping.named_roles():
        if col in seen:
            raise DataValidationError(MSG_TWICE.format(column=col, role_a=seen[col], role_b=role))
        seen[col] = role
    for col in mapping.features or ():
        # A sensitive feature may also be a model input; nothing else may.
        if col in seen and seen[col] != "sensitive feature":
            raise DataValidationError(MSG_TWICE.format(column=col, role_a=seen[col],
                                                       role_b="feature"))


def _missing_message(column: str, role: str, columns: Sequence[str]) -> str:
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(column, columns, n=3, cutoff=0.6)
    if column.lower() in lowered and lowered[column.lower()] not in close:
        close.insert(0, lowered[column.lower()])
    if close:
        hint = MSG_HINT.format(names=" or ".join(repr(c) for c in close))
    else:
        shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
        hint = MSG_PRESENT.format(names=shown)
    return MSG_MISSING.format(column=column, role=role, hint=hint)


def validate_table(
    table: pa.Table,
    mapping: ColumnMapping,
    *,
    sensitive_elsewhere: Sequence[str] = (),
) -> None:
    """Check the content of a system's data against its mapping.

    Runs :func:`check_mapping` first, then: the table has rows; the id has no missing
    value and is unique; the target and the prediction are binary without missing
    values (0/1, booleans, or two values one of which is ``positive_label``); the score
    is numeric without missing values, and the threshold within its range; sensitive
    features have no missing values (rows named by id).

    Parameters
    ----------
    table : pyarrow.Table
        The data, as read by :func:`~audits.systems.sources.read_source`.
    mapping : ColumnMapping
        What each column is for.
    sensitive_elsewhere : sequence of str, default ()
        Sensitive features held in a separate table (checked there, not here).

    Raises
    ------
    DataValidationError
        Naming the column, and the first offending ids or values.

    Examples
    --------
    >>> t = pa.table({"id": [1, 2], "y": [0, 1], "sex": ["f", None], "p": [1, 1]})
    >>> validate_table(t, ColumnMapping(id="id", target="y", sensitive=("sex",), prediction="p"))
    Traceback (most recent call last):
    ...
    audits.data.schema.DataValidationError: column 'sex' (sensitive feature) has 1 missing value(s), at id(s) 2
    """  # noqa: E501
    check_mapping(table.schema, mapping, sensitive_elsewhere=sensitive_elsewhere)
    if table.num_rows == 0:
        raise DataValidationError(MSG_NO_ROWS)
    _check_id(table, mapping.id)
    _check_binary(table, mapping, mapping.target, "target")
    if mapping.prediction is not None:
        _check_binary(table, mapping, mapping.prediction, "prediction")
    if mapping.score is not None:
        _check_score(table, mapping)
    for col in mapping.sensitive:
        if col not in sensitive_elsewhere:
            _check_complete(table, mapping.id, col, "sensitive feature")


def validate_sensitive_table(table: pa.Table, mapping: ColumnMapping) -> list[str]:
    """Check sensitive data kept apart from the decisions; return the features it holds.

    The table must hold the id column (unique, no missing value) and at least one of
    the mapping's sensitive features, each without missing values.

    Parameters
    ----------
    table : pyarrow.Table
        The separate sensitive data: the id and sensitive features.
    mapping : ColumnMapping
        What each column is for.

    Returns
    -------
    list of str
        The mapping's sensitive features found in ``table``, in mapping order (pass
        them as ``sensitive_elsewhere`` to :func:`check_mapping` for the decisions).

    Raises
    ------
    DataValidationError
        A missing id column or sensitive feature (with close names), a duplicated or
        missing id, a missing sensitive value (named by id), or no rows.

    Examples
    --------
    >>> m = ColumnMapping(id="id", target="y", sensitive=("sex",), prediction="p")
    >>> validate_sensitive_table(pa.table({"id": [1, 2], "sex": ["f", "m"]}), m)
    ['sex']
    """
    columns = table.column_names
    held = [c for c in mapping.sensitive if c in columns]
    wanted = [("id", mapping.id)] + ([] if held else [("sensitive feature", mapping.sensitive[0])])
    missing = [_missing_message(col, role, columns) for role, col in wanted
               if col not in columns]
    if missing:
        raise DataValidationError(MSG_IN_SENSITIVE + "; ".join(missing))
    if table.num_rows == 0:
        raise DataValidationError(MSG_IN_SENSITIVE + MSG_NO_ROWS)
    _check_id(table, mapping.id)
    for col in held:
        _check_complete(table, mapping.id, col, "sensitive feature")
    return held


def _check_id(table: pa.Table, column: str) -> None:
    ids = table.column(column)
    if ids.null_count:
        first = pc.index(pc.is_null(ids), True).as_py()
        raise DataValidationError(MSG_ID_MISSING.format(column=column, n=ids.null_count,
                                                        row=first))
    duplicated = _duplicated_values(ids)
    if len(duplicated):
        shown = ", ".join(repr(v) for v in duplicated.slice(0, _SHOWN).to_pylist())
        raise DataValidationError(MSG_ID_DUPLICATE.format(column=column, n=len(duplicated),
                                                          ids=shown))


def _duplicated_values(values: pa.ChunkedArray) -> pa.Array:
    """The values that occur more than once, sorted; by sorting, not hashing.

    A hash count of millions of distinct ids takes seconds and several times their
    memory; a sort of them takes a fraction of both.
    """
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        flat = np.sort(values.to_numpy())
        repeated = flat[1:][flat[1:] == flat[:-1]]
        return pa.array(np.unique(repeated), type=values.type)
    ordered = pc.take(values, pc.sort_indices(values)).combine_chunks()
    n = len(ordered)
    repeated = ordered.slice(1).filter(pc.equal(ordered.slice(1), ordered.slice(0, n - 1)))
    return pc.unique(repeated)


def _check_complete(table: pa.Table, id_column: str, column: str, role: str) -> None:
    missing = pc.is_null(table.column(column), nan_is_null=True)
    n = pc.sum(missing).as_py() or 0
    if n:
        ids = table.column(id_column).filter(missing).slice(0, _SHOWN).to_pylist()
        shown = ", ".join(map(str, ids)) + (", ..." if n > _SHOWN else "")
        raise DataValidationError(MSG_MISSING_VALUES.format(column=column, role=role,
                                                            n=n, ids=shown))


def _check_binary(table: pa.Table, mapping: ColumnMapping, column: str, role: str) -> None:
    _check_complete(table, mapping.id, column, role)
    values = pc.unique(table.column(column)).to_pylist()
    shown = ", ".join(repr(v) for v in sorted(values, key=str)[:10])
    if len(values) > 2:
        raise DataValidationError(MSG_NON_BINARY.format(column=column, role=role,
                                                        n=len(values), values=shown))
    as_text = {str(v) for v in values}
    label = mapping.positive_label
    if role == "target" and label is not None and label not in as_text:
        raise DataValidationError(MSG_POSITIVE_LABEL.format(label=label, column=column,
                                                            values=shown))
    if label is not None and label in as_text:
        return
    if not {t.lower() for t in as_text} <= _ONE_ZERO:
        raise DataValidationError(MSG_NOT_01.format(column=column, role=role, values=shown))


def _check_score(table: pa.Table, mapping: ColumnMapping) -> None:
    column = str(mapping.score)
    scores = table.column(column)
    kind = scores.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)):
        raise DataValidationError(MSG_NOT_NUMERIC.format(column=column, type=kind))
    _check_complete(table, mapping.id, column, "score")
    if mapping.threshold is not None:
        bounds = pc.min_max(scores)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if not low <= mapping.threshold <= high:
            raise DataValidationError(MSG_THRESHOLD_RANGE.format(
                threshold=mapping.threshold, column=column, low=low, high=high))


def suggest_mapping(columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Guess what each column is for from its name and type (a proposal, to be confirmed).

    Parameters
    ----------
    columns : sequence of (name, type name)
        The data's columns in order, with Arrow or pandas type names (``"int64"``,
        ``"double"``, ``"string"``, ``"timestamp[us]"``, ``"object"``).

    Returns
    -------
    dict
        ``id``, ``target``, ``prediction``, ``score``, ``time`` (a column name or None),
        ``threshold`` (0.5 when a score is found without a prediction, else None),
        ``sensitive`` (list of names from :data:`SENSITIVE_NAMES`; a numeric ``age``
        is left a feature, since it needs banding into groups first) and ``features``
        (every other column).

    Examples
    --------
    >>> s = suggest_mapping([("applicant_id", "int64"), ("sex", "string"),
    ...                      ("income", "double"), ("approved", "bool"), ("repaid", "int64")])
    >>> s["id"], s["target"], s["prediction"], s["sensitive"], s["features"]
    ('applicant_id', 'repaid', 'approved', ['sex'], ['income'])
    """
    names = [name for name, _ in columns]
    keys = {name: _key(name) for name in names}
    types = {name: str(kind).lower() for name, kind in columns}
    taken: set[str] = set()

    def pick(exact: Sequence[str], pattern: str | None, numeric: bool = False) -> str | None:
        free = [n for n in names if n not in taken
                and (not numeric or _NUMERIC_TYPE.match(types[n]))]
        found = _by_exact(free, keys, exact) or _by_pattern(free, keys, pattern)
        if found is not None:
            taken.add(found)
        return found

    out: dict[str, Any] = {"id": pick(_ID_NAMES, r".+_id$|^id_.+|.+_uuid$")}
    out["target"] = pick(_TARGET_NAMES, r"^(y_)?true_.+|.+_outcome$|^actual_.+")
    out["prediction"] = pick(_PREDICTION_NAMES, r"^pred(icted)?_.+|.+_pred(iction)?$|.+_decision$")
    out["score"] = pick(_SCORE_NAMES, r".+_(score|prob|proba|probability)$", numeric=True)
    out["time"] = pick(_TIME_NAMES, r".+_(at|date|time|timestamp)$") or _first_time(
        names, types, taken)
    if out["time"] is not None:
        taken.add(out["time"])
    out["threshold"] = 0.5 if out["score"] and not out["prediction"] else None
    # A numeric age has a group per year: it needs banding before it can be audited.
    out["sensitive"] = [n for n in names if n not in taken and keys[n] in SENSITIVE_NAMES
                        and not (keys[n] == "age" and _NUMERIC_TYPE.match(types[n]))]
    taken.update(out["sensitive"])
    out["features"] = [n for n in names if n not in taken]
    return out


def _key(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def _by_exact(free: Sequence[str], keys: dict[str, str], exact: Sequence[str]) -> str | None:
    for wanted in exact:  # the order of the names is their priority
        for name in free:
            if keys[name] == wanted:
                return name
    return None


def _by_pattern(free: Sequence[str], keys: dict[str, str], pattern: str | None) -> str | None:
    if pattern is None:
        return None
    return next((n for n in free if re.fullmatch(pattern, keys[n])), None)


def _first_time(names: Sequence[str], types: dict[str, str], taken: set[str]) -> str | None:
    return next((n for n in names if n not in taken and _TIME_TYPE.match(types[n])), None)
