"""What the Findings page and the Fairness audit page read, cached where it costs.

- :func:`latest_fairness_runs`: the newest completed fairness run of each audited pair
  of data and model (read from the store on every run: a new audit shows at once);
- :func:`report_status`: the newest version of each report (not cached: approving or
  returning a report must show at once);
- :func:`flagged_reviewers`: :func:`audits.raters.flagged.flagged_reviewers`, cached
  per database, audit, whether the reader may see names, and the run's review progress
  (so a new rating recomputes);
- :func:`reliability`: :func:`audits.fairness.calibration.run_reliability` of a stored
  run (it rebuilds the audited decisions), cached per database, run and role: stored
  runs never change.

:func:`show_disparities` draws a disparity table the same way on both pages (verdict
first and pinned, fixed widths that fit a 1440 px screen beside the sidebar).

Cached functions never create elements; nothing private to one user is cached (the
cache keys hold the role, and the engine checks the role before anything is cached).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import fairness_tables, loaders
from audits.fairness.calibration import run_reliability
from audits.raters.flagged import FlaggedReviewers
from audits.raters.flagged import flagged_reviewers as _flagged_reviewers
from audits.roles import PERMISSIONS, Actor
from audits.store import AuditRunRecord, ReportRecord, Store

__all__ = ["MSG_NO_REPORTS", "N_WORST", "flagged_reviewers", "latest_fairness_runs",
           "reliability", "report_status", "show_disparities"]

FAIRNESS = "fairness"
#: How many of the latest audit's disparities a data scientist sees first.
N_WORST = 8
MSG_NO_REPORTS = "No report has been drafted yet: data scientists draft them on Reports."


def latest_fairness_runs(store: Store,
                         runs: list[AuditRunRecord] | None = None) -> list[AuditRunRecord]:
    """Return the newest completed fairness run of each (dataset, model), newest first.

    A run whose stored results hold no audit (no configuration or disparities, e.g. one
    recorded by hand) has no verdicts to show and is left out.
    """
    newest: dict[tuple[int, int | None], AuditRunRecord] = {}
    for run in runs if runs is not None else store.list_audit_runs():
        results = run.results or {}
        if (run.status == "completed" and run.config.get("kind") == FAIRNESS
                and "config" in results and "disparities" in results):
            newest[(run.dataset_id, run.model_id)] = run  # oldest first: the last one wins
    return sorted(newest.values(), key=lambda r: r.id, reverse=True)


def report_status(store: Store) -> list[ReportRecord]:
    """Return the newest version of each audit run's report, newest first."""
    newest: dict[int, ReportRecord] = {}
    for report in store.list_reports():
        current = newest.get(report.audit_run_id)
        if current is None or report.version >= current.version:
            newest[report.audit_run_id] = report
    return sorted(newest.values(), key=lambda r: r.id, reverse=True)


def flagged_reviewers(actor: Actor, audit_run_id: int,
                      version: tuple[int, ...]) -> FlaggedReviewers:
    """Return the flagged reviewers of an audit's panel (cached; see the module).

    ``version`` is a cheap fingerprint of the ratings (the run's review progress).
    Raises what the engine raises (``PermissionDenied``), uncached.
    """
    full = actor.role in PERMISSIONS["read every rating"]
    return _flagged(loaders.database_url(), audit_run_id, full, version, _actor=actor)


def reliability(actor: Actor, run: AuditRunRecord) -> pd.DataFrame:
    """Return the per-group reliability table of a stored fairness run (cached).

    Raises ``ValueError`` (no scores, or scores that are not probabilities) and what
    rebuilding the decisions raises, uncached.
    """
    return _reliability(loaders.database_url(), run.id, actor.role.value, _actor=actor)


def show_disparities(table: pd.DataFrame, *, key: str, interval: str) -> None:
    """Draw a :func:`app.fairness_tables.disparity_table` (or ``worst_disparities``).

    ``interval`` says which interval the ratio column holds (for its help text).
    """
    styled = fairness_tables.shown_numbers(table).style.map(fairness_tables.verdict_style,
                                                             subset=["verdict"])
    text = st.column_config.TextColumn
    # Pixel widths summing to 965: the main column beside the sidebar at 1440 px.
    st.dataframe(styled, hide_index=True, width="stretch", key=key, column_config={
        "verdict": text(width=150, pinned=True),
        "metric": text(width=170), "group": text(width=165), "reference": text(width=135),
        "ratio": text(width=150, help=f"Group over reference [{interval}]."),
        "difference": text(width=70, help="Group minus reference."),
        "adjusted p": text(width=70, help="Benjamini-Hochberg over the audit."),
        "MDD": text(width=55, help="Minimum detectable difference: the smallest difference "
                    "to the reference this group's size detects with 80% power. A disparity "
                    "smaller than this could go unseen.")})


@st.cache_data(show_spinner=False, max_entries=32, ttl=600)
def _flagged(url: str, audit_run_id: int, full: bool, version: tuple[int, ...], *,
             _actor: Actor) -> FlaggedReviewers:
    return _flagged_reviewers(loaders.get_store(url), _actor, audit_run_id)


@st.cache_data(show_spinner="Rebuilding the audited decisions for the calibration plot",
               max_entries=16)
def _reliability(url: str, run_id: int, role: str, *, _actor: Actor) -> pd.DataFrame:
    store = loaders.get_store(url)
    run = store.get_audit_run(run_id)
    if run is None:
        raise ValueError(f"run #{run_id} is no longer stored")
    return run_reliability(store, _actor, run)
