"""Drawing a case snapshot: the model's decision and score, features, explanation, reasons.

Shared by the rating and adjudication pages (pages never import each other). Whatever
snapshot is passed goes through :func:`app.queue_tables.reviewer_snapshot` first, so a
gold case's known answer is never drawn; a reviewer's snapshot is already blinded by the
engine, so what it lacks (the model's decision, a sensitive attribute) is not drawn.
The reasons a case was queued are drawn outcome-free unless the reader's role may read
them in full (:func:`audits.flagging.reasons.reasons_for`): the stored sentences name the
decision, the confusion cell and a gold case's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from app import charts, explain_tables, queue_tables
from app.formatting import plain
from audits.flagging.reasons import reasons_for
from audits.roles import Role

__all__ = ["reason_lines", "show_decision", "show_explanation", "show_features",
           "show_reasons"]


def show_decision(snapshot: Mapping[str, Any]) -> None:
    """The model's decision and its score against the threshold (nothing if not shown)."""
    seen = queue_tables.reviewer_snapshot(snapshot)
    decision = seen.get("decision")
    if not decision:
        return
    score, threshold = seen.get("score"), seen.get("threshold")
    versus = "" if score is None or threshold is None else (
        f" ({float(score) - float(threshold):+.3f} from the threshold {float(threshold):g})")
    with st.container(border=True):
        a, b = st.columns([2, 3])
        a.markdown("**The model's decision**  \n"
                   + plain(decision.get("label", decision.get("value", "-"))))
        b.markdown("**Score**  \n" + ("-" if score is None else f"{float(score):.3f}")
                   + versus)


def show_features(snapshot: Mapping[str, Any], *, key: str) -> None:
    """The case's features (and sensitive attributes when present) as a table."""
    features = queue_tables.feature_table(snapshot)
    st.dataframe(features, hide_index=True, width="stretch",
                 height=min(38 + 35 * len(features), 720), key=key,
                 column_config={"value": st.column_config.TextColumn(width="medium"),
                                "kind": st.column_config.TextColumn(width="small")})


def show_explanation(snapshot: Mapping[str, Any], *, key: str,
                     labels: Mapping[str, str] | None = None) -> None:
    """The explanation sentence and waterfall chart, when the snapshot carries them.

    ``labels`` (column -> readable label) renames the chart's features.
    """
    explanation = queue_tables.reviewer_snapshot(snapshot).get("explanation") or {}
    if not explanation.get("available"):
        st.info(plain(explanation.get("note") or "No explanation stored for this case."))
        return
    if explanation.get("reason"):
        st.info(plain(explanation["reason"]), icon=":material/chat:")
    scale = explain_tables.SCALE_LABELS.get(str(explanation.get("output_scale")), "log-odds")
    waterfall = explain_tables.case_waterfall(explanation)
    if labels and "feature" in waterfall.columns:
        waterfall["feature"] = waterfall["feature"].map(lambda f: labels.get(f, f))
    st.plotly_chart(charts.case_waterfall_figure(
        waterfall, float(explanation["base_value"]),
        float(explanation["output"]), scale=scale), key=key)
    st.caption(f"How each feature pushed the model's output ({scale}) from the base value "
               "(an average case) to this case's output; bars to the right push towards the "
               "positive decision.")


def reason_lines(reasons: Sequence[Mapping[str, Any]], role: Role | str) -> list[str]:
    """Why the case was queued, one line per reason, as ``role`` may read it.

    Outcome-free (the kind of case, never its decision, outcome or known answer) for
    reviewers, panel leads and admins, who rate or adjudicate; full for data scientists
    and compliance officers.
    """
    return [f"{queue_tables.reason_label(str(r['reason']))}: {r.get('explanation', '')}"
            for r in reasons_for(role, reasons)]


def show_reasons(reasons: Sequence[Mapping[str, Any]], role: Role | str) -> None:
    """Why the case was queued, one bullet per reason (see :func:`reason_lines`)."""
    for line in reason_lines(reasons, role):
        st.text(f"• {line}")
