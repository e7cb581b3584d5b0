"""``fairpanel explain AUDIT_ID``: the stored explanations of a registered system.

Checked by properties that do not come from the code under test: every group's mean
|SHAP| lies in its interval, each gap decomposition adds up to the gap of mean outputs it
decomposes, a flip rate is flips over rows, the explained features are the model's own;
the same request twice reuses the stored run. A system of logged decisions has no model:
exit 2, saying so.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from own_system_support import OwnSystem, fairpanel, fairpanel_json, write_system

from audits.models.files import load_model

EXPLAIN_KEYS = {"audit_run_id", "explanation_run_id", "rows", "threshold", "positive_label",
                "sensitive_features", "importances", "groups", "gaps", "proxies",
                "proxy_rule", "counterfactual", "counterfactual_notes", "provenance"}


@pytest.fixture
def system(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OwnSystem:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    return write_system(tmp_path, n=800)


def _register(capsys: pytest.CaptureFixture[str], system: OwnSystem, *model: str) -> int:
    code, _, err = fairpanel(capsys, "systems", "add", "credit", "--data",
                             str(system.decisions), "--id", "applicant_id", "--target",
                             "repaid", "--prediction", "approved", "--sensitive", "sex",
                             "--sensitive-data", str(system.demographics), *model)
    assert code == 0, err
    audit = fairpanel_json(capsys, "audit", "--system", "credit", "--save", "--n-boot", "20",
                           "--json", "-")
    assert isinstance(audit, dict)
    return int(audit["audit_run_id"])


def test_explain_json_contract_and_its_invariants(system: OwnSystem,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    audit_id = _register(capsys, system, "--model", str(system.model))
    result = fairpanel_json(capsys, "explain", str(audit_id), "--rows", "300", "--json", "-")
    assert isinstance(result, dict) and set(result) == EXPLAIN_KEYS
    assert result["audit_run_id"] == audit_id and result["sensitive_features"] == ["sex"]
    features = list(load_model(system.model).feature_names_in_)
    assert {r["feature"] for r in result["importances"]} == set(features)
    assert {g["group"] for g in result["groups"]} == {"female", "male"}
    for row in result["importances"]:
        assert row["ci_low"] - 1e-12 <= row["mean_abs_shap"] <= row["ci_high"] + 1e-12
        assert row["n_rows"] <= 300
    contributions: dict[tuple[str, str], float] = defaultdict(float)
    gaps = {}
    for row in result["gaps"]:
        pair = (row["group"], row["reference_group"])
        contributions[pair] += row["contribution"]
        gaps[pair] = row["output_gap"]
    assert set(gaps) == {("female", "male"), ("male", "female")}
    for pair, total in contributions.items():
        assert total == pytest.approx(gaps[pair], abs=1e-6)
    for row in result["counterfactual"]:
        assert row["flip_rate"] == pytest.approx(row["n_flips"] / row["n_rows"])
    provenance = result["provenance"]
    assert provenance["model_sha256"] and provenance["dataset_sha256"]
    again = fairpanel_json(capsys, "explain", str(audit_id), "--rows", "300", "--json", "-")
    assert isinstance(again, dict)
    assert again["explanation_run_id"] == result["explanation_run_id"]  # stored, reused
    code, out, err = fairpanel(capsys, "explain", str(audit_id), "--rows", "300")
    assert code == 0, err
    assert "largest mean |SHAP| per group" in out and "likely proxies" in out
    code, _, err = fairpanel(capsys, "explain", str(result["explanation_run_id"]))
    assert code == 2 and "give the id of a fairness audit run" in err


def test_logged_decisions_have_no_model_to_explain(system: OwnSystem,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    audit_id = _register(capsys, system)
    code, _, err = fairpanel(capsys, "explain", str(audit_id))
    assert code == 2
    assert "explanations need a model" in err and "--model PATH.skops" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["explain", "99"], "no audit run with id 99"),
    (["explain", "1", "--rows", "3"], "--rows must be a whole number from 10"),
])
def test_bad_usage_exits_2(argv: list[str], message: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    code, _, err = fairpanel(capsys, *argv)
    assert code == 2 and message in err, err
