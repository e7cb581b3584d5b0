"""The command line starts without the data stack, and its light catalog tells the truth.

Speed is checked by what is imported, not by a clock: a module-level import of pandas,
scikit-learn and the like in any command module would cost seconds on every
``fairpanel --help``, and shows up here as a name in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audits.data.catalog import CATALOG, DATASET_NAMES
from audits.data.datasets import BUNDLED

#: Libraries that take tenths of a second or more to import; none is needed to parse.
HEAVY = ("pandas", "sklearn", "scipy", "skops", "shap", "sqlalchemy", "streamlit")

PROBE = """
import contextlib, io, json, sys
import audits.cli.command as command
argv = json.loads(sys.argv[1])
if argv is not None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        command.main(argv)
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


def _imported_after(argv: list[str] | None) -> set[str]:
    """Top-level modules loaded by a fresh interpreter that imports the command (and runs
    ``argv``, unless it is None)."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)],
                          capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("argv", [None, ["--help"], ["audit", "--help"], ["datasets", "list"],
                                  ["datasets", "list", "--json"]],
                         ids=lambda a: "import" if a is None else " ".join(a))
def test_the_command_loads_no_heavy_library(argv: list[str] | None) -> None:
    heavy = sorted(_imported_after(argv) & set(HEAVY))
    assert not heavy, f"imported {heavy}: import them inside the command that needs them"


def test_the_probe_would_see_a_heavy_import() -> None:
    # `datasets show` loads a dataset, so pandas must show up: the probe is not blind.
    assert "pandas" in _imported_after(["datasets", "show", "german_credit"])


def test_catalog_lists_the_registry_in_order() -> None:
    assert DATASET_NAMES == tuple(CATALOG) == tuple(BUNDLED)


@pytest.mark.parametrize("name", list(BUNDLED))
def test_catalog_entry_agrees_with_the_registry(name: str) -> None:
    entry, info = CATALOG[name], BUNDLED[name]
    assert (entry.name, entry.title, entry.n_rows) == (info.name, info.title, info.n_rows)
    assert (entry.target, entry.sensitive_features, entry.prediction, entry.score) == (
        info.roles.target, info.roles.sensitive_features, info.roles.prediction,
        info.roles.score)
