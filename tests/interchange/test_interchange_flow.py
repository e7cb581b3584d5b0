"""Bring your own reviews, end to end: export the queue, annotate elsewhere, import.

The "annotation tool" is played by editing the exported tasks into the tool's documented
export shape. After the import the store must hold exactly the ratings written, and the
panel's agreement computed on them must equal the ``krippendorff`` package's on the same
labels (an independent implementation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from db_support import FAST_HASHER, SIGNING_KEY, row_counts
from interchange_support import (
    FIXTURES,
    LEAD,
    REVIEWER,
    SCIENTIST,
    WORD,
    ImportingStore,
    queued_audit,
)

from audits.interchange.stored import (
    MSG_EXPORT_DENIED,
    MSG_NO_QUEUE,
    export_queue,
    import_ratings,
)
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue
from audits.raters.agreement import krippendorff_alpha
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.imports import ImportRejected

N_CASES = 8
ANNOTATORS = ("ana@example.org", "ben@example.org", "cara@example.org")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with ImportingStore(database_url, password_hasher=FAST_HASHER,
                        signing_key=SIGNING_KEY) as opened:
        yield opened


def _label(case_index: int, annotator: int) -> int | None:
    """The fake annotators' labels: mostly agreeing, some disagreement, some missing."""
    if (case_index + annotator) % 7 == 6:
        return None  # this annotator did not label this case
    base = case_index % 2
    return 1 - base if (case_index * 3 + annotator) % 5 == 0 else base


def _expected() -> set[tuple[int, str, int]]:
    return {(i, ANNOTATORS[a], label) for i in range(N_CASES) for a in range(3)
            if (label := _label(i, a)) is not None}


def _stored(store: Store, run_id: int, ids: list[int]) -> set[tuple[int, str, int]]:
    names = {r.id: r.display_name for r in store.list_reviewers(LEAD)}
    index = {case_id: i for i, case_id in enumerate(ids)}
    return {(index[r["case_id"]], names[r["reviewer_id"]], r["label"])
            for r in store.ratings_table(LEAD, run_id)}


def _annotate_label_studio(tasks: list[dict], out: Path) -> None:
    """Label Studio's export of the tasks: ids assigned, one annotation per annotator."""
    exported = []
    for t, task in enumerate(tasks):
        annotations = []
        for a, _ in enumerate(ANNOTATORS):
            label = _label(t, a)
            result = [] if label is None else [
                {"id": f"r{t}{a}", "type": "choices", "from_name": "label", "to_name": "case",
                 "value": {"choices": [str(label)]}, "origin": "manual"},
                {"id": f"c{t}{a}", "type": "rating", "from_name": "confidence",
                 "to_name": "case", "value": {"rating": 1 + (t + a) % 5}}]
            annotations.append({"id": 100 * t + a, "completed_by": {"id": a + 1,
                                                                     "email": ANNOTATORS[a]},
                                "result": result, "was_cancelled": label is None,
                                "lead_time": 10.0 + a, "task": 500 + t})
        exported.append({"id": 500 + t, "data": task["data"], "annotations": annotations,
                         "predictions": [], "project": 3})
    out.write_text(json.dumps(exported))


def _annotate_argilla(records: list[dict], out: Path, *, flatten: bool) -> None:
    """Argilla's export of the records, nested (to_json) or flattened (to_list)."""
    exported = []
    for r, record in enumerate(records):
        answers = [(ANNOTATORS[a], str(label)) for a in range(3)
                   if (label := _label(r, a)) is not None]
        if flatten:
            exported.append({"id": record["id"], "_server_id": None, **record["fields"],
                             **record["metadata"],
                             "label.responses": [v for _, v in answers],
                             "label.responses.users": [u for u, _ in answers],
                             "label.responses.status": ["submitted"] * len(answers)})
        else:
            exported.append({**record, "suggestions": {}, "vectors": {}, "responses": {
                "label": [{"value": v, "user_id": u} for u, v in answers],
                "confidence": [{"value": 4, "user_id": u} for u, _ in answers]}})
    out.write_text(json.dumps(exported))


def _annotate_long(rows: list[dict[str, str]], out: Path) -> None:
    lines = ["case_id,reviewer,label"]
    for i, row in enumerate(rows):
        lines += [f"{row['case_id']},{ANNOTATORS[a]},{label}" for a in range(3)
                  if (label := _label(i, a)) is not None]
    out.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("tool", ["labelstudio", "argilla", "argilla-flat", "csv"])
def test_round_trip_stores_exactly_the_tool_ratings(store: Store, tmp_path: Path,
                                                    tool: str) -> None:
    run_id, ids = queued_audit(store, N_CASES)
    fmt = tool.split("-")[0]
    done = export_queue(store, SCIENTIST, run_id, format=fmt, out=tmp_path / f"queue.{fmt}")
    assert done.n_cases == N_CASES
    back = tmp_path / "export"
    if fmt == "labelstudio":
        _annotate_label_studio(json.loads(done.files[0].read_text()), back)
    elif fmt == "argilla":
        _annotate_argilla(json.loads(done.files[0].read_text()), back,
                          flatten=tool == "argilla-flat")
    else:
        _annotate_long(pd.read_csv(done.files[0], dtype=str).to_dict("records"), back)
    result = import_ratings(store, LEAD, run_id, back,
                            format="long" if fmt == "csv" else fmt)
    assert result.n_ratings_added == len(_expected())
    assert set(result.reviewers_created) == set(ANNOTATORS)
    assert _stored(store, run_id, ids) == _expected()
    table = pd.DataFrame(store.ratings_table(LEAD, run_id))
    matrix = np.full((3, N_CASES), np.nan)
    for i, annotator, label in _expected():
        matrix[ANNOTATORS.index(annotator), i] = label
    assert krippendorff_alpha(table) == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), abs=1e-12)
    # Importing the same file again adds nothing and writes nothing.
    before, entries = row_counts(store), len(store.log_entries())
    again = import_ratings(store, LEAD, run_id, back, format="long" if fmt == "csv" else fmt)
    assert (again.n_ratings_added, again.n_already_present) == (0, len(_expected()))
    assert row_counts(store) == before and len(store.log_entries()) == entries


@pytest.mark.parametrize("fmt", ["labelstudio", "argilla", "csv"])
def test_export_shows_what_a_blind_reviewer_sees(store: Store, tmp_path: Path,
                                                 fmt: str) -> None:
    run_id, ids = queued_audit(store, 3)
    done = export_queue(store, LEAD, run_id, format=fmt, out=tmp_path / "queue")
    text = done.files[0].read_text()  # the tasks; the config beside them holds no case
    for hidden in ("sex", "female", "Predicted", "decision", "score", "threshold",
                   "disparity", "gold", "hidden", "explanation", "provenance", "dddd"):
        assert hidden not in text, hidden
    assert all(str(i) not in f.read_text() for f in done.files[1:] for i in (2100, 3400))
    for case in store.list_cases(run_id):
        assert case.snapshot_sha256 in text
        assert f"{case.snapshot['features']['income']}" in text
    assert done.to_dict()["blind"] is True
    assert [f.name for f in done.files] == {
        "labelstudio": ["queue", "queue.label_config.xml"],
        "argilla": ["queue", "queue.settings.json"], "csv": ["queue"]}[fmt]


def test_export_leaves_closed_cases_out_and_checks_who_and_what(store: Store,
                                                               tmp_path: Path) -> None:
    run_id, ids = queued_audit(store, 3)
    store.set_panel_config(LEAD, run_id, {"overlap": 2})
    import_ratings(store, LEAD, run_id, FIXTURES / "long_ratings.csv", format="long")
    # Two agreeing ratings close cases 1 and 3; case 2 (1, 0, 1) awaits adjudication.
    assert [c.status for c in store.list_cases(run_id)] == ["closed", "disputed", "closed"]
    cases = json.loads(export_queue(store, LEAD, run_id, format="argilla",
                                    out=tmp_path / "q.json").files[0].read_text())
    assert [c["metadata"]["fairpanel_case_id"] for c in cases] == [ids[1]]
    with pytest.raises(PermissionDenied, match=re.escape(MSG_EXPORT_DENIED.format(
            actor="rita", role="reviewer"))):
        export_queue(store, REVIEWER, run_id, format="csv", out=tmp_path / "q.csv")
    with pytest.raises(ValueError, match="unknown export format 'excel'"):
        export_queue(store, LEAD, run_id, format="excel", out=tmp_path / "q.csv")
    other = store.create_audit_run(SCIENTIST, dataset_id=1, model_id=None, config={})
    with pytest.raises(LookupError, match=re.escape(MSG_NO_QUEUE.format(id=other.id))):
        export_queue(store, LEAD, other.id, format="csv", out=tmp_path / "q.csv")


@pytest.mark.parametrize(("fmt", "name"), [
    ("labelstudio", "labelstudio_export.json"), ("argilla", "argilla_records.json"),
    ("argilla", "argilla_records_flat.jsonl"), ("long", "long_ratings.csv")])
def test_the_fixture_exports_import(store: Store, fmt: str, name: str) -> None:
    run_id, ids = queued_audit(store, 3)
    result = import_ratings(store, LEAD, run_id, FIXTURES / name, format=fmt)
    assert (result.n_ratings_added, result.n_already_present, len(result.reviewers_created),
            result.file, result.format) == (7, 0, 3, name, fmt)
    assert [s.reason for s in result.skipped] == {
        "labelstudio_export.json": ["cancelled (skipped) in Label Studio"],
        "argilla_records_flat.jsonl": ["response discarded in Argilla, not submitted"],
    }.get(name, [])
    labels = sorted((r["case_id"], r["label"]) for r in store.ratings_table(LEAD, run_id))
    assert labels == [(ids[0], 1), (ids[0], 1), (ids[1], 0), (ids[1], 1), (ids[1], 1),
                      (ids[2], 0), (ids[2], 0)]
    assert json.loads(json.dumps(result.to_dict()))["n_ratings_added"] == 7


def test_label_studio_then_long_csv_of_the_same_people_adds_nothing(store: Store) -> None:
    run_id, _ = queued_audit(store, 3)
    import_ratings(store, LEAD, run_id, FIXTURES / "labelstudio_export.json",
                   format="labelstudio")
    again = import_ratings(store, LEAD, run_id, FIXTURES / "long_ratings.csv", format="long")
    assert (again.n_ratings_added, again.n_already_present, again.reviewers_created) == (
        0, 7, ())


def test_every_bad_row_kind_is_named_and_nothing_is_written(store: Store,
                                                            tmp_path: Path) -> None:
    run_id, ids = queued_audit(store, 3)
    other_run, other_ids = queued_audit(store, 1, name="other")
    path = tmp_path / "bad.csv"
    path.write_text("case_id,reviewer,label,confidence\n"
                    f"{ids[0]},ana,1,4\n"
                    f"999,ana,1,\n"
                    f"{other_ids[0]},ana,1,\n"
                    f"{ids[1]},ana,maybe,\n"
                    f"{ids[1]},,1,\n"
                    f"{ids[2]},ana,1,6\n")
    before = row_counts(store)
    with pytest.raises(ImportRejected) as info:
        import_ratings(store, LEAD, run_id, path, format="long")
    assert {b.row: b.reason for b in info.value.bad} == {
        "line 3": "case 999 does not exist",
        "line 4": f"case {other_ids[0]} belongs to audit run {other_run}, not {run_id}",
        "line 5": "label 'maybe' is not one of the two labels: '1' (Approved), '0' "
                  "(Not approved)",
        "line 6": "no annotator",
        "line 7": "confidence '6' is not a whole number from 1 to 5"}
    assert row_counts(store) == before
    kept = import_ratings(store, LEAD, run_id, path, format="long", skip_bad=True)
    assert (kept.n_ratings_added, len(kept.skipped)) == (1, 5)
    with pytest.raises(PermissionDenied):
        import_ratings(store, SCIENTIST, run_id, path, format="long")
    with pytest.raises(ValueError, match="unknown import format 'csv'"):
        import_ratings(store, LEAD, run_id, path, format="csv")


def test_labels_follow_the_dataset_word(store: Store, tmp_path: Path) -> None:
    run_id, _ = queued_audit(store, 1)
    done = export_queue(store, LEAD, run_id, format="labelstudio", out=tmp_path / "t.json")
    config = done.files[1].read_text()
    assert f'value="{WORD.capitalize()}" alias="1"' in config
    assert f'value="Not {WORD}" alias="0"' in config


def test_fairpanel_never_assigns_a_case_to_an_imported_reviewer(store: Store) -> None:
    run_id, ids = queued_audit(store, 3)
    import_ratings(store, LEAD, run_id, FIXTURES / "long_ratings.csv", format="long")
    for name in ("rita", "raj"):
        store.add_user(Actor("root_admin", Role.ADMIN), name, Role.REVIEWER)
        store.add_reviewer(LEAD, name)
    assign_queue(store, LEAD, run_id, config=PanelConfig(overlap=4))
    imported = {r.id for r in store.list_reviewers(LEAD) if r.username.startswith("ext.")}
    live = [a for a in store.assignment_table(LEAD, run_id) if a["kind"] != "imported"]
    assert live and not {a["reviewer_id"] for a in live} & imported
