"""Fixtures shared by every test folder: a fresh store URL on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from db_support import postgres_schema, postgres_url_or_skip


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fairpanel.db'}"
        return
    with postgres_schema(postgres_url_or_skip()) as url:
        yield url
