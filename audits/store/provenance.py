"""Provenance: data sets, models and audit runs, each change logged with what changed."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry, canonical_json
from audits.store.records import (
    AuditRunRecord,
    DatasetRecord,
    ModelRecord,
    audit_run_record,
    dataset_record,
    model_record,
)
from audits.store.tables import AuditRun, Dataset, Model, utcnow
from audits.store.validation import (
    check_actor,
    check_count,
    check_id,
    check_json_object,
    check_names,
    check_sha256,
    check_text,
)

__all__ = ["ProvenanceOps"]

FINAL_STATUSES = ("completed", "failed")
T = TypeVar("T")

MSG_UNKNOWN_DATASET = "no dataset with id {id}"
MSG_UNKNOWN_MODEL = "no model with id {id}"
MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_MODEL_DATASET = "model {model_id} belongs to dataset {actual}, not to dataset {dataset_id}"
MSG_RUN_FINISHED = "audit run {id} is already {status}; a finished run cannot change"
MSG_RUN_NOT_CREATED = "audit run {id} is {status}; only a 'created' run can start"
MSG_BAD_FINAL_STATUS = "status must be one of {choices}; got {status!r}"
MSG_RESULTS_REQUIRED = "results are required when status is 'completed'"
MSG_PARENT_DATASET = (
    "parent model {id} belongs to dataset {actual}; a retrained model must belong to the "
    "same dataset, not to dataset {dataset_id}"
)
MSG_BAD_LINEAGE = "lineage must be a list of JSON objects (one per changed label); got {type}"
MSG_LINEAGE_WITHOUT_PARENT = (
    "lineage is only recorded for a retrained model: pass parent_id with it"
)


class ProvenanceOps(StoreBase):
    """The data set, model and audit-run methods of :class:`~audits.store.Store`."""

    def record_dataset(
        self,
        actor: Actor,
        *,
        name: str,
        source: str,
        sha256: str,
        n_rows: int,
        roles: dict[str, Any],
        card: str,
    ) -> DatasetRecord:
        """Register a data set (requires "register a dataset"); idempotent on (name, sha256).

        Registering the same name and content again returns the existing record and
        writes no log entry.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     ds = store.record_dataset(Actor.system(), name="adult", source="bundled",
        ...                               sha256="ab" * 32, n_rows=48842,
        ...                               roles={"target": "income"}, card="# Adult")
        ...     ds.id, store.log_entries(newest_first=False)[0].payload["n_rows"]
        (1, 48842)
        """
        require_role(check_actor(actor), "register a dataset")
        values = {
            "name": check_text(name, "name", 200),
            "source": check_text(source, "source", 1000),
            "sha256": check_sha256(sha256),
            "n_rows": check_count(n_rows, "n_rows"),
        }
        roles_json = check_json_object(roles, "roles")
        card = check_text(card, "card", None, empty=True)
        with self._write() as (session, head):
            query = select(Dataset).filter_by(name=values["name"], sha256=values["sha256"])
            existing = session.scalar(query)
            if existing is not None:
                return dataset_record(existing)
            row = Dataset(**values, roles_json=roles_json, card=card, created_at=utcnow(),
                          created_by=actor.username)
            session.add(row)
            session.flush()
            append_entry(session, head, actor=actor.username, action="record_dataset",
                         entity="dataset", entity_id=row.id, payload=values)
            return dataset_record(row)

    def record_model(
        self,
        actor: Actor,
        *,
        dataset_id: int,
        kind: str,
        sha256: str,
        path: str,
        params: dict[str, Any],
        metrics: dict[str, Any],
        feature_names: list[str],
        split: dict[str, Any],
        parent_id: int | None = None,
        source_audit_run_id: int | None = None,
        lineage: list[dict[str, Any]] | None = None,
    ) -> ModelRecord:
        """Register a model (requires "register a model"); idempotent on ``sha256``.

        Without ``parent_id`` the model is ``"deployed"``. With it, the model is a
        ``"candidate"`` retrained from that parent (of the same data set) and stays one
        until a person approves it (:meth:`~audits.store.Store.approve_model`). The log
        entry records ``n_lineage_entries`` and the sha256 of the lineage's canonical JSON.

        Parameters
        ----------
        parent_id : int or None, default None
            The model this one was retrained from.
        source_audit_run_id : int or None, default None
            The audit run whose reviews corrected the labels.
        lineage : list of dict or None, default None
            One JSON object per changed label (e.g. ``row``, ``old_label``,
            ``new_label``, ``case_id``); only with ``parent_id``.

        Raises
        ------
        LookupError
            No data set, parent model or audit run with the given id.
        ValueError
            The parent belongs to another data set, or ``lineage`` is not a list of JSON
            objects (the message names the bad item) or is given without a parent.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     ds = store.record_dataset(Actor.system(), name="adult", source="bundled",
        ...                               sha256="ab" * 32, n_rows=10, roles={}, card="")
        ...     m = store.record_model(Actor.system(), dataset_id=ds.id, kind="lr",
        ...                            sha256="cd" * 32, path="models/lr.skops", params={},
        ...                            metrics={"accuracy": 0.85}, feature_names=["age"],
        ...                            split={"test_size": 0.3})
        ...     m.feature_names
        ('age',)
        """
        require_role(check_actor(actor), "register a model")
        dataset = check_id(dataset_id, "dataset_id")
        values = {
            "dataset_id": dataset,
            "kind": check_text(kind, "kind", 64),
            "sha256": check_sha256(sha256),
            "path": check_text(path, "path", 1000),
        }
        params_json = check_json_object(params, "params")
        metrics_json = check_json_object(metrics, "metrics")
        names = check_names(feature_names, "feature_names")
        split_json = check_json_object(split, "split")
        version = _version_values(parent_id, source_audit_run_id, lineage)
        with self._write() as (session, head):
            existing = session.scalar(select(Model).filter_by(sha256=values["sha256"]))
            if existing is not None:
                return model_record(existing)
            _get(session, Dataset, dataset, MSG_UNKNOWN_DATASET)
            _check_version_links(session, dataset, version)
            row = Model(**values, params_json=params_json, metrics_json=metrics_json,
                        feature_names_json=names, split_json=split_json, created_at=utcnow(),
                        created_by=actor.username, **version)
            session.add(row)
            session.flush()
            lineage_json = version["lineage_json"]
            payload = {**values, "n_features": len(names), "metrics": metrics_json,
                       "parent_id": version["parent_id"], "status": version["status"],
                       "source_audit_run_id": version["source_audit_run_id"],
                       "n_lineage_entries": len(lineage_json or []),
                       "lineage_sha256": _digest(lineage_json)}
            append_entry(session, head, actor=actor.username, action="record_model",
                         entity="model", entity_id=row.id, payload=payload)
            return model_record(row)

    def create_audit_run(
        self, actor: Actor, *, dataset_id: int, model_id: int | None, config: dict[str, Any]
    ) -> AuditRunRecord:
        """Start the record of an audit (requires "run an audit"); status ``"created"``.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     ds = store.record_dataset(Actor.system(), name="adult", source="bundled",
        ...                               sha256="ab" * 32, n_rows=10, roles={}, card="")
        ...     store.create_audit_run(Actor.system(), dataset_id=ds.id, model_id=None,
        ...                            config={"tau": 0.8}).status
        'created'
        """
        require_role(check_actor(actor), "run an audit")
        dataset_id = check_id(dataset_id, "dataset_id")
        model = None if model_id is None else check_id(model_id, "model_id")
        config_json = check_json_object(config, "config")
        with self._write() as (session, head):
            _get(session, Dataset, dataset_id, MSG_UNKNOWN_DATASET)
            if model is not None:
                actual = _get(session, Model, model, MSG_UNKNOWN_MODEL).dataset_id
                if actual != dataset_id:
                    ids = {"model_id": model, "dataset_id": dataset_id}
                    raise ValueError(MSG_MODEL_DATASET.format(**ids, actual=actual))
            now = utcnow()
            row = AuditRun(dataset_id=dataset_id, model_id=model, config_json=config_json,
                           results_json=None, status="created", created_by=actor.username,
                           created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            payload = {"dataset_id": dataset_id, "model_id": model, "config": config_json}
            append_entry(session, head, actor=actor.username, action="create_audit_run",
                         entity="audit_run", entity_id=row.id, payload=payload)
            return audit_run_record(row)

    def start_audit_run(self, actor: Actor, run_id: int) -> AuditRunRecord:
        """Mark a ``"created"`` run as ``"running"`` (requires "run an audit").

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     ds = store.record_dataset(Actor.system(), name="adult", source="bundled",
        ...                               sha256="ab" * 32, n_rows=10, roles={}, card="")
        ...     run = store.create_audit_run(Actor.system(), dataset_id=ds.id, model_id=None,
        ...                                  config={})
        ...     store.start_audit_run(Actor.system(), run.id).status
        'running'
        """
        require_role(check_actor(actor), "run an audit")
        run_id = check_id(run_id, "run_id")
        with self._write() as (session, head):
            row = _get(session, AuditRun, run_id, MSG_UNKNOWN_RUN)
            if row.status != "created":
                raise ValueError(MSG_RUN_NOT_CREATED.format(id=run_id, status=row.status))
            row.status, row.updated_at = "running", utcnow()
            append_entry(session, head, actor=actor.username, action="start_audit_run",
                         entity="audit_run", entity_id=run_id,
                         payload={"status": "running", "previous_status": "created"})
            return audit_run_record(row)

    def finish_audit_run(
        self,
        actor: Actor,
        run_id: int,
        *,
        results: dict[str, Any] | None,
        status: str = "completed",
    ) -> AuditRunRecord:
        """Store a run's results and final status (requires "run an audit").

        The log entry records the sha256 of the canonical JSON of ``results``, so a
        report can prove its numbers are the ones stored.

        Raises
        ------
        LookupError
            When no run has id ``run_id``.
        ValueError
            When the run is already completed or failed, or the status is not final.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     ds = store.record_dataset(Actor.system(), name="adult", source="bundled",
        ...                               sha256="ab" * 32, n_rows=10, roles={}, card="")
        ...     run = store.create_audit_run(Actor.system(), dataset_id=ds.id, model_id=None,
        ...                                  config={})
        ...     done = store.finish_audit_run(Actor.system(), run.id, results={"dp": 0.1})
        ...     done.status, done.results
        ('completed', {'dp': 0.1})
        """
        require_role(check_actor(actor), "run an audit")
        run_id = check_id(run_id, "run_id")
        if status not in FINAL_STATUSES:
            raise ValueError(MSG_BAD_FINAL_STATUS.format(choices=FINAL_STATUSES, status=status))
        if results is None and status == "completed":
            raise ValueError(MSG_RESULTS_REQUIRED)
        results_json = None if results is None else check_json_object(results, "results")
        with self._write() as (session, head):
            row = _get(session, AuditRun, run_id, MSG_UNKNOWN_RUN)
            if row.status in FINAL_STATUSES:
                raise ValueError(MSG_RUN_FINISHED.format(id=run_id, status=row.status))
            previous = row.status
            row.results_json, row.status, row.updated_at = results_json, status, utcnow()
            payload = {"status": status, "previous_status": previous,
                       "results_sha256": _digest(results_json)}
            append_entry(session, head, actor=actor.username, action="finish_audit_run",
                         entity="audit_run", entity_id=run_id, payload=payload)
            return audit_run_record(row)

    def get_dataset(self, dataset_id: int) -> DatasetRecord | None:
        """Return the data set with this id, or None."""
        with self._read() as session:
            row = session.get(Dataset, dataset_id)
            return None if row is None else dataset_record(row)

    def list_datasets(self) -> list[DatasetRecord]:
        """Return every data set, oldest first."""
        with self._read() as session:
            rows = session.scalars(select(Dataset).order_by(Dataset.id))
            return [dataset_record(r) for r in rows]

    def get_model(self, model_id: int) -> ModelRecord | None:
        """Return the model with this id, or None."""
        with self._read() as session:
            row = session.get(Model, model_id)
            return None if row is None else model_record(row)

    def list_models(self, dataset_id: int | None = None) -> list[ModelRecord]:
        """Return every model (of one data set when ``dataset_id`` is given), oldest first."""
        query = select(Model).order_by(Model.id)
        if dataset_id is not None:
            query = query.where(Model.dataset_id == dataset_id)
        with self._read() as session:
            return [model_record(r) for r in session.scalars(query)]

    def get_audit_run(self, run_id: int) -> AuditRunRecord | None:
        """Return the audit run with this id, or None."""
        with self._read() as session:
            row = session.get(AuditRun, run_id)
            return None if row is None else audit_run_record(row)

    def list_audit_runs(self) -> list[AuditRunRecord]:
        """Return every audit run, oldest first."""
        with self._read() as session:
            rows = session.scalars(select(AuditRun).order_by(AuditRun.id))
            return [audit_run_record(r) for r in rows]

    def latest_audit_run(self) -> AuditRunRecord | None:
        """Return the most recently created audit run, or None."""
        with self._read() as session:
            row = session.scalar(select(AuditRun).order_by(AuditRun.id.desc()).limit(1))
            return None if row is None else audit_run_record(row)


def _get(session: Session, table: type[T], key: int, message: str) -> T:
    row = session.get(table, key)
    if row is None:
        raise LookupError(message.format(id=key))
    return row


def _version_values(parent_id: int | None, run_id: int | None,
                    lineage: list[dict[str, Any]] | None) -> dict[str, Any]:
    parent = None if parent_id is None else check_id(parent_id, "parent_id")
    run = None if run_id is None else check_id(run_id, "source_audit_run_id")
    if parent is None and lineage:
        raise ValueError(MSG_LINEAGE_WITHOUT_PARENT)
    lineage_json = None if parent is None else _check_lineage(lineage)
    return {"parent_id": parent, "status": "deployed" if parent is None else "candidate",
            "source_audit_run_id": run, "lineage_json": lineage_json}


def _check_lineage(lineage: object) -> list[dict[str, Any]]:
    if lineage is None:
        return []
    if not isinstance(lineage, list | tuple):
        raise ValueError(MSG_BAD_LINEAGE.format(type=type(lineage).__name__))
    return [check_json_object(item, f"lineage[{i}]") for i, item in enumerate(lineage)]


def _check_version_links(session: Session, dataset_id: int, version: dict[str, Any]) -> None:
    if version["parent_id"] is not None:
        parent = _get(session, Model, version["parent_id"], MSG_UNKNOWN_MODEL)
        if parent.dataset_id != dataset_id:
            raise ValueError(MSG_PARENT_DATASET.format(
                id=parent.id, actual=parent.dataset_id, dataset_id=dataset_id))
    if version["source_audit_run_id"] is not None:
        _get(session, AuditRun, version["source_audit_run_id"], MSG_UNKNOWN_RUN)


def _digest(value: dict[str, Any] | list[Any] | None) -> str | None:
    if value is None:
        return None
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
