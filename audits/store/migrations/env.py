"""Alembic environment: runs on the connection handed over by ``upgrade``.

``audits.store.db.upgrade`` opens the transaction (and takes the migration lock) and
passes its connection in ``config.attributes["connection"]``; every migration then runs
inside that one transaction. Offline mode renders SQL for ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from audits.store.tables import Base

MSG_NO_CONNECTION = (
    "run migrations through audits.store.db.upgrade(), which provides the connection"
)


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(MSG_NO_CONNECTION)
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _offline() -> bool | None:
    try:
        return context.is_offline_mode()
    except NameError:  # imported outside an Alembic command (e.g. doctest collection)
        return None


_mode = _offline()
if _mode is True:
    _run_offline()
elif _mode is False:
    _run_online()
