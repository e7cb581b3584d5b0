"""Audit reports: drafted, submitted, approved (signed and frozen) or returned.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

REPORT_STATUSES = ("draft", "submitted", "approved", "returned")


def _when(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the ``reports`` table (one row per report version)."""
    statuses = ", ".join(f"'{s}'" for s in REPORT_STATUSES)
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("audit_run_id", sa.Integer(),
                  sa.ForeignKey("audit_runs.id", name="fk_reports_audit_run_id_audit_runs"),
                  nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("body_json", sa.JSON(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("generated_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _when("created_at", nullable=False),
        _when("submitted_at", nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        _when("decided_at", nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("manifest_json", sa.JSON(), nullable=True),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.Column("public_key", sa.String(64), nullable=True),
        sa.CheckConstraint(f"status IN ({statuses})", name="ck_reports_status"),
        sa.UniqueConstraint("audit_run_id", "version", name="uq_reports_audit_run_id_version"),
    )
    op.create_index("ix_reports_audit_run_id", "reports", ["audit_run_id"])


def downgrade() -> None:
    """Drop the ``reports`` table."""
    op.drop_table("reports")
