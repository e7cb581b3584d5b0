"""Review queue and monitoring: flag policies, batches, cases and alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _run_fk(table: str) -> sa.Column[object]:
    return sa.Column(
        "audit_run_id", sa.Integer(),
        sa.ForeignKey("audit_runs.id", name=f"fk_{table}_audit_run_id_audit_runs"),
        nullable=False,
    )


def _batch_fk(table: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(
        "batch_id", sa.Integer(),
        sa.ForeignKey("batches.id", name=f"fk_{table}_batch_id_batches"), nullable=nullable,
    )


def _stamp() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create the four tables of the review queue and of monitoring."""
    op.create_table(
        "flag_policies",
        sa.Column("id", sa.Integer(), primary_key=True),
        _run_fk("flag_policies"),
        sa.Column("policy_json", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _stamp(),
        sa.UniqueConstraint("audit_run_id", name="uq_flag_policies_audit_run_id"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        _run_fk("batches"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.String(40), nullable=True),
        sa.Column("period_end", sa.String(40), nullable=True),
        sa.Column("data_json", sa.JSON(), nullable=False),
        sa.Column("results_json", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _stamp(),
        sa.UniqueConstraint("audit_run_id", "sha256", name="uq_batches_audit_run_id_sha256"),
        sa.UniqueConstraint("audit_run_id", "label", name="uq_batches_audit_run_id_label"),
    )
    op.create_index("ix_batches_audit_run_id", "batches", ["audit_run_id"])
    _create_cases()
    _create_alerts()


def _create_cases() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        _run_fk("cases"),
        _batch_fk("cases", nullable=True),
        sa.Column("row_key", sa.String(128), nullable=False),
        sa.Column("subject_group", sa.String(500), nullable=False),
        sa.Column("primary_reason", sa.String(32), nullable=False),
        sa.Column("reasons_json", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("snapshot_json", sa.JSON(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _stamp(),
        sa.UniqueConstraint("audit_run_id", "row_key", name="uq_cases_audit_run_id_row_key"),
    )
    op.create_index("ix_cases_audit_run_id", "cases", ["audit_run_id"])
    op.create_index("ix_cases_batch_id", "cases", ["batch_id"])


def _create_alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        _run_fk("alerts"),
        _batch_fk("alerts", nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("subject_group", sa.String(500), nullable=False),
        sa.Column("from_verdict", sa.String(32), nullable=False),
        sa.Column("to_verdict", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details_json", sa.JSON(), nullable=False),
        _stamp(),
    )
    op.create_index("ix_alerts_audit_run_id", "alerts", ["audit_run_id"])
    op.create_index("ix_alerts_batch_id", "alerts", ["batch_id"])


def downgrade() -> None:
    """Drop the queue and monitoring tables."""
    for table in ("alerts", "cases", "batches", "flag_policies"):
        op.drop_table(table)
