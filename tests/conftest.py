"""Fixtures shared by every test folder: a fresh store URL on SQLite and PostgreSQL, and
the session's prepared demo stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from db_support import postgres_schema, postgres_url_or_skip
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from demo_support import DemoTemplates

# No property test depends on how fast the machine is: no per-example deadline (200 ms by
# default) and no health check that fails when generating examples is slow. A test's own
# @settings keeps these unless it names them.
settings.register_profile("fairpanel", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fairpanel")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fairpanel.db'}"
        return
    with postgres_schema(postgres_url_or_skip()) as url:
        yield url


@pytest.fixture(autouse=True)
def _store_url_restored() -> Iterator[None]:
    """Put FAIRPANEL_DATABASE_URL back after each test: ``fairpanel --database-url URL``
    run in-process sets it for the rest of its process (as a command should), which must
    not send a later test to a store whose scratch schema is gone."""
    before = os.environ.get("FAIRPANEL_DATABASE_URL")
    yield
    if before is None:
        os.environ.pop("FAIRPANEL_DATABASE_URL", None)
    else:
        os.environ["FAIRPANEL_DATABASE_URL"] = before


@pytest.fixture(autouse=True, scope="session")
def _home_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary FAIRPANEL_HOME for the session (a test may set its own): the
    deployment key that signs log checkpoints on every write, and any default store, are
    created there, never in the home folder of whoever runs the tests."""
    mp = pytest.MonkeyPatch()
    if "FAIRPANEL_HOME" not in os.environ:
        mp.setenv("FAIRPANEL_HOME", str(tmp_path_factory.mktemp("fairpanel_home")))
    try:
        yield
    finally:
        mp.undo()


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_math_library() -> Iterator[None]:
    """Run BLAS/OpenMP single-threaded: on a busy 2-core machine, oversubscribed OpenMP
    made HistGradientBoosting training take 17-35 s instead of 0.2 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> DemoTemplates:
    """Full demo stores, each prepared on first use and then copied (see demo_support)."""
    from demo_support import DemoTemplates  # the engine is imported only when needed

    return DemoTemplates(tmp_path_factory)
