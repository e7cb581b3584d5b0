"""Reviewers' qualifications and the deletion schedule of special-category data.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Two new tables. ``reviewer_qualifications`` records, per reviewer, a training, a
competence or an authority to decide (what it is, the evidence, when it was completed
and until when it holds): the human-oversight record names the qualifications a
reviewer held when they rated. ``retention_schedules`` holds, per system, the date its
special-category data are to be deleted and the reason they are kept until then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``reviewer_qualifications`` and ``retention_schedules``."""
    op.create_table(
        "reviewer_qualifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reviewer_id", sa.Integer(),
                  sa.ForeignKey("reviewers.id",
                                name="fk_reviewer_qualifications_reviewer_id_reviewers"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('training', 'competence', 'authority')",
                           name="ck_reviewer_qualifications_kind"),
    )
    op.create_index("ix_reviewer_qualifications_reviewer_id", "reviewer_qualifications",
                    ["reviewer_id"])
    op.create_table(
        "retention_schedules",
        sa.Column("system_id", sa.Integer(),
                  sa.ForeignKey("systems.id", name="fk_retention_schedules_system_id_systems"),
                  primary_key=True),
        sa.Column("delete_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("retention_schedules")
    op.drop_index("ix_reviewer_qualifications_reviewer_id",
                  table_name="reviewer_qualifications")
    op.drop_table("reviewer_qualifications")
