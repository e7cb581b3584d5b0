"""Sign-in protection: failed-attempt counters and lockout on users, and a mark on the
demo personas and simulated reviewers (the only accounts the persona picker may use).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Rating idempotency keys need no schema change: the store looks a key up only among the
submitting reviewer's own rating of the case and refuses a key that belongs to another
rating, so the global unique constraint on ``ratings.idempotency_key`` (and on
``rating_history``) stays as a backstop. Dropping it on SQLite would rebuild ``ratings``,
which ``rating_history`` references (see 0005 on why such a rebuild fails).

Existing accounts are marked demo when they are the demo's own (a persona's username or
``sim-reviewer-NN``) and hold no password; every other account is a real user.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_PERSONAS = ("demo-data-scientist", "demo-reviewer", "demo-panel-lead", "demo-compliance",
             "demo-admin")
_ADDED = ("demo", "failed_sign_ins", "lockouts", "locked_until")


def upgrade() -> None:
    """Add the demo mark and the sign-in counters to ``users``."""
    # Plain ADD COLUMN on SQLite as in 0005: no rebuild of a table others reference.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("demo", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("failed_sign_ins", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("lockouts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True),
                                   nullable=True))
    users = sa.table("users", sa.column("username", sa.String()),
                     sa.column("password_hash", sa.String()), sa.column("demo", sa.Boolean()))
    op.execute(users.update()
               .where(users.c.password_hash.is_(None))
               .where(sa.or_(users.c.username.in_(_PERSONAS),
                             users.c.username.like("sim-reviewer-%")))
               .values(demo=True))


def downgrade() -> None:
    """Undo :func:`upgrade`."""
    with op.batch_alter_table("users") as batch:
        for column in reversed(_ADDED):
            batch.drop_column(column)
