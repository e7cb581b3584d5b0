"""``fairpanel audit``: the JSON contract, the ProPublica finding, the CI gate, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audits.cli import command as cli
from audits.data.datasets import load_dataset


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _group(result: dict[str, object], **attributes: str) -> dict[str, object]:
    groups = result["groups"]
    assert isinstance(groups, list)
    return next(g for g in groups if g["attributes"] == attributes)


def test_compas_reproduces_propublicas_false_positive_finding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "audit", "compas", "--target", "two_year_recid",
                       "--prediction", "high_risk", "--sensitive", "race",
                       "--reference", "race=Caucasian", "--n-boot", "400", "--json", "-")
    assert code == 0
    result = json.loads(out)
    assert result["rows"] == 6172
    black = _group(result, race="African-American")["metrics"]["false_positive_rate"]
    white = _group(result, race="Caucasian")["metrics"]["false_positive_rate"]
    # Of defendants who did not reoffend within two years, 641 of 1,514 Black and 282 of
    # 1,281 white defendants were rated medium/high risk (pandas oracle below):
    # ProPublica's "nearly twice as likely" finding.
    frame = load_dataset("compas").frame
    for race, value in (("African-American", black), ("Caucasian", white)):
        negatives = frame[(frame["race"] == race) & (frame["two_year_recid"] == 0)]
        assert value["value"] == pytest.approx(negatives["high_risk"].mean(), abs=1e-12)
    assert black["value"] == pytest.approx(641 / 1514, abs=1e-12)
    assert white["value"] == pytest.approx(282 / 1281, abs=1e-12)
    assert black["ci_low"] > white["ci_high"]
    fpr = next(d for d in result["disparities"]
               if d["metric"] == "false_positive_rate"
               and d["attributes"] == {"race": "African-American"})
    assert fpr["reference"] == {"race": "Caucasian"}
    assert fpr["difference"]["ci_low"] > 0.15
    assert fpr["ratio"]["value"] == pytest.approx((641 / 1514) / (282 / 1281), rel=1e-9)
    assert fpr["p_adjusted"] < 1e-6 and fpr["verdict"] == "fail"


def test_json_contract_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "german_credit", "--n-boot", "50", "--json", "-")
    assert code == 0
    result = json.loads(out)
    assert {"rows", "groups", "disparities"} <= set(result)
    group = result["groups"][0]
    assert set(group) >= {"attributes", "n", "metrics"}
    assert set(group["metrics"]["selection_rate"]) == {"value", "ci_low", "ci_high"}
    for name in ("selection_rate", "true_positive_rate", "false_positive_rate",
                 "false_negative_rate", "true_negative_rate", "precision", "accuracy",
                 "balanced_accuracy", "roc_auc"):
        assert name in group["metrics"], name
    d = next(x for x in result["disparities"] if x["metric"] == "selection_rate")
    assert set(d) >= {"metric", "attributes", "reference", "difference", "ratio", "p_value",
                      "p_adjusted", "verdict", "min_detectable_difference"}
    assert 0 < d["min_detectable_difference"] < 1
    assert d["verdict"] in {"pass", "fail", "insufficient_evidence"}
    prevalence = [x for x in result["disparities"] if x["metric"] == "prevalence"]
    assert prevalence and all(x["verdict"] is None for x in prevalence)
    assert any(len(g["attributes"]) == 3 for g in result["groups"])  # intersections


def test_fail_on_gate_sets_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["audit", "compas", "--sensitive", "race", "--n-boot", "200"]
    code, _, err = run(capsys, *args, "--fail-on", "impact_ratio<0.8")
    assert code == 1 and "impact_ratio<0.8" in err
    code, _, _ = run(capsys, *args, "--fail-on", "impact_ratio<0.01")
    assert code == 0


def test_user_file_with_string_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({
        "outcome": ["good", "bad"] * 50, "decision": ["good"] * 60 + ["bad"] * 40,
        "sex": ["f", "m", "m", "f"] * 25,
    })
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    code, out, _ = run(capsys, "audit", str(path), "--target", "outcome", "--prediction",
                       "decision", "--sensitive", "sex", "--positive-label", "good",
                       "--n-boot", "50", "--json", "-")
    assert code == 0
    result = json.loads(out)
    assert result["rows"] == 100
    f = _group(result, sex="f")
    assert f["metrics"]["selection_rate"]["value"] == pytest.approx(
        (frame[frame.sex == "f"].decision == "good").mean())


@pytest.mark.parametrize(("extra", "message"), [
    (["--prediction", "decision", "--sensitive", "sex"], "--target is required"),
    (["--target", "outcome", "--prediction", "decision"], "--sensitive"),
    (["--target", "outcome", "--sensitive", "sex"], "no decisions to audit"),
    (["--target", "outcome", "--prediction", "decision", "--sensitive", "sex",
      "--threshold", "0.5"], "--threshold needs --score"),
    (["--target", "outcome", "--prediction", "decision", "--sensitive", "sex",
      "--reference", "sex"], "--reference must look like COLUMN=VALUE"),
    (["--target", "outcome", "--prediction", "decision", "--sensitive", "nope"], "nope"),
    (["--target", "outcome", "--prediction", "decision", "--sensitive", "sex",
      "--positive-label", "great"], "great"),
    (["--target", "outcome", "--prediction", "decision", "--sensitive", "sex",
      "--fail-on", "banana>>1"], "banana"),
])
def test_bad_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    extra: list[str], message: str) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"outcome": [1, 0, 1, 0], "decision": [1, 1, 0, 0],
                  "sex": list("fmfm")}).to_csv(path, index=False)
    code, _, err = run(capsys, "audit", str(path), *extra, "--n-boot", "10")
    assert code == 2
    assert message in err


def test_non_binary_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"outcome": [0, 1, 2, 0], "decision": [1, 1, 0, 0],
                  "sex": list("fmfm")}).to_csv(path, index=False)
    code, _, err = run(capsys, "audit", str(path), "--target", "outcome", "--prediction",
                       "decision", "--sensitive", "sex", "--n-boot", "10")
    assert code == 2 and "outcome" in err


def test_human_summary_and_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "audit.json"
    code, out, _ = run(capsys, "audit", "compas", "--sensitive", "sex", "--n-boot", "50",
                       "--json", str(target))
    assert code == 0
    assert "6172 decisions audited" in out and "sex=Female" in out
    assert json.loads(target.read_text())["rows"] == 6172


def test_logged_decile_score_gives_auc(capsys: pytest.CaptureFixture[str]) -> None:
    # COMPAS deciles (1-10) are not probabilities: AUC is reported, calibration is not.
    from sklearn.metrics import roc_auc_score

    code, out, _ = run(capsys, "audit", "compas", "--sensitive", "race", "--n-boot", "50",
                       "--json", "-")
    assert code == 0
    result = json.loads(out)
    assert result["config"]["y_score"] == "decile_score"
    frame = load_dataset("compas").frame
    black = frame[frame["race"] == "African-American"]
    auc = _group(result, race="African-American")["metrics"]["roc_auc"]
    assert auc["value"] == pytest.approx(
        roc_auc_score(black["two_year_recid"], black["decile_score"]), abs=1e-9)
    assert "expected_calibration_error" not in _group(result, race="Caucasian")["metrics"]
