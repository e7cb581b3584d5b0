"""The crosswalk: for each requirement, the artifacts that evidence it and its status.

:func:`assess` is a pure function of :class:`Facts` (what the store holds about one
release of one system, gathered by :mod:`audits.evidence.pack`); each requirement of
:data:`~audits.evidence.requirements.REQUIREMENTS` gets ``met``, ``not_met`` or
``not_applicable`` and a sentence saying why, with the figures it read. A framework
declared out of scope makes its requirements ``not_applicable`` with the reason given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from audits.evidence.requirements import FRAMEWORKS, REQUIREMENTS, Requirement

__all__ = ["STATUSES", "Facts", "Finding", "assess", "gaps_first"]

STATUSES = ("met", "not_met", "not_applicable")
AUDIT_MAX_AGE = timedelta(days=365)
MSG_SCOPE = "out-of-scope framework {name!r} is unknown; known: {known}"

# Artifact paths inside the pack (pack.py writes them).
REPORT = ("report/report.html", "report/report.pdf", "report/report.json")
LL144 = ("ll144/summary.html", "ll144/summary.pdf", "ll144/summary.json")
CONFIG = ("audit/config.json",)
OVERSIGHT = ("oversight/record.json", "oversight/decisions.csv", "oversight/touches.csv",
             "oversight/by_reviewer.csv", "oversight/by_group.csv")
LOG = ("log/checkpoints.jsonl", "log/verification.json")
CARD = ("data/card.md", "data/card.json")
SENSITIVE = ("data/sensitive-register.json",)
RETENTION = ("retention/retention.json",)
MONITORING = ("monitoring/batches.json",)


@dataclass(frozen=True)
class Facts:
    """What the store holds about one release of one system (see :func:`assess`).

    ``ll144`` holds the Local Law 144 figures of the approved report: the sex and
    race/ethnicity attributes found (None when missing), whether an intersection table
    exists, the unknown count and whether the distribution date was given.
    """

    system: str
    version: int
    now: datetime
    has_audit: bool
    report_status: str | None
    approved_at: datetime | None
    failing: int
    ll144: Mapping[str, Any]
    sensitive_location: str
    sensitive_purged: bool
    deletion: Mapping[str, Any] | None
    log_ok: bool
    log_detail: str
    checkpoints: int
    retention_months: int
    retention_violations: tuple[str, ...]
    reviews: int
    overrides: int
    cannot_tell: int
    automation: str | None
    explained_cases: int
    reviewed_cases: int
    unqualified_reviewers: tuple[str, ...]
    reviewers: int
    live: bool
    monitored: bool
    card_quality: bool
    provenance: bool
    independence: str | None
    out_of_scope: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One row of the crosswalk."""

    requirement: Requirement
    status: str
    why: str
    artifacts: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON: requirement fields, status, why and artifacts."""
        r = self.requirement
        return {"id": r.id, "framework": r.framework, "citation": r.citation,
                "asks": r.asks, "status": self.status, "why": self.why,
                "artifacts": list(self.artifacts)}


def assess(facts: Facts) -> list[Finding]:
    """Return one finding per requirement, in the catalogue's order.

    Raises
    ------
    ValueError
        ``facts.out_of_scope`` names an unknown framework.
    """
    for name in facts.out_of_scope:
        if name not in FRAMEWORKS:
            raise ValueError(MSG_SCOPE.format(name=name, known=", ".join(FRAMEWORKS)))
    out = []
    for r in REQUIREMENTS:
        reason = facts.out_of_scope.get(r.framework)
        if reason is not None:
            out.append(Finding(r, "not_applicable",
                               f"Out of scope for this release: {reason}", ()))
            continue
        status, why, artifacts = _RULES[r.id](facts)
        out.append(Finding(r, status, why, artifacts))
    return out


def gaps_first(findings: list[Finding]) -> list[Finding]:
    """Return the findings with the unmet first, then met, then not applicable.

    Examples
    --------
    >>> gaps_first([])
    []
    """
    order = {"not_met": 0, "met": 1, "not_applicable": 2}
    return sorted(findings, key=lambda f: order[f.status])


Rule = Callable[[Facts], tuple[str, str, tuple[str, ...]]]


def _report_gap(f: Facts) -> str | None:
    if not f.has_audit:
        return f"no fairness audit of version {f.version} is stored"
    if f.report_status is None:
        return f"no report of the audit of version {f.version} is drafted, let alone approved"
    if f.report_status != "approved":
        return f"the audit's report is {f.report_status}, not approved"
    return None


def _ll144_rates(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _report_gap(f)
    if gap:
        return "not_met", gap.capitalize() + ".", ()
    missing = [k for k in ("sex", "race") if not f.ll144.get(k)]
    if missing:
        return ("not_met", f"No {' or '.join(missing)} attribute was audited (sensitive "
                "features: " + ", ".join(f.ll144.get("features", [])) + ").", REPORT)
    return ("met", f"Rates and impact ratios by {f.ll144['sex']} and by {f.ll144['race']} "
            "in the approved report's impact-ratio tables.", REPORT + LL144)


def _ll144_intersection(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    status, why, art = _ll144_rates(f)
    if status != "met":
        return status, why, art
    if not f.ll144.get("intersection"):
        return "not_met", "No sex x race/ethnicity intersection table in the report.", REPORT
    return ("met", f"Impact ratios by {f.ll144['sex']} x {f.ll144['race']}.", REPORT + LL144)


def _summary_gap(f: Facts) -> str | None:
    gap = _report_gap(f)
    if gap:
        return gap.capitalize() + "."
    if not f.ll144.get("summary"):
        return ("The approved report has no impact-ratio table a Local Law 144 summary can "
                "be made from.")
    return None


def _ll144_unknown(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _summary_gap(f)
    if gap:
        return "not_met", gap, ()
    return ("met", f"The public summary states {f.ll144.get('unknown', 0)} individual(s) in "
            "an unknown category.", LL144)


def _ll144_exclusions(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _summary_gap(f)
    if gap:
        return "not_met", gap, ()
    n = int(f.ll144.get("excluded", 0))
    return ("met", f"{n} category(ies) under 2% excluded from the impact ratios, each with "
            "its count, rate and the stated reason.", REPORT + LL144)


def _ll144_age(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _report_gap(f)
    if gap or f.approved_at is None:
        return "not_met", (gap or "no approval date").capitalize() + ".", ()
    age = f.now - f.approved_at
    if age > AUDIT_MAX_AGE:
        return ("not_met", f"The approved audit is {age.days} days old (more than a year).",
                REPORT)
    return "met", f"The approved audit is {age.days} days old.", REPORT


def _ll144_summary(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _summary_gap(f)
    if gap:
        return "not_met", gap + " No public summary can be made.", ()
    if not f.ll144.get("distribution_date"):
        return ("not_met", "The summary was made but the tool's distribution date was not "
                "given (--distribution-date).", LL144)
    return "met", "Public summary (HTML and PDF) with both dates.", LL144


def _bias_examined(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _report_gap(f)
    if gap:
        return "not_met", gap.capitalize() + ".", CONFIG if f.has_audit else ()
    return ("met", f"Fairness audit per group and intersection with intervals; approved "
            f"report ({f.failing} failing comparison(s)).", REPORT + CONFIG)


def _bias_measures(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if not f.has_audit:
        return "not_met", f"No fairness audit of version {f.version} is stored.", ()
    if f.failing == 0:
        return ("met", "No comparison fails; the review queue and monitoring keep watch.",
                REPORT)
    if f.reviews == 0:
        return ("not_met", f"{f.failing} failing comparison(s) and no decision reviewed by "
                "the panel.", REPORT)
    return ("met", f"{f.failing} failing comparison(s); {f.reviewed_cases} flagged "
            f"decision(s) reviewed by the panel ({f.overrides} override(s)).",
            REPORT + OVERSIGHT)


def _sensitive_apart(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.sensitive_location == "none":
        return "not_applicable", "The version holds no sensitive attributes.", ()
    if f.sensitive_purged:
        return "met", "The sensitive data were kept apart and have been purged.", SENSITIVE
    if f.sensitive_location == "apart":
        return ("met", "Sensitive attributes kept in a separate file, readable only with the "
                "'read sensitive data' permission.", SENSITIVE)
    return ("not_met", "The sensitive attributes are stored with the decisions, not apart: "
            "register them as a separate file.", SENSITIVE + CARD)


def _sensitive_deleted(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.sensitive_location == "none":
        return "not_applicable", "The version holds no sensitive attributes.", ()
    if f.sensitive_purged:
        return "met", "Purged; the purge is in the signed log.", SENSITIVE + LOG
    if f.deletion is None:
        return ("not_met", "No deletion date is set for the sensitive data (fairpanel "
                "retention schedule).", SENSITIVE + RETENTION)
    when = f.deletion["delete_at"]
    if when <= f.now:
        return "not_met", f"Deletion was due on {when.date()} and has not run.", SENSITIVE
    return "met", f"Deletion scheduled for {when.date()}.", SENSITIVE + RETENTION


def _sensitive_reason(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.sensitive_location == "none":
        return "not_applicable", "The version holds no sensitive attributes.", ()
    if f.deletion is not None and f.deletion.get("reason"):
        return ("met", f"Reason recorded: {f.deletion['reason']}", SENSITIVE + RETENTION)
    if f.sensitive_purged:
        return "met", "Purged, with the reason in the signed log.", SENSITIVE + LOG
    return ("not_met", "No reason recorded for keeping special-category data (set it with "
            "the deletion schedule).", SENSITIVE)


def _logs(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if not f.log_ok:
        return "not_met", f"The audit log does not verify: {f.log_detail}", LOG
    return ("met", f"Hash-chained audit log verifies; {f.checkpoints} signed checkpoint(s).",
            LOG)


def _log_retention(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.retention_months < 6:
        return "not_met", f"Retention is {f.retention_months} months (< 6).", RETENTION
    bad = [v for v in f.retention_violations if not v.startswith("sensitive")]
    if bad:
        return "not_met", "Retention check: " + "; ".join(bad), RETENTION + LOG
    return ("met", f"Logs and oversight records kept at least {f.retention_months} months; "
            "the retention check passes.", RETENTION + LOG)


def _understand(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    gap = _report_gap(f)
    if gap:
        return "not_met", gap.capitalize() + ".", ()
    if not f.monitored:
        return ("not_met", "Approved report, but no monitoring of the system's decisions over "
                "time is stored.", REPORT + CARD)
    return ("met", "Approved report and data card document capacities and limits per group; "
            "batches are monitored.", REPORT + CARD + MONITORING)


def _automation(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.automation is None:
        return ("not_met", "Automation bias not measured: the suggestion was not both shown "
                "and hidden at random.", OVERSIGHT)
    return "met", f"Automation bias measured: {f.automation}.", OVERSIGHT + REPORT


def _interpret(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.reviewed_cases == 0:
        return "not_met", "No decision was reviewed.", ()
    if f.explained_cases == 0:
        return ("not_met", "Reviewed cases carried no explanation of the decision.",
                OVERSIGHT)
    return ("met", f"{f.explained_cases} of {f.reviewed_cases} reviewed case(s) showed the "
            "decision's explanation or reasons.", OVERSIGHT)


def _override(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.reviews == 0:
        return "not_met", "No review recorded: overriding is not evidenced.", ()
    return ("met", f"{f.reviews} review(s): {f.overrides} override(s), {f.cannot_tell} "
            "'cannot tell'; each with its rationale in the oversight record.", OVERSIGHT)


def _stop(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.live:
        return ("met", "Live decisions are held before they take effect under a stored "
                "policy; a person decides held ones.", OVERSIGHT)
    return ("not_met", "Decisions reach fairpanel after they took effect (no live hold): a "
            "stop procedure must be evidenced where the system runs.", ())


def _competence(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.reviewers == 0:
        return "not_met", "No reviewer has acted.", ()
    if f.unqualified_reviewers:
        return ("not_met", f"{len(f.unqualified_reviewers)} of {f.reviewers} reviewer(s) "
                "rated without a training or competence record: "
                + ", ".join(f.unqualified_reviewers[:10]), OVERSIGHT)
    return ("met", f"Every one of {f.reviewers} reviewer(s) held a recorded training or "
            "competence when rating; reviewers are assigned by the panel lead.", OVERSIGHT)


def _monitoring(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.monitored:
        return "met", "Batches of decisions are monitored against the audit.", MONITORING
    return "not_met", "No monitored batch of decisions is stored.", ()


def _quality(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.card_quality:
        return "met", "Data card with missingness per column and per group.", CARD
    return "not_met", "No data card with data quality figures.", ()


def _provenance(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.provenance:
        return "met", "Data set sha256 and source recorded with the version.", CARD + CONFIG
    return "not_met", "No data hash recorded.", ()


def _independence(f: Facts) -> tuple[str, str, tuple[str, ...]]:
    if f.independence is None:
        return "not_met", "No approved report: no assessment by anyone else.", ()
    return "met", f.independence, REPORT + OVERSIGHT


_RULES: dict[str, Rule] = {
    "ll144:5-301(b)": _ll144_rates,
    "ll144:5-301(b)(intersectional)": _ll144_intersection,
    "ll144:5-301(b)(unknown)": _ll144_unknown,
    "ll144:5-301(d)": _ll144_exclusions,
    "ll144:20-871(a)(1)": _ll144_age,
    "ll144:5-303": _ll144_summary,
    "eu-ai-act:10(2)(f)": _bias_examined,
    "eu-ai-act:10(2)(g)": _bias_measures,
    "eu-ai-act:10(5)(c)": _sensitive_apart,
    "eu-ai-act:10(5)(e)": _sensitive_deleted,
    "eu-ai-act:10(5)(f)": _sensitive_reason,
    "eu-ai-act:12(1)": _logs,
    "eu-ai-act:26(6)": _log_retention,
    "eu-ai-act:14(4)(a)": _understand,
    "eu-ai-act:14(4)(b)": _automation,
    "eu-ai-act:14(4)(c)": _interpret,
    "eu-ai-act:14(4)(d)": _override,
    "eu-ai-act:14(4)(e)": _stop,
    "eu-ai-act:26(2)": _competence,
    "iso42001:A.4.6": _competence,
    "iso42001:A.5.4": _bias_examined,
    "iso42001:A.6.2.4": _bias_examined,
    "iso42001:A.6.2.6": _monitoring,
    "iso42001:A.6.2.8": _logs,
    "iso42001:A.7.4": _quality,
    "iso42001:A.7.5": _provenance,
    "iso42001:A.9.2": _override,
    "nist-ai-rmf:MEASURE 2.11": _bias_examined,
    "nist-ai-rmf:MEASURE 1.3": _independence,
}
