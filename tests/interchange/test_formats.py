"""The interchange formats on their own: what is written, and what is read back.

The fixture files (see tests/fixtures/interchange/README.md) follow the shapes Label
Studio and Argilla document; every reader must find the same seven ratings in them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from interchange_support import FIXTURES, WORD, snapshot_sha256

from audits.interchange import argilla, csv_format, labelstudio
from audits.interchange.common import (
    CaseLabels,
    ExportCase,
    RawRating,
    to_import_row,
)
from audits.store.imports import DEFAULT_CONFIDENCE, ImportRow, import_key, imported_username

LABELS = CaseLabels.for_word(WORD)
#: (case id, annotator key, label) of the fixtures' seven ratings.
EXPECTED = {(1, "ana", 1), (1, "ben", 1), (2, "ana", 1), (2, "ben", 0), (2, "cara", 1),
            (3, "ana", 0), (3, "cara", 0)}
CASE = ExportCase(4, 2, "ab" * 32, {"age": 40, "housing": "own", "note": None})


def _who(annotator: str | None) -> str:
    """The annotator's first name, whichever identifier the tool exported."""
    names = {"0b7e1d5c": "ana", "5c2f8a90": "ben", "9e4d2b17": "cara"}
    assert annotator is not None
    return names.get(annotator[:8], annotator.split(".")[0])


def _triples(rows: list[ImportRow]) -> set[tuple[int | None, str, int | None]]:
    return {(r.case_id, _who(r.annotator), r.label) for r in rows}


@pytest.mark.parametrize(("reader", "name"), [
    (labelstudio.read_export, "labelstudio_export.json"),
    (argilla.read_export, "argilla_records.json"),
    (argilla.read_export, "argilla_records_flat.jsonl"),
    (csv_format.read_long, "long_ratings.csv"),
])
def test_every_reader_finds_the_seven_ratings_of_its_fixture(reader, name: str) -> None:
    raw, _ = reader(FIXTURES / name)
    rows = [to_import_row(r, LABELS) for r in raw]
    assert [r.problem for r in rows] == [None] * 7
    assert _triples(rows) == EXPECTED
    assert all(1 <= r.confidence <= 5 for r in rows)
    if name != "long_ratings.csv":  # the long table need not carry the snapshot hash
        assert {(r.case_id, r.snapshot_sha256) for r in rows} == {
            (i + 1, snapshot_sha256(i)) for i in range(3)}


def test_label_studio_details_cancelled_annotation_and_time() -> None:
    raw, ignored = labelstudio.read_export(FIXTURES / "labelstudio_export.json")
    assert [(s.row, s.reason) for s in ignored] == [
        ("task 101, annotation 1003", labelstudio.CANCELLED)]
    first = to_import_row(raw[0], LABELS)
    assert (first.row, first.annotator, first.confidence, first.seconds_spent) == (
        "task 101, annotation 1001", "ana.lopez@example.org", 4, 41.2)
    assert first.rationale == "Stable income for the amount asked."


def test_label_studio_completed_by_as_a_bare_user_id(tmp_path: Path) -> None:
    tasks = json.loads((FIXTURES / "labelstudio_export.json").read_text())
    for task in tasks:
        for annotation in task["annotations"]:
            annotation["completed_by"] = annotation["completed_by"]["id"]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    raw, _ = labelstudio.read_export(path)
    assert {r.annotator for r in raw} == {"labelstudio-user-11", "labelstudio-user-12",
                                          "labelstudio-user-13"}


def test_argilla_discarded_response_is_not_a_rating() -> None:
    _, ignored = argilla.read_export(FIXTURES / "argilla_records_flat.jsonl")
    assert [s.reason for s in ignored] == ["response discarded in Argilla, not submitted"]
    assert ignored[0].row.startswith("record fairpanel-case-1, user 9e4d2b17")


def test_argilla_case_id_falls_back_to_the_record_id(tmp_path: Path) -> None:
    records = json.loads((FIXTURES / "argilla_records.json").read_text())
    for record in records:
        record["metadata"] = {}
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    rows = [to_import_row(r, LABELS) for r in argilla.read_export(path)[0]]
    assert _triples(rows) == EXPECTED


def test_long_csv_needs_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("case_id,label\n1,1\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) reviewer .* case_id, label"):
        csv_format.read_long(path)
    path.write_text("case_id,reviewer_id,label\n1,ana,1\n")
    assert csv_format.read_long(path)[0][0].annotator == "ana"


@pytest.mark.parametrize(("reader", "content", "match"), [
    (labelstudio.read_export, "{\"data\": {}}", "not a Label Studio JSON export"),
    (labelstudio.read_export, "[1, 2", "is not JSON"),
    (argilla.read_export, "[1]", "not an Argilla records export"),
    (argilla.read_export, "{oops\n", "not an Argilla records export"),
])
def test_a_file_of_another_shape_is_refused_naming_it(tmp_path: Path, reader, content: str,
                                                       match: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        reader(path)
    assert str(path) in str(info.value)


def test_label_studio_tasks_and_config() -> None:
    task = labelstudio.tasks([CASE])[0]
    assert task == {"data": {"age": 40, "housing": "own", "note": None,
                             "case_text": "age: 40\nhousing: own\nnote: (missing)",
                             "fairpanel_case_id": 4, "fairpanel_audit_run_id": 2,
                             "snapshot_sha256": "ab" * 32}}
    view = ET.fromstring(labelstudio.label_config(CaseLabels.for_word("good & fair")))
    choices = view.find("Choices")
    assert choices is not None and choices.get("name") == "label"
    assert [(c.get("value"), c.get("alias")) for c in choices] == [
        ("Good & fair", "1"), ("Not good & fair", "0")]
    assert view.find("Rating").get("name") == "confidence"  # type: ignore[union-attr]
    assert view.find("TextArea").get("name") == "rationale"  # type: ignore[union-attr]
    assert view.find("Text").get("value") == "$case_text"  # type: ignore[union-attr]


def test_argilla_records_and_settings() -> None:
    assert argilla.records([CASE]) == [{
        "id": "fairpanel-case-4",
        "fields": {"case": "**age**: 40\n**housing**: own\n**note**: (missing)"},
        "metadata": {"fairpanel_case_id": 4, "fairpanel_audit_run_id": 2,
                     "snapshot_sha256": "ab" * 32}}]
    settings = argilla.settings(LABELS)
    questions = {q["name"]: q for q in settings["questions"]}
    assert questions["label"]["settings"] == {
        "type": "label_selection", "visible_options": None,
        "options": [{"value": "1", "text": "Approved"}, {"value": "0", "text": "Not approved"}]}
    assert [o["value"] for o in questions["confidence"]["settings"]["options"]] == [1, 2, 3, 4, 5]
    assert questions["confidence"]["settings"]["type"] == "rating"
    assert questions["rationale"]["settings"]["type"] == "text"
    assert questions["rationale"]["required"] is False
    assert [f["name"] for f in settings["fields"]] == ["case"]
    assert settings["allow_extra_metadata"] is True


def test_csv_of_cases_has_every_feature_column() -> None:
    other = ExportCase(5, 2, "cd" * 32, {"age": 50, "term": 12})
    lines = csv_format.write_cases([CASE, other]).splitlines()
    assert lines == ["case_id,audit_run_id,snapshot_sha256,age,housing,note,term",
                     f"4,2,{'ab' * 32},40,own,,", f"5,2,{'cd' * 32},50,,,12"]


def test_a_feature_named_like_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="feature named 'snapshot_sha256'"):
        ExportCase(1, 1, "ab", {"snapshot_sha256": 1})
    with pytest.raises(ValueError, match="feature named 'case_id'"):
        csv_format.write_cases([ExportCase(1, 1, "ab", {"case_id": 1})])


@pytest.mark.parametrize(("raw", "problem"), [
    (RawRating("r", "x1", "ana", "1"), "case id 'x1' is not a whole number"),
    (RawRating("r", 1, "ana", "maybe"), "label 'maybe' is not one of the two labels"),
    (RawRating("r", 1, "ana", ["1", "0"]), "label ['1', '0'] is not one of"),
    (RawRating("r", 1, "ana", True), "label True is not one of"),
    (RawRating("r", 1, "ana", "1", confidence="7"), "confidence '7' is not a whole number"),
    (RawRating("r", 1, "ana", "1", confidence=2.5), "confidence 2.5 is not"),
    (RawRating("r", 1, "ana", "1", seconds_spent=-3), "time spent -3 is not"),
])
def test_bad_values_are_named(raw: RawRating, problem: str) -> None:
    assert problem in (to_import_row(raw, LABELS).problem or "")


def test_good_values_and_defaults() -> None:
    row = to_import_row(RawRating("line 2", "7", "  ana ", "not APPROVED", None, " why ",
                                  "12.5"), LABELS)
    assert (row.case_id, row.annotator, row.label, row.confidence, row.rationale,
            row.seconds_spent, row.problem) == (7, "ana", 0, DEFAULT_CONFIDENCE, "why",
                                                12.5, None)
    assert to_import_row(RawRating("r", 7.0, "", 1.0), LABELS).annotator is None


def test_usernames_and_keys_of_imported_reviewers() -> None:
    assert imported_username("ana.lopez@example.org") == "ext.ana.lopez@example.org"
    long_name, spaced = "x" * 61, "Ana María López"
    assert imported_username(long_name) != imported_username("x" * 62)
    assert imported_username(spaced).startswith("ext.Ana_Mar_a_L_pez.")
    for name in (long_name, spaced, "日本"):
        assert len(imported_username(name)) <= 64
    assert import_key("long", 1, "ana") != import_key("labelstudio", 1, "ana")
    assert import_key("long", 1, "ana") == import_key("long", 1, "ana")
