"""Systems and their versions: what is audited, each version a registered data set.

A *system* (a decision system: credit scoring, hiring screening...) has a unique name,
a description, an intended use, an owner and the direction of its decisions
(``positive_is_favourable``). Each *version* is a row of ``datasets`` linked to it,
whose decisions were copied once into the data folder as Parquet
(``data/<sha256>.parquet``, relative to :func:`~audits.store.db.data_dir`), with its
sensitive attributes, when given as a separate file, kept apart in
``sensitive/<sha256>.parquet`` and readable only through :meth:`SystemOps.sensitive_path`
(which checks the "read sensitive data" permission). A compliance officer can purge
them (:meth:`SystemOps.purge_sensitive`): the files are deleted, the versions marked,
and later audits that need them refuse to run with :class:`SensitiveDataPurged`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.db import data_dir
from audits.store.log import append_entry
from audits.store.provenance import MSG_UNKNOWN_DATASET
from audits.store.records import (
    DatasetRecord,
    ModelRecord,
    SystemRecord,
    dataset_record,
    model_record,
    system_record,
)
from audits.store.tables import AuditLog, Dataset, LogHead, Model, System, utcnow
from audits.store.validation import (
    check_actor,
    check_count,
    check_id,
    check_json_object,
    check_names,
    check_sha256,
    check_text,
)

__all__ = [
    "ModelInput",
    "RegisteredVersion",
    "SensitiveDataPurged",
    "SystemInput",
    "SystemOps",
    "VersionInput",
    "check_system_name",
    "live_sensitive",
    "purge_versions",
]

SYSTEM_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
DATA_FOLDER = "data"
SENSITIVE_FOLDER = "sensitive"
#: The fields of :class:`SystemInput` a re-registration may change.
SYSTEM_FIELDS = ("description", "intended_use", "positive_is_favourable", "owner")

MSG_BAD_SYSTEM_NAME = (
    "system name {name!r} is invalid: use 1 to 100 letters, digits or the characters "
    "'-', '_', '.', starting with a letter or digit"
)
MSG_UNKNOWN_SYSTEM = "no system named {name!r}; known systems: {known}"
MSG_NO_VERSIONS = "system {name!r} has no versions"
MSG_NOTHING_TO_EDIT = "give an intended use or a description to change"
MSG_BAD_STORED_PATH = (
    "{field} must be a relative path under '{folder}/' (no absolute path, no '..'); "
    "got {value!r}"
)
MSG_NOT_BOOL = "{field} must be True or False; got {value!r}"
MSG_NOT_INPUT = "{field} must be an audits.store.{kind}; got {type}"
MSG_SENSITIVE_KEY = "sensitive must name its {key!r}; got keys {keys}"
MSG_NOTHING_TO_PURGE = "system {name!r} holds no sensitive data to purge"
MSG_NO_DATA_PATH = ("a version needs data_path (its Parquet copy), unless its roles name "
                    "where its decisions stay (in_place)")
MSG_IN_PLACE_SENSITIVE = "a version kept in place has no sensitive data kept apart"
MSG_SENSITIVE_PURGED = (
    "the sensitive data of system {system!r} (version {version}) were purged on {date} by "
    "{by}: audits that need them cannot run; register the sensitive data again to audit "
    "this system"
)


class SensitiveDataPurged(ValueError):
    """The sensitive data of a system's version were purged and cannot be read.

    Attributes
    ----------
    system : str
    version : int or None
    purged_at : datetime
    purged_by : str
    """

    def __init__(self, system: str, version: int | None, purged_at: datetime,
                 purged_by: str) -> None:
        self.system, self.version = system, version
        self.purged_at, self.purged_by = purged_at, purged_by
        super().__init__(MSG_SENSITIVE_PURGED.format(
            system=system, version=version, date=purged_at.date().isoformat(), by=purged_by))


@dataclass(frozen=True)
class SystemInput:
    """The system a version belongs to: its name and what it is (empty: keep stored)."""

    name: str
    description: str = ""
    intended_use: str = ""
    positive_is_favourable: bool = True
    owner: str = ""


@dataclass(frozen=True)
class VersionInput:
    """A version's data, already copied into the data folder by the caller.

    ``data_path`` is relative to the data folder (``data/<sha256>.parquet``), or None
    for a version whose decisions stay in their database (``roles["in_place"]`` names
    the source);
    ``sensitive`` describes the separate sensitive file (``path`` under
    ``sensitive/``, ``sha256``, ``columns``, ``join`` and the match counts).
    """

    source: str
    sha256: str
    n_rows: int
    roles: dict[str, Any]
    card: str
    card_data: dict[str, Any]
    data_path: str | None
    source_sha256: str | None = None
    sensitive: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelInput:
    """A model file registered with a version (e.g. ``kind="uploaded"``)."""

    kind: str
    sha256: str
    path: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    feature_names: list[str]
    split: dict[str, Any]


@dataclass(frozen=True)
class RegisteredVersion:
    """What :meth:`SystemOps.register_system_version` stored or found.

    ``created`` is True when the call stored a new version or a new model row; False
    when the same content was registered before (nothing written then).
    """

    system: SystemRecord
    dataset: DatasetRecord
    model: ModelRecord | None
    created: bool


def check_system_name(value: object) -> str:
    """Return a valid system name: 1-100 of ``[A-Za-z0-9_.-]``, starting alphanumeric.

    Examples
    --------
    >>> check_system_name("credit-scoring.v2")
    'credit-scoring.v2'
    """
    if not isinstance(value, str):
        raise TypeError(MSG_NOT_INPUT.format(field="system name", kind="str",
                                             type=type(value).__name__))
    if SYSTEM_NAME_PATTERN.fullmatch(value) is None:
        raise ValueError(MSG_BAD_SYSTEM_NAME.format(name=value))
    return value


class SystemOps(StoreBase):
    """The system and version methods of :class:`~audits.store.Store`."""

    def register_system_version(
        self,
        actor: Actor,
        system: SystemInput,
        version: VersionInput,
        model: ModelInput | None = None,
    ) -> RegisteredVersion:
        """Register a version of a system, creating the system if new (one transaction).

        Requires "register a dataset" (and "register a model" when ``model`` is given).
        The version is new (number: the system's highest plus one) unless the system
        already has a version with the same data sha256, the same sensitive sha256 (and
        its sensitive data not purged) and the same column roles: that one is returned
        with ``created=False`` and nothing is written. Changed non-empty metadata of an
        existing system are updated and logged (``update_system``). Log entries:
        ``register_system``, ``record_dataset``, ``record_model``. On any error nothing
        is stored.

        Parameters
        ----------
        actor : Actor
        system : SystemInput
        version : VersionInput
        model : ModelInput or None, default None
            Stored as a model of the version; idempotent on its sha256 for that version.

        Returns
        -------
        RegisteredVersion

        Raises
        ------
        PermissionDenied, ValueError, TypeError
            A role without the permissions, or an invalid input (the message names it).

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     made = store.register_system_version(
        ...         Actor.system(), SystemInput("credit"),
        ...         VersionInput(source="loans.csv", sha256="ab" * 32, n_rows=3, roles={},
        ...                      card="", card_data={}, data_path="data/" + "ab" * 32))
        ...     made.dataset.version, made.created
        (1, True)
        """
        require_role(check_actor(actor), "register a dataset")
        if model is not None:
            require_role(actor, "register a model")
        meta = _system_values(system)
        values = _version_values(version)
        model_values = None if model is None else _model_values(model)
        with self._write() as (session, head):
            row = session.scalar(select(System).where(System.name == meta["name"]))
            if row is None:
                row = _create_system(session, head, actor, meta)
            else:
                _update_system(session, head, actor, row, meta)
            dataset, created = _find_or_add_version(session, head, actor, row, values)
            made_model = None
            if model_values is not None:
                made_model, new_model = _find_or_add_model(session, head, actor, row,
                                                           dataset, model_values)
                created = created or new_model
            return RegisteredVersion(system_record(row), dataset_record(dataset),
                                     None if made_model is None else model_record(made_model),
                                     created)

    def get_system(self, name: str) -> SystemRecord | None:
        """Return the system named ``name``, or None.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.get_system("credit") is None
        True
        """
        with self._read() as session:
            row = session.scalar(select(System).where(System.name == name))
            return None if row is None else system_record(row)

    def describe_system(self, actor: Actor, name: str, *, intended_use: str | None = None,
                        description: str | None = None) -> SystemRecord:
        """Edit what a system is for and what it is (requires "register a dataset").

        A report returned with "add the intended use" is fixed here, without registering
        a new version. Logged as ``update_system`` with each changed field's old and new
        text; nothing is written when nothing changes.

        Parameters
        ----------
        actor : Actor
            Who edits (a data scientist or an admin, as for registering a system).
        name : str
            The system.
        intended_use : str or None, keyword-only
            The new intended use (not empty); None keeps the stored one.
        description : str or None, keyword-only
            The new description (may be empty); None keeps the stored one.

        Raises
        ------
        LookupError
            No system has this name.
        ValueError, TypeError
            An empty intended use, a text that is not a string.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.register_system_version(Actor.system(), SystemInput("credit"),
        ...         VersionInput(source="s", sha256="a" * 64, n_rows=1, roles={}, card="",
        ...                      card_data={}, data_path="data/a.parquet"))
        ...     store.describe_system(Actor.system(), "credit",
        ...                           intended_use="Pre-screening loans").intended_use
        'Pre-screening loans'
        """
        require_role(check_actor(actor), "register a dataset")
        changes: dict[str, str] = {}
        if intended_use is not None:
            changes["intended_use"] = check_text(intended_use, "intended_use", None)
        if description is not None:
            changes["description"] = check_text(description, "description", None, empty=True)
        if not changes:
            raise ValueError(MSG_NOTHING_TO_EDIT)
        with self._write() as (session, head):
            row = system_row(session, check_system_name(name))
            logged = {field: {"old": getattr(row, field), "new": text}
                      for field, text in changes.items() if getattr(row, field) != text}
            for field, text in changes.items():
                setattr(row, field, text)
            if logged:
                append_entry(session, head, actor=actor.username, action="update_system",
                             entity="system", entity_id=row.id,
                             payload={"system": row.name, "changes": logged})
            return system_record(row)

    def list_systems(self) -> list[SystemRecord]:
        """Return every system, by name."""
        with self._read() as session:
            return [system_record(r) for r in session.scalars(select(System).order_by(System.name))]

    def system_versions(self, name: str) -> list[DatasetRecord]:
        """Return the versions of system ``name``, oldest first.

        Raises
        ------
        LookupError
            No system has this name (the message lists the known ones).
        """
        with self._read() as session:
            row = system_row(session, name)
            return [dataset_record(d) for d in _versions(session, row.id)]

    def latest_version(self, name: str) -> DatasetRecord:
        """Return the newest version of system ``name``.

        Raises
        ------
        LookupError
            No system has this name, or it has no version.
        """
        versions = self.system_versions(name)
        if not versions:
            raise LookupError(MSG_NO_VERSIONS.format(name=name))
        return versions[-1]

    def system_of(self, dataset_id: int) -> SystemRecord | None:
        """Return the system whose version is data set ``dataset_id`` (None if none)."""
        with self._read() as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is None or dataset.system_id is None:
                return None
            return system_record(session.get_one(System, dataset.system_id))

    def sensitive_path(self, actor: Actor, dataset_id: int) -> Path | None:
        """Return the file of a version's separate sensitive data (requires "read
        sensitive data"); None when the version has none.

        Raises
        ------
        PermissionDenied
            The actor's role may not read sensitive data.
        LookupError
            No data set has this id.
        SensitiveDataPurged
            The sensitive data were purged (the message says when and by whom).
        """
        require_role(check_actor(actor), "read sensitive data")
        key = check_id(dataset_id, "dataset_id")
        with self._read() as session:
            row = session.get(Dataset, key)
            if row is None:
                raise LookupError(MSG_UNKNOWN_DATASET.format(id=key))
            record = dataset_record(row)
            system = None if row.system_id is None else session.get_one(System, row.system_id)
        if record.sensitive is None:
            return None
        if record.sensitive_purged_at is not None:
            raise SensitiveDataPurged(record.name if system is None else system.name,
                                      record.version, record.sensitive_purged_at,
                                      record.sensitive_purged_by or "")
        relative = _stored_path(record.sensitive["path"], "sensitive.path", SENSITIVE_FOLDER)
        return data_dir() / relative

    def purge_sensitive(self, actor: Actor, name: str, reason: str) -> list[DatasetRecord]:
        """Delete every sensitive file of system ``name`` and mark its versions purged.

        Requires "purge sensitive data". One log entry ``purge_sensitive`` (system,
        versions, sha256s, reason). A file still used by a version of another system
        that was not purged is kept. A missing file is no error.

        Returns
        -------
        list of DatasetRecord
            The versions purged now, oldest first.

        Raises
        ------
        PermissionDenied, LookupError
            The role may not purge, or no system has this name.
        ValueError
            ``reason`` is empty, or the system holds no sensitive data to purge.
        """
        require_role(check_actor(actor), "purge sensitive data")
        name = check_system_name(name)
        why = check_text(reason, "reason", 2000)
        with self._write() as (session, head):
            row = system_row(session, name)
            live = live_sensitive(session, row.id)
            if not live:
                raise ValueError(MSG_NOTHING_TO_PURGE.format(name=name))
            purge_versions(session, head, actor, row, live, why)
            return [dataset_record(d) for d in live]


def live_sensitive(session: Session, system_id: int) -> list[Dataset]:
    """Return the versions of a system whose sensitive data are held (not purged)."""
    return [d for d in _versions(session, system_id)
            if d.sensitive_json is not None and d.sensitive_purged_at is None]


def purge_versions(session: Session, head: LogHead, actor: Actor, system: System,
                   versions: list[Dataset], reason: str, *,
                   extra: dict[str, Any] | None = None) -> AuditLog:
    """Purge the sensitive data of ``versions`` of ``system`` in the caller's transaction.

    Marks each version purged now by ``actor``, appends one ``purge_sensitive`` entry
    (system, versions, sha256s, reason, and the keys of ``extra``) and deletes the files
    no version still holding its data uses. The caller has checked the role and that
    ``versions`` is not empty. Returns the log entry.
    """
    now = utcnow()
    for dataset in versions:
        dataset.sensitive_purged_at, dataset.sensitive_purged_by = now, actor.username
    session.flush()
    sha256s = sorted({str(d.sensitive_json["sha256"]) for d in versions  # type: ignore[index]
                      })
    payload = {"system": system.name, "versions": [d.version for d in versions],
               "sha256s": sha256s, "reason": reason, **(extra or {})}
    entry = append_entry(session, head, actor=actor.username, action="purge_sensitive",
                         entity="system", entity_id=system.id, payload=payload)
    _unlink_unused(session, {str(d.sensitive_json["path"])  # type: ignore[index]
                             for d in versions})
    return entry


def system_row(session: Session, name: str) -> System:
    """Return the system named ``name`` in ``session``.

    Raises
    ------
    LookupError
        No system has this name (the message lists the known ones).
    """
    row = session.scalar(select(System).where(System.name == name))
    if row is None:
        known = list(session.scalars(select(System.name).order_by(System.name)))
        raise LookupError(MSG_UNKNOWN_SYSTEM.format(name=name,
                                                    known=", ".join(known) or "none"))
    return row


def _versions(session: Session, system_id: int) -> list[Dataset]:
    query = select(Dataset).where(Dataset.system_id == system_id).order_by(Dataset.version)
    return list(session.scalars(query))


def _create_system(session: Session, head: LogHead, actor: Actor,
                   meta: dict[str, Any]) -> System:
    row = System(**meta, created_by=actor.username, created_at=utcnow())
    session.add(row)
    session.flush()
    append_entry(session, head, actor=actor.username, action="register_system",
                 entity="system", entity_id=row.id, payload=meta)
    return row


def _update_system(session: Session, head: LogHead, actor: Actor, row: System,
                   meta: dict[str, Any]) -> None:
    changes: dict[str, dict[str, Any]] = {}
    for field in SYSTEM_FIELDS:
        new, old = meta[field], getattr(row, field)
        if new == "" or new == old:
            continue  # an empty text keeps what is stored
        changes[field] = {"old": old, "new": new}
        setattr(row, field, new)
    if changes:
        append_entry(session, head, actor=actor.username, action="update_system",
                     entity="system", entity_id=row.id,
                     payload={"system": row.name, "changes": changes})


def _find_or_add_version(session: Session, head: LogHead, actor: Actor, system: System,
                         values: dict[str, Any]) -> tuple[Dataset, bool]:
    versions = _versions(session, system.id)
    for existing in versions:
        if _same_version(existing, values):
            return existing, False
    number = 1 + (session.scalar(select(func.max(Dataset.version))
                                 .where(Dataset.system_id == system.id)) or 0)
    row = Dataset(name=system.name, system_id=system.id, version=number, **values,
                  created_at=utcnow(), created_by=actor.username)
    session.add(row)
    session.flush()
    sensitive = values["sensitive_json"]
    payload = {"system": system.name, "version": number, "name": system.name,
               "source": values["source"], "sha256": values["sha256"],
               "n_rows": values["n_rows"], "data_path": values["data_path"],
               "source_sha256": values["source_sha256"],
               "sensitive": None if sensitive is None else _sensitive_summary(sensitive)}
    append_entry(session, head, actor=actor.username, action="record_dataset",
                 entity="dataset", entity_id=row.id, payload=payload)
    return row, True


def _same_version(row: Dataset, values: dict[str, Any]) -> bool:
    old, new = row.sensitive_json, values["sensitive_json"]
    if (old is None) != (new is None):
        return False
    if old is not None and new is not None and (
            old.get("sha256") != new["sha256"] or row.sensitive_purged_at is not None):
        return False  # purged sensitive data registered again make a new version
    return bool(row.sha256 == values["sha256"] and row.roles_json == values["roles_json"])


def _sensitive_summary(sensitive: dict[str, Any]) -> dict[str, Any]:
    keys = ("sha256", "path", "columns", "join", "n_matched", "n_unmatched_data",
            "n_unmatched_sensitive", "match_rate")
    return {key: sensitive.get(key) for key in keys}


def _find_or_add_model(session: Session, head: LogHead, actor: Actor, system: System,
                       dataset: Dataset, values: dict[str, Any]) -> tuple[Model, bool]:
    query = select(Model).where(Model.dataset_id == dataset.id,
                                Model.sha256 == values["sha256"])
    existing = session.scalar(query)
    if existing is not None:
        return existing, False
    row = Model(dataset_id=dataset.id, **values, created_at=utcnow(),
                created_by=actor.username, status="deployed")
    session.add(row)
    session.flush()
    payload = {"dataset_id": dataset.id, "kind": row.kind, "sha256": row.sha256,
               "path": row.path, "n_features": len(row.feature_names_json),
               "metrics": values["metrics_json"], "parent_id": None, "status": "deployed",
               "source_audit_run_id": None, "system": system.name,
               "version": dataset.version}
    append_entry(session, head, actor=actor.username, action="record_model",
                 entity="model", entity_id=row.id, payload=payload)
    return row, True


def _unlink_unused(session: Session, paths: set[str]) -> None:
    """Delete the files of ``paths`` that no version still holding its data uses."""
    kept = session.scalars(select(Dataset.sensitive_json).where(
        Dataset.sensitive_json.is_not(None), Dataset.sensitive_purged_at.is_(None)))
    in_use = {str(s["path"]) for s in kept if isinstance(s, dict) and "path" in s}
    folder = data_dir()
    for relative in sorted(paths - in_use):
        (folder / _stored_path(relative, "sensitive.path", SENSITIVE_FOLDER)).unlink(
            missing_ok=True)


def _system_values(system: object) -> dict[str, Any]:
    if not isinstance(system, SystemInput):
        raise TypeError(MSG_NOT_INPUT.format(field="system", kind="SystemInput",
                                             type=type(system).__name__))
    favourable = system.positive_is_favourable
    if not isinstance(favourable, bool):
        raise TypeError(MSG_NOT_BOOL.format(field="positive_is_favourable", value=favourable))
    return {"name": check_system_name(system.name),
            "description": check_text(system.description, "description", None, empty=True),
            "intended_use": check_text(system.intended_use, "intended_use", None, empty=True),
            "positive_is_favourable": favourable,
            "owner": check_text(system.owner, "owner", 200, empty=True)}


def _version_values(version: object) -> dict[str, Any]:
    if not isinstance(version, VersionInput):
        raise TypeError(MSG_NOT_INPUT.format(field="version", kind="VersionInput",
                                             type=type(version).__name__))
    source_sha = version.source_sha256
    return {"source": check_text(version.source, "source", 1000),
            "sha256": check_sha256(version.sha256),
            "n_rows": check_count(version.n_rows, "n_rows"),
            "roles_json": check_json_object(version.roles, "roles"),
            "card": check_text(version.card, "card", None, empty=True),
            "card_json": check_json_object(version.card_data, "card_data"),
            "data_path": _data_path(version),
            "source_sha256": None if source_sha is None else check_sha256(source_sha,
                                                                          "source_sha256"),
            "sensitive_json": (None if version.sensitive is None
                               else _sensitive_values(version.sensitive))}


def _data_path(version: VersionInput) -> str | None:
    if version.data_path is None:
        if not isinstance(version.roles, dict) or not version.roles.get("in_place"):
            raise ValueError(MSG_NO_DATA_PATH)
        if version.sensitive is not None:
            raise ValueError(MSG_IN_PLACE_SENSITIVE)
        return None
    return _stored_path(version.data_path, "data_path", DATA_FOLDER)


def _sensitive_values(sensitive: object) -> dict[str, Any]:
    values = check_json_object(sensitive, "sensitive")
    for key in ("path", "sha256", "columns", "join"):
        if key not in values:
            raise ValueError(MSG_SENSITIVE_KEY.format(key=key, keys=sorted(values)))
    values["path"] = _stored_path(values["path"], "sensitive.path", SENSITIVE_FOLDER)
    values["sha256"] = check_sha256(values["sha256"], "sensitive.sha256")
    values["columns"] = check_names(values["columns"], "sensitive.columns")
    values["join"] = check_text(values["join"], "sensitive.join", 200)
    return values


def _model_values(model: object) -> dict[str, Any]:
    if not isinstance(model, ModelInput):
        raise TypeError(MSG_NOT_INPUT.format(field="model", kind="ModelInput",
                                             type=type(model).__name__))
    return {"kind": check_text(model.kind, "kind", 64),
            "sha256": check_sha256(model.sha256, "model sha256"),
            "path": check_text(model.path, "model path", 1000),
            "params_json": check_json_object(model.params, "params"),
            "metrics_json": check_json_object(model.metrics, "metrics"),
            "feature_names_json": check_names(model.feature_names, "feature_names"),
            "split_json": check_json_object(model.split, "split")}


def _stored_path(value: object, field: str, folder: str) -> str:
    """Return ``value`` if it is a relative POSIX path inside ``folder/``."""
    if not isinstance(value, str):
        raise TypeError(MSG_NOT_INPUT.format(field=field, kind="str", type=type(value).__name__))
    path = PurePosixPath(value)
    bad = (len(value) > 1000 or "\\" in value or ":" in value or path.is_absolute()
           or str(path) != value or len(path.parts) < 2 or path.parts[0] != folder
           or ".." in path.parts)
    if bad:  # only the canonical spelling: one path, one file
        raise ValueError(MSG_BAD_STORED_PATH.format(field=field, folder=folder, value=value))
    return value
