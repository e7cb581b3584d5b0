"""``fairpanel report draft|submit|approve|return``: the sign-off at the command line.

Each action authenticates ``--as USER`` by password and prints ``{"report_id",
"status"}``; the store keeps the separation of duties of the Reports page, so the author
cannot approve, and a wrong password decides nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from own_system_support import add_user, fairpanel, fairpanel_json

from audits.demo.default import ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.roles import Actor
from audits.store import Store

PASSWORDS = {"dana": "dana-password-1", "casey": "casey-password-1",
             "carl": "carl-password-1"}


@pytest.fixture
def audit_id(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> int:
    """A stored audit of the bundled COMPAS decisions, and three users with passwords."""
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    with Store(database_url) as store:
        state = ensure_demo(store, dataset="compas")
        run = run_fairness_audit(store, Actor.system(), state.dataset, None, n_boot=50)
    add_user(capsys, "dana", "data_scientist", PASSWORDS["dana"])
    add_user(capsys, "casey", "compliance_officer", PASSWORDS["casey"])
    add_user(capsys, "carl", "compliance_officer", PASSWORDS["carl"])
    return run.id


def _act(capsys: pytest.CaptureFixture[str], action: str, target: int, user: str,
         *extra: str) -> dict[str, object]:
    result = fairpanel_json(capsys, "report", action, str(target), "--as", user,
                            "--password-stdin", "--json", *extra,
                            stdin=PASSWORDS[user] + "\n")
    assert isinstance(result, dict) and set(result) == {"report_id", "status"}
    return result


def test_draft_submit_return_resubmit_approve(audit_id: int, database_url: str,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    drafted = _act(capsys, "draft", audit_id, "dana")
    report_id = int(str(drafted["report_id"]))
    assert drafted["status"] == "draft"
    assert _act(capsys, "submit", report_id, "dana")["status"] == "submitted"
    returned = _act(capsys, "return", report_id, "casey", "--comment", "name the data")
    assert returned["status"] == "returned"
    assert _act(capsys, "submit", report_id, "dana")["status"] == "submitted"
    # The author may not approve their own report: refused by the store, exit 2.
    code, _, err = fairpanel(capsys, "report", "approve", str(report_id), "--as", "dana",
                             "--password-stdin", stdin=PASSWORDS["dana"] + "\n")
    assert code == 2 and "dana" in err
    # A wrong password decides nothing.
    code, _, err = fairpanel(capsys, "report", "approve", str(report_id), "--as", "casey",
                             "--password-stdin", stdin="not-her-password\n")
    assert code == 2 and "could not authenticate 'casey'" in err
    approved = _act(capsys, "approve", report_id, "casey", "--note", "checked")
    assert approved == {"report_id": report_id, "status": "approved"}
    with Store(database_url) as store:
        record = store.get_report(report_id)
        assert record is not None and record.approved
        assert record.manifest is not None and record.manifest["approved_by"] == "casey"
        assert record.manifest["note"] == "checked"
        entries = [e for e in store.log_entries(limit=50) if e.action == "approve_report"]
        assert entries and entries[0].payload["authentication"]["via"] == "cli"
    # The export and verification of before still work on the approved report.
    out = tmp_path / "report.json"
    code, printed, err = fairpanel(capsys, "report", str(audit_id), "--format", "json",
                                   "--out", str(out))
    assert code == 0 and printed.startswith("approved report"), err
    code, _, err = fairpanel(capsys, "report", "verify", str(out))
    assert code == 0 and "report verified" in err


def test_text_output_names_the_report_and_its_status(audit_id: int,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fairpanel(capsys, "report", "draft", str(audit_id), "--as", "dana",
                               "--password-stdin", stdin=PASSWORDS["dana"] + "\n")
    assert code == 0, err
    assert f"of audit run {audit_id} is now draft (draft by dana)" in out


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["report", "draft", "x", "--as", "dana", "--password-stdin"], "pw\n",
     "AUDIT_ID must be a number; got 'x'"),
    (["report", "approve", "1", "--as", "casey", "--password-stdin"], "\n",
     "no password on standard input"),
    (["report", "return", "1", "--as", "casey", "--comment", " ", "--password-stdin"],
     "pw\n", "--comment must say why the report is returned"),
    (["report", "approve", "1", "--as", "casey"], "", "must be authenticated to decide"),
])
def test_bad_usage_exits_2(argv: list[str], stdin: str, message: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    code, _, err = fairpanel(capsys, *argv, stdin=stdin)
    assert code == 2 and message in err, err


def test_report_without_action_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = fairpanel(capsys, "report")
    assert code == 2 and "draft" in out and "approve" in out and "verify" in out
