"""``fairpanel evidence`` on the demo: every requirement listed with its status, the pack
verified, and refused after any byte changes; bad arguments exit 2 naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from own_system_support import fairpanel, fairpanel_refused

from audits.evidence.crosswalk import STATUSES
from audits.evidence.requirements import REQUIREMENTS


def test_the_command_on_the_demo(demo_templates: object, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    copy = demo_templates.copy(tmp_path / "home")  # type: ignore[attr-defined]
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    system = copy.demo.state.dataset.name
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
