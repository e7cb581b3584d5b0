"""The only module with ``st.cache_resource`` / ``st.cache_data`` (or a cache of its own).

- the :class:`~audits.store.Store`, one per database URL for the whole server process
  (it owns a connection pool; every session shares it);
- the demo preparation, serialised by a process-wide lock so two first visitors do not
  prepare it twice;
- the values of a bundled dataset's sensitive features (public data, keyed on the
  dataset's name and content hash), which the fairness page offers as reference groups;
- the decisions a stored audit's deferral curve reads (rebuilding them scores every
  held-out row: about a second), keyed on the database and the run, and the curve drawn
  from them, keyed on the database, the run and the human accuracy it assumes or
  measured (the panel's reviewed cases are read on every run, so a new review counts at
  once; a step of the assumption slider reuses the decisions);
- the panel analysis of an audit (:func:`audits.raters.stored.analyse_panel`), keyed on
  the database, the run, the grouping, whether the reader sees per-reviewer results
  and the run's review progress (so new ratings are taken up);
- the panel's trusted consensus labels of an audit (:func:`audits.retrain.stored.panel_labels`,
  a Dawid-Skene fit), keyed like the panel analysis on the run's review progress and the
  trust threshold, and on the reader's role;
- a stored report rendered as HTML, keyed on the database, the report and its version
  (status, body hash, signature: what changes what the file says);
- the comparison of two stored fairness runs (:func:`audits.reports.compare.compare_runs`),
  keyed on the database and the two runs (stored runs never change);
- which stored audit runs hold a retrained model's before/after re-audit, keyed on the
  database and the model (a model's runs never change);
- a conversation system's findings (:func:`audits.conversations.conversation_findings`:
  three bootstrapped audits and the judge analysis, a few seconds), keyed on the
  database, the system's version (its content hash), the attribute compared, its queue's
  review progress (new ratings recompute) and whether the reader may read every rating;
  kept in a bounded process-wide dictionary rather than ``st.cache_data``, so that the
  page's progress bar moves while they are computed.

Cached functions never create elements or widgets, and nothing private to one user is
cached: records are read from the store on every run.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from audits.data.datasets import BUNDLED, load_dataset
from audits.data.encoding import MISSING as MISSING_GROUP
from audits.demo.default import DEFAULT_DATASET, DEMO_PERSONAS, DemoState
from audits.demo.panel import ensure_full_demo, full_demo_prepared
from audits.flagging.deferral import DeferralCurve, HumanAccuracy, human_accuracy
from audits.monitoring.stored import (
    DeferralInputs,
    deferral_from,
    deferral_inputs,
    reviewed_decisions,
)
from audits.raters.stored import PanelAnalysis, analyse_panel
from audits.roles import PERMISSIONS, Actor
from audits.store import DatasetRecord, ModelRecord, Store
from audits.store.db import default_database_url
from audits.systems.card import MISSING_CATEGORY

if TYPE_CHECKING:  # imported where used: only the Retraining page pays for retraining
    from audits.conversations.findings import ConversationFindings
    from audits.retrain.stored import PanelLabels

__all__ = [
    "close_stores",
    "conversation_findings",
    "database_url",
    "deferral_curve",
    "deferral_human_accuracy",
    "demo_is_prepared",
    "get_store",
    "panel_analysis",
    "panel_labels",
    "prepare_demo",
    "report_html",
    "run_comparison",
    "sensitive_values",
]

#: The range of human accuracy drawn around an assumption (the engine's default band).
ASSUMED_RANGE = (0.8, 0.98)

# The stores _store() opened, so close_stores() can release their connections.
_OPENED: list[Store] = []
_OPENED_LOCK = threading.Lock()


def database_url() -> str:
    """Return the database URL the dashboard uses (``FAIRPANEL_DATABASE_URL`` or default)."""
    return default_database_url()


def get_store(url: str | None = None) -> Store:
    """Return the shared store for ``url`` (default: :func:`database_url`)."""
    return _store(url if url is not None else database_url())


def prepare_demo(
    store: Store, *, progress: Callable[[float, str], None] | None = None
) -> DemoState:
    """Prepare the bundled demo in ``store`` (idempotent), one caller at a time.

    :func:`audits.demo.panel.ensure_full_demo`: the dataset, model and first audit, the
    review queue and the simulated monitoring example, and the demo panel.
    ``progress(fraction, message)`` receives all of it in one 0-1 range; the caller owns
    whatever element shows it.
    """
    with _demo_lock(store.url):
        return ensure_full_demo(store, progress=progress).state


def demo_is_prepared(store: Store) -> bool:
    """Return True when the personas, a completed demo run of the configured dataset, a
    review queue and its panel exist.

    A cheap check (a few queries, no data loaded), so the sign-in page can decide
    whether to show the preparation progress bar.
    """
    if any(store.get_user(p.username) is None for p in DEMO_PERSONAS):
        return False
    if not full_demo_prepared(store):
        return False
    name = os.environ.get("FAIRPANEL_DEMO_DATASET") or DEFAULT_DATASET
    return any(
        run.status == "completed" and run.config.get("demo") and run.config.get("dataset") == name
        for run in store.list_audit_runs()
    )


def sensitive_values(dataset: DatasetRecord) -> dict[str, list[str]]:
    """Return the values of each sensitive feature of a registered version, as the audit
    names them.

    Read from the version's card (recorded at registration), so no data are loaded and
    sensitive data kept apart are not read here; a version registered before cards were
    stored falls back to its bundled file when it is one and still matches, else ``{}``.
    Missing values are the group ``"<missing>"``, as in
    :func:`audits.fairness.counts.count_groups`.
    """
    card = dataset.card_data or {}
    if card.get("sensitive"):
        return {str(f["feature"]): sorted(
                    MISSING_GROUP if c["value"] == MISSING_CATEGORY else str(c["value"])
                    for c in f["categories"])
                for f in card["sensitive"]}
    return _sensitive_values(dataset.name, dataset.sha256)


def deferral_human_accuracy(url: str, audit_run_id: int,
                            assumed: float | None = None) -> HumanAccuracy:
    """Return the human accuracy a stored audit's deferral curve uses (not cached).

    Estimated from the panel's reviewed cases with a known answer once there are enough
    (:func:`audits.flagging.deferral.human_accuracy`), else ``assumed`` (None: the
    engine's default assumption), with the range :data:`ASSUMED_RANGE` widened to hold
    it. The reviews are read on every call (one query).
    """
    reviewed = reviewed_decisions(_store(url), audit_run_id)
    if assumed is None:
        return human_accuracy(reviewed)
    value = round(float(assumed), 4)
    # The band shown around an assumption is the engine's range, widened to hold the
    # assumed value (an assumption outside it was refused, and the page drew no curve).
    low, high = ASSUMED_RANGE
    return human_accuracy(reviewed, assumed=value,
                          assumed_range=(min(low, value), max(high, value)))


def deferral_curve(url: str, audit_run_id: int, human: HumanAccuracy) -> DeferralCurve:
    """Return the deferral curve of a stored audit for ``human`` (cached).

    The audit's rebuilt decisions (:func:`audits.monitoring.stored.deferral_inputs`) are
    cached on their own, so another human accuracy only redraws the curve. Raises what
    ``deferral_inputs`` raises (``ValueError`` for decisions without scores), uncached.
    """
    return _deferral_curve(url, audit_run_id, human.value, human.ci_low, human.ci_high,
                           human.n_reviews, human.source, human.statement)


def panel_analysis(url: str, actor: Actor, audit_run_id: int, *, attribute: str,
                   subject_attribute: str | None, version: tuple[int, ...]) -> PanelAnalysis:
    """Return :func:`audits.raters.stored.analyse_panel` of a stored audit (cached).

    Shared by every reader with the same view: the key holds whether ``actor`` may read
    every rating (per-reviewer results) instead of who they are. ``version`` is a cheap
    fingerprint of the ratings (the run's review progress): new ratings recompute.
    Raises what ``analyse_panel`` raises (``ValueError`` for too few ratings), uncached.
    """
    full = actor.role in PERMISSIONS["read every rating"]
    return _panel_analysis(url, audit_run_id, attribute, subject_attribute, full, version,
                           _actor=actor)


def panel_labels(url: str, actor: Actor, audit_run_id: int, *, min_confidence: float,
                 version: tuple[int, ...]) -> PanelLabels:
    """Return :func:`audits.retrain.stored.panel_labels` of a stored audit (cached).

    Labels per case, never who said what, so the key holds the reader's role (the engine
    checks it; a refusal is never cached) and ``version``, the run's review progress, so
    new ratings or adjudications recompute.
    """
    return _panel_labels(url, audit_run_id, round(float(min_confidence), 4), actor.role.value,
                         version, _actor=actor)


def report_html(url: str, report_id: int, version: tuple[str, ...]) -> str:
    """Return the HTML of a stored report (:func:`audits.reports.stored.export_report`), cached.

    ``version`` is what changes the file (the report's status, body hash and signature),
    so an approval renders the signed report anew. Raises what ``export_report`` raises,
    uncached.
    """
    return _report_html(url, report_id, version)


def run_comparison(url: str, actor: Actor, run_a: int, run_b: int) -> pd.DataFrame:
    """Return :func:`audits.reports.compare.compare_runs` of two stored runs (cached).

    Stored runs never change, so the key is the database, the two runs and the reader's
    role (the engine checks the role; a refusal is never cached). Raises what
    ``compare_runs`` raises, uncached.
    """
    return _run_comparison(url, run_a, run_b, actor.role.value, _actor=actor)


def retraining_comparison(model: ModelRecord) -> pd.DataFrame:
    """Return the paired before/after comparison stored with a retrained model (not cached:
    it is part of the record)."""
    from audits.retrain.stored import stored_comparison

    return stored_comparison(model)


def retraining_runs(url: str, actor: Actor, model_id: int) -> tuple[int, int] | None:
    """Return the ids of the old and new model's re-audit runs of a retraining (cached).

    None when they are not stored (e.g. the retraining failed half-way); the engine
    checks the role, and a refusal is never cached.
    """
    return _retraining_runs(url, model_id, actor.role.value, _actor=actor)


#: The conversation findings computed last (a process-wide cache of bounded size: the
#: Conversations page draws a progress bar while it computes, which a cached function
#: may not).
_FINDINGS: OrderedDict[tuple[Any, ...], ConversationFindings] = OrderedDict()
_FINDINGS_LOCK = threading.Lock()
_FINDINGS_MAX = 16


def conversation_findings(url: str, actor: Actor, name: str, *, sha256: str, by: str,
                          version: tuple[int, ...],
                          progress: Callable[[float, str], None] | None = None
                          ) -> ConversationFindings:
    """Return :func:`audits.conversations.conversation_findings` of a conversation
    system's latest version (cached, shared by every reader with the same view).

    ``sha256`` is the version's content hash, ``version`` a fingerprint of its queue's
    ratings; the key holds whether ``actor`` may read every rating (the knowledge gaps)
    instead of who they are. ``progress`` is called only when the findings are computed.
    """
    from audits.conversations.findings import conversation_findings as compute

    key = (url, name, sha256, by, version, actor.role in PERMISSIONS["read every rating"])
    with _FINDINGS_LOCK:
        kept = _FINDINGS.get(key)
        if kept is not None:
            _FINDINGS.move_to_end(key)
            return kept
    # Computed outside the lock (with its progress bar, which st.cache_data cannot
    # drive): two readers at once may both compute; both get the same findings.
    found = compute(_store(url), actor, name, by=by, progress=progress)
    with _FINDINGS_LOCK:
        _FINDINGS[key] = found
        while len(_FINDINGS) > _FINDINGS_MAX:
            _FINDINGS.popitem(last=False)
    return found


def close_stores() -> None:
    """Close every cached store and forget it (tests, and a clean shutdown)."""
    with _OPENED_LOCK:
        opened, _OPENED[:] = list(_OPENED), []
    _store.clear()
    for store in opened:
        store.close()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    store = Store(url)
    with _OPENED_LOCK:
        _OPENED.append(store)
    return store


@st.cache_resource(show_spinner=False)
def _demo_lock(url: str) -> threading.Lock:
    return threading.Lock()


@st.cache_data(show_spinner=False, max_entries=4, ttl=600)
def _deferral_inputs(url: str, audit_run_id: int) -> DeferralInputs:
    # A stored run's decisions do not change; the ttl lets go of the rows after a while
    # (and takes up sensitive data purged since).
    return deferral_inputs(_store(url), audit_run_id)


@st.cache_data(show_spinner=False, max_entries=64, ttl=600)
def _deferral_curve(url: str, audit_run_id: int, value: float, ci_low: float, ci_high: float,
                    n_reviews: int, source: str, statement: str) -> DeferralCurve:
    human = HumanAccuracy(value=value, ci_low=ci_low, ci_high=ci_high, n_reviews=n_reviews,
                          source=source, statement=statement)
    return deferral_from(_deferral_inputs(url, audit_run_id), human)


@st.cache_data(show_spinner=False, max_entries=32, ttl=600)
def _panel_analysis(url: str, audit_run_id: int, attribute: str, subject_attribute: str | None,
                    full: bool, version: tuple[int, ...], *, _actor: Actor) -> PanelAnalysis:
    return analyse_panel(_store(url), _actor, audit_run_id, attribute=attribute,
                         subject_attribute=subject_attribute)


@st.cache_data(show_spinner=False, max_entries=32, ttl=600)
def _panel_labels(url: str, audit_run_id: int, min_confidence: float, role: str,
                  version: tuple[int, ...], *, _actor: Actor) -> PanelLabels:
    from audits.retrain.stored import panel_labels

    return panel_labels(_store(url), _actor, audit_run_id, min_confidence=min_confidence)


@st.cache_data(show_spinner=False, max_entries=16)
def _report_html(url: str, report_id: int, version: tuple[str, ...]) -> str:
    # Imported here: only the Reports page pays for the report renderer's imports.
    from audits.reports.stored import export_report

    return export_report(_store(url), report_id, "html").decode("utf-8")


@st.cache_data(show_spinner=False, max_entries=16)
def _run_comparison(url: str, run_a: int, run_b: int, role: str, *,
                    _actor: Actor) -> pd.DataFrame:
    from audits.reports.compare import compare_runs

    return compare_runs(_store(url), _actor, run_a, run_b)


@st.cache_data(show_spinner=False, max_entries=16)
def _retraining_runs(url: str, model_id: int, role: str, *,
                     _actor: Actor) -> tuple[int, int] | None:
    from audits.retrain.stored import stored_reaudits

    return stored_reaudits(_store(url), _actor, model_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _sensitive_values(name: str, sha256: str) -> dict[str, list[str]]:
    if name not in BUNDLED:
        return {}
    loaded = load_dataset(name)
    if loaded.sha256 != sha256:
        return {}
    out = {}
    for column in loaded.roles.sensitive_features:
        values = loaded.frame[column]
        out[column] = sorted({str(v) for v in values.dropna().unique()})
        if values.isna().any():
            out[column].append("<missing>")
    return out
