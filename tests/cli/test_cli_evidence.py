"""``fairpanel evidence`` on the demo: every requirement listed with its status, the pack
verified, and refused after any byte changes; bad arguments exit 2 naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from own_system_support import fairpanel, fairpanel_refused

from audits.evidence.crosswalk import STATUSES
from audits.evidence.requirements import REQUIREMENTS
from audits.roles import Actor
from audits.store import Store


def test_the_command_on_the_demo(demo_templates: object, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    copy = demo_templates.copy(tmp_path / "home")  # type: ignore[attr-defined]
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    system = copy.demo.state.dataset.name
    # The demo records a training for every reviewer but the last two.
    with Store(copy.url) as store:
        run = copy.demo.queues.queue.audit_run.id
        raters = sorted({r["username"] for r in store.oversight_rows(Actor.system(), run)
                         if r["touch"] == "rating"})
        trained = {q.username for q in store.qualifications(Actor.system())}
    untrained = [name for name in raters if name not in trained]
    assert len(untrained) == 2
    code, stdout, _ = fairpanel(capsys, "evidence", "oversight", system, "--json")
    record = json.loads(stdout)
    assert record["summary"]["unqualified_reviews"] == sum(
        t["username"] in untrained for t in record["touches"] if t["touch"] != "adjudication")
    out = tmp_path / "pack.zip"
    code, stdout, _ = fairpanel(capsys, "evidence", system, "--release", "demo-1", "--out",
                                str(out), "--json")
    assert code == 0
    result = json.loads(stdout)
    assert [r["id"] for r in result["requirements"]] == [r.id for r in REQUIREMENTS]
    assert all(r["status"] in STATUSES and r["why"] for r in result["requirements"])
    assert result["counts"]["met"] + result["counts"]["not_met"] + \
        result["counts"]["not_applicable"] == len(REQUIREMENTS)
    # The demo's simulated panel reviewed its flagged decisions.
    status = {r["id"]: r["status"] for r in result["requirements"]}
    assert status["eu-ai-act:14(4)(d)"] == "met" and status["eu-ai-act:14(4)(b)"] == "met"
    why = {r["id"]: r["why"] for r in result["requirements"]}
    assert status["eu-ai-act:26(2)"] == "not_met"
    assert why["eu-ai-act:26(2)"].startswith(f"2 of {len(raters)} reviewer(s)")
    assert why["eu-ai-act:26(2)"].endswith(", ".join(untrained))
    # The panel lead records the missing trainings, dated before the reviews: closed.
    for name in untrained:
        code, _, _ = fairpanel(capsys, "panel", "qualify", name, "--kind", "training",
                               "--title", "Credit review course", "--completed", "2026-01-15",
                               "--evidence", f"certificate {name}")
        assert code == 0
    code, stdout, _ = fairpanel(capsys, "panel", "qualifications", "--json")
    listed = json.loads(stdout)
    assert [q["username"] for q in listed][-2:] == untrained
    assert listed[-1]["completed_at"] == "2026-01-15T00:00:00+00:00"
    code, err = fairpanel_refused(capsys, "panel", "qualify", untrained[0], "--kind",
                                  "training", "--title", "x", "--completed", "15/01/2026")
    assert code == 2 and "--completed takes YYYY-MM-DD" in err
    code, stdout, _ = fairpanel(capsys, "evidence", system, "--release", "demo-2", "--out",
                                str(tmp_path / "pack2.zip"), "--json")
    again = {r["id"]: r["status"] for r in json.loads(stdout)["requirements"]}
    assert again["eu-ai-act:26(2)"] == "met" and again["iso42001:A.4.6"] == "met"
    code, stdout, _ = fairpanel(capsys, "evidence", "verify", str(out), "--json")
    assert code == 0 and json.loads(stdout)["ok"] is True
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x20
    out.write_bytes(bytes(data))
    code, stdout, _ = fairpanel(capsys, "evidence", "verify", str(out))
    assert code == 1 and "FAILED" in stdout
    code, err = fairpanel_refused(capsys, "evidence", "verify", str(tmp_path / "none.zip"))
    assert code == 2 and "no evidence pack at" in err
    code, err = fairpanel_refused(capsys, "evidence", system, "--release", "r1", "--out",
                                  str(tmp_path / "x.zip"), "--out-of-scope", "gdpr=x")
    assert code == 2 and "--out-of-scope takes FRAMEWORK=REASON" in err
