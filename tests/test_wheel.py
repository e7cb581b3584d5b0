"""fairpanel installed from its wheel, as a user installs it, works outside a checkout.

The wheel is built from this checkout and installed (without dependencies) into a fresh
virtual environment. The runtime dependencies come from the test environment through a
``.pth`` line naming its site-packages: a plain path line only adds that folder to
``sys.path``, it does not run the ``.pth`` files inside it, so the editable install of the
checkout is not activated. The test asserts that, then runs the installed ``fairpanel``
script from an empty temporary folder with a clean environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Installed:
    """A fresh environment with fairpanel's wheel installed, and a folder to run in."""

    wheel: Path
    python: Path
    fairpanel: Path
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.fairpanel), *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("fairpanel-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "-q", str(wheel)], check=True, capture_output=True)
    workdir = base / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "FAIRPANEL_", "VIRTUAL_ENV"))}
    env.update(FAIRPANEL_HOME=str(base / "home"), HOME=str(base / "user"),
               PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    yield Installed(wheel, python, env_dir / "bin" / "fairpanel", workdir, env)


def test_the_wheel_holds_data_migrations_pages_and_type_marker(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for dataset in ("adult", "compas", "german_credit"):
        assert f"fairpanel_datasets/{dataset}.parquet" in names
        assert f"fairpanel_datasets/{dataset}.md" in names
    assert "fairpanel_datasets/synthetic.md" in names
    assert "audits/py.typed" in names
    assert "audits/store/migrations/script.py.mako" in names
    assert any(n.startswith("audits/store/migrations/versions/0001_") for n in names)
    assert "app/streamlit_app.py" in names
    assert any(n.startswith("app/app_pages/") for n in names)


def test_installed_code_and_data_come_from_the_new_environment(installed: Installed) -> None:
    probe = ("import audits, fairpanel_datasets, json; from audits.data.datasets import "
             "datasets_dir; print(json.dumps([audits.__file__, list(fairpanel_datasets.__path__),"
             " str(datasets_dir())]))")
    out = subprocess.run([str(installed.python), "-c", probe], cwd=installed.workdir,
                         env=installed.env, capture_output=True, text=True, check=True)
    module, data_paths, data_dir = json.loads(out.stdout)
    venv_dir = str(installed.python.parent.parent)
    assert module.startswith(venv_dir) and not module.startswith(str(ROOT))
    assert all(p.startswith(venv_dir) for p in data_paths)
    assert data_dir.startswith(venv_dir)


def test_datasets_show_from_the_installed_wheel(installed: Installed) -> None:
    result = installed.run("datasets", "show", "compas")
    assert result.returncode == 0, result.stderr
    assert "two_year_recid" in result.stdout and "race" in result.stdout


def test_audit_from_the_installed_wheel(installed: Installed) -> None:
    result = installed.run("audit", "compas", "--n-boot", "100", "--json", "-")
    assert result.returncode == 0, result.stderr
    audit = json.loads(result.stdout)
    assert audit["rows"] == 6172
    assert {"race"} <= {k for g in audit["groups"] for k in g["attributes"]}


def test_demo_prepares_a_store_from_the_installed_wheel(installed: Installed) -> None:
    result = installed.run("demo", "--dataset", "compas", "--no-serve")
    assert result.returncode == 0, result.stderr
    assert "audit run 1: completed" in result.stdout
    store = Path(installed.env["FAIRPANEL_HOME"]) / "fairpanel.db"
    assert store.is_file() and store.stat().st_size > 0
    verify = installed.run("log", "verify")
    assert verify.returncode == 0 and "chain verified" in verify.stdout
