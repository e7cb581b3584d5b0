"""Explanation runs from stored inputs: explain once per configuration, store the result.

A page or a command asks for the explanations of a registered dataset's held-out
decisions under its model; :func:`run_explanations` returns the stored run when the same
data, model and options were explained before, and otherwise computes per-group SHAP
importances, the gap decomposition of every pair of groups, the likely proxies, the
counterfactual flips and a sample of per-case explanations, and stores them as an audit
run of kind :data:`EXPLAIN_KIND`. SHAP is never computed in a page render.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from audits.explain.cases import explain_case
from audits.explain.counterfactual import CounterfactualResult, counterfactual_flips
from audits.explain.groups import GroupExplanation, explain_groups, gap_decomposition
from audits.explain.proxies import ProxyReport, find_proxies
from audits.explain.rows import RowExplainer
from audits.explain.shap_values import Explanation, explain_model
from audits.fairness.stored import (
    Progress,
    chosen_sensitive_features,
    columnar,
    json_safe,
    stored_or_computed,
)
from audits.models.files import load_model
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store

__all__ = ["EXPLAIN_KIND", "MSG_NO_MODEL", "MSG_N_CASES", "run_explanations"]

EXPLAIN_KIND = "explanations"
MSG_NO_MODEL = (
    "explanations need a model: dataset {name!r} has only logged decisions; register a "
    "model for it first"
)
MSG_N_CASES = "n_cases must be a non-negative integer; got {value!r}"
#: Features shown per case before ``(other features)``.
CASE_TOP_K = 5


def run_explanations(
    store: Store,
    actor: Actor,
    dataset: DatasetRecord,
    model: ModelRecord | None,
    *,
    sensitive_features: Sequence[str] | None = None,
    n_cases: int = 20,
    random_state: int = 0,
    progress: Progress | None = None,
    min_rows_per_group: int = 200,
    max_rows_per_group: int = 5000,
    target_half_width: float = 0.02,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    n_background: int = 100,
) -> AuditRunRecord:
    """Return the stored explanations for these inputs, computing them only if new.

    Parameters
    ----------
    store : Store
    actor : Actor
        Needs "run an audit" (data scientists and admins), checked before any work.
    dataset : DatasetRecord
        A registered bundled dataset.
    model : ModelRecord or None
        The model whose held-out decisions are explained; None raises (:data:`MSG_NO_MODEL`).
    sensitive_features : sequence of str or None, default None
        None: all of the dataset's.
    n_cases : int, default 20
        Held-out decisions explained one by one: those whose score lies nearest the
        model's threshold.
    random_state : int, default 0
    progress : callable ``(fraction, message) -> None`` or None, default None
    min_rows_per_group, max_rows_per_group, target_half_width, confidence, n_bootstrap, \
n_background
        As for :func:`audits.explain.groups.explain_groups`.

    Returns
    -------
    AuditRunRecord
        A completed run with ``config["kind"] == "explanations"``. Its ``results`` hold
        ``explainer`` (kind, fallback reason, shap version, background sha256, output
        scale), ``sensitive_features`` (in the order asked), ``per_feature`` (per
        sensitive feature: ``importances``, ``groups`` and ``gaps`` as column-wise lists,
        ``counterfactual`` and ``counterfactual_proxies``),
        ``proxies`` (``associations``, ``likely``, ``rule``) and ``cases`` (a list of
        dicts keyed by ``row``, the held-out row position, each with its ``waterfall``
        and ``reason``). Non-finite numbers are stored as null.

    Raises
    ------
    PermissionDenied
        The actor may not run an audit.
    ValueError
        No model, an unknown sensitive feature, or changed data or model file.

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     ds = store.record_dataset(Actor.system(), name="compas", source="bundled",
    ...                               sha256="ab" * 32, n_rows=10, roles={}, card="")
    ...     run_explanations(store, Actor.system(), ds, None)
    Traceback (most recent call last):
    ...
    ValueError: explanations need a model: dataset 'compas' has only logged decisions; ...
    """
    require_role(actor, "run an audit")
    if model is None:
        raise ValueError(MSG_NO_MODEL.format(name=dataset.name))
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 0:
        raise ValueError(MSG_N_CASES.format(value=n_cases))
    report = progress or (lambda fraction, message: None)
    chosen = chosen_sensitive_features(dataset, sensitive_features)
    options: dict[str, Any] = {
        "kind": EXPLAIN_KIND, "dataset_sha256": dataset.sha256, "model_sha256": model.sha256,
        "sensitive_features": chosen, "n_cases": n_cases, "random_state": random_state,
        "min_rows_per_group": min_rows_per_group, "max_rows_per_group": max_rows_per_group,
        "target_half_width": target_half_width, "confidence": confidence,
        "n_bootstrap": n_bootstrap, "n_background": n_background,
    }
    return stored_or_computed(
        store, actor, dataset, model, options,
        lambda decisions: _compute(decisions.frame, model, dataset, options, report),
        report=report)


def _compute(frame: pd.DataFrame, model: ModelRecord, dataset: DatasetRecord,
             options: dict[str, Any], report: Progress) -> dict[str, Any]:
    pipeline = load_model(model.path)
    features = list(model.feature_names)
    chosen: list[str] = options["sensitive_features"]
    threshold = float(model.params.get("threshold", 0.5))
    settings = {k: options[k] for k in ("min_rows_per_group", "max_rows_per_group",
                                        "target_half_width", "confidence", "n_bootstrap",
                                        "n_background", "random_state")}
    step = 0.75 / max(len(chosen), 1)
    grouped: list[GroupExplanation] = []
    # One row explainer for every sensitive feature: a row sampled for two features is
    # explained once (explain_groups samples the same background from the same frame).
    positions = frame.reset_index(drop=True)
    rows = RowExplainer(pipeline, positions, features=features, random_state=settings[
        "random_state"], background=positions.sample(n=min(settings["n_background"],
                                                            len(positions)),
                                                     random_state=settings["random_state"]))
    for i, column in enumerate(chosen):
        start = 0.05 + i * step
        report(start, f"SHAP per group of {column}")
        grouped.append(explain_groups(
            pipeline, frame, features=features, sensitive_feature=column,
            progress=_scaled(report, start, step, column), rows=rows, **settings))
    report(0.82, "Likely proxies")
    proxies = find_proxies(frame, features=features, sensitive_features=chosen,
                           attributions=grouped)
    report(0.86, "Counterfactual flips")
    per_feature = {g.sensitive_feature: _per_feature(g, pipeline, frame, features, proxies,
                                                     threshold) for g in grouped}
    report(0.92, f"Explaining the {options['n_cases']} decisions nearest the threshold")
    cases, case_explainer = _cases(pipeline, frame, features, chosen, threshold,
                                   dataset, options)
    first = grouped[0].explanation if grouped else case_explainer
    report(1.0, "Explanations stored")
    return {
        "explainer": _provenance(first) if first is not None else None,
        "threshold": threshold, "positive_label": _positive_label(dataset),
        "rows": len(frame), "sensitive_features": chosen, "per_feature": per_feature,
        "proxies": {"associations": columnar(proxies.associations),
                    "likely": columnar(proxies.likely), "rule": proxies.rule},
        "cases": cases,
    }


def _scaled(report: Progress, start: float, step: float, column: str) -> Progress:
    def scaled(fraction: float, message: str) -> None:
        report(start + step * fraction, f"{column}: {message}")

    return scaled


def _per_feature(grouped: GroupExplanation, pipeline: Any, frame: pd.DataFrame,
                 features: list[str], proxies: ProxyReport, threshold: float) -> dict[str, Any]:
    column = grouped.sensitive_feature
    likely = proxies.likely
    found = [str(f) for f in likely.loc[likely["sensitive_feature"] == column, "feature"]
             if f != column and f in features]
    plain = counterfactual_flips(pipeline, frame, features=features, sensitive_feature=column,
                                 threshold=threshold)
    with_proxies = (counterfactual_flips(pipeline, frame, features=features,
                                         sensitive_feature=column, proxies=found,
                                         threshold=threshold) if found else None)
    return {
        "importances": columnar(grouped.importances), "groups": columnar(grouped.groups),
        "gaps": columnar(_all_gaps(grouped)), "confidence": grouped.confidence,
        "target_half_width": grouped.target_half_width,
        "explainer": _provenance(grouped.explanation),
        "counterfactual": _counterfactual(plain),
        "counterfactual_proxies": _counterfactual(with_proxies) if with_proxies else None,
    }


def _all_gaps(grouped: GroupExplanation) -> pd.DataFrame:
    # Every ordered pair, so a page picks two groups without recomputing anything.
    groups = [str(g) for g in grouped.groups["group"]]
    parts = []
    for group, reference in itertools.permutations(groups, 2):
        gap = gap_decomposition(grouped, group, reference)
        parts.append(gap.table.assign(group=group, reference_group=reference,
                                      output_gap=gap.output_gap))
    if not parts:
        return pd.DataFrame(columns=["group", "reference_group", "feature", "mean_shap_group",
                                     "mean_shap_reference", "contribution", "output_gap"])
    table = pd.concat(parts, ignore_index=True)
    return table[["group", "reference_group", "feature", "mean_shap_group",
                  "mean_shap_reference", "contribution", "output_gap"]]


def _counterfactual(result: CounterfactualResult) -> dict[str, Any]:
    return {"table": columnar(result.table), "sensitive_is_input": result.sensitive_is_input,
            "message": result.message}


def _cases(pipeline: Any, frame: pd.DataFrame, features: list[str], chosen: list[str],
           threshold: float, dataset: DatasetRecord,
           options: dict[str, Any]) -> tuple[list[dict[str, Any]], Explanation | None]:
    n_cases = int(options["n_cases"])
    if n_cases == 0:
        return [], None
    distance = (frame["y_score"].astype(float) - threshold).abs()
    rows = distance.sort_values(kind="stable").index[:n_cases]
    background = frame.sample(n=min(int(options["n_background"]), len(frame)),
                              random_state=int(options["random_state"]))
    explanation = explain_model(pipeline, frame.loc[rows], features=features,
                                background=background,
                                random_state=int(options["random_state"]))
    label = _positive_label(dataset)
    target = str(dict(dataset.roles).get("target", ""))
    cases = []
    for row in rows:
        case = explain_case(explanation, frame, row, top_k=CASE_TOP_K, threshold=threshold,
                            positive_word=f"Predicted {label}",
                            negative_word=f"Predicted not {label}")
        waterfall = case.table.assign(value=[None if v is None else str(v)
                                             for v in case.table["value"]])
        cases.append({
            "row": int(row), "y_score": json_safe(frame.at[row, "y_score"]),
            "y_pred": json_safe(frame.at[row, "y_pred"]),
            "y_true": json_safe(frame.at[row, target]) if target in frame.columns else None,
            "sensitive": {c: str(frame.at[row, c]) for c in chosen},
            "base_value": json_safe(case.base_value), "output": json_safe(case.output),
            "decision": case.decision, "reason": case.reason,
            "waterfall": columnar(waterfall),
        })
    return cases, explanation


def _provenance(explanation: Explanation) -> dict[str, Any]:
    return {"explainer_kind": explanation.explainer_kind,
            "fallback_reason": explanation.fallback_reason,
            "shap_version": explanation.shap_version,
            "background_sha256": explanation.background_sha256,
            "output_scale": explanation.output_scale,
            "base_value": json_safe(float(explanation.base_value)),
            "max_additivity_gap": json_safe(float(np.float64(explanation.max_additivity_gap))),
            "features": list(explanation.features)}


def _positive_label(dataset: DatasetRecord) -> str:
    return str(dict(dataset.roles).get("positive_label") or "positive")
