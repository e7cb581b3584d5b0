"""Browser-test fixtures; the checkout's ``app`` and ``audits`` packages are made importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from browser_support import Server, prepare_logistic_demo, running_server  # noqa: E402


@pytest.fixture
def prepared_server(tmp_path: Path) -> Iterator[Server]:
    """The dashboard on a store prepared with german_credit and a logistic regression."""
    with running_server(tmp_path, prepare=prepare_logistic_demo) as running:
        yield running
