"""fairpanel's storage: everything kept, behind one :class:`Store`, on SQLite or PostgreSQL.

Owns the SQLAlchemy tables and Alembic migrations (:mod:`~audits.store.tables`,
:mod:`~audits.store.db`), the hash-chained audit log (:mod:`~audits.store.log`), users,
systems and their versions (each a registered data set, with its sensitive data kept
apart), models and their versions, audit runs, the review queue, the panel and its
ratings, imported ratings, and reports (one ``*Ops`` mixin per concern, joined in
:mod:`~audits.store.repository`), and the deployment's signing key with the signatures of
approved reports (:mod:`~audits.store.signing`), since the store checks every signature
it keeps. Use :class:`Store`; everything else here is for tools and tests. The store
imports nothing of the engine but :mod:`audits.roles`.
"""

from __future__ import annotations

from audits.store.db import data_dir, default_database_url, make_engine, upgrade
from audits.store.log import LogVerification, verify_log
from audits.store.panel import AssignmentInput, ReviewerRecord
from audits.store.records import (
    AlertInput,
    AlertRecord,
    AuditRunRecord,
    BatchRecord,
    CaseInput,
    CaseRecord,
    DatasetRecord,
    LogEntryRecord,
    ModelRecord,
    SystemRecord,
    UserRecord,
)
from audits.store.reports import ReportRecord
from audits.store.repository import Store
from audits.store.retention import RetentionPurge, RetentionScheduleRecord
from audits.store.retention_rules import RetentionCheck, RetentionPolicy, RetentionViolation
from audits.store.reviews import (
    CaseReview,
    CaseView,
    MyAssignment,
    RatingRecord,
    SubmitResult,
)
from audits.store.systems import (
    ModelInput,
    RegisteredVersion,
    SensitiveDataPurged,
    SystemInput,
    VersionInput,
)

__all__ = [
    "AlertInput",
    "AlertRecord",
    "AssignmentInput",
    "AuditRunRecord",
    "BatchRecord",
    "CaseInput",
    "CaseRecord",
    "CaseReview",
    "CaseView",
    "DatasetRecord",
    "LogEntryRecord",
    "LogVerification",
    "ModelInput",
    "ModelRecord",
    "MyAssignment",
    "RatingRecord",
    "RegisteredVersion",
    "ReportRecord",
    "RetentionCheck",
    "RetentionPolicy",
    "RetentionPurge",
    "RetentionScheduleRecord",
    "RetentionViolation",
    "ReviewerRecord",
    "SensitiveDataPurged",
    "Store",
    "SubmitResult",
    "SystemInput",
    "SystemRecord",
    "UserRecord",
    "VersionInput",
    "data_dir",
    "default_database_url",
    "make_engine",
    "upgrade",
    "verify_log",
]
