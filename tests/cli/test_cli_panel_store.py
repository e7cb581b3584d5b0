"""``fairpanel panel add|assign|analyse``: the stored panel from the command line.

``panel analyse`` must write the contracts of the stateless ``agreement`` and
``reviewers`` commands: the oracle is those commands run on the same ratings exported
as a long CSV. ``panel assign`` is checked against the store's assignment table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from demo_support import DemoCopy, DemoTemplates
from own_system_support import add_user, fairpanel, fairpanel_json

from audits.fairness.stored import run_fairness_audit
from audits.roles import Actor
from audits.store import Store

AGREEMENT_KEYS = {"krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement",
                  "n_items", "n_raters", "level", "fleiss_note"}
REVIEWERS_KEYS = {"reviewers", "interactions", "automation_bias"}


@pytest.fixture
def demo(demo_templates: DemoTemplates, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> DemoCopy:
    """A private copy of the full german_credit demo: a queue rated by its panel."""
    copy = demo_templates.copy(tmp_path / "home")
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    return copy


def test_analyse_writes_the_agreement_and_reviewers_contracts(
        demo: DemoCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit = demo.demo.queues.queue.audit_run.id
    result = fairpanel_json(capsys, "panel", "analyse", "--audit", str(audit),
                            "--n-boot", "100", "--json", "-")
    assert isinstance(result, dict)
    assert set(result) == {"audit_run_id", "attribute", "n_ratings", "n_cases",
                           "n_reviewers", "simulated_share", "agreement", "reviewers"}
    assert set(result["agreement"]) == AGREEMENT_KEYS
    assert set(result["reviewers"]) == REVIEWERS_KEYS
    # The same ratings as a long CSV, through the stateless commands.
    with Store(demo.url) as store:
        names = {r.id: r.username for r in store.list_reviewers(Actor.system())}
        ratings = pd.DataFrame(store.ratings_for_analysis(Actor.system(), audit))
    ratings["reviewer"] = ratings["reviewer_id"].map(names)
    ratings["shown"] = ratings["model_shown"].astype(int)
    path = tmp_path / "ratings.csv"
    ratings.to_csv(path, index=False)
    agreement = fairpanel_json(capsys, "agreement", str(path), "--item", "case_id",
                               "--rater", "reviewer", "--label", "label", "--n-boot", "100",
                               "--json", "-")
    assert result["agreement"] == agreement
    assert result["n_ratings"] == len(ratings)
    reviewers = fairpanel_json(capsys, "reviewers", str(path), "--item", "case_id",
                               "--rater", "reviewer", "--label", "label",
                               "--model-shown", "shown", "--model-decision",
                               "model_decision", "--n-boot", "100", "--json", "-")
    assert isinstance(reviewers, dict)
    assert result["reviewers"]["reviewers"] == reviewers["reviewers"]
    assert result["reviewers"]["automation_bias"] == reviewers["automation_bias"]
    code, out, err = fairpanel(capsys, "panel", "analyse", "--audit", str(audit),
                               "--n-boot", "50")
    assert code == 0, err
    assert f"{len(ratings)} ratings" in out and "krippendorff_alpha" in out


def test_add_needs_consent_for_a_background(demo: DemoCopy,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    add_user(capsys, "nora", "reviewer")
    code, _, err = fairpanel(capsys, "panel", "add", "nora", "--background", "region=north")
    assert code == 2 and "--consent" in err
    code, _, err = fairpanel(capsys, "panel", "add", "nora", "--background", "planet=mars",
                             "--consent")
    assert code == 2 and "planet" in err and "region" in err
    with Store(demo.url) as store:  # neither refusal put her on the panel
        assert "nora" not in {r.username for r in store.list_reviewers(Actor.system())}
    added = fairpanel_json(capsys, "panel", "add", "nora", "--capacity", "7",
                           "--expertise", "credit", "--background", "region=north",
                           "--consent", "--json")
    assert isinstance(added, dict) and isinstance(added["reviewer_id"], int)
    assert added == {"reviewer_id": added["reviewer_id"], "username": "nora",
                     "capacity": 7, "expertise": ["credit"], "background": ["region"]}
    with Store(demo.url) as store:
        reviewer = next(r for r in store.list_reviewers(Actor.system())
                        if r.username == "nora")
        assert reviewer.has_background and reviewer.capacity == 7
    code, _, err = fairpanel(capsys, "panel", "add", "nora")
    assert code == 2 and "already on the reviewer panel" in err
    add_user(capsys, "dora", "data_scientist", "dora-password-1")
    code, _, err = fairpanel(capsys, "panel", "add", "dora")
    assert code == 2 and "only a reviewer joins the panel" in err


def test_assign_gives_each_case_k_distinct_reviewers(
        demo: DemoCopy, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(demo.url) as store:
        state = demo.demo.state
        run = run_fairness_audit(store, Actor.system(), state.dataset, state.model,
                                 n_boot=20, random_state=5)
    code, _, err = fairpanel(capsys, "panel", "assign", "--audit", str(run.id))
    assert code == 2 and "has no review queue" in err
    code, _, err = fairpanel(capsys, "queue", "build", "--audit", str(run.id), "--budget",
                             "30")
    assert code == 0, err
    result = fairpanel_json(capsys, "panel", "assign", "--audit", str(run.id), "--overlap",
                            "2", "--json", "-")
    assert isinstance(result, dict) and result["overlap"] == 2
    with Store(demo.url) as store:
        names = {r.id: r.username for r in store.list_reviewers(Actor.system())}
        table = store.assignment_table(Actor.system(), run.id)
        n_cases = len(store.list_cases(run.id))
    stored = {(int(r["case_id"]), names[r["reviewer_id"]]) for r in table}
    printed = {(a["case_id"], a["reviewer"]) for a in result["assignments"]}
    assert printed == stored and result["n_new"] == len(table)
    per_case = Counter(case for case, _ in stored)
    assert len(per_case) == n_cases == result["n_cases"]
    assert set(per_case.values()) == {2}
    again = fairpanel_json(capsys, "panel", "assign", "--audit", str(run.id), "--json", "-")
    assert isinstance(again, dict) and again["n_new"] == 0  # every case has its reviewers
