"""Every example in the engine's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import audits

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(audits.__path__, prefix="audits.")
    if ".migrations" not in name and name not in {"audits.cli.command", "audits.cli.__main__"}
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
