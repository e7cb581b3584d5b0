"""Sign-in protection and scoped idempotency: failed-attempt counters and lockout on
users, and rating idempotency keys unique per (reviewer, case) instead of globally.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing yet (filled in by the sign-in work)."""


def downgrade() -> None:
    """Undo :func:`upgrade`."""
