"""Initial schema: users, provenance, audit runs and the hash-chained audit log.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

GENESIS_HASH = "0" * 64
ROLES = ("data_scientist", "reviewer", "panel_lead", "compliance_officer", "admin")
RUN_STATUSES = ("created", "running", "completed", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _stamp() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create every table and the genesis row of ``log_head``."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _stamp(),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint(_in("role", ROLES), name="ck_users_role"),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("roles_json", sa.JSON(), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        _stamp(),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("name", "sha256", name="uq_datasets_name_sha256"),
    )
    _create_models()
    _create_audit_runs()
    _create_log()


def _create_models() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", name="fk_models_dataset_id_datasets"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("params_json", sa.JSON(), nullable=False),
        sa.Column("metrics_json", sa.JSON(), nullable=False),
        sa.Column("feature_names_json", sa.JSON(), nullable=False),
        sa.Column("split_json", sa.JSON(), nullable=False),
        _stamp(),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("sha256", name="uq_models_sha256"),
    )
    op.create_index("ix_models_dataset_id", "models", ["dataset_id"])


def _create_audit_runs() -> None:
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", name="fk_audit_runs_dataset_id_datasets"),
            nullable=False,
        ),
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey("models.id", name="fk_audit_runs_model_id_models"),
            nullable=True,
        ),
        sa.Column("config_json", sa.JSON(), nullable=False),
        sa.Column("results_json", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _stamp(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="ck_audit_runs_status"),
    )
    op.create_index("ix_audit_runs_dataset_id", "audit_runs", ["dataset_id"])
    op.create_index("ix_audit_runs_model_id", "audit_runs", ["model_id"])


def _create_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=True),
        sa.Column("payload_json", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_log_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": GENESIS_HASH}])


def downgrade() -> None:
    """Drop every table (the audit log included)."""
    for table in ("log_head", "audit_log", "audit_runs", "models", "datasets", "users"):
        op.drop_table(table)
