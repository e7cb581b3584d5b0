"""``fairpanel queue``, ``ingest`` and ``monitor``: the JSON contracts and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audits.cli import command as cli
from audits.demo.queue import weekly_batches

QUEUE_KEYS = {"audit_run_id", "policy", "n_cases", "by_reason", "by_group",
              "flagged_by_reason", "cases"}
CASE_KEYS = {"case_id", "row_key", "batch_id", "rank", "priority", "primary_reason",
             "reasons", "subject_group"}
INGEST_KEYS = {"audit_run_id", "batch_id", "label", "sha256", "created", "n_rows", "n_cases",
               "alerts"}
MONITOR_KEYS = {"audit_run_id", "batches", "history", "window_history", "alerts",
                "alerting", "status"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'fairpanel.db'}")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [["queue"], ["queue", "build"], ["queue", "show"],
                                  ["ingest"], ["monitor"]], ids=" ".join)
def test_every_queue_command_has_help(argv: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0 and "usage: fairpanel" in capsys.readouterr().out


def test_queue_ingest_monitor_round_trip(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "queue", "build", "--dataset", "synthetic", "--budget", "40",
                         "--json", "-")
    assert code == 0, err
    queue = json.loads(out)
    assert set(queue) == QUEUE_KEYS and queue["n_cases"] == 40 == len(queue["cases"])
    assert set(queue["cases"][0]) == CASE_KEYS
    assert sum(queue["by_reason"].values()) == 40 and queue["policy"]["budget"] == 40
    assert "%" in err  # the progress bar went to stderr
    audit = str(queue["audit_run_id"])

    batch = home / "week1.csv"
    weekly_batches(1, rows=500)[0][3].to_csv(batch, index=False)
    code, out, err = run(capsys, "ingest", str(batch), "--audit", audit, "--label", "week 1",
                         "--period-start", "2026-11-02", "--period-end", "2026-11-08",
                         "--json", "-")
    assert code == 0, err
    first = json.loads(out)
    assert set(first) == INGEST_KEYS and first["created"] and first["n_rows"] == 500
    code, out, _ = run(capsys, "ingest", str(batch), "--audit", audit, "--json", "-")
    again = json.loads(out)
    assert code == 0 and not again["created"] and again["batch_id"] == first["batch_id"]
    code, out, _ = run(capsys, "ingest", str(batch), "--audit", audit)
    assert "already ingested; nothing added" in out

    code, out, _ = run(capsys, "monitor", "--audit", audit, "--json", "-")
    monitor = json.loads(out)
    assert code == 0 and set(monitor) == MONITOR_KEYS
    assert [b["label"] for b in monitor["batches"]] == ["week 1"]
    assert set(monitor["history"]["label"]) == {"baseline", "week 1"}
    assert monitor["alerting"] == {"based_on": "window", "window": 4, "hold": 2}
    assert {"metric", "group", "state", "since_label", "note"} <= set(monitor["status"][0])
    code, out, _ = run(capsys, "monitor", "--audit", audit)
    opened = sum(s["state"] == "open" for s in monitor["status"])
    assert code == 0 and f"{len(monitor['alerts'])} alert(s), {opened} open" in out
    assert out.count("\nOPEN ") == opened

    code, out, _ = run(capsys, "queue", "show", "--audit", audit, "--json", "-")
    shown = json.loads(out)
    assert shown["n_cases"] == 40 + first["n_cases"]


def test_a_malformed_batch_exits_2_naming_rows(home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queue", "build", "--dataset", "synthetic", "--budget", "20",
                       "--json", "-")
    audit = str(json.loads(out)["audit_run_id"])
    frame = weekly_batches(1, rows=50)[0][3]
    frame["approval_score"] = frame["approval_score"].astype(object)
    frame.loc[[3, 11], "approval_score"] = "high"
    path = home / "bad.csv"
    frame.to_csv(path, index=False)
    code, _, err = run(capsys, "ingest", str(path), "--audit", audit)
    assert code == 2
    assert "batch rejected, nothing stored" in err
    assert "column 'approval_score' is not a number at rows 4, 12" in err
    code, out, _ = run(capsys, "monitor", "--audit", audit, "--json", "-")
    assert json.loads(out)["batches"] == []


def test_unknown_audit_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "queue", "show", "--audit", "99")
    assert code == 2 and "audit run 99 has no review queue" in err
    code, _, err = run(capsys, "queue", "build", "--audit", "99")
    assert code == 2 and "no audit run with id 99" in err
