"""Fixtures of the store tests: one fresh database per test, on SQLite and PostgreSQL.

PostgreSQL runs when ``FAIRPANEL_TEST_POSTGRES_URL`` is set (it is skipped otherwise; if
it is set and the server cannot be reached the test fails). Each PostgreSQL test gets
its own schema ``t_<hex>``, named in the connection's ``search_path`` so the tables and
Alembic's version table live there, and dropped with CASCADE afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from db_support import Database, postgres_schema, postgres_url_or_skip

from audits.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        db = Database("sqlite", f"sqlite:///{tmp_path / 'fairpanel.db'}")
        try:
            yield db
        finally:
            db.close_all()
        return
    with postgres_schema(postgres_url_or_skip()) as url:
        db = Database("postgresql", url)
        try:
            yield db
        finally:
            db.close_all()


@pytest.fixture
def store(database: Database) -> Store:
    """A migrated store on a fresh database."""
    return database.open()
