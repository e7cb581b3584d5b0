"""Audit runs: every run with its status, dataset, model and configuration."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, loaders, run_picker
from app.formatting import short_hash, when
from audits.fairness.counts import COUNT_COLUMNS
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord

PAGE = "app_pages/audit_runs.py"


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
    st.dataframe(_runs_table(runs, datasets, models), hide_index=True, width="stretch",
                 key="audit_runs.table")
    by_id = {r.id: r for r in runs}
    chosen = st.selectbox("Show run", list(by_id), key="audit_runs.selected",
                          format_func=lambda i: f"#{i} · {by_id[i].status} · "
                                                f"{_dataset_label(datasets, by_id[i].dataset_id)}")
    run = by_id[chosen]
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Configuration")
        st.json(run.config, expanded=2)
    with right:
        st.subheader("Results")
        if run.results is None:
            st.info(f"No results yet (status: {run.status}).")
        else:
            counts = run.results.get("group_counts")
            if counts:
                table = pd.DataFrame(counts)
                order = [c for c in COUNT_COLUMNS if c in table.columns]
                st.dataframe(table[order + [c for c in table.columns if c not in order]],
                             hide_index=True, width="stretch")
            st.json(run.results, expanded=1)


def _runs_table(runs: list[AuditRunRecord], datasets: dict[int, DatasetRecord],
                models: dict[int, ModelRecord]) -> pd.DataFrame:
    rows = []
    for run in runs:
        model = models.get(run.model_id) if run.model_id is not None else None
        dataset = datasets.get(run.dataset_id)
        rows.append({
            "id": run.id,
            "status": run.status,
            "dataset": _dataset_label(datasets, run.dataset_id),
            "data sha256": short_hash(dataset.sha256 if dataset else None),
            "model": f"#{model.id} {model.kind}" if model else "logged decisions",
            "model sha256": short_hash(model.sha256 if model else None),
            "sensitive features": ", ".join(run.config.get("sensitive_features") or []),
            "seed": run.config.get("random_state"),
            "created by": run.created_by,
            "created": when(run.created_at),
            "updated": when(run.updated_at),
        })
    return pd.DataFrame(rows)


def _dataset_label(datasets: dict[int, DatasetRecord], dataset_id: int) -> str:
    dataset = datasets.get(dataset_id)
    return (f"#{dataset_id} {run_picker.version_label(dataset)}" if dataset
            else f"#{dataset_id}")


render()
