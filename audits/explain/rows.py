"""Explain rows of one frame with one model, computing each row's SHAP values once.

An explanation run explains a stratified sample for each sensitive feature
(:func:`audits.explain.groups.explain_groups`); the samples of two features share many
rows (on Adult, about a third of the rows explained for race were also explained for
sex). shap's tree explainer (path-dependent) and linear explainer give a row the same
values whatever other rows are explained with it, so :class:`RowExplainer` keeps each
row's contributions and output and explains only the rows not seen before. The
permutation explainer's values depend on its random draws, which depend on the batch,
so for it nothing is kept and every call explains its rows afresh, exactly as
:func:`~audits.explain.shap_values.explain_model` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from audits.explain.shap_values import Explanation, explain_model

__all__ = ["CACHEABLE_KINDS", "RowExplainer"]

#: Explainers whose values for a row do not depend on the other rows of the call.
CACHEABLE_KINDS = frozenset({"tree", "linear"})
MSG_BACKGROUND = ("the background rows differ from the ones this RowExplainer was built "
                  "with; explanations over different backgrounds cannot be shared")


class RowExplainer:
    """Explanations of rows (by position) of ``frame``, each row computed once.

    Parameters
    ----------
    pipeline : fitted estimator
        As for :func:`~audits.explain.shap_values.explain_model`.
    frame : pandas.DataFrame
        The rows, addressed by position; holds ``features``.
    features : sequence of str
        The model's input columns.
    background : pandas.DataFrame
        The background rows every call uses.
    random_state : int, default 0

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> from audits.models.training import train_default_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = make_synthetic_loans(300)
    >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
    ...                     features=("income", "zip_region"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> rows = RowExplainer(model.pipeline, df, features=roles.features,
    ...                     background=df.head(50))
    >>> first = rows.explain([0, 1, 2])
    >>> again = rows.explain([2, 5])  # row 2 is not explained again
    >>> rows.computed, bool(again.contributions.iloc[0].equals(first.contributions.iloc[2]))
    (4, True)
    """

    def __init__(self, pipeline: Any, frame: pd.DataFrame, *, features: Sequence[str],
                 background: pd.DataFrame, random_state: int = 0) -> None:
        self.pipeline = pipeline
        self.frame = frame
        self.features = tuple(features)
        self.background = background
        self.random_state = random_state
        self.computed = 0
        self._template: Explanation | None = None
        self._cacheable = True
        self._contributions: dict[int, npt.NDArray[np.float64]] = {}
        self._output: dict[int, float] = {}
        self._gap: dict[int, float] = {}

    def uses(self, background: pd.DataFrame) -> bool:
        """Return True when ``background`` holds the rows this explainer was built with."""
        return bool(self.background.index.equals(background.index)
                    and self.background.equals(background))

    def explain(self, positions: Sequence[int] | npt.NDArray[np.intp]) -> Explanation:
        """Return the explanation of the rows at ``positions``, in that order.

        The result is what :func:`~audits.explain.shap_values.explain_model` returns for
        ``frame.iloc[positions]``; ``max_additivity_gap`` is the largest gap of these rows.
        """
        wanted = [int(p) for p in positions]
        new = [p for p in dict.fromkeys(wanted) if p not in self._output]
        if not self._cacheable or (new and len(new) == len(wanted)):
            fresh = self._explain(wanted)
            if not self._cacheable:
                return fresh
            self._keep(wanted, fresh)
            return fresh
        if new:
            self._keep(new, self._explain(new))
        return self._assemble(wanted)

    def _explain(self, positions: list[int]) -> Explanation:
        result = explain_model(self.pipeline, self.frame.iloc[positions],
                               features=self.features, background=self.background,
                               random_state=self.random_state)
        self.computed += len(positions)
        if self._template is None:
            self._template = result
            self._cacheable = result.explainer_kind in CACHEABLE_KINDS
        return result

    def _keep(self, positions: list[int], result: Explanation) -> None:
        values = result.contributions.to_numpy()
        output = result.output.to_numpy()
        gaps = np.abs(result.base_value + values.sum(axis=1) - output)
        for i, position in enumerate(positions):
            self._contributions[position] = values[i]
            self._output[position] = float(output[i])
            self._gap[position] = float(gaps[i])

    def _assemble(self, positions: list[int]) -> Explanation:
        template = self._template
        assert template is not None  # set by the first call, which computed rows
        index = self.frame.index[positions]
        return Explanation(
            contributions=pd.DataFrame(np.vstack([self._contributions[p] for p in positions]),
                                       index=index, columns=list(template.features)),
            base_value=template.base_value,
            output=pd.Series([self._output[p] for p in positions], index=index,
                             name="output", dtype=np.float64),
            output_scale=template.output_scale, features=template.features,
            explainer_kind=template.explainer_kind, fallback_reason=template.fallback_reason,
            background_sha256=template.background_sha256,
            shap_version=template.shap_version,
            max_additivity_gap=max(self._gap[p] for p in positions))
