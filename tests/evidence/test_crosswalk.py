"""The crosswalk's rules on hand-made facts: each requirement's status flips with the one
fact it reads, out-of-scope frameworks are not applicable with their reason, and every
requirement of the catalogue has exactly one rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from audits.evidence.crosswalk import STATUSES, Facts, assess, gaps_first
from audits.evidence.requirements import FRAMEWORKS, REQUIREMENTS, requirement

NOW = datetime(2026, 12, 6, tzinfo=UTC)
LL144 = {"features": ["sex", "race"], "summary": True, "sex": "sex", "race": "race",
         "intersection": True, "unknown": 3, "excluded": 2, "distribution_date": True}


def _facts(**changes: object) -> Facts:
    """A release that meets every requirement fairpanel can see."""
    base = Facts(
        system="credit", version=2, now=NOW, has_audit=True, report_status="approved",
        approved_at=NOW - timedelta(days=30), failing=1, ll144=LL144,
        sensitive_location="apart", sensitive_purged=False,
        deletion={"delete_at": NOW + timedelta(days=90), "reason": "re-audit in March"},
        log_ok=True, log_detail="", checkpoints=4, retention_months=6,
        retention_violations=(), reviews=30, overrides=6, cannot_tell=1,
        automation="+0.120 [+0.010, +0.230]", explained_cases=10, reviewed_cases=10,
        unqualified_reviewers=(), reviewers=3, live=True, monitored=True,
        card_quality=True, provenance=True, independence="Approved by casey ...",
        out_of_scope={})
    return replace(base, **changes)  # type: ignore[arg-type]


def _status(facts: Facts) -> dict[str, str]:
    return {f.requirement.id: f.status for f in assess(facts)}


def test_a_complete_release_meets_everything() -> None:
    findings = assess(_facts())
    assert [f.requirement.id for f in findings] == [r.id for r in REQUIREMENTS]
    assert {f.status for f in findings} == {"met"}, [
        (f.requirement.id, f.why) for f in findings if f.status != "met"]
    assert all(f.why and f.artifacts for f in findings)


@pytest.mark.parametrize(("change", "unmet"), [
    ({"report_status": "submitted"}, "ll144:5-301(b)"),
    ({"report_status": None}, "eu-ai-act:10(2)(f)"),
    ({"ll144": {**LL144, "race": None}}, "ll144:5-301(b)"),
    ({"ll144": {**LL144, "intersection": False}}, "ll144:5-301(b)(intersectional)"),
    ({"ll144": {**LL144, "summary": False}}, "ll144:5-301(b)(unknown)"),
    ({"ll144": {**LL144, "distribution_date": False}}, "ll144:5-303"),
    ({"approved_at": NOW - timedelta(days=366)}, "ll144:20-871(a)(1)"),
    ({"reviews": 0, "overrides": 0}, "eu-ai-act:10(2)(g)"),
    ({"has_audit": False}, "eu-ai-act:10(2)(g)"),
    ({"sensitive_location": "with decisions"}, "eu-ai-act:10(5)(c)"),
    ({"deletion": None}, "eu-ai-act:10(5)(e)"),
    ({"deletion": {"delete_at": NOW - timedelta(days=1), "reason": "x"}},
     "eu-ai-act:10(5)(e)"),
    ({"deletion": None}, "eu-ai-act:10(5)(f)"),
    ({"log_ok": False, "log_detail": "entry 7 edited"}, "eu-ai-act:12(1)"),
    ({"retention_violations": ("oversight_missing: rating 12",)}, "eu-ai-act:26(6)"),
    ({"monitored": False}, "eu-ai-act:14(4)(a)"),
    ({"automation": None}, "eu-ai-act:14(4)(b)"),
    ({"explained_cases": 0}, "eu-ai-act:14(4)(c)"),
    ({"reviews": 0}, "eu-ai-act:14(4)(d)"),
    ({"live": False}, "eu-ai-act:14(4)(e)"),
    ({"unqualified_reviewers": ("sim-reviewer-14",)}, "eu-ai-act:26(2)"),
    ({"unqualified_reviewers": ("sim-reviewer-14",)}, "iso42001:A.4.6"),
    ({"monitored": False}, "iso42001:A.6.2.6"),
    ({"card_quality": False}, "iso42001:A.7.4"),
    ({"provenance": False}, "iso42001:A.7.5"),
    ({"independence": None}, "nist-ai-rmf:MEASURE 1.3"),
])
def test_each_rule_turns_on_its_fact(change: dict[str, object], unmet: str) -> None:
    status = _status(_facts(**change))
    assert status[unmet] == "not_met"
    assert set(status.values()) <= set(STATUSES)


def test_no_sensitive_data_makes_the_article_10_5_rules_not_applicable() -> None:
    status = _status(_facts(sensitive_location="none", deletion=None))
    for rid in ("eu-ai-act:10(5)(c)", "eu-ai-act:10(5)(e)", "eu-ai-act:10(5)(f)"):
        assert status[rid] == "not_applicable"


def test_a_purge_meets_deletion_and_reason() -> None:
    status = _status(_facts(sensitive_purged=True, deletion=None))
    assert status["eu-ai-act:10(5)(e)"] == status["eu-ai-act:10(5)(f)"] == "met"


def test_out_of_scope_frameworks_and_unknown_ones() -> None:
    findings = assess(_facts(out_of_scope={"nist-ai-rmf": "not used in the US"}))
    nist = [f for f in findings if f.requirement.framework == "nist-ai-rmf"]
    assert {f.status for f in nist} == {"not_applicable"}
    assert all(f.why.endswith("not used in the US") for f in nist)
    with pytest.raises(ValueError, match="out-of-scope framework 'gdpr' is unknown"):
        assess(_facts(out_of_scope={"gdpr": "x"}))


def test_gaps_come_first_and_the_catalogue_is_consistent() -> None:
    ordered = gaps_first(assess(_facts(live=False, deletion=None, sensitive_location="none")))
    ranks = [{"not_met": 0, "met": 1, "not_applicable": 2}[f.status] for f in ordered]
    assert ranks == sorted(ranks)
    assert len({r.id for r in REQUIREMENTS}) == len(REQUIREMENTS)
    assert {r.framework for r in REQUIREMENTS} == set(FRAMEWORKS)
    with pytest.raises(KeyError, match="no requirement 'x'"):
        requirement("x")
