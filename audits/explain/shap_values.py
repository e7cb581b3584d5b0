"""SHAP explanations of a model's decisions, in the original feature space.

:func:`explain_model` picks the explainer that fits the model: shap's tree explainer for
tree ensembles (HistGradientBoosting included), its linear explainer for logistic
regression, and a model-agnostic permutation explainer over a background sample for
anything else (and says so). Explanations are computed on the model's encoded input and
summed back to the source columns (one-hot columns add up to their categorical column).

Every explanation is checked at run time: the base value plus the contributions must
equal the model's raw output (log-odds) for every row, or the explanation is refused
with :data:`MSG_NOT_ADDITIVE`. shap's tree explainer, for one, returns wrong values
without error for HistGradientBoosting's native categorical splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from audits.data.datasets import frame_sha256
from audits.data.schema import DataValidationError, check_columns_exist
from audits.models.files import positive_column

__all__ = [
    "Explanation",
    "MSG_COLUMNS_MISMATCH",
    "MSG_NOT_ADDITIVE",
    "explain_model",
]

MSG_NOT_ADDITIVE = (
    "the {kind} explanation is not additive: base value plus contributions differs from "
    "the model's log-odds by up to {gap:.3g} (tolerance {tol:.3g}); refusing to report "
    "wrong values"
)
MSG_COLUMNS_MISMATCH = (
    "the model was fitted on columns {expected} but the features given are {given} "
    "(missing: {missing}; unexpected: {extra})"
)
MSG_NO_ROWS = "cannot explain an empty frame"
MSG_N_BACKGROUND = "n_background must be a positive integer; got {value!r}"
MSG_UNMAPPED = (
    "cannot map the model's {n_out} encoded columns back to the {n_in} features; "
    "use a Pipeline whose first step is a ColumnTransformer"
)
FALLBACK_REASON = (
    "{model} has no fast exact SHAP explainer; its contributions are estimated with "
    "shap's permutation explainer over {n} background rows"
)
TREE_MODELS = (
    "HistGradientBoostingClassifier",
    "GradientBoostingClassifier",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
)
LINEAR_MODELS = ("LogisticRegression", "LogisticRegressionCV", "SGDClassifier",
                 "RidgeClassifier", "LinearSVC")
#: Log-odds are clipped at this probability so that a certain model stays finite.
PROBABILITY_CLIP = 1e-12


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP contributions of each feature to each row's raw model output.

    Attributes
    ----------
    contributions : pandas.DataFrame of shape (n_rows, n_features)
        One column per feature, in the original feature space, on the frame's index.
    base_value : float
        The expected raw output; ``base_value + contributions.sum(axis=1) == output``.
    output : pandas.Series of shape (n_rows,)
        The model's raw output: log-odds of the positive class for boosting and linear
        models; the probability for random forests and single trees (``output_scale``).
    output_scale : {"log_odds", "probability"}
        The scale of ``output`` and of the contributions.
    features : tuple of str
        The explained features.
    explainer_kind : {"tree", "linear", "permutation"}
        Which shap explainer produced the values.
    fallback_reason : str or None
        Why a model-agnostic explainer was used; None for tree and linear models.
    background_sha256 : str or None
        Content hash of the background rows; None where the explainer uses none (the
        tree explainer's path-dependent algorithm uses the trees' own cover counts).
    shap_version : str
        The shap version that computed the values.
    max_additivity_gap : float
        The largest ``|base_value + sum(contributions) - output|`` over the rows.
    """

    contributions: pd.DataFrame
    base_value: float
    output: pd.Series
    output_scale: str
    features: tuple[str, ...]
    explainer_kind: str
    fallback_reason: str | None
    background_sha256: str | None
    shap_version: str
    max_additivity_gap: float

    def to_long(self) -> pd.DataFrame:
        """Return the contributions as a tidy table ``row, feature, contribution``.

        Examples
        --------
        >>> from audits.data.synthetic import make_synthetic_loans
        >>> from audits.models.training import train_default_model
        >>> from audits.data.schema import ColumnRoles
        >>> df = make_synthetic_loans(300)
        >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
        ...                     features=("income", "zip_region"))
        >>> model = train_default_model(df, roles, kind="logistic_regression")
        >>> explain_model(model.pipeline, df.head(3), features=roles.features).to_long().shape
        (6, 3)
        """
        long = self.contributions.rename_axis("row").reset_index().melt(
            id_vars="row", var_name="feature", value_name="contribution")
        return long


def explain_model(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    background: pd.DataFrame | None = None,
    n_background: int = 100,
    random_state: int = 0,
) -> Explanation:
    """Explain a fitted binary classifier's raw output on each row of a frame with SHAP.

    Parameters
    ----------
    pipeline : fitted estimator
        A Pipeline ``preprocess`` (ColumnTransformer) then ``model``, or a bare
        classifier fitted on numeric columns.
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        The rows to explain; holds at least ``features``.
    features : sequence of str
        The model's input columns.
    background : pandas.DataFrame or None, default None
        Rows that stand for "a typical input" (linear and permutation explainers);
        None samples ``n_background`` rows of ``frame``.
    n_background : int, default 100
        Background rows sampled from ``frame`` when ``background`` is None.
    random_state : int, default 0
        Seed of the background sample and of the permutation explainer.

    Returns
    -------
    Explanation

    Raises
    ------
    DataValidationError
        A feature is missing, or the model was fitted on other columns.
    ValueError
        The explanation fails the additivity check (:data:`MSG_NOT_ADDITIVE`).

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> from audits.models.training import train_default_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = make_synthetic_loans(300)
    >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
    ...                     features=("income", "zip_region"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> result = explain_model(model.pipeline, df.head(5), features=roles.features)
    >>> result.explainer_kind, list(result.contributions.columns)
    ('linear', ['income', 'zip_region'])
    """
    features = _check_inputs(pipeline, frame, features, n_background)
    preprocess, model = _split_pipeline(pipeline)
    if background is None:
        size = min(n_background, len(frame))
        background = frame.sample(n=size, random_state=random_state)
    background = background.loc[:, list(features)]
    encoded = _encode(preprocess, frame.loc[:, list(features)])
    encoded_background = _encode(preprocess, background)
    groups = _source_columns(preprocess, features, encoded.shape[1])
    kind, fallback, values, base, scale = _shap_values(
        model, encoded, encoded_background, random_state)
    output = _raw_output(model, encoded, scale)
    gap = float(np.max(np.abs(base + values.sum(axis=1) - output)))
    tol = 1e-6 * max(1.0, float(np.max(np.abs(output))))
    if kind == "permutation":
        tol = 1e-4 * max(1.0, float(np.max(np.abs(output))))
    if not np.isfinite(gap) or gap > tol:
        raise ValueError(MSG_NOT_ADDITIVE.format(kind=kind, gap=gap, tol=tol))
    summed = np.column_stack([values[:, cols].sum(axis=1) for cols in groups])
    import shap

    return Explanation(
        contributions=pd.DataFrame(summed, index=frame.index, columns=list(features)),
        base_value=base,
        output=pd.Series(output, index=frame.index, name="output"),
        output_scale=scale,
        features=features,
        explainer_kind=kind,
        fallback_reason=fallback,
        background_sha256=None if kind == "tree" else frame_sha256(background),
        shap_version=str(shap.__version__),
        max_additivity_gap=gap,
    )


# --- helpers ------------------------------------------------------------------------


def _check_inputs(
    pipeline: Any, frame: pd.DataFrame, features: Sequence[str], n_background: int
) -> tuple[str, ...]:
    if isinstance(n_background, bool) or not isinstance(n_background, int) or n_background < 1:
        raise ValueError(MSG_N_BACKGROUND.format(value=n_background))
    features = tuple(features)
    check_columns_exist(frame, features, "feature")
    if len(frame) == 0:
        raise ValueError(MSG_NO_ROWS)
    expected = getattr(pipeline, "feature_names_in_", None)
    if expected is not None:
        fitted = [str(c) for c in expected]
        if set(fitted) != set(features):
            missing = sorted(set(fitted) - set(features))
            extra = sorted(set(features) - set(fitted))
            raise DataValidationError(MSG_COLUMNS_MISMATCH.format(
                expected=fitted, given=list(features), missing=missing, extra=extra))
        return tuple(fitted)
    return features


def _split_pipeline(pipeline: Any) -> tuple[Any | None, Any]:
    if isinstance(pipeline, Pipeline) and len(pipeline.steps) > 1:
        return pipeline[:-1], pipeline[-1]
    if isinstance(pipeline, Pipeline):
        return None, pipeline[-1]
    return None, pipeline


def _encode(preprocess: Any | None, rows: pd.DataFrame) -> npt.NDArray[np.float64]:
    if preprocess is None:
        return np.asarray(rows.to_numpy(), dtype=np.float64)
    out = preprocess.transform(rows)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=np.float64)


def _source_columns(
    preprocess: Any | None, features: tuple[str, ...], n_out: int
) -> list[list[int]]:
    """For each feature, the positions of the encoded columns it produced."""
    if preprocess is None or (n_out == len(features) and not _has_transformer(preprocess)):
        if n_out != len(features):
            raise ValueError(MSG_UNMAPPED.format(n_out=n_out, n_in=len(features)))
        return [[i] for i in range(n_out)]
    transformer = _column_transformer(preprocess)
    if transformer is None:
        raise ValueError(MSG_UNMAPPED.format(n_out=n_out, n_in=len(features)))
    groups: dict[str, list[int]] = {f: [] for f in features}
    names_in = [str(c) for c in transformer.feature_names_in_]
    for name, fitted, columns in transformer.transformers_:
        if fitted == "drop" or name not in transformer.output_indices_:
            continue
        out = transformer.output_indices_[name]
        cols = [names_in[c] if isinstance(c, int | np.integer) else str(c) for c in columns]
        widths = _output_widths(fitted, cols, out.stop - out.start)
        start = out.start
        for col, width in zip(cols, widths, strict=True):
            groups[col].extend(range(start, start + width))
            start += width
    return [groups[f] for f in features]


def _has_transformer(preprocess: Any) -> bool:
    return _column_transformer(preprocess) is not None


def _column_transformer(preprocess: Any) -> ColumnTransformer | None:
    if isinstance(preprocess, ColumnTransformer):
        return preprocess
    if isinstance(preprocess, Pipeline) and len(preprocess.steps) == 1:
        return _column_transformer(preprocess[0])
    return None


def _output_widths(fitted: Any, cols: list[str], width: int) -> list[int]:
    if width == len(cols):
        return [1] * len(cols)
    encoder = fitted[-1] if isinstance(fitted, Pipeline) else fitted
    counts = getattr(encoder, "_n_features_outs", None)
    if isinstance(encoder, OneHotEncoder) and counts is not None and sum(counts) == width:
        return [int(c) for c in counts]
    raise ValueError(MSG_UNMAPPED.format(n_out=width, n_in=len(cols)))


def _shap_values(
    model: Any, encoded: npt.NDArray[np.float64], background: npt.NDArray[np.float64],
    random_state: int,
) -> tuple[str, str | None, npt.NDArray[np.float64], float, str]:
    import shap

    name = type(model).__name__
    pos = positive_column(model)
    if name in TREE_MODELS:
        scale = "log_odds" if "Boosting" in name else "probability"
        tree = shap.TreeExplainer(model, model_output="raw",
                                  feature_perturbation="tree_path_dependent")
        raw = np.asarray(tree.shap_values(encoded, check_additivity=False), dtype=np.float64)
        values = raw[:, :, pos] if raw.ndim == 3 else raw
        base = np.ravel(np.asarray(tree.expected_value, dtype=np.float64))
        return "tree", None, values, float(base[pos] if base.size > 1 else base[0]), scale
    if name in LINEAR_MODELS and np.asarray(model.coef_).shape[0] == 1:
        masker = shap.maskers.Independent(background, max_samples=len(background))
        linear = shap.LinearExplainer(model, masker)
        values = np.asarray(linear.shap_values(encoded), dtype=np.float64)
        linear_base = float(np.ravel(np.asarray(linear.expected_value, dtype=np.float64))[0])
        return "linear", None, values, linear_base, "log_odds"
    return _permutation_values(model, encoded, background, random_state)


def _permutation_values(
    model: Any, encoded: npt.NDArray[np.float64], background: npt.NDArray[np.float64],
    random_state: int,
) -> tuple[str, str | None, npt.NDArray[np.float64], float, str]:
    import shap

    def log_odds(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return _raw_output(model, x, "log_odds")

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.explainers.Permutation(log_odds, masker, seed=random_state)
    result = explainer(encoded, max_evals=max(500, 2 * encoded.shape[1] + 1), silent=True)
    values = np.asarray(result.values, dtype=np.float64)
    base = float(np.ravel(np.asarray(result.base_values, dtype=np.float64))[0])
    reason = FALLBACK_REASON.format(model=type(model).__name__, n=len(background))
    return "permutation", reason, values, base, "log_odds"


def _raw_output(
    model: Any, encoded: npt.NDArray[np.float64], scale: str
) -> npt.NDArray[np.float64]:
    """The model's output on the scale the explainer explains."""
    pos = positive_column(model)
    names = getattr(model, "feature_names_in_", None)
    x: Any = encoded if names is None else pd.DataFrame(encoded, columns=list(names))
    if scale == "probability":
        return np.asarray(model.predict_proba(x), dtype=np.float64)[:, pos]
    if hasattr(model, "decision_function"):
        score = np.asarray(model.decision_function(x), dtype=np.float64).ravel()
        return score if pos == 1 else -score
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)[:, pos]
    proba = np.clip(proba, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return np.asarray(np.log(proba) - np.log1p(-proba), dtype=np.float64)
