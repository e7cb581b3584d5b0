"""Systems: what is audited, each version a data set stored as Parquet in the data folder;
imported annotators and ratings.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

New table ``systems``; ``datasets`` gains the version columns (``system_id``,
``version``, ``data_path``, ``source_sha256``, ``sensitive_json``, the purge stamp and
``card_json``); ``users`` gains ``imported``; ``ratings`` gains ``imported_from``.

Two unique constraints change, because one content may now be stored twice: a system
may have two versions with the same data (differing in column roles or sensitive data),
so ``datasets (name, sha256)`` gives way to ``(system_id, version)``; and one model
file may serve several versions, so ``models (sha256)`` becomes ``(dataset_id,
sha256)``. On SQLite that means rebuilding both tables while other tables reference
them (see 0005 on why Alembic's batch rebuild fails then): each is copied aside,
dropped, created anew and filled again with foreign-key checks deferred, so the
references dropped with the old rows are answered by the same rows put back, and the
transaction commits only if every reference holds again.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

MODEL_STATUSES = ("deployed", "candidate", "retired", "rejected")
_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in MODEL_STATUSES) + ")"
_DATASET_COLUMNS = ("id", "name", "source", "sha256", "n_rows", "roles_json", "card",
                    "created_at", "created_by")
_VERSION_COLUMNS = ("system_id", "version", "data_path", "source_sha256", "sensitive_json",
                    "sensitive_purged_at", "sensitive_purged_by", "card_json")
_MODEL_COLUMNS = ("id", "dataset_id", "kind", "sha256", "path", "params_json", "metrics_json",
                  "feature_names_json", "split_json", "created_at", "created_by", "parent_id",
                  "status", "source_audit_run_id", "lineage_json", "decided_by", "decided_at",
                  "decision_note")
MSG_DUPLICATES = (
    "cannot downgrade below 0008: {what} (remove the extra rows or keep this revision)"
)


def upgrade() -> None:
    """Create ``systems``, add the version columns and the imported marks."""
    _create_systems()
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("datasets", _datasets_table(new=True), _DATASET_COLUMNS)
        _rebuild("models", _models_table(new=True), _MODEL_COLUMNS)
    else:
        op.drop_constraint(op.f("uq_datasets_name_sha256"), "datasets", type_="unique")
        for column in _version_columns():
            op.add_column("datasets", column)
        op.create_foreign_key(op.f("fk_datasets_system_id_systems"), "datasets", "systems",
                              ["system_id"], ["id"])
        op.create_unique_constraint(op.f("uq_datasets_system_id_version"), "datasets",
                                    ["system_id", "version"])
        op.drop_constraint(op.f("uq_models_sha256"), "models", type_="unique")
        op.create_unique_constraint(op.f("uq_models_dataset_id_sha256"), "models",
                                    ["dataset_id", "sha256"])
    op.create_index("ix_datasets_system_id", "datasets", ["system_id"])
    # Plain ADD COLUMN on SQLite (no constraint): no rebuild of referenced tables.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("imported", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("imported_from", sa.String(200), nullable=True))


def downgrade() -> None:
    """Undo :func:`upgrade`; refused while two rows would break the old unique keys."""
    _refuse_duplicates()
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in (("ratings", "imported_from"), ("users", "imported")):
        if sqlite:  # SQLite >= 3.35 drops a plain column in place
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
    op.drop_index("ix_datasets_system_id", table_name="datasets")
    if sqlite:
        _rebuild("models", _models_table(new=False), _MODEL_COLUMNS)
        _rebuild("datasets", _datasets_table(new=False), _DATASET_COLUMNS)
    else:
        op.drop_constraint(op.f("uq_models_dataset_id_sha256"), "models", type_="unique")
        op.create_unique_constraint(op.f("uq_models_sha256"), "models", ["sha256"])
        op.drop_constraint(op.f("uq_datasets_system_id_version"), "datasets", type_="unique")
        op.drop_constraint(op.f("fk_datasets_system_id_systems"), "datasets",
                           type_="foreignkey")
        for column in reversed(_VERSION_COLUMNS):
            op.drop_column("datasets", column)
        op.create_unique_constraint(op.f("uq_datasets_name_sha256"), "datasets",
                                    ["name", "sha256"])
    op.drop_table("systems")


def _create_systems() -> None:
    op.create_table(
        "systems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("positive_is_favourable", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name=op.f("uq_systems_name")),
    )


def _version_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("system_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("data_path", sa.String(1000), nullable=True),
        sa.Column("source_sha256", sa.String(64), nullable=True),
        sa.Column("sensitive_json", sa.JSON(), nullable=True),
        sa.Column("sensitive_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sensitive_purged_by", sa.String(128), nullable=True),
        sa.Column("card_json", sa.JSON(), nullable=True),
    ]


def _datasets_table(*, new: bool) -> Callable[[], None]:
    def create() -> None:
        extra: list[sa.Column[object] | sa.Constraint] = []
        if new:
            extra = [*_version_columns(),
                     sa.ForeignKeyConstraint(["system_id"], ["systems.id"],
                                             name=op.f("fk_datasets_system_id_systems")),
                     sa.UniqueConstraint("system_id", "version",
                                         name=op.f("uq_datasets_system_id_version"))]
        else:
            extra = [sa.UniqueConstraint("name", "sha256", name=op.f("uq_datasets_name_sha256"))]
        op.create_table(
            "datasets",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("source", sa.String(1000), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("n_rows", sa.BigInteger(), nullable=False),
            sa.Column("roles_json", sa.JSON(), nullable=False),
            sa.Column("card", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_by", sa.String(128), nullable=False),
            *extra,
        )
    return create


def _models_table(*, new: bool) -> Callable[[], None]:
    def create() -> None:
        unique = (sa.UniqueConstraint("dataset_id", "sha256",
                                      name=op.f("uq_models_dataset_id_sha256")) if new
                  else sa.UniqueConstraint("sha256", name=op.f("uq_models_sha256")))
        op.create_table(
            "models",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("dataset_id", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(64), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("path", sa.String(1000), nullable=False),
            sa.Column("params_json", sa.JSON(), nullable=False),
            sa.Column("metrics_json", sa.JSON(), nullable=False),
            sa.Column("feature_names_json", sa.JSON(), nullable=False),
            sa.Column("split_json", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_by", sa.String(128), nullable=False),
            sa.Column("parent_id", sa.Integer(), nullable=True),
            sa.Column("status", sa.String(16), nullable=False, server_default="deployed"),
            sa.Column("source_audit_run_id", sa.Integer(), nullable=True),
            sa.Column("lineage_json", sa.JSON(), nullable=True),
            sa.Column("decided_by", sa.String(128), nullable=True),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("decision_note", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"],
                                    name=op.f("fk_models_dataset_id_datasets")),
            sa.ForeignKeyConstraint(["parent_id"], ["models.id"],
                                    name=op.f("fk_models_parent_id_models")),
            sa.ForeignKeyConstraint(["source_audit_run_id"], ["audit_runs.id"],
                                    name=op.f("fk_models_source_audit_run_id_audit_runs")),
            sa.CheckConstraint(_STATUS_CHECK, name=op.f("ck_models_status")),
            unique,
        )
        op.create_index("ix_models_dataset_id", "models", ["dataset_id"])
        op.create_index("ix_models_parent_id", "models", ["parent_id"])
    return create


def _rebuild(table: str, create: Callable[[], None], columns: tuple[str, ...]) -> None:
    """Recreate a SQLite ``table`` (and its indexes) keeping its rows and their ids.

    With ``defer_foreign_keys`` the DROP counts the rows that referenced the old table
    as violations instead of failing; putting the same ids back clears them again.
    """
    names = ", ".join(columns)
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(f"CREATE TABLE _old_{table} AS SELECT {names} FROM {table}")
    op.execute(f"DROP TABLE {table}")
    create()
    op.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _old_{table}")
    op.execute(f"DROP TABLE _old_{table}")


def _refuse_duplicates() -> None:
    bind = op.get_bind()
    checks = {
        "two data sets share a name and sha256": "SELECT name, sha256 FROM datasets "
                                                   "GROUP BY name, sha256 HAVING count(*) > 1",
        "two models share a sha256": "SELECT sha256 FROM models GROUP BY sha256 "
                                     "HAVING count(*) > 1",
    }
    for what, query in checks.items():
        if bind.execute(sa.text(query)).first() is not None:
            raise RuntimeError(MSG_DUPLICATES.format(what=what))
