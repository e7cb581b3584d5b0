"""ORM models of the store (SQLAlchemy 2 typed declarative mapping).

These classes stay inside :mod:`audits.store`: the :class:`~audits.store.Store` returns
frozen records, never these objects. The schema itself is created by the migrations in
``migrations/versions``; a test checks that both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audits.roles import Role

__all__ = ["Adjudication", "Alert", "AssignmentRow", "AuditLog", "AuditRun", "Base", "Batch",
           "Case", "Dataset", "Exclusion", "FlagPolicyRow", "LogHead", "Model", "PanelSetting",
           "Rating", "RatingVersion", "ReviewerBackground", "ReviewerRow", "System", "User",
           "utcnow"]

RUN_STATUSES = ("created", "running", "completed", "failed")
MODEL_STATUSES = ("deployed", "candidate", "retired", "rejected")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored with its zone and always read back as aware UTC.

    SQLite keeps no zone, so naive values read from it are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and convert aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return ``value`` as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A person who signs in to the dashboard."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN (" + ", ".join(f"'{r.value}'" for r in Role) + ")", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A demo persona or simulated reviewer: no password, only for the persona picker,
    # which a store holding any other user refuses.
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Consecutive wrong passwords since the last lockout or success; lockouts since the
    # last success (each doubles the next lock); when the current lock ends.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lockouts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An annotator whose ratings were imported from another tool: never signs in.
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class System(Base):
    """What is audited: a named decision system whose versions are data sets."""

    __tablename__ = "systems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text)
    intended_use: Mapped[str] = mapped_column(Text)
    positive_is_favourable: Mapped[bool] = mapped_column(Boolean)
    owner: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dataset(Base):
    """A registered data set: where it came from and its content hash.

    A version of a :class:`System` has ``system_id`` and ``version`` (1, 2, ... per
    system), and ``data_path`` names its Parquet copy relative to the data folder. The
    same content may be registered twice under one name (as two versions that differ in
    their column roles or sensitive data), so ``(name, sha256)`` is not unique.
    """

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("system_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(BigInteger)
    roles_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    card: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    system_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id"), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    data_path: Mapped[str | None] = mapped_column(String(1000))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    sensitive_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    sensitive_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sensitive_purged_by: Mapped[str | None] = mapped_column(String(128))
    card_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Model(Base):
    """A trained or uploaded model, identified by the hash of its file.

    One file may serve several versions of a system (one row per data set), so
    ``sha256`` is unique per data set. A retrained model is a ``candidate`` child
    (``parent_id``) of the model it was retrained from, with the label changes it learnt
    from in ``lineage_json``; it is ``deployed`` (and its parent ``retired``) only once a
    person approves it.
    """

    __tablename__ = "models"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in MODEL_STATUSES) + ")", name="status"
        ),
        UniqueConstraint("dataset_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1000))
    params_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    feature_names_json: Mapped[list[str]] = mapped_column(JSON)
    split_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default="deployed")
    # use_alter: audit_runs.model_id points back here, and the cycle would otherwise
    # make SQLAlchemy warn that it cannot sort the tables.
    source_audit_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("audit_runs.id", use_alter=True))
    lineage_json: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)


class AuditRun(Base):
    """One audit of a data set (and optionally a model) with its configuration."""

    __tablename__ = "audit_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in RUN_STATUSES) + ")", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), index=True)
    config_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    results_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """One entry of the hash-chained audit log.

    ``id`` is assigned from :class:`LogHead`, not by a sequence, because a PostgreSQL
    sequence skips the values of rolled-back transactions and the chain must be
    gap-free. ``ts`` is ISO-8601 text so the hashed bytes are exactly what is stored.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    payload_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LogHead(Base):
    """The single row (``id = 1``) naming the last log entry; locked by every append."""

    __tablename__ = "log_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class FlagPolicyRow(Base):
    """The review policy of an audit run (one per run): budget, quotas, seed."""

    __tablename__ = "flag_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), unique=True)
    policy_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Batch(Base):
    """A batch of new decisions appended to an audit (e.g. a week's log).

    ``sha256`` (of the batch's content) is unique per audit: the same batch twice is
    one batch. ``data_json`` keeps the decisions column-wise so every later number can
    be recomputed from what was stored.
    """

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("audit_run_id", "sha256"),
                      UniqueConstraint("audit_run_id", "label"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    n_rows: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[str | None] = mapped_column(String(40))
    period_end: Mapped[str | None] = mapped_column(String(40))
    data_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    results_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(Base):
    """A decision sent to the panel, with the snapshot its reviewers see.

    ``snapshot_json`` (features, decision, score, explanation, reasons) is written once
    and never updated, so a later model change cannot alter what was reviewed.
    """

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("audit_run_id", "row_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    row_key: Mapped[str] = mapped_column(String(128))
    subject_group: Mapped[str] = mapped_column(String(500))
    primary_reason: Mapped[str] = mapped_column(String(32))
    reasons_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    priority: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    snapshot_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    final_label: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """A verdict that changed between batches (into or out of ``fail``)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    subject_group: Mapped[str] = mapped_column(String(500))
    from_verdict: Mapped[str] = mapped_column(String(32))
    to_verdict: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    details_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


CASE_STATUSES = ("queued", "in_review", "disputed", "closed")
ASSIGNMENT_STATUSES = ("open", "rated", "cannot_tell", "withdrawn")


class ReviewerRow(Base):
    """A panel member: the user (identity) with expertise, capacity and availability."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    expertise_json: Mapped[list[str]] = mapped_column(JSON)
    capacity: Mapped[int] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewerBackground(Base):
    """Self-reported background attributes, kept apart from identity, with consent.

    Keyed by the reviewer's internal id only (no name); a row exists only while consent
    stands, and is deleted when it is withdrawn.
    """

    __tablename__ = "reviewer_backgrounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), unique=True)
    attributes_json: Mapped[dict[str, str]] = mapped_column(JSON)
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PanelSetting(Base):
    """A panel-wide setting (e.g. the background schema), one JSON value per key."""

    __tablename__ = "panel_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssignmentRow(Base):
    """A case given to a reviewer, with the randomized blinding of that assignment."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("case_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    model_shown: Mapped[bool] = mapped_column(Boolean)
    sensitive_shown: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rating(Base):
    """A reviewer's current rating of a case: one per (case, reviewer), ever.

    ``idempotency_key`` is made when the rating form is drawn; a resubmission with a key
    already seen (here or in :class:`RatingVersion`) changes nothing.
    """

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("case_id", "reviewer_id"),
                      CheckConstraint("confidence BETWEEN 1 AND 5", name="confidence"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[int] = mapped_column(Integer)
    rationale: Mapped[str] = mapped_column(Text)
    tags_json: Mapped[list[str]] = mapped_column(JSON)
    seconds_spent: Mapped[float] = mapped_column(Float)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The tool and file an imported rating came from (None: rated in fairpanel).
    imported_from: Mapped[str | None] = mapped_column(String(200))
    # A conversation's rating: the score of each rubric criterion, and the answer the bot
    # should have given (None for a decision's rating).
    rubric_json: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    corrected_answer: Mapped[str | None] = mapped_column(Text, nullable=True)


class RatingVersion(Base):
    """An earlier version of a rating, kept when the reviewer changed it."""

    __tablename__ = "rating_history"
    __table_args__ = (UniqueConstraint("rating_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    label: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[int] = mapped_column(Integer)
    rationale: Mapped[str] = mapped_column(Text)
    tags_json: Mapped[list[str]] = mapped_column(JSON)
    seconds_spent: Mapped[float] = mapped_column(Float)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    rubric_json: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    corrected_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Adjudication(Base):
    """The panel lead's final label for a case the panel disagreed on."""

    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    label: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    adjudicator: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Exclusion(Base):
    """A conflict of interest: this reviewer must never be assigned this case."""

    __tablename__ = "exclusions"
    __table_args__ = (UniqueConstraint("case_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


REPORT_STATUSES = ("draft", "submitted", "approved", "returned")
__all__ += ["REPORT_STATUSES", "ReportRow"]


class ReportRow(Base):
    """One version of an audit report, from draft to sign-off.

    ``body_json`` is the report's content as drafted and never changes; a revision is a
    new row (``version`` counts them per audit run). ``manifest_json``, ``signature``
    and ``public_key`` are written once, on approval, after which the row is frozen.
    """

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in REPORT_STATUSES) + ")", name="status"
        ),
        UniqueConstraint("audit_run_id", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    body_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    body_sha256: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    manifest_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    signature: Mapped[str | None] = mapped_column(String(128))
    public_key: Mapped[str | None] = mapped_column(String(64))


__all__ += ["LogCheckpoint", "ReportSnapshot", "SigningKey"]


class SigningKey(Base):
    """The deployment's pinned Ed25519 public key: one row (``id = 1``), written at the
    first signing and logged; every later signature must be under this key."""

    __tablename__ = "signing_keys"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    log_entry_id: Mapped[int] = mapped_column(Integer)


class LogCheckpoint(Base):
    """A signed checkpoint of the audit log's head: entry ``entry_id`` had ``entry_hash``.

    ``signature`` is the pinned key's Ed25519 signature of the checkpoint's canonical
    JSON (see :mod:`audits.store.checkpoints`); ``report_id`` names the report whose
    approval the checkpoint anchors, if any.
    """

    __tablename__ = "log_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(Integer, index=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(32))
    report_id: Mapped[int | None] = mapped_column(Integer, index=True)
    every_entries: Mapped[int] = mapped_column(Integer)
    every_minutes: Mapped[float] = mapped_column(Float)
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class ReportSnapshot(Base):
    """The inputs a report version was built from (beyond its audit run's stored
    results), frozen when it was drafted; an approval signs ``sha256``."""

    __tablename__ = "report_snapshots"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True,
                                           autoincrement=False)
    snapshot_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ += ["CannotTellRow", "ReviewInstructionRow", "ReviewSkip"]


class ReviewInstructionRow(Base):
    """The panel lead's instructions for reviewing a system's cases: what is decided and
    what each label means (one row per system; a change replaces it and is logged)."""

    __tablename__ = "review_instructions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), unique=True)
    question: Mapped[str] = mapped_column(Text)
    positive_meaning: Mapped[str] = mapped_column(Text)
    negative_meaning: Mapped[str] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewSkip(Base):
    """A reviewer put a case of their queue off for later: one row per skip."""

    __tablename__ = "review_skips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CannotTellRow(Base):
    """A reviewer's answer that the case cannot be decided from what it shows: the final
    outcome of that assignment (one per assignment), with an optional reason."""

    __tablename__ = "cannot_tell"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    seconds_spent: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token of the decision API for one system and one scope; only its SHA-256
    is kept (the token is shown once, when created)."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scope IN ('decide', 'read')", name="scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LiveDecision(Base):
    """A decision a system's service sent to the decision API: what the model decided,
    whether it was held for a person and why, and its final decision once made."""

    __tablename__ = "live_decisions"
    __table_args__ = (
        CheckConstraint("outcome IN ('auto', 'held')", name="outcome"),
        CheckConstraint("status IN ('pending', 'decided')", name="status"),
        UniqueConstraint("system_id", "idempotency_key"),
        Index("ix_live_decisions_system_status", "system_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"))
    audit_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_sha256: Mapped[str] = mapped_column(String(64))
    features_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    sensitive_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), nullable=True)
    threshold: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_decision: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(8))
    reasons_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    unreviewed: Mapped[str | None] = mapped_column(String(16), nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True,
                                                nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    final_decision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_how: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveBudget(Base):
    """A system's review budget as a token bucket: tokens left as of ``updated_at``."""

    __tablename__ = "live_budgets"

    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LiveSettings(Base):
    """A system's live policy, and where and how its final decisions are posted."""

    __tablename__ = "live_settings"
    __table_args__ = (CheckConstraint("notify IN ('held', 'all')", name="notify"),)

    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), primary_key=True)
    policy_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    notify: Mapped[str] = mapped_column(String(8))
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """The post of one final decision to its system's webhook, until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"))
    live_decision_id: Mapped[int] = mapped_column(ForeignKey("live_decisions.id"), unique=True)
    body_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReviewerQualification(Base):
    """A reviewer's recorded training, competence or authority (EU AI Act Art. 26(2)):
    what it is, when it was completed, until when it holds, and the evidence for it.
    Append-only: a lapsed one stays on record and a renewal is a new row."""

    __tablename__ = "reviewer_qualifications"
    __table_args__ = (
        CheckConstraint("kind IN ('training', 'competence', 'authority')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetentionSchedule(Base):
    """When a system's special-category (sensitive) data are to be deleted, and why
    they are kept until then (EU AI Act Art. 10(5)); one row per system."""

    __tablename__ = "retention_schedules"

    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), primary_key=True)
    delete_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
