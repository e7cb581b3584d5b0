"""Frozen records returned by the store, and their conversion from ORM rows.

Records are plain values, detached from any session: safe to cache, compare and pass
to the dashboard. JSON columns come back as fresh dicts and lists.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audits.roles import Actor, Role
from audits.store.tables import (
    Alert,
    AuditLog,
    AuditRun,
    Batch,
    Case,
    Dataset,
    Model,
    System,
    User,
)

__all__ = [
    "AlertInput",
    "AlertRecord",
    "AuditRunRecord",
    "BatchRecord",
    "CaseInput",
    "CaseRecord",
    "DatasetRecord",
    "LogEntryRecord",
    "ModelRecord",
    "SystemRecord",
    "UserRecord",
]


@dataclass(frozen=True)
class UserRecord:
    """A user as the dashboard sees it (the password hash never leaves the store).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> u = UserRecord(1, "ada", "Ada", Role.ADMIN, True, False, datetime.now(UTC))
    >>> u.actor
    Actor(username='ada', role=<Role.ADMIN: 'admin'>)
    """

    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    has_password: bool
    created_at: datetime
    #: A demo persona or simulated reviewer (see :meth:`Store.add_user`'s ``demo``).
    demo: bool = False
    #: Until when sign-in is refused after repeated wrong passwords (None: not locked).
    locked_until: datetime | None = None
    #: An annotator whose ratings were imported from another tool (never signs in).
    imported: bool = False

    @property
    def actor(self) -> Actor:
        """The :class:`~audits.roles.Actor` this user acts as."""
        return Actor(self.username, self.role)


@dataclass(frozen=True)
class SystemRecord:
    """A system that is audited: its name, purpose, owner and whether a positive
    decision (1) is the favourable outcome for the person decided about."""

    id: int
    name: str
    description: str
    intended_use: str
    positive_is_favourable: bool
    owner: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class DatasetRecord:
    """A registered data set: name, origin, content hash, size, column roles and card.

    A version of a system also has ``system_id`` and ``version`` (1, 2, ...),
    ``data_path`` (its Parquet copy, relative to the data folder), ``source_sha256``
    (of the file it was read from, when there was one), ``sensitive`` (the separate
    sensitive data: ``path``, ``sha256``, ``columns``, ``join`` and the match counts),
    when and by whom those were purged, and ``card_data`` (the data card's numbers).
    """

    id: int
    name: str
    source: str
    sha256: str
    n_rows: int
    roles: dict[str, Any]
    card: str
    created_at: datetime
    created_by: str
    system_id: int | None = None
    version: int | None = None
    data_path: str | None = None
    source_sha256: str | None = None
    sensitive: dict[str, Any] | None = None
    sensitive_purged_at: datetime | None = None
    sensitive_purged_by: str | None = None
    card_data: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelRecord:
    """A registered model with its training parameters, metrics and split.

    A retrained model has a ``parent_id`` (the model it was retrained from), the
    ``lineage`` of label changes it learnt from and, until a person decides, status
    ``"candidate"``; ``decided_by``, ``decided_at`` and ``decision_note`` record that
    decision. A model registered without a parent is ``"deployed"``.
    """

    id: int
    dataset_id: int
    kind: str
    sha256: str
    path: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    feature_names: tuple[str, ...]
    split: dict[str, Any]
    created_at: datetime
    created_by: str
    parent_id: int | None = None
    status: str = "deployed"
    source_audit_run_id: int | None = None
    lineage: tuple[dict[str, Any], ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None


@dataclass(frozen=True)
class AuditRunRecord:
    """One audit run; ``results`` is None until it is finished."""

    id: int
    dataset_id: int
    model_id: int | None
    config: dict[str, Any]
    results: dict[str, Any] | None
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LogEntryRecord:
    """One audit-log entry; ``ts`` is the ISO-8601 UTC text that was hashed."""

    id: int
    ts: str
    actor: str
    action: str
    entity: str
    entity_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def timestamp(self) -> datetime:
        """``ts`` parsed as an aware datetime."""
        return datetime.fromisoformat(self.ts)


def user_record(row: User) -> UserRecord:
    """Convert an ORM user."""
    return UserRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        active=row.active,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
        demo=bool(row.demo),
        locked_until=row.locked_until,
        imported=bool(row.imported),
    )


def dataset_record(row: Dataset) -> DatasetRecord:
    """Convert an ORM dataset."""
    return DatasetRecord(
        id=row.id,
        name=row.name,
        source=row.source,
        sha256=row.sha256,
        n_rows=row.n_rows,
        roles=copy.deepcopy(row.roles_json),
        card=row.card,
        created_at=row.created_at,
        created_by=row.created_by,
        system_id=row.system_id,
        version=row.version,
        data_path=row.data_path,
        source_sha256=row.source_sha256,
        sensitive=copy.deepcopy(row.sensitive_json),
        sensitive_purged_at=row.sensitive_purged_at,
        sensitive_purged_by=row.sensitive_purged_by,
        card_data=copy.deepcopy(row.card_json),
    )


def system_record(row: System) -> SystemRecord:
    """Convert an ORM system."""
    return SystemRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        intended_use=row.intended_use,
        positive_is_favourable=bool(row.positive_is_favourable),
        owner=row.owner,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def model_record(row: Model) -> ModelRecord:
    """Convert an ORM model."""
    return ModelRecord(
        id=row.id,
        dataset_id=row.dataset_id,
        kind=row.kind,
        sha256=row.sha256,
        path=row.path,
        params=copy.deepcopy(row.params_json),
        metrics=copy.deepcopy(row.metrics_json),
        feature_names=tuple(row.feature_names_json),
        split=copy.deepcopy(row.split_json),
        created_at=row.created_at,
        created_by=row.created_by,
        parent_id=row.parent_id,
        status=row.status,
        source_audit_run_id=row.source_audit_run_id,
        lineage=tuple(copy.deepcopy(row.lineage_json or [])),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
    )


def audit_run_record(row: AuditRun) -> AuditRunRecord:
    """Convert an ORM audit run."""
    return AuditRunRecord(
        id=row.id,
        dataset_id=row.dataset_id,
        model_id=row.model_id,
        config=copy.deepcopy(row.config_json),
        results=copy.deepcopy(row.results_json),
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def log_entry_record(row: AuditLog) -> LogEntryRecord:
    """Convert an ORM log entry."""
    return LogEntryRecord(
        id=row.id,
        ts=row.ts,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        payload=copy.deepcopy(row.payload_json),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@dataclass(frozen=True)
class CaseInput:
    """A case to queue: the decision's key, why it was flagged and what reviewers see.

    ``reasons`` is a list of ``{"reason", "score", "explanation"}``; ``snapshot`` is the
    JSON object shown to reviewers (features, decision, score, explanation, reasons).
    """

    row_key: str
    subject_group: str
    primary_reason: str
    reasons: list[dict[str, Any]]
    priority: float
    rank: int
    snapshot: dict[str, Any]


@dataclass(frozen=True)
class CaseRecord:
    """A queued case and its frozen snapshot."""

    id: int
    audit_run_id: int
    batch_id: int | None
    row_key: str
    subject_group: str
    primary_reason: str
    reasons: list[dict[str, Any]]
    priority: float
    rank: int
    snapshot: dict[str, Any]
    snapshot_sha256: str
    status: str
    created_by: str
    created_at: datetime
    #: The case's settled label (the majority or the adjudication), None until closed.
    final_label: int | None = None


@dataclass(frozen=True)
class BatchRecord:
    """A batch of decisions appended to an audit; ``data`` is None unless asked for."""

    id: int
    audit_run_id: int
    sha256: str
    label: str
    n_rows: int
    period_start: str | None
    period_end: str | None
    results: dict[str, Any]
    data: dict[str, Any] | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class AlertInput:
    """A verdict change to record with a batch."""

    metric: str
    subject_group: str
    from_verdict: str
    to_verdict: str
    severity: str
    message: str
    details: dict[str, Any]


@dataclass(frozen=True)
class AlertRecord:
    """A stored alert."""

    id: int
    audit_run_id: int
    batch_id: int
    metric: str
    subject_group: str
    from_verdict: str
    to_verdict: str
    severity: str
    message: str
    details: dict[str, Any]
    created_at: datetime


def case_record(row: Case) -> CaseRecord:
    """Convert an ORM case."""
    return CaseRecord(
        id=row.id, audit_run_id=row.audit_run_id, batch_id=row.batch_id,
        row_key=row.row_key, subject_group=row.subject_group,
        primary_reason=row.primary_reason, reasons=copy.deepcopy(row.reasons_json),
        priority=row.priority, rank=row.rank, snapshot=copy.deepcopy(row.snapshot_json),
        snapshot_sha256=row.snapshot_sha256, status=row.status, created_by=row.created_by,
        created_at=row.created_at, final_label=row.final_label,
    )


def batch_record(row: Batch, *, with_data: bool = False) -> BatchRecord:
    """Convert an ORM batch (its data only when ``with_data``)."""
    return BatchRecord(
        id=row.id, audit_run_id=row.audit_run_id, sha256=row.sha256, label=row.label,
        n_rows=row.n_rows, period_start=row.period_start, period_end=row.period_end,
        results=copy.deepcopy(row.results_json),
        data=copy.deepcopy(row.data_json) if with_data else None,
        created_by=row.created_by, created_at=row.created_at,
    )


def alert_record(row: Alert) -> AlertRecord:
    """Convert an ORM alert."""
    return AlertRecord(
        id=row.id, audit_run_id=row.audit_run_id, batch_id=row.batch_id, metric=row.metric,
        subject_group=row.subject_group, from_verdict=row.from_verdict,
        to_verdict=row.to_verdict, severity=row.severity, message=row.message,
        details=copy.deepcopy(row.details_json), created_at=row.created_at,
    )
