"""Explanations: what the model relies on per group, what drives a gap, proxies, cases.

Data scientists and admins compute the explanations of a model's held-out decisions with
:func:`audits.explain.stored.run_explanations`, which returns the stored run when the same
inputs were explained before. Panel leads and compliance officers read stored runs.
Every number shown is read from the run's stored ``results``; :mod:`app.explain_tables`
and :mod:`app.charts` only reshape it into tables and figures.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import auth, charts, explain_tables, loaders, run_picker, state
from app.formatting import count, plain, plain_table, short_hash, when
from app.state import SignedInUser
from audits.explain.stored import EXPLAIN_KIND, run_explanations
from audits.roles import PERMISSIONS, PermissionDenied
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store

PAGE = "app_pages/explanations.py"
#: Session key (and widget key) of the stored run on display.
KEY_RUN = "explanations.run_id"
#: Features drawn per importance chart.
TOP_N = 10
MSG_READ_ONLY = (
    "Read-only: only data scientists (and admins) can compute explanations. "
    "Below are the explanations already stored."
)
MSG_NO_RUNS = ("No explanations have been stored yet; a data scientist computes them on "
               "this page.")
MSG_NO_MODEL = ("Nothing to explain yet: explanations need a registered model (datasets "
                "with only logged decisions cannot be explained).")
MSG_NO_FEATURES = "Choose at least one sensitive feature."
MSG_FAILED = "The explanations could not be computed: {error}"
MSG_REUSED = ("These inputs were explained before: showing the stored run #{id} "
              "(nothing recomputed).")
MSG_STORED = "Explanations stored as run #{id}."
MSG_ONE_GROUP = "{feature} has fewer than two groups: there is no gap to decompose."

Pair = tuple[DatasetRecord, ModelRecord]


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Explanations")
    st.caption("SHAP per group with bootstrap intervals, what drives the gap between two "
               "groups, likely proxies of the sensitive features, and a reason for single "
               "decisions. Computed once per data, model and settings, and stored.")
    runs = store.list_audit_runs()
    if user.role in PERMISSIONS["run an audit"]:
        if _compute_section(store, user, runs):
            runs = store.list_audit_runs()
    else:
        st.info(MSG_READ_ONLY, icon=":material/visibility:")
    st.header("Results", divider="gray")
    run = run_picker.choose_run(store, runs, kind=EXPLAIN_KIND, key=KEY_RUN,
                                label="Stored explanation run", run_label=_run_label)
    if run is None:
        st.info(MSG_NO_RUNS)
        return
    results = run.results or {}
    _headline(run, results)
    _importances(results)
    _gap(results)
    _proxies(results)
    _cases(results)
    _provenance(run)


# -- computing ----------------------------------------------------------------------------


def _compute_section(store: Store, user: SignedInUser, runs: list[AuditRunRecord]) -> bool:
    """Draw the data choice and the compute button; return True when a run was made."""
    st.header("Compute explanations", divider="gray")
    run_picker.needs_model_note(store, "Explanations", "explain")
    pairs = run_picker.data_pairs(store, logged=False)
    if not pairs:
        st.info(MSG_NO_MODEL)
        return False
    keys = [(d.id, m.id) for d, m in pairs]
    by_key = dict(zip(keys, pairs, strict=True))
    default = keys.index(run_picker.default_pair(keys, runs))
    chosen = st.selectbox("Model to explain", keys, index=default,
                          key="explanations.data", format_func=lambda k: _pair_label(by_key[k]))
    dataset, model = by_key[chosen]
    features = list(dataset.roles.get("sensitive_features") or [])
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    selected = left.multiselect("Sensitive features", features, default=features,
                                key=f"explanations.features.{dataset.id}")
    n_cases = right.number_input("Cases to explain", min_value=0, max_value=200, value=20,
                                 step=5, key="explanations.n_cases",
                                 help="The held-out decisions whose score lies nearest "
                                      "the threshold.")
    if not st.button("Compute explanations", type="primary", icon=":material/play_arrow:",
                     key="explanations.compute"):
        return False
    if not selected:
        st.error(MSG_NO_FEATURES)
        return False
    known = {r.id for r in runs}
    bar = st.progress(0.0, text="Starting")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    try:
        run = run_explanations(store, user.actor, dataset, model, sensitive_features=selected,
                               n_cases=int(n_cases), progress=progress)
    except (PermissionDenied, ValueError) as error:
        bar.empty()
        st.error(MSG_FAILED.format(error=plain(error)))
        return True
    reused = run.id in known
    (st.info if reused else st.success)((MSG_REUSED if reused else MSG_STORED).format(id=run.id))
    state.preselect(KEY_RUN, run.id)
    return True


def _pair_label(pair: Pair) -> str:
    dataset, model = pair
    return (f"{run_picker.version_label(dataset)} (#{dataset.id}, data "
            f"{short_hash(dataset.sha256)}) · model "
            f"#{model.id} {model.kind.replace('_', ' ')} ({short_hash(model.sha256)})")


# -- showing a stored run -------------------------------------------------------------------


def _run_label(run: AuditRunRecord, datasets: dict[int, str]) -> str:
    config = run.config
    return (f"#{run.id} · {datasets.get(run.dataset_id, run.dataset_id)} · model "
            f"#{run.model_id} · {', '.join(config.get('sensitive_features') or [])} · "
            f"{config.get('n_cases')} cases · {when(run.created_at)}")


def _headline(run: AuditRunRecord, results: dict[str, Any]) -> None:
    explainer = results.get("explainer") or {}
    tiles = [("Explainer", str(explainer.get("explainer_kind", "-"))),
             ("Held-out decisions", count(results.get("rows"))),
             ("Cases explained", count(len(results.get("cases") or []))),
             ("shap", str(explainer.get("shap_version", "-")))]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    if explainer.get("fallback_reason"):
        st.warning(f"Fallback explainer: {plain(explainer['fallback_reason'])}",
                   icon=":material/warning:")
    background = explainer.get("background_sha256")
    st.caption(
        f"Run #{run.id} by {plain(run.created_by)}, {when(run.created_at)} · "
        f"{plain(run.config.get('decisions', '-'))} · contributions on the "
        f"{explain_tables.scale_label(results)} scale, additive to within "
        f"{float(explainer.get('max_additivity_gap') or 0.0):.1e} · background "
        + (f"sha256 `{short_hash(background)}`" if background else
           "none (tree path-dependent)"))


def _importances(results: dict[str, Any]) -> None:
    st.subheader("What the model relies on, per group")
    scale = explain_tables.scale_label(results)
    features = explain_tables.sensitive_features(results)
    st.caption(f"Mean |SHAP| of the top {TOP_N} features for each group of each sensitive "
               "feature, with bootstrap intervals, from a stratified sample of the held-out "
               "decisions.")
    columns = st.columns(min(len(features), 2) or 1, gap="large")
    for i, feature in enumerate(features):
        with columns[i % len(columns)]:
            table = explain_tables.importance_table(results, feature)
            top = explain_tables.top_features(table, TOP_N)
            st.markdown(f"**{plain(feature)}**")
            st.plotly_chart(charts.group_importance_figure(
                table, features=top, groups=explain_tables.groups(results, feature),
                scale=scale), key=f"explanations.importance.{feature}")
    with st.expander("Groups: sizes and interval widths", icon=":material/table:"):
        for feature in features:
            st.markdown(f"**{plain(feature)}**")
            st.dataframe(explain_tables.group_table(results, feature), hide_index=True,
                         width="stretch", key=f"explanations.groups.{feature}")


@st.fragment
def _gap(results: dict[str, Any]) -> None:
    """The gap between two groups; choosing the groups reruns only this part."""
    st.subheader("What drives the gap between two groups")
    features = explain_tables.sensitive_features(results)
    a, b, c = st.columns(3)
    feature = a.selectbox("Sensitive feature", features, key="explanations.gap.feature")
    names = explain_tables.groups(results, feature)
    if len(names) < 2:
        st.info(MSG_ONE_GROUP.format(feature=plain(feature)))
        return
    # Keyed by feature: another feature has other groups.
    group = b.selectbox("Group", names, index=1, key=f"explanations.gap.group.{feature}")
    reference = c.selectbox("Compared with", [n for n in names if n != group],
                            key=f"explanations.gap.reference.{feature}")
    table, gap = explain_tables.gap_table(results, feature, group, reference)
    if gap is None:
        return
    scale = explain_tables.scale_label(results)
    st.markdown(f"Mean model output of **{plain(group)}** minus **{plain(reference)}**: "
                f"**{gap:+.3f}** ({scale}). The bars split it into features; they sum to it.")
    st.plotly_chart(charts.gap_decomposition_figure(table, gap, group=group,
                                                    reference_group=reference, scale=scale),
                    key="explanations.gap.chart")
    with st.expander("Contributions of every feature", icon=":material/table:"):
        st.dataframe(table, hide_index=True, width="stretch", key="explanations.gap.table",
                     column_config={c: st.column_config.NumberColumn(format="%+.4f")
                                    for c in table.columns[1:]})


def _proxies(results: dict[str, Any]) -> None:
    st.subheader("Likely proxies")
    rule = (results.get("proxies") or {}).get("rule", "-")
    st.caption(f"Rule: {plain(rule)}.")
    likely = explain_tables.proxy_table(results)
    if likely.empty:
        st.info("No feature meets the rule.")
    else:
        st.dataframe(likely, hide_index=True, width="stretch", key="explanations.proxies",
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in
                                    ("association", "attribution gap",
                                     "share of largest gap")})
    with st.expander("Every feature's association and attribution gap",
                     icon=":material/table:"):
        st.dataframe(explain_tables.proxy_table(results, likely_only=False), hide_index=True,
                     width="stretch", key="explanations.associations")
    with st.expander("Counterfactual flips: changing only the group (and its proxies)",
                     icon=":material/swap_horiz:"):
        for feature in explain_tables.sensitive_features(results):
            block = results["per_feature"][feature]
            st.markdown(f"**{plain(feature)}**")
            for key in ("counterfactual", "counterfactual_proxies"):
                part = block.get(key)
                if not part:
                    continue
                if part.get("message"):
                    st.caption(plain(part["message"]))
                table = explain_tables.counterfactual_table(part)
                if not table.empty:
                    st.dataframe(table, hide_index=True, width="stretch",
                                 key=f"explanations.{key}.{feature}")


@st.fragment
def _cases(results: dict[str, Any]) -> None:
    """The case explorer; choosing a case reruns only this part."""
    cases = results.get("cases") or []
    st.subheader("Case explorer")
    if not cases:
        st.info("This run explains no single decisions.")
        return
    threshold = results.get("threshold")
    st.caption(f"The {len(cases)} held-out decisions whose score lies nearest the threshold "
               f"{threshold}; rows are positions in the held-out split.")
    by_row = {int(c["row"]): c for c in cases}
    row = st.selectbox("Decision", list(by_row), key="explanations.case",
                       format_func=lambda r: explain_tables.case_label(by_row[r]))
    case = by_row[row]
    st.info(plain(case["reason"]), icon=":material/chat:")
    waterfall = explain_tables.case_waterfall(case)
    left, right = st.columns([3, 2], gap="large")
    left.plotly_chart(charts.case_waterfall_figure(
        waterfall, float(case["base_value"]), float(case["output"]),
        scale=explain_tables.scale_label(results)), key="explanations.case.chart")
    right.dataframe(waterfall, hide_index=True, width="stretch", key="explanations.case.table",
                    column_config={"contribution": st.column_config.NumberColumn(
                        format="%+.3f"), "cumulative": st.column_config.NumberColumn(
                        format="%.3f")})
    score = case.get("y_score")
    right.caption(f"Score {'n/a' if score is None else f'{float(score):.4f}'} against the "
                  f"threshold {threshold}; true label {case.get('y_true')}. Contributions on "
                  f"the {explain_tables.scale_label(results)} scale.")


def _provenance(run: AuditRunRecord) -> None:
    st.header("Provenance", divider="gray")
    config = run.config
    settings = ["n_cases", "min_rows_per_group", "max_rows_per_group", "target_half_width",
                "confidence", "n_bootstrap", "n_background", "random_state"]
    rows = [("Run", f"#{run.id} ({run.status})"),
            ("Decisions", str(config.get("decisions", "-"))),
            ("Sensitive features", ", ".join(config.get("sensitive_features") or [])),
            *[(k.replace("_", " "), str(config.get(k, "-"))) for k in settings]]
    left, right = st.columns(2, gap="large")
    left.table(plain_table(pd.DataFrame(rows, columns=["setting", "value"])), hide_index=True)
    with right:
        for label, value in (("Configuration sha256", config.get("config_sha256")),
                             ("Data sha256", config.get("dataset_sha256")),
                             ("Model sha256", config.get("model_sha256"))):
            st.markdown(f"**{label}**")
            st.code(str(value), language=None, wrap_lines=True)


render()
