"""What every ``fairpanel`` command shares: exit codes, the progress bar, the store.

Kept apart from :mod:`audits.cli.command` so that the command modules can use them
without importing the parser that imports them. The exit codes are a contract that CI
scripts rely on:

==============================  ====  ====================================================
``EXIT_OK``                        0  success
``EXIT_CHECK_FAILED``              1  a gate or a verification failed (``audit --fail-on``,
                                      ``log verify``, ``report verify``)
``EXIT_USAGE``                     2  bad usage or bad input: an argument, a value, a
                                      missing file, a name not found, a role not allowed
``EXIT_INTERNAL_ERROR``            3  an unexpected error: a bug to report
``EXIT_INTERRUPTED``             130  interrupted (Ctrl-C)
==============================  ====  ====================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from audits.store import Store

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ProgressBar",
    "open_store",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C


def open_store() -> Store:
    """Open the store named by ``--database-url`` / ``FAIRPANEL_DATABASE_URL``."""
    from audits.store import Store  # imported late: `--help` need not load SQLAlchemy

    return Store()


class ProgressBar:
    """A one-line text progress bar for long work at the command line."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width

    def __call__(self, fraction: float, message: str) -> None:
        """Redraw the bar at ``fraction`` (0..1) with ``message``."""
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "." * (self.width - filled)
        if not self.stream.isatty():  # a log file: one line per step, no carriage returns
            self.stream.write(f"[{bar}] {fraction:4.0%} {message}\n")
        else:
            end = "\n" if fraction >= 1.0 else ""
            self.stream.write(f"\r[{bar}] {fraction:4.0%} {message[:60]:<60}{end}")
        self.stream.flush()
