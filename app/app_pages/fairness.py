"""Fairness audit: per-group metrics with intervals, disparities and verdicts of a stored run.

Findings first: the verdicts and the disparities, most severe first
(:func:`audits.fairness.findings.ranked_disparities`), then per-group metrics, charts,
per-group calibration (where the decisions carry a score;
:func:`audits.fairness.calibration.run_reliability`), thresholds and provenance; the form
to run an audit comes last. Data scientists and admins choose the decisions, the
sensitive features, the reference group and the rule, and run an audit with
:func:`audits.fairness.stored.run_fairness_audit`, which returns the stored run when the
same inputs were audited before. Panel leads and compliance officers read the stored
fairness runs. Every number shown is read from the run's stored ``results`` (the
calibration table from its rebuilt decisions); :mod:`app.charts` and
:mod:`app.fairness_figures` only reshape them into tables and figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app import (
    auth,
    charts,
    fairness_figures,
    fairness_tables,
    findings,
    loaders,
    run_picker,
    state,
)
from app.formatting import metric_label, plain, plain_table, short_hash, when
from app.run_picker import Pair
from app.state import SignedInUser
from audits.fairness.estimates import MAX_N_BOOT
from audits.fairness.stored import AUDIT_KIND, decisions_for, run_fairness_audit
from audits.fairness.thresholds import DEFAULT_OFFSETS, group_threshold_curves, rule_sentence
from audits.roles import PERMISSIONS, PermissionDenied
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store

PAGE = "app_pages/fairness.py"
#: Session key (and widget key) of the stored run on display.
KEY_RUN = "fairness.run_id"
LARGEST = "(largest group)"
REFERENCE_MODES = {"largest": "Largest group", "best": "Best-off group (per metric)",
                   "specific": "A specific group per feature"}
MSG_READ_ONLY = (
    "Read-only: only data scientists (and admins) can run fairness audits. "
    "Below are the audits already stored."
)
MSG_NO_CALIBRATION = "No reliability plot for this run: {error}"
MSG_NO_RUNS = "No fairness audit has been stored yet; a data scientist runs one on this page."
MSG_NO_DATA = (
    "Nothing to audit yet: register a dataset and a model first (or run `fairpanel demo`)."
)
MSG_NO_SCORES = ("No decision-threshold what-if or group thresholds for this run: they need "
                 "a score (or a model), and these logged decisions have none.")
MSG_NO_FEATURES = "Choose at least one sensitive feature."
MSG_FAILED = "The audit could not run: {error}"
MSG_REUSED = "These inputs were audited before: showing the stored run #{id} (nothing recomputed)."
MSG_STORED = "Audit stored as run #{id}."



def render() -> None:
    """Draw the page: the findings of a stored run first, the form to run one below."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Fairness audit")
    st.caption("Per-group metrics with bootstrap intervals, disparities to a reference group "
               "and verdicts judged with the intervals. Audits are computed once per data, "
               "model and settings, and stored.")
    runs = store.list_audit_runs()
    notice, results, form = st.container(), st.container(), st.container()
    if user.role in PERMISSIONS["run an audit"]:
        # The form runs first (a new run is then the one shown) but is drawn below the
        # findings: what the stored audits found is what a reader comes for.
        with form:
            if _run_section(store, user, runs, notice):
                runs = store.list_audit_runs()
    else:
        notice.info(MSG_READ_ONLY, icon=":material/visibility:")
    with results:
        st.header("Results", divider="gray")
        run = run_picker.choose_run(store, runs, kind=AUDIT_KIND, key=KEY_RUN,
                                    label="Stored fairness run", run_label=_run_label)
        if run is None:
            st.info(MSG_NO_RUNS)
            return
        _results(store, user, run)


# -- running an audit -------------------------------------------------------------------


def _run_section(store: Store, user: SignedInUser, runs: list[AuditRunRecord],
                 notice: Any) -> bool:
    """Draw the data choice and the settings form; return True when an audit ran.

    What became of the run is said in ``notice`` (a container above the results)."""
    st.header("Run an audit", divider="gray")
    pairs = run_picker.data_pairs(store, logged=True)
    if not pairs:
        st.info(MSG_NO_DATA)
        return False
    keys = [(d.id, m.id if m else None) for d, m in pairs]
    by_key = dict(zip(keys, pairs, strict=True))
    default = keys.index(run_picker.default_pair(keys, runs))
    chosen = st.selectbox("Decisions to audit", keys, index=default,
                          key="fairness.data", format_func=lambda k: _pair_label(by_key[k]))
    dataset, model = by_key[chosen]
    options = _form(dataset)
    if options is None:
        return False
    if not options["sensitive_features"]:
        st.error(MSG_NO_FEATURES)
        return False
    known = {r.id for r in runs}
    bar = st.progress(0.0, text="Starting the audit")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    try:
        run = run_fairness_audit(store, user.actor, dataset, model, progress=progress,
                                 **options)
    except (PermissionDenied, ValueError) as error:
        bar.empty()
        notice.error(MSG_FAILED.format(error=plain(error)))
        return True  # a failed run may have been stored
    bar.empty()
    reused = run.id in known
    (notice.info if reused else notice.success)(
        (MSG_REUSED if reused else MSG_STORED).format(id=run.id))
    state.preselect(KEY_RUN, run.id)
    return True


def _form(dataset: DatasetRecord) -> dict[str, Any] | None:
    """Draw the audit settings; return run_fairness_audit's options once submitted."""
    features = list(dataset.roles.get("sensitive_features") or [])
    values = loaders.sensitive_values(dataset)
    # Keys carry the dataset id: another dataset has other features and values.
    with st.form("fairness.form"):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        chosen = left.multiselect("Sensitive features", features, default=features,
                                  key=f"fairness.form.features.{dataset.id}")
        intersections = right.checkbox(
            "Include intersections", value=True, key="fairness.form.intersections",
            help="Also audit every combination of the chosen features (e.g. sex & age).")
        mode = st.radio("Reference group", list(REFERENCE_MODES), horizontal=True,
                        format_func=REFERENCE_MODES.__getitem__, key="fairness.form.reference",
                        help="Each group is compared with the reference group of its slice.")
        specific = {}
        for column, feature in zip(st.columns(max(len(features), 1)), features, strict=False):
            specific[feature] = column.selectbox(
                f"Reference {plain(feature)}", [LARGEST, *values.get(feature, [])],
                key=f"fairness.form.reference.{dataset.id}.{feature}",
                help="Used with 'A specific group per feature'.")
        a, b, c, d = st.columns(4)
        tau = a.number_input("Rule tau", min_value=0.05, max_value=1.0, value=0.8, step=0.05,
                             key="fairness.form.tau",
                             help="Pass when the whole interval of the ratio to the reference "
                                  "lies within [tau, 1/tau]; fail when wholly outside.")
        n_boot = b.number_input("Bootstrap replicates", min_value=0, max_value=MAX_N_BOOT,
                                value=1000, step=100, key="fairness.form.n_boot",
                                help="0 computes no intervals: every verdict is then "
                                     "insufficient evidence.")
        min_n = c.number_input("Minimum group size", min_value=0, value=30, step=5,
                               key="fairness.form.min_n",
                               help="Smaller groups never get pass or fail.")
        seed = d.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1,
                              key="fairness.form.seed", help="Seed of the bootstrap.")
        submitted = st.form_submit_button("Run audit", type="primary",
                                          icon=":material/play_arrow:",
                                          key="fairness.form.run")
    if not submitted:
        return None
    return {"sensitive_features": chosen, "intersections": bool(intersections),
            "reference": _reference(mode, chosen, specific), "tau": round(float(tau), 4),
            "n_boot": int(n_boot), "min_n": int(min_n), "random_state": int(seed)}


def _pair_label(pair: Pair) -> str:
    dataset, model = pair
    decisions = (f"held-out decisions of model #{model.id} {model.kind.replace('_', ' ')} "
                 f"({short_hash(model.sha256)})" if model else "logged decisions")
    return (f"{run_picker.version_label(dataset)} (#{dataset.id}, data "
            f"{short_hash(dataset.sha256)}) · {decisions}")


def _reference(mode: str, chosen: Sequence[str],
               specific: dict[str, str]) -> str | dict[str, str] | None:
    if mode == "best":
        return "best"
    if mode == "specific":
        mapping = {f: v for f, v in specific.items() if f in chosen and v != LARGEST}
        return mapping or None
    return None


# -- showing a stored run ---------------------------------------------------------------


def _run_label(run: AuditRunRecord, datasets: dict[int, str]) -> str:
    config = run.config
    model = f"model #{run.model_id}" if run.model_id is not None else "logged decisions"
    return (f"#{run.id} · {datasets.get(run.dataset_id, run.dataset_id)} · {model} · "
            f"{', '.join(config.get('sensitive_features') or [])} · tau {config.get('tau')} · "
            f"{config.get('n_boot')} replicates · {when(run.created_at)}")


def _results(store: Store, user: SignedInUser, run: AuditRunRecord) -> None:
    results = run.results or {}
    _headline(run, results)
    metrics, slices = _view_controls(run, results)
    _disparities(run, results, slices)
    st.subheader("Per-group metrics")
    st.caption(f"Value [{_level(results)} interval] per group; empty attribute cells mean "
               "the group is not split by that feature.")
    st.dataframe(fairness_tables.group_table(results, metrics, slices=slices), hide_index=True,
                 width="stretch", key="fairness.groups")
    _charts(run, results, metrics, slices)
    _calibration(user, run, results, slices)
    with st.expander("Summaries per slice (impact ratio, parity differences and ratios)",
                     icon=":material/functions:"):
        st.dataframe(fairness_tables.summary_table(results, slices=slices), hide_index=True,
                     width="stretch", key="fairness.summaries")
    model = store.get_model(run.model_id) if run.model_id is not None else None
    _thresholds(run, results, slices, model)
    _provenance(store, run, results, model)


def _headline(run: AuditRunRecord, results: dict[str, Any]) -> None:
    verdicts = fairness_tables.verdict_counts(results)
    tiles = fairness_tables.headline_tiles(results, verdicts)
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    st.markdown(f"**Verdicts** (rule: {plain(run.config.get('rule', '-'))}) "
                + fairness_tables.verdict_badges(verdicts))
    st.caption(f"Run #{run.id} by {plain(run.created_by)}, {when(run.created_at)} · "
               f"{plain(run.config.get('decisions', '-'))} · config sha256 "
               f"`{short_hash(run.config.get('config_sha256'))}`. Pass when the whole "
               "simultaneous interval of a disparity to the slice's reference group lies "
               "within the rule, fail when it lies wholly outside (a fair system fails "
               "anywhere at most 5% of the time), else insufficient evidence.")
    small = fairness_tables.small_groups(results)
    if small:
        listed = ", ".join(f"{plain(name)} (n={n})" for name, n in small)
        st.warning(f"**{len(small)} groups have fewer than {results['config'].get('min_n')} "
                   f"decisions** and never get pass or fail: {listed}.",
                   icon=":material/group_off:")


def _view_controls(run: AuditRunRecord, results: dict[str, Any]) -> tuple[list[str], list[str]]:
    available = list(results["config"]["metrics"])
    slices = fairness_tables.fairness_slices(results)
    left, right = st.columns([3, 2])
    # Keyed by run: another run may have other metrics and slices.
    metrics = left.multiselect(
        "Metrics shown", available, key=f"fairness.view.metrics.{run.id}",
        default=[m for m in fairness_tables.FAIRNESS_METRICS if m in available] or available[:1],
        format_func=metric_label)
    shown = right.multiselect(
        "Slices shown", slices, key=f"fairness.view.slices.{run.id}",
        default=[s for s in slices if " & " not in s],
        help="A slice is a sensitive feature, or an intersection of several.")
    return metrics, shown


def _charts(run: AuditRunRecord, results: dict[str, Any], metrics: list[str],
            slices: list[str]) -> None:
    if not metrics or not slices:
        return
    st.subheader("Metrics by group")
    st.caption("Dots are point estimates with their intervals, coloured by verdict; the blue "
               "diamond and dotted line mark the reference group.")
    run_key = (loaders.database_url(), run.id, str(run.config.get("config_sha256", "")),
               run.created_at.isoformat())
    columns = st.columns(2, gap="large")
    for i, metric in enumerate(metrics):
        with columns[i % 2]:
            counts = fairness_tables.verdict_counts(results, metrics=[metric], slices=slices)
            st.markdown(f"**{metric_label(metric)}** " + fairness_tables.verdict_badges(counts))
            figure = (fairness_figures.metric_figure(run_key, metric, tuple(slices),
                                                     _results=results)
                      if run.status == "completed" else
                      charts.fairness_metric_figure(results, metric, slices=slices,
                                                    title=False))
            st.plotly_chart(figure, key=f"fairness.chart.{metric}")


def _disparities(run: AuditRunRecord, results: dict[str, Any], slices: list[str]) -> None:
    st.subheader("Disparities, most severe first")
    left, right = st.columns(2)
    verdicts = left.pills("Verdict", list(fairness_tables.VERDICT_LABELS), selection_mode="multi",
                          format_func=fairness_tables.VERDICT_LABELS.__getitem__,
                          key="fairness.disparities.verdicts",
                          help="None selected: every verdict.")
    metrics = right.multiselect("Metric", list(results["config"]["metrics"]),
                                format_func=metric_label, placeholder="All metrics",
                                key=f"fairness.disparities.metrics.{run.id}")
    table = fairness_tables.disparity_table(results, verdicts=verdicts, metrics=metrics,
                                            slices=slices)
    findings.show_disparities(table, key="fairness.disparities",
                              interval=f"{_level(results)} interval per comparison")
    total = len(results.get("disparities") or [])
    st.caption(f"{len(table)} of {total} disparities (slices shown, filters above): fails "
               "first, then by how far from parity the interval assures the ratio is, then "
               "by the estimate; disparities no rule judges (e.g. prevalence) last. Ratio: "
               f"group over reference with its {_level(results)} interval per comparison (the "
               "verdict reads the wider simultaneous one, in the JSON as ratio_adjusted_ci_*); "
               "difference: group minus reference (intervals in the JSON); adjusted p: "
               "Benjamini-Hochberg over the audit; MDD: minimum detectable difference at 80% "
               "power.")


@st.fragment
def _calibration(user: SignedInUser, run: AuditRunRecord, results: dict[str, Any],
                 slices: list[str]) -> None:
    """Per-group reliability with intervals; only for decisions with a score (a fragment:
    choosing another slice redraws this section only)."""
    if not results.get("threshold_curves") or not slices:
        return  # no score: nothing to calibrate (the threshold section says why)
    st.subheader("Calibration by group")
    try:
        table = findings.reliability(user.actor, run)
    except (PermissionDenied, ValueError) as error:
        st.info(MSG_NO_CALIBRATION.format(error=plain(error)), icon=":material/info:")
        return
    left, right = st.columns([1, 3], gap="large")
    chosen = left.selectbox("Slice", slices, key=f"fairness.calibration.slice.{run.id}")
    left.caption(f"Scores in 10 equal-width bins: each point is a bin's mean score against "
                 f"the share of its decisions whose outcome was positive, with a "
                 f"{_level(results)} Wilson interval; larger points hold more decisions "
                 "(counts in the hover text and the table below). On the dotted diagonal "
                 "a score means what it says for that group.")
    right.plotly_chart(fairness_figures.reliability_figure(table, chosen),
                       key="fairness.calibration.chart")
    with st.expander("Counts per bin", icon=":material/table:"):
        shown = table[table["slice"] == chosen].drop(columns=["slice"])
        st.dataframe(shown, hide_index=True, width="stretch", key="fairness.calibration.table",
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("bin_low", "bin_high", "mean_score",
                                              "observed_rate", "ci_low", "ci_high")})


@st.fragment
def _thresholds(run: AuditRunRecord, results: dict[str, Any], slices: list[str],
                model: ModelRecord | None) -> None:
    curves = fairness_tables.threshold_records(results)
    if curves.empty:
        if model is None:
            st.info(MSG_NO_SCORES, icon=":material/info:")
        return
    st.header("Decision threshold", divider="gray")
    if model is not None and model.params.get("thresholds"):
        _group_rules(run, results, slices, model)
        st.subheader("A single global threshold instead (not how this model decides)")
        st.caption("This model decides each group by its own rule (above). Below, every "
                   "group is instead decided by one threshold on the score, as the model "
                   "before its fairness constraint would: what-if only, and its numbers "
                   "differ from the audit's.")
    low, high, step = fairness_tables.threshold_range(curves)
    start = float(model.params.get("threshold", 0.5)) if model else (low + high) / 2
    digits = max(0, len(f"{step:g}".partition(".")[2]))
    chosen = st.slider("Threshold on the score", low, high, step=step,
                       value=round(min(max(start, low), high), digits),
                       format=f"%.{digits}f", key=f"fairness.threshold.{run.id}")
    used = fairness_tables.nearest_threshold(curves, chosen)
    note = (" The best-off reference is per metric; here every group is compared with its "
            "slice's largest group." if results["config"].get("reference") == "best" else "")
    st.caption(f"What deciding `score >= {used:.4f}` (the nearest tabulated threshold) does "
               "to every group; Δ is the difference to the slice's reference group at the "
               f"same threshold. Point estimates, no intervals.{note}")
    table = fairness_tables.threshold_table(curves, chosen, slices=slices)
    st.dataframe(table, hide_index=True, width="stretch", key="fairness.threshold_table",
                 column_config={"slice": None,
                                **{c: st.column_config.NumberColumn(format="%.3f")
                                   for c in table.columns[2:]}})
    names = list(dict.fromkeys(curves["metric"]))
    left, right = st.columns([1, 3], gap="large")
    metric = left.selectbox("Metric against the threshold", names, format_func=metric_label,
                            key="fairness.threshold.metric")
    left.caption("One line per group of the slices shown; the dashed line is the chosen "
                 "threshold.")
    right.plotly_chart(fairness_figures.threshold_figure(curves, metric, tuple(slices),
                                                         chosen),
                       key="fairness.threshold.chart")


def _group_rules(run: AuditRunRecord, results: dict[str, Any], slices: list[str],
                 model: ModelRecord) -> None:
    """The model's per-group rules, and every group's metrics as the rules move together."""
    rules = model.params["thresholds"]
    feature = str(model.params["sensitive_feature"])
    st.subheader("The model's per-group thresholds")
    st.caption(f"Retrained under a fairness constraint, this model decides each {feature} "
               "group by its own randomised rule (fairlearn's ThresholdOptimizer): with "
               "probability p0 by the first comparison, else by the second.")
    st.dataframe(pd.DataFrame({"group": [f"{feature}={g}" for g in rules],
                               "rule": [rule_sentence(r) for r in rules.values()]}),
                 hide_index=True, width="stretch", key="fairness.group_rules")
    offset = st.slider("Offset added to every group's thresholds", min(DEFAULT_OFFSETS),
                       max(DEFAULT_OFFSETS), value=0.0, step=0.01, format="%+.2f",
                       key=f"fairness.offset.{run.id}",
                       help="0 is the deployed setting: the numbers are then the audit's.")
    try:
        curves = _offset_curves(loaders.database_url(), run.id, model.id, model.sha256)
    except (LookupError, ValueError) as error:
        st.warning(f"The per-group rules cannot be explored: {plain(error)}")
        return
    table = fairness_tables.threshold_table(curves, offset, slices=slices)
    st.dataframe(table, hide_index=True, width="stretch", key="fairness.offset_table",
                 column_config={"slice": None,
                                **{c: st.column_config.NumberColumn(format="%.3f")
                                   for c in table.columns[2:]}})
    st.caption("Every group's metrics when each threshold of every group's rule moves by the "
               "offset, with the model's own random draws; at offset 0 these are the "
               "deployed decisions and equal the audit above. Point estimates, no intervals.")


@st.cache_data(show_spinner="Deciding the held-out rows by the shifted rules", max_entries=8)
def _offset_curves(url: str, run_id: int, model_id: int, model_sha256: str) -> pd.DataFrame:
    """The rule-offset curves of a stored run, named as its groups (cached per run and model
    file; nothing private to a user)."""
    store = loaders.get_store(url)
    run, model = store.get_audit_run(run_id), store.get_model(model_id)
    dataset = store.get_dataset(run.dataset_id) if run is not None else None
    if run is None or model is None or dataset is None or model.sha256 != model_sha256:
        raise LookupError(f"run {run_id} or its model or dataset is no longer stored")
    results = run.results or {}
    config = results["config"]
    actor = state.current_actor()
    if actor is None:
        raise LookupError("nobody is signed in")
    decisions = decisions_for(store, actor, dataset, model,
                              exclude_rows=run.config.get("exclude_rows", ()))
    curves = group_threshold_curves(
        decisions.frame, y_true=decisions.y_true, y_score=str(decisions.y_score),
        sensitive_features=list(config["sensitive_features"]),
        rules=model.params["thresholds"], rule_feature=str(model.params["sensitive_feature"]),
        random_state=int(model.params.get("random_state", 0)),
        intersections=bool(config.get("intersections", True)),
        reference=config.get("reference") if config.get("reference") != "best" else None)
    return fairness_tables.threshold_records(
        {**results, "threshold_curves": curves.drop(columns="offset").to_dict("list")})


def _provenance(store: Store, run: AuditRunRecord, results: dict[str, Any],
                model: ModelRecord | None) -> None:
    st.header("Provenance", divider="gray")
    config = run.config
    dataset = store.get_dataset(run.dataset_id)
    reference = config.get("reference")
    rows = [
        ("Run", f"#{run.id} ({run.status})"),
        ("Created", f"{when(run.created_at)} by {run.created_by}"),
        ("Dataset", f"#{run.dataset_id} {dataset.name if dataset else ''}"),
        ("Decisions", str(config.get("decisions", "-"))),
        ("Sensitive features", ", ".join(config.get("sensitive_features") or [])),
        ("Intersections", "yes" if config.get("intersections") else "no"),
        ("Reference group", _reference_label(reference)),
        ("Rule", str(config.get("rule", "-"))),
        ("Positive decision", _favourable(config.get("favourable"))),
        ("Bootstrap replicates", str(config.get("n_boot", "-"))),
        ("Seed", str(config.get("random_state", "-"))),
        ("Minimum group size", str(config.get("min_n", "-"))),
        ("Confidence level", _level(results)),
    ]
    left, right = st.columns(2, gap="large")
    left.table(plain_table(pd.DataFrame(rows, columns=["setting", "value"])), hide_index=True)
    with right:
        for label, value in (("Configuration sha256", config.get("config_sha256")),
                             ("Data sha256", config.get("dataset_sha256")),
                             ("Model sha256", config.get("model_sha256")
                              or "none: logged decisions")):
            st.markdown(f"**{label}**")
            st.code(str(value), language=None, wrap_lines=True)
        with st.expander("Library versions and methods", icon=":material/science:"):
            methods = {k: results["config"].get(k) for k in ("interval", "test", "verdict")}
            st.json({"library_versions": config.get("library_versions"), **methods},
                    expanded=1)


def _favourable(value: Any) -> str:
    if value is None:
        return "-"
    return "favourable to the person" if value else "adverse to the person (e.g. high risk)"


def _reference_label(reference: Any) -> str:
    if isinstance(reference, dict):
        return ", ".join(f"{k}={v}" for k, v in reference.items())
    return {None: "largest group", "largest": "largest group",
            "best": "best-off group (per metric)"}.get(reference, str(reference))


def _level(results: dict[str, Any]) -> str:
    level = results.get("config", {}).get("level")
    return f"{level:.0%}" if isinstance(level, float) else "-"


render()
