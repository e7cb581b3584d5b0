"""Live decisions: each decision sent to the decision API, and each system's review budget.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Two new tables. ``live_decisions`` keeps each decision a system's service sent: the
caller's id and idempotency key (unique per system, so a resent request is answered
from here), the request's hash and features, the model version, score and decision,
whether it was held for a person and why, the case it became, and its final decision
once made (by whom, as a role, and when). ``live_budgets`` keeps each system's review
budget as a token bucket (tokens left, as of when).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

MSG_CANNOT_DOWNGRADE = (
    "cannot downgrade below 0011: {n} live decision(s) are stored; the old schema has no "
    "place for them (keep this revision)"
)


def _fk(column: str, target: str, table: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(column, sa.Integer(),
                     sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}"),
                     nullable=nullable)


def upgrade() -> None:
    """Create ``live_decisions`` and ``live_budgets``."""
    op.create_table(
        "live_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("system_id", "systems", "live_decisions"),
        _fk("audit_run_id", "audit_runs", "live_decisions"),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("features_json", sa.JSON(), nullable=False),
        sa.Column("sensitive_json", sa.JSON(), nullable=False),
        _fk("model_id", "models", "live_decisions", nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("model_decision", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("reasons_json", sa.JSON(), nullable=False),
        sa.Column("unreviewed", sa.String(16), nullable=True),
        _fk("case_id", "cases", "live_decisions", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("final_decision", sa.Integer(), nullable=True),
        sa.Column("decided_how", sa.String(16), nullable=True),
        sa.Column("decided_role", sa.String(32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('auto', 'held')", name="ck_live_decisions_outcome"),
        sa.CheckConstraint("status IN ('pending', 'decided')", name="ck_live_decisions_status"),
        sa.UniqueConstraint("system_id", "idempotency_key",
                            name="uq_live_decisions_system_id_idempotency_key"),
    )
    op.create_index("ix_live_decisions_system_status", "live_decisions",
                    ["system_id", "status"])
    op.create_index("ix_live_decisions_case_id", "live_decisions", ["case_id"])
    op.create_table(
        "live_budgets",
        sa.Column("system_id", sa.Integer(),
                  sa.ForeignKey("systems.id", name="fk_live_budgets_system_id_systems"),
                  primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop both tables; refused while any live decision is stored."""
    n = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM live_decisions")) or 0
    if n:
        raise RuntimeError(MSG_CANNOT_DOWNGRADE.format(n=n))
    op.drop_table("live_budgets")
    op.drop_index("ix_live_decisions_case_id", table_name="live_decisions")
    op.drop_index("ix_live_decisions_system_status", table_name="live_decisions")
    op.drop_table("live_decisions")
