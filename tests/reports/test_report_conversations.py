"""The report of a conversation system: its own section, copied from kept findings.

Drafting the report of a conversation system's audit keeps its findings as an audit run
(reused while the ratings are unchanged, recomputed once they change), and the section
copies them: the bot's rates per user group with the planted escalation gap failing, the
judge against the panel by every user attribute with the planted harsher judge (tone,
regional dialect), automation bias, the knowledge gaps. Oracle: the kept run's results,
and :func:`audits.conversations.conversation_findings` computed here. A decision
system's report has no such section.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audits.conversations.findings import (
    FINDINGS_KIND,
    conversation_findings,
    latest_conversation_findings,
)
from audits.conversations.records import conversations_from_records
from audits.conversations.simulated import simulate_conversations
from audits.conversations.stored import build_conversation_queue, register_conversations
from audits.demo.conversations import rate_as_simulated_panel
from audits.flagging.policy import CONVERSATION_QUOTAS, FlagPolicy
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue
from audits.reports.conversations import SECTION_KEY, SECTION_TITLE
from audits.reports.render import render_html, render_pdf
from audits.reports.report import build_report
from audits.reports.stored import draft_report
from audits.roles import Actor, Role
from audits.store import Store

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
LEAD = Actor("lead", Role.PANEL_LEAD)


@pytest.fixture
def reviewed(database_url: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, int, Any]]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    sim = simulate_conversations(2_000, seed=0)
    with Store(database_url) as store:
        register_conversations(store, Actor.system(), "helpdesk",
                               conversations_from_records(sim.records))
        queue = build_conversation_queue(
            store, SCIENTIST, "helpdesk",
            policy=FlagPolicy(budget=150, quotas=CONVERSATION_QUOTAS))
        for i in range(6):
            store.add_user(Actor.system(), f"rev{i}", Role.REVIEWER)
            store.add_reviewer(LEAD, f"rev{i}", capacity=500)
        assign_queue(store, LEAD, queue.audit_run.id, config=PanelConfig(overlap=3))
        rate_as_simulated_panel(store, LEAD, queue.audit_run.id, sim)
        yield store, queue.audit_run.id, sim


def _section(body: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in body["sections"] if s["key"] == SECTION_KEY)


def _table(section: dict[str, Any], table_id: str) -> list[dict[str, Any]]:
    return next(b["rows"] for b in section["blocks"] if b.get("id") == table_id)


def test_the_report_copies_the_kept_findings(reviewed: tuple[Store, int, Any]) -> None:
    store, run_id, sim = reviewed
    assert latest_conversation_findings(store, run_id) is None
    draft = draft_report(store, SCIENTIST, run_id)
    kept = latest_conversation_findings(store, run_id)
    assert kept is not None and kept.config["kind"] == FINDINGS_KIND
    titles = [s["title"] for s in draft.body["sections"]]
    assert titles.index(SECTION_TITLE) == titles.index("Worst-off subgroups nobody declared") + 1
    section = _section(draft.body)
    found = kept.results
    # The rates: every single-attribute group, copied; the planted gap fails.
    rates = _table(section, "conversation_rates")
    stored = [r for r in found["rates"] if " & " not in r["group"]]
    assert [(r["group"], r["n"]) for r in rates] == [(r["group"], r["n"]) for r in stored]
    assert [r["value"]["value"] for r in rates] == [r["value"] for r in stored]
    failing = next(b["items"] for b in section["blocks"] if b["type"] == "list")
    assert any(line.startswith("Escalated to a person fails the four-fifths rule for es")
               for line in failing)
    assert not any(" region" in line or "north" in line for line in failing)
    # The judge, by every attribute: the harsher judge on the regional dialect's tone.
    bias = {(r["criterion"], r["attribute"], r["group"]): r for r in _table(section,
                                                                            "judge_bias")}
    tone = bias[("tone", "dialect", "regional")]
    assert tone["offset"]["ci_high"] < 0 and tone["p_adjusted"] < 0.05
    assert {a for _, a, _ in bias} == {"channel", "dialect", "language", "region"}
    assert _table(section, "judge_automation")
    assert _table(section, "conversation_gaps")
    # Oracle: the findings computed here, by the engine, on the same store.
    oracle = conversation_findings(store, LEAD, "helpdesk", judges_by=["dialect"]).to_dict()
    assert found["judges_by"]["dialect"]["bias"] == oracle["judges_by"]["dialect"]["bias"]
    # The same stored data give the same body; the renderers print the section.
    assert build_report(store, SCIENTIST, run_id).body == draft.body
    assert SECTION_TITLE in render_html(build_report(store, SCIENTIST, run_id))
    assert render_pdf(build_report(store, SCIENTIST, run_id)).startswith(b"%PDF")

    # Unchanged ratings reuse the kept findings; new ratings keep new ones.
    draft_report(store, SCIENTIST, run_id)
    assert latest_conversation_findings(store, run_id) == kept
    store.add_user(Actor.system(), "late", Role.REVIEWER)
    store.add_reviewer(LEAD, "late", capacity=20)
    assign_queue(store, LEAD, run_id, config=PanelConfig(overlap=4))
    rate_as_simulated_panel(store, LEAD, run_id, sim)
    draft_report(store, SCIENTIST, run_id)
    second = latest_conversation_findings(store, run_id)
    assert second is not None and second.id > kept.id
    assert second.results["rated"] == kept.results["rated"]  # the same conversations
    assert second.config["ratings_sha256"] != kept.config["ratings_sha256"]
