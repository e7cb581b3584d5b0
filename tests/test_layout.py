"""The engine's layout: one folder per concept, no import cycles, a curated public API.

The import graph is built from the source with :mod:`ast`, so it sees every import: at
module level, inside functions, and under ``if TYPE_CHECKING:``. A cycle through any of
them fails, because each one is a place where a lower module knows a higher one.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import audits
from audits._lazy import exported_modules

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "audits"
#: The only modules directly under audits/ besides the package's __init__.py.
TOP_LEVEL_MODULES = {"roles.py", "versions.py", "_lazy.py"}
SUBPACKAGES = sorted(m.name for m in pkgutil.iter_modules(audits.__path__) if m.ispkg)
#: Concepts that sit at the top of the dependency order: nothing in the engine imports
#: them except the packages named beside each.
IMPORTED_ONLY_BY = {"cli": set(), "demo": {"cli"}, "reports": {"cli", "evidence"},
                    "api": {"cli"}, "evidence": {"cli"}}
#: Small shared modules any concept may import.
SHARED = {"roles", "versions", "_lazy"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in ENGINE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every engine module ``path`` imports, anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                yield child if child in modules else node.module


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(path, modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for vertex in sorted(graph):
        if vertex not in index:
            visit(vertex)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_engine_modules() -> None:
    assert _cycles(_graph()) == []


def test_only_shared_modules_sit_directly_under_audits() -> None:
    loose = {p.name for p in ENGINE.glob("*.py")} - {"__init__.py"}
    assert loose == TOP_LEVEL_MODULES


def test_every_subpackage_says_what_it_owns() -> None:
    for name in SUBPACKAGES:
        package = importlib.import_module(f"audits.{name}")
        doc = package.__doc__ or ""
        assert len(doc.split()) >= 20, f"audits/{name}/__init__.py needs a docstring"


def test_engine_modules_import_concrete_modules_not_other_packages() -> None:
    # A package __init__ re-exports lazily for notebook users; the engine itself names
    # the module it needs, so importing one concept never loads another's whole API.
    packages = {f"audits.{name}" for name in SUBPACKAGES if name != "store"} | {"audits"}
    for module, targets in _graph().items():
        if module in packages:
            continue
        assert not targets & packages, f"{module} imports {sorted(targets & packages)}"


def test_dependency_direction_between_concepts() -> None:
    for module, targets in _graph().items():
        source = module.split(".")[1] if module.count(".") else ""
        for target in targets:
            concept = target.split(".")[1] if target.count(".") else ""
            if concept in IMPORTED_ONLY_BY and source != concept and module != "audits":
                assert source in IMPORTED_ONLY_BY[concept], f"{module} imports {target}"
            if concept in SHARED:
                continue
            if source == "data" and concept not in {"data", "roles"}:
                pytest.fail(f"{module} imports {target}: data/ imports nothing but roles")
            if source == "store" and concept not in {"store", "roles"}:
                pytest.fail(f"{module} imports {target}: the store imports no analysis")


@pytest.mark.parametrize("package_name", ["audits", *(f"audits.{n}" for n in SUBPACKAGES)])
def test_public_api_resolves_and_is_listed_once(package_name: str) -> None:
    package = importlib.import_module(package_name)
    public = set(package.__all__)
    assert list(package.__all__) == sorted(package.__all__)
    if package_name != "audits.store":  # the store's __init__ imports eagerly
        lazy = set(exported_modules(package.__file__))
        eager = {n for n in public if n in vars(package) and n not in lazy}
        assert lazy | eager == public, f"{package_name}: __all__ and TYPE_CHECKING differ"
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert not public & submodules, f"{package_name} exports a name that is also a module"
    for name in sorted(public):
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018


def test_notebook_names_from_the_readme() -> None:
    from audits import audit_fairness, explain_groups, krippendorff_alpha
    from audits.fairness.audit import audit_fairness as concrete

    assert audit_fairness is concrete
    assert callable(explain_groups) and callable(krippendorff_alpha)
