"""The store's connection handling: engine ownership, migrations and transactions.

:class:`StoreBase` gives the user and provenance operations two ways in: ``_read()``
(a read-only transaction) and ``_write()`` (a write transaction that has already
locked the log head, so the change and its log entry commit together or not at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Self

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from audits.store import db
from audits.store.log import CheckpointPolicy, LogVerification, lock_head, verify_log
from audits.store.records import LogEntryRecord, log_entry_record
from audits.store.tables import AuditLog, LogHead

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["StoreBase"]

MSG_URL_AND_ENGINE = "pass either url or engine, not both"
MSG_FOREIGN_SQLITE_ENGINE = (
    "a SQLite engine must come from audits.store.db.make_engine (it sets WAL, foreign "
    "keys and BEGIN IMMEDIATE); got one for {url!r}"
)
MSG_BAD_LIMIT = "limit must be a positive integer or None; got {limit!r}"


class StoreBase:
    """Engine, migrations, sessions and the audit-log reads shared by the store."""

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        password_hasher: PasswordHasher | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_policy: CheckpointPolicy | None = None,
    ) -> None:
        # The log's signing key and checkpoint policy (audits.store.checkpoints); None
        # loads the deployment key and reads the policy from the environment when needed.
        self._signing_key = signing_key
        self._checkpoint_policy = checkpoint_policy
        if url is not None and engine is not None:
            raise ValueError(MSG_URL_AND_ENGINE)
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else _own_engine(url)
        try:
            _check_engine(self._engine)
            db.upgrade(self._engine)
        except BaseException:
            self.close()
            raise
        self._hasher = password_hasher if password_hasher is not None else PasswordHasher()
        self._writer = sessionmaker(self._engine, expire_on_commit=False)
        reader = self._engine
        if self.dialect == "sqlite":
            reader = reader.execution_options(**{db.SQLITE_BEGIN_OPTION: "DEFERRED"})
        self._reader = sessionmaker(reader, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with its password redacted."""
        return db.redact_url(self._engine.url)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tools and tests; the store's methods are the API)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release the connections, if this store created its engine."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def log_entries(
        self, limit: int | None = None, *, newest_first: bool = True
    ) -> list[LogEntryRecord]:
        """Return audit-log entries, newest first unless ``newest_first`` is False.

        Parameters
        ----------
        limit : int or None, default None
            At most this many entries (all when None).
        newest_first : bool, default True
            Order by descending id; ascending when False.

        Examples
        --------
        >>> from audits.roles import Actor
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "ada", "admin")
        ...     [(e.id, e.actor, e.action) for e in store.log_entries(limit=2)]
        [(2, 'system:signing', 'pin_signing_key'), (1, 'system:cli', 'add_user')]
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise ValueError(MSG_BAD_LIMIT.format(limit=limit))
        order = AuditLog.id.desc() if newest_first else AuditLog.id.asc()
        with self._read() as session:
            rows = session.scalars(select(AuditLog).order_by(order).limit(limit))
            return [log_entry_record(row) for row in rows]

    def log_head(self) -> tuple[int, str]:
        """Return ``(last_id, last_hash)`` of the audit log, e.g. to quote in a report."""
        with self._read() as session:
            head = session.get_one(LogHead, 1)
            return head.last_id, head.last_hash

    def verify_log(self) -> LogVerification:
        """Recompute the audit log's hash chain; see :func:`audits.store.log.verify_log`.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.verify_log().reason
        '0 entries checked; the chain is intact'
        """
        return verify_log(self._engine)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[tuple[Session, LogHead]]:
        with self._writer() as session, session.begin():
            head = lock_head(session)
            yield session, head
            self._after_write(session, head)

    def _after_write(self, session: Session, head: LogHead) -> None:
        """Run before a write commits; the checkpoint mixin anchors the log here."""

    def _log_signing_key(self) -> Ed25519PrivateKey:
        if self._signing_key is None:
            from audits.store.signing import deployment_key  # reads the key file

            self._signing_key = deployment_key()
        return self._signing_key

    def _log_checkpoint_policy(self) -> CheckpointPolicy:
        if self._checkpoint_policy is None:
            self._checkpoint_policy = CheckpointPolicy.from_env()
        return self._checkpoint_policy


def _own_engine(url: str | None) -> Engine:
    return db.make_engine(url if url is not None else db.default_database_url())


def _check_engine(engine: Engine) -> None:
    db.normalize_url(engine.url)
    if not db.has_fairpanel_settings(engine):
        raise ValueError(MSG_FOREIGN_SQLITE_ENGINE.format(url=db.redact_url(engine.url)))
