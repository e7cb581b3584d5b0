"""The distribution ships every package and the bundled data, installs and runs outside a
checkout, and the engine is lint-clean."""

from __future__ import annotations

import ast
import contextlib
import email.parser
import json
import os
import re
import shutil
import site
import sqlite3
import subprocess
import sys
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement

if TYPE_CHECKING:
    import pandas as pd

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


# --- The wheel, installed as a user installs it, works outside a checkout -------------------
#
# The wheel is built from a clean copy of the files the build reads (so nothing stale in a
# checkout's build/ or *.egg-info can slip into it, and the checkout is not written to),
# then installed with --no-deps into a fresh virtual environment. The runtime dependencies
# come from this test environment through a .pth file holding its site-packages folders: a
# plain path line only extends sys.path, it does not run the .pth files found there, so an
# editable install of the checkout stays inactive (test_installed_code_and_data_... asserts
# it). The installed `fairpanel` script then runs from an empty folder outside the checkout
# with a clean environment: no PYTHON* variables, HOME and FAIRPANEL_HOME in a temporary
# folder, so no command can read or write the user's data.

SCRIPTS = "Scripts" if os.name == "nt" else "bin"
COMPAS_RACES = {"African-American", "Caucasian", "Hispanic", "Other", "Asian",
                "Native American"}


@dataclass(frozen=True)
class InstalledWheel:
    """fairpanel's wheel installed in a fresh environment, and an empty folder to run in."""

    wheel: Path
    source: Path
    venv: Path
    workdir: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / SCRIPTS / "python"

    def run(self, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the installed ``fairpanel`` script (``home``: another FAIRPANEL_HOME)."""
        env = dict(self.env, **({"FAIRPANEL_HOME": str(home)} if home else {}))
        return _run([str(self.venv / SCRIPTS / "fairpanel"), *args], cwd=self.workdir,
                    env=env)


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    base = tmp_path_factory.mktemp("installed_wheel")
    source, dist, env_dir = base / "source", base / "dist", base / "venv"
    _copy_build_inputs(source)
    _pip(sys.executable, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist),
         str(source))
    (wheel,) = dist.glob("fairpanel-*.whl")
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / SCRIPTS / "python"
    site_packages = _run([str(python), "-c", "import sysconfig; "
                          "print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(site_packages) / "_test_dependencies.pth").write_text(
        "".join(f"{folder}\n" for folder in _dependency_folders()), encoding="utf-8")
    _pip(sys.executable, "--python", str(python), "install", "--no-deps", str(wheel))
    workdir = base / "elsewhere"
    workdir.mkdir()
    # A clean environment: nothing inherited but nothing needed either. One math thread per
    # process, as conftest.py sets for the tests themselves (the machine may be busy).
    env = {"PATH": f"{env_dir / SCRIPTS}{os.pathsep}{os.defpath}", "HOME": str(base / "user"),
           "FAIRPANEL_HOME": str(base / "fairpanel_home"), "OMP_NUM_THREADS": "1"}
    return InstalledWheel(wheel, source, env_dir, workdir, env)


def test_wheel_holds_exactly_the_packages_data_migrations_and_pages(
        installed_wheel: InstalledWheel) -> None:
    expected = _files_by_wheel_name(installed_wheel.source)
    with zipfile.ZipFile(installed_wheel.wheel) as whl:
        shipped = {n for n in whl.namelist() if ".dist-info/" not in n}
        assert sorted(expected.keys() - shipped) == [], "missing from the wheel"
        assert sorted(shipped - expected.keys()) == [], "in the wheel but not in the sources"
        for name, path in expected.items():
            assert whl.read(name) == path.read_bytes(), f"{name} differs from its source"
    for dataset in ("adult", "compas", "german_credit"):
        assert {f"fairpanel_datasets/{dataset}.parquet", f"fairpanel_datasets/{dataset}.md"} \
            <= shipped
    assert "fairpanel_datasets/synthetic.md" in shipped
    assert "audits/py.typed" in shipped
    assert {"audits/store/migrations/env.py", "audits/store/migrations/script.py.mako"} \
        <= shipped
    for pattern in ("audits/store/migrations/versions/0*.py", "app/app_pages/*.py"):
        in_checkout = {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)}
        assert in_checkout and in_checkout <= shipped, pattern
    # package-data ships app/*.toml; the checkout has none yet, so this holds trivially now.
    assert {p.relative_to(ROOT).as_posix() for p in ROOT.glob("app/*.toml")} <= shipped


def test_wheel_metadata_names_the_script_and_every_dependency(
        installed_wheel: InstalledWheel) -> None:
    project = _pyproject()["project"]
    with zipfile.ZipFile(installed_wheel.wheel) as whl:
        info = "fairpanel-{}.dist-info/".format(project["version"])  # type: ignore[index]
        metadata = email.parser.Parser().parsestr(whl.read(info + "METADATA").decode())
        entry_points = whl.read(info + "entry_points.txt").decode()
    assert metadata["Name"] == "fairpanel"
    assert metadata["Requires-Python"] == project["requires-python"]  # type: ignore[index]
    runtime = {Requirement(r) for r in metadata.get_all("Requires-Dist", [])
               if "extra ==" not in r}
    assert runtime == {Requirement(r) for r in project["dependencies"]}  # type: ignore[index]
    assert "[console_scripts]\nfairpanel = audits.cli:main" in entry_points


def test_installed_code_and_data_come_from_the_new_environment(
        installed_wheel: InstalledWheel) -> None:
    probe = (
        "import json, sys, app, audits, fairpanel_datasets, pandas\n"
        "from audits.data.datasets import datasets_dir\n"
        "print(json.dumps({'audits': audits.__file__, 'app': app.__file__,\n"
        "    'fairpanel_datasets': list(fairpanel_datasets.__path__),\n"
        "    'datasets_dir': str(datasets_dir()), 'pandas': pandas.__file__,\n"
        "    'editable': [m for m in sys.modules if m.startswith('__editable__')],\n"
        "    'sys_path': sys.path}))\n")
    found = json.loads(_run([str(installed_wheel.python), "-c", probe],
                            cwd=installed_wheel.workdir, env=installed_wheel.env).stdout)
    venv_dir = installed_wheel.venv.resolve()
    for key in ("audits", "app", "datasets_dir"):
        assert Path(found[key]).resolve().is_relative_to(venv_dir), (key, found[key])
    (data_folder,) = found["fairpanel_datasets"]
    assert Path(data_folder).resolve().is_relative_to(venv_dir)
    assert Path(found["datasets_dir"]).resolve() == Path(data_folder).resolve()
    # The dependencies do come from the test environment, and the checkout does not.
    assert any(Path(found["pandas"]).resolve().is_relative_to(Path(folder).resolve())
               for folder in _dependency_folders())
    assert found["editable"] == []
    assert not [p for p in found["sys_path"] if p and Path(p).resolve() == ROOT]
    assert not installed_wheel.workdir.resolve().is_relative_to(ROOT)


def test_installed_script_shows_a_bundled_dataset_with_its_card(
        installed_wheel: InstalledWheel) -> None:
    result = installed_wheel.run("datasets", "show", "compas")
    card = (ROOT / "datasets" / "compas.md").read_text(encoding="utf-8")
    assert result.stdout.startswith(card)
    loaded = dict(line[2:].split(": ", 1) for line in result.stdout[len(card):].splitlines()
                  if line.startswith("- "))
    assert int(loaded["rows"]) == len(_compas())
    assert len(loaded["content sha256"]) == 64
    roles = json.loads(loaded["roles"])
    assert roles["target"] == "two_year_recid" and roles["prediction"] == "high_risk"
    assert roles["sensitive_features"] == ["race", "sex", "age_cat"]
    assert list(installed_wheel.workdir.iterdir()) == []


def test_installed_script_audits_compas_as_pandas_counts_it(
        installed_wheel: InstalledWheel) -> None:
    result = installed_wheel.run("audit", "compas", "--n-boot", "100", "--json", "-")
    audit = json.loads(result.stdout)
    compas = _compas()
    assert audit["rows"] == len(compas)
    by_race = {g["attributes"]["race"]: g for g in audit["groups"]
               if g["attributes"].keys() == {"race"}}
    assert set(by_race) == COMPAS_RACES
    not_reoffended = compas[compas["two_year_recid"] == 0]
    for race, group in by_race.items():
        rows = compas[compas["race"] == race]
        assert group["n"] == len(rows)
        metrics = group["metrics"]
        assert metrics["selection_rate"]["value"] == pytest.approx(rows["high_risk"].mean())
        fpr = not_reoffended.loc[not_reoffended["race"] == race, "high_risk"].mean()
        assert metrics["false_positive_rate"]["value"] == pytest.approx(fpr)
    # Intersections of the three sensitive features are audited too.
    assert any(g["attributes"].keys() == {"race", "sex", "age_cat"} for g in audit["groups"])
    assert list(installed_wheel.workdir.iterdir()) == []


def test_installed_script_prepares_the_demo_store_in_fairpanel_home(
        installed_wheel: InstalledWheel) -> None:
    home = installed_wheel.workdir.parent / "demo_home"
    assert not home.exists()
    # compas is the quickest bundled demo: its decisions are recorded, no model is trained.
    result = installed_wheel.run("demo", "--dataset", "compas", "--no-serve", home=home)
    store = home / "fairpanel.db"
    assert store.is_file(), result.stdout
    assert f"dataset compas: {len(_compas())} rows" in result.stdout
    assert "audit run 1: completed" in result.stdout
    panel = re.search(r"reviewer panel: (\d+) reviewers .*, (\d+) assignments", result.stdout)
    chat = re.search(r"conversation system .*, (\d+) assignments", result.stdout)
    assert panel and chat, result.stdout
    with contextlib.closing(sqlite3.connect(store)) as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        card, n_rows = db.execute(
            "SELECT card, n_rows FROM datasets WHERE name = 'compas'").fetchone()
        statuses = {s for (s,) in db.execute("SELECT status FROM audit_runs")}
        n_reviewers, n_assignments, n_log = (
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("reviewers", "assignments", "audit_log"))
    assert version == _migration_head()
    assert card.strip() == (ROOT / "datasets" / "compas.md").read_text(encoding="utf-8").strip()
    assert n_rows == len(_compas())
    assert statuses == {"completed"}
    assert (n_reviewers, n_assignments) == (int(panel[1]), int(panel[2]) + int(chat[1]))
    verify = json.loads(installed_wheel.run("log", "verify", "--json", home=home).stdout)
    assert verify["ok"] is True and verify["n_entries"] == n_log > 0
    # Nothing went to the user's data folder or to the working folder.
    user = Path(installed_wheel.env["HOME"])
    assert not [p for p in user.rglob("*") if "fairpanel" in p.name.lower()]
    assert list(installed_wheel.workdir.iterdir()) == []


def _top_packages() -> dict[str, str]:
    """Each top-level package of the wheel and its source folder (package-dir applied)."""
    setuptools_cfg = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    package_dir = setuptools_cfg.get("package-dir", {})
    return {top: package_dir.get(top, top)
            for top in sorted({name.split(".")[0] for name in setuptools_cfg["packages"]})}


def _copy_build_inputs(dest: Path) -> None:
    """Copy what the build reads: pyproject.toml, the readme and each package's folder."""
    dest.mkdir()
    for name in ("pyproject.toml", _pyproject()["project"]["readme"]):  # type: ignore[index]
        shutil.copy2(ROOT / name, dest / name)
    for folder in _top_packages().values():
        shutil.copytree(ROOT / folder, dest / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))


def _files_by_wheel_name(source: Path) -> dict[str, Path]:
    """Every file of the packages' folders, by its name in the wheel (datasets/adult.md is
    fairpanel_datasets/adult.md)."""
    return {"/".join([top, *path.relative_to(source / folder).parts]): path
            for top, folder in _top_packages().items()
            for path in (source / folder).rglob("*") if path.is_file()}


def _dependency_folders() -> list[str]:
    """This environment's site-packages folders (which may lie in a checkout's .venv)."""
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return [f for f in dict.fromkeys(folders) if Path(f).is_dir() and Path(f).resolve() != ROOT]


def _compas() -> pd.DataFrame:
    """The bundled COMPAS rows after ProPublica's filter, read straight from the checkout."""
    import pandas as pd

    frame = pd.read_parquet(ROOT / "datasets" / "compas.parquet")
    return frame[frame["propublica_filter"]]


def _migration_head() -> str:
    """The one migration revision that no other revision names as its parent."""
    revisions, parents = set(), set()
    for script in (ROOT / "audits" / "store" / "migrations" / "versions").glob("0*.py"):
        text = script.read_text(encoding="utf-8")
        revisions |= set(re.findall(r'^revision[^=]*=\s*"([^"]+)"', text, re.M))
        parents |= set(re.findall(r'^down_revision[^=]*=\s*"([^"]+)"', text, re.M))
    (head,) = revisions - parents
    return head


def _pip(python: str, *args: str) -> None:
    """Run pip offline: no index, no version check, so the test never needs the network."""
    _run([python, "-m", "pip", *args, "--no-index", "--disable-pip-version-check", "-q"])


def _run(command: list[str], *, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            encoding="utf-8", timeout=600, check=False)
    shown = " ".join([Path(command[0]).name, *command[1:]])[:200]
    assert result.returncode == 0, (
        f"{shown} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result
