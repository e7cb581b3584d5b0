"""A scratch PostgreSQL schema for a benchmark run (imported by the benchmark scripts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from audits.store.db import normalize_url

__all__ = ["postgres_schema"]


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """Create schema ``bench_<hex>``, yield a URL whose search_path is it, then drop it
    with everything the run wrote."""
    base = normalize_url(base_url)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = base.update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
