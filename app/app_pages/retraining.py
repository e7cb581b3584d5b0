"""Retraining: the panel's labels retrain the model; old and new compared; a person approves.

Data scientists (and admins) retrain an audited model on the panel's consensus labels
with :func:`audits.retrain.stored.retrain_from_panel`, optionally under a fairness
constraint; the new version is stored as a candidate with its lineage and re-audited on
the same held-out decisions as the old one. Everyone who opens the page reads the
before/after comparison and the lineage; compliance officers (and admins) who did not
train the candidate approve or reject it (:meth:`audits.store.Store.approve_model`), and
only then does it replace the deployed version.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, retrain_tables, run_picker, state
from app.formatting import plain
from app.state import SignedInUser
from audits.reports.compare import what_changed
from audits.retrain.stored import DEFAULT_SOURCES, retrain_from_panel
from audits.roles import PERMISSIONS, PermissionDenied
from audits.store import AuditRunRecord, ModelRecord, Store

PAGE = "app_pages/retraining.py"
AREA = "retraining"
KEY_RUN = "retraining.run_id"
KEY_VERSION = "retraining.model_id"
CONSTRAINTS = {"none": None, "demographic parity": "demographic_parity",
               "equalized odds": "equalized_odds"}
MSG_NO_RUNS = ("No audit of a model has a reviewed queue yet: build a review queue on the "
               "Review queue page and let the panel rate it.")
MSG_NO_VERSIONS = "No retrained version of this model yet."
MSG_RETRAINED = "Candidate model #{id} stored. It is not used until a person approves it."
MSG_FAILED = "Not done: {error}"


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Retraining")
    st.caption("The panel's consensus labels correct the training data; the model is "
               "retrained and re-audited on the same held-out decisions, and the change "
               "is shown with its uncertainty. A retrained model replaces the deployed one "
               "only when a compliance officer approves it.")
    _flash()
    run_picker.needs_model_note(store, "Retraining", "retrain")
    run = _choose_run(store)
    if run is None:
        st.info(MSG_NO_RUNS)
        return
    assert run.model_id is not None  # _choose_run offers audits of models only
    if user.role in PERMISSIONS["register a model"]:
        _retrain_section(store, user, run)
    st.header("Model versions", divider="gray")
    versions = store.model_versions(run.model_id)
    st.dataframe(retrain_tables.versions_table(versions), hide_index=True, width="stretch",
                 key="retraining.versions")
    retrained = [m for m in reversed(versions) if m.parent_id is not None]
    if not retrained:
        st.info(MSG_NO_VERSIONS)
        return
    by_id = {m.id: m for m in retrained}
    state.keep_choice(KEY_VERSION, list(by_id), retrained[0].id)
    chosen = st.selectbox("Retrained version", list(by_id), key=KEY_VERSION,
                          format_func=lambda i: retrain_tables.version_label(by_id[i]))
    _comparison(user, by_id[chosen])
    _decision(store, user, by_id[chosen])


def _flash() -> None:
    kept = state.take_flash(AREA)
    if kept is not None:
        kind, message = kept
        (st.success if kind == "success" else st.error)(message)


def _choose_run(store: Store) -> AuditRunRecord | None:
    queued = set(store.queued_audit_runs())
    runs = [r for r in reversed(store.list_audit_runs())
            if r.id in queued and r.model_id is not None and r.status == "completed"]
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    names = run_picker.dataset_labels(store)
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox(
        "Reviewed audit", list(by_id), key=KEY_RUN,
        format_func=lambda i: f"#{i} · {names.get(by_id[i].dataset_id, '?')} · "
                              f"model #{by_id[i].model_id}")
    return by_id[chosen]


@st.fragment
def _retrain_section(store: Store, user: SignedInUser, run: AuditRunRecord) -> None:
    """The trust slider, the label count and the retrain form: moving the slider reruns
    only this part (the panel's labels are cached per review progress)."""
    st.header("Retrain on the panel's labels", divider="gray")
    left, right = st.columns(2)
    confidence = left.slider("Trust a Dawid-Skene label from posterior", 0.5, 0.99, 0.9, 0.01,
                             key="retraining.min_confidence",
                             help="Adjudicated labels are always used; other cases only "
                                  "when the Dawid-Skene posterior reaches this.")
    labels = loaders.panel_labels(loaders.database_url(), user.actor, run.id,
                                  min_confidence=confidence,
                                  version=tuple(store.panel_progress(user.actor,
                                                                     run.id).values()))
    right.metric("Cases with a trusted panel label", f"{len(labels.table):,}",
                 help=f"{labels.rated:,} rated cases; {labels.untrusted:,} without a trusted "
                      f"label; {labels.from_batches:,} from ingested batches (their rows are "
                      f"not in the dataset).")
    with st.form("retraining.form"):
        constraint = st.selectbox("Fairness constraint", list(CONSTRAINTS),
                                  key="retraining.constraint",
                                  help="Optionally post-process the retrained model with "
                                       "fairlearn's ThresholdOptimizer on the audit's first "
                                       "sensitive feature.")
        submitted = st.form_submit_button("Retrain and re-audit", type="primary",
                                          icon=":material/model_training:",
                                          key="retraining.submit",
                                          disabled=labels.table.empty)
    if not submitted:
        return
    bar = st.progress(0.0, text="Retraining")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    try:
        done = retrain_from_panel(store, user.actor, run.id,
                                  constraint=CONSTRAINTS[constraint], min_confidence=confidence,
                                  sources=DEFAULT_SOURCES, progress=progress)
    except (PermissionDenied, ValueError, LookupError) as error:
        bar.empty()
        st.error(MSG_FAILED.format(error=plain(error)))
        return
    state.preselect(KEY_VERSION, done.candidate.id)
    state.flash(AREA, "success", MSG_RETRAINED.format(id=done.candidate.id))
    st.rerun()


def _comparison(user: SignedInUser, model: ModelRecord) -> None:
    st.header("Before and after", divider="gray")
    comparison = loaders.retraining_comparison(model)
    for sentence in retrain_tables.headline(comparison):
        st.text(f"• {sentence}")  # names groups: data, so plain text
    n = model.metrics.get("n_evaluated")
    st.caption(f"Both models decide the same {n:,} held-out decisions (the rows the new "
               f"model trained on are left out of both); each interval is a paired "
               f"percentile bootstrap of the change.")
    st.plotly_chart(retrain_tables.comparison_figure(comparison), key="retraining.figure")
    st.dataframe(retrain_tables.comparison_table(comparison), hide_index=True,
                 width="stretch", key="retraining.table",
                 column_config={c: st.column_config.NumberColumn(format="%+.3f") for c in
                                ("Before", "After", "Change", "95% CI low", "95% CI high")})
    runs = loaders.retraining_runs(loaders.database_url(), user.actor, model.id)
    if runs is not None:
        before, after = runs
        table = loaders.run_comparison(loaders.database_url(), user.actor, before, after)
        with st.expander(f"The stored audits compared (run #{before} old model, "
                         f"run #{after} new model)"):
            for sentence in what_changed(table):
                st.text(f"• {sentence}")  # names groups: data, so plain text
    with st.expander(f"Lineage: {len(model.lineage):,} reviewed labels "
                     f"({sum(bool(e.get('changed')) for e in model.lineage):,} changed)"):
        st.dataframe(retrain_tables.lineage_table(model.lineage), hide_index=True,
                     width="stretch", key="retraining.lineage")
        st.caption(f"Model file sha256 `{model.sha256}`; trained by {plain(model.created_by)} "
                   f"from audit run #{model.source_audit_run_id}.")


def _decision(store: Store, user: SignedInUser, model: ModelRecord) -> None:
    st.header("Approval", divider="gray")
    if model.status != "candidate":
        who = f" by {plain(model.decided_by)}" if model.decided_by else ""
        note = f": {plain(model.decision_note)}" if model.decision_note else ""
        st.info(f"Model #{model.id} is {retrain_tables.STATUS_TEXT[model.status]}{who}{note}.")
        return
    if user.role not in PERMISSIONS["approve a model"]:
        st.info("Waiting for a compliance officer (or admin) who did not train it to approve "
                "or reject it. Until then the deployed model stays in use.",
                icon=":material/pending:")
        return
    with st.form("retraining.decide"):
        note = st.text_area("Note (required to reject)", key="retraining.note")
        left, right = st.columns(2)
        approve = left.form_submit_button("Approve and deploy", type="primary",
                                          icon=":material/verified:", key="retraining.approve")
        reject = right.form_submit_button("Reject", icon=":material/block:",
                                          key="retraining.reject")
    if not (approve or reject):
        return
    try:
        if approve:
            done = store.approve_model(user.actor, model.id, note=note,
                                       authentication=user.authentication)
        else:
            done = store.reject_model(user.actor, model.id, note=note,
                                      authentication=user.authentication)
    except (PermissionDenied, ValueError, LookupError) as error:
        st.error(MSG_FAILED.format(error=plain(error)))
        return
    state.flash(AREA, "success", f"Model #{done.id} is now {done.status}.")
    st.rerun()


render()
