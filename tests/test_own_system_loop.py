"""The acceptance loop of "bring your own system": the README's section, run as written.

The README's "Audit your own model" holds a script that makes a dataset and a skops model
fairpanel has never seen, and the commands of the whole loop: users, ``systems add``,
``audit --system --save``, ``explain``, ``queue build``, ``panel add`` and ``assign``,
``queue export``, reviews done elsewhere (a long CSV and a Label Studio export, made from
the exported tasks), ``ratings import``, ``panel analyse``, the report drafted and
submitted by one person and approved by another, exported and verified, and
``retrain``. This test runs those blocks in order, from the command line alone (the
``fairpanel`` command of this interpreter, in a fresh ``FAIRPANEL_HOME``), so the README
and the suite cannot drift apart; then it checks the store with oracles of its own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from db_support import HANG_TIMEOUT_S

from audits.roles import Actor
from audits.store import Store

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTION = "Audit your own model"
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: What the acceptance criteria ask the loop to hold, as the commands spell it.
ACCEPTANCE = ("fairpanel users add", "fairpanel systems add", "fairpanel audit --system",
              "--save", "fairpanel explain", "fairpanel queue build", "fairpanel panel add",
              "fairpanel panel assign", "fairpanel queue export", "--format csv",
              "--format labelstudio", "fairpanel ratings import", "--format long",
              "fairpanel panel analyse", "fairpanel report draft", "fairpanel report submit",
              "fairpanel report approve", "fairpanel report verify", "fairpanel retrain")


def _section(text: str, title: str) -> str:
    match = re.search(rf"^(#+)\s+{re.escape(title)}\s*$", text, re.MULTILINE)
    assert match, f"README.md has no section {title!r}"
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{len(match.group(1))}}}\s", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def readme_blocks() -> list[tuple[str, str]]:
    """The (language, code) blocks of the README's section, in order."""
    return BLOCK.findall(_section(README.read_text(), SECTION))


def test_the_section_holds_every_step_of_the_acceptance_loop() -> None:
    commands = "\n".join(code for language, code in readme_blocks() if language == "bash")
    joined = commands.replace("\\\n", " ")
    for step in ACCEPTANCE:
        assert step in joined, f"README '{SECTION}' lacks {step!r}"
    languages = [language for language, _ in readme_blocks()]
    assert languages == ["python", "bash", "python", "bash"]


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Run the README's blocks in a fresh folder and FAIRPANEL_HOME; keep the outputs."""
    work = tmp_path_factory.mktemp("own-system")
    shim = work / "bin"
    shim.mkdir()
    command = shim / "fairpanel"  # `fairpanel` is this interpreter's command line
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m audits.cli "$@"\n')
    command.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FAIRPANEL_") or k == "FAIRPANEL_DEBUG"}
    env.update(FAIRPANEL_HOME=str(work / "fairpanel-home"),
               PATH=f"{shim}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT))
    outputs: dict[str, str] = {}
    for number, (language, code) in enumerate(readme_blocks(), start=1):
        argv = ([sys.executable, "-c", code] if language == "python"
                else ["bash", "-euo", "pipefail", "-c", code])
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=HANG_TIMEOUT_S, check=False)
        assert done.returncode == 0, (f"README block {number} ({language}) failed:\n"
                                      f"{done.stdout}\n{done.stderr}")
        outputs[f"block {number}"] = done.stdout + done.stderr
    return work, env


def _store(work: Path) -> Store:
    return Store(f"sqlite:///{work / 'fairpanel-home' / 'fairpanel.db'}")


def test_the_loop_registers_audits_explains_and_reviews(
        loop: tuple[Path, dict[str, str]]) -> None:
    work, _ = loop
    with open(work / "decisions.csv", newline="") as f:
        n_rows = sum(1 for _ in csv.DictReader(f))
    with _store(work) as store:
        version = store.latest_version("credit")
        assert (version.version, version.n_rows) == (1, n_rows)
        stored = work / "fairpanel-home" / str(version.data_path)
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == version.sha256
        assert version.sensitive is not None and version.sensitive["n_matched"] == n_rows
        audit = store.get_audit_run(1)
        assert audit is not None and audit.status == "completed"
        assert audit.dataset_id == version.id and audit.model_id is not None
        runs = store.list_audit_runs()
        assert any((r.config or {}).get("kind") == "explanations" for r in runs)
        ratings = store.ratings_for_analysis(Actor.system(), 1)
    with open(work / "tasks.csv", newline="") as f:
        n_csv = sum(1 for _ in csv.DictReader(f))
    n_tasks = len(json.loads((work / "tasks.json").read_text()))
    assert len(ratings) == 2 * n_csv + 3 * n_tasks  # two in the CSV, three in Label Studio


def test_the_loop_signs_verifies_and_retrains(loop: tuple[Path, dict[str, str]]) -> None:
    work, env = loop
    with _store(work) as store:
        report = store.get_report(1)
        assert report is not None and report.approved
        assert report.manifest is not None and report.manifest["approved_by"] == "casey"
        models = store.list_models()
    assert (work / "report.pdf").read_bytes().startswith(b"%PDF")
    candidates = [m for m in models if m.status == "candidate"]
    assert len(candidates) == 1 and candidates[0].created_by == "dana"
    assert candidates[0].parent_id is not None
    again = subprocess.run(["fairpanel", "report", "verify", "report.pdf"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT_S,
                           check=False)
    assert again.returncode == 0 and "report verified" in again.stderr


def test_importing_the_same_reviews_again_adds_nothing(
        loop: tuple[Path, dict[str, str]]) -> None:
    work, env = loop
    done = subprocess.run(["fairpanel", "ratings", "import", "ratings.csv", "--audit", "1",
                           "--format", "long", "--json", "-"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=HANG_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_ratings_added"] == 0
