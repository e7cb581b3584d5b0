"""Browser-test fixtures; the checkout's ``app`` and ``audits`` packages are made importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from browser_support import Server, running_server  # noqa: E402

if TYPE_CHECKING:
    from demo_support import DemoTemplates


@pytest.fixture
def prepared_server(demo_templates: DemoTemplates, tmp_path: Path) -> Iterator[Server]:
    """The dashboard on a private copy of the session's german_credit demo store (the
    logistic-regression default model, its queue, monitoring example and panel)."""

    def copy_demo(settings: dict[str, str]) -> None:
        demo_templates.copy(Path(settings["FAIRPANEL_HOME"]))

    with running_server(tmp_path, prepare=copy_demo) as running:
        yield running
