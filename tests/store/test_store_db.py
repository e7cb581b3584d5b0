"""URLs, engine settings and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from db_support import FAST_HASHER, MSG_PG_UNSET, Database, postgres_url_or_skip
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from audits.store import Store
from audits.store.base import MSG_FOREIGN_SQLITE_ENGINE, MSG_URL_AND_ENGINE
from audits.store.db import (
    BUSY_TIMEOUT_MS,
    MSG_UNSUPPORTED_URL,
    current_revision,
    data_dir,
    default_database_url,
    head_revision,
    make_engine,
    normalize_url,
    redact_url,
    upgrade,
)
from audits.store.tables import Base, LogHead

TABLES = {"users", "datasets", "models", "audit_runs", "audit_log", "log_head", "alembic_version",
          "flag_policies", "batches", "cases", "alerts", "reviewers", "reviewer_backgrounds",
          "panel_settings", "assignments", "ratings", "rating_history", "adjudications",
          "exclusions", "reports", "signing_keys", "log_checkpoints", "report_snapshots",
          "systems", "review_instructions", "review_skips", "cannot_tell", "api_tokens",
          "live_decisions", "live_budgets", "live_settings", "webhook_deliveries",
          "reviewer_qualifications", "retention_schedules"}


def test_data_dir_uses_fairpanel_home_and_creates_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "nested" / "home"
    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    assert data_dir() == home
    assert home.is_dir()


def test_default_url_is_a_sqlite_file_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path))
    monkeypatch.delenv("FAIRPANEL_DATABASE_URL", raising=False)
    assert default_database_url() == f"sqlite:///{tmp_path / 'fairpanel.db'}"


def test_default_url_from_env_maps_postgresql_to_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", "postgresql://ada:pw@db:5432/fair")
    assert default_database_url() == "postgresql+psycopg://ada:pw@db:5432/fair"


def test_store_without_url_opens_the_default_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path))
    monkeypatch.delenv("FAIRPANEL_DATABASE_URL", raising=False)
    with Store(password_hasher=FAST_HASHER) as store:
        assert store.dialect == "sqlite"
        assert store.url.endswith("fairpanel.db")
    assert (tmp_path / "fairpanel.db").is_file()


@pytest.mark.parametrize(
    "url", ["mysql://ada:secret@db/fair", "postgresql+psycopg2://ada:secret@db/fair"]
)
def test_unsupported_url_is_refused_with_password_redacted(url: str) -> None:
    with pytest.raises(ValueError) as info:
        make_engine(url)
    assert str(info.value) == MSG_UNSUPPORTED_URL.format(url=redact_url(url))
    assert "secret" not in str(info.value) and "***" in str(info.value)


def test_unparseable_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        normalize_url("not a url at all")


def test_store_url_is_redacted() -> None:
    assert redact_url("postgresql+psycopg://ada:secret@db/fair") == (
        "postgresql+psycopg://ada:***@db/fair"
    )


def test_url_and_engine_together_are_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ValueError, match=MSG_URL_AND_ENGINE):
            Store(f"sqlite:///{tmp_path / 'x.db'}", engine=engine)
    finally:
        engine.dispose()


def test_sqlite_engine_without_fairpanel_settings_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    engine = create_engine(url)
    try:
        with pytest.raises(ValueError) as info:
            Store(engine=engine)
        assert str(info.value) == MSG_FOREIGN_SQLITE_ENGINE.format(url=url)
    finally:
        engine.dispose()


def test_store_on_a_caller_engine_leaves_it_open(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'own.db'}")
    try:
        with Store(engine=engine, password_hasher=FAST_HASHER) as store:
            assert store.engine is engine
        with engine.connect() as conn:  # still usable after the store closed
            assert conn.scalar(text("SELECT count(*) FROM log_head")) == 1
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """A SQLite file only (for the SQLite-specific settings)."""
    database = Database("sqlite", f"sqlite:///{tmp_path / 'fairpanel.db'}")
    try:
        yield database
    finally:
        database.close_all()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_database: Database) -> None:
    store = sqlite_database.open()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        conn.rollback()
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO models (dataset_id, kind, sha256, path, params_json, metrics_json,"
                " feature_names_json, split_json, created_at, created_by)"
                " VALUES (999, 'lr', :h, 'p', '{}', '{}', '[]', '{}', '2024-01-01', 'x')"
            ),
            {"h": "a" * 64},
        )


def test_sqlite_write_transactions_begin_immediate(sqlite_database: Database) -> None:
    sqlite_database.open()
    other = make_engine(sqlite_database.url, connect_args={"timeout": 0.05})
    holder = make_engine(sqlite_database.url)
    try:
        # The holder has written nothing, yet a second writer cannot even begin:
        # BEGIN IMMEDIATE took the write lock, so no two writers share a snapshot.
        with holder.begin(), pytest.raises(OperationalError, match="locked"), other.begin():
            pass
    finally:
        other.dispose()
        holder.dispose()


def test_migrations_create_every_table(store: Store) -> None:
    assert set(inspect(store.engine).get_table_names()) == TABLES
    assert current_revision(store.engine) == head_revision()
    assert store.log_head() == (0, "0" * 64)


def test_migrations_are_idempotent(database: Database) -> None:
    first = database.open()
    upgrade(first.engine)
    second = database.open()
    assert current_revision(second.engine) == head_revision()
    with first.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(LogHead)) == 1
        conn.rollback()


def test_migrations_match_the_orm_models(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
        conn.rollback()
    assert diff == []


def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by_url.db'}"
    upgrade(url)
    engine: Engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_postgres_param_skips_when_the_env_var_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAIRPANEL_TEST_POSTGRES_URL", raising=False)
    with pytest.raises(pytest.skip.Exception, match=MSG_PG_UNSET):
        postgres_url_or_skip()


def test_postgres_param_fails_when_set_but_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_TEST_POSTGRES_URL", "postgresql://nobody:pw@127.0.0.1:1/none")
    with pytest.raises(pytest.fail.Exception, match="cannot be reached") as info:
        postgres_url_or_skip()
    assert "pw@" not in str(info.value)
