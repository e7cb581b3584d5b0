"""The reviewer desk: per-system review instructions, skips and "cannot tell" answers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

Three new tables, nothing changed in the old ones (so no SQLite table rebuild):
``review_instructions`` (one row per system: what is decided and what each label
means, written by a panel lead), ``review_skips`` (one row each time a reviewer puts a
case off; the case goes to the end of their queue) and ``cannot_tell`` (a reviewer's
answer that the case cannot be decided from what it shows, with an optional reason:
the final outcome of that assignment, whose status becomes ``cannot_tell``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

MSG_CANNOT_DOWNGRADE = (
    "cannot downgrade below 0009: {n} assignment(s) are answered 'cannot tell'; the old "
    "schema has no place for that answer (keep this revision)"
)


def _fk(column: str, target: str, table: str) -> sa.Column[object]:
    return sa.Column(column, sa.Integer(),
                     sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}"),
                     nullable=False)


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create ``review_instructions``, ``review_skips`` and ``cannot_tell``."""
    op.create_table(
        "review_instructions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("system_id", "systems", "review_instructions"),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("positive_meaning", sa.Text(), nullable=False),
        sa.Column("negative_meaning", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        _when("updated_at"),
        sa.UniqueConstraint("system_id", name="uq_review_instructions_system_id"),
    )
    op.create_table(
        "review_skips",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("assignment_id", "assignments", "review_skips"),
        _fk("case_id", "cases", "review_skips"),
        _fk("reviewer_id", "reviewers", "review_skips"),
        _when("created_at"),
    )
    for column in ("assignment_id", "case_id", "reviewer_id"):
        op.create_index(f"ix_review_skips_{column}", "review_skips", [column])
    op.create_table(
        "cannot_tell",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("assignment_id", "assignments", "cannot_tell"),
        _fk("case_id", "cases", "cannot_tell"),
        _fk("reviewer_id", "reviewers", "cannot_tell"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("seconds_spent", sa.Float(), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("assignment_id", name="uq_cannot_tell_assignment_id"),
    )
    for column in ("case_id", "reviewer_id"):
        op.create_index(f"ix_cannot_tell_{column}", "cannot_tell", [column])


def downgrade() -> None:
    """Drop the three tables; refused while an assignment is answered "cannot tell"."""
    n = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM cannot_tell")) or 0
    if n:
        raise RuntimeError(MSG_CANNOT_DOWNGRADE.format(n=n))
    for column in ("case_id", "reviewer_id"):
        op.drop_index(f"ix_cannot_tell_{column}", table_name="cannot_tell")
    op.drop_table("cannot_tell")
    for column in ("assignment_id", "case_id", "reviewer_id"):
        op.drop_index(f"ix_review_skips_{column}", table_name="review_skips")
    op.drop_table("review_skips")
    op.drop_table("review_instructions")
