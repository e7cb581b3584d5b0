"""What the page tests with a prepared store share: the store, and opening a page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import loaders
from audits.demo import DEMO_PERSONAS, DemoState
from audits.demo_panel import ensure_full_demo
from audits.roles import Actor, Role
from audits.store import AuditRunRecord, Store

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
PERSONAS = {p.role: p for p in DEMO_PERSONAS}
DATA_SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)


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
    in a temporary FAIRPANEL_HOME."""
    home = tmp_path_factory.mktemp(name)
    url = f"sqlite:///{home / 'fairpanel.db'}"
    env = {"FAIRPANEL_HOME": str(home), "FAIRPANEL_DATABASE_URL": url,
           "FAIRPANEL_DEMO_DATASET": "german_credit", "FAIRPANEL_AUTH": "demo"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        with Store(url) as store:
            demo = ensure_full_demo(store, kind="logistic_regression").state
            stored = run(store, demo)
        yield RunEnv(env=env, url=url, demo=demo, stored=stored)
    # The dashboard caches one Store per URL for the process; release its connections.
    loaders.close_stores()


def open_page(page: str, title: str, role: Role, *, timeout: float) -> AppTest:
    """Return the dashboard on ``page``, signed in as the persona of ``role``."""
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=timeout)
    at.run()
    at.button(key=f"sign_in.persona.{PERSONAS[role].username}").click().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == [title]
    return at
