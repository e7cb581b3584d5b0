"""Helpers shared by the store tests (a uniquely named module, imported by basename)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    import pandas as pd

from audits.roles import Actor, Role
from audits.store import Store
from audits.store.db import normalize_url, redact_url
from audits.store.log import CheckpointPolicy
from audits.store.tables import (
    Adjudication,
    Alert,
    ApiToken,
    AssignmentRow,
    AuditLog,
    AuditRun,
    Batch,
    Case,
    Dataset,
    FlagPolicyRow,
    LiveBudget,
    LiveDecision,
    Model,
    Rating,
    RatingVersion,
    ReportRow,
    ReviewerRow,
    User,
)

ENV_POSTGRES = "FAIRPANEL_TEST_POSTGRES_URL"
MSG_PG_UNSET = f"{ENV_POSTGRES} is not set; PostgreSQL tests skipped"
MSG_PG_UNREACHABLE = "{env} is set but PostgreSQL at {url} cannot be reached: {error}"

#: How long a test waits for a writer thread before calling it hung: a guard against a
#: deadlock, not a speed requirement (fifty writers take some 15 s on an idle machine).
HANG_TIMEOUT_S = 300.0

#: The key that signs log checkpoints and reports in store tests (never a key file).
SIGNING_KEY = Ed25519PrivateKey.generate()
#: Cheap argon2 parameters: the tests check the logic, not the cost of a hash.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

ADMIN = Actor("root_admin", Role.ADMIN)
SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
REVIEWER = Actor("rita", Role.REVIEWER)
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def postgres_url_or_skip() -> str:
    """Return the test PostgreSQL URL; skip when unset, fail when set but unreachable."""
    url = os.environ.get(ENV_POSTGRES)
    if not url:
        pytest.skip(MSG_PG_UNSET)
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        pytest.fail(MSG_PG_UNREACHABLE.format(env=ENV_POSTGRES, url=redact_url(url), error=error))
    finally:
        engine.dispose()
    return url


@dataclass
class Database:
    """Where one test's data lives; :meth:`open` gives another store on it."""

    kind: str
    url: str
    _opened: list[Store] = field(default_factory=list)

    def open(self, checkpoint_policy: CheckpointPolicy | None = None) -> Store:
        """Open one more :class:`Store` (own engine) on this database; ``checkpoint_policy``
        None is the product's default (every write anchored by a signed checkpoint)."""
        store = Store(self.url, password_hasher=FAST_HASHER, signing_key=SIGNING_KEY,
                      checkpoint_policy=checkpoint_policy)
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        """Dispose every store opened here."""
        for store in self._opened:
            store.close()


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """Create schema ``t_<hex>``, yield a URL whose search_path is it, then drop it."""
    base = normalize_url(base_url)
    schema = f"t_{uuid.uuid4().hex}"
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


def write_table(url: str, frame: pd.DataFrame, name: str = "decisions") -> None:
    """Write ``frame`` as table ``name`` of the database at ``url``."""
    engine = create_engine(url)
    try:
        frame.to_sql(name, engine, index=False)
    finally:
        engine.dispose()


@contextmanager
def database_holding(kind: str, folder: Path, frame: pd.DataFrame,
                     name: str = "decisions") -> Iterator[str]:
    """Yield the URL of a database holding ``frame`` as table ``name``: a SQLite file in
    ``folder`` (``kind`` "sqlite") or a scratch PostgreSQL schema ("postgresql")."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'warehouse.db'}"
        write_table(url, frame, name)
        yield url
    else:
        with postgres_schema(postgres_url_or_skip()) as url:
            write_table(url, frame, name)
            yield url


def row_counts(store: Store) -> dict[str, int]:
    """Count the rows of every table the store writes, read directly."""
    tables = {"users": User, "datasets": Dataset, "models": Model, "audit_runs": AuditRun,
              "audit_log": AuditLog, "flag_policies": FlagPolicyRow, "batches": Batch,
              "cases": Case, "alerts": Alert, "reviewers": ReviewerRow,
              "assignments": AssignmentRow, "ratings": Rating, "rating_history": RatingVersion,
              "adjudications": Adjudication, "reports": ReportRow, "api_tokens": ApiToken,
              "live_decisions": LiveDecision, "live_budgets": LiveBudget}
    with store.engine.connect() as conn:
        counts = {name: conn.scalar(select(func.count()).select_from(t)) or 0
                  for name, t in tables.items()}
        conn.rollback()
    return counts


def add_dataset(store: Store, name: str = "adult", sha256: str = SHA_A) -> int:
    """Register a small data set as the data scientist and return its id."""
    record = store.record_dataset(SCIENTIST, name=name, source="bundled", sha256=sha256,
                                  n_rows=10, roles={"target": "y"}, card="# card")
    return record.id
