"""Monitoring: an audit's disparities batch by batch after its baseline, and the alerts.

Reads :func:`audits.monitoring.stored.monitoring_view` (the stored batch audits lined up
after the baseline audit, per batch and per rolling window), the stored alerts and where
each alert stands now. Alerts follow the rolling window's verdicts with hysteresis (see
:mod:`audits.monitoring.history`), so the window view is the default.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, queue_charts, queue_tables, run_picker, state
from app.formatting import metric_label, plain
from audits.monitoring.stored import MonitoringView, monitoring_view
from audits.store import AlertRecord, AuditRunRecord, BatchRecord, Store

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
    st.caption("Each batch of new decisions is audited on its own and pooled with the "
               "batches before it (a rolling window). Alerts follow the window: a disparity "
               "opens an alert once it has failed the parity rule in several windows in a "
               "row, and is resolved only once as many windows in a row show its interval "
               "inside the allowed region. A small batch with a wide interval resolves "
               "nothing: the alert stays open, with insufficient evidence.")
    chosen = _choose_run(store)
    if chosen is None:
        st.info(MSG_NO_BATCHES)
        return
    run, batches = chosen
    view = monitoring_view(store, run.id, batches=batches)
    labels = {b.id: b.label for b in view.batches}
    _open(view)
    _alerts(view.alerts, labels)
    _chart(run, view)
    st.subheader("Batches")
    st.dataframe(queue_tables.batch_table(view.batches, store.list_cases(run.id)),
                 hide_index=True, width="stretch", key="monitoring.batches")
    if any("simulated" in b.label for b in view.batches):
        st.caption("Batches labelled 'simulated' are generated demo data, not real decisions.")


def _choose_run(store: Store) -> tuple[AuditRunRecord, list[BatchRecord]] | None:
    """The chosen audit and its batches (each run's batches are read once)."""
    batches = {i: store.list_batches(i) for i in reversed(store.queued_audit_runs())}
    runs = [r for r in (store.get_audit_run(i) for i, b in batches.items() if b)
            if r is not None]
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    names = run_picker.dataset_labels(store)
    n_batches = {r.id: len(batches[r.id]) for r in runs}
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox("Monitored audit", list(by_id), key=KEY_RUN,
                          format_func=lambda i: f"#{i} · "
                          f"{names.get(by_id[i].dataset_id, '?')} · {n_batches[i]} batches")
    return by_id[chosen], batches[chosen]


def _open(view: MonitoringView) -> None:
    """Where each open alert stands, as a table (plain text, never Markdown)."""
    rule = view.alerting
    opened = view.open_alerts
    st.subheader(f"Open alerts ({len(opened)})")
    st.caption(f"Judged on a rolling window of {rule.get('window')} batches; a change must "
               f"hold for {rule.get('hold')} batches in a row.")
    if opened.empty:
        st.success("No open alert: no disparity fails the parity rule in the rolling window.")
        return
    table = opened.assign(metric=opened["metric"].map(metric_label))[
        ["metric", "group", "reference", "since_label", "label", "verdict", "ratio",
         "ratio_low", "ratio_high", "note"]].rename(columns={
             "since_label": "open since", "label": "latest batch",
             "verdict": "latest verdict"})
    st.dataframe(table, hide_index=True, width="stretch", key="monitoring.open")


def _alerts(alerts: list[AlertRecord], labels: dict[int, str]) -> None:
    st.subheader(f"Alert history ({len(alerts)})")
    if not alerts:
        st.success("No alerts: no disparity has started or stopped failing the rule.")
        return
    # Newest batch first: what changed last matters most.
    for alert in sorted(alerts, key=lambda a: (-a.batch_id, a.id)):
        where = labels.get(alert.batch_id, f"batch #{alert.batch_id}")
        text = f"**{plain(where)} · {alert.severity}** — {plain(alert.message)}"
        if alert.to_verdict == "fail":
            st.error(text, icon=":material/warning:")
        else:
            st.success(text, icon=":material/check_circle:")


@st.fragment
def _chart(run: AuditRunRecord, view: MonitoringView) -> None:
    """The disparity chart and its filters: a filter change reruns only this part."""
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
                               default="window", key="monitoring.view") or "window"
    table = history if mode == "batch" else window
    groups = list(dict.fromkeys(table.loc[table["metric"] == metric, "group"]))
    flagged = {a.subject_group for a in alerts if a.metric == metric}
    default = [g for g in groups if " & " not in g or g in flagged] or groups
    shown = st.multiselect("Groups", groups, default=default, key=f"monitoring.groups.{run.id}",
                          help="Intersections are left out by default unless they raised "
                               "an alert.")
    # Alerts are raised on the window's record; on either view they mark their batch.
    marks = queue_tables.alert_points(table, alerts)
    tau = float(run.config.get("tau") or DEFAULT_TAU)
    what = "each batch on its own" if mode == "batch" else (
        "a rolling window (the last batches pooled)")
    st.plotly_chart(queue_charts.monitoring_figure(
        table, metric, tau=tau, labels=queue_tables.position_labels(table), alerts=marks,
        groups=shown, title=f"{metric_label(metric)}: ratio to the reference group, {what}"),
        key="monitoring.chart")
    st.caption(f"Points are ratios to the slice's reference group with their intervals; the "
               f"parity rule holds between the dashed lines (tau = {tau:g}, 1/tau = "
               f"{1 / tau:.3g}). Red crosses mark the batches that opened an alert.")


render()
