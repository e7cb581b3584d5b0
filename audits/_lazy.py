"""Lazy re-exports for the package ``__init__`` modules of the engine.

A package lists its public names twice, both in its own ``__init__.py``: in ``__all__``,
and as imports under ``if TYPE_CHECKING:`` (which type checkers and editors read, and
which say where each name lives). At run time nothing is imported until a name is first
used: :func:`lazy_getattr` reads that ``TYPE_CHECKING`` block and imports the one module a
name needs. So ``import audits`` stays cheap (``fairpanel --help`` does not load pandas or
scikit-learn), and the engine's own modules, which import from concrete modules, never go
through a package ``__init__`` that would import them back.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

__all__ = ["exported_modules", "lazy_getattr"]

MSG_NO_ATTRIBUTE = "module {package!r} has no attribute {name!r}"


def lazy_getattr(package: str, init_file: str) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports each exported name on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    init_file : str
        The package's ``__file__``; its ``if TYPE_CHECKING:`` imports name the modules.
    """

    def __getattr__(name: str) -> Any:
        where = exported_modules(init_file).get(name)
        if where is None:
            raise AttributeError(MSG_NO_ATTRIBUTE.format(package=package, name=name))
        module, original = where
        value = getattr(importlib.import_module(module), original)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    return __getattr__


@cache
def exported_modules(init_file: str) -> dict[str, tuple[str, str]]:
    """Map each name imported under ``if TYPE_CHECKING:`` in ``init_file`` to its source.

    The source is ``(module, name in that module)``.

    Examples
    --------
    >>> import audits
    >>> exported_modules(audits.__file__)["audit_fairness"]
    ('audits.fairness.audit', 'audit_fairness')
    """
    with open(init_file, encoding="utf-8") as source:
        tree = ast.parse(source.read(), filename=init_file)
    table: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        table[alias.asname or alias.name] = (statement.module, alias.name)
    return table


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
