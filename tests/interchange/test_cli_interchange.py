"""``fairpanel queue export`` and ``fairpanel ratings import`` at the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from interchange_support import FIXTURES, ImportingStore, queued_audit

import audits.store
from audits.cli import interchange as cli_interchange
from audits.cli.command import main
from audits.cli.common import EXIT_OK, EXIT_USAGE
from audits.interchange import stored


@pytest.fixture
def run_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    url = f"sqlite:///{tmp_path / 'fairpanel.db'}"
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", url)
    # Until repository.py joins ImportOps, the command's store is given the import methods.
    monkeypatch.setattr(audits.store, "Store", ImportingStore)
    with ImportingStore(url) as store:
        yield queued_audit(store, 3)[0]


def _run(argv: list[str]) -> int:
    return main(argv)


def test_formats_of_the_parser_are_the_engine_s() -> None:
    assert cli_interchange.EXPORT_FORMATS == stored.EXPORT_FORMATS
    assert cli_interchange.IMPORT_FORMATS == stored.IMPORT_FORMATS


def test_queue_export_writes_tasks_and_config(run_id: int, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tasks.json"
    code = _run(["queue", "export", "--audit", str(run_id), "--format", "labelstudio",
                 "--out", str(out), "--json", "-"])
    assert code == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result == {"audit_run_id": run_id, "format": "labelstudio",
                      "files": [str(out), str(tmp_path / "tasks.label_config.xml")],
                      "n_cases": 3, "blind": True}
    assert len(json.loads(out.read_text())) == 3
    code = _run(["queue", "export", "--audit", str(run_id), "--format", "csv",
                 "--out", str(tmp_path / "no" / "q.csv")])
    assert code == EXIT_USAGE
    assert "folder" in capsys.readouterr().err


def test_ratings_import_json_contract_and_idempotence(run_id: int, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    file = FIXTURES / "labelstudio_export.json"
    argv = ["ratings", "import", str(file), "--audit", str(run_id), "--format",
            "labelstudio", "--json", "-"]
    assert _run(argv) == EXIT_OK
    first = json.loads(capsys.readouterr().out)
    assert first == {"audit_run_id": run_id, "format": "labelstudio",
                     "file": "labelstudio_export.json", "n_ratings_added": 7,
                     "n_already_present": 0,
                     "reviewers_created": ["ana.lopez@example.org", "ben.okafor@example.org",
                                           "cara.nilsen@example.org"],
                     "skipped": [{"row": "task 101, annotation 1003",
                                  "reason": "cancelled (skipped) in Label Studio"}]}
    assert _run(argv) == EXIT_OK
    again = json.loads(capsys.readouterr().out)
    assert (again["n_ratings_added"], again["n_already_present"],
            again["reviewers_created"]) == (0, 7, [])


def test_ratings_import_rejects_bad_rows_with_exit_2(run_id: int, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("case_id,reviewer,label\n1,ana,1\n999,ana,1\n2,,0\n")
    argv = ["ratings", "import", str(path), "--audit", str(run_id), "--format", "long"]
    assert _run(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "2 row(s) of bad.csv cannot be placed" in err
    assert "line 3: case 999 does not exist" in err and "line 4: no annotator" in err
    assert _run([*argv, "--skip-bad"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 rating(s) added" in out and "skipped line 3: case 999 does not exist" in out
