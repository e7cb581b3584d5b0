"""The evidence pack of one release of a system: gathered from the store, signed, checked.

:func:`build_evidence_pack` reads what the store holds about a system's version (its
latest approved report, else its latest audit; the human-oversight record; the log's
verification and checkpoints; the data card; the sensitive-data register with deletion
dates; the retention record; the Local Law 144 public summary), assesses every
requirement (:mod:`audits.evidence.crosswalk`), and writes one signed canonical archive
(:mod:`audits.evidence.archive`), logged as ``evidence_pack`` with its sha256.
:func:`verify_evidence_pack` checks a pack file alone, anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from audits.evidence.archive import ArchiveVerification, verify_archive, write_archive
from audits.evidence.crosswalk import Facts, Finding, assess, gaps_first
from audits.evidence.ll144 import (
    KIND_INTERSECTION,
    LL144Summary,
    ll144_summary,
)
from audits.evidence.ll144_render import render_ll144_html, render_ll144_pdf
from audits.evidence.oversight import OversightRecord, oversight_record
from audits.evidence.requirements import FRAMEWORKS, ISO42001_ANNEX_A, SOURCES
from audits.evidence.retention import retention_summary
from audits.fairness.stored import AUDIT_KIND
from audits.reports.stored import export_report
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, DatasetRecord, ReportRecord, Store
from audits.store.checkpoints import Checkpoint, export_lines
from audits.store.log import LogVerification, canonical_json
from audits.versions import __version__

__all__ = ["MSG_BAD_RELEASE", "MSG_SCOPE", "EvidencePack", "assess_release",
           "build_evidence_pack", "latest_audit", "system_version",
           "verify_evidence_pack"]

Progress = Callable[[float, str], None]
MSG_BAD_RELEASE = ("release must be 1 to 100 characters of letters, digits, '.', '_' or '-'; "
                   "got {value!r}")
MSG_UNKNOWN_SYSTEM = "no system named {name!r}"
MSG_NO_VERSION = "system {name!r} has no version {version}"
MSG_NOT_FILE = "no evidence pack at {path}"
MSG_SCOPE = "out-of-scope framework {name!r} is unknown; known: {known}"


@dataclass(frozen=True)
class EvidencePack:
    """A written pack: where, its sha256, the crosswalk and the manifest's facts."""

    path: Path
    sha256: str
    findings: tuple[Finding, ...]
    about: dict[str, Any]

    def counts(self) -> dict[str, int]:
        """How many requirements are met, not met and not applicable."""
        out = {"met": 0, "not_met": 0, "not_applicable": 0}
        for f in self.findings:
            out[f.status] += 1
        return out


def latest_audit(store: Store, version: DatasetRecord,
                 ) -> tuple[AuditRunRecord | None, ReportRecord | None]:
    """Return a version's audit with its latest approved report, else its latest audit
    (and its latest report version, if any)."""
    runs = [r for r in store.list_audit_runs() if r.dataset_id == version.id
            and r.status == "completed" and r.config.get("kind") == AUDIT_KIND]
    approved = [(run, r) for run in runs for r in store.list_reports(run.id) if r.approved]
    if approved:
        return approved[-1]
    if not runs:
        return None, None
    reports = store.list_reports(runs[-1].id)
    return runs[-1], (reports[-1] if reports else None)


def build_evidence_pack(store: Store, actor: Actor, system: str, *, release: str,
                        out: str | os.PathLike[str], version: int | None = None,
                        distribution_date: date | None = None,
                        out_of_scope: Mapping[str, str] | None = None,
                        now: datetime | None = None,
                        progress: Progress | None = None) -> EvidencePack:
    """Gather, assess, sign and write the evidence pack of ``system``'s release.

    Requires "build an evidence pack" (compliance officer or admin). The file is written
    atomically (a temporary file renamed into place): an interrupted build leaves no
    half-written pack. Logged as ``evidence_pack`` (system, version, release, sha256,
    counts by status).

    Raises
    ------
    ValueError
        A bad release label or an unknown out-of-scope framework.
    LookupError
        No such system or version.
    """
    report = progress or (lambda fraction, message: None)
    require_role(actor, "build an evidence pack")
    label = _check_release(release)
    gathered = _gather(store, actor, system, version, distribution_date, out_of_scope, now,
                       lambda f, m: report(0.6 * f, m))
    report(0.6, "Rendering the report and the Local Law 144 summary")
    findings = assess(_facts(store, gathered))
    files = _files(store, gathered)
    files["crosswalk.json"] = _json({"system": system, "version": gathered.dataset.version,
                                     "release": label, "sources": SOURCES,
                                     "frameworks": FRAMEWORKS,
                                     "requirements": [f.to_dict() for f in findings]})
    files["crosswalk.md"] = _crosswalk_text(system, label, findings).encode("utf-8")
    files["iso42001-soa.json"] = _json(_soa(findings))
    run, record = gathered.run, gathered.record
    about = {"system": system, "version": gathered.dataset.version, "release": label,
             "created_at": gathered.when.isoformat(), "created_by": actor.username,
             "fairpanel_version": __version__,
             "audit_run_id": None if run is None else run.id,
             "report_id": None if record is None else record.id,
             "report_status": None if record is None else record.status}
    report(0.9, "Signing and writing the archive")
    data = write_archive(files, about, store.signing_key())
    path = _write_atomic(Path(out), data)
    digest = hashlib.sha256(data).hexdigest()
    pack = EvidencePack(path, digest, tuple(findings), about)
    store.record_evidence_pack(actor, system, release=label,
                               version=int(gathered.dataset.version or 0), sha256=digest,
                               counts=pack.counts())
    report(1.0, f"Evidence pack written: {path}")
    return pack


def assess_release(store: Store, actor: Actor, system: str, *, version: int | None = None,
                   distribution_date: date | None = None,
                   out_of_scope: Mapping[str, str] | None = None,
                   now: datetime | None = None,
                   progress: Progress | None = None) -> list[Finding]:
    """Return the crosswalk of ``system``'s version as a pack would state it, writing
    nothing (the Evidence page's view). Same permission and errors as
    :func:`build_evidence_pack`."""
    report = progress or (lambda fraction, message: None)
    require_role(actor, "build an evidence pack")
    gathered = _gather(store, actor, system, version, distribution_date, out_of_scope, now,
                       report)
    report(1.0, "Crosswalk ready")
    return assess(_facts(store, gathered))


@dataclass(frozen=True)
class _Gathered:
    """What the store holds about one release: read once, for the facts and the files."""

    system: str
    dataset: DatasetRecord
    run: AuditRunRecord | None
    record: ReportRecord | None
    oversight: OversightRecord | None
    verification: LogVerification
    checkpoints: list[Checkpoint]
    retention: dict[str, Any]
    register: dict[str, Any]
    batches: list[dict[str, Any]]
    summary: LL144Summary | None
    scope: dict[str, str]
    when: datetime


def _gather(store: Store, actor: Actor, system: str, version: int | None,
            distribution_date: date | None, out_of_scope: Mapping[str, str] | None,
            now: datetime | None, report: Progress) -> _Gathered:
    scope = _check_scope(out_of_scope)
    when = now or datetime.now(UTC)
    dataset = system_version(store, system, version)
    run, record = latest_audit(store, dataset)
    report(0.05, "Building the human-oversight record")
    oversight = None if run is None else oversight_record(
        store, actor, run.id, progress=lambda f, m: report(0.05 + 0.8 * f, m))
    report(0.9, "Log checkpoints, data card, sensitive-data register, retention")
    retention = retention_summary(store, now=when)
    return _Gathered(system, dataset, run, record, oversight, store.verify_log(),
                     store.list_checkpoints(), retention,
                     _sensitive_register(store, system, retention), _batches(store, dataset),
                     _ll144(store, record, distribution_date), scope, when)


def _files(store: Store, g: _Gathered) -> dict[str, bytes]:
    """Every file of the pack but the crosswalk's, by its path in the archive."""
    files: dict[str, bytes] = {}
    if g.record is not None:
        for fmt in ("html", "pdf", "json"):
            files[f"report/report.{fmt}"] = export_report(store, g.record.id, fmt)
    if g.run is not None:
        files["audit/config.json"] = _json({"audit_run_id": g.run.id, "config": g.run.config,
                                            "query": (g.run.results or {}).get("aggregation")})
    if g.oversight is not None:
        files.update(_oversight_files(g.oversight))
    if g.batches:
        files["monitoring/batches.json"] = _json(g.batches)
    v = g.verification
    files["log/checkpoints.jsonl"] = export_lines(g.checkpoints).encode("utf-8")
    files["log/verification.json"] = _json({"ok": v.ok, "entries": v.n_entries,
                                            "first_bad_id": v.first_bad_id,
                                            "reason": v.reason})
    d = g.dataset
    files["data/card.md"] = (d.card or "").encode("utf-8")
    files["data/card.json"] = _json({"name": d.name, "version": d.version, "sha256": d.sha256,
                                     "source": d.source, "rows": d.n_rows,
                                     "card": d.card_data})
    files["data/sensitive-register.json"] = _json(g.register)
    files["retention/retention.json"] = _json(g.retention)
    if g.summary is not None:
        files["ll144/summary.html"] = render_ll144_html(g.summary).encode("utf-8")
        files["ll144/summary.pdf"] = render_ll144_pdf(g.summary)
        files["ll144/summary.json"] = _json(g.summary.to_dict())
    return files


def verify_evidence_pack(path: str | os.PathLike[str], *,
                         expected_fingerprint: str | None = None) -> ArchiveVerification:
    """Verify a pack file (see :func:`audits.evidence.archive.verify_archive`).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(MSG_NOT_FILE.format(path=file))
    return verify_archive(file.read_bytes(), expected_fingerprint=expected_fingerprint)


def _check_scope(out_of_scope: Mapping[str, str] | None) -> dict[str, str]:
    scope = dict(out_of_scope or {})
    for name in scope:
        if name not in FRAMEWORKS:
            raise ValueError(MSG_SCOPE.format(name=name, known=", ".join(FRAMEWORKS)))
    return scope


def _check_release(value: object) -> str:
    text = value if isinstance(value, str) else ""
    if not (1 <= len(text) <= 100) or not all(c.isalnum() or c in "._-" for c in text):
        raise ValueError(MSG_BAD_RELEASE.format(value=value))
    return text


def system_version(store: Store, system: str, version: int | None) -> DatasetRecord:
    """Return version ``version`` of ``system`` (None: the latest), or raise LookupError
    naming the system or the version."""
    if store.get_system(system) is None:
        raise LookupError(MSG_UNKNOWN_SYSTEM.format(name=system))
    versions = store.system_versions(system)
    if version is None:
        return store.latest_version(system)
    found = [v for v in versions if v.version == version]
    if not found:
        raise LookupError(MSG_NO_VERSION.format(name=system, version=version))
    return found[0]


def _ll144(store: Store, record: ReportRecord | None,
           distribution_date: date | None) -> LL144Summary | None:
    if record is None or not record.approved:
        return None
    try:
        return ll144_summary(store, record.id, distribution_date=distribution_date)
    except ValueError:  # no impact-ratio table, or ambiguous attributes: a gap, not a crash
        return None


def _facts(store: Store, g: _Gathered) -> Facts:
    system, dataset, run, record, oversight = g.system, g.dataset, g.run, g.record, g.oversight
    register, retention = g.register, g.retention
    results = (run.results or {}) if run is not None else {}
    failing = sum(1 for d in results.get("disparities", []) if d.get("verdict") == "fail")
    touches = oversight.touches if oversight is not None else pd.DataFrame()
    people = touches[touches["touch"] != "adjudication"] if len(touches) else touches
    schedule = next((s for s in retention["schedules"] if s["system"] == system), None)
    return Facts(
        system=system, version=int(dataset.version or 0), now=g.when, has_audit=run is not None,
        report_status=None if record is None else record.status,
        approved_at=None if record is None else record.decided_at, failing=failing,
        ll144=_ll144_facts(run, g.summary), sensitive_location=register["location"],
        sensitive_purged=bool(register["versions"]) and all(
            v["purged_at"] for v in register["versions"]),
        deletion=None if schedule is None else {
            "delete_at": datetime.fromisoformat(schedule["delete_at"]),
            "reason": schedule["reason"]},
        log_ok=g.verification.ok, log_detail=g.verification.reason,
        checkpoints=len(g.checkpoints),
        retention_months=min(int(retention["policy"]["log_months"]),
                             int(retention["policy"]["oversight_months"])),
        retention_violations=tuple(f"{v['rule']}: {v['subject']}"
                                   for v in retention["check"]["violations"]),
        reviews=len(people),
        overrides=int((people["action"] == "override").sum()) if len(people) else 0,
        cannot_tell=int((people["action"] == "cannot_tell").sum()) if len(people) else 0,
        automation=None if oversight is None or oversight.automation is None else (
            f"showing the suggestion changes agreement with it by "
            f"{oversight.automation.value:+.3f} [{oversight.automation.ci_low:+.3f}, "
            f"{oversight.automation.ci_high:+.3f}]"),
        explained_cases=_explained(store, run, people),
        reviewed_cases=int(people["case_id"].nunique()) if len(people) else 0,
        unqualified_reviewers=tuple(sorted(set(oversight.unqualified["username"])))
        if oversight is not None and len(touches) else (),
        reviewers=int(people["username"].nunique()) if len(people) else 0,
        live=store.live_settings(system) is not None,
        monitored=bool(g.batches),
        card_quality=bool((dataset.card_data or {}).get("columns")),
        provenance=bool(dataset.sha256),
        independence=_independence(run, record, people), out_of_scope=g.scope)


def _ll144_facts(run: AuditRunRecord | None, summary: LL144Summary | None) -> dict[str, Any]:
    features = list((run.config if run else {}).get("sensitive_features", []))
    if summary is None:
        return {"features": features}
    kinds = {t.kind for t in summary.tables}
    unknown = max((t.n_unknown for t in summary.tables), default=0)
    return {"features": features, "summary": True, "sex": summary.sex_attribute,
            "race": summary.race_attribute,
            "intersection": KIND_INTERSECTION in kinds, "unknown": unknown,
            "excluded": sum(len(t.excluded) for t in summary.tables),
            "distribution_date": summary.distribution_date is not None}


def _explained(store: Store, run: AuditRunRecord | None, people: pd.DataFrame) -> int:
    if run is None or people.empty:
        return 0
    touched = set(people["case_id"].astype(int))
    n = 0
    for case in store.list_cases(run.id):
        if case.id in touched:
            snapshot = case.snapshot
            n += bool((snapshot.get("explanation") or {}).get("available")
                      or snapshot.get("reasons") or case.reasons)
    return n


def _independence(run: AuditRunRecord | None, record: ReportRecord | None,
                  people: pd.DataFrame) -> str | None:
    if run is None or record is None or not record.approved:
        return None
    approver = record.decided_by or ""
    if approver in (run.created_by, record.created_by):
        return None
    reviewers = len(set(people["username"])) if len(people) else 0
    return (f"Approved by {approver}, who neither ran the audit ({run.created_by}) nor "
            f"drafted the report ({record.created_by}); {reviewers} panel reviewer(s) "
            "outside the development team reviewed flagged decisions.")


def _batches(store: Store, dataset: DatasetRecord) -> list[dict[str, Any]]:
    """The monitored batches of every audit of this version: what came in, when, and the
    alerts' verdicts as stored."""
    return [{"audit_run_id": b.audit_run_id, "batch_id": b.id, "label": b.label,
             "sha256": b.sha256, "rows": b.n_rows, "period_start": b.period_start,
             "period_end": b.period_end, "created_at": b.created_at.isoformat(),
             "created_by": b.created_by, "results": b.results}
            for r in store.list_audit_runs() if r.dataset_id == dataset.id
            for b in store.list_batches(r.id)]


def _sensitive_register(store: Store, system: str,
                        retention: dict[str, Any]) -> dict[str, Any]:
    schedule = next((s for s in retention["schedules"] if s["system"] == system), None)
    versions = store.system_versions(system)
    apart = [v for v in versions if v.sensitive is not None]
    in_data = any(v.roles.get("sensitive_features") for v in versions)
    location = "apart" if apart else ("with decisions" if in_data else "none")
    return {"system": system, "location": location,
            "deletion": None if schedule is None else {
                k: schedule[k] for k in ("delete_at", "reason", "set_by", "set_at")},
            "versions": [
        {"version": v.version, "sha256": (v.sensitive or {}).get("sha256"),
         "columns": (v.sensitive or {}).get("columns"),
         "registered_at": v.created_at.isoformat(),
         "purged_at": None if v.sensitive_purged_at is None
         else v.sensitive_purged_at.isoformat(), "purged_by": v.sensitive_purged_by}
        for v in apart],
        "with_decisions": [] if apart else sorted({c for v in versions
                                                  for c in v.roles.get("sensitive_features",
                                                                       [])})}


def _oversight_files(record: OversightRecord) -> dict[str, bytes]:
    files = {"oversight/record.json": _json(record.to_dict())}
    for name in ("decisions", "touches", "by_reviewer", "by_group"):
        frame = getattr(record, name)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        files[f"oversight/{name}.csv"] = buffer.getvalue().encode("utf-8")
    return files


def _soa(findings: list[Finding]) -> dict[str, Any]:
    by_control = {f.requirement.citation: f for f in findings
                  if f.requirement.framework == "iso42001"}
    return {"standard": "ISO/IEC 42001:2023 Annex A", "controls": [
        {"control": c, "title": t,
         "evidenced_by_fairpanel": c in by_control,
         "status": by_control[c].status if c in by_control else None,
         "why": by_control[c].why if c in by_control else
         "Organisational control: its evidence lies outside fairpanel."}
        for c, t in ISO42001_ANNEX_A]}


def _crosswalk_text(system: str, release: str, findings: list[Finding]) -> str:
    lines = [f"# Evidence crosswalk: {system}, release {release}", "",
             "| requirement | status | why | artifacts |", "|---|---|---|---|"]
    for f in gaps_first(findings):
        r = f.requirement
        lines.append(f"| {FRAMEWORKS[r.framework]}: {r.citation} | "
                     f"{f.status.replace('_', ' ')} | {f.why.replace('|', '/')} | "
                     f"{', '.join(f.artifacts) or '-'} |")
    return "\n".join(lines) + "\n"


def _json(value: Any) -> bytes:
    return (json.dumps(json.loads(canonical_json(value)), indent=1, sort_keys=True,
                       ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
