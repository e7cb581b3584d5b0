"""The feedback loop on the demo: retrain from the simulated panel, compare, approve.

The engine flow (:func:`audits.retrain.stored.retrain_from_panel`) runs on a private copy of
the german_credit demo store, whose simulated panel has rated the demo queue; every claim
is read back from the store and checked against an independent recomputation
(scikit-learn on the rebuilt decisions, the store's own ratings). The Retraining page
runs in-process with ``streamlit.testing.v1.AppTest``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from app_support import DATA_SCIENTIST, PERSONAS, DemoCopy, full_demo_copy, open_page
from demo_support import DemoTemplates
from sklearn.metrics import accuracy_score

from app import queue_tables, retrain_tables
from audits.cli.command import main
from audits.data.datasets import load_dataset
from audits.fairness.stored import decisions_for
from audits.models.training import split_rows
from audits.monitoring.ingest import ingest_batch
from audits.raters.consensus import consensus_labels
from audits.retrain.stored import (
    MSG_NO_LABELS,
    MSG_NO_MODEL,
    Retraining,
    panel_labels,
    retrain_from_panel,
    stored_reaudits,
)
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store

PAGE = "app_pages/retraining.py"
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)
LEAD = Actor(PERSONAS[Role.PANEL_LEAD].username, Role.PANEL_LEAD)
N_BOOT = 200


@dataclass(frozen=True)
class Loop:
    copy: DemoCopy
    run_id: int
    done: Retraining


@pytest.fixture(scope="module")
def loop(demo_templates: DemoTemplates,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    """The demo copy with one retraining by the data scientist persona."""
    with full_demo_copy(demo_templates, tmp_path_factory, "fairpanel-retraining") as copy:
        run_id = copy.demo.queues.queue.audit_run.id
        with Store(copy.url) as store:
            done = retrain_from_panel(store, DATA_SCIENTIST, run_id, n_boot=N_BOOT)
        yield Loop(copy, run_id, done)


def test_consensus_labels_are_adjudicated_or_confident_dawid_skene(loop: Loop) -> None:
    with Store(loop.copy.url) as store:
        labels = panel_labels(store, DATA_SCIENTIST, loop.run_id)
        ratings = pd.DataFrame(store.ratings_table(LEAD, loop.run_id))
        cases = {c.id: c for c in store.list_cases(loop.run_id)}
    table = labels.table.set_index("case_id")
    assert set(table["source"]) <= {"adjudicated", "dawid_skene"}
    assert (table.loc[table["source"] == "dawid_skene", "confidence"] >= 0.9).all()
    # Independent recomputation from every rating the store holds (panel lead's view).
    oracle = consensus_labels(ratings[["case_id", "reviewer_id", "label"]],
                              min_confidence=0.9).set_index("case_id")
    trusted = oracle[oracle["source"] == "dawid_skene"]
    assert set(trusted.index) <= set(table.index)
    assert (table.loc[trusted.index, "label"] == trusted["label"].astype(int)).all()
    assert labels.rated == ratings["case_id"].nunique()
    assert labels.untrusted == labels.rated - labels.from_batches - len(table)
    for case_id, row in table.iterrows():
        assert row["held_out_row"] == cases[int(case_id)].snapshot["row"]
        rated_by = sorted(ratings.loc[ratings["case_id"] == case_id, "reviewer_id"])
        assert row["reviewer_ids"] == rated_by and row["n_ratings"] == len(rated_by)


def test_lineage_is_complete(loop: Loop) -> None:
    """Every reviewed label the model trained on names its case, row, reviewers and rule."""
    with Store(loop.copy.url) as store:
        labels = panel_labels(store, DATA_SCIENTIST, loop.run_id).table
        dataset = store.get_dataset(loop.done.parent.dataset_id)
        assert dataset is not None
        entries = {e.action: e for e in store.log_entries()
                   if e.entity == "model" and e.entity_id == str(loop.done.candidate.id)}
    lineage = loop.done.lineage
    assert sorted(lineage["case_id"]) == sorted(labels["case_id"])
    frame = load_dataset(dataset.name).frame
    target = dataset.roles["target"]
    _, test_rows = split_rows(frame[target].to_numpy(), target=target,
                              test_size=float(loop.done.parent.split["test_size"]),
                              random_state=int(loop.done.parent.split["random_state"]))
    for e in lineage.to_dict("records"):
        assert e["dataset_row"] == test_rows[e["held_out_row"]]
        assert e["recorded_label"] == frame[target].iat[e["dataset_row"]]
        assert e["changed"] == (e["label"] != e["recorded_label"])
        assert e["source"] in ("adjudicated", "dawid_skene") and e["reviewer_ids"]
    assert 0 < lineage["changed"].sum() < len(lineage)
    # The log entry that recorded the candidate carries the lineage's hash.
    payload = entries["record_model"].payload
    assert payload["n_lineage_entries"] == len(lineage)
    assert payload["parent_id"] == loop.done.parent.id


def test_candidate_is_trained_on_reviewed_rows_and_waits_for_approval(loop: Loop) -> None:
    c, parent = loop.done.candidate, loop.done.parent
    assert c.status == "candidate" and c.parent_id == parent.id
    assert c.source_audit_run_id == loop.run_id and c.created_by == DATA_SCIENTIST.username
    assert c.split["n_train"] == parent.split["n_train"] + len(loop.done.lineage)
    assert sorted(c.split["excluded_held_out_rows"]) == sorted(loop.done.lineage["held_out_row"])
    assert c.sha256 != parent.sha256 and len(c.sha256) == 64
    with Store(loop.copy.url) as store:
        assert store.deployed_version(c.id).id == parent.id  # not used before approval
        n_models, n_runs = len(store.list_models()), len(store.list_audit_runs())
        again = retrain_from_panel(store, DATA_SCIENTIST, loop.run_id, n_boot=N_BOOT)
        # The same labels and options again: the stored candidate, nothing new stored.
        assert again.candidate.id == c.id
        assert (again.before_run.id, again.after_run.id) == (loop.done.before_run.id,
                                                             loop.done.after_run.id)
        assert len(store.list_models()) == n_models
        assert len(store.list_audit_runs()) == n_runs
        pd.testing.assert_frame_equal(again.comparison.reset_index(drop=True),
                                      loop.done.comparison.reset_index(drop=True),
                                      check_dtype=False)


def test_before_after_is_paired_on_the_same_unseen_rows(loop: Loop) -> None:
    """Accuracy and the selection-rate gaps recomputed from the two stored models."""
    done = loop.done
    with Store(loop.copy.url) as store:
        dataset = store.get_dataset(done.parent.dataset_id)
        assert dataset is not None
        excluded = list(done.candidate.split["excluded_held_out_rows"])
        old = decisions_for(store, COMPLIANCE, dataset, done.parent, exclude_rows=excluded)
        new = decisions_for(store, COMPLIANCE, dataset, done.candidate, exclude_rows=excluded)
        assert stored_reaudits(store, DATA_SCIENTIST, done.candidate.id) == (
            done.before_run.id, done.after_run.id)
    n = done.parent.split["n_test"] - len(excluded)
    assert len(old.frame) == len(new.frame) == n == done.candidate.metrics["n_evaluated"]
    assert (old.frame[old.y_true] == new.frame[new.y_true]).all()
    table = done.comparison.set_index(["metric", "sensitive_feature", "group"], drop=False)
    acc = table[table["metric"] == "accuracy"].iloc[0]
    for col, d in (("before", old), ("after", new)):
        assert acc[col] == pytest.approx(accuracy_score(d.frame[d.y_true], d.frame["y_pred"]))
    assert acc["ci_low"] <= acc["difference"] <= acc["ci_high"]
    for feature in ("sex", "age_group"):
        rows = table[(table["metric"] == "selection_rate_difference")
                     & (table["sensitive_feature"] == feature)]
        for r in rows.itertuples(index=False):
            for col, d in (("before", old), ("after", new)):
                rates = d.frame.groupby(feature)["y_pred"].mean()
                assert getattr(r, col) == pytest.approx(rates[r.group] - rates[r.reference])
    # The stored audit runs of both models cover exactly those rows.
    for run in (done.before_run, done.after_run):
        assert run.config["exclude_rows"] == sorted(excluded)
        assert run.results is not None and run.results["rows"] == n


def test_approval_is_required_and_refused_to_the_wrong_people(loop: Loop) -> None:
    with Store(loop.copy.url) as store:
        c = loop.done.candidate
        with pytest.raises(PermissionDenied):
            store.approve_model(DATA_SCIENTIST, c.id)  # trained it, and wrong role
        with pytest.raises(PermissionDenied):
            store.approve_model(Actor.system(), c.id)  # not a person
        assert store.get_model(c.id).status == "candidate"  # type: ignore[union-attr]
        assert store.deployed_version(loop.done.parent.id).id == loop.done.parent.id


def _ingest(loop: Loop, seed: int) -> dict[str, object]:
    batch = load_dataset("german_credit").frame.sample(150, random_state=seed)
    with Store(loop.copy.url) as store:
        done = ingest_batch(store, DATA_SCIENTIST, loop.run_id, batch, label=f"week {seed}")
    assert done.created
    return dict(done.batch.results)


def test_new_decisions_are_made_by_the_deployed_version_only(loop: Loop) -> None:
    """Before any approval, an ingested batch is scored by the audited model itself."""
    results = _ingest(loop, 1)
    assert results["model"] == {"id": loop.done.parent.id, "sha256": loop.done.parent.sha256}


def test_logged_decisions_and_unreviewed_audits_are_refused(loop: Loop) -> None:
    with Store(loop.copy.url) as store:
        monitoring = loop.copy.demo.queues.monitoring_run_id
        with pytest.raises(ValueError, match="audits logged decisions"):
            retrain_from_panel(store, DATA_SCIENTIST, monitoring)
        assert MSG_NO_MODEL.startswith("audit run {id} audits logged decisions")
        with pytest.raises(LookupError, match="no completed audit run with id 9999"):
            retrain_from_panel(store, DATA_SCIENTIST, 9999)
        with pytest.raises(PermissionDenied):
            retrain_from_panel(store, COMPLIANCE, loop.run_id)
        before = len(store.list_models())
        with pytest.raises(ValueError, match=MSG_NO_LABELS.split("{")[0]):
            retrain_from_panel(store, DATA_SCIENTIST, loop.done.before_run.id)
        assert len(store.list_models()) == before  # nothing stored


def test_fairness_constrained_variant_decides_by_its_stored_rules(loop: Loop) -> None:
    with Store(loop.copy.url) as store:
        fair = retrain_from_panel(store, DATA_SCIENTIST, loop.run_id,
                                  constraint="demographic_parity", n_boot=N_BOOT)
        dataset = store.get_dataset(fair.parent.dataset_id)
        assert dataset is not None
        assert fair.candidate.params["constraint"] == "demographic_parity"
        assert fair.candidate.params["sensitive_feature"] == "sex"
        rules = fair.candidate.params["thresholds"]
        assert set(rules) == {"female", "male"}
        excluded = fair.candidate.split["excluded_held_out_rows"]
        new = decisions_for(store, COMPLIANCE, dataset, fair.candidate, exclude_rows=excluded)
    table = fair.comparison
    gap = table[(table["metric"] == "selection_rate_difference")
                & (table["sensitive_feature"] == "sex")].iloc[0]
    rates = new.frame.groupby("sex")["y_pred"].mean()
    assert gap["after"] == pytest.approx(rates["female"] - rates["male"])
    assert abs(gap["after"]) < abs(gap["before"])  # the constraint narrows the sex gap


def test_comparison_shaping_helpers(loop: Loop) -> None:
    table = retrain_tables.comparison_table(loop.done.comparison)
    assert list(table["Measure"])[0] == "Accuracy"
    assert set(table["Reading"]) <= {"no clear change", "more accurate", "less accurate",
                                     "closer to parity", "further from parity",
                                     "undefined (a group has no such cases)"}
    sentences = retrain_tables.headline(loop.done.comparison)
    assert sentences[0].startswith("Accuracy ")
    fig = retrain_tables.comparison_figure(loop.done.comparison)
    defined = loop.done.comparison["difference"].notna()
    assert len(fig.data[0].x) == defined.sum() > 0
    assert np.isfinite(np.asarray(fig.data[0].x, dtype=float)).all()


def test_page_data_scientist_retrains_and_sees_before_after(loop: Loop,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    for key, value in loop.copy.env.items():
        monkeypatch.setenv(key, value)
    at = open_page(PAGE, "Retraining", Role.DATA_SCIENTIST)
    with Store(loop.copy.url) as store:
        before = len(store.list_models())
    at.button(key="retraining.submit").click().run()
    assert not at.exception, at.exception
    assert any("stored. It is not used until" in s.value for s in at.success)
    with Store(loop.copy.url) as store:
        models = store.list_models()
    assert len(models) == before + 1 and models[-1].status == "candidate"
    assert at.selectbox(key="retraining.model_id").value == models[-1].id
    text = " ".join(m.value for m in at.text)  # sentences name groups: plain text
    assert "Accuracy " in text
    assert any("Waiting for a compliance officer" in i.value for i in at.info)
    shown = next(d.value for d in at.dataframe if "Measure" in d.value.columns)
    assert shown["Measure"].iloc[0] == "Accuracy" and "Reading" in shown.columns


def test_page_compliance_officer_approves(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in loop.copy.env.items():
        monkeypatch.setenv(key, value)
    with Store(loop.copy.url) as store:
        fresh = retrain_from_panel(store, DATA_SCIENTIST, loop.run_id, n_boot=50)
    at = open_page(PAGE, "Retraining", Role.COMPLIANCE_OFFICER)
    assert "retraining.submit" not in {b.key for b in at.button}  # may not retrain
    at.selectbox(key="retraining.model_id").select(fresh.candidate.id).run()
    at.button(key="retraining.approve").click().run()
    assert not at.exception, at.exception
    with Store(loop.copy.url) as store:
        approved = store.get_model(fresh.candidate.id)
        assert approved is not None and approved.status == "deployed"
        assert approved.decided_by == COMPLIANCE.username
        entry = next(e for e in store.log_entries() if e.action == "approve_model")
        assert entry.payload["authentication"] == {  # a demo persona, picked on the page
            "authenticated_by": "demo", "via": "dashboard",
            "asserted_user": COMPLIANCE.username, "os_user": None}
        assert store.deployed_version(fresh.parent.id).id == fresh.candidate.id


def test_cli_retrain_json_contract_and_approval(loop: Loop, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Last in the module: after the page approved a version, the CLI retrains the
    deployed one (a chain of three), and a named compliance officer approves it."""
    for key, value in loop.copy.env.items():
        monkeypatch.setenv(key, value)
    assert main(["retrain", str(loop.run_id), "--n-boot", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"candidate", "parent", "before_audit_run_id", "after_audit_run_id",
                        "n_evaluated", "comparison", "lineage"}
    assert out["candidate"]["status"] == "candidate"
    assert out["candidate"]["parent_id"] == out["parent"]["id"]
    assert out["comparison"][0]["metric"] == "accuracy"
    assert {"case_id", "held_out_row", "dataset_row", "recorded_label", "label", "changed",
            "source", "confidence", "n_ratings", "reviewer_ids"} <= set(out["lineage"][0])
    candidate = out["candidate"]["id"]
    # Bad input: a clear message on stderr, exit 2, nothing stored.
    with Store(loop.copy.url) as store:
        n_models = len(store.list_models())
    assert main(["retrain", "9999"]) == 2
    assert "no completed audit run with id 9999" in capsys.readouterr().err
    assert main(["retrain", str(loop.copy.demo.queues.monitoring_run_id)]) == 2
    assert "audits logged decisions" in capsys.readouterr().err
    # Deciders are authenticated by password. A demo persona has none: the operator who
    # ran the retraining cannot decide in its name (issue: `--user demo-compliance`).
    with Store(loop.copy.url) as store:
        store.add_user(Actor.system(), "casey", Role.COMPLIANCE_OFFICER,
                       password="casey passphrase")
        store.add_user(Actor.system(), "dina", Role.DATA_SCIENTIST, password="dina passphrase")

    def stdin(name: str) -> None:  # the password as `--password-stdin` reads it
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{name} passphrase\n"))

    for name in ("nobody", COMPLIANCE.username):
        stdin(name)
        assert main(["models", "approve", str(candidate), "--user", name,
                     "--password-stdin"]) == 2
        assert f"could not authenticate {name!r}" in capsys.readouterr().err
    stdin("casey")
    assert main(["models", "reject", str(candidate), "--user", "casey",
                 "--note", "  ", "--password-stdin"]) == 2
    assert "a note is required" in capsys.readouterr().err
    with Store(loop.copy.url) as store:
        assert len(store.list_models()) == n_models
        assert store.get_model(candidate).status == "candidate"  # type: ignore[union-attr]
    # A data scientist cannot approve; a named, authenticated compliance officer can.
    stdin("dina")
    assert main(["models", "approve", str(candidate), "--user", "dina",
                 "--password-stdin"]) == 2
    assert "may not" in capsys.readouterr().err
    stdin("casey")
    assert main(["models", "approve", str(candidate), "--user", "casey",
                 "--note", "reviewed the comparison", "--password-stdin"]) == 0
    assert f"model #{candidate} is now deployed" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    versions = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert versions[candidate]["status"] == "deployed"
    assert versions[out["parent"]["id"]]["status"] == "retired"
    with Store(loop.copy.url) as store:
        assert store.deployed_version(out["parent"]["id"]).id == candidate
        approved = store.get_model(candidate)
        assert approved is not None
    # Once approved, new decisions are made by the new version.
    results = _ingest(loop, 2)
    assert results["model"] == {"id": candidate, "sha256": approved.sha256}
    with Store(loop.copy.url) as store:  # the monitoring page's table says so
        table = queue_tables.batch_table(store.list_batches(loop.run_id), [])
    assert table["decided by"].tolist()[-2:] == [f"model #{loop.done.parent.id}",
                                                 f"model #{candidate}"]
    # A named trainer: `retrain --user` authenticates them and records them as the
    # candidate's author, so their own approval is refused even though their role allows it.
    with Store(loop.copy.url) as store:
        store.add_user(Actor.system(), "adam", Role.ADMIN, password="adam passphrase")
    stdin("nobody")
    assert main(["retrain", str(loop.run_id), "--n-boot", "50", "--user", "nobody",
                 "--password-stdin"]) == 2
    assert "could not authenticate 'nobody'" in capsys.readouterr().err
    assert main(["retrain", str(loop.run_id), "--password-stdin"]) == 2
    assert "--password-stdin needs --user NAME" in capsys.readouterr().err
    stdin("adam")
    assert main(["retrain", str(loop.run_id), "--n-boot", "50", "--user", "adam",
                 "--password-stdin", "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)["candidate"]
    assert trained["created_by"] == "adam"
    stdin("adam")
    assert main(["models", "approve", str(trained["id"]), "--user", "adam",
                 "--password-stdin"]) == 2
    assert f"adam registered model {trained['id']} and cannot approve it" in \
        capsys.readouterr().err
