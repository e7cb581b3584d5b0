"""``fairpanel systems add|list|show|purge-sensitive`` and ``audit --system --save``.

The oracles are independent of fairpanel: the row count and the match counts come from
pandas on the files written, the sha256 from ``hashlib`` on the stored Parquet file, and
the audit's selection rates from the decisions joined to the demographics by hand.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from own_system_support import OwnSystem, fairpanel, fairpanel_json, write_system

from audits.store import Store
from audits.store.db import data_dir

JSON_ADD = {"system", "version", "sha256", "rows", "dataset_id", "model_id", "created"}


@pytest.fixture
def store_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store (SQLite file or PostgreSQL schema) in a fresh FAIRPANEL_HOME."""
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    return database_url


@pytest.fixture
def system(tmp_path: Path) -> OwnSystem:
    return write_system(tmp_path, n=900)


def _add(capsys: pytest.CaptureFixture[str], system: OwnSystem, *extra: str) -> Any:
    result = fairpanel_json(
        capsys, "systems", "add", "credit", "--data", str(system.decisions),
        "--id", "applicant_id", "--target", "repaid", "--prediction", "approved",
        "--sensitive", "sex", "--sensitive", "age_band",
        "--sensitive-data", str(system.demographics), "--join", "applicant_id",
        "--model", str(system.model), "--description", "credit approvals",
        "--json", "-", *extra)
    assert isinstance(result, dict)
    return result


def test_add_is_idempotent_and_new_data_is_a_new_version(
        store_url: str, system: OwnSystem, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    first = _add(capsys, system)
    assert set(first) >= JSON_ADD and first["created"] is True
    assert (first["system"], first["version"], first["rows"]) == ("credit", 1,
                                                                  len(system.frame))
    stored = data_dir() / "data" / f"{first['sha256']}.parquet"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == first["sha256"]
    matched = system.frame.merge(system.sensitive, on="applicant_id")
    assert first["sensitive"]["n_matched"] == len(matched)
    assert first["sensitive"]["n_unmatched_data"] == 0
    again = _add(capsys, system)
    assert again["created"] is False
    assert (again["version"], again["sha256"]) == (1, first["sha256"])
    fewer = tmp_path / "fewer.csv"
    system.frame.iloc[:-10].to_csv(fewer, index=False)
    second = fairpanel_json(
        capsys, "systems", "add", "credit", "--data", str(fewer), "--id", "applicant_id",
        "--target", "repaid", "--prediction", "approved", "--sensitive", "sex",
        "--sensitive-data", str(system.demographics), "--min-match", "0.5", "--json", "-")
    assert isinstance(second, dict)
    assert (second["version"], second["rows"], second["created"]) == (2, len(system.frame)
                                                                      - 10, True)
    assert second["model_id"] is None and second["sensitive"]["n_unmatched_sensitive"] == 10
    listed = fairpanel_json(capsys, "systems", "list", "--json")
    assert isinstance(listed, list) and [s["name"] for s in listed] == ["credit"]
    assert (listed[0]["versions"], listed[0]["latest_version"]) == (2, 2)
    shown = fairpanel_json(capsys, "systems", "show", "credit", "--json")
    assert isinstance(shown, dict) and set(shown) == {"system", "versions", "card"}
    assert shown["system"]["description"] == "credit approvals"
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert [len(v["models"]) for v in shown["versions"]] == [1, 0]
    assert shown["card"] and "sex" in shown["card"]


def test_audit_system_save_keeps_the_stateless_contract_and_adds_the_run(
        store_url: str, system: OwnSystem, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _add(capsys, system)
    stored = fairpanel_json(capsys, "audit", "--system", "credit", "--save",
                            "--sensitive", "sex", "--n-boot", "50", "--json", "-")
    # The stateless audit of the same decisions, joined by hand: the same contract.
    joined = tmp_path / "joined.csv"
    frame = system.frame.merge(system.sensitive, on="applicant_id")
    frame.to_csv(joined, index=False)
    stateless = fairpanel_json(capsys, "audit", str(joined), "--target", "repaid",
                               "--prediction", "approved", "--sensitive", "sex",
                               "--n-boot", "50", "--json", "-")
    assert isinstance(stored, dict) and isinstance(stateless, dict)
    # A stored audit adds its run, and says where its counts were made (in memory).
    assert set(stored) == set(stateless) | {"audit_run_id", "aggregation"}
    assert stored["aggregation"]["backend"] == "pandas"
    assert stored["aggregation"]["queries"] == [] and stored["aggregation"]["source"]
    assert stored["rows"] == len(frame)
    rates = frame.groupby("sex")["approved"].mean()
    for group in stored["groups"]:
        expected = rates[group["attributes"]["sex"]]
        assert group["metrics"]["selection_rate"]["value"] == pytest.approx(expected)
    with Store(store_url) as store:
        run = store.get_audit_run(int(stored["audit_run_id"]))
        assert run is not None and run.status == "completed" and run.model_id is not None
    again = fairpanel_json(capsys, "audit", "--system", "credit", "--save",
                           "--sensitive", "sex", "--n-boot", "50", "--json", "-")
    assert isinstance(again, dict) and again["audit_run_id"] == stored["audit_run_id"]
    code, out, err = fairpanel(capsys, "audit", "--system", "credit", "--save",
                               "--sensitive", "sex", "--n-boot", "50",
                               "--fail-on", "impact_ratio<0.99")
    assert code in (0, 1) and "gate 'impact_ratio<0.99'" in err
    assert f"audit run {stored['audit_run_id']}" in out


def test_purge_sensitive_then_audits_say_the_data_are_gone(
        store_url: str, system: OwnSystem, capsys: pytest.CaptureFixture[str]) -> None:
    added = _add(capsys, system)
    purged = fairpanel_json(capsys, "systems", "purge-sensitive", "credit", "--reason",
                            "bias detection finished", "--json")
    assert isinstance(purged, dict) and purged["versions"] == [1]
    assert purged["purged_by"] == "system:cli"
    assert not (data_dir() / "sensitive" / f"{added['sensitive']['sha256']}.parquet").exists()
    code, _, err = fairpanel(capsys, "audit", "--system", "credit", "--save", "--n-boot",
                             "20", "--sensitive", "sex")
    assert code == 2 and "purged" in err and "credit" in err
    shown = fairpanel_json(capsys, "systems", "show", "credit", "--json")
    assert isinstance(shown, dict) and shown["versions"][0]["sensitive_purged_at"]


@pytest.mark.parametrize(("argv", "message"), [
    (["systems", "add", "x", "--id", "i", "--target", "t", "--prediction", "p",
      "--sensitive", "s"], "give --data PATH or --sql URL"),
    (["systems", "add", "x", "--sql", "sqlite://", "--id", "i", "--target", "t",
      "--prediction", "p", "--sensitive", "s"], "--sql URL needs --table T or --query Q"),
    (["systems", "add", "x", "--data", "d.csv", "--id", "i", "--target", "t",
      "--sensitive", "s"], "give --prediction COL, or --score COL with --threshold T"),
    (["systems", "add", "x", "--data", "d.csv", "--id", "i", "--target", "t",
      "--prediction", "p", "--sensitive", "s", "--join", "i"],
     "--join names the id column of --sensitive-data"),
    (["systems", "show", "nope"], "no system named 'nope'"),
    (["audit", "--save", "compas"], "--save stores an audit of a registered system"),
    (["audit", "--system", "credit"], "add --save"),
    (["audit", "--system", "credit", "--save", "--target", "y"],
     "--target was fixed when system 'credit' was registered"),
    (["audit", "compas", "--system", "credit", "--save"], "give DATA or --system NAME"),
    (["audit"], "give DATA (a bundled dataset, a file or a Parquet glob), --sql URL"),
    (["audit", "compas", "--version", "2"], "--version goes with --system NAME"),
    (["audit", "--system", "nope", "--save"], "nope"),
])
def test_bad_usage_exits_2_naming_it(argv: list[str], message: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    code, _, err = fairpanel(capsys, *argv)
    assert code == 2 and message in err, err


def test_the_data_read_is_the_file_given(store_url: str, system: OwnSystem,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    added = _add(capsys, system)
    stored = pd.read_parquet(data_dir() / "data" / f"{added['sha256']}.parquet")
    assert sorted(stored.columns) == sorted(system.frame.columns)
    assert stored["applicant_id"].tolist() == system.frame["applicant_id"].tolist()
    assert "sex" not in stored.columns  # the sensitive data stay apart


#: Every key of the new ``--json`` contracts, by the section of docs/json-contracts.md
#: that documents them.
DOCUMENTED = {
    "## systems": JSON_ADD | {"sensitive", "n_matched", "n_unmatched_data",
                              "n_unmatched_sensitive", "match_rate", "latest_version",
                              "latest_rows", "latest_sha256", "versions", "card", "models",
                              "sensitive_purged_at", "sensitive_purged_by", "sha256s",
                              "purged_at", "purged_by", "reason"},
    "## explain": {"audit_run_id", "explanation_run_id", "importances", "groups", "gaps",
                   "proxies", "proxy_rule", "counterfactual", "counterfactual_notes",
                   "provenance", "mean_abs_shap", "ci_low", "ci_high", "contribution",
                   "output_gap", "flip_rate", "with_proxies"},
    "## panel add, assign and analyse": {"reviewer_id", "username", "capacity", "expertise",
                                         "background", "overlap", "n_new", "n_cases",
                                         "unfilled_cases", "mean_diversity", "assignments",
                                         "workload", "attribute", "n_ratings",
                                         "n_reviewers", "simulated_share", "agreement",
                                         "reviewers"},
    "## report draft, submit, approve and return": {"report_id", "status"},
    "## `fairpanel audit --json`": {"audit_run_id"},
}


@pytest.mark.parametrize("heading", list(DOCUMENTED))
def test_json_contracts_document_every_key(heading: str) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "json-contracts.md").read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else None]
    missing = sorted(k for k in DOCUMENTED[heading] if f'"{k}"' not in section)
    assert not missing, f"docs/json-contracts.md {heading} does not name {missing}"
