"""Database URLs, engines and migrations of the store.

SQLite is the default (a file in the user's data folder); PostgreSQL is supported for a
shared deployment. Every SQLite connection runs in WAL mode with foreign keys on, and
SQLAlchemy (not the ``sqlite3`` driver) emits ``BEGIN``: ``BEGIN IMMEDIATE`` for writes,
so two writers never read the same state and both commit (no lost update).

The SQLite file holds password hashes and reviewers' backgrounds: fairpanel creates it
readable by its owner only (0600; SQLite gives its ``-wal`` and ``-shm`` files the same
mode), and the default data folder 0700. A file or default folder found open to others
is tightened when this user owns it, and a warning names it otherwise.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import time
import warnings
from pathlib import Path
from typing import Any

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: The part of a URL that holds a password: ``scheme://user:PASSWORD@``.
_PASSWORD = re.compile(r"(://[^:/@]*:)[^/]*@")

__all__ = [
    "SQLITE_BEGIN_OPTION",
    "current_revision",
    "data_dir",
    "default_database_url",
    "has_fairpanel_settings",
    "head_revision",
    "make_engine",
    "normalize_url",
    "redact_url",
    "upgrade",
]

ENV_HOME = "FAIRPANEL_HOME"
ENV_DATABASE_URL = "FAIRPANEL_DATABASE_URL"
BUSY_TIMEOUT_MS = 30_000
#: Execution option naming the ``BEGIN`` mode of a SQLite transaction ("IMMEDIATE" by
#: default; read-only work passes "DEFERRED" so readers do not queue behind writers).
SQLITE_BEGIN_OPTION = "fairpanel_sqlite_begin"
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
# Any constant works; it only has to be the same for every fairpanel process.
_PG_MIGRATION_LOCK = 0x66616972

MSG_BAD_URL = "not a database URL: {url!r}"
MSG_UNSUPPORTED_URL = (
    "unsupported database URL {url!r}; use sqlite:///PATH or postgresql://USER@HOST/DB"
)
MSG_LOOSE_MODE = (
    "{path} is readable or writable by other users (mode {mode:o}) and could not be "
    "tightened: it holds password hashes and reviewers' backgrounds; chmod {want:o} it"
)
#: The modes of the SQLite file and of the default data folder.
FILE_MODE, DIR_MODE = 0o600, 0o700
MSG_BAD_BEGIN_MODE = "unknown SQLite BEGIN mode {mode!r}; choose DEFERRED, IMMEDIATE or EXCLUSIVE"

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def data_dir() -> Path:
    """Return fairpanel's data folder, creating it if missing.

    ``$FAIRPANEL_HOME`` when set, else the platform's user data folder.

    Examples
    --------
    >>> data_dir().is_dir()
    True
    """
    home = os.environ.get(ENV_HOME) or platformdirs.user_data_dir("fairpanel")
    path = Path(home).expanduser()
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    private(path, DIR_MODE)
    return path


def private(path: Path, mode: int) -> None:
    """Take away group and other permissions from ``path`` (the file or the data folder).

    Tightened to ``mode`` when this user owns it; otherwise (or if ``chmod`` fails) a
    ``UserWarning`` names the path. Nothing happens on systems without POSIX modes.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> folder.chmod(0o755)
    >>> private(folder, 0o700)
    >>> oct(folder.stat().st_mode & 0o777)
    '0o700'
    """
    if os.name != "posix":
        return
    info = path.stat()
    if not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    try:
        if info.st_uid != os.geteuid():
            raise PermissionError(path)
        path.chmod(mode)
    except OSError:
        warnings.warn(MSG_LOOSE_MODE.format(path=path, mode=stat.S_IMODE(info.st_mode),
                                            want=mode), UserWarning, stacklevel=2)


def default_database_url() -> str:
    """Return ``$FAIRPANEL_DATABASE_URL``, else a SQLite file in :func:`data_dir`.

    Examples
    --------
    >>> default_database_url().startswith(("sqlite:///", "postgresql+psycopg://"))
    True
    """
    url = os.environ.get(ENV_DATABASE_URL)
    if url:
        return normalize_url(url).render_as_string(hide_password=False)
    return f"sqlite:///{data_dir() / 'fairpanel.db'}"


def redact_url(url: str | URL) -> str:
    """Return ``url`` as text with its password replaced by ``***`` (never the password),
    also when it does not parse (then by pattern: ``scheme://user:PASSWORD@``).

    Examples
    --------
    >>> redact_url("postgresql+psycopg://ada:secret@db/fair")
    'postgresql+psycopg://ada:***@db/fair'
    >>> redact_url("postgresql://ada:p@ss:w@host:x/db")
    'postgresql://ada:***@host:x/db'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(r"\1***@", str(url))


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``, map ``postgresql://`` to psycopg 3, and refuse other databases.

    Raises
    ------
    ValueError
        When the URL cannot be parsed or names an unsupported database or driver; the
        message shows the URL with its password redacted.

    Examples
    --------
    >>> normalize_url("postgresql://ada@db/fair").drivername
    'postgresql+psycopg'
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(MSG_BAD_URL.format(url=redact_url(str(url)))) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ValueError(MSG_UNSUPPORTED_URL.format(url=redact_url(parsed)))
    return parsed


def make_engine(url: str | URL, *, connect_args: dict[str, Any] | None = None) -> Engine:
    """Create an engine for ``url`` with fairpanel's connection settings.

    Parameters
    ----------
    url : str or sqlalchemy.URL
        A ``sqlite://`` or ``postgresql://`` URL (see :func:`normalize_url`).
    connect_args : dict or None, default None
        Extra arguments for the DBAPI ``connect`` (e.g. PostgreSQL ``options``).

    Returns
    -------
    sqlalchemy.Engine
        For SQLite: WAL, foreign keys, a 30 s busy timeout and ``BEGIN IMMEDIATE``
        transactions; for PostgreSQL: ``pool_pre_ping``.

    Examples
    --------
    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    """
    parsed = normalize_url(url)
    args = dict(connect_args or {})
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, connect_args=args)
    _private_sqlite_file(parsed)
    # pysqlite's ``timeout`` is SQLite's busy timeout: how long BEGIN IMMEDIATE waits.
    args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(parsed, connect_args=args)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def upgrade(engine_or_url: Engine | str) -> None:
    """Migrate the database to the newest schema; do nothing when it is up to date.

    The whole upgrade runs in one transaction, under a lock (``BEGIN IMMEDIATE`` on
    SQLite, an advisory lock on PostgreSQL) so concurrent starts do not race.

    Examples
    --------
    >>> engine = make_engine("sqlite://")
    >>> upgrade(engine)
    >>> current_revision(engine) == head_revision()
    True
    """
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                conn.execute(lock, {"key": _PG_MIGRATION_LOCK})
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """Return the newest migration's revision id.

    Examples
    --------
    >>> head_revision()
    '0014'
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the database's migration revision, or None when it was never migrated.

    Examples
    --------
    >>> current_revision(make_engine("sqlite://")) is None
    True
    """
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_fairpanel_settings(engine: Engine) -> bool:
    """Return True unless ``engine`` is a SQLite engine not made by :func:`make_engine`.

    Examples
    --------
    >>> has_fairpanel_settings(make_engine("sqlite://"))
    True
    """
    if engine.dialect.name != "sqlite":
        return True
    return event.contains(engine, "begin", _sqlite_on_begin)


def _private_sqlite_file(url: URL) -> None:
    """Create a new SQLite file 0600 (an empty file is an empty database); tighten an old one."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") \
            or url.query.get("mode") == "memory":
        return
    path = Path(database)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        private(path, FILE_MODE)
    except OSError:
        return  # a missing folder: SQLite reports it on connecting, as before
    else:
        os.close(fd)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # The pysqlite recipe: stop the driver from emitting BEGIN itself (it skips it before
    # SELECT and DDL), so that _sqlite_on_begin controls every transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        _ensure_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _ensure_wal(cursor: Any) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite may refuse it with
    # "database is locked" without waiting on the busy timeout while another first
    # connection is doing the same; so the switch is retried, and skipped once done.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.01
    while True:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _sqlite_on_begin(conn: Connection) -> None:
    mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")).upper()
    if mode not in _BEGIN_MODES:
        raise ValueError(MSG_BAD_BEGIN_MODE.format(mode=mode))
    conn.exec_driver_sql(f"BEGIN {mode}")
