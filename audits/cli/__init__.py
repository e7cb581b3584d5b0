"""The ``fairpanel`` command line: the same engine as the dashboard, headless.

:mod:`~audits.cli.command` parses the arguments and holds the small commands; each
command group has a module of its own (:mod:`~audits.cli.audit`, :mod:`~audits.cli.queue`,
:mod:`~audits.cli.panel`, :mod:`~audits.cli.report`, :mod:`~audits.cli.retrain`), and
:mod:`~audits.cli.common` holds what they share (exit codes, the progress bar, opening the
store). Heavy libraries are imported inside the commands that need them, so ``fairpanel
--help`` starts fast. Nothing else in the engine imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.cli.command import main

__all__ = [
    "main",
]

__getattr__ = lazy_getattr(__name__, __file__)
