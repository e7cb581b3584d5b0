"""The evidence pack: gathered from a registered system and from the demo, signed, and
failing verification after any change of any byte.

The registered system is COMPAS as a logged-decision system whose sex and race are kept
apart in their own file, audited, its report approved, its sensitive data scheduled for
deletion; the demo is the prepared german_credit demo with its simulated panel.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from audits.evidence.archive import read_archive, verify_archive
from audits.evidence.crosswalk import STATUSES
from audits.evidence.ll144 import ll144_summary
from audits.evidence.ll144_render import render_ll144_html
from audits.evidence.pack import MSG_BAD_RELEASE, build_evidence_pack, verify_evidence_pack
from audits.evidence.requirements import REQUIREMENTS
from audits.fairness.stored import run_fairness_audit
from audits.reports.stored import approve, draft_report, submit
from audits.roles import Actor, PermissionDenied, Role
from audits.store import ReportRecord, Store
from audits.systems.registry import register_system

ROOT = Path(__file__).resolve().parents[2]
DANA = Actor("dana", Role.DATA_SCIENTIST)
CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
IDS = {r.id for r in REQUIREMENTS}


@dataclass(frozen=True)
class Registered:
    """The module's store: COMPAS registered, audited, approved, deletion scheduled."""

    store: Store
    home: Path
    report: ReportRecord


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    home = tmp_path_factory.mktemp("evidence")
    raw = pd.read_parquet(ROOT / "datasets" / "compas.parquet")
    raw = raw[raw["propublica_filter"]].reset_index(drop=True)
    apart = home / "sensitive.parquet"
    raw[["id", "sex", "race"]].to_parquet(apart)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            for person in (DANA, CASEY):
                store.add_user(Actor.system(), person.username, person.role)
            system = register_system(
                store, DANA, "compas-logged", raw.drop(columns=["sex", "race"]), id="id",
                target="two_year_recid", sensitive=["sex", "race"], prediction="high_risk",
                adverse=True, sensitive_data=str(apart), source="datasets/compas.parquet",
                description="COMPAS risk labels, logged", intended_use="testing")
            run = run_fairness_audit(store, DANA, system.dataset, None, n_boot=50)
            draft = draft_report(store, DANA, run.id)
            submit(store, DANA, draft.id)
            report = approve(store, CASEY, draft.id, note="checked")
            store.schedule_sensitive_deletion(
                CASEY, "compas-logged", delete_at=datetime.now(UTC) + timedelta(days=200),
                reason="needed to re-audit after the next model release")
            yield Registered(store, home, report)


def _statuses(findings: object) -> dict[str, str]:
    return {f.requirement.id: f.status for f in findings}  # type: ignore[attr-defined]


def test_pack_of_a_registered_system(registered: Registered, tmp_path: Path) -> None:
    store = registered.store
    before = len(store.log_entries())
    pack = build_evidence_pack(store, CASEY, "compas-logged", release="2026.12",
                               out=tmp_path / "pack.zip", distribution_date=date(2026, 1, 5))
    status = _statuses(pack.findings)
    assert set(status) == IDS and set(status.values()) <= set(STATUSES)
    for rid in ("ll144:5-301(b)", "ll144:5-301(b)(intersectional)", "ll144:5-301(b)(unknown)",
                "ll144:5-301(d)", "ll144:20-871(a)(1)", "ll144:5-303", "eu-ai-act:10(2)(f)",
                "eu-ai-act:10(5)(c)", "eu-ai-act:10(5)(e)", "eu-ai-act:10(5)(f)",
                "eu-ai-act:12(1)", "eu-ai-act:26(6)", "nist-ai-rmf:MEASURE 2.11",
                "nist-ai-rmf:MEASURE 1.3", "iso42001:A.7.5"):
        assert status[rid] == "met", rid
    # Nobody reviewed a decision and nothing runs live: those gaps are named.
    for rid in ("eu-ai-act:14(4)(d)", "eu-ai-act:14(4)(e)", "eu-ai-act:26(2)"):
        assert status[rid] == "not_met", rid
    entry = store.log_entries(1)[0]
    assert len(store.log_entries()) == before + 1
    assert (entry.action, entry.payload["sha256"]) == ("evidence_pack", pack.sha256)
    members = read_archive(pack.path.read_bytes())
    assert {"report/report.pdf", "report/report.html", "report/report.json",
            "audit/config.json", "log/checkpoints.jsonl", "data/sensitive-register.json",
            "retention/retention.json", "ll144/summary.pdf", "crosswalk.json",
            "iso42001-soa.json"} <= set(members)
    # The summary in the pack is the one made from the approved report.
    summary = ll144_summary(store, registered.report.id, distribution_date=date(2026, 1, 5))
    assert members["ll144/summary.html"].decode() == render_ll144_html(summary)
    register = json.loads(members["data/sensitive-register.json"])
    assert register["location"] == "apart" and register["versions"][0]["purged_at"] is None
    assert register["deletion"]["reason"] == "needed to re-audit after the next model release"
    assert datetime.fromisoformat(register["deletion"]["delete_at"]) > datetime.now(UTC)
    crosswalk = json.loads(members["crosswalk.json"])
    assert [r["id"] for r in crosswalk["requirements"]] == [r.id for r in REQUIREMENTS]
    assert verify_evidence_pack(pack.path).ok


def test_time_turns_requirements_into_gaps(registered: Registered, tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(days=400)
    pack = build_evidence_pack(registered.store, CASEY, "compas-logged", release="later",
                               out=tmp_path / "later.zip", now=later)
    status = _statuses(pack.findings)
    assert status["ll144:20-871(a)(1)"] == "not_met"  # the audit is over a year old
    assert status["eu-ai-act:10(5)(e)"] == "not_met"  # the deletion date has passed
    assert status["ll144:5-303"] == "not_met"  # no distribution date given
    why = {f.requirement.id: f.why for f in pack.findings}
    assert "days old" in why["ll144:20-871(a)(1)"] and "was due" in why["eu-ai-act:10(5)(e)"]


def test_out_of_scope_frameworks_are_not_applicable_with_the_reason(
        registered: Registered, tmp_path: Path) -> None:
    pack = build_evidence_pack(registered.store, CASEY, "compas-logged", release="r2",
                               out=tmp_path / "p.zip",
                               out_of_scope={"ll144": "not an employment tool"})
    ll144 = [f for f in pack.findings if f.requirement.framework == "ll144"]
    assert ll144 and all(f.status == "not_applicable" for f in ll144)
    assert all("not an employment tool" in f.why for f in ll144)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"release": "r 1"}, ValueError, MSG_BAD_RELEASE.split("{")[0]),
    ({"release": ""}, ValueError, "release must be"),
    ({"system": "nope"}, LookupError, "no system named 'nope'"),
    ({"version": 9}, LookupError, "has no version 9"),
    ({"out_of_scope": {"gdpr": "x"}}, ValueError, "out-of-scope framework 'gdpr'"),
    ({"actor": DANA}, PermissionDenied, "may not build an evidence pack"),
])
def test_bad_requests_write_no_pack_and_log_nothing(
        registered: Registered, tmp_path: Path, kwargs: dict[str, object],
        error: type[Exception], message: str) -> None:
    store = registered.store
    before = len(store.log_entries())
    values: dict[str, object] = {"actor": CASEY, "system": "compas-logged", "release": "r1"}
    values.update(kwargs)
    actor, system = values.pop("actor"), values.pop("system")
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_evidence_pack(store, actor, system, out=tmp_path / "p.zip",  # type: ignore[arg-type]
                            **values)  # type: ignore[arg-type]
    assert not (tmp_path / "p.zip").exists() and list(tmp_path.iterdir()) == []
    assert len(store.log_entries()) == before


def test_any_changed_byte_fails_verification(registered: Registered, tmp_path: Path) -> None:
    pack = build_evidence_pack(registered.store, CASEY, "compas-logged", release="bytes",
                               out=tmp_path / "p.zip")
    data = pack.path.read_bytes()
    assert verify_archive(data).ok
    # Every byte of the ZIP's structure (the first member's header, the manifest and the
    # signature, and the central directory at the end) and evenly spaced bytes of the rest.
    positions = set(range(0, 4096)) | set(range(len(data) - 4096, len(data)))
    positions |= set(range(0, len(data), max(1, len(data) // 500)))
    for i in sorted(positions):
        changed = bytearray(data)
        changed[i] ^= 0x01
        assert not verify_archive(bytes(changed)).ok, f"byte {i} changed and still verified"
    assert not verify_archive(data[:-1]).ok and not verify_archive(data + b"\0").ok
    # A member replaced by a well-formed archive with the same names fails on its hash.
    members = read_archive(data)
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body.replace(b"met", b"MET") if name == "crosswalk.json"
                             else body)
    result = verify_evidence_pack(forged)
    assert not result.ok
    failed = {c for c, ok, _ in result.checks if not ok}
    assert failed == {"canonical", "files"}


def test_a_pack_signed_by_another_key_fails_the_fingerprint(registered: Registered,
                                                            tmp_path: Path) -> None:
    pack = build_evidence_pack(registered.store, CASEY, "compas-logged", release="key",
                               out=tmp_path / "p.zip")
    assert verify_evidence_pack(pack.path, expected_fingerprint="00" * 32).ok is False
    own = registered.store.pinned_key()
    assert own is not None
    assert verify_evidence_pack(pack.path, expected_fingerprint=own.fingerprint).ok
