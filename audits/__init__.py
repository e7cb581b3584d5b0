"""fairpanel's engine: fairness audits, explanations, the reviewer panel and reports.

This package never imports Streamlit; the dashboard in ``app/`` is a thin layer over it.
"""

from __future__ import annotations

from audits.roles import Actor, PermissionDenied, Role
from audits.schema import ColumnRoles, DataValidationError

__all__ = ["Actor", "ColumnRoles", "DataValidationError", "PermissionDenied", "Role"]
__version__ = "0.1.0"
