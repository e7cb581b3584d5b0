"""From decisions to queued cases: every reason, the policy, and the reviewers' snapshots.

Both the first queue of an audit (:mod:`audits.flagging.stored`) and each ingested batch
(:mod:`audits.monitoring.ingest`) go through :func:`flag_and_snapshot`: the reasons of
:mod:`audits.flagging.flags` are computed on the decisions,
:func:`audits.flagging.policy.select_cases` picks the cases under the budget, and each
chosen case gets a snapshot of what its reviewers will see (features, decision, score, SHAP
explanation, reasons), frozen when it is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from audits.explain.cases import explain_case
from audits.explain.proxies import find_proxies
from audits.explain.shap_values import Explanation, explain_model
from audits.fairness.stored import columnar, json_safe
from audits.flagging.active_learning import active_learning_flags, encoded_features
from audits.flagging.flags import (
    FLAG_COLUMNS,
    attribution_flags,
    combine_flags,
    counterfactual_flags,
    disparity_flags,
    gold_flags,
    low_confidence_flags,
    random_control_flags,
)
from audits.flagging.policy import FlagPolicy, Selection, select_cases
from audits.flagging.subgroups import queue_slice_columns, slice_flags
from audits.slices.discovery import SliceReport
from audits.store import CaseInput

__all__ = ["FlagContext", "FlaggedCases", "case_of", "flag_and_snapshot", "likely_proxies",
           "subject_groups"]

Progress = Callable[[float, str], None]
#: Features shown per case in the snapshot's explanation before ``(other features)``.
SNAPSHOT_TOP_K = 5
#: Version of the snapshot layout, stored in each snapshot.
SNAPSHOT_SCHEMA = 1
GOLD_SOURCE = "recorded outcome"


@dataclass(frozen=True)
class FlagContext:
    """What the reasons need to know about the decisions being flagged.

    Attributes
    ----------
    y_true : str or None
        The recorded outcome (None when it is not known yet).
    y_pred, y_score : str, str or None
        Decision and score columns.
    threshold : float
        The decision threshold on ``y_score``.
    sensitive_features : tuple of str
    features : tuple of str
        What reviewers see (the model's inputs, or the dataset's features).
    disparities : list of dict
        The audit's disparities (JSON contract); failing ones drive the disparity reason.
    positive_is_favourable : bool
    positive_label : str
        Wording of a positive decision, e.g. ">50K" or "approved".
    pipeline : fitted model or None
        None for logged decisions: no counterfactual, attribution, active learning or
        SHAP explanation.
    background : pandas.DataFrame or None
        SHAP background rows (from the audit's own decisions, so batches share it).
    proxies : mapping of sensitive feature -> tuple of model features
    score_span : float
        Width of the score scale (1 for probabilities; 9 for COMPAS deciles 1-10): the
        low-confidence margin is a share of it.
    provenance : dict
        Dataset and model hashes copied into every snapshot.
    """

    y_true: str | None
    y_pred: str
    y_score: str | None
    threshold: float
    sensitive_features: tuple[str, ...]
    features: tuple[str, ...]
    disparities: list[dict[str, Any]]
    positive_is_favourable: bool
    positive_label: str
    pipeline: Any = None
    background: pd.DataFrame | None = None
    proxies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    score_span: float = 1.0
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlaggedCases:
    """Flags of every decision, the policy's selection and the cases to store."""

    flags: pd.DataFrame
    selection: Selection
    cases: list[CaseInput]
    slices: SliceReport | None = None

    def summary(self) -> dict[str, Any]:
        """Counts by reason (flagged and selected) and by subject group, JSON-safe; with
        ``slices`` (metric, slices tested, the confirmed ones) when the slice reason ran."""
        flagged = self.flags.groupby("reason").size()
        chosen = self.selection.cases
        found = {} if self.slices is None else {"slices": json_safe({
            "metric": self.slices.metric, "n_tested": self.slices.n_tested,
            "columns": list(self.slices.columns),
            "slices": [s.to_dict() for s in self.slices.slices]})}
        return {**found, "flagged_by_reason": {str(k): int(v) for k, v in flagged.items()},
                "selected": len(chosen),
                "selected_by_reason": {str(k): int(v) for k, v in
                                       chosen.groupby("primary_reason").size().items()},
                "selected_by_group": {str(k): int(v) for k, v in
                                      chosen.groupby("group").size().items()},
                "allocation": columnar(self.selection.allocation)}


def flag_and_snapshot(frame: pd.DataFrame, context: FlagContext, policy: FlagPolicy, *,
                      key_prefix: str = "", progress: Progress | None = None) -> FlaggedCases:
    """Flag ``frame``'s decisions, select the queue under ``policy`` and snapshot it.

    Parameters
    ----------
    frame : pandas.DataFrame
        The decisions, with the columns named in ``context``; its index labels the rows.
    context : FlagContext
    policy : FlagPolicy
    key_prefix : str, default ""
        Prepended to the row label to make each case's ``row_key`` (e.g. ``"b3:"``).
    progress : callable ``(fraction, message) -> None`` or None

    Returns
    -------
    FlaggedCases
    """
    report = progress or (lambda fraction, message: None)
    explanation = None
    if context.pipeline is not None:
        report(0.1, f"SHAP for {len(frame):,} decisions")
        explanation = explain_model(context.pipeline, frame, features=list(context.features),
                                    background=context.background,
                                    random_state=policy.random_state)
    report(0.5, "Flagging: low confidence, disparity, counterfactual, attribution, "
                "worst-off slices, active learning")
    flags, slices = _flags(frame, context, policy, explanation)
    report(0.8, f"Selecting {policy.budget} cases")
    selection = select_cases(flags, subject_groups(frame, context.sensitive_features)
                             .loc[flags["row"].unique()], policy)
    report(0.9, "Snapshotting the selected cases")
    cases = [_case(frame, row, context, flags, explanation, key_prefix)
             for row in selection.cases.itertuples(index=False)]
    return FlaggedCases(flags=flags, selection=selection, cases=cases, slices=slices)


def subject_groups(frame: pd.DataFrame, sensitive_features: Sequence[str]) -> pd.Series:
    """Return each row's subject group label, e.g. ``"sex=Female & race=White"``.

    Examples
    --------
    >>> subject_groups(pd.DataFrame({"sex": ["F", "M"], "race": ["a", "b"]}),
    ...                ["sex", "race"]).tolist()
    ['sex=F & race=a', 'sex=M & race=b']
    """
    parts = [column + "=" + frame[column].astype("string").fillna("<missing>")
             for column in sensitive_features]
    label = parts[0]
    for part in parts[1:]:
        label = label + " & " + part
    return label.astype(str)


def likely_proxies(frame: pd.DataFrame, *, features: Sequence[str],
                   sensitive_features: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Return the model features associated with each sensitive feature (likely proxies).

    Association only (Cramer's V or the correlation ratio at least 0.3, the rule of
    :func:`audits.explain.proxies.find_proxies` without attribution gaps), so it is cheap enough
    to run on every batch.
    """
    likely = find_proxies(frame, features=list(features),
                          sensitive_features=list(sensitive_features)).likely
    return {s: tuple(str(f) for f in likely.loc[likely["sensitive_feature"] == s, "feature"]
                     if f != s)
            for s in sensitive_features}


def _flags(frame: pd.DataFrame, context: FlagContext, policy: FlagPolicy,
           explanation: Explanation | None) -> tuple[pd.DataFrame, SliceReport | None]:
    tables = [disparity_flags(frame, y_true=context.y_true, y_pred=context.y_pred,
                              disparities=context.disparities,
                              positive_is_favourable=context.positive_is_favourable),
              random_control_flags(frame.index, n=min(policy.budget, len(frame)),
                                   random_state=policy.random_state)]
    if context.y_score is not None:
        tables.append(low_confidence_flags(frame[context.y_score], threshold=context.threshold,
                                           margin=policy.low_confidence_margin
                                           * context.score_span))
    if context.y_true is not None:
        gold = frame[context.y_true].sample(n=min(policy.budget, len(frame)),
                                            random_state=policy.random_state + 1)
        tables.append(gold_flags(gold, source=GOLD_SOURCE).assign(
            explanation=f"Known answer on file ({GOLD_SOURCE}); measures reviewer accuracy."))
    if context.pipeline is not None and explanation is not None:
        tables += _model_flags(frame, context, policy, explanation)
    slices = None
    if context.y_true is not None and policy.quotas["slice"] > 0:
        # Outcomes are needed to tell a worse slice; a quota of 0 turns the reason off.
        columns = queue_slice_columns(frame, features=context.features,
                                      sensitive_features=context.sensitive_features,
                                      roles=[context.y_true, context.y_pred, context.y_score])
        table, slices = slice_flags(frame, y_true=context.y_true, y_pred=context.y_pred,
                                    columns=columns, metric=policy.slice_metric,
                                    random_state=policy.random_state)
        tables.append(table)
    return combine_flags(*[t[list(FLAG_COLUMNS)] for t in tables]), slices


def _model_flags(frame: pd.DataFrame, context: FlagContext, policy: FlagPolicy,
                 explanation: Explanation) -> list[pd.DataFrame]:
    """The reasons that need the model: counterfactual, attribution, active learning."""
    tables = [counterfactual_flags(
        context.pipeline, frame, features=list(context.features),
        sensitive_features=list(context.sensitive_features),
        proxies={k: list(v) for k, v in context.proxies.items()},
        threshold=context.threshold)]
    watched, kinds = _watched(context)
    if watched:
        tables.append(attribution_flags(explanation.contributions, watched=watched,
                                        min_share=policy.attribution_min_share, kinds=kinds))
    if context.y_score is not None and 0.0 < context.threshold < 1.0:
        # Every decision flagged here is new to the panel (an audit is queued once; a
        # batch's rows get their own keys and a batch seen before is skipped), so none is
        # excluded as already reviewed. k = budget leaves candidates for handed-over seats.
        # A threshold of 0 or 1 decides everything alike: no decision is uncertain.
        tables.append(active_learning_flags(
            encoded_features(context.pipeline, frame, features=list(context.features)),
            frame[context.y_score], threshold=context.threshold,
            groups=subject_groups(frame, context.sensitive_features),
            k=min(policy.budget, len(frame)), random_state=policy.random_state))
    return tables


def _watched(context: FlagContext) -> tuple[list[str], dict[str, str]]:
    kinds: dict[str, str] = {}
    for sensitive in context.sensitive_features:
        if sensitive in context.features:
            kinds[sensitive] = "a sensitive feature"
        for proxy in context.proxies.get(sensitive, ()):
            kinds.setdefault(proxy, f"a likely proxy of {sensitive}")
    return list(kinds), kinds


def _case(frame: pd.DataFrame, chosen: Any, context: FlagContext, flags: pd.DataFrame,
          explanation: Explanation | None, key_prefix: str) -> CaseInput:
    row = chosen.row
    mine = flags[flags["row"] == row]
    reasons = [{"reason": str(r.reason), "score": round(float(r.score), 6),
                "explanation": str(r.explanation)} for r in mine.itertuples(index=False)]
    decision = int(frame.at[row, context.y_pred])
    word = context.positive_label
    snapshot: dict[str, Any] = {
        "schema": SNAPSHOT_SCHEMA, "row": json_safe(row),
        "features": {f: _value(frame.at[row, f]) for f in context.features},
        "sensitive": {s: _value(frame.at[row, s]) for s in context.sensitive_features},
        "decision": {"value": decision,
                     "label": f"Predicted {word}" if decision else f"Predicted not {word}"},
        "score": (None if context.y_score is None
                  else json_safe(float(frame.at[row, context.y_score]))),
        "threshold": context.threshold, "reasons": reasons,
        "explanation": _explanation(explanation, frame, row, context),
        "provenance": context.provenance,
    }
    if chosen.primary_reason == "gold" or "gold" in chosen.reasons:
        snapshot["hidden"] = {"gold_answer": _value(frame.at[row, context.y_true])}
    return CaseInput(row_key=f"{key_prefix}{row}", subject_group=str(chosen.group),
                     primary_reason=str(chosen.primary_reason), reasons=reasons,
                     priority=float(chosen.priority), rank=int(chosen.rank), snapshot=snapshot)


def case_of(frame: pd.DataFrame, row: Any, context: FlagContext,
            reasons: Sequence[Mapping[str, Any]], *, explanation: Explanation | None,
            key_prefix: str = "", rank: int = 1) -> CaseInput:
    """Snapshot one flagged decision as a case, outside a budgeted batch selection.

    For a decision held on its own (a live decision): ``reasons`` are its flags
    (``{"reason", "score", "explanation"}``, strongest first; the first is its primary
    reason and its score the case's priority), ``explanation`` holds its SHAP values
    (or None for logged decisions). The snapshot is the one a batch case gets.
    """
    if not reasons:
        raise ValueError(f"row {row!r} has no reason to be a case")
    flags = pd.DataFrame({"row": pd.Series([row] * len(reasons), dtype=object),
                          "reason": [str(r["reason"]) for r in reasons],
                          "score": [float(r["score"]) for r in reasons],
                          "explanation": [str(r["explanation"]) for r in reasons]})
    group = subject_groups(frame.loc[[row]], context.sensitive_features).iloc[0]
    chosen = _Chosen(row=row, group=str(group), primary_reason=str(flags["reason"].iloc[0]),
                     reasons=list(flags["reason"]), priority=float(flags["score"].iloc[0]),
                     rank=rank)
    return _case(frame, chosen, context, flags, explanation, key_prefix)


class _Chosen(NamedTuple):
    """One selected row, as :func:`select_cases` lists it."""

    row: Any
    group: str
    primary_reason: str
    reasons: list[str]
    priority: float
    rank: int


def _explanation(explanation: Explanation | None, frame: pd.DataFrame, row: Any,
                 context: FlagContext) -> dict[str, Any]:
    if explanation is None:
        return {"available": False,
                "note": "Logged decisions without a model: no SHAP explanation."}
    word = context.positive_label
    case = explain_case(explanation, frame, row, top_k=SNAPSHOT_TOP_K,
                        threshold=context.threshold, positive_word=f"Predicted {word}",
                        negative_word=f"Predicted not {word}")
    waterfall = case.table.assign(value=[None if v is None else str(v)
                                         for v in case.table["value"]])
    return {"available": True, "base_value": json_safe(case.base_value),
            "output": json_safe(case.output), "output_scale": explanation.output_scale,
            "reason": case.reason, "waterfall": columnar(waterfall)}


def _value(value: Any) -> Any:
    value = json_safe(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray | list | tuple):
        return str(value)
    return str(value) if not pd.isna(value) else None
