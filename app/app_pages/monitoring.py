"""Monitoring: an audit's disparities batch by batch after its baseline, and the alerts.

Reads :func:`audits.monitoring.stored.monitoring_view` (the stored batch audits lined up
after the baseline audit, per batch and per rolling window) and the stored alerts.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, queue_charts, queue_tables, state
from app.formatting import metric_label
from audits.monitoring.history import verdict_alerts
from audits.monitoring.stored import MonitoringView, monitoring_view
from audits.store import AlertRecord, AuditRunRecord, Store

PAGE = "app_pages/monitoring.py"
KEY_RUN = "monitoring.run_id"
MSG_NO_BATCHES = ("No audit has monitoring batches yet: `fairpanel queue ingest` appends a "
                  "batch of new decisions to an audit with a review queue.")
VIEWS = {"batch": "Per batch", "window": "Rolling window"}
DEFAULT_TAU = 0.8


def render() -> None:
    """Draw the page."""
    auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Monitoring")
    st.caption("Each batch of new decisions is audited on its own and compared with the "
               "baseline audit; an alert is raised when a disparity starts or stops "
               "failing the parity rule.")
    run = _choose_run(store)
    if run is None:
        st.info(MSG_NO_BATCHES)
        return
    view = monitoring_view(store, run.id)
    labels = {b.id: b.label for b in view.batches}
    _alerts(view.alerts, labels)
    _chart(run, view)
    st.subheader("Batches")
    st.dataframe(queue_tables.batch_table(view.batches, store.list_cases(run.id)),
                 hide_index=True, width="stretch", key="monitoring.batches")
    if any("simulated" in b.label for b in view.batches):
        st.caption("Batches labelled 'simulated' are generated demo data, not real decisions.")


def _choose_run(store: Store) -> AuditRunRecord | None:
    runs = [r for r in (store.get_audit_run(i) for i in reversed(store.queued_audit_runs()))
            if r is not None and store.list_batches(r.id)]
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    names = {d.id: d.name for d in store.list_datasets()}
    n_batches = {r.id: len(store.list_batches(r.id)) for r in runs}
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox("Monitored audit", list(by_id), key=KEY_RUN,
                          format_func=lambda i: f"#{i} · "
                          f"{names.get(by_id[i].dataset_id, '?')} · {n_batches[i]} batches")
    return by_id[chosen]


def _alerts(alerts: list[AlertRecord], labels: dict[int, str]) -> None:
    st.subheader(f"Alerts ({len(alerts)})")
    if not alerts:
        st.success("No alerts: no disparity has started or stopped failing the rule.")
        return
    # Newest batch first: what changed last matters most.
    for alert in sorted(alerts, key=lambda a: (-a.batch_id, a.id)):
        where = labels.get(alert.batch_id, f"batch #{alert.batch_id}")
        text = f"**{where} · {alert.severity}** — {alert.message}"
        if alert.to_verdict == "fail":
            st.error(text, icon=":material/warning:")
        else:
            st.success(text, icon=":material/check_circle:")


def _chart(run: AuditRunRecord, view: MonitoringView) -> None:
    history, window, alerts = view.history, view.window_history, view.alerts
    st.subheader("Disparity over time")
    a, b = st.columns([1, 1], vertical_alignment="bottom")
    metrics = list(dict.fromkeys(history["metric"]))
    if not metrics:
        st.info("The batches of this audit hold no disparities.")
        return
    metric = a.selectbox("Metric", metrics, format_func=metric_label, key="monitoring.metric",
                         index=metrics.index("selection_rate")
                         if "selection_rate" in metrics else 0)
    mode = b.segmented_control("View", list(VIEWS), format_func=VIEWS.__getitem__,
                               default="batch", key="monitoring.view") or "batch"
    table = history if mode == "batch" else window
    groups = list(dict.fromkeys(table.loc[table["metric"] == metric, "group"]))
    flagged = {a.subject_group for a in alerts if a.metric == metric}
    default = [g for g in groups if " & " not in g or g in flagged] or groups
    shown = st.multiselect("Groups", groups, default=default, key=f"monitoring.groups.{run.id}",
                          help="Intersections are left out by default unless they raised "
                               "an alert.")
    marks = queue_tables.alert_points(table, alerts if mode == "batch"
                                      else verdict_alerts(table))
    tau = float(run.config.get("tau") or DEFAULT_TAU)
    what = "each batch on its own" if mode == "batch" else (
        "a rolling window (the last batches pooled)")
    st.plotly_chart(queue_charts.monitoring_figure(
        table, metric, tau=tau, labels=queue_tables.position_labels(table), alerts=marks,
        groups=shown, title=f"{metric_label(metric)}: ratio to the reference group, {what}"),
        key="monitoring.chart")
    st.caption(f"Points are ratios to the slice's reference group with their intervals; the "
               f"parity rule holds between the dashed lines (tau = {tau:g}, 1/tau = "
               f"{1 / tau:.3g}). Red crosses mark where a disparity moved into fail.")


render()
