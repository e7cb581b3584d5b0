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


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_math_library() -> Iterator[None]:
    """Run BLAS/OpenMP single-threaded: on a busy 2-core machine, oversubscribed OpenMP
    made HistGradientBoosting training take 17-35 s instead of 0.2 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
