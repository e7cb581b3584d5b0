"""Alembic migrations of the store, run by :func:`audits.store.db.upgrade`."""
