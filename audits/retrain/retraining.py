"""The feedback loop: consensus labels correct the training data, the model is retrained.

Consensus labels (:func:`audits.raters.consensus.consensus_labels`) replace the recorded labels
of the training rows the cases came from, keeping the lineage (:func:`apply_consensus`);
the default model is refitted on the same rows (:func:`retrain`), optionally under a
fairness constraint; both models' decisions on the *same* held-out rows are compared with
a paired bootstrap (:func:`compare_models`).

A constraint is met by fairlearn's ``ThresholdOptimizer`` (``prefit=True``, on
``predict_proba``) fitted on the training rows: group-specific randomised thresholds.
``ExponentiatedGradient`` would pass ``sample_weight`` to a ``Pipeline``, which rejects it.
The fitted rules are kept as JSON (:mod:`audits.models.group_thresholds`), so a constrained model
is its skops pipeline file plus that JSON, and decides exactly as the optimizer would.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.pipeline import Pipeline

from audits.data.schema import ColumnRoles, check_columns_exist
from audits.fairness.intervals import MSG_LEVEL, percentile_interval
from audits.models.group_thresholds import apply_thresholds, thresholds_spec
from audits.models.training import (
    DEFAULT_THRESHOLD,
    build_pipeline,
    check_training_inputs,
    split_columns,
)

__all__ = ["CONSTRAINTS", "BeforeAfter", "LabelCorrection", "RetrainedModel", "apply_consensus",
           "compare_models", "predict_retrained", "retrain"]

MSG_NOT_FRAME = "{name} must be a pandas DataFrame; got {type}"
MSG_COLUMNS = "{name} lacks column(s) {missing}"
MSG_SOURCE = "consensus case {case!r} has unknown source {source!r}; expected one of {allowed}"
MSG_NO_ROW = "consensus case {case!r} maps to no training row (row_of_case gives {row!r})"
MSG_LABEL_VALUE = "case {case!r} has consensus label {label!r}; labels must be 0 or 1"
MSG_CONFLICT = "row {row!r} gets conflicting consensus labels from cases {cases}"
MSG_BINARY = "column {column!r} must hold 0/1 without missing values; found {values}"
MSG_OPTION = "{name} must be one of {allowed}; got {value!r}"
MSG_NEED_SENSITIVE = "constraint {constraint!r} needs sensitive_feature (a column name)"
MSG_ROWS = "train_rows must be distinct row positions in [0, {n}); got {detail}"
MSG_LABELS_INDEX = "labels must be indexed by exactly the training rows' index labels"
MSG_REFERENCE = "reference group {reference!r} does not occur in column {column!r}"
MSG_GROUPS = "column {column!r} needs at least two groups without missing values; found {groups}"
MSG_N_BOOT = "n_boot must be an int >= 1; got {value!r}"

SOURCES = ("adjudicated", "dawid_skene", "majority")
CONSTRAINTS: tuple[str | None, ...] = (None, "demographic_parity", "equalized_odds")
#: Disparity -> the y_true value of the rows its rate is taken over (None: all rows).
_DISPARITIES: tuple[tuple[str, int | None], ...] = (("selection_rate_difference", None), (
    "true_positive_rate_difference", 1), ("false_positive_rate_difference", 0))
_CHUNK = 200  # bootstrap replicates drawn at once (bounds memory on large held-out sets)


@dataclass(frozen=True)
class LabelCorrection:
    """Training labels after consensus (``labels``: int64 on the training index), and the
    lineage ``changed``: one row per changed label with ``row`` (index label),
    ``old_label``, ``new_label``, ``source`` (consensus rule) and ``case_id``.
    """

    labels: pd.Series
    changed: pd.DataFrame


@dataclass(frozen=True, eq=False)
class RetrainedModel:
    """The default pipeline refitted on (corrected) labels; ``thresholds`` holds the fitted
    ThresholdOptimizer's group rules (:func:`audits.models.group_thresholds.thresholds_spec`) when
    ``constraint`` is set (decisions then need ``sensitive_feature``). Other fields as in
    :class:`audits.models.training.TrainedModel`.
    """

    pipeline: Pipeline
    thresholds: dict[str, dict[str, Any]] | None
    kind: str
    features: tuple[str, ...]
    target: str
    train_rows: npt.NDArray[np.intp]
    threshold: float
    constraint: str | None
    sensitive_feature: str | None
    random_state: int


@dataclass(frozen=True)
class BeforeAfter:
    """Paired comparison: ``table`` (``metric, group, reference, before, after, difference,
    ci_low, ci_high``): accuracy (group, reference missing), then per non-reference group the
    selection-rate, TPR and FPR differences ``group - reference``; ``difference`` is
    ``after - before``, with a paired percentile-bootstrap interval."""

    table: pd.DataFrame


def apply_consensus(
    train: pd.DataFrame, *, target: str, consensus: pd.DataFrame,
    row_of_case: Mapping[Hashable, Hashable],
) -> LabelCorrection:
    """Replace the recorded training labels of reviewed cases by their consensus labels.

    Parameters
    ----------
    train : pandas.DataFrame
        The training rows; ``train[target]`` holds the recorded 0/1 labels.
    target : str
    consensus : pandas.DataFrame
        :func:`audits.raters.consensus.consensus_labels` output (``case_id, label, source``);
        cases with source "none" are ignored.
    row_of_case : mapping of case id -> index label of ``train``
        The training row each reviewed case was drawn from.

    Returns
    -------
    LabelCorrection

    Raises
    ------
    TypeError, ValueError
        Not a DataFrame, a missing column, an unknown source, an unmapped case, a row
        outside ``train``, a label not 0/1, or two labels for one row (``MSG_*``).

    Examples
    --------
    >>> train = pd.DataFrame({"y": [0, 1, 0]}, index=[10, 11, 12])
    >>> cons = pd.DataFrame({"case_id": ["a", "b", "c"], "label": [1, 1, None],
    ...                      "source": ["majority", "dawid_skene", "none"]})
    >>> fix = apply_consensus(train, target="y", consensus=cons,
    ...                       row_of_case={"a": 10, "b": 11, "c": 12})
    >>> fix.labels.tolist(), fix.changed[["row", "new_label", "case_id"]].values.tolist()
    ([1, 1, 0], [[10, 1, 'a']])
    """
    _check_frame(train, "train", [target])
    _check_binary(train, target)
    _check_frame(consensus, "consensus", ["case_id", "label", "source"])
    used = consensus[consensus["source"] != "none"]
    rows, new = _mapped_labels(used, row_of_case, train.index)
    labels = train[target].astype(np.int64)
    old = labels.loc[rows].to_numpy()
    labels.loc[rows] = new
    moved = old != new
    changed = pd.DataFrame({
        "row": pd.Series(rows, dtype=object)[moved].tolist(), "old_label": old[moved],
        "new_label": new[moved], "source": used["source"].to_numpy()[moved],
        "case_id": used["case_id"].to_numpy()[moved]})
    return LabelCorrection(labels=labels, changed=changed)


def retrain(
    frame: pd.DataFrame, roles: ColumnRoles, *, labels: pd.Series | None,
    train_rows: Sequence[int] | npt.NDArray[np.integer[Any]],
    kind: str = "logistic_regression", constraint: str | None = None,
    sensitive_feature: str | None = None, random_state: int = 0,
) -> RetrainedModel:
    """Refit the default model on the training rows with (corrected) labels.

    Parameters
    ----------
    frame : pandas.DataFrame
        All rows.
    roles : ColumnRoles
        ``roles.features`` are the inputs; ``roles.target`` is used when ``labels`` is None.
    labels : pandas.Series or None
        Labels indexed by exactly ``frame.index[train_rows]`` (e.g.
        :attr:`LabelCorrection.labels`); None keeps ``frame[roles.target]``.
    train_rows : sequence of int
        Row positions (``iloc``) to train on, e.g. ``TrainedModel.train_rows``.
    kind : {"logistic_regression", "gradient_boosting"}, default "logistic_regression"
    constraint : {None, "demographic_parity", "equalized_odds"}, default None
        Post-process with fairlearn's ThresholdOptimizer fitted on the training rows, on
        the groups of ``sensitive_feature`` (str, required with a constraint).
    sensitive_feature : str or None, default None
    random_state : int, default 0
        Seed of the estimator and of the randomised thresholds.

    Returns
    -------
    RetrainedModel

    Raises
    ------
    ValueError
        Bad ``kind``, ``constraint``, ``train_rows``, ``labels``; a constraint without a
        sensitive feature; missing or bad feature columns (DataValidationError).

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1] * 20, "g": ["a", "b"] * 20, "x": range(40)})
    >>> roles = ColumnRoles(target="y", sensitive_features=("g",), features=("x",))
    >>> model = retrain(df, roles, labels=None, train_rows=range(30))
    >>> predict_retrained(model, df.iloc[30:]).shape
    (10,)
    """
    rows = _check_rows(train_rows, len(frame))  # test_size 0.5 below: unused, passes the check
    features = check_training_inputs(frame, roles, kind, 0.5, random_state)
    if constraint not in CONSTRAINTS:
        raise ValueError(MSG_OPTION.format(name="constraint", allowed=CONSTRAINTS,
                                           value=constraint))
    if constraint is not None and sensitive_feature is None:
        raise ValueError(MSG_NEED_SENSITIVE.format(constraint=constraint))
    train = frame.iloc[rows]
    y = _training_labels(train, roles.target, labels)
    # The default model's own pipeline: train_default_model draws its own split instead.
    pipeline = build_pipeline(kind, *split_columns(train, features), random_state)
    x = train.loc[:, list(features)]
    pipeline.fit(x, y)
    thresholds = None
    if constraint is not None and sensitive_feature is not None:
        check_columns_exist(frame, [sensitive_feature], "sensitive feature")
        post = ThresholdOptimizer(estimator=pipeline, constraints=constraint, prefit=True,
                                  predict_method="predict_proba")
        post.fit(x, y, sensitive_features=train[sensitive_feature].to_numpy())
        thresholds = thresholds_spec(post)
    return RetrainedModel(pipeline, thresholds, kind, features, roles.target, rows,
                          DEFAULT_THRESHOLD, constraint, sensitive_feature, random_state)


def predict_retrained(model: RetrainedModel, frame: pd.DataFrame) -> pd.Series:
    """Return the 0/1 decisions (int8, named ``y_pred``) of a retrained model on ``frame``.

    Group thresholds of a constraint are randomised, seeded by ``random_state``; example in
    :func:`retrain`."""
    check_columns_exist(frame, model.features, "feature")
    x = frame.loc[:, list(model.features)]
    scores = model.pipeline.predict_proba(x)[:, 1]
    if model.thresholds is not None and model.sensitive_feature is not None:
        check_columns_exist(frame, [model.sensitive_feature], "sensitive feature")
        pred = apply_thresholds(scores, frame[model.sensitive_feature], model.thresholds,
                                random_state=model.random_state)
    else:
        pred = scores >= model.threshold
    return pd.Series(np.asarray(pred).astype(np.int8), index=frame.index, name="y_pred")


def compare_models(
    held_out: pd.DataFrame, *, y_true: str, before: str, after: str, sensitive_feature: str,
    reference: Hashable | None = None, n_boot: int = 1000, level: float = 0.95,
    random_state: int = 0,
) -> BeforeAfter:
    """Compare two models' decisions on the same rows, with paired bootstrap intervals.

    Each replicate resamples the rows once and recomputes every metric for both models on
    it, so the interval of ``after - before`` reflects that both saw the same people.

    Parameters
    ----------
    held_out : pandas.DataFrame of shape (n_rows, n_columns)
        Rows neither model was trained on.
    y_true, before, after : str
        0/1 columns: the truth and the two models' decisions.
    sensitive_feature : str
        Group column; disparities are ``rate(group) - rate(reference)``.
    reference : group value or None, default None
        None takes the largest group (ties: the first in sorted order).
    n_boot, level, random_state : int, float, int, default 1000, 0.95, 0
        Replicates, interval level, seed.

    Returns
    -------
    BeforeAfter

    Raises
    ------
    TypeError, ValueError
        Not a DataFrame, a missing or non-0/1 column, < 2 groups, bad reference/n_boot/level.

    Examples
    --------
    >>> h = pd.DataFrame({"y": [1, 1, 0, 0] * 5, "g": ["a", "b"] * 10,
    ...                   "old": [1, 0, 0, 0] * 5, "new": [1, 1, 0, 0] * 5})
    >>> t = compare_models(h, y_true="y", before="old", after="new",
    ...                    sensitive_feature="g", reference="a", n_boot=50).table
    >>> t[["metric", "before", "after", "difference"]].round(2).values.tolist()[:2]
    [['accuracy', 0.75, 1.0, 0.25], ['selection_rate_difference', -0.5, 0.0, 0.5]]
    """
    _check_frame(held_out, "held_out", [y_true, before, after, sensitive_feature])
    for column in (y_true, before, after):
        _check_binary(held_out, column)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(MSG_N_BOOT.format(value=n_boot))
    if not 0.0 < level < 1.0:
        raise ValueError(MSG_LEVEL.format(value=level))
    ref, others = _groups(held_out[sensitive_feature], sensitive_feature, reference)
    columns, keys = _indicator_columns(held_out, y_true, (before, after), sensitive_feature,
                                       ref, others)
    n, rng, reps = len(held_out), np.random.default_rng(random_state), []
    observed = _statistics(np.ones((1, n)) @ columns, len(others))[0]
    for start in range(0, n_boot, _CHUNK):
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_CHUNK, n_boot - start))
        reps.append(_statistics(weights @ columns, len(others)))
    boot = np.concatenate(reps, axis=0)  # replicates x metrics x (before, after)
    low, high = percentile_interval(boot[:, :, 1] - boot[:, :, 0], level=level)
    table = pd.DataFrame(keys, columns=["metric", "group", "reference"]).assign(
        before=observed[:, 0], after=observed[:, 1], difference=observed[:, 1] - observed[:, 0])
    return BeforeAfter(table=table.assign(ci_low=low, ci_high=high))


def _check_frame(frame: object, name: str, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(MSG_NOT_FRAME.format(name=name, type=type(frame).__name__))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(MSG_COLUMNS.format(name=name, missing=missing))


def _check_binary(frame: pd.DataFrame, column: str) -> None:
    values = pd.unique(frame[column]).tolist()
    if not all(isinstance(v, int | np.integer | bool | np.bool_) and v in (0, 1)
               or isinstance(v, float) and v in (0.0, 1.0) for v in values):
        shown = sorted((repr(v) for v in values), key=str)[:8]
        raise ValueError(MSG_BINARY.format(column=column, values=", ".join(shown)))


def _mapped_labels(used: pd.DataFrame, row_of_case: Mapping[Hashable, Hashable],
                   index: pd.Index) -> tuple[list[Hashable], npt.NDArray[np.int64]]:
    rows: list[Hashable] = []
    first_case: dict[Hashable, tuple[Hashable, int]] = {}
    for case, label, source in used[["case_id", "label", "source"]].itertuples(index=False):
        if source not in SOURCES:
            raise ValueError(MSG_SOURCE.format(case=case, source=source, allowed=SOURCES))
        row = row_of_case.get(case)
        if case not in row_of_case or row not in index:
            raise ValueError(MSG_NO_ROW.format(case=case, row=row))
        if isinstance(label, bool | np.bool_) or label not in (0, 1):
            raise ValueError(MSG_LABEL_VALUE.format(case=case, label=label))
        earlier = first_case.setdefault(row, (case, int(label)))
        if earlier[1] != int(label):
            raise ValueError(MSG_CONFLICT.format(row=row, cases=[earlier[0], case]))
        rows.append(row)
    return rows, used["label"].to_numpy().astype(np.int64)


def _check_rows(train_rows: Sequence[int] | npt.NDArray[np.integer[Any]],
                n: int) -> npt.NDArray[np.intp]:
    rows = np.asarray(train_rows)
    if (rows.ndim != 1 or len(rows) == 0 or not np.issubdtype(rows.dtype, np.integer)
            or rows.min() < 0 or rows.max() >= n or len(np.unique(rows)) != len(rows)):
        raise ValueError(MSG_ROWS.format(n=n, detail="none, non-integer, out of range or repeated"))
    out = rows.astype(np.intp)
    out.flags.writeable = False
    return out


def _training_labels(train: pd.DataFrame, target: str,
                     labels: pd.Series | None) -> npt.NDArray[np.int64]:
    if labels is None:
        _check_binary(train, target)
        return np.asarray(train[target], dtype=np.int64)
    if not isinstance(labels, pd.Series) or not labels.index.sort_values().equals(
            train.index.sort_values()) or labels.index.has_duplicates:
        raise ValueError(MSG_LABELS_INDEX)
    aligned = labels.loc[train.index].to_frame(name=target)
    _check_binary(aligned, target)
    return np.asarray(aligned[target], dtype=np.int64)


def _groups(groups: pd.Series, column: str,
            reference: Hashable | None) -> tuple[Hashable, list[Hashable]]:
    counts = groups.value_counts(dropna=False)
    if groups.isna().any() or len(counts) < 2:
        raise ValueError(MSG_GROUPS.format(column=column, groups=counts.index.tolist()))
    if reference is None:
        reference = min(counts.index.tolist(), key=lambda g: (-int(counts[g]), str(g)))
    elif reference not in counts.index:
        raise ValueError(MSG_REFERENCE.format(reference=reference, column=column))
    return reference, sorted((g for g in counts.index if g != reference), key=str)


def _indicator_columns(
    frame: pd.DataFrame, y_true: str, models: tuple[str, str], column: str,
    reference: Hashable, others: list[Hashable],
) -> tuple[npt.NDArray[np.float64], list[tuple[str, Hashable | None, Hashable | None]]]:
    """Per model: [correct, 1], then per group (reference first) and disparity [d, rows]."""
    y = frame[y_true].to_numpy(dtype=np.float64)
    cols: list[npt.NDArray[np.float64]] = []
    for model in models:
        d = frame[model].to_numpy(dtype=np.float64)
        cols += [(d == y).astype(np.float64), np.ones(len(frame))]
        for group in [reference, *others]:
            in_group = (frame[column] == group).to_numpy(dtype=np.float64)
            for _, on in _DISPARITIES:
                rows = in_group if on is None else in_group * (y == on)
                cols += [rows * d, rows]
    keys: list[tuple[str, Hashable | None, Hashable | None]] = [("accuracy", None, None)]
    keys += [(name, g, reference) for g in others for name, _ in _DISPARITIES]
    return np.column_stack(cols), keys


def _statistics(sums: npt.NDArray[np.float64], n_others: int) -> npt.NDArray[np.float64]:
    """(replicates, metrics, 2 models) from the weighted sums of the indicator columns."""
    k = len(_DISPARITIES)
    per_model = 2 + 2 * k * (n_others + 1)
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for m in range(2):
            block = sums[:, m * per_model:(m + 1) * per_model]
            rates = (block[:, 2::2] / block[:, 3::2]).reshape(len(sums), n_others + 1, k)
            diffs = (rates[:, 1:, :] - rates[:, :1, :]).reshape(len(sums), n_others * k)
            out.append(np.column_stack([block[:, 0] / block[:, 1], diffs]))
    return np.stack(out, axis=2)
