"""Rubric ratings of conversations: per-criterion scores and a corrected answer.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

A rating of a conversation (a case whose snapshot is a chatbot conversation) carries,
besides its label (the answer acceptable as it stands, or not), the reviewer's score of
each rubric criterion and, optionally, the answer the bot should have given. Both are
kept in the current rating and in every earlier version. Null for a decision's rating.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("ratings", "rating_history")


def upgrade() -> None:
    """Add ``rubric_json`` and ``corrected_answer`` to ratings and their history."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("rubric_json", sa.JSON(), nullable=True))
            batch.add_column(sa.Column("corrected_answer", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop both columns."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("corrected_answer")
            batch.drop_column("rubric_json")
