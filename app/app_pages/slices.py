"""Worst-off subgroups: slices of a fairness audit's decisions nobody declared.

The reader picks a stored fairness audit run, the metric, the columns, the deepest
combination, the smallest subgroup and the seed, and runs slice discovery
(:mod:`audits.slices.stored`) with a progress bar. Data scientists and admins store what
they run (the audit's report lists the newest stored discovery); panel leads and
compliance officers run it without storing. The newest stored discovery of the chosen
audit is shown without running anything. :mod:`app.slice_tables` only reshapes the
engine's results.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import auth, loaders, run_picker, slice_tables, state
from app.formatting import plain, when
from app.state import SignedInUser
from audits.fairness.stored import AUDIT_KIND
from audits.roles import PERMISSIONS, PermissionDenied
from audits.slices.stored import (
    candidate_columns,
    find_audit_slices,
    latest_slice_run,
    run_slice_discovery,
)
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/slices.py"
KEY_RUN = "slices.audit_run_id"
#: Session key of the last discovery run on this page (results, run id or None).
KEY_RESULT = "slices.result"
MSG_NO_RUNS = ("No fairness audit is stored yet: run one on the Fairness audit page, then "
               "search its decisions for the worst-off subgroups here.")
MSG_FAILED = "Slice discovery could not run: {error}"
MSG_NO_COLUMNS = "Choose at least one column."
MSG_STORED = ("Stored as slice discovery run #{id}: the audit's report lists the newest "
              "one.")
MSG_NOT_STORED = ("Not stored: only data scientists and admins store a discovery for the "
                  "report. What is shown is exactly what the engine found.")
MSG_NONE = ("No subgroup of these columns is significantly worse than the rest. That is "
            "not proof that none is: a smaller subgroup, or a smaller difference, may go "
            "unseen with this many decisions.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Worst-off subgroups")
    st.caption("Audits test the groups someone named. This looks at every combination of "
               "up to three feature values (region x product x age band, say) and reports "
               "those whose decisions are significantly worse than the rest, confirmed on "
               "a held-out half of the decisions, worst first.")
    runs = store.list_audit_runs()
    run = run_picker.choose_run(store, runs, kind=AUDIT_KIND, key=KEY_RUN,
                                label="Fairness audit run", run_label=_run_label)
    if run is None:
        st.info(MSG_NO_RUNS)
        return
    settings = _settings(store, run)
    ran = _run_button(store, user, run, settings) if settings is not None else None
    result = ran or _remembered(run) or _stored(store, run)
    if result is not None:
        _show(*result)


def _run_label(run: AuditRunRecord, datasets: dict[int, str]) -> str:
    model = f"model #{run.model_id}" if run.model_id is not None else "logged decisions"
    return (f"#{run.id} · {datasets.get(run.dataset_id, run.dataset_id)} · {model} · "
            f"{when(run.created_at)}")


def _settings(store: Store, run: AuditRunRecord) -> dict[str, Any] | None:
    """The discovery's options, from the form (None when no column is chosen)."""
    candidates = candidate_columns(store, run.id)
    left, right = st.columns([1, 2])
    metric = left.selectbox("Worse at", list(slice_tables.METRIC_LABELS),
                            format_func=slice_tables.METRIC_LABELS.__getitem__,
                            key="slices.metric",
                            help="The rate a subgroup must be significantly higher on.")
    columns = right.multiselect("Columns", candidates, default=candidates,
                                key=f"slices.columns.{run.id}",
                                help="The features and sensitive features. With all of "
                                     "them, row ids and text columns of many values are "
                                     "left out.")
    a, b, c = st.columns(3)
    depth = a.selectbox("Deepest combination", [1, 2, 3], index=2, key="slices.depth",
                        help="The most column values a subgroup combines.")
    support = b.number_input("Smallest subgroup", min_value=10, max_value=100_000, value=100,
                             step=10, key="slices.min_support",
                             help="Decisions a subgroup needs in each half to be tested.")
    seed = c.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1,
                          key="slices.seed", help="Seed of the random half-split.")
    if not columns:
        st.warning(MSG_NO_COLUMNS)
        return None
    return {"metric": metric,
            "columns": None if set(columns) == set(candidates) else list(columns),
            "max_depth": int(depth), "min_support": int(support), "random_state": int(seed)}


def _run_button(store: Store, user: SignedInUser, run: AuditRunRecord,
                settings: dict[str, Any]) -> tuple[dict[str, Any], int | None] | None:
    if not st.button("Find the worst-off subgroups", type="primary",
                     icon=":material/travel_explore:", key="slices.run"):
        return None
    bar = st.progress(0.0, text="Starting")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    try:
        if user.role in PERMISSIONS["run an audit"]:
            stored = run_slice_discovery(store, user.actor, run.id, progress=progress,
                                         **settings)
            result: tuple[dict[str, Any], int | None] = (dict(stored.results or {}),
                                                         stored.id)
        else:
            found = find_audit_slices(store, user.actor, run.id, progress=progress,
                                      **settings)
            result = (found.to_dict(), None)
    except (PermissionDenied, LookupError, ValueError) as error:
        bar.empty()
        st.error(MSG_FAILED.format(error=plain(error)))
        return None
    bar.empty()
    state.remember(KEY_RESULT, {"audit_run_id": run.id, "result": result})
    return result


def _remembered(run: AuditRunRecord) -> tuple[dict[str, Any], int | None] | None:
    kept = state.recall(KEY_RESULT)
    if not kept or kept.get("audit_run_id") != run.id:
        return None
    results, run_id = kept["result"]
    return dict(results), run_id


def _stored(store: Store, run: AuditRunRecord) -> tuple[dict[str, Any], int | None] | None:
    found = latest_slice_run(store, run.id)
    if found is None:
        st.info("No slice discovery is stored for this audit yet: choose the settings "
                "above and run one.")
        return None
    return dict(found.results or {}), found.id


def _show(results: dict[str, Any], run_id: int | None) -> None:
    st.header("What was found", divider="gray")
    table = slice_tables.slice_table(results)
    metric = slice_tables.METRIC_LABELS.get(str(results.get("metric")), "Rate")
    tiles = [("Subgroups tested", f"{int(results.get('n_tested') or 0):,}"),
             ("Worse on the first half", f"{int(results.get('n_discovered') or 0):,}"),
             ("Confirmed on the other half", f"{len(table):,}")]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    st.markdown(slice_tables.what_was_tested(results))
    if table.empty:
        st.success(MSG_NONE, icon=":material/check_circle:")
    else:
        st.dataframe(table, hide_index=True, width="stretch", key="slices.table",
                     column_config=_table_columns(metric))
    st.caption(MSG_STORED.format(id=run_id) if run_id is not None else MSG_NOT_STORED)


def _table_columns(metric: str) -> dict[str, Any]:
    number = st.column_config.NumberColumn
    return {"slice": st.column_config.TextColumn("Subgroup", width="large"),
            "attributes": number("Values", help="How many column values it combines."),
            "n": number("n", format="%d", help="Decisions the metric counts in it."),
            "rate": number(metric, format="%.3f"),
            "ci_low": number("95% CI low", format="%.3f",
                             help="Wilson interval over all decisions."),
            "ci_high": number("95% CI high", format="%.3f"),
            "rest": number("Rest", format="%.3f", help=f"{metric} of every other decision."),
            "p_adjusted": number("Adjusted p", format="%.2g",
                                 help="Benjamini-Hochberg, over every subgroup tested."),
            "p_holdout": number("Held-out p", format="%.2g",
                                help="The same test on the other half of the decisions.")}


render()
