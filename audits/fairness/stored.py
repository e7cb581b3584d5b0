"""Audit runs from stored inputs: rebuild the decisions, audit once, store the result.

A page or a command asks for a fairness audit of a registered dataset (and model) with
some options; :func:`run_fairness_audit` returns the stored run when the same data,
model and options were audited before, and otherwise computes it and stores it, so a
result is computed once per (data hash, configuration) and never in a page render.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.data.datasets import BUNDLED, LoadedDataset
from audits.fairness.audit import audit_counts, audit_fairness
from audits.fairness.count_types import GroupCounts
from audits.fairness.result import FairnessAudit
from audits.fairness.thresholds import threshold_curves
from audits.fairness.verdicts import ratio_rule
from audits.models.files import file_sha256, load_model
from audits.models.group_thresholds import apply_thresholds
from audits.models.training import predict_decisions, split_rows
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store
from audits.systems.in_place import InPlace, count_in_place, in_place_source
from audits.systems.registry import load_version
from audits.versions import library_versions

__all__ = ["AUDIT_KIND", "Decisions", "chosen_sensitive_features", "columnar",
           "completed_fairness_run", "config_key", "counts_sha256", "decisions_for", "favourable",
           "in_place_audit", "json_safe", "latest_run_of", "registered_data", "registered_model",
           "reused_or_recorded", "run_fairness_audit", "stored_or_computed"]

AUDIT_KIND = "fairness"
#: Metrics tabulated against the decision threshold (what a threshold slider shows).
THRESHOLD_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate",
                     "precision")
MSG_DATA_CHANGED = (
    "dataset {name!r} no longer matches what was registered (stored sha256 {stored}, "
    "now {now}); register it again before auditing"
)
MSG_MODEL_CHANGED = "model file {path} does not match the registered sha256 {sha}"
MSG_EXCLUDE = "exclude_rows {rows} lie outside the {n} decisions (positions 0 to n - 1)"
MSG_IN_PLACE_MODEL = ("version {version} of {name!r} stays in its database: audit its "
                      "logged decisions, without a model")
MSG_IN_PLACE_CHANGED = ("the decisions {source} changed since run #{run} counted them; "
                        "audit them again")
MSG_NO_RUN = "no audit run with id {id}"
MSG_NOT_FAIRNESS = ("audit run {id} is not a completed fairness audit (kind {kind!r}, status "
                    "{status}); {purpose}")
MSG_SENSITIVE = "sensitive feature {column!r} is not one of the dataset's: {choices}"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Decisions:
    """The decisions an audit reads, rebuilt from stored provenance."""

    frame: pd.DataFrame
    y_true: str
    y_pred: str
    y_score: str | None
    sensitive_features: tuple[str, ...]
    source: str


def decisions_for(store: Store, actor: Actor, dataset: DatasetRecord,
                  model: ModelRecord | None, *, exclude_rows: Sequence[int] = ()) -> Decisions:
    """Rebuild the audited decisions of a registered dataset (and model).

    With a model trained here: its held-out rows (the stored split), scored by the stored
    model file, whose sha256 is checked first; a model retrained under a fairness
    constraint decides by its stored group rules (``params["thresholds"]``,
    :mod:`audits.models.group_thresholds`). With an uploaded model (a split without
    ``test_size``): every row of the version, scored by the model. Without a model: the
    dataset's logged decisions. ``exclude_rows`` drops rows by position in those
    decisions (the rows reviewers labelled for a retraining, which the retrained model
    saw), and the index is renumbered.

    Raises
    ------
    ValueError
        The data or the model file changed since registration, or the dataset has no
        logged decisions and no model is given.
    SensitiveDataPurged
        The version's sensitive data were purged.
    """
    loaded = registered_data(store, actor, dataset)
    roles = loaded.roles
    if model is None:
        if roles.prediction is None:
            raise ValueError(f"dataset {dataset.name!r} has no logged decisions; "
                             "audit it with a model")
        return Decisions(_without(loaded.frame, exclude_rows), roles.target, roles.prediction,
                         roles.score, roles.sensitive_features,
                         _source("logged decisions", exclude_rows))
    pipeline = registered_model(model)
    if "test_size" in model.split:
        _, test_rows = split_rows(loaded.frame[roles.target].to_numpy(), target=roles.target,
                                  test_size=float(model.split["test_size"]),
                                  random_state=int(model.split["random_state"]))
        rows = loaded.frame.iloc[test_rows].reset_index(drop=True)
        source = f"held-out decisions of model #{model.id} ({model.kind})"
    else:
        rows = loaded.frame
        source = f"every decision of the version, scored by model #{model.id} ({model.kind})"
    held_out = _without(rows, exclude_rows)
    scored = predict_decisions(pipeline, held_out,
                               features=list(model.feature_names),
                               threshold=float(model.params.get("threshold", 0.5)))
    y_pred = scored["y_pred"].to_numpy()
    rules = model.params.get("thresholds")
    if rules:
        y_pred = apply_thresholds(scored["y_score"].to_numpy(),
                                  held_out[str(model.params["sensitive_feature"])], rules,
                                  random_state=int(model.params.get("random_state", 0)))
    frame = held_out.assign(y_score=scored["y_score"].to_numpy(), y_pred=y_pred)
    return Decisions(frame, roles.target, "y_pred", "y_score", roles.sensitive_features,
                     _source(source, exclude_rows))


def registered_model(model: ModelRecord) -> Any:
    """Load a registered model's file (skops allow-list), checked against its sha256.

    Raises
    ------
    ValueError
        The file no longer matches the registered sha256 (:data:`MSG_MODEL_CHANGED`).
    """
    if file_sha256(model.path) != model.sha256:
        raise ValueError(MSG_MODEL_CHANGED.format(path=model.path, sha=model.sha256))
    return load_model(model.path)


def registered_data(store: Store, actor: Actor, dataset: DatasetRecord) -> LoadedDataset:
    """Load a registered dataset's data, checked against its stored sha256.

    See :func:`audits.systems.registry.load_version`: the version's Parquet copy, its
    sensitive data joined (through the store's permission check), the target binarised.

    Raises
    ------
    ValueError
        The stored data changed since registration (:data:`MSG_DATA_CHANGED`), or a
        data set registered before systems cannot be re-read.
    SensitiveDataPurged
        The version's sensitive data were purged.
    """
    loaded = load_version(store, actor, dataset)
    if loaded.sha256 != dataset.sha256:
        raise ValueError(MSG_DATA_CHANGED.format(name=dataset.name, stored=dataset.sha256,
                                                 now=loaded.sha256))
    return loaded


def _without(frame: pd.DataFrame, rows: Sequence[int]) -> pd.DataFrame:
    if len(rows) == 0:
        return frame
    bad = [r for r in rows if not 0 <= int(r) < len(frame)]
    if bad:
        raise ValueError(MSG_EXCLUDE.format(rows=bad[:5], n=len(frame)))
    keep = np.ones(len(frame), dtype=bool)
    keep[np.asarray(rows, dtype=np.intp)] = False
    return frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def _source(source: str, excluded: Sequence[int]) -> str:
    n = len({int(r) for r in excluded})
    return f"{source}, without {n} reviewed rows" if n else source


def run_fairness_audit(
    store: Store,
    actor: Actor,
    dataset: DatasetRecord,
    model: ModelRecord | None,
    *,
    sensitive_features: Sequence[str] | None = None,
    intersections: bool = True,
    reference: str | dict[str, str] | None = None,
    tau: float = 0.8,
    n_boot: int = 1000,
    random_state: int = 0,
    min_n: int = 30,
    exclude_rows: Sequence[int] = (),
    metrics: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> AuditRunRecord:
    """Return the stored fairness audit for these inputs, computing it only if new.

    ``metrics`` limits the audit to those metrics (default: every one the decisions
    allow). The options, the dataset's and model's sha256 and the library versions form
    the run's configuration; its sha256 is the key a later request is matched on.
    Permission to run an audit is checked by the store (data scientists and admins).

    Returns
    -------
    AuditRunRecord
        A completed run whose ``results`` hold the audit's JSON contract plus
        ``aggregation`` (``{"backend", "source", "queries"}``: where the counts were
        made, and the exact SQL when a database made them) and
        ``threshold_curves`` (column-wise lists: group_id, slice, group_label, threshold,
        metric, value, reference_id, difference) when the decisions have scores.
    """
    report = progress or (lambda fraction, message: None)
    chosen = chosen_sensitive_features(dataset, sensitive_features)
    options: dict[str, Any] = {"kind": AUDIT_KIND, "dataset_sha256": dataset.sha256,
               "model_sha256": model.sha256 if model else None,
               "sensitive_features": chosen, "intersections": intersections,
               "reference": reference, "rule": f"ratio within [{tau}, {1 / tau:.4g}]",
               "favourable": favourable(store, dataset),
               "tau": tau, "n_boot": n_boot, "random_state": random_state, "min_n": min_n}
    if dataset.sensitive is not None:  # only when set, so earlier runs' keys still match
        options["sensitive_sha256"] = dataset.sensitive["sha256"]
    if len(exclude_rows):  # only when set, so the keys of earlier runs still match
        options["exclude_rows"] = sorted({int(r) for r in exclude_rows})
    if metrics is not None:  # only when set (a conversation system's selection rate)
        options["metrics"] = list(metrics)
    place = in_place_source(dataset)
    if place is not None:
        return _in_place_run(store, actor, dataset, place, model, options, chosen, report)
    return stored_or_computed(store, actor, dataset, model, options,
                              lambda decisions: _compute(decisions, chosen, options, report),
                              report=report)


def _in_place_run(store: Store, actor: Actor, dataset: DatasetRecord, place: InPlace,
                  model: ModelRecord | None, options: dict[str, Any], chosen: list[str],
                  report: Progress) -> AuditRunRecord:
    """Audit a version kept in its database: counted there, now; a stored run is reused
    only while the counts it read are the same (their fingerprint is in its key)."""
    if model is not None:
        raise ValueError(MSG_IN_PLACE_MODEL.format(version=dataset.version, name=dataset.name))
    require_role(actor, "run an audit")
    report(0.02, f"Counting {place.describe()} where it lives")
    counts, aggregation = count_in_place(dataset, sensitive_features=chosen,
                                         intersections=bool(options["intersections"]))
    options = {**options, "counts_sha256": counts_sha256(counts)}
    roles = dict(dataset.roles)
    return reused_or_recorded(
        store, actor, dataset, None, options,
        source=f"every decision in {place.describe()}, counted where they live",
        compute=lambda: _stored_results(_audit_of_counts(counts, roles, options, report),
                                        aggregation.to_dict(),
                                        roles.get("score") is not None, options, report),
        report=report)


def latest_run_of(store: Store, kind: str, audit_run_id: int) -> AuditRunRecord | None:
    """The newest completed run of ``kind`` kept for a fairness audit (its ``config``
    names the audit as ``audit_run_id``: a slice discovery, a conversation system's
    findings), or None."""
    found = [r for r in store.list_audit_runs()
             if r.status == "completed" and r.results
             and (r.config or {}).get("kind") == kind
             and r.config.get("audit_run_id") == audit_run_id]
    return max(found, key=lambda r: r.id) if found else None


def reused_or_recorded(store: Store, actor: Actor, dataset: DatasetRecord,
                       model: ModelRecord | None, options: dict[str, Any], *, source: str,
                       compute: Callable[[], dict[str, Any]], report: Progress
                       ) -> AuditRunRecord:
    """Return the completed run stored for ``options``, or store a new one whose results
    ``compute`` returns, for work that needs no decisions rebuilt (counted where the
    data lives; ``options`` then hold a fingerprint of the counts, so a changed table is
    worked on again). ``source`` says in words where the decisions were.
    """
    key = config_key(options)
    reused = _reused(store, key, report)
    if reused is not None:
        return reused
    return _recorded_run(store, actor, dataset, model, options, key, source, compute)


def _audit_of_counts(counts: GroupCounts, roles: dict[str, Any], options: dict[str, Any],
                     report: Progress) -> FairnessAudit:
    prediction = roles["mapping"].get("prediction")
    return audit_counts(
        counts, y_true=str(roles["target"]), y_pred=prediction, y_score=roles.get("score"),
        threshold=None if prediction else roles.get("threshold"),
        reference=options["reference"], rules=[ratio_rule(float(options["tau"]))],
        n_boot=int(options["n_boot"]), random_state=int(options["random_state"]),
        min_n=int(options["min_n"]), positive_is_favourable=bool(options["favourable"]),
        progress=lambda f, m: report(0.3 + 0.6 * f, m))


def in_place_audit(dataset: DatasetRecord, run: AuditRunRecord) -> FairnessAudit:
    """The stored run of a version kept in place, as an audit object (what a CI gate
    reads): counted again where it lives, and refused if the counts changed since.

    Raises
    ------
    ValueError
        The data changed since the run (:data:`MSG_IN_PLACE_CHANGED`).
    """
    config = dict(run.config or {})
    counts, _ = count_in_place(dataset, sensitive_features=list(config["sensitive_features"]),
                               intersections=bool(config["intersections"]))
    if counts_sha256(counts) != config.get("counts_sha256"):
        raise ValueError(MSG_IN_PLACE_CHANGED.format(run=run.id, source=dataset.source))
    return _audit_of_counts(counts, dict(dataset.roles), config, lambda f, m: None)


def counts_sha256(counts: GroupCounts) -> str:
    """The sha256 of what an audit read: every group's confusion cells and score counts.

    Two passes over unchanged data give the same fingerprint (score sums, which a
    database may add in another order, are left out).
    """
    digest = hashlib.sha256(counts.groups.to_csv(index=False).encode())
    if counts.scores is not None:
        digest.update(np.ascontiguousarray(counts.scores.counts, dtype=np.int64).tobytes())
    return digest.hexdigest()


def favourable(store: Store, dataset: DatasetRecord) -> bool:
    """Whether a positive decision is good for the person, from the dataset's system.

    Data sets registered before systems fall back on the bundled registry (True for
    any other).
    """
    system = store.system_of(dataset.id)
    if system is not None:
        return system.positive_is_favourable
    info = BUNDLED.get(dataset.name)
    return info.positive_is_favourable if info is not None else True


def chosen_sensitive_features(dataset: DatasetRecord,
                              sensitive_features: Sequence[str] | None) -> list[str]:
    """Return the requested sensitive features (all of the dataset's by default).

    Raises
    ------
    ValueError
        A feature that is not one of the dataset's sensitive features (:data:`MSG_SENSITIVE`).
    """
    allowed = list(dict(dataset.roles).get("sensitive_features", []))
    chosen = list(sensitive_features or allowed)
    for column in chosen:
        if column not in allowed:
            raise ValueError(MSG_SENSITIVE.format(column=column, choices=", ".join(allowed)))
    return chosen


def stored_or_computed(
    store: Store,
    actor: Actor,
    dataset: DatasetRecord,
    model: ModelRecord | None,
    options: dict[str, Any],
    compute: Callable[[Decisions], dict[str, Any]],
    *,
    report: Progress,
) -> AuditRunRecord:
    """Return the completed run stored for ``options``, or compute, store and return it.

    The run's configuration is ``options`` plus its sha256 (the key a later request is
    matched on), the decisions' source and the library versions. A computation that
    raises leaves the run stored as ``failed`` with the error, and re-raises.
    """
    key = config_key(options)
    if dataset.sensitive is not None:  # purged sensitive data: no audit, not even a reused one
        store.sensitive_path(actor, dataset.id)
    reused = _reused(store, key, report)
    if reused is not None:
        return reused
    report(0.02, "Rebuilding the decisions from stored provenance")
    decisions = decisions_for(store, actor, dataset, model,
                              exclude_rows=options.get("exclude_rows", ()))
    return _recorded_run(store, actor, dataset, model, options, key, decisions.source,
                         lambda: compute(decisions))


def _recorded_run(store: Store, actor: Actor, dataset: DatasetRecord,
                  model: ModelRecord | None, options: dict[str, Any], key: str, source: str,
                  compute: Callable[[], dict[str, Any]]) -> AuditRunRecord:
    """Create the run (its configuration: ``options``, ``key``, the decisions' source and
    the library versions), compute its results and finish it; a computation that raises
    leaves the run ``failed`` with the error, and re-raises."""
    run = store.create_audit_run(actor, dataset_id=dataset.id,
                                 model_id=model.id if model else None,
                                 config={**options, "config_sha256": key,
                                         "decisions": source,
                                         "library_versions": library_versions()})
    try:
        results = compute()
    except Exception as error:
        store.finish_audit_run(actor, run.id, results={"error": str(error)}, status="failed")
        raise
    return store.finish_audit_run(actor, run.id, results=results)


def completed_fairness_run(store: Store, audit_run_id: int, *, purpose: str
                           ) -> AuditRunRecord:
    """Return the completed fairness audit run ``audit_run_id``.

    Raises
    ------
    LookupError
        No run has that id (:data:`MSG_NO_RUN`).
    ValueError
        The run is not a completed fairness audit (:data:`MSG_NOT_FAIRNESS`, ending with
        ``purpose``: what the caller needed it for).
    """
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_NO_RUN.format(id=audit_run_id))
    kind = (run.config or {}).get("kind")
    if kind != AUDIT_KIND or run.status != "completed":
        raise ValueError(MSG_NOT_FAIRNESS.format(id=run.id, kind=kind, status=run.status,
                                                 purpose=purpose))
    return run


def _reused(store: Store, key: str, report: Progress) -> AuditRunRecord | None:
    for run in store.list_audit_runs():
        if run.status == "completed" and (run.config or {}).get("config_sha256") == key:
            report(1.0, f"Reusing stored run #{run.id}")
            return run
    return None


def _compute(decisions: Decisions, chosen: list[str], options: dict[str, Any],
             report: Progress) -> dict[str, Any]:
    audit = audit_fairness(
        decisions.frame, y_true=decisions.y_true, y_pred=decisions.y_pred,
        y_score=decisions.y_score, sensitive_features=chosen,
        intersections=bool(options["intersections"]), reference=options["reference"],
        rules=[ratio_rule(float(options["tau"]))],
        n_boot=int(options["n_boot"]), random_state=int(options["random_state"]),
        min_n=int(options["min_n"]), positive_is_favourable=bool(options["favourable"]),
        metrics=options.get("metrics"),
        progress=lambda f, m: report(0.05 + 0.85 * f, m),
    )
    # Where the counts were made (the report states it): in memory here, by pandas.
    return _stored_results(audit, {"backend": "pandas", "source": decisions.source,
                                   "queries": []}, decisions.y_score is not None, options,
                           report)


def _stored_results(audit: FairnessAudit, aggregation: dict[str, Any], scored: bool,
                    options: dict[str, Any], report: Progress) -> dict[str, Any]:
    """A run's results: the audit's JSON, where its counts were made, and (with scores)
    the threshold curves."""
    results = {**audit.to_dict(), "aggregation": aggregation}
    if scored:
        report(0.93, "Threshold curves")
        curves = threshold_curves(audit.counts, reference=options["reference"],
                                  metrics=THRESHOLD_METRICS, max_thresholds=51)
        results["threshold_curves"] = columnar(curves)
    report(1.0, "Audit stored")
    return results


def columnar(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Return a frame as column-wise JSON-safe lists (a tenth of one object per row)."""
    return {str(c): [json_safe(v) for v in frame[c].tolist()] for c in frame.columns}


def json_safe(value: Any) -> Any:
    """Return a NumPy scalar as Python, and NaN or infinity as None (JSON null)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def config_key(options: dict[str, Any]) -> str:
    """Return the sha256 of a run's options as canonical JSON: the key runs are reused on."""
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
