"""The NYC Local Law 144 summary: copied from an approved report, checked against an oracle.

One store per module holds three approved reports: COMPAS registered as a logged-decision
system (sex and race, no model of ours), Adult with the default model (``ensure_demo``),
and a small hiring system with a ``gender`` feature, unknown categories and no race. The
oracle recomputes each category's rate, impact ratio and the under-2% exclusions with
pandas from the bundled Parquet files, apart from fairpanel's counting code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from sklearn.model_selection import train_test_split
from sqlalchemy import update

from audits.demo.default import DEFAULT_DECISION, ensure_demo
from audits.evidence.ll144 import (
    KIND_INTERSECTION,
    KIND_RACE,
    KIND_SEX,
    MSG_BAD_DATE,
    MSG_BAD_REPORT_ID,
    MSG_BODY_CHANGED,
    MSG_NOT_APPROVED,
    MSG_SAME_ATTRIBUTE,
    MSG_UNKNOWN_ATTRIBUTE,
    MSG_UNKNOWN_REPORT,
    NOT_GIVEN,
    LL144Summary,
    LL144Table,
    ll144_summary,
)
from audits.evidence.ll144_render import render_ll144_html, render_ll144_pdf
from audits.fairness.stored import run_fairness_audit
from audits.reports.pdf import format_cell
from audits.reports.stored import approve, draft_report, return_report, submit
from audits.roles import Actor, Role
from audits.store import ModelRecord, ReportRecord, Store, data_dir
from audits.store.tables import ReportRow
from audits.systems.registry import register_system

ROOT = Path(__file__).resolve().parents[2]
DANA = Actor("dana", Role.DATA_SCIENTIST)
CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
MIN_SHARE = 0.02  # Local Law 144: categories under 2% may be left out of the ratios
TOL = 1e-9
N_BOOT = 50  # the impact ratios are point estimates; the intervals are not read here


@dataclass(frozen=True)
class Approved:
    """The module's store and its approved reports."""

    store: Store
    compas: ReportRecord
    adult: ReportRecord
    adult_model: ModelRecord
    hiring: ReportRecord


@pytest.fixture(scope="module")
def approved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Approved]:
    home = tmp_path_factory.mktemp("ll144")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            demo = ensure_demo(store, dataset="adult")  # the demo refuses a store with users
            assert demo.model is not None
            for person in (DANA, CASEY):
                store.add_user(Actor.system(), person.username, person.role)
            compas = register_system(
                store, DANA, "compas-logged", _compas_raw(), id="id", target="two_year_recid",
                sensitive=["sex", "race"], prediction="high_risk", adverse=True,
                source="bundled file datasets/compas.parquet, ProPublica's filter",
                description="COMPAS risk labels, logged", intended_use="testing")
            adult_run = run_fairness_audit(store, DANA, demo.dataset, demo.model, n_boot=N_BOOT)
            compas_run = run_fairness_audit(store, DANA, compas.dataset, None, n_boot=N_BOOT)
            hiring_run = run_fairness_audit(store, DANA, _hiring(store, home), None,
                                            n_boot=N_BOOT)
            yield Approved(store, _approved(store, compas_run.id), _approved(store, adult_run.id),
                           demo.model, _approved(store, hiring_run.id))


def _approved(store: Store, run_id: int) -> ReportRecord:
    draft = draft_report(store, DANA, run_id)
    submit(store, DANA, draft.id)
    return approve(store, CASEY, draft.id, note="checked")


def _compas_raw() -> pd.DataFrame:
    raw = pd.read_parquet(ROOT / "datasets" / "compas.parquet")
    return raw[raw["propublica_filter"]].reset_index(drop=True)


HIRING_GENDER = ["Female"] * 280 + ["Male"] * 280 + ["Unknown"] * 30  # 10 more unmatched


def _hiring(store: Store, folder: Path) -> Any:
    """600 hiring decisions, gender kept apart and known for 590 of them; no race."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(600), "y": rng.integers(0, 2, 600),
                          "hired": rng.integers(0, 2, 600),
                          "age_band": rng.choice(["young", "old"], 600)})
    path = folder / "gender.parquet"
    pd.DataFrame({"id": np.arange(590), "gender": HIRING_GENDER}).to_parquet(path)
    return register_system(store, DANA, "hiring", frame, id="id", target="y",
                           sensitive=["gender", "age_band"], prediction="hired",
                           sensitive_data=str(path), min_match=0.9).dataset


# ---------------------------------------------------------------- oracle and comparisons


def _oracle(frame: pd.DataFrame, decision: pd.Series, columns: list[str],
            favourable: bool) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each category's n, rate, share, inclusion and impact ratio, from pandas alone."""
    good = decision if favourable else 1 - decision
    grouped = good.groupby([frame[c] for c in columns]).agg(["size", "mean"])
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for key, (n, rate) in grouped.iterrows():
        values = tuple(key) if isinstance(key, tuple) else (key,)
        share = n / len(frame)
        out[tuple(map(str, values))] = {"n": int(n), "rate": float(rate), "share": share,
                                        "included": share >= MIN_SHARE}
    top = max(v["rate"] for v in out.values() if v["included"])
    for v in out.values():
        v["impact_ratio"] = v["rate"] / top if v["included"] else None
    return out


def _block_rows(record: ReportRecord, table_id: str) -> list[dict[str, Any]]:
    return next(b["rows"] for s in record.body["sections"] for b in s["blocks"]
                if b.get("id") == table_id)


def _ll144_ids(record: ReportRecord) -> set[str]:
    return {b["id"] for s in record.body["sections"] for b in s["blocks"]
            if str(b.get("id", "")).startswith("ll144:")}


def _check_copied(summary: LL144Summary, record: ReportRecord) -> None:
    for table in summary.tables:
        stored = _block_rows(record, table.table_id)
        assert len(stored) == len(table.rows)
        for raw, row in zip(stored, table.rows, strict=True):
            assert (row.category, row.n, row.share, row.rate, row.impact_ratio, row.included,
                    row.flag, row.note) == (raw["category"], raw["n"], raw["share"],
                                            raw["rate"], raw["impact_ratio"], raw["included"],
                                            raw["flag"], raw["note"])


def _check_oracle(table: LL144Table, expected: dict[tuple[str, ...], dict[str, Any]]) -> None:
    assert {r.values for r in table.rows} == set(expected)
    for row in table.rows:
        want = expected[row.values]
        assert row.n == want["n"] and row.included == want["included"]
        assert row.rate == pytest.approx(want["rate"], abs=TOL)
        assert row.share == pytest.approx(want["share"], abs=TOL)
        if want["impact_ratio"] is None:
            assert row.impact_ratio is None and "under 2%" in row.note
        else:
            assert row.impact_ratio == pytest.approx(want["impact_ratio"], abs=TOL)


def _check_against_oracle(summary: LL144Summary, frame: pd.DataFrame, decision: pd.Series,
                          favourable: bool) -> None:
    by_kind = {t.kind: t for t in summary.tables}
    for kind, columns in ((KIND_SEX, ["sex"]), (KIND_RACE, ["race"]),
                          (KIND_INTERSECTION, ["sex", "race"])):
        _check_oracle(by_kind[kind], _oracle(frame, decision, columns, favourable))


# ---------------------------------------------------------------- the two acceptance systems


def test_compas_logged_system_summary_matches_its_report_and_the_oracle(
        approved: Approved) -> None:
    store, record = approved.store, approved.compas
    summary = ll144_summary(store, record.id, distribution_date=date(2025, 3, 1))
    assert _ll144_ids(record) == {t.table_id for t in summary.tables} == {
        "ll144:sex", "ll144:race", "ll144:sex+race"}
    assert [t.kind for t in summary.tables] == [KIND_SEX, KIND_RACE, KIND_INTERSECTION]
    _check_copied(summary, record)
    raw = _compas_raw()
    _check_against_oracle(summary, raw, raw["high_risk"], favourable=False)
    race = next(t for t in summary.tables if t.kind == KIND_RACE)
    assert {r.values for r in race.excluded} == {("Asian",), ("Native American",)}
    manifest = record.manifest or {}
    run = store.get_audit_run(record.audit_run_id)
    assert run is not None
    assert (summary.report_id, summary.body_sha256, summary.approved_by) == (
        record.id, record.body_sha256, "casey")
    assert summary.audit_date.isoformat() == manifest["approved_at"][:10]
    assert (summary.audit_run_id, summary.audit_run_at) == (run.id, run.created_at)
    assert summary.dataset_sha256 == manifest["dataset_sha256"]
    assert summary.rows_audited == len(raw) and summary.historical_data
    assert summary.distribution_date == date(2025, 3, 1) and summary.gaps == ()
    assert summary.missing_categories == () and all(t.n_unknown == 0 for t in summary.tables)


def test_adult_summary_with_the_default_model_matches_its_report_and_the_oracle(
        approved: Approved) -> None:
    store, record, model = approved.store, approved.adult, approved.adult_model
    summary = ll144_summary(store, record.id)
    assert _ll144_ids(record) == {t.table_id for t in summary.tables}
    _check_copied(summary, record)
    raw = pd.read_parquet(ROOT / "datasets" / "adult.parquet")
    dataset = store.get_dataset(model.dataset_id)
    assert dataset is not None and dataset.data_path is not None
    stored = pd.read_parquet(data_dir() / dataset.data_path)  # the model's decisions
    assert stored["row_id"].tolist() == list(range(len(raw)))
    positions = np.arange(len(raw))
    _, held_out = train_test_split(positions, test_size=int(model.split["n_test"]),
                                   stratify=raw["income_over_50k"],
                                   random_state=int(model.split["random_state"]))
    rows = np.sort(held_out)
    frame = raw.iloc[rows].reset_index(drop=True)
    decision = stored[DEFAULT_DECISION].iloc[rows].reset_index(drop=True).astype(int)
    _check_against_oracle(summary, frame, decision, favourable=True)
    assert summary.rows_audited == len(frame) and not summary.historical_data
    assert "Test data" in summary.data_explanation
    assert summary.gaps[:2] == ("the distribution date is not given",
                                "test data: state why historical data was not used (§ 5-302(b))")


# ---------------------------------------------------------------- refusals


def test_draft_submitted_and_returned_reports_are_refused(approved: Approved) -> None:
    store, run_id = approved.store, approved.compas.audit_run_id
    draft = draft_report(store, DANA, run_id)
    submitted = submit(store, DANA, draft_report(store, DANA, run_id).id)
    returned = submit(store, DANA, draft_report(store, DANA, run_id).id)
    returned = return_report(store, CASEY, returned.id, "fix the card")
    for record, status in ((draft, "draft"), (submitted, "submitted"), (returned, "returned")):
        assert store.get_report(record.id).status == status  # type: ignore[union-attr]
        with pytest.raises(ValueError, match=re.escape(MSG_NOT_APPROVED.format(
                id=record.id, status=status))):
            ll144_summary(store, record.id)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_REPORT.format(id=10_000)):
        ll144_summary(store, 10_000)
    with pytest.raises(TypeError, match=re.escape(MSG_BAD_REPORT_ID.format(value="1"))):
        ll144_summary(store, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape(MSG_BAD_DATE.format(value="2025-01-01"))):
        ll144_summary(store, approved.compas.id, distribution_date="2025-01-01")  # type: ignore[arg-type]


def test_a_report_edited_after_approval_is_refused(approved: Approved) -> None:
    store = approved.store
    record = _approved(store, approved.compas.audit_run_id)
    body = {**record.body, "title": record.body["title"] + " (edited)"}
    with store.engine.begin() as conn:
        conn.execute(update(ReportRow).where(ReportRow.id == record.id).values(body_json=body))
    with pytest.raises(ValueError, match=re.escape(MSG_BODY_CHANGED.split("(")[0].format(
            id=record.id))):
        ll144_summary(store, record.id)


# ---------------------------------------------------------------- the published page


def _expected_strings(summary: LL144Summary) -> list[str]:
    found = []
    for table in summary.tables:
        for row in table.rows:
            found += [*row.values, str(row.n), format_cell(row.share, "pct"),
                      format_cell(row.rate, "rate"), format_cell(row.impact_ratio, "rate")]
    return found


def test_html_and_pdf_state_every_category_and_its_numbers(approved: Approved) -> None:
    store = approved.store
    for record in (approved.compas, approved.adult):
        summary = ll144_summary(store, record.id)
        page = render_ll144_html(summary)
        assert "http" not in page and "<link" not in page and "src=" not in page
        assert f"Distribution date of the tool</dt><dd>{NOT_GIVEN}</dd>" in page
        for text in [*_expected_strings(summary), summary.body_sha256, "casey"]:
            assert text in page, text
        for table in summary.tables:
            for row in table.rows:
                cells = "".join(f"<td>{v}</td>" for v in (*row.values, row.n))
                assert cells in page.replace("&amp;", "&"), row.category
        pdf = PdfReader(BytesIO(render_ll144_pdf(summary)))
        assert len(pdf.pages) == 1
        text = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
        for expected in [*_expected_strings(summary), NOT_GIVEN]:
            assert expected in text, expected
    dated = ll144_summary(store, approved.compas.id, distribution_date=date(2024, 6, 30))
    assert "<dd>2024-06-30</dd>" in render_ll144_html(dated)


def test_pdf_is_repeatable(approved: Approved) -> None:
    summary = ll144_summary(approved.store, approved.compas.id)
    assert render_ll144_pdf(summary) == render_ll144_pdf(summary)


# ---------------------------------------------------------------- missing race, unknowns


def test_missing_race_is_named_and_unknown_categories_are_counted(approved: Approved) -> None:
    store, record = approved.store, approved.hiring
    summary = ll144_summary(store, record.id)
    assert (summary.sex_attribute, summary.race_attribute) == ("gender", None)
    assert summary.missing_categories == (KIND_RACE, KIND_INTERSECTION)
    (table,) = summary.tables
    _check_copied(summary, record)
    gender = pd.Series(HIRING_GENDER + [None] * 10)
    assert table.n_unknown == int(gender.isin(["Unknown"]).sum() + gender.isna().sum()) == 40
    assert {r.values[0] for r in table.rows if r.unknown} == {"Unknown", "(missing)"}
    assert "unknown category gender=Unknown is counted in the impact ratios" in summary.gaps
    page = render_ll144_html(summary)
    assert f"Missing: the report has no {KIND_RACE} table" in page
    assert f"{KIND_SEX}: 40" in page
    assert summary.to_dict()["missing_categories"] == [KIND_RACE, KIND_INTERSECTION]
    with pytest.raises(ValueError, match=re.escape(MSG_UNKNOWN_ATTRIBUTE.format(
            role="race", name="ethnic_group", id=record.id, choices="gender, age_band"))):
        ll144_summary(store, record.id, race_attribute="ethnic_group")
    with pytest.raises(ValueError, match=re.escape(MSG_SAME_ATTRIBUTE.format(name="gender"))):
        ll144_summary(store, record.id, sex_attribute="gender", race_attribute="gender")
    chosen = ll144_summary(store, record.id, race_attribute="age_band")  # a stand-in
    assert chosen.missing_categories == () and len(chosen.tables) == 3
    assert chosen.tables[2].table_id == "ll144:gender+age_band"
    assert all(r.values[0] in HIRING_GENDER + ["(missing)"] for r in chosen.tables[2].rows)
