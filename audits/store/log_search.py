"""Searching the audit log as a reader may read it: filters by actor, action, object and
time applied in the database query (:func:`audits.store.log.filter_conditions`), one page
at a time, with the panel's privacy rule (:mod:`audits.store.privacy`) applied to what
is matched as well as to what is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from audits.roles import PERMISSIONS, Actor, require_role
from audits.store.log import LogFilter, filter_conditions, snapshot_connection
from audits.store.privacy import _REVIEWER_ACTIONS, PRIVATE_ACTIONS, redact
from audits.store.records import LogEntryRecord, log_entry_record
from audits.store.tables import AuditLog

__all__ = ["MAX_PAGE_SIZE", "MSG_PAGE", "LogFacets", "LogPage", "log_facets", "search_log"]

MSG_PAGE = "{field} must be a positive integer (at most {max}); got {value!r}"
#: Most entries one page of :func:`search_log` returns.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class LogPage:
    """One page of :func:`search_log`: its entries (newest first) and how many match."""

    entries: tuple[LogEntryRecord, ...]
    total: int
    page: int
    page_size: int

    @property
    def n_pages(self) -> int:
        """How many pages the matching entries fill (at least 1)."""
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class LogFacets:
    """The actors, actions and kinds of object in the log, as a reader may see them."""

    actors: tuple[str, ...]
    actions: tuple[str, ...]
    entities: tuple[str, ...]


def search_log(engine: Engine, actor: Actor, log_filter: LogFilter | None = None, *,
               page: int = 1, page_size: int = 50) -> LogPage:
    """Return one page of the entries matching ``log_filter``, as ``actor`` may read them.

    Requires "read the audit log". The filter and the page are applied in the database
    query (nothing is loaded beyond the page). A reader without "read every rating" gets
    private entries redacted (see :mod:`audits.store.privacy`) and the filter matches
    what they see: a rating's actor is ``"reviewer"``, and an object id that is redacted
    never matches, so a filter cannot tell them what the page would not.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store's engine (``store.engine``).
    actor : Actor
        Who reads.
    log_filter : LogFilter or None, default None
        What to match (None: every entry).
    page : int, default 1, keyword-only
        Which page, from 1 (newest entries first).
    page_size : int, default 50, keyword-only
        Entries per page, 1 to :data:`MAX_PAGE_SIZE`.

    Examples
    --------
    >>> from audits.roles import Role
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     _ = store.add_user(Actor.system(), "ada", "admin")
    ...     ada = Actor("ada", Role.ADMIN)
    ...     found = search_log(store.engine, ada, LogFilter(actor="system:cli"))
    ...     [e.action for e in found.entries], found.total
    (['add_user'], 1)
    """
    require_role(actor, "read the audit log")
    page = _check_page(page, "page", 10**9)
    page_size = _check_page(page_size, "page_size", MAX_PAGE_SIZE)
    full = actor.role in PERMISSIONS["read every rating"]
    hidden: frozenset[str] = frozenset()
    where = filter_conditions(log_filter or LogFilter(),
                              redacted_actor=hidden if full else _REVIEWER_ACTIONS,
                              redacted_ids=hidden if full else PRIVATE_ACTIONS)
    with snapshot_connection(engine) as conn, Session(conn) as session:
        total = session.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0
        rows = session.scalars(select(AuditLog).where(*where).order_by(AuditLog.id.desc())
                               .limit(page_size).offset((page - 1) * page_size))
        records = [log_entry_record(row) for row in rows]
    entries = tuple(r if full else redact(r) for r in records)
    return LogPage(entries, int(total), page, page_size)


def log_facets(engine: Engine, actor: Actor) -> LogFacets:
    """Return the distinct actors, actions and entities a reader may filter the log by.

    Requires "read the audit log"; the actors of redacted entries are ``"reviewer"`` for
    a reader without "read every rating".

    Examples
    --------
    >>> from audits.roles import Role
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     _ = store.add_user(Actor.system(), "ada", "admin")
    ...     log_facets(store.engine, Actor("ada", Role.ADMIN)).actions
    ('add_user', 'pin_signing_key')
    """
    require_role(actor, "read the audit log")
    full = actor.role in PERMISSIONS["read every rating"]
    with snapshot_connection(engine) as conn:
        pairs = conn.execute(select(AuditLog.actor, AuditLog.action).distinct()).all()
        entities = conn.scalars(select(AuditLog.entity).distinct()).all()
    actors = {("reviewer" if not full and action in _REVIEWER_ACTIONS else name)
              for name, action in pairs}
    return LogFacets(tuple(sorted(actors)), tuple(sorted({a for _, a in pairs})),
                     tuple(sorted(entities)))


def _check_page(value: object, field: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValueError(MSG_PAGE.format(field=field, max=most, value=value))
    return value
