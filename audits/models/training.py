"""Default model training and decisions from a model.

fairpanel trains a scikit-learn pipeline (gradient boosting, or logistic regression) when
the data carries no decisions of its own. Categorical features are one-hot encoded in the
pipeline rather than split natively by HistGradientBoosting, because shap's tree explainer
returns wrong values for native categorical splits. Model files (skops persistence, safe
loading of a user's model) live in :mod:`audits.models.files`; their names are re-exported
here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audits.data.schema import ColumnRoles, DataValidationError, check_columns_exist
from audits.models.files import (
    TRUSTED_TYPES,
    UnsafeModelError,
    file_sha256,
    load_model,
    positive_column,
    save_model,
)

__all__ = [
    "KINDS",
    "TRUSTED_TYPES",
    "TrainedModel",
    "UnsafeModelError",
    "build_pipeline",
    "check_training_inputs",
    "file_sha256",
    "load_model",
    "held_out_decisions",
    "predict_decisions",
    "save_model",
    "split_columns",
    "split_rows",
    "train_default_model",
]

MSG_UNKNOWN_KIND = "unknown model kind {kind!r}; choose one of: {choices}"
MSG_TEST_SIZE = "test_size must be a number strictly between 0 and 1; got {value!r}"
MSG_RANDOM_STATE = "random_state must be an int; got {value!r}"
MSG_NO_FEATURES = (
    "no model features: list the model inputs in ColumnRoles.features "
    "(sensitive features are not model inputs unless listed there)"
)
MSG_FEATURE_DTYPE = (
    "feature {column!r} has dtype {dtype}; model features must be numeric, boolean, "
    "string or categorical"
)
MSG_FEATURE_EMPTY = "feature {column!r} has no observed values"
MSG_TARGET_VALUES = (
    "target {column!r} must hold 0/1 (validate the frame with validate_frame first); found {values}"
)
MSG_SPLIT = (
    "cannot split {n} rows into train and test with test_size={test_size} "
    "stratified by {column!r}: {reason}"
)
MSG_ONE_CLASS = (
    "the training split of target {column!r} holds only class {present}; "
    "both classes 0 and 1 are needed to train a model"
)
MSG_THRESHOLD = "threshold must lie in [0, 1]; got {value!r}"
MSG_FEATURES_MISMATCH = (
    "the model was fitted on columns {expected} but the features given are {given}"
)
KINDS: tuple[str, ...] = ("gradient_boosting", "logistic_regression")

#: Categories rarer than this share of the training rows share one one-hot column.
MIN_CATEGORY_FREQUENCY = 0.01
DEFAULT_THRESHOLD = 0.5

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A fitted default model and what it takes to reproduce and audit it.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        ``preprocess`` (a ColumnTransformer) then ``model`` (the classifier).
    kind : str
        One of :data:`KINDS`.
    features : tuple of str
        The input columns, in the order the pipeline was fitted on.
    target : str
        The outcome column.
    train_rows, test_rows : ndarray of int
        Row positions (``iloc``) of the training and held-out rows; audits use the
        decisions on ``test_rows``. Read-only.
    threshold : float
        ``y_pred = y_score >= threshold``.
    metrics : dict of str to float
        On the held-out rows: accuracy, balanced_accuracy, roc_auc, log_loss, brier,
        positive_rate, n_train, n_test.
    params : dict
        Kind, seed, test size, library version, preprocessing and estimator parameters.
    random_state : int
        The seed of the split and of the estimator.
    """

    pipeline: Pipeline
    kind: str
    features: tuple[str, ...]
    target: str
    train_rows: npt.NDArray[np.intp]
    test_rows: npt.NDArray[np.intp]
    threshold: float
    metrics: dict[str, float]
    params: dict[str, object]
    random_state: int


def train_default_model(
    frame: pd.DataFrame,
    roles: ColumnRoles,
    *,
    kind: str = "gradient_boosting",
    test_size: float = 0.3,
    random_state: int = 0,
    progress: Progress | None = None,
) -> TrainedModel:
    """Train fairpanel's default classifier on ``roles.features`` of a validated frame.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        Decisions validated by :func:`audits.data.schema.validate_frame` (target 0/1).
    roles : ColumnRoles
        ``roles.features`` are the model inputs, ``roles.target`` the outcome.
        Sensitive features are not inputs unless listed in ``roles.features``.
    kind : {"gradient_boosting", "logistic_regression"}, default "gradient_boosting"
        HistGradientBoostingClassifier, or LogisticRegression on scaled inputs.
    test_size : float, default 0.3
        Share of rows held out (stratified by the target) for metrics and audits.
    random_state : int, default 0
        Seed of the split and of the estimator.
    progress : callable ``(fraction, message) -> None`` or None, default None
        Called after each step with a fraction in (0, 1], last with 1.0.

    Returns
    -------
    TrainedModel

    Raises
    ------
    ValueError
        Unknown ``kind``, ``test_size`` outside (0, 1), no features, or a split
        without both classes in the training rows.
    DataValidationError
        A feature is missing, empty or of an unsupported dtype.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1] * 20, "sex": ["f", "m"] * 20,
    ...                    "age": range(40)})
    >>> roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age",))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> model.metrics["n_test"]
    12
    """
    features = check_training_inputs(frame, roles, kind, test_size, random_state)
    notify = progress if progress is not None else _no_progress
    y = frame[roles.target].to_numpy()
    train_rows, test_rows = split_rows(y, target=roles.target, test_size=test_size,
                                       random_state=random_state)
    notify(0.1, f"split {len(y)} rows: {len(train_rows)} train, {len(test_rows)} held out")
    numeric, categorical = split_columns(frame, features)
    pipeline = build_pipeline(kind, numeric, categorical, random_state)
    x = frame.loc[:, list(features)]
    notify(0.2, f"fitting {kind} on {len(train_rows)} rows")
    pipeline.fit(x.iloc[train_rows], y[train_rows])
    notify(0.8, f"evaluating on {len(test_rows)} held-out rows")
    metrics = _held_out_metrics(pipeline, x.iloc[test_rows], y[test_rows], len(train_rows))
    params: dict[str, object] = {
        "kind": kind,
        "random_state": random_state,
        "test_size": test_size,
        "threshold": DEFAULT_THRESHOLD,
        "sklearn_version": sklearn.__version__,
        "numeric_features": list(numeric),
        "categorical_features": list(categorical),
        "min_category_frequency": MIN_CATEGORY_FREQUENCY,
        "estimator": _scalar_params(pipeline.named_steps["model"]),
    }
    notify(1.0, "done")
    return TrainedModel(
        pipeline=pipeline,
        kind=kind,
        features=features,
        target=roles.target,
        train_rows=train_rows,
        test_rows=test_rows,
        threshold=DEFAULT_THRESHOLD,
        metrics=metrics,
        params=params,
        random_state=random_state,
    )


def predict_decisions(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Score a frame with a fitted binary classifier and threshold the scores.

    Parameters
    ----------
    pipeline : fitted estimator with ``predict_proba`` and two ``classes_``
        A :class:`TrainedModel` pipeline or a model from :func:`load_model`.
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        Holds at least ``features``.
    features : sequence of str
        The model's input columns.
    threshold : float, default 0.5
        ``y_pred = 1`` where ``y_score >= threshold``.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, 2)
        ``y_score`` (probability of class 1, float) and ``y_pred`` (int8 0/1), on the
        index of ``frame``.

    Raises
    ------
    DataValidationError
        A feature column is missing, or the model was fitted on other columns.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1] * 20, "sex": ["f", "m"] * 20,
    ...                    "age": range(40)})
    >>> roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age",))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> list(predict_decisions(model.pipeline, df, features=("age",)).columns)
    ['y_score', 'y_pred']
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(MSG_THRESHOLD.format(value=threshold))
    check_columns_exist(frame, features, "feature")
    proba = pipeline.predict_proba(_model_input(pipeline, frame, features))
    y_score = np.asarray(proba, dtype=np.float64)[:, positive_column(pipeline)]
    return pd.DataFrame(
        {"y_score": y_score, "y_pred": (y_score >= threshold).astype(np.int8)},
        index=frame.index,
    )


# --- training helpers -------------------------------------------------------------


def held_out_decisions(frame: pd.DataFrame, trained: TrainedModel) -> pd.DataFrame:
    """Return the held-out rows of ``frame`` with the model's ``y_score`` and ``y_pred``.

    Audits of fairpanel's own model use these decisions only: rows the model never saw.

    Parameters
    ----------
    frame : pandas.DataFrame
        The frame ``trained`` was fitted on (same rows, same order).
    trained : TrainedModel
        From :func:`train_default_model`.

    Returns
    -------
    pandas.DataFrame of shape (len(trained.test_rows), n_columns + 2)
        Index reset; ``y_score`` and ``y_pred`` appended.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [0, 1] * 20, "sex": ["f", "m"] * 20,
    ...                    "age": range(40)})
    >>> roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age",))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> held_out_decisions(df, model).shape
    (12, 5)
    """
    held_out = frame.iloc[trained.test_rows].reset_index(drop=True)
    decisions = predict_decisions(trained.pipeline, held_out, features=trained.features,
                                  threshold=trained.threshold)
    return held_out.assign(y_score=decisions["y_score"].to_numpy(),
                           y_pred=decisions["y_pred"].to_numpy())


def _no_progress(fraction: float, message: str) -> None:
    """Ignore progress."""


def check_training_inputs(
    frame: pd.DataFrame, roles: ColumnRoles, kind: str, test_size: float, random_state: int
) -> tuple[str, ...]:
    """Check the options and columns of a training request; return the feature names.

    Raises ``ValueError`` (kind, test size, seed, no features) or
    ``DataValidationError`` (a missing column, a target not 0/1), naming the problem.
    """
    if kind not in KINDS:
        raise ValueError(MSG_UNKNOWN_KIND.format(kind=kind, choices=", ".join(KINDS)))
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, int | float)
        or not 0.0 < test_size < 1.0
    ):
        raise ValueError(MSG_TEST_SIZE.format(value=test_size))
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(MSG_RANDOM_STATE.format(value=random_state))
    features = tuple(roles.features)
    if not features:
        raise ValueError(MSG_NO_FEATURES)
    check_columns_exist(frame, [roles.target], "target")
    check_columns_exist(frame, features, "feature")
    values = set(pd.unique(frame[roles.target]).tolist())
    if not values <= {0, 1}:
        shown = ", ".join(repr(v) for v in sorted(values, key=str)[:8])
        raise DataValidationError(MSG_TARGET_VALUES.format(column=roles.target, values=shown))
    return features


def split_rows(
    y: npt.NDArray[Any], *, target: str, test_size: float, random_state: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Return the sorted train and held-out row positions of the default model's split.

    Stratified by ``y`` and seeded, so a stored model's held-out rows can be recovered
    from the data, ``test_size`` and ``random_state`` alone.

    Examples
    --------
    >>> train, test = split_rows(np.array([0, 1] * 10), target="y", test_size=0.3,
    ...                          random_state=0)
    >>> len(train), len(test)
    (14, 6)
    """
    positions = np.arange(len(y), dtype=np.intp)
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        raise ValueError(MSG_ONE_CLASS.format(column=target, present=present[0]))
    try:
        train, test = train_test_split(
            positions, test_size=test_size, stratify=y, random_state=random_state
        )
    except ValueError as err:
        raise ValueError(
            MSG_SPLIT.format(n=len(y), test_size=test_size, column=target, reason=err)
        ) from err
    train_rows, test_rows = np.sort(train), np.sort(test)
    in_train = set(y[train_rows].tolist())
    if len(in_train) < 2:
        raise ValueError(MSG_ONE_CLASS.format(column=target, present=in_train.pop()))
    train_rows.flags.writeable = False
    test_rows.flags.writeable = False
    return train_rows, test_rows


def split_columns(
    frame: pd.DataFrame, features: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the (numeric, categorical) features by dtype, as the pipeline encodes them.

    Raises ``DataValidationError`` for an all-missing feature or an unsupported dtype.
    """
    numeric: list[str] = []
    categorical: list[str] = []
    for col in features:
        series = frame[col]
        if series.notna().sum() == 0:
            raise DataValidationError(MSG_FEATURE_EMPTY.format(column=col))
        dtype = series.dtype
        if (
            pd.api.types.is_bool_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
        ):
            categorical.append(col)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
            numeric.append(col)
        else:
            raise DataValidationError(MSG_FEATURE_DTYPE.format(column=col, dtype=dtype))
    return tuple(numeric), tuple(categorical)


def build_pipeline(
    kind: str, numeric: tuple[str, ...], categorical: tuple[str, ...], random_state: int
) -> Pipeline:
    """Return the unfitted default pipeline: ``preprocess`` then ``model`` (see module)."""
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if kind == "logistic_regression":
        numeric_steps.append(("scale", StandardScaler()))
    # No imputer for categories: the encoder keeps a missing value as a category of its
    # own (informative, and audited), and SimpleImputer fails on bool columns and on
    # frames mixing bool with categorical columns under pandas 3.
    encoder = OneHotEncoder(
        handle_unknown="ignore", sparse_output=False, min_frequency=MIN_CATEGORY_FREQUENCY
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), list(numeric)))
    if categorical:
        transformers.append(("categorical", encoder, list(categorical)))
    estimator: Any
    if kind == "gradient_boosting":
        # Categories are one-hot encoded above, never native: SHAP's tree explainer
        # mis-attributes HistGradientBoosting's native categorical splits.
        estimator = HistGradientBoostingClassifier(
            categorical_features=None, random_state=random_state
        )
    else:
        estimator = LogisticRegression(max_iter=1000)
    return Pipeline(
        [("preprocess", ColumnTransformer(transformers, remainder="drop")), ("model", estimator)]
    )


def _held_out_metrics(
    pipeline: Pipeline, x_test: pd.DataFrame, y_test: npt.NDArray[Any], n_train: int
) -> dict[str, float]:
    y_score = np.asarray(pipeline.predict_proba(x_test), dtype=np.float64)[:, 1]
    y_pred = (y_score >= DEFAULT_THRESHOLD).astype(np.int8)
    both = len(set(y_test.tolist())) == 2
    return {
        "accuracy": float(accuracy_score(y_test, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_test, y_pred)) if both else np.nan,
        "roc_auc": float(roc_auc_score(y_test, y_score)) if both else np.nan,
        "log_loss": float(log_loss(y_test, y_score, labels=[0, 1])),
        "brier": float(brier_score_loss(y_test, y_score, pos_label=1)),
        "positive_rate": float(y_pred.mean()),
        "n_train": n_train,
        "n_test": len(y_test),
    }


def _scalar_params(estimator: Any) -> dict[str, object]:
    params = estimator.get_params(deep=False)
    scalar = (str, int, float, bool, type(None))
    return {k: v for k, v in sorted(params.items()) if isinstance(v, scalar)}


# --- scoring helpers --------------------------------------------------------------


def _model_input(pipeline: Any, frame: pd.DataFrame, features: Sequence[str]) -> Any:
    """The feature columns in the order the model was fitted on."""
    expected = getattr(pipeline, "feature_names_in_", None)
    if expected is None:
        # Fitted on an array: columns by position, and no names to warn about.
        return frame.loc[:, list(features)].to_numpy()
    expected_list = [str(c) for c in expected]
    if set(expected_list) != set(features):
        raise DataValidationError(
            MSG_FEATURES_MISMATCH.format(expected=expected_list, given=list(features))
        )
    return frame.loc[:, expected_list]


