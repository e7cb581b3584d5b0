"""Model versions: a retrained model is a candidate child until a person approves it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

On SQLite the three constrained columns are added with plain ``ALTER TABLE ... ADD
COLUMN`` carrying their named constraints inline, not with ``batch_alter_table``: a batch
rebuild drops ``models``, and with foreign keys on (every fairpanel connection) that DROP
fails as soon as an audit run references a model. ``PRAGMA foreign_keys`` cannot be
switched off inside the migration's transaction, and deferring the checks does not help
(the counter of the implicit DELETE is never decremented by the rename that follows).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

MODEL_STATUSES = ("deployed", "candidate", "retired", "rejected")
_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in MODEL_STATUSES) + ")"
_FK_PARENT = "fk_models_parent_id_models"
_FK_RUN = "fk_models_source_audit_run_id_audit_runs"
_SQLITE_COLUMNS = (
    f"parent_id INTEGER CONSTRAINT {_FK_PARENT} REFERENCES models (id)",
    "status VARCHAR(16) DEFAULT 'deployed' NOT NULL"
    f" CONSTRAINT ck_models_status CHECK ({_STATUS_CHECK})",
    f"source_audit_run_id INTEGER CONSTRAINT {_FK_RUN} REFERENCES audit_runs (id)",
)
_ADDED = ("parent_id", "status", "source_audit_run_id", "lineage_json", "decided_by",
          "decided_at", "decision_note")


def upgrade() -> None:
    """Add lineage, status and decision columns to ``models``; existing rows are deployed."""
    if op.get_bind().dialect.name == "sqlite":
        for column in _SQLITE_COLUMNS:
            op.execute(f"ALTER TABLE models ADD COLUMN {column}")
    else:
        with op.batch_alter_table("models") as batch:
            batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                       server_default="deployed"))
            batch.add_column(sa.Column("source_audit_run_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(_FK_PARENT, "models", ["parent_id"], ["id"])
            batch.create_foreign_key(_FK_RUN, "audit_runs", ["source_audit_run_id"], ["id"])
            # op.f: the name is final (the naming convention would prefix it again).
            batch.create_check_constraint(op.f("ck_models_status"), _STATUS_CHECK)
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("lineage_json", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
    op.create_index("ix_models_parent_id", "models", ["parent_id"])


def downgrade() -> None:
    """Drop what :func:`upgrade` added (the foreign keys go with their columns).

    On SQLite this rebuilds ``models`` (SQLite cannot drop a column that has a
    constraint), which, like the earlier downgrades, needs foreign keys off or no audit
    run referencing a model.
    """
    op.drop_index("ix_models_parent_id", table_name="models")
    with op.batch_alter_table("models") as batch:
        # Dropped by name first: SQLite's rebuild would otherwise copy the reflected
        # check without its column.
        batch.drop_constraint(op.f("ck_models_status"), type_="check")
        for column in reversed(_ADDED):
            batch.drop_column(column)
