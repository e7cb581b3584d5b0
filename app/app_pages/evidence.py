"""Evidence: what each rule asks of a system's release, gaps first, and the signed pack.

For compliance officers (and admins). The crosswalk comes from
:func:`audits.evidence.pack.assess_release`: every requirement of NYC Local Law 144, the
EU AI Act, ISO/IEC 42001 and the NIST AI RMF with fairpanel's status (met, not met, not
applicable) and why, the unmet first. The signed pack is built with
:func:`audits.evidence.pack.build_evidence_pack` and downloaded; a pack file is checked
with :func:`audits.evidence.pack.verify_evidence_pack`.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from app import auth, loaders, state
from audits.evidence.crosswalk import Finding, gaps_first
from audits.evidence.pack import assess_release, build_evidence_pack, verify_evidence_pack
from audits.evidence.requirements import FRAMEWORKS, SHORT_NAMES

PAGE = "app_pages/evidence.py"
KEY_SYSTEM = "evidence.system"
KEY_CACHE = "evidence.crosswalk"
STATUS_LABEL = {"not_met": "Not met", "met": "Met", "not_applicable": "Not applicable"}
MSG_NO_SYSTEMS = "No system is registered yet: register one on the New system page."


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Evidence")
    st.caption("Each requirement of NYC Local Law 144, the EU AI Act, ISO/IEC 42001 and the "
               "NIST AI RMF that fairpanel can evidence for a system's release: the "
               "artifacts, whether it is met, and why. Gaps first.")
    systems = [s.name for s in store.list_systems()]
    if not systems:
        st.info(MSG_NO_SYSTEMS)
        return
    state.keep_choice(KEY_SYSTEM, systems, systems[0])
    system = st.selectbox("System", systems, key=KEY_SYSTEM)
    left, right = st.columns(2)
    given = left.date_input("Tool's distribution date (Local Law 144)", value=None,
                            key="evidence.distribution_date")
    excluded = right.multiselect("Frameworks out of scope", list(FRAMEWORKS),
                                 format_func=FRAMEWORKS.__getitem__, key="evidence.scope")
    reason = right.text_input("Why they do not apply", key="evidence.scope_reason") \
        if excluded else ""
    scope = {name: reason.strip() or "declared out of scope" for name in excluded}
    when = given if isinstance(given, date) else None
    findings = _crosswalk(store, user.actor, system, when, scope)
    _summary(findings)
    st.dataframe(_table(findings), hide_index=True, width="stretch", key="evidence.table",
                 height=36 * (len(findings) + 1),
                 column_config={"status": st.column_config.TextColumn(width="small"),
                                "requirement": st.column_config.TextColumn(width="medium"),
                                "why": st.column_config.TextColumn(width="large")})
    _pack_section(store, user.actor, system, when, scope)
    _verify_section()


def _crosswalk(store: object, actor: object, system: str, when: date | None,
               scope: dict[str, str]) -> list[Finding]:
    # Kept per (system, inputs, log head): a new log entry (a rating, an approval) is new
    # evidence; reruns of the page that change nothing reuse the last assessment.
    key = (system, when, tuple(sorted(scope.items())), store.log_head())  # type: ignore[attr-defined]
    cached = state.recall(KEY_CACHE)
    if cached is not None and cached[0] == key:
        return list(cached[1])
    bar = st.progress(0.0, text="Assessing the release")
    findings = assess_release(store, actor, system, distribution_date=when,  # type: ignore[arg-type]
                              out_of_scope=scope,
                              progress=lambda f, m: bar.progress(min(1.0, f), text=m))
    bar.empty()
    state.remember(KEY_CACHE, (key, findings))
    return findings


def _summary(findings: list[Finding]) -> None:
    counts = {s: sum(f.status == s for f in findings) for s in STATUS_LABEL}
    a, b, c = st.columns(3)
    a.metric("Not met", counts["not_met"])
    b.metric("Met", counts["met"])
    c.metric("Not applicable", counts["not_applicable"])


def _table(findings: list[Finding]) -> pd.DataFrame:
    return pd.DataFrame([{
        "status": STATUS_LABEL[f.status],
        "requirement": f"{SHORT_NAMES[f.requirement.framework]} {f.requirement.citation}",
        "why": f.why, "asks": f.requirement.asks,
        "artifacts": ", ".join(f.artifacts) or "-"} for f in gaps_first(findings)])


def _pack_section(store: object, actor: object, system: str, when: date | None,
                  scope: dict[str, str]) -> None:
    st.subheader("Signed evidence pack")
    with st.form("evidence.pack"):
        release = st.text_input("Release label", key="evidence.release",
                                placeholder="e.g. 2026.12")
        build = st.form_submit_button("Build the signed pack")
    if build:
        bar = st.progress(0.0, text="Building the pack")
        try:
            with tempfile.TemporaryDirectory() as folder:
                pack = build_evidence_pack(
                    store, actor, system, release=release.strip(),  # type: ignore[arg-type]
                    out=Path(folder) / "pack.zip", distribution_date=when, out_of_scope=scope,
                    progress=lambda f, m: bar.progress(min(1.0, f), text=m))
                state.remember("evidence.pack_bytes", (pack.path.name, pack.path.read_bytes(),
                                                       release.strip(), pack.sha256))
        except (ValueError, LookupError, PermissionError) as error:
            st.error(f"Not built: {error}")
        bar.empty()
    built = state.recall("evidence.pack_bytes")
    if built is not None:
        _, data, label, digest = built
        st.success(f"Pack of release {label} signed; sha256 {digest}.")
        st.download_button("Download the evidence pack", data,
                           file_name=f"evidence-{system}-{label}.zip",
                           mime="application/zip", key="evidence.download")


def _verify_section() -> None:
    st.subheader("Check a pack")
    upload = st.file_uploader("An evidence pack (.zip)", type=["zip"], key="evidence.verify")
    if upload is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pack.zip"
        path.write_bytes(upload.getvalue())
        result = verify_evidence_pack(path)
    (st.success if result.ok else st.error)(
        "Verified: every byte is as signed." if result.ok else "Verification FAILED.")
    st.dataframe(pd.DataFrame([{"check": c, "ok": ok, "detail": d}
                               for c, ok, d in result.checks]),
                 hide_index=True, width="stretch", key="evidence.checks")


render()
