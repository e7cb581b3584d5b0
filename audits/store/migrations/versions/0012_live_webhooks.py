"""Live settings per system and webhook deliveries of final decisions.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Two new tables. ``live_settings`` holds, per system, the live policy (JSON), the URL its
final decisions are posted to, the secret their signatures are made with, and which
decisions are sent (``held``: those a person decided or that fell back; ``all``: every
final decision). ``webhook_deliveries`` holds each decision's delivery: its body, how
many attempts were made, when the next is due, the last answer, and whether it was
delivered or given up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``live_settings`` and ``webhook_deliveries``."""
    op.create_table(
        "live_settings",
        sa.Column("system_id", sa.Integer(),
                  sa.ForeignKey("systems.id", name="fk_live_settings_system_id_systems"),
                  primary_key=True),
        sa.Column("policy_json", sa.JSON(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        sa.Column("notify", sa.String(8), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("notify IN ('held', 'all')", name="ck_live_settings_notify"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("system_id", sa.Integer(),
                  sa.ForeignKey("systems.id", name="fk_webhook_deliveries_system_id_systems"),
                  nullable=False),
        sa.Column("live_decision_id", sa.Integer(),
                  sa.ForeignKey("live_decisions.id",
                                name="fk_webhook_deliveries_live_decision_id_live_decisions"),
                  nullable=False),
        sa.Column("body_json", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name="ck_webhook_deliveries_status"),
        sa.UniqueConstraint("live_decision_id",
                            name="uq_webhook_deliveries_live_decision_id"),
    )
    op.create_index("ix_webhook_deliveries_status_next", "webhook_deliveries",
                    ["status", "next_attempt_at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_webhook_deliveries_status_next", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("live_settings")
