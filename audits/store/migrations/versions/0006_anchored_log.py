"""Anchored log and frozen approvals: signed checkpoints of the log head, the
deployment's pinned public key, and the snapshot an approved report was built from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``signing_keys``, ``log_checkpoints`` and ``report_snapshots``."""
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_entry_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_signing_keys_single_row"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("every_entries", sa.Integer(), nullable=False),
        sa.Column("every_minutes", sa.Float(), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_index("ix_log_checkpoints_entry_id", "log_checkpoints", ["entry_id"])
    op.create_index("ix_log_checkpoints_report_id", "log_checkpoints", ["report_id"])
    op.create_table(
        "report_snapshots",
        sa.Column("report_id", sa.Integer(),
                  sa.ForeignKey("reports.id", name="fk_report_snapshots_report_id_reports"),
                  primary_key=True, autoincrement=False),
        sa.Column("snapshot_json", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Undo :func:`upgrade`."""
    op.drop_table("report_snapshots")
    op.drop_index("ix_log_checkpoints_report_id", table_name="log_checkpoints")
    op.drop_index("ix_log_checkpoints_entry_id", table_name="log_checkpoints")
    op.drop_table("log_checkpoints")
    op.drop_table("signing_keys")
