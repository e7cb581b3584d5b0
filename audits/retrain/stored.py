"""Retraining from the panel's labels, stored: a candidate model version with its lineage,
and before/after audits of the old and new model on the same held-out decisions.

The loop (:func:`retrain_from_panel`):

1. Consensus labels of an audit's reviewed cases (:func:`panel_labels`): the adjudicated
   label, else the Dawid-Skene label when its posterior reaches ``min_confidence``;
   other cases are left out (majority votes only when asked for).
2. Each reviewed case is a held-out row of the audited model; the version of that model
   in use now (the deployed one of its family) is retrained: the case joins its training rows
   with its consensus label (rows an earlier version already added keep theirs unless
   reviewed again). The default pipeline of the same kind is refitted, optionally under
   a fairness constraint (:func:`audits.retrain.retraining.retrain`).
3. The new model is stored as a *candidate* child of that version, with its file
   hash and its lineage: one entry per reviewed case, the row, the recorded and the new
   label, the consensus rule and the reviewers who rated it. It is used for nothing but
   its own evaluation until a person approves it (:meth:`Store.approve_model`).
4. Both models are audited, as stored runs, on the held-out rows minus every row the
   new model was trained on, so the comparison is on the same, unseen decisions; the
   paired bootstrap of :func:`audits.retrain.retraining.compare_models` gives the differences with
   intervals, and the two runs can be compared like any others.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import clone

from audits.data.schema import ColumnRoles
from audits.fairness.stored import (
    decisions_for,
    json_safe,
    registered_data,
    registered_model,
    run_fairness_audit,
)
from audits.models.files import save_model
from audits.models.group_thresholds import thresholds_spec
from audits.models.training import split_rows
from audits.raters.consensus import consensus_labels
from audits.retrain.retraining import (
    CONSTRAINTS,
    RetrainedModel,
    compare_models,
    predict_retrained,
    retrain,
)
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, ModelRecord, Store, data_dir
from audits.store.log import canonical_json

__all__ = ["COMPARISON_COLUMNS", "DEFAULT_SOURCES", "PanelLabels", "Retraining", "panel_labels",
           "retrain_from_panel", "stored_comparison", "stored_reaudits"]

Progress = Callable[[float, str], None]
DEFAULT_SOURCES = ("adjudicated", "dawid_skene")
LABEL_COLUMNS = ("case_id", "held_out_row", "label", "source", "confidence", "n_ratings",
                 "reviewer_ids")
COMPARISON_COLUMNS = ("sensitive_feature", "metric", "group", "reference", "before", "after",
                      "difference", "ci_low", "ci_high")
MSG_NO_RUN = "no completed audit run with id {id}"
MSG_NO_MODEL = ("audit run {id} audits logged decisions, not a model of ours; retraining "
                "needs the model that made the decisions (audit a registered model)")
MSG_NO_LABELS = ("audit run {id} has no reviewed case with a trusted consensus label yet "
                 "({rated} rated cases; rules: {sources}, min confidence {conf}); nothing "
                 "to retrain on")
MSG_SOURCES = "sources must be a non-empty subset of {allowed}; got {value!r}"
#: Share of the rows no one reviewed held out to evaluate a model retrained from one that
#: decided every row of its version (an uploaded model).
EVALUATION_SHARE = 0.3
MSG_NOT_RETRAINED = "model {id} is not a retrained version (it has no parent)"


@dataclass(frozen=True)
class PanelLabels:
    """Consensus labels of an audit's reviewed cases (``table``: :data:`LABEL_COLUMNS`)
    and how many rated cases were left out (``untrusted``: no rule trusted them;
    ``from_batches``: cases of ingested batches, whose rows are not in the dataset).
    ``converged`` says whether the Dawid-Skene fit converged (None when none ran); a fit
    that did not is trusted on no case (only adjudicated and majority labels count)."""

    table: pd.DataFrame
    rated: int
    untrusted: int
    from_batches: int
    converged: bool | None = None


@dataclass(frozen=True)
class Retraining:
    """A stored retraining: the candidate and its parent, the two audit runs on the same
    held-out rows, the paired comparison (``comparison``: ``sensitive_feature, metric,
    group, reference, before, after, difference, ci_low, ci_high``) and the lineage."""

    candidate: ModelRecord
    parent: ModelRecord
    before_run: AuditRunRecord
    after_run: AuditRunRecord
    comparison: pd.DataFrame
    lineage: pd.DataFrame


def panel_labels(store: Store, actor: Actor, audit_run_id: int, *, min_confidence: float = 0.9,
                 sources: Sequence[str] = DEFAULT_SOURCES) -> PanelLabels:
    """Return the consensus label of each reviewed case of an audit that a rule trusts.

    Requires "read panel aggregates" (labels per case, never who said what).

    Raises
    ------
    ValueError
        ``sources`` is not a non-empty subset of adjudicated, dawid_skene, majority, or
        ``min_confidence`` is outside [0, 1].
    """
    require_role(actor, "read panel aggregates")
    allowed = ("adjudicated", "dawid_skene", "majority")
    if isinstance(sources, str) or not sources or not set(sources) <= set(allowed):
        raise ValueError(MSG_SOURCES.format(allowed=allowed, value=sources))
    ratings = pd.DataFrame(store.ratings_for_analysis(actor, audit_run_id))
    cases = {c.id: c for c in store.list_cases(audit_run_id)}
    empty = pd.DataFrame(columns=list(LABEL_COLUMNS))
    if ratings.empty:
        return PanelLabels(empty, 0, 0, 0)
    in_batch = ratings["case_id"].map(lambda c: cases[c].batch_id is not None)
    batch_cases = int(ratings.loc[in_batch, "case_id"].nunique())
    ratings = ratings[~in_batch]
    if ratings.empty:
        return PanelLabels(empty, batch_cases, 0, batch_cases)
    consensus = consensus_labels(ratings[["case_id", "reviewer_id", "label"]],
                                 adjudicated=_adjudicated(ratings, cases),
                                 min_confidence=min_confidence)
    trusted = consensus[consensus["source"].isin(list(sources))].copy()
    who = ratings.groupby("case_id")["reviewer_id"].agg(lambda r: sorted(int(v) for v in r))
    trusted["held_out_row"] = [int(cases[c].snapshot["row"]) for c in trusted["case_id"]]
    trusted["n_ratings"] = [len(who[c]) for c in trusted["case_id"]]
    trusted["reviewer_ids"] = [who[c] for c in trusted["case_id"]]
    trusted["label"] = trusted["label"].astype(np.int64)
    rated = int(consensus["case_id"].nunique())
    table = trusted.reindex(columns=list(LABEL_COLUMNS)).reset_index(drop=True)
    fit = consensus.attrs.get("dawid_skene") or {}
    converged = None if "converged" not in fit else bool(fit["converged"])
    return PanelLabels(table, rated + batch_cases, rated - len(table), batch_cases, converged)


def retrain_from_panel(
    store: Store, actor: Actor, audit_run_id: int, *, constraint: str | None = None,
    sensitive_feature: str | None = None, min_confidence: float = 0.9,
    sources: Sequence[str] = DEFAULT_SOURCES, n_boot: int = 1000,
    progress: Progress | None = None,
) -> Retraining:
    """Retrain the audited model on the panel's labels; store and re-audit the candidate.

    Parameters
    ----------
    store, actor : Store, Actor
        The actor needs "register a model" and "run an audit" (a data scientist).
    audit_run_id : int
        A completed fairness audit of a registered model, whose cases were reviewed.
    constraint : {None, "demographic_parity", "equalized_odds"}, default None
        Post-process with fairlearn's ThresholdOptimizer on ``sensitive_feature`` (default:
        the audit's first sensitive feature).
    min_confidence, sources
        As for :func:`panel_labels`.
    n_boot : int, default 1000
        Bootstrap replicates of the audits and of the paired comparison.
    progress : callable (fraction, message) or None

    Returns
    -------
    Retraining

    Raises
    ------
    LookupError, ValueError, PermissionDenied
        No such run, logged decisions (no model), no trusted label, a bad constraint, a
        changed dataset or model file; the store refuses the actor.
    """
    report = progress or (lambda fraction, message: None)
    require_role(actor, "register a model")
    run, audited = _audited_model(store, audit_run_id)
    parent = store.deployed_version(audited.id)  # retrain what is in use now
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CONSTRAINTS}; got {constraint!r}")
    features = list(run.config.get("sensitive_features") or [])
    chosen = sensitive_feature or (features[0] if constraint else None)
    report(0.02, "Collecting the panel's consensus labels")
    labels = panel_labels(store, actor, audit_run_id, min_confidence=min_confidence,
                          sources=sources)
    if labels.table.empty:
        raise ValueError(MSG_NO_LABELS.format(id=audit_run_id, rated=labels.rated,
                                              sources=", ".join(sources), conf=min_confidence))
    if labels.converged is False:
        report(0.05, "Dawid-Skene did not converge: only adjudicated and majority labels "
                     "are used")
    plan = _plan(store, actor, run, parent, labels.table)
    options = {"min_confidence": min_confidence, "sources": list(sources), "n_boot": n_boot,
               "constraint": constraint, "sensitive_feature": chosen}
    same = _same_candidate(store, parent, plan.lineage, options)
    if same is not None:  # the same labels and options again: the stored candidate
        before, after = _reaudits(store, actor, run, parent, same, plan.excluded, n_boot, report)
        report(1.0, f"Candidate model #{same.id} was already trained on these labels")
        return Retraining(same, parent, before, after, stored_comparison(same),
                          pd.DataFrame(same.lineage))
    report(0.1, f"Retraining {parent.kind} on {len(plan.train_rows)} rows "
                f"({len(labels.table)} reviewed)")
    if _uploaded(parent):
        model = _refit_uploaded(parent, plan, constraint, chosen)
    else:
        model = retrain(plan.frame, plan.roles, labels=plan.labels, train_rows=plan.train_rows,
                        kind=parent.kind, constraint=constraint, sensitive_feature=chosen,
                        random_state=int(parent.params.get("random_state", 0)))
    report(0.3, "Comparing old and new decisions on the same held-out rows (paired bootstrap)")
    comparison = _paired(store, actor, run, parent, model, plan.excluded, features, n_boot)
    report(0.45, "Saving the new model version (skops)")
    candidate = _record(store, actor, run, parent, model, plan, comparison, options)
    before, after = _reaudits(store, actor, run, parent, candidate, plan.excluded, n_boot,
                              report)
    report(1.0, f"Candidate model #{candidate.id} stored; it waits for approval")
    return Retraining(candidate, parent, before, after, comparison,
                      pd.DataFrame(candidate.lineage))


def stored_comparison(model: ModelRecord) -> pd.DataFrame:
    """Return the paired before/after comparison stored with a retrained model
    (:data:`COMPARISON_COLUMNS`; empty for a model that was not retrained)."""
    rows = model.metrics.get("paired_comparison", [])
    return pd.DataFrame(rows).reindex(columns=list(COMPARISON_COLUMNS))


def stored_reaudits(store: Store, actor: Actor, model_id: int) -> tuple[int, int] | None:
    """Return the ids of the stored re-audits (old model, new model) of a retraining.

    They are the completed fairness runs of the parent and of the candidate that leave
    out the candidate's training rows; None when either is missing.

    Raises
    ------
    LookupError, ValueError
        No such model, or a model with no parent (:data:`MSG_NOT_RETRAINED`).
    """
    require_role(actor, "read panel aggregates")
    candidate = store.get_model(model_id)
    if candidate is None:
        raise LookupError(f"no model with id {model_id}")
    parent = store.get_model(candidate.parent_id) if candidate.parent_id else None
    if parent is None:
        raise ValueError(MSG_NOT_RETRAINED.format(id=model_id))
    excluded = sorted(int(r) for r in candidate.split.get("excluded_held_out_rows", []))
    found: dict[str, int] = {}
    for run in store.list_audit_runs():
        config = run.config or {}
        if run.status == "completed" and config.get("exclude_rows") == excluded:
            for name, model in (("before", parent), ("after", candidate)):
                if run.model_id == model.id:
                    found[name] = run.id
    return (found["before"], found["after"]) if len(found) == 2 else None


@dataclass(frozen=True)
class _Plan:
    frame: pd.DataFrame
    roles: ColumnRoles
    train_rows: np.ndarray[Any, np.dtype[np.intp]]
    labels: pd.Series
    excluded: list[int]  # held-out positions the new model trained on
    lineage: list[dict[str, Any]]
    n_evaluated: int
    split: dict[str, Any]  # what the candidate's split adds to its parent's


def _audited_model(store: Store, audit_run_id: int) -> tuple[AuditRunRecord, ModelRecord]:
    run = store.get_audit_run(audit_run_id)
    if run is None or run.status != "completed":
        raise LookupError(MSG_NO_RUN.format(id=audit_run_id))
    if run.model_id is None:
        raise ValueError(MSG_NO_MODEL.format(id=audit_run_id))
    model = store.get_model(run.model_id)
    if model is None:
        raise LookupError(f"audit run {audit_run_id} names a missing model {run.model_id}")
    return run, model


def _plan(store: Store, actor: Actor, run: AuditRunRecord, parent: ModelRecord,
          table: pd.DataFrame) -> _Plan:
    dataset = store.get_dataset(run.dataset_id)
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    loaded = registered_data(store, actor, dataset)
    if _uploaded(parent):
        return _plan_uploaded(store, loaded.frame, loaded.roles, parent, table)
    frame, target = loaded.frame, loaded.roles.target
    base_train, test_rows = split_rows(frame[target].to_numpy(), target=target,
                                       test_size=float(parent.split["test_size"]),
                                       random_state=int(parent.split["random_state"]))
    earlier = {int(e["held_out_row"]): int(e["label"]) for m in _ancestry(store, parent)
               for e in m.lineage}
    reviewed = dict(zip(table["held_out_row"].astype(int), table["label"].astype(int),
                        strict=True))
    added = sorted(set(earlier) | set(reviewed))
    rows = np.union1d(base_train, test_rows[added]).astype(np.intp)
    # The recorded labels of the training rows, then the panel's (this round's win over
    # an earlier version's for a row reviewed twice).
    labels = frame[target].iloc[rows].astype(np.int64)
    fixed = {**earlier, **reviewed}
    labels.loc[frame.index[test_rows[list(fixed)]]] = list(fixed.values())
    lineage = [{"case_id": int(r.case_id), "held_out_row": int(r.held_out_row),
                "dataset_row": int(test_rows[int(r.held_out_row)]),
                "recorded_label": int(frame[target].iat[int(test_rows[int(r.held_out_row)])]),
                "label": int(r.label), "source": str(r.source),
                "confidence": float(r.confidence), "n_ratings": int(r.n_ratings),
                "reviewer_ids": [int(v) for v in r.reviewer_ids]}
               for r in table.itertuples(index=False)]
    for entry in lineage:
        entry["changed"] = entry["label"] != entry["recorded_label"]
    roles = ColumnRoles(target=target, sensitive_features=loaded.roles.sensitive_features,
                        features=tuple(parent.feature_names))
    return _Plan(frame, roles, rows, labels, added, lineage,
                 int(parent.split.get("n_test", 0)) - len(added), {})


def _uploaded(model: ModelRecord) -> bool:
    """A model that decided every row of its version (an uploaded one, or retrained
    from one): its split has no ``test_size``."""
    return "test_size" not in model.split


def _plan_uploaded(store: Store, frame: pd.DataFrame, loaded_roles: ColumnRoles,
                   parent: ModelRecord, table: pd.DataFrame) -> _Plan:
    """The plan for a model that decided every row: each reviewed case is a row of the
    version. The new model trains on every row but a stratified held-out part of the
    rows no one reviewed (:data:`EVALUATION_SHARE`), on which both models are compared;
    the audits of both leave out the training rows (``exclude_rows``)."""
    target = loaded_roles.target
    seed = int(parent.params.get("random_state", 0))
    earlier = {int(e["dataset_row"]): int(e["label"]) for m in _ancestry(store, parent)
               for e in m.lineage}
    reviewed = dict(zip(table["held_out_row"].astype(int), table["label"].astype(int),
                        strict=True))
    fixed = {**earlier, **reviewed}
    _, part = split_rows(frame[target].to_numpy(), target=target, test_size=EVALUATION_SHARE,
                         random_state=seed)
    evaluation = np.setdiff1d(part, np.fromiter(fixed, dtype=np.intp, count=len(fixed)))
    rows = np.setdiff1d(np.arange(len(frame), dtype=np.intp), evaluation).astype(np.intp)
    labels = frame[target].iloc[rows].astype(np.int64)
    labels.loc[frame.index[list(fixed)]] = list(fixed.values())
    lineage = [{"case_id": int(r.case_id), "held_out_row": int(r.held_out_row),
                "dataset_row": int(r.held_out_row),
                "recorded_label": int(frame[target].iat[int(r.held_out_row)]),
                "label": int(r.label), "source": str(r.source),
                "confidence": float(r.confidence), "n_ratings": int(r.n_ratings),
                "reviewer_ids": [int(v) for v in r.reviewer_ids],
                "changed": int(r.label) != int(frame[target].iat[int(r.held_out_row)])}
               for r in table.itertuples(index=False)]
    roles = ColumnRoles(target=target, sensitive_features=loaded_roles.sensitive_features,
                        features=tuple(parent.feature_names))
    split = {"evaluation": {"method": "stratified held-out part of the rows not reviewed",
                            "test_size": EVALUATION_SHARE, "random_state": seed,
                            "n_test": len(evaluation)}}
    return _Plan(frame, roles, rows, labels, [int(r) for r in rows], lineage,
                 len(evaluation), split)


def _refit_uploaded(parent: ModelRecord, plan: _Plan, constraint: str | None,
                    sensitive_feature: str | None) -> RetrainedModel:
    """Refit a clone of the uploaded pipeline (same steps and settings, unfitted) on
    the training rows with the panel's labels; a constraint as in
    :func:`audits.retrain.retraining.retrain`."""
    pipeline = clone(registered_model(parent))
    features = list(parent.feature_names)
    train = plan.frame.iloc[plan.train_rows]
    x, y = train.loc[:, features], plan.labels.to_numpy()
    pipeline.fit(x, y)
    thresholds = None
    if constraint is not None and sensitive_feature is not None:
        post = ThresholdOptimizer(estimator=pipeline, constraints=constraint, prefit=True,
                                  predict_method="predict_proba")
        post.fit(x, y, sensitive_features=train[sensitive_feature].to_numpy())
        thresholds = thresholds_spec(post)
    return RetrainedModel(pipeline, thresholds, parent.kind, tuple(features), plan.roles.target,
                          plan.train_rows, float(parent.params.get("threshold", 0.5)),
                          constraint, sensitive_feature, int(parent.params.get("random_state", 0)))


def _adjudicated(ratings: pd.DataFrame, cases: dict[int, Any]) -> dict[Hashable, Any]:
    """Adjudicated labels: ``truth`` is the adjudication, else a gold case's answer."""
    out: dict[Hashable, Any] = {}
    for case_id, truth in ratings.groupby("case_id")["truth"].first().dropna().items():
        gold = cases[case_id].snapshot.get("hidden", {}).get("gold_answer")
        if gold is None or int(truth) != int(gold):
            out[int(case_id)] = int(truth)
    return out


def _same_candidate(store: Store, parent: ModelRecord, lineage: list[dict[str, Any]],
                    options: dict[str, Any]) -> ModelRecord | None:
    for m in store.model_versions(parent.id):
        if (m.parent_id == parent.id and m.status == "candidate"
                and list(m.lineage) == lineage
                and all(m.params.get(k) == v for k, v in options.items())):
            return m
    return None


def _ancestry(store: Store, model: ModelRecord) -> list[ModelRecord]:
    return store.model_lineage(model.id) if model.parent_id is not None else []


def _paired(store: Store, actor: Actor, run: AuditRunRecord, parent: ModelRecord, model: Any,
            excluded: list[int], features: list[str], n_boot: int) -> pd.DataFrame:
    dataset = store.get_dataset(run.dataset_id)
    assert dataset is not None  # checked by _plan
    old = decisions_for(store, actor, dataset, parent, exclude_rows=excluded)
    frame = old.frame.assign(before=old.frame[old.y_pred].astype(np.int8),
                             after=predict_retrained(model, old.frame).to_numpy())
    tables = []
    seed = int(run.config.get("random_state", 0))
    for i, feature in enumerate(features):
        table = compare_models(frame, y_true=old.y_true, before="before", after="after",
                               sensitive_feature=feature, n_boot=n_boot,
                               random_state=seed).table
        if i:
            table = table[table["metric"] != "accuracy"]
        tables.append(table.assign(sensitive_feature=feature))
    out = pd.concat(tables, ignore_index=True)
    out.loc[out["metric"] == "accuracy", "sensitive_feature"] = None
    return out[list(COMPARISON_COLUMNS)]


def _record(store: Store, actor: Actor, run: AuditRunRecord, parent: ModelRecord, model: Any,
            plan: _Plan, comparison: pd.DataFrame, options: dict[str, Any]) -> ModelRecord:
    folder = data_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(suffix=".skops", dir=folder)
    os.close(handle)
    sha = save_model(model.pipeline, temp)
    path = folder / f"model-{parent.id}-retrained-{sha[:16]}.skops"
    os.replace(temp, path)
    thresholds = model.thresholds
    params = {**parent.params, "retrained_from": parent.id, "thresholds": thresholds,
              **options}
    accuracy = comparison[comparison["metric"] == "accuracy"].iloc[0]
    records = [{k: json_safe(v) for k, v in row.items()}
               for row in comparison.to_dict("records")]
    metrics = {"accuracy_before": float(accuracy["before"]),
               "accuracy_after": float(accuracy["after"]), "n_train": len(plan.train_rows),
               "n_reviewed": len(plan.lineage),
               "n_changed": sum(bool(e["changed"]) for e in plan.lineage),
               "n_evaluated": plan.n_evaluated,
               "thresholds_sha256": hashlib.sha256(canonical_json(thresholds).encode())
               .hexdigest() if thresholds else None,
               "paired_comparison": records}
    split = {**parent.split, **plan.split, "n_train": len(plan.train_rows),
             "excluded_held_out_rows": plan.excluded}
    return store.record_model(actor, dataset_id=parent.dataset_id, kind=parent.kind,
                              sha256=sha, path=str(path), params=params, metrics=metrics,
                              feature_names=list(parent.feature_names), split=split,
                              parent_id=parent.id, source_audit_run_id=run.id,
                              lineage=plan.lineage)


def _reaudits(store: Store, actor: Actor, run: AuditRunRecord, parent: ModelRecord,
              candidate: ModelRecord, excluded: list[int], n_boot: int,
              report: Progress) -> tuple[AuditRunRecord, AuditRunRecord]:
    dataset = store.get_dataset(run.dataset_id)
    assert dataset is not None  # the run exists, so does its dataset
    c = run.config
    options: dict[str, Any] = {"sensitive_features": c.get("sensitive_features"),
               "intersections": bool(c.get("intersections", True)),
               "reference": c.get("reference"), "tau": float(c.get("tau", 0.8)),
               "n_boot": n_boot, "random_state": int(c.get("random_state", 0)),
               "min_n": int(c.get("min_n", 30)), "exclude_rows": excluded}
    before = run_fairness_audit(store, actor, dataset, parent, **options,
                                progress=lambda f, m: report(0.5 + 0.25 * f,
                                                             f"Re-auditing the old model: {m}"))
    after = run_fairness_audit(store, actor, dataset, candidate, **options,
                               progress=lambda f, m: report(0.75 + 0.25 * f,
                                                            f"Auditing the new model: {m}"))
    return before, after
