"""Deferral: what sending the least-confident decisions to people would do.

The curve is :func:`audits.monitoring.stored.deferral_view` of a stored audit (cached by
:func:`app.loaders.deferral_curve`); the page only draws it. Human accuracy is
estimated from reviewed cases once there are enough, and assumed before: the curve's
own statement of which, and with what range, is part of every chart.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, queue_charts, run_picker, state
from app.formatting import metric_label
from audits.fairness.stored import AUDIT_KIND
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/deferral.py"
KEY_RUN = "deferral.run_id"
MSG_NO_RUNS = "No completed fairness audit is stored yet."
DEFAULT_TAU = 0.8
EXPLANATION = (
    "Reading the curves: at x% deferred, the x% of decisions whose score lies closest to "
    "the threshold (the least confident) go to a person, who decides them right with the "
    "human accuracy; the model keeps the rest. Each point is the expected value of the "
    "metric over all decisions. Shaded bands show the same curve with human accuracy at "
    "both ends of its range: a sensitivity band, not a sampling interval."
)


def render() -> None:
    """Draw the page."""
    auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Deferral")
    st.caption("How accuracy and each group's disparity would change if the least-confident "
               "decisions were deferred to human reviewers.")
    run = _choose_run(store)
    if run is None:
        st.info(MSG_NO_RUNS)
        return
    assumed = st.slider("Assumed human accuracy", min_value=0.5, max_value=1.0, value=0.9,
                        step=0.01, key="deferral.assumed",
                        help="Used only while fewer reviewed cases exist than are needed "
                             "to estimate it.")
    try:
        curve = loaders.deferral_curve(loaders.database_url(), run.id, assumed)
    except ValueError as error:
        st.info(str(error).capitalize() + ".")
        return
    human = curve.human
    (st.info if human.source == "assumed" else st.success)(human.statement,
                                                          icon=":material/person:")
    st.caption(EXPLANATION + f" Decision threshold {curve.threshold:g}.")
    st.plotly_chart(queue_charts.deferral_accuracy_figure(
        curve.table, human_value=human.value, human_low=human.ci_low,
        human_high=human.ci_high, statement=human.statement), key="deferral.accuracy")
    metrics = [q for q in dict.fromkeys(curve.table["quantity"]) if q != "accuracy"]
    if not metrics:
        return
    tau = float(run.config.get("tau") or DEFAULT_TAU)
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    metric = left.selectbox("Disparity", metrics, format_func=metric_label,
                            index=metrics.index("selection_rate")
                            if "selection_rate" in metrics else 0, key="deferral.metric")
    right.caption(f"Ratio of each group's {metric_label(metric).lower()} to its reference "
                  f"group; the parity rule holds between the dashed lines tau = {tau:g} and "
                  f"1/tau = {1 / tau:.3g}.")
    st.plotly_chart(queue_charts.deferral_ratio_figure(
        curve.table, metric, tau=tau, statement=human.statement), key="deferral.ratio")


def _choose_run(store: Store) -> AuditRunRecord | None:
    queued = set(store.queued_audit_runs())
    runs = [r for r in reversed(store.list_audit_runs())
            if r.status == "completed" and r.config.get("kind") == AUDIT_KIND]
    if not runs:
        return None
    # Audits with a review queue first (newest first), then other fairness audits.
    runs = [r for r in runs if r.id in queued] + [r for r in runs if r.id not in queued]
    by_id = {r.id: r for r in runs}
    names = run_picker.dataset_labels(store)
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox(
        "Audit", list(by_id), key=KEY_RUN,
        format_func=lambda i: f"#{i} · {names.get(by_id[i].dataset_id, '?')} · "
        f"{'model #' + str(by_id[i].model_id) if by_id[i].model_id else 'logged decisions'}"
        f"{' · review queue' if i in queued else ''}")
    return by_id[chosen]


render()
