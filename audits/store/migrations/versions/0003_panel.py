"""Reviewer panel: reviewers, consented backgrounds, assignments, ratings, adjudication,
conflicts of interest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _fk(column: str, target: str, table: str) -> sa.Column[object]:
    return sa.Column(column, sa.Integer(),
                     sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}"),
                     nullable=False)


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the panel tables and give cases a final label and a closing time."""
    op.add_column("cases", sa.Column("final_label", sa.Integer(), nullable=True))
    op.add_column("cases", _when("closed_at", nullable=True))
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("user_id", "users", "reviewers"),
        sa.Column("expertise_json", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("user_id", name="uq_reviewers_user_id"),
    )
    op.create_table(
        "reviewer_backgrounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("reviewer_id", "reviewers", "reviewer_backgrounds"),
        sa.Column("attributes_json", sa.JSON(), nullable=False),
        _when("consented_at"),
        _when("updated_at"),
        sa.UniqueConstraint("reviewer_id", name="uq_reviewer_backgrounds_reviewer_id"),
    )
    op.create_table(
        "panel_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value_json", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        _when("updated_at"),
    )
    _create_assignments()
    _create_ratings()
    op.create_table(
        "exclusions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("case_id", "cases", "exclusions"),
        _fk("reviewer_id", "reviewers", "exclusions"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("case_id", "reviewer_id", name="uq_exclusions_case_id_reviewer_id"),
    )
    op.create_index("ix_exclusions_case_id", "exclusions", ["case_id"])


def _create_assignments() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("case_id", "cases", "assignments"),
        _fk("reviewer_id", "reviewers", "assignments"),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model_shown", sa.Boolean(), nullable=False),
        sa.Column("sensitive_shown", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("case_id", "reviewer_id",
                            name="uq_assignments_case_id_reviewer_id"),
    )
    op.create_index("ix_assignments_case_id", "assignments", ["case_id"])
    op.create_index("ix_assignments_reviewer_id", "assignments", ["reviewer_id"])


def _rating_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("tags_json", sa.JSON(), nullable=False),
        sa.Column("seconds_spent", sa.Float(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
    ]


def _create_ratings() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("assignment_id", "assignments", "ratings"),
        _fk("case_id", "cases", "ratings"),
        _fk("reviewer_id", "reviewers", "ratings"),
        *_rating_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("assignment_id", name="uq_ratings_assignment_id"),
        sa.UniqueConstraint("case_id", "reviewer_id", name="uq_ratings_case_id_reviewer_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_ratings_idempotency_key"),
        sa.CheckConstraint("confidence BETWEEN 1 AND 5", name="ck_ratings_confidence"),
    )
    op.create_index("ix_ratings_case_id", "ratings", ["case_id"])
    op.create_index("ix_ratings_reviewer_id", "ratings", ["reviewer_id"])
    op.create_table(
        "rating_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("rating_id", "ratings", "rating_history"),
        sa.Column("version", sa.Integer(), nullable=False),
        *_rating_columns(),
        _when("created_at"),
        sa.UniqueConstraint("rating_id", "version", name="uq_rating_history_rating_id_version"),
        sa.UniqueConstraint("idempotency_key", name="uq_rating_history_idempotency_key"),
    )
    op.create_index("ix_rating_history_rating_id", "rating_history", ["rating_id"])
    op.create_table(
        "adjudications",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("case_id", "cases", "adjudications"),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("adjudicator", sa.String(128), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("case_id", name="uq_adjudications_case_id"),
    )


def downgrade() -> None:
    """Drop the panel tables and the two case columns."""
    for table in ("exclusions", "adjudications", "rating_history", "ratings", "assignments",
                  "panel_settings", "reviewer_backgrounds", "reviewers"):
        op.drop_table(table)
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("final_label")
