"""Slice discovery on a stored fairness audit: its decisions, and runs kept in the store.

:func:`find_audit_slices` rebuilds the decisions a completed fairness audit run judged
(the stored provenance: the data file and model, both checked by hash) and runs
:func:`audits.slices.find_slices` on them, over the system's features and sensitive
features by default (:func:`audit_slice_columns`). :func:`run_slice_discovery` does the
same and keeps the result as an audit run of kind :data:`SLICES_KIND` (reused when the
same options were stored before), which the audit's report reads
(:func:`latest_slice_run`); nothing is recomputed when a report is built or verified.
A system kept in its database is counted there (:func:`audits.slices.count_slices_sql`:
the same slices as its copy would give), and its run is reused only while the counts
are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from audits.fairness.stored import (
    MSG_NO_RUN,
    MSG_NOT_FAIRNESS,
    Decisions,
    completed_fairness_run,
    decisions_for,
    latest_run_of,
    reused_or_recorded,
    stored_or_computed,
)
from audits.roles import Actor, require_role
from audits.slices.discovery import (
    DEFAULT_BINS,
    Progress,
    SliceReport,
    feature_columns,
    find_slices,
)
from audits.slices.pushdown import CountedSlices, count_slices_sql
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store
from audits.systems.in_place import in_place_source

__all__ = ["ALPHA", "MSG_NOT_FAIRNESS", "MSG_NO_OUTCOME", "MSG_NO_RUN", "SLICES_KIND",
           "AuditDecisions", "audit_decisions", "audit_slice_columns", "candidate_columns",
           "count_version_in_place", "find_audit_slices",
           "latest_slice_run", "run_slice_discovery"]

SLICES_KIND = "slices"
#: The false discovery rate of the discovery, and the level of the confirmation tests.
ALPHA = 0.05
MSG_NO_OUTCOME = ("audit run {id} has no recorded outcome: slices are compared on rates "
                  "that need one")
PURPOSE = "slices are found in the decisions of a fairness audit run"


@dataclass(frozen=True)
class AuditDecisions:
    """The decisions a fairness audit judged, with their roles and what to slice on."""

    run: AuditRunRecord
    dataset: DatasetRecord
    model: ModelRecord | None
    frame: pd.DataFrame
    y_true: str
    y_pred: str
    columns: list[str]


def audit_decisions(store: Store, actor: Actor, audit_run_id: int) -> AuditDecisions:
    """Rebuild the decisions of a completed fairness audit run from stored provenance.

    ``actor`` reads a system's sensitive data kept apart (its permission is checked).

    Raises
    ------
    LookupError
        No such run, or its dataset is missing.
    ValueError
        Not a completed fairness audit, or the data or model changed since registration.
    """
    run = _fairness_run(store, audit_run_id)
    dataset = store.get_dataset(run.dataset_id)
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    model = store.get_model(run.model_id) if run.model_id is not None else None
    decisions = decisions_for(store, actor, dataset, model)
    if decisions.y_true is None:
        raise ValueError(MSG_NO_OUTCOME.format(id=run.id))
    return AuditDecisions(run, dataset, model, decisions.frame, decisions.y_true,
                          decisions.y_pred,
                          audit_slice_columns(decisions.frame, run, dataset, model,
                                              roles=[decisions.y_true, decisions.y_pred,
                                                     decisions.y_score]))


def audit_slice_columns(frame: pd.DataFrame, run: AuditRunRecord, dataset: DatasetRecord,
                        model: ModelRecord | None, *, roles: Sequence[str | None]
                        ) -> list[str]:
    """The default columns: the model's features (or the dataset's), and the audit's
    sensitive features (see :func:`audits.slices.feature_columns`)."""
    features = list(model.feature_names if model is not None
                    else dataset.roles.get("features") or [])
    sensitive = list(run.config.get("sensitive_features")
                     or dataset.roles.get("sensitive_features") or [])
    return feature_columns(frame, features=features, sensitive_features=sensitive,
                           roles=roles)


def candidate_columns(store: Store, audit_run_id: int) -> list[str]:
    """The columns a person may slice a fairness audit's decisions on, read from the
    stored roles only (no data is loaded): the model's features (or the dataset's) and
    the audit's sensitive features. :func:`audit_slice_columns` then leaves out row ids
    and text columns of many values, which only the data can tell.
    """
    run = _fairness_run(store, audit_run_id)
    dataset = store.get_dataset(run.dataset_id)
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    model = store.get_model(run.model_id) if run.model_id is not None else None
    features = list(model.feature_names if model is not None
                    else dataset.roles.get("features") or [])
    sensitive = list(run.config.get("sensitive_features")
                     or dataset.roles.get("sensitive_features") or [])
    return list(dict.fromkeys([*features, *sensitive]))


def find_audit_slices(
    store: Store, actor: Actor, audit_run_id: int, *, metric: str = "error_rate",
    columns: Sequence[str] | None = None, max_depth: int = 3, min_support: int = 100,
    random_state: int = 0, progress: Progress | None = None,
) -> SliceReport:
    """Find the worst-off slices of a fairness audit's decisions (nothing is stored).

    Parameters
    ----------
    store : Store
    actor : Actor
        Reads the decisions (and a system's sensitive data kept apart).
    audit_run_id : int
        A completed fairness audit run.
    metric, max_depth, min_support, random_state, progress
        As for :func:`audits.slices.find_slices`.
    columns : sequence of str or None
        None: :func:`audit_slice_columns`.

    Returns
    -------
    SliceReport
    """
    report = progress or (lambda fraction, message: None)
    run = _fairness_run(store, audit_run_id)
    dataset = store.get_dataset(run.dataset_id)
    if dataset is not None and in_place_source(dataset) is not None:
        report(0.0, "Counting the decisions where they live")
        return count_version_in_place(
            dataset, columns=columns, sensitive_features=run.config.get("sensitive_features"),
            progress=lambda f, m: report(0.6 * f, m)).find(
            metric=metric, max_depth=max_depth, min_support=min_support, alpha=ALPHA,
            random_state=random_state, progress=lambda f, m: report(0.6 + 0.4 * f, m))
    report(0.0, "Rebuilding the audited decisions")
    found = audit_decisions(store, actor, audit_run_id)
    return find_slices(found.frame, y_true=found.y_true, y_pred=found.y_pred, metric=metric,
                       columns=list(columns) if columns is not None else found.columns,
                       max_depth=max_depth, min_support=min_support, alpha=ALPHA,
                       random_state=random_state,
                       progress=lambda f, m: report(0.1 + 0.9 * f, m))


def run_slice_discovery(
    store: Store, actor: Actor, audit_run_id: int, *, metric: str = "error_rate",
    columns: Sequence[str] | None = None, max_depth: int = 3, min_support: int = 100,
    random_state: int = 0, progress: Progress | None = None,
) -> AuditRunRecord:
    """Return the stored slice discovery of a fairness audit, running it if new.

    As :func:`find_audit_slices`, kept as a completed audit run of kind
    :data:`SLICES_KIND` whose ``config`` holds the options (``audit_run_id``, ``metric``,
    ``columns``, ``max_depth``, ``min_support``, ``bins``, ``alpha``, ``random_state``)
    and whose ``results`` are :meth:`SliceReport.to_dict` (the ``fairpanel slices``
    JSON, whose ``columns`` are those sliced on; ``config["columns"]`` is None for the
    default) with ``aggregation`` (where the counts were made, and the queries of a
    system kept in its database). The same options stored before return that run.

    Raises
    ------
    PermissionDenied
        The actor may not run an audit (data scientists and admins may).
    """
    require_role(actor, "run an audit")
    report = progress or (lambda fraction, message: None)
    run = _fairness_run(store, audit_run_id)
    dataset = store.get_dataset(run.dataset_id)
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    model = store.get_model(run.model_id) if run.model_id is not None else None
    options: dict[str, Any] = {
        "kind": SLICES_KIND, "audit_run_id": run.id, "dataset_sha256": dataset.sha256,
        "model_sha256": model.sha256 if model else None, "metric": metric,
        "columns": list(columns) if columns is not None else None,  # None: the default
        "max_depth": max_depth, "min_support": min_support, "bins": DEFAULT_BINS,
        "alpha": ALPHA, "random_state": random_state}

    place = in_place_source(dataset)
    if place is not None:
        report(0.02, f"Counting {place.describe()} where it lives")
        counted = count_version_in_place(
            dataset, columns=columns, sensitive_features=run.config.get("sensitive_features"),
            progress=lambda f, m: report(0.6 * f, m))
        return reused_or_recorded(
            store, actor, dataset, None, {**options, "patterns_sha256": counted.sha256()},
            source=f"every decision in {place.describe()}, counted where they live",
            compute=lambda: {**counted.find(
                metric=metric, max_depth=max_depth, min_support=min_support, alpha=ALPHA,
                random_state=random_state, progress=lambda f, m: report(0.6 + 0.4 * f, m)
            ).to_dict(), "aggregation": counted.aggregation.to_dict()},
            report=report)

    def compute(decisions: Decisions) -> dict[str, Any]:
        if decisions.y_true is None:
            raise ValueError(MSG_NO_OUTCOME.format(id=run.id))
        chosen = list(columns) if columns is not None else audit_slice_columns(
            decisions.frame, run, dataset, model,
            roles=[decisions.y_true, decisions.y_pred, decisions.y_score])
        found = find_slices(decisions.frame, y_true=decisions.y_true,
                            y_pred=decisions.y_pred, metric=metric, columns=chosen,
                            max_depth=max_depth, min_support=min_support, alpha=ALPHA,
                            random_state=random_state,
                            progress=lambda f, m: report(0.1 + 0.9 * f, m))
        # Where the counts were made, as a fairness run says: in memory, by pandas.
        return {**found.to_dict(), "aggregation": {"backend": "pandas",
                                                   "source": decisions.source, "queries": []}}

    return stored_or_computed(store, actor, dataset, model, options, compute, report=report)


def count_version_in_place(dataset: DatasetRecord, *, columns: Sequence[str] | None = None,
                           sensitive_features: Sequence[str] | None = None,
                           bins: int = DEFAULT_BINS, progress: Progress | None = None
                           ) -> CountedSlices:
    """Count a version kept in its database for slice discovery, where it lives
    (:func:`audits.slices.count_slices_sql`); by default on its features and sensitive
    features, chosen as :func:`audits.slices.feature_columns` chooses them on a copy.

    Raises
    ------
    ValueError
        The version is a stored copy.
    """
    place = in_place_source(dataset)
    if place is None:
        raise ValueError(f"version {dataset.version} of {dataset.name!r} is a stored copy")
    roles = dict(dataset.roles)
    mapping = dict(roles["mapping"])
    prediction = mapping.get("prediction")
    return count_slices_sql(
        place.url, table=place.table, query=place.query, y_true=str(mapping["target"]),
        y_pred=prediction, y_score=mapping.get("score"),
        threshold=None if prediction else mapping.get("threshold"),
        pos_label=mapping.get("positive_label"),
        columns=list(columns) if columns is not None else None,
        features=list(roles.get("features") or []),
        sensitive_features=list(sensitive_features or roles.get("sensitive_features") or []),
        bins=bins, progress=progress)


def latest_slice_run(store: Store, audit_run_id: int) -> AuditRunRecord | None:
    """Return the newest completed slice discovery stored for a fairness audit, or None."""
    return latest_run_of(store, SLICES_KIND, audit_run_id)


def _fairness_run(store: Store, audit_run_id: int) -> AuditRunRecord:
    return completed_fairness_run(store, audit_run_id, purpose=PURPOSE)
