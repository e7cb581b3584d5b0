"""fairpanel's storage: users, provenance and a tamper-evident audit log.

Use :class:`Store`; everything else here is for tools and tests.
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
    UserRecord,
)
from audits.store.reports import ReportRecord
from audits.store.repository import Store
from audits.store.reviews import (
    CaseReview,
    CaseView,
    MyAssignment,
    RatingRecord,
    SubmitResult,
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
    "ModelRecord",
    "MyAssignment",
    "RatingRecord",
    "ReportRecord",
    "ReviewerRecord",
    "Store",
    "SubmitResult",
    "UserRecord",
    "data_dir",
    "default_database_url",
    "make_engine",
    "upgrade",
    "verify_log",
]
