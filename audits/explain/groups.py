"""Per-group SHAP importances with intervals, and what drives a gap between two groups.

SHAP is the expensive part of an audit, so it runs on a stratified sample: every group
gets at least ``min_rows_per_group`` rows (a pilot), and more rows (up to a cap) when the
pilot shows the target interval half-width would not be reached. Mean signed SHAP per
group splits the gap in mean model output between two groups exactly into feature
contributions (:func:`gap_decomposition`), because every row's output is the base value
plus its contributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from audits.data.schema import check_columns_exist
from audits.explain.shap_values import Explanation, explain_model

__all__ = ["GapDecomposition", "GroupExplanation", "explain_groups", "gap_decomposition"]

MSG_UNKNOWN_GROUP = "group {group!r} is not in the explanation of {column!r}; groups: {groups}"
MSG_SAME_GROUP = "group and reference_group must differ; both are {group!r}"
MSG_ROWS_OPTION = (
    "min_rows_per_group and max_rows_per_group must be positive integers with "
    "min <= max; got {low!r} and {high!r}"
)
MSG_SHARE = "{name} must lie strictly between 0 and 1; got {value!r}"
MSG_NO_GROUPS = "sensitive feature {column!r} has no observed values"

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class GroupExplanation:
    """SHAP importances per group of one sensitive feature, from a stratified sample.

    Attributes
    ----------
    importances : pandas.DataFrame
        Tidy, one row per (group, feature): ``sensitive_feature, group, feature,
        mean_abs_shap, ci_low, ci_high, mean_shap, n_rows``; the interval is a seeded
        percentile bootstrap of mean |SHAP| over the sampled rows of the group.
    groups : pandas.DataFrame
        One row per group: ``sensitive_feature, group, n_rows`` (sampled), ``n_group``
        (in the frame), ``mean_output`` (mean raw output of the sampled rows) and
        ``half_width`` (the widest interval half-width of the group).
    sensitive_feature : str
    explanation : Explanation
        The explanation of the sampled rows (index: row positions in the frame).
    target_half_width : float
        Requested half-width, as a share of the largest mean |SHAP|.
    confidence : float
    """

    importances: pd.DataFrame
    groups: pd.DataFrame
    sensitive_feature: str
    explanation: Explanation
    target_half_width: float
    confidence: float


@dataclass(frozen=True, eq=False)
class GapDecomposition:
    """The gap in mean model output between two groups, split into features.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per feature, largest absolute contribution first: ``feature,
        mean_shap_group, mean_shap_reference, contribution`` (the difference).
    group, reference_group : str
    output_gap : float
        Mean output of ``group`` minus that of ``reference_group``; equals
        ``table["contribution"].sum()`` up to rounding.
    """

    table: pd.DataFrame
    group: str
    reference_group: str
    output_gap: float


def explain_groups(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive_feature: str,
    min_rows_per_group: int = 200,
    max_rows_per_group: int = 5000,
    target_half_width: float = 0.02,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    n_background: int = 100,
    random_state: int = 0,
    progress: Progress | None = None,
) -> GroupExplanation:
    """Explain a stratified sample of each group and summarise SHAP per group.

    The pilot explains ``min_rows_per_group`` rows of each group. A group needs
    ``n = (z * sd / h)**2`` rows, where ``sd`` is its largest standard deviation of
    |SHAP| over features and ``h = target_half_width *`` the largest mean |SHAP| of
    any group; ``n`` is clipped to ``[min_rows_per_group, max_rows_per_group]`` and to
    the group's size.

    Parameters
    ----------
    pipeline : fitted estimator
        As for :func:`audits.explain.shap_values.explain_model`.
    frame : pandas.DataFrame
        Holds ``features`` and ``sensitive_feature``.
    features : sequence of str
        The model's input columns.
    sensitive_feature : str
        The column whose groups are compared (need not be a model input).
    min_rows_per_group, max_rows_per_group : int, default 200 and 5000
        Bounds of the per-group sample.
    target_half_width : float, default 0.02
        Interval half-width sought, as a share of the largest mean |SHAP|.
    confidence : float, default 0.95
        Level of the bootstrap intervals.
    n_bootstrap : int, default 200
        Bootstrap resamples.
    n_background : int, default 100
        Background rows (sampled once from ``frame``) for linear and permutation
        explainers.
    random_state : int, default 0
        Seed of the sample, the background and the bootstrap.
    progress : callable ``(fraction, message) -> None`` or None, default None

    Returns
    -------
    GroupExplanation

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> from audits.models.training import train_default_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = make_synthetic_loans(600)
    >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
    ...                     features=("income", "zip_region"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> result = explain_groups(model.pipeline, df, features=roles.features,
    ...                         sensitive_feature="group", min_rows_per_group=50,
    ...                         max_rows_per_group=100)
    >>> sorted(result.groups["group"])
    ['A', 'B']
    """
    _check_options(min_rows_per_group, max_rows_per_group, target_half_width, confidence)
    check_columns_exist(frame, [sensitive_feature], "sensitive feature")
    notify = progress if progress is not None else _no_progress
    frame = frame.reset_index(drop=True)  # positions, so duplicate labels cannot collide
    rng = np.random.default_rng(random_state)
    members = _shuffled_members(frame[sensitive_feature], rng)
    background = frame.sample(n=min(n_background, len(frame)), random_state=random_state)
    pilot_n = {g: min(min_rows_per_group, len(rows)) for g, rows in members.items()}
    notify(0.05, f"explaining a pilot of {sum(pilot_n.values())} rows")
    pilot = _explain_rows(pipeline, frame, members, dict.fromkeys(members, 0), pilot_n,
                          features, background, random_state)
    final_n = _sample_sizes(pilot, frame[sensitive_feature], members, pilot_n,
                            target_half_width, confidence, max_rows_per_group)
    extra = sum(final_n[g] - pilot_n[g] for g in members)
    notify(0.4, f"explaining {extra} more rows to reach the target interval width")
    explanation = pilot
    if extra > 0:
        more = _explain_rows(pipeline, frame, members, pilot_n, final_n, features,
                             background, random_state)
        explanation = _concat(pilot, more)
    notify(0.9, "bootstrapping intervals")
    importances, groups = _summaries(explanation, frame[sensitive_feature], members,
                                     sensitive_feature, confidence, n_bootstrap, rng)
    notify(1.0, "done")
    return GroupExplanation(importances=importances, groups=groups,
                            sensitive_feature=sensitive_feature, explanation=explanation,
                            target_half_width=target_half_width, confidence=confidence)


def gap_decomposition(
    result: GroupExplanation, group: str, reference_group: str
) -> GapDecomposition:
    """Split the gap in mean model output between two groups into feature contributions.

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> from audits.models.training import train_default_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = make_synthetic_loans(600)
    >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
    ...                     features=("income", "zip_region"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> result = explain_groups(model.pipeline, df, features=roles.features,
    ...                         sensitive_feature="group", min_rows_per_group=50,
    ...                         max_rows_per_group=100)
    >>> gap = gap_decomposition(result, "B", "A")
    >>> bool(abs(gap.table["contribution"].sum() - gap.output_gap) < 1e-9)
    True
    """
    known = [str(g) for g in result.groups["group"]]
    for name in (group, reference_group):
        if name not in known:
            raise ValueError(MSG_UNKNOWN_GROUP.format(
                group=name, column=result.sensitive_feature, groups=known))
    if group == reference_group:
        raise ValueError(MSG_SAME_GROUP.format(group=group))
    imp = result.importances.set_index(["group", "feature"])["mean_shap"]
    table = pd.DataFrame({
        "feature": list(result.explanation.features),
        "mean_shap_group": imp.loc[group].loc[list(result.explanation.features)].to_numpy(),
        "mean_shap_reference": imp.loc[reference_group]
        .loc[list(result.explanation.features)].to_numpy(),
    })
    table["contribution"] = table["mean_shap_group"] - table["mean_shap_reference"]
    order = table["contribution"].abs().sort_values(ascending=False, kind="stable").index
    means = result.groups.set_index("group")["mean_output"]
    return GapDecomposition(
        table=table.loc[order].reset_index(drop=True), group=group,
        reference_group=reference_group,
        output_gap=float(means[group] - means[reference_group]),
    )


# --- helpers ------------------------------------------------------------------------


def _no_progress(fraction: float, message: str) -> None:
    """Ignore progress."""


def _check_options(low: int, high: int, half_width: float, confidence: float) -> None:
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    if not ints or low < 1 or high < low:
        raise ValueError(MSG_ROWS_OPTION.format(low=low, high=high))
    for name, value in (("target_half_width", half_width), ("confidence", confidence)):
        if not 0.0 < value < 1.0:
            raise ValueError(MSG_SHARE.format(name=name, value=value))


def _shuffled_members(
    column: pd.Series, rng: np.random.Generator
) -> dict[str, npt.NDArray[np.intp]]:
    values = column.astype("string")
    groups = sorted(str(g) for g in values.dropna().unique())
    if not groups:
        raise ValueError(MSG_NO_GROUPS.format(column=column.name))
    positions = np.arange(len(column), dtype=np.intp)
    mask = values.to_numpy(dtype=object, na_value=None)
    return {g: rng.permutation(positions[mask == g]) for g in groups}


def _explain_rows(
    pipeline: Any, frame: pd.DataFrame, members: dict[str, npt.NDArray[np.intp]],
    start: dict[str, int], stop: dict[str, int], features: Sequence[str],
    background: pd.DataFrame, random_state: int,
) -> Explanation:
    rows = np.concatenate([members[g][start[g]:stop[g]] for g in members])
    return explain_model(pipeline, frame.iloc[rows], features=features,
                         background=background, random_state=random_state)


def _sample_sizes(
    pilot: Explanation, column: pd.Series, members: dict[str, npt.NDArray[np.intp]],
    pilot_n: dict[str, int], half_width: float, confidence: float, cap: int,
) -> dict[str, int]:
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    labels = column.loc[pilot.contributions.index].astype("string").to_numpy()
    abs_values = pilot.contributions.abs().to_numpy()
    scale = max(float(abs_values[labels == g].mean(axis=0).max()) for g in members)
    h = half_width * scale if scale > 0 else 1.0
    sizes: dict[str, int] = {}
    for g in members:
        sd = float(abs_values[labels == g].std(axis=0, ddof=1).max()) if pilot_n[g] > 1 else 0.0
        needed = math.ceil((z * sd / h) ** 2)
        sizes[g] = min(max(needed, pilot_n[g]), max(cap, pilot_n[g]), len(members[g]))
    return sizes


def _concat(first: Explanation, second: Explanation) -> Explanation:
    return Explanation(
        contributions=pd.concat([first.contributions, second.contributions]),
        base_value=first.base_value,
        output=pd.concat([first.output, second.output]),
        output_scale=first.output_scale, features=first.features,
        explainer_kind=first.explainer_kind, fallback_reason=first.fallback_reason,
        background_sha256=first.background_sha256, shap_version=first.shap_version,
        max_additivity_gap=max(first.max_additivity_gap, second.max_additivity_gap),
    )


def _summaries(
    explanation: Explanation, column: pd.Series, members: dict[str, npt.NDArray[np.intp]],
    sensitive_feature: str, confidence: float, n_bootstrap: int, rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = column.loc[explanation.contributions.index].astype("string").to_numpy()
    values = explanation.contributions.to_numpy()
    output = explanation.output.to_numpy()
    tails = (100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2)
    parts, group_rows = [], []
    for g in members:
        in_group = values[labels == g]
        n = len(in_group)
        draws = rng.integers(0, n, size=(n_bootstrap, n))
        boot = np.abs(in_group)[draws].mean(axis=1)
        low, high = np.percentile(boot, tails, axis=0)
        parts.append(pd.DataFrame({
            "sensitive_feature": sensitive_feature, "group": g,
            "feature": list(explanation.features),
            "mean_abs_shap": np.abs(in_group).mean(axis=0), "ci_low": low, "ci_high": high,
            "mean_shap": in_group.mean(axis=0), "n_rows": n,
        }))
        group_rows.append({
            "sensitive_feature": sensitive_feature, "group": g, "n_rows": n,
            "n_group": len(members[g]), "mean_output": float(output[labels == g].mean()),
            "half_width": float(np.max((high - low) / 2)),
        })
    return pd.concat(parts, ignore_index=True), pd.DataFrame(group_rows)
