"""Dataset & model: where the audited data and model come from, and what they are.

Everything shown is read from the store: the system the dataset is a version of (its
description, intended use, whether a positive decision is favourable, owner), the
dataset's content hash, size, column roles and card; the model's file hash, training
split and held-out metrics; the latest audit run. Nothing is recomputed here. A dataset
registered before systems existed falls back to its bundled description, if any.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import auth, charts, loaders, run_picker
from app.formatting import (
    LOWER_IS_BETTER,
    count,
    metric_items,
    metric_label,
    metric_value,
    plain,
    plain_table,
    when,
)
from audits.data.datasets import BUNDLED
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store, SystemRecord

PAGE = "app_pages/overview.py"
MSG_EMPTY = (
    "Nothing is registered yet. A data scientist registers a dataset and runs an audit "
    "(or run `fairpanel demo` to prepare the bundled example)."
)
MSG_LOGGED = (
    "This dataset carries the logged decisions of a deployed system; they are audited as "
    "they are, with no model of ours."
)


def render() -> None:
    """Draw the page."""
    auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Dataset & model")
    st.caption("Provenance of what the audits are computed from: content hashes, sizes, "
               "the training split and held-out metrics.")
    dataset = _choose_dataset(store)
    if dataset is None:
        st.info(MSG_EMPTY)
        return
    runs = [r for r in store.list_audit_runs() if r.dataset_id == dataset.id]
    # The newest run that summarises the whole dataset (group counts); fairness and
    # explanation runs have pages of their own.
    summaries = [r for r in runs if (r.results or {}).get("group_counts")]
    run = (summaries or runs or [None])[-1]
    model = _model_of(store, dataset, run)
    left, right = st.columns(2, gap="large")
    with left:
        _dataset_section(dataset, store.system_of(dataset.id))
    with right:
        _model_section(model)
    _results_section(run, model)


def _choose_dataset(store: Store) -> DatasetRecord | None:
    datasets = store.list_datasets()
    if not datasets:
        return None
    demo = [r for r in store.list_audit_runs() if r.config.get("demo")]
    latest = demo[-1] if demo else store.latest_audit_run()
    by_id = {d.id: d for d in datasets}
    default = by_id.get(latest.dataset_id, datasets[-1]) if latest else datasets[-1]
    if len(datasets) == 1:
        return default
    ids = [d.id for d in datasets]
    chosen = st.selectbox("Dataset", ids, index=ids.index(default.id), key="overview.dataset",
                          format_func=lambda i: f"#{i} {run_picker.version_label(by_id[i])} "
                                                f"({by_id[i].sha256[:12]})")
    return by_id[chosen]


def _model_of(
    store: Store, dataset: DatasetRecord, run: AuditRunRecord | None
) -> ModelRecord | None:
    if run is not None:
        return store.get_model(run.model_id) if run.model_id is not None else None
    models = store.list_models(dataset.id)
    return models[-1] if models else None


def _dataset_section(dataset: DatasetRecord, system: SystemRecord | None) -> None:
    info = BUNDLED.get(dataset.name)
    st.header("Dataset", divider="gray")
    st.subheader(plain(info.title if info is not None else dataset.name))
    _system_facts(system, info.description if info is not None else "",
                  info.positive_is_favourable if info is not None else None)
    a, b, c = st.columns(3)
    a.metric("Rows", count(dataset.n_rows))
    b.metric("Sensitive features", len(dataset.roles.get("sensitive_features") or []))
    c.metric("Features", len(dataset.roles.get("features") or []))
    st.markdown("**Data sha256** (content hash of the validated frame)")
    st.code(dataset.sha256, language=None, wrap_lines=True)
    version = f" · **version** {dataset.version}" if dataset.version is not None else ""
    st.markdown(f"**Name** {plain(dataset.name)}{version} · **registered** "
                f"{when(dataset.created_at)} by {plain(dataset.created_by)}")
    st.markdown("**Source**")
    st.text(dataset.source)
    st.markdown("**Column roles**")
    st.table(plain_table(_roles_table(dataset.roles)), hide_index=True)
    with st.expander("Dataset card", icon=":material/description:"):
        # The card is data (a user file's card is whatever its registrant wrote): shown
        # as its Markdown source, never rendered, so it cannot load images or links.
        if dataset.card:
            st.code(dataset.card, language="markdown", wrap_lines=True)
        else:
            st.caption("No card: a user file.")


def _system_facts(system: SystemRecord | None, bundled: str,
                  bundled_favourable: bool | None) -> None:
    """What the system is, is for, and who answers for it (as registered; written by
    its registrant, so shown as plain text)."""
    description = system.description if system is not None else ""
    favourable = system.positive_is_favourable if system is not None else bundled_favourable
    if description or bundled:
        st.text(description or bundled)
    if system is not None and system.intended_use:
        st.markdown("**Intended use**")
        st.text(system.intended_use)
    facts = []
    if favourable is not None:
        facts.append("a positive decision is " + ("favourable" if favourable else "adverse")
                     + " for the person")
    if system is not None and system.owner:
        facts.append(f"**owner** {plain(system.owner)}")
    if facts:
        st.markdown(" · ".join(facts))


def _model_section(model: ModelRecord | None) -> None:
    st.header("Model", divider="gray")
    if model is None:
        st.info(MSG_LOGGED)
        return
    st.subheader(model.kind.replace("_", " ").capitalize())
    split = model.split
    # Three tiles, not four: a 34,189-row count must fit a narrow half-page column.
    a, b, c = st.columns([2, 2, 1])
    a.metric("Training rows", count(split.get("n_train")))
    b.metric("Held-out rows", count(split.get("n_test")))
    c.metric("Seed", str(split.get("random_state", "-")))
    st.markdown("**Model sha256** (the saved skops file)")
    st.code(model.sha256, language=None, wrap_lines=True)
    share = split.get("test_size")
    held_out = f", {share:.0%} held out" if isinstance(share, float) else ""
    st.markdown(f"**Split** {plain(split.get('method', '-'))}{held_out} · **threshold** "
                f"{plain(model.params.get('threshold', '-'))} · **trained** "
                f"{when(model.created_at)} by {plain(model.created_by)}")
    items = metric_items(model.metrics)
    if items:
        st.markdown(f"**Held-out metrics** (on the {count(split.get('n_test'))} "
                    "held-out rows)")
        columns = st.columns(3)
        for i, (key, value) in enumerate(items):
            columns[i % 3].metric(metric_label(key, hint=False), metric_value(value),
                                  help="Lower is better." if key in LOWER_IS_BETTER else None)
    with st.expander("Parameters, features and file", icon=":material/tune:"):
        st.markdown("**File**")
        st.text(model.path)
        st.markdown(f"**{len(model.feature_names)} features**")
        st.text(", ".join(model.feature_names))
        st.markdown("**Parameters**")
        st.json(model.params, expanded=1)


def _results_section(run: AuditRunRecord | None, model: ModelRecord | None) -> None:
    st.header("Latest audit run", divider="gray")
    if run is None:
        st.info("This dataset has not been audited yet.")
        return
    results = run.results or {}
    a, b, c = st.columns(3)
    a.metric("Run", f"#{run.id}")
    b.metric("Status", run.status)
    c.metric("Decisions audited", count(results.get("n_decisions")))
    st.markdown(f"**Created** {when(run.created_at)} by {plain(run.created_by)} · "
                f"**decisions** {plain(run.config.get('decisions', '-'))} · **sensitive "
                f"features** {plain(', '.join(run.config.get('sensitive_features') or []))}")
    charts_shown = []
    if model is not None and metric_items(model.metrics):
        charts_shown.append(("overview.metrics_chart", charts.metrics_figure(model.metrics)))
    counts = results.get("group_counts") or []
    if counts:
        charts_shown.append(("overview.groups_chart",
                             charts.group_counts_figure(counts)))
    for column, (key, figure) in zip(st.columns(2, gap="large"), charts_shown, strict=False):
        column.plotly_chart(figure, key=key)


def _roles_table(roles: dict[str, Any]) -> pd.DataFrame:
    def joined(value: Any) -> str:
        if value is None or value == []:
            return "—"
        return ", ".join(value) if isinstance(value, list) else str(value)

    rows = [
        ("target (y_true)", joined(roles.get("target"))),
        ("positive label", joined(roles.get("positive_label"))),
        ("prediction (y_pred)", joined(roles.get("prediction"))),
        ("score (y_score)", joined(roles.get("score"))),
        ("sensitive features", joined(roles.get("sensitive_features"))),
        ("features", joined(roles.get("features"))),
    ]
    return pd.DataFrame(rows, columns=["role", "columns"])


render()
