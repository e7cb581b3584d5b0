"""``fairpanel report``: export an audit's report and verify the file, from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from audits.cli import command as cli
from audits.demo.default import ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.reports.stored import approve, draft_report, submit
from audits.roles import Actor, Role
from audits.store import Store

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
COMPLIANCE = Actor("casey", Role.COMPLIANCE_OFFICER)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_verify_then_tamper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fairpanel.db'}"
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", url)
    with Store(url) as store:
        state = ensure_demo(store, dataset="compas")
        audit = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=100)
    draft_path = tmp_path / "draft.json"
    code, out, err = run(capsys, "report", str(audit.id), "--format", "json", "--out",
                         str(draft_path))
    assert code == 0, err
    assert "draft report of audit run" in out
    code, out, _ = run(capsys, "report", "verify", str(draft_path))
    assert code == 1 and "not approved" in out
    with Store(url) as store:
        report = draft_report(store, SCIENTIST, audit.id)
        submit(store, SCIENTIST, report.id)
        store.add_user(Actor.system(), COMPLIANCE.username, COMPLIANCE.role)
        approve(store, COMPLIANCE, report.id, note="checked")
    paths = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "html", "pdf")}
    for fmt, path in paths.items():
        code, out, err = run(capsys, "report", str(audit.id), "--format", fmt, "--out",
                             str(path))
        assert code == 0, err
        assert out.startswith("approved report of audit run")
        code, out, err = run(capsys, "report", "verify", str(path))
        assert code == 0, out + err
        assert "FAIL" not in out and "report verified" in err
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert json.loads(paths["json"].read_text())["signoff"]["approved_by"] == "casey"
    # Any stored number behind the approved report edited: verification fails.
    with Store(url) as store, store.engine.begin() as conn:
        results = json.loads(conn.execute(text("SELECT results_json FROM audit_runs "
                                               "WHERE id = :i"), {"i": audit.id}).scalar())
        results["groups"][0]["metrics"]["false_positive_rate"]["value"] = 0.01
        conn.execute(text("UPDATE audit_runs SET results_json = :r WHERE id = :i"),
                     {"r": json.dumps(results), "i": audit.id})
    for path in paths.values():
        code, out, _ = run(capsys, "report", "verify", str(path))
        assert code == 1 and "FAIL" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "verify"], "give AUDIT_ID (with --format and --out) or 'verify PATH'"),
    (["report", "7"], "give AUDIT_ID (with --format and --out) or 'verify PATH'"),
    (["report", "seven", "--out", "x.pdf"], "AUDIT_ID must be a number; got 'seven'"),
])
def test_bad_usage_exits_2(argv: list[str], message: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err
