"""Anchored log and frozen approvals: signed checkpoints of the log head, the
deployment's pinned public key, and the snapshot an approved report was built from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing yet (filled in by the anchored-log work)."""


def downgrade() -> None:
    """Undo :func:`upgrade`."""
