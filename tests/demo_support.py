"""Demo stores built once per test run and copied per test (a uniquely named module).

Preparing the full demo (dataset, model, first audit, review queue, monitoring example,
simulated panel) takes tens of seconds, more on a busy machine; copying the SQLite file
takes milliseconds. :class:`DemoTemplates` prepares each (dataset, model kind) once, in
a folder of its own, and :meth:`DemoTemplates.copy` gives every caller a private copy
whose changes never reach another test. The model files stay in the template's folder,
where the copied database points; a model trained later goes under the copy's own home.

Under pytest-xdist the workers share the templates: the first worker to need one builds
it in the run's common temporary folder while holding a file lock, and records the
:class:`FullDemo` it returned next to it; the others wait on the lock, then copy. A
template is only used once that record exists, so a build cut short is redone.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from audits.demo.panel import FullDemo, ensure_full_demo
from audits.store import Store

#: The demo dataset and model kind most tests use: small, and fast to train and explain.
GERMAN_CREDIT = "german_credit"
LOGISTIC = "logistic_regression"
GRADIENT_BOOSTING = "gradient_boosting"


@dataclass(frozen=True)
class DemoCopy:
    """A private copy of a prepared demo store: its settings, URL and what it holds."""

    env: dict[str, str]
    url: str
    demo: FullDemo


def demo_env(home: Path, dataset: str = GERMAN_CREDIT) -> dict[str, str]:
    """The dashboard's settings (``FAIRPANEL_*``) for a store under ``home``."""
    return {"FAIRPANEL_HOME": str(home),
            "FAIRPANEL_DATABASE_URL": f"sqlite:///{home / 'fairpanel.db'}",
            "FAIRPANEL_DEMO_DATASET": dataset, "FAIRPANEL_AUTH": "demo"}


#: What a finished template records: the FullDemo its preparation returned.
PREPARED = "full_demo.pickle"


class DemoTemplates:
    """Full demo stores prepared on first use, one per (dataset, kind), for a test run
    (shared by its xdist workers)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._root = _run_folder(tmp_path_factory)
        self._built: dict[tuple[str, str], tuple[Path, FullDemo]] = {}

    def copy(self, home: Path, *, dataset: str = GERMAN_CREDIT,
             kind: str = LOGISTIC) -> DemoCopy:
        """Copy the prepared store of ``dataset`` and ``kind`` into ``home`` (created)."""
        template, demo = self._template(dataset, kind)
        home.mkdir(parents=True, exist_ok=True)
        for file in template.glob("fairpanel.db*"):  # the store is closed: no WAL pending
            shutil.copy2(file, home / file.name)
        for folder in ("data", "sensitive"):  # the registered versions' Parquet copies
            if (template / folder).is_dir() and not (home / folder).exists():
                shutil.copytree(template / folder, home / folder)
        if (template / "keys").is_dir() and not (home / "keys").exists():
            # The store's log is signed with the template's key (pinned in the store);
            # a copy without it could not sign another checkpoint or report.
            shutil.copytree(template / "keys", home / "keys")
        env = demo_env(home, dataset)
        return DemoCopy(env=env, url=env["FAIRPANEL_DATABASE_URL"], demo=demo)

    def _template(self, dataset: str, kind: str) -> tuple[Path, FullDemo]:
        if (dataset, kind) not in self._built:
            home = self._root / f"demo-template-{dataset}-{kind}"
            with FileLock(f"{home}.lock"):
                if not (home / PREPARED).is_file():
                    _prepare(home, dataset, kind)
                demo = pickle.loads((home / PREPARED).read_bytes())
            self._built[(dataset, kind)] = (home, demo)
        return self._built[(dataset, kind)]


def _run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of this test run: under xdist, the one all workers share
    (each worker's own folder lies in it); otherwise the session's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _prepare(home: Path, dataset: str, kind: str) -> None:
    """Prepare the full demo in ``home`` (emptied first), then record what it returned."""
    shutil.rmtree(home, ignore_errors=True)  # what a build cut short left
    home.mkdir(parents=True)
    env = demo_env(home, dataset)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)  # the model file goes under FAIRPANEL_HOME
        with Store(env["FAIRPANEL_DATABASE_URL"]) as store:
            # Without the conversation demo: the browser tests of the decision flows open
            # the newest queue; the conversation tests add it to their copy.
            demo = ensure_full_demo(store, dataset=dataset, kind=kind, conversations=False)
    partial = home / f"{PREPARED}.partial"
    partial.write_bytes(pickle.dumps(demo))
    partial.replace(home / PREPARED)
