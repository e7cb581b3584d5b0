"""What the page tests with a prepared store share: the store, and opening a page.

A page test waits for the page's script run to finish, however long that takes on a
busy machine: :data:`HANG_TIMEOUT_S` only stops a run that hangs. What keeps the runs
fast is the store: the full demo is prepared once per session (see ``demo_support``)
and each module works on its own copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from demo_support import GERMAN_CREDIT, LOGISTIC, DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from app import loaders
from audits.demo.default import DEMO_PERSONAS, DemoState
from audits.roles import Actor, Role
from audits.store import AuditRunRecord, Store

__all__ = ["APP_SCRIPT", "DATA_SCIENTIST", "HANG_TIMEOUT_S", "PERSONAS", "DemoCopy", "RunEnv",
           "demo_copy", "full_demo_copy", "new_app", "open_page", "prepared_store"]

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
PERSONAS = {p.role: p for p in DEMO_PERSONAS}
DATA_SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
#: A guard against a hung script run, not a speed requirement: the longest run, the first
#: visit to an empty store, prepares the whole demo (about 20 s on an idle machine).
HANG_TIMEOUT_S = 300.0


def new_app() -> AppTest:
    """Return the dashboard's AppTest, not yet run, with the suite's hang guard."""
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=HANG_TIMEOUT_S)


@contextmanager
def demo_copy(templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory,
              name: str, *, dataset: str = GERMAN_CREDIT,
              kind: str = LOGISTIC) -> Iterator[DemoCopy]:
    """Yield a private copy of the session's full demo of ``dataset`` and ``kind``, with
    the dashboard's settings in the environment; release the dashboard's stores after."""
    copy = templates.copy(tmp_path_factory.mktemp(name), dataset=dataset, kind=kind)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in copy.env.items():
            mp.setenv(key, value)
        yield copy
    # The dashboard caches one Store per URL for the process; release its connections.
    loaders.close_stores()


@contextmanager
def full_demo_copy(templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory,
                   name: str) -> Iterator[DemoCopy]:
    """Yield a copy of the full german_credit demo (logistic regression).

    Each test module gets its own, so one module's ratings never leak into another's.
    """
    with demo_copy(templates, tmp_path_factory, name) as copy:
        yield copy


@dataclass(frozen=True)
class RunEnv:
    """A prepared demo store with one stored run."""

    env: dict[str, str]
    url: str
    demo: DemoState
    stored: AuditRunRecord


@contextmanager
def prepared_store(templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory,
                   name: str, run: Callable[[Store, DemoState], AuditRunRecord],
                   ) -> Iterator[RunEnv]:
    """The german_credit demo (logistic regression, fast) and one run made by ``run``,
    in a private copy of the session's demo store."""
    with full_demo_copy(templates, tmp_path_factory, name) as copy:
        with Store(copy.url) as store:
            stored = run(store, copy.demo.state)
        yield RunEnv(env=copy.env, url=copy.url, demo=copy.demo.state, stored=stored)


def open_page(page: str, title: str, role: Role) -> AppTest:
    """Return the dashboard on ``page``, signed in as the persona of ``role``."""
    at = new_app()
    at.run()
    at.button(key=f"sign_in.persona.{PERSONAS[role].username}").click().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == [title]
    return at
