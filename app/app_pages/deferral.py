"""Deferral: what sending the least-confident decisions to people would do.

The curve is :func:`audits.monitoring.stored.deferral_view` of a stored audit (cached by
:func:`app.loaders.deferral_curve`); the page only draws it. Human accuracy is
estimated from reviewed cases once there are enough, and assumed before: the curve's
own statement of which, and with what range, is part of every chart. The assumption
slider is live only while it is used; once the panel's reviews measure the accuracy it
is shown disabled at the measured value, and says so.

The slider and both charts are one fragment, and the disparity choice with its chart a
fragment nested in it: a slider step reruns only the charts (the audit's rebuilt
decisions stay cached), a disparity choice only its chart.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, queue_charts, run_picker, state
from app.formatting import metric_label
from audits.fairness.stored import AUDIT_KIND
from audits.flagging.deferral import DeferralCurve, HumanAccuracy
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/deferral.py"
KEY_RUN = "deferral.run_id"
MSG_NO_RUNS = "No completed fairness audit is stored yet."
DEFAULT_TAU = 0.8
SLIDER_LABEL = "Assumed human accuracy"
ASSUMED_HELP = ("The accuracy of a person deciding a deferred case, assumed until the panel "
                "has reviewed enough cases with a known answer to measure it.")
MEASURED_HELP = ("Disabled: the panel's reviews of cases with a known answer measure human "
                 "accuracy, so no assumption is used.")
MSG_MEASURED = ("No assumption needed: the panel has reviewed {n} cases with a known answer, "
                "so the curves use the measured accuracy {value:.2f} and its 95% interval "
                "[{low:.2f}, {high:.2f}].")
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
    _curves(run)


@st.fragment
def _curves(run: AuditRunRecord) -> None:
    """The human accuracy, its slider and both charts (reruns alone on a widget change)."""
    url = loaders.database_url()
    human = _human_accuracy(url, run.id)
    try:
        curve = loaders.deferral_curve(url, run.id, human)
    except ValueError as error:
        st.info(str(error).capitalize() + ".")
        return
    (st.info if human.source == "assumed" else st.success)(human.statement,
                                                          icon=":material/person:")
    st.caption(EXPLANATION + f" Decision threshold {curve.threshold:g}.")
    st.plotly_chart(queue_charts.deferral_accuracy_figure(
        curve.table, human_value=human.value, human_low=human.ci_low,
        human_high=human.ci_high, statement=human.statement), key="deferral.accuracy")
    _ratio(run, curve, human)


@st.fragment
def _ratio(run: AuditRunRecord, curve: DeferralCurve, human: HumanAccuracy) -> None:
    """The disparity choice and its chart, nested: choosing a metric redraws only this."""
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


def _human_accuracy(url: str, audit_run_id: int) -> HumanAccuracy:
    """Draw the slider and return the human accuracy the curve uses.

    Measured from the panel's reviews: the slider is disabled at the measured value (it
    would change nothing). Otherwise the slider's value is the assumption.
    """
    measured = loaders.deferral_human_accuracy(url, audit_run_id)
    if measured.source == "estimated":
        st.slider(SLIDER_LABEL, min_value=0.5, max_value=1.0,
                  value=min(max(round(measured.value, 2), 0.5), 1.0), step=0.01,
                  disabled=True, key="deferral.measured", help=MEASURED_HELP)
        st.caption(MSG_MEASURED.format(n=measured.n_reviews, value=measured.value,
                                       low=measured.ci_low, high=measured.ci_high))
        return measured
    assumed = st.slider(SLIDER_LABEL, min_value=0.5, max_value=1.0, value=0.9, step=0.01,
                        key="deferral.assumed", help=ASSUMED_HELP)
    return loaders.deferral_human_accuracy(url, audit_run_id, assumed)


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
