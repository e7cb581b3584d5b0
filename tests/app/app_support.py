"""What the page tests with a prepared store share: the store, and opening a page."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import loaders
from audits.demo import DEMO_PERSONAS, DemoState
from audits.demo_panel import FullDemo, ensure_full_demo
from audits.roles import Actor, Role
from audits.store import AuditRunRecord, Store

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
PERSONAS = {p.role: p for p in DEMO_PERSONAS}
DATA_SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)


@dataclass(frozen=True)
class DemoCopy:
    """A private copy of the full german_credit demo (queue, monitoring, panel)."""

    env: dict[str, str]
    url: str
    demo: FullDemo


_TEMPLATE: list[tuple[Path, FullDemo]] = []


@contextmanager
def full_demo_copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[DemoCopy]:
    """Yield a copy of the full demo (logistic regression), built once per session.

    Building it takes about 30 s; a copy of the SQLite file takes milliseconds, and each
    test module gets its own, so one module's ratings never leak into another's. The
    model file stays in the template's folder, where the copied database points.
    """
    if not _TEMPLATE:
        template = tmp_path_factory.mktemp("fairpanel-template")
        with pytest.MonkeyPatch.context() as mp:
            for key, value in _env(template).items():
                mp.setenv(key, value)
            with Store(_env(template)["FAIRPANEL_DATABASE_URL"]) as store:
                demo = ensure_full_demo(store, kind="logistic_regression")
        _TEMPLATE.append((template, demo))
    template, demo = _TEMPLATE[0]
    home = tmp_path_factory.mktemp(name)
    for file in template.glob("fairpanel.db*"):  # the store is closed: no WAL is pending
        shutil.copy2(file, home / file.name)
    env = _env(home)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield DemoCopy(env=env, url=env["FAIRPANEL_DATABASE_URL"], demo=demo)
    # The dashboard caches one Store per URL for the process; release its connections.
    loaders.close_stores()


def _env(home: Path) -> dict[str, str]:
    return {"FAIRPANEL_HOME": str(home),
            "FAIRPANEL_DATABASE_URL": f"sqlite:///{home / 'fairpanel.db'}",
            "FAIRPANEL_DEMO_DATASET": "german_credit", "FAIRPANEL_AUTH": "demo"}


@dataclass(frozen=True)
class RunEnv:
    """A prepared demo store with one stored run."""

    env: dict[str, str]
    url: str
    demo: DemoState
    stored: AuditRunRecord


@contextmanager
def prepared_store(tmp_path_factory: pytest.TempPathFactory, name: str,
                   run: Callable[[Store, DemoState], AuditRunRecord]) -> Iterator[RunEnv]:
    """The german_credit demo (logistic regression, fast) and one run made by ``run``,
    in a private copy of the session's demo store."""
    with full_demo_copy(tmp_path_factory, name) as copy:
        with Store(copy.url) as store:
            stored = run(store, copy.demo.state)
        yield RunEnv(env=copy.env, url=copy.url, demo=copy.demo.state, stored=stored)


def open_page(page: str, title: str, role: Role, *, timeout: float) -> AppTest:
    """Return the dashboard on ``page``, signed in as the persona of ``role``."""
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=timeout)
    at.run()
    at.button(key=f"sign_in.persona.{PERSONAS[role].username}").click().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == [title]
    return at
