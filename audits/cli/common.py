"""What every ``fairpanel`` command shares: exit codes, the progress bar, the store.

Kept apart from :mod:`audits.cli.command` so that the command modules can use them
without importing the parser that imports them. The exit codes are a contract that CI
scripts rely on:

==============================  ====  ====================================================
``EXIT_OK``                        0  success
``EXIT_CHECK_FAILED``              1  a gate or a verification failed (``audit --fail-on``,
                                      ``log verify``, ``report verify``, ``evidence
                                      verify``, ``retention check``)
``EXIT_USAGE``                     2  bad usage or bad input: an argument, a value, a
                                      missing file, a name not found, a role not allowed
``EXIT_RUNTIME_ERROR``             3  the environment failed: the database cannot be
                                      reached or opened (the message names host and port)
``EXIT_INTERNAL_ERROR``            3  an unexpected error: a bug to report (same code)
``EXIT_INTERRUPTED``             130  interrupted (Ctrl-C)
``EXIT_BROKEN_PIPE``             141  the reader of standard output went away
                                      (``fairpanel monitor | head``); nothing is printed
==============================  ====  ====================================================

Limits checked before any work starts (:func:`check_arguments`): ``--n-boot`` lies in
0..``MAX_N_BOOT``; ``--json PATH`` and ``--out PATH`` go into a folder that exists (it is
not created: a typo in a folder name should not scatter files). :func:`open_store`
refuses a malformed database URL, or a SQLite file in a missing folder, with exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from audits.store import Store

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUNTIME_ERROR",
    "EXIT_USAGE",
    "MAX_N_BOOT",
    "ProgressBar",
    "check_arguments",
    "check_database_url",
    "check_n_boot",
    "check_output_path",
    "database_error_message",
    "emit_json",
    "group_help",
    "insert_default_action",
    "SHOWN_FAILS",
    "label_width",
    "more_failing_line",
    "open_store",
    "silence_stdout",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_RUNTIME_ERROR = 3
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`

#: Largest ``--n-boot`` accepted (the engine refuses more too). Memory and time grow
#: linearly with it: a fairness audit of the synthetic data took 77 s and 0.7 GB at
#: 10,000 and ran out of time at 100,000 (over 5 GB); 10 times the default is ample for
#: stable 95% percentile intervals.
#: Equal to :data:`audits.fairness.estimates.MAX_N_BOOT`; a test checks they agree (it is
#: not imported from there because the parser must not load numpy).
MAX_N_BOOT = 10_000

MSG_N_BOOT = "--n-boot must be a whole number from 0 to {limit:,}; got {value:,}"
MSG_NO_FOLDER = "{option} {path}: folder {folder} does not exist (create it first)"
MSG_NOT_FOLDER = "{option} {path}: {folder} is not a folder"
MSG_IS_FOLDER = "{option} {path} is a folder; give a file name"
MSG_BAD_DATABASE_URL = (
    "malformed database URL {url} ({source}): {reason}; expected sqlite:///PATH or "
    "postgresql://USER@HOST:PORT/DB"
)
MSG_SQLITE_FOLDER = (
    "database URL {url} ({source}): folder {folder} of the SQLite file does not exist"
)
#: Where the URL of the store comes from (``main`` copies --database-url into it).
URL_SOURCE = "--database-url or FAIRPANEL_DATABASE_URL"
MSG_DATABASE_UNREACHABLE = (
    "fairpanel: cannot reach the database at {where} ({url}): {reason}"
)
MSG_DATABASE_FAILED = "fairpanel: database error at {where} ({url}): {reason}"

#: Failing disparities printed one by one by ``fairpanel audit`` (the rest are counted).
SHOWN_FAILS = 20
MSG_MORE_FAILS = (
    "  ... and {n} more failing disparit{ies}: every one is in the JSON result "
    "(--json PATH|-: \"disparities\" with verdict \"fail\")"
)

#: Options that name a file to write, checked before any work: (attribute, option).
OUTPUT_OPTIONS = (("json", "--json"), ("out", "--out"))


def open_store() -> Store:
    """Open the store named by ``--database-url`` / ``FAIRPANEL_DATABASE_URL``.

    A malformed URL, or a SQLite file whose folder does not exist, raises ValueError
    (exit 2) before anything connects.
    """
    from audits.store import Store  # imported late: `--help` need not load SQLAlchemy

    url = os.environ.get("FAIRPANEL_DATABASE_URL")
    if url:
        check_database_url(url)
    return Store()


def check_arguments(args: argparse.Namespace) -> None:
    """Check the limits of parsed options before a command does any work.

    Raises
    ------
    ValueError
        ``--n-boot`` outside 0..``MAX_N_BOOT``; ``--json PATH`` or ``--out PATH`` in a
        folder that does not exist, or naming a folder.

    Examples
    --------
    >>> check_arguments(argparse.Namespace(n_boot=1000, json="-", out=None))
    """
    n_boot = getattr(args, "n_boot", None)
    if n_boot is not None:
        check_n_boot(n_boot)
    for attribute, option in OUTPUT_OPTIONS:
        value = getattr(args, attribute, None)
        if isinstance(value, str) and value != "-":
            check_output_path(value, option)


def check_n_boot(value: int) -> int:
    """Return ``value`` if it is a bootstrap count from 0 to ``MAX_N_BOOT``, else raise.

    Examples
    --------
    >>> check_n_boot(1000)
    1000
    >>> check_n_boot(10**9)
    Traceback (most recent call last):
    ...
    ValueError: --n-boot must be a whole number from 0 to 10,000; got 1,000,000,000
    """
    if not 0 <= value <= MAX_N_BOOT:
        raise ValueError(MSG_N_BOOT.format(limit=MAX_N_BOOT, value=value))
    return value


def check_output_path(value: str, option: str) -> Path:
    """Return ``value`` as a path if its folder exists and it is not a folder itself.

    The folder is not created: a mistyped folder name is more likely than a wish for a
    new folder, and a clear refusal costs one ``mkdir``.

    Examples
    --------
    >>> check_output_path("/no/such/folder/audit.json", "--json")
    Traceback (most recent call last):
    ...
    ValueError: --json /no/such/folder/audit.json: folder /no/such/folder does not exist \
(create it first)
    """
    path = Path(value).expanduser()
    folder = path.parent
    if not folder.exists():
        raise ValueError(MSG_NO_FOLDER.format(option=option, path=value, folder=folder))
    if not folder.is_dir():
        raise ValueError(MSG_NOT_FOLDER.format(option=option, path=value, folder=folder))
    if path.is_dir():
        raise ValueError(MSG_IS_FOLDER.format(option=option, path=value))
    return path


def check_database_url(url: str, source: str = URL_SOURCE) -> None:
    """Raise ValueError naming what is wrong with a database URL (password hidden).

    Examples
    --------
    >>> check_database_url("sqlite://")
    >>> check_database_url("postgresql://ada:secret@db:port/fair")
    Traceback (most recent call last):
    ...
    ValueError: malformed database URL postgresql://ada:***@db:port/fair (--database-url or \
FAIRPANEL_DATABASE_URL): the port 'port' is not a number; expected sqlite:///PATH or \
postgresql://USER@HOST:PORT/DB
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from audits.store.db import redact_url

    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(MSG_BAD_DATABASE_URL.format(
            source=source, url=shown, reason="it has no scheme://")) from None
    except ValueError:  # SQLAlchemy converts the port with int()
        port = url.rpartition("@")[2].partition("/")[0].rpartition(":")[2]
        raise ValueError(MSG_BAD_DATABASE_URL.format(
            source=source, url=shown, reason=f"the port {port!r} is not a number")) from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(MSG_BAD_DATABASE_URL.format(
            source=source, url=shown, reason=f"the port {parsed.port} is out of range"))
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") \
            and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        if not folder.is_dir():
            raise ValueError(MSG_SQLITE_FOLDER.format(source=source, url=shown,
                                                      folder=folder))


def database_error_message(exc: BaseException) -> str | None:
    """Return a one-line message for a database that cannot be reached, else None.

    A SQLAlchemy ``OperationalError`` (refused, unknown host, timed out, authentication
    failed, a SQLite file that cannot be opened) is the environment's failure, not a bug:
    the message names the host and port and never the password.
    """
    exc_module = sys.modules.get("sqlalchemy.exc")
    if exc_module is None or not isinstance(exc, exc_module.OperationalError):
        return None
    from sqlalchemy.engine import make_url

    from audits.store.db import default_database_url

    url = make_url(default_database_url())
    if url.get_backend_name() == "sqlite":
        where = f"SQLite file {url.database or ':memory:'}"
    else:
        where = f"host {url.host or 'localhost'} port {url.port or 5432}"
    lines = [line.strip() for line in str(getattr(exc, "orig", exc) or exc).splitlines()]
    reason = next((line for line in lines if line), type(exc).__name__)
    if url.password:
        reason = reason.replace(str(url.password), "***")
    template = MSG_DATABASE_UNREACHABLE if _is_connection_failure(reason) \
        else MSG_DATABASE_FAILED
    return template.format(where=where, url=url.render_as_string(hide_password=True),
                           reason=reason)


def label_width(labels: list[str], minimum: int = 5) -> int:
    """Return the column width that shows every label whole (at least ``minimum``).

    Examples
    --------
    >>> label_width(["sex=f & race=b & age=old", "sex=f"])
    24
    """
    return max([minimum, *(len(label) for label in labels)])


def more_failing_line(n_more: int) -> str:
    """Return the line that counts failing disparities not printed, and says where they are.

    Examples
    --------
    >>> more_failing_line(1)[:36]
    '  ... and 1 more failing disparity: '
    """
    return MSG_MORE_FAILS.format(n=n_more, ies="y" if n_more == 1 else "ies")


def silence_stdout() -> None:
    """Point standard output at the null device after its reader went away.

    The standard recipe for ``BrokenPipeError``: without it, Python's final flush of
    ``sys.stdout`` at exit fails again and prints "Exception ignored ..." on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _is_connection_failure(reason: str) -> bool:
    """True when nothing answered; False when a server answered and said no (or other)."""
    text = reason.lower()
    if any(word in text for word in ("fatal:", "authentication", "does not exist",
                                     "permission denied")):
        return False
    words = ("connect", "refused", "resolve", "timeout", "timed out", "unreachable",
             "unable to open", "no route", "could not translate")
    return any(word in text for word in words)


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


def emit_json(result: dict[str, Any], target: str | None, text: str, *,
              default: Callable[[Any], Any] | None = None) -> None:
    """Write a command's result for ``--json PATH|-``, else print its text.

    ``target`` ``"-"`` prints the JSON (only the JSON) to standard output; a path writes
    the JSON there and prints ``text``; None prints ``text``. ``default`` goes to
    :func:`json.dumps` for values JSON has no form for (e.g. ``str`` for dates).
    """
    payload = json.dumps(result, indent=2, allow_nan=False, default=default)
    if target == "-":
        print(payload)
        return
    if target:
        Path(target).write_text(payload + "\n")
    print(text)


def group_help(parser: argparse.ArgumentParser) -> int:
    """Print a command group's help (it was given no subcommand); exit code 2."""
    parser.print_help()
    return EXIT_USAGE


def insert_default_action(argv: Sequence[str], command: str, actions: Sequence[str],
                          default: str) -> list[str]:
    """Return ``argv`` with ``default`` inserted after ``command`` when the next word is no
    action of it (nor ``-h``): ``report 3`` means ``report export 3``, ``evidence credit``
    means ``evidence pack credit``.

    Examples
    --------
    >>> insert_default_action(["--database-url", "sqlite://", "report", "3"], "report",
    ...                       ["export", "verify"], "export")
    ['--database-url', 'sqlite://', 'report', 'export', '3']
    >>> insert_default_action(["report", "verify", "r.pdf"], "report", ["verify"], "export")
    ['report', 'verify', 'r.pdf']
    """
    args = list(argv)
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--database-url":
            i += 2
            continue
        if word.startswith("-"):
            i += 1
            continue
        if word == command and i + 1 < len(args) and args[i + 1] not in (
                *actions, "-h", "--help"):
            args.insert(i + 1, default)
        break
    return args

