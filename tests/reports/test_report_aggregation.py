"""A report says where its counts were made, and embeds the exact SQL when a database
made them, so an auditor can run it again and get the same counts.

A stored audit of a registered version is counted in memory (pandas): the report's
method says so. A run whose counts were made by DuckDB (the COMPAS decisions, written to
Parquet and counted by ``count_groups_duckdb``, stored through the store's own run API)
carries the query: the report's JSON, HTML and PDF all hold it, and DuckDB, given the
query taken back out of the HTML, returns rows whose counts are the audited rows.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.fairness.pushdown import count_groups_duckdb
from audits.fairness.stored import decisions_for, run_fairness_audit
from audits.reports.render import render_html, render_pdf
from audits.reports.report import Report, build_report
from audits.roles import Actor, Role
from audits.store import Store

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Report, Report, int]]:
    home: Path = tmp_path_factory.mktemp("report-aggregation")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            state = ensure_demo(store, dataset="compas")
            run = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=200)
            decisions = decisions_for(store, SCIENTIST, state.dataset, None)
            path = home / "decisions.parquet"
            decisions.frame.to_parquet(path, index=False)
            _, aggregation = count_groups_duckdb(
                path, y_true=decisions.y_true, y_pred=decisions.y_pred,
                y_score=decisions.y_score,
                sensitive_features=list(run.config["sensitive_features"]), with_query=True)
            pushed = store.create_audit_run(SCIENTIST, dataset_id=run.dataset_id,
                                            model_id=None, config=dict(run.config))
            store.finish_audit_run(SCIENTIST, pushed.id, results={
                **(run.results or {}), "aggregation": aggregation.to_dict()})
            yield (build_report(store, COMPLIANCE, run.id),
                   build_report(store, COMPLIANCE, pushed.id), len(decisions.frame))


def method(report: Report) -> dict[str, str]:
    section = next(s for s in report.body["sections"] if s["key"] == "method")
    return dict(section["blocks"][0]["rows"])


def test_a_stored_audit_says_its_counts_were_made_in_memory(
        reports: tuple[Report, Report, int]) -> None:
    in_memory, _, _ = reports
    assert method(in_memory)["Counts computed by"] == (
        "pandas, in memory, over logged decisions")
    assert "<pre><code>" not in render_html(in_memory)


def test_the_embedded_query_runs_again_to_the_audited_counts(
        reports: tuple[Report, Report, int]) -> None:
    _, pushed, n_rows = reports
    assert method(pushed)["Counts computed by"].startswith(
        "duckdb, where the data live (source read_parquet('")
    page = render_html(pushed)
    queries = [html.unescape(q) for q in re.findall(r"<pre><code>(.*?)</code></pre>", page,
                                                    flags=re.S)]
    # COMPAS's decile score lies outside [0, 1]: binned again over its own range.
    assert len(queries) == 2 and all(q.startswith("SELECT ") for q in queries)
    with duckdb.connect() as con:
        rows = con.execute(queries[-1]).fetchall()
    # Keys: three sensitive features, outcome, decision and the score; then count(*).
    assert sum(r[6] for r in rows) == n_rows
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(
        render_pdf(pushed))).pages)
    assert "Aggregation query 2 of 2, as run on duckdb" in text
    assert "read_parquet(" in text and "GROUP BY" in text
