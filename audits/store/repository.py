"""The :class:`Store`: the one public way into fairpanel's database."""

from __future__ import annotations

from audits.store.api_tokens import TokenOps
from audits.store.checkpoints import CheckpointOps
from audits.store.imports import ImportOps
from audits.store.live import LiveOps
from audits.store.oversight import OversightOps
from audits.store.panel import PanelOps
from audits.store.privacy import LogReadOps
from audits.store.provenance import ProvenanceOps
from audits.store.qualifications import QualificationOps
from audits.store.queue import QueueOps
from audits.store.reports import ReportOps
from audits.store.retention import RetentionOps
from audits.store.reviews import ReviewOps
from audits.store.systems import SystemOps
from audits.store.users import UserOps
from audits.store.versions import ModelVersionOps
from audits.store.webhooks import WebhookOps

__all__ = ["Store"]


class Store(UserOps, ProvenanceOps, SystemOps, QueueOps, PanelOps, ReviewOps, ImportOps,
            ReportOps, ModelVersionOps, LogReadOps, CheckpointOps, TokenOps,
            LiveOps, WebhookOps, QualificationOps, OversightOps, RetentionOps):
    """Users, provenance and the hash-chained audit log, on SQLite or PostgreSQL.

    Opening a store migrates its database to the newest schema (nothing happens when it
    is up to date). Every state-changing method takes the acting
    :class:`~audits.roles.Actor`, checks its role, validates its input before touching
    the database, and appends exactly one audit-log entry in the same transaction as
    its change. Methods return frozen records, never ORM objects.

    Parameters
    ----------
    url : str or None, default None
        A ``sqlite:///PATH`` or ``postgresql://USER@HOST/DB`` URL; None uses
        :func:`~audits.store.db.default_database_url`.
    engine : sqlalchemy.Engine or None, default None
        Use this engine instead (a SQLite one must come from
        :func:`~audits.store.db.make_engine`); the caller disposes it.
    password_hasher : argon2.PasswordHasher or None, default None
        Defaults to argon2-cffi's recommended parameters.
    signing_key : Ed25519PrivateKey or None, default None
        The key that signs log checkpoints and approved reports; None loads
        :func:`~audits.store.signing.deployment_key` when first needed.
    checkpoint_policy : CheckpointPolicy or None, default None
        How often the log is checkpointed besides approvals; None reads
        ``FAIRPANEL_CHECKPOINT_ENTRIES`` and ``FAIRPANEL_CHECKPOINT_MINUTES``.

    Attributes
    ----------
    url : str
        The URL with its password redacted.
    engine : sqlalchemy.Engine
    dialect : str
        ``"sqlite"`` or ``"postgresql"``.

    Examples
    --------
    >>> from audits.roles import Actor
    >>> with Store("sqlite://") as store:
    ...     ada = store.add_user(Actor.system(), "ada", "admin")
    ...     [e.action for e in store.log_entries()], store.verify_log().ok
    (['pin_signing_key', 'add_user'], True)
    """
