"""Pure shaping for the Reports page: tables, labels and the status banner of a report.

Nothing here calls Streamlit or the store: the page passes records in and draws what
comes back, so every rule (which banner a status gets, what the list shows, how a
verification reads) is tested without a running app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.formatting import plain, when

__all__ = [
    "REPORT_COLUMNS",
    "STATUS_LABELS",
    "Banner",
    "can_submit",
    "checks_table",
    "fairness_runs",
    "manifest_hash",
    "report_label",
    "reports_table",
    "run_label",
    "status_banner",
]

#: How each report status reads on the page.
STATUS_LABELS = {"draft": "Draft", "submitted": "Submitted", "approved": "Approved",
                 "returned": "Returned"}
#: The columns of :func:`reports_table`, in order.
REPORT_COLUMNS = ["id", "audit", "version", "status", "drafted by", "drafted", "decided by",
                  "decided"]


@dataclass(frozen=True)
class Banner:
    """The banner over a report: ``kind`` is ``info``, ``warning``, ``success`` or ``error``."""

    kind: str
    title: str
    text: str


def fairness_runs(runs: Iterable[Any]) -> list[Any]:
    """Return the completed fairness runs of ``runs``, newest first (a report's inputs).

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> runs = [R(id=1, status="completed", config={"kind": "fairness"}),
    ...         R(id=2, status="failed", config={"kind": "fairness"}),
    ...         R(id=3, status="completed", config={"kind": "explanations"}),
    ...         R(id=4, status="completed", config={"kind": "fairness"})]
    >>> [r.id for r in fairness_runs(runs)]
    [4, 1]
    """
    done = [r for r in runs if r.status == "completed" and r.config.get("kind") == "fairness"]
    return sorted(done, key=lambda r: r.id, reverse=True)


def run_label(run: Any, datasets: Mapping[int, str]) -> str:
    """Return how an audit run is named in pickers: id, dataset, features and date.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from types import SimpleNamespace as R
    >>> run = R(id=7, dataset_id=1, created_by="ds", config={"sensitive_features": ["sex"]},
    ...         created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    >>> run_label(run, {1: "german_credit"})
    'Run #7 · german_credit · sex · by ds, 2024-05-01 09:30 UTC'
    """
    features = ", ".join(run.config.get("sensitive_features") or []) or "-"
    dataset = datasets.get(run.dataset_id, f"dataset #{run.dataset_id}")
    return f"Run #{run.id} · {dataset} · {features} · by {run.created_by}, {when(run.created_at)}"


def report_label(report: Any) -> str:
    """Return how a report is named in the picker.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> report_label(R(id=3, audit_run_id=7, version=2, status="submitted", created_by="ds"))
    'Report #3 · audit run #7 · v2 · Submitted · drafted by ds'
    """
    version = getattr(report, "version", None)
    parts = [f"Report #{report.id}", f"audit run #{report.audit_run_id}"]
    parts += [f"v{version}"] if version is not None else []
    parts += [STATUS_LABELS.get(report.status, report.status), f"drafted by {report.created_by}"]
    return " · ".join(parts)


def reports_table(reports: Sequence[Any], datasets_by_run: Mapping[int, str]) -> pd.DataFrame:
    """Return one row per report, newest first: audit, status, drafted and decided by/at.

    ``datasets_by_run`` maps an audit run id to its dataset's name (shown with the run).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from types import SimpleNamespace as R
    >>> t0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    >>> rows = [R(id=1, audit_run_id=7, version=1, status="approved", created_by="ds",
    ...           created_at=t0, decided_by="co", decided_at=t0),
    ...         R(id=2, audit_run_id=7, version=2, status="draft", created_by="ds",
    ...           created_at=t0, decided_by=None, decided_at=None)]
    >>> table = reports_table(rows, {7: "german_credit"})
    >>> table[["id", "audit", "status", "decided by", "decided"]].to_dict("records")[0]
    {'id': 2, 'audit': '#7 german_credit', 'status': 'Draft', 'decided by': '-', 'decided': '-'}
    """
    rows = [{
        "id": r.id,
        "audit": f"#{r.audit_run_id} {datasets_by_run.get(r.audit_run_id, '')}".rstrip(),
        "version": getattr(r, "version", None),
        "status": STATUS_LABELS.get(r.status, r.status),
        "drafted by": r.created_by,
        "drafted": when(r.created_at),
        "decided by": r.decided_by or "-",
        "decided": when(r.decided_at),
    } for r in sorted(reports, key=lambda r: r.id, reverse=True)]
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def manifest_hash(report: Any) -> str | None:
    """Return the body hash the signed manifest vouches for (else the record's own hash).

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> manifest_hash(R(manifest={"body_sha256": "ab" * 32}, body_sha256="x"))[:6]
    'ababab'
    >>> manifest_hash(R(manifest=None, body_sha256="cd" * 32))[:6]
    'cdcdcd'
    """
    manifest = getattr(report, "manifest", None) or {}
    value = manifest.get("body_sha256") if isinstance(manifest, Mapping) else None
    return str(value) if value else getattr(report, "body_sha256", None)


def status_banner(report: Any) -> Banner:
    """Return the banner of a report's status: who acted, when, and (approved) the hash.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from types import SimpleNamespace as R
    >>> t0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    >>> approved = R(status="approved", decided_by="co", decided_at=t0, comment="fine",
    ...              manifest={"body_sha256": "ab" * 32}, body_sha256="ab" * 32)
    >>> banner = status_banner(approved)
    >>> banner.kind, banner.title
    ('success', 'Approved')
    >>> "by co on 2024-05-01 09:30 UTC" in banner.text and "ab" * 32 in banner.text
    True
    >>> status_banner(R(status="returned", decided_by="co", decided_at=t0,
    ...                 comment="Add the age slice.")).text
    'Returned by co on 2024-05-01 09:30 UTC: "Add the age slice.". Its author may ...'
    """
    status = report.status
    if status == "approved":
        # The note, the comment and the names are data: plain text, never Markdown.
        note = f' Note: "{plain(report.comment)}".' if report.comment else ""
        return Banner("success", "Approved",
                      f"Approved by {plain(report.decided_by)} on {when(report.decided_at)}. "
                      f"Signed body sha256: `{manifest_hash(report)}`.{note}")
    if status == "returned":
        return Banner("error", "Returned",
                      f'Returned by {plain(report.decided_by)} on {when(report.decided_at)}: '
                      f'"{plain(report.comment)}". Its author may resubmit it or draft a new '
                      'version.')
    if status == "submitted":
        return Banner("warning", "Submitted",
                      f"Submitted for approval by {plain(report.created_by)} on "
                      f"{when(report.submitted_at)}; waiting for a compliance officer.")
    return Banner("info", STATUS_LABELS.get(status, status),
                  f"Draft by {plain(report.created_by)}, {when(report.created_at)}: not yet "
                  "submitted for approval. Its author submits it below.")


def can_submit(report: Any, username: str, *, admin: bool = False) -> bool:
    """Return True when ``username`` may submit ``report``: a draft or returned report,
    and its author (or an admin), as :meth:`audits.store.Store.submit_report` allows.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> draft = R(status="draft", created_by="ds")
    >>> can_submit(draft, "ds"), can_submit(draft, "co"), can_submit(draft, "ad", admin=True)
    (True, False, True)
    >>> can_submit(R(status="submitted", created_by="ds"), "ds")
    False
    """
    return report.status in ("draft", "returned") and (admin or report.created_by == username)


def checks_table(checks: Iterable[Sequence[Any]]) -> pd.DataFrame:
    """Return the checks of a verification as a table: check, result (pass/fail), detail.

    ``checks`` holds ``(name, passed, detail)`` triples, as
    ``audits.reports.stored.verify_report_file`` returns them.

    Examples
    --------
    >>> checks_table([("signature", True, "valid"), ("numbers", False, "differ")]).to_dict(
    ...     "records")[1]
    {'check': 'numbers', 'result': 'FAIL', 'detail': 'differ'}
    """
    rows = [{"check": str(name), "result": "PASS" if passed else "FAIL", "detail": str(detail)}
            for name, passed, detail in checks]
    return pd.DataFrame(rows, columns=["check", "result", "detail"])
