"""Audit runs: every run as a readable configuration, one run's settings and results,
and what differs between two runs (:mod:`audits.fairness.run_config`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import auth, loaders, run_picker, state
from app.formatting import short_hash
from audits.fairness.counts import COUNT_COLUMNS
from audits.fairness.run_config import diff_settings, run_settings
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord

PAGE = "app_pages/audit_runs.py"
KEY_RUN = "audit_runs.selected"
KEY_OTHER = "audit_runs.compare_with"
#: The settings the list of runs shows, in order (the rest are in one run's view).
LIST_SETTINGS = ["Data (system, version)", "Model", "Groups (sensitive features)",
                 "Reference group", "Threshold (parity rule)", "Seed", "Run by", "When"]


def render() -> None:
    """Draw the page."""
    auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Audit runs")
    runs = list(reversed(store.list_audit_runs()))
    if not runs:
        st.info("No audit has been run yet.")
        return
    datasets = {d.id: d for d in store.list_datasets()}
    models = {m.id: m for m in store.list_models()}
    settings = {r.id: _settings(r, datasets, models) for r in runs}
    st.caption("Each run's configuration in words: what was audited, how, by whom and "
               "when. Pick one to read all of it, and another to see what differs.")
    st.dataframe(_runs_table(runs, settings), hide_index=True, width="stretch",
                 key="audit_runs.table")
    by_id = {r.id: r for r in runs}
    left, right = st.columns(2)
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = left.selectbox("Show run", list(by_id), key=KEY_RUN,
                            format_func=lambda i: _label(by_id[i], settings[i]))
    others = [i for i in by_id if i != chosen]
    other = None
    if others:
        state.keep_choice(KEY_OTHER, [None, *others], None)
        other = right.selectbox("Compare with", [None, *others], key=KEY_OTHER,
                                format_func=lambda i: "(no comparison)" if i is None
                                else _label(by_id[i], settings[i]))
    if other is not None:
        _diff(chosen, other, settings)
    _run(by_id[chosen], settings[chosen])


def _settings(run: AuditRunRecord, datasets: dict[int, DatasetRecord],
              models: dict[int, ModelRecord]) -> dict[str, str]:
    model = models.get(run.model_id) if run.model_id is not None else None
    config = (run.results or {}).get("config") or {}
    metrics = config.get("metrics") if isinstance(config, dict) else None
    return run_settings(run.config or {}, dataset=_dataset_label(datasets, run.dataset_id),
                        model=f"#{model.id} {model.kind}" if model else "logged decisions",
                        created_by=run.created_by, created_at=run.created_at,
                        metrics=list(metrics) if isinstance(metrics, list) else None)


def _label(run: AuditRunRecord, settings: dict[str, str]) -> str:
    return (f"#{run.id} · {run.status} · {settings['Data (system, version)']} · "
            f"{settings.get('Groups (sensitive features)', '-')} · {settings['When']}")


def _runs_table(runs: list[AuditRunRecord], settings: dict[int, dict[str, str]]
                ) -> pd.DataFrame:
    rows = []
    for run in runs:
        shown = settings[run.id]
        rows.append({"id": run.id, "status": run.status,
                     "kind": shown.get("Kind of run", "-"),
                     **{name: shown.get(name, "-") for name in LIST_SETTINGS}})
    return pd.DataFrame(rows)


def _diff(first: int, second: int, settings: dict[int, dict[str, str]]) -> None:
    table = diff_settings(settings[first], settings[second])
    differs = table[table["differs"]]
    st.subheader(f"Run #{first} against run #{second}")
    if differs.empty:
        st.info("The two runs have the same configuration: the same data, model, groups, "
                "reference, threshold and seed (only their ids differ).")
        return
    names = ", ".join(differs["setting"].str.lower())
    st.markdown(f"**{len(differs)} of {len(table)} settings differ:** {names}.")
    shown = differs.rename(columns={"first": f"run #{first}", "second": f"run #{second}"})
    st.dataframe(shown.drop(columns="differs"), hide_index=True, width="stretch",
                 key="audit_runs.diff")
    with st.expander("Every setting, side by side"):
        st.dataframe(table.rename(columns={"first": f"run #{first}",
                                           "second": f"run #{second}"}),
                     hide_index=True, width="stretch", key="audit_runs.diff_all")


def _run(run: AuditRunRecord, settings: dict[str, str]) -> None:
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader(f"Run #{run.id}: configuration")
        st.dataframe(pd.DataFrame(list(settings.items()), columns=["setting", "value"]),
                     hide_index=True, width="stretch", key="audit_runs.settings",
                     height=38 + 35 * len(settings))
        with st.expander("Stored configuration (JSON)"):
            st.json(run.config, expanded=2)
    with right:
        st.subheader("Results")
        if run.results is None:
            st.info(f"No results yet (status: {run.status}).")
            return
        _results(run.results)


def _results(results: dict[str, Any]) -> None:
    counts = results.get("group_counts")
    if counts:
        table = pd.DataFrame(counts)
        order = [c for c in COUNT_COLUMNS if c in table.columns]
        st.dataframe(table[order + [c for c in table.columns if c not in order]],
                     hide_index=True, width="stretch")
    with st.expander("Stored results (JSON)"):
        st.json(results, expanded=1)


def _dataset_label(datasets: dict[int, DatasetRecord], dataset_id: int) -> str:
    dataset = datasets.get(dataset_id)
    if dataset is None:
        return f"#{dataset_id}"
    return f"{run_picker.version_label(dataset)} ({short_hash(dataset.sha256)})"


render()
