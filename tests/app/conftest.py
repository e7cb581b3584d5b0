"""The app tests' fixtures; the checkout's ``app`` and ``audits`` packages are made
importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from demo_support import DemoCopy, DemoTemplates

    from audits.store import Store


@pytest.fixture(autouse=True, scope="session")
def _scan_installed_components_once() -> Iterator[None]:
    """Scan the installed packages for Streamlit components once per session.

    Every new AppTest scans the metadata of every installed distribution for component
    manifests: half the cost of opening a page, repeated for each of some 250 AppTests,
    with the same answer each time (nothing is installed while the tests run).
    """
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # a Streamlit without v2 components scans nothing
        yield
        return
    scanned = manifest_scanner.scan_component_manifests()

    def scan_once(max_workers: int | None = None) -> list[Any]:
        return list(scanned)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_scanner, "scan_component_manifests", scan_once)
        yield


@pytest.fixture(autouse=True, scope="session")
def _served_on_loopback() -> Iterator[None]:
    """Run the pages as ``fairpanel serve`` does: bound to 127.0.0.1.

    Demo mode is refused unless Streamlit's ``server.address`` is a loopback address, and
    an AppTest has no server (the option is unset), so the suite sets it.
    """
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


@pytest.fixture
def compas_copy(demo_templates: DemoTemplates,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    """A private copy of the session's compas demo (logged decisions, no model of ours),
    with the dashboard pointed at it for one test."""
    from app_support import demo_copy  # here, not above: importing the app logs warnings
    from demo_support import GRADIENT_BOOSTING

    with demo_copy(demo_templates, tmp_path_factory, "fairpanel-compas", dataset="compas",
                   kind=GRADIENT_BOOSTING) as copy:
        yield copy


@pytest.fixture
def real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A fresh store for real (non-demo) users, the dashboard pointed at it, no sign-in
    mode set (local accounts).

    Real users never enter the shared demo store: demo mode is refused on a store that
    holds any. A test adds the users it needs.
    """
    from app import loaders  # here, not above: importing the app logs warnings
    from audits.store import Store

    url = f"sqlite:///{tmp_path / 'real.db'}"
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", url)
    monkeypatch.delenv("FAIRPANEL_AUTH", raising=False)
    with Store(url) as opened:
        yield opened
    loaders.close_stores()
