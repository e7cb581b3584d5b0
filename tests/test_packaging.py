"""The distribution ships every package, the bundled data, and a lint-clean engine."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_python_package_is_listed_for_the_wheel() -> None:
    setuptools_cfg = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    listed = set(setuptools_cfg["packages"])  # type: ignore[index]
    found = set()
    for top in ("audits", "app"):
        for init in (ROOT / top).rglob("*.py"):
            rel = init.parent.relative_to(ROOT)
            if "__pycache__" not in rel.parts:
                found.add(".".join(rel.parts))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert "fairpanel_datasets" in listed


def test_console_script_and_python_floor() -> None:
    project = _pyproject()["project"]
    assert project["scripts"]["fairpanel"] == "audits.cli:main"  # type: ignore[index]
    assert project["requires-python"] == ">=3.11"  # type: ignore[index]


def test_engine_never_imports_streamlit_or_app() -> None:
    for path in (ROOT / "audits").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"streamlit", "app"}, f"{path.name} imports {name}"


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff")
                    .exists(), reason="ruff is installed by the test extra")
def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "audits", "app", "tests", "scripts"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy")
                    .exists(), reason="mypy is installed by the test extra")
def test_engine_is_mypy_strict_clean() -> None:
    mypy = shutil.which("mypy") or str(Path(sys.executable).parent / "mypy")
    result = subprocess.run([mypy, "audits"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
