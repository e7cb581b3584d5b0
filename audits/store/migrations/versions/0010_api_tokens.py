"""API tokens: bearer tokens per system and scope for the decision API.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

One new table, ``api_tokens``: an admin creates a token for one system and one scope
(``decide`` or ``read``); only the token's SHA-256 is kept (the token itself is shown
once), with a short prefix to tell tokens apart in listings, who created it and when,
and, once revoked, who revoked it and when. Nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``api_tokens``."""
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("system_id", sa.Integer(),
                  sa.ForeignKey("systems.id", name="fk_api_tokens_system_id_systems"),
                  nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(128), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('decide', 'read')", name="ck_api_tokens_scope"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_index("ix_api_tokens_system_id", "api_tokens", ["system_id"])


def downgrade() -> None:
    """Drop ``api_tokens`` (every token stops working)."""
    op.drop_index("ix_api_tokens_system_id", table_name="api_tokens")
    op.drop_table("api_tokens")
