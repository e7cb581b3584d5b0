"""The My reviews, Adjudication and Reviewer panel pages, against a prepared demo panel.

The pages run in-process with ``streamlit.testing.v1.AppTest`` on a german_credit demo
(logistic regression) prepared once for this module by
:func:`audits.demo.panel.ensure_full_demo`: the queue, the panel with simulated
reviewers who have rated their cases, and the reviewer persona's 40 open cases. What
the pages show is checked against the store, read independently of the pages.
"""

from __future__ import annotations

import doctest
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import app_support
import pytest
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app import review_tables, state
from app.navigation import pages_for
from audits.roles import Actor, Role
from audits.store import CaseReview, Store
from audits.store.panel import MIN_AGGREGATE, MSG_NO_CONSENT
from audits.store.reviews import ADJUDICATION_THRESHOLD, disagreement

MINE, ADJUDICATION, PANEL = ("app_pages/my_reviews.py", "app_pages/adjudication.py",
                             "app_pages/panel.py")
QUEUE = "app_pages/review_queue.py"
TITLES = {MINE: "My reviews", ADJUDICATION: "Adjudication", PANEL: "Reviewer panel",
          QUEUE: "Review queue"}
REVIEWER = Actor("demo-reviewer", Role.REVIEWER)
LEAD = Actor("demo-panel-lead", Role.PANEL_LEAD)
SENTINEL = "GOLD-ANSWER-SENTINEL-41c9"


@dataclass(frozen=True)
class PanelEnv:
    env: dict[str, str]
    url: str
    run_id: int


@pytest.fixture(scope="module")
def panel_env(demo_templates: DemoTemplates,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelEnv]:
    """The german_credit demo with its queue and panel (a private copy)."""
    with app_support.full_demo_copy(demo_templates, tmp_path_factory,
                                    "fairpanel-review") as copy:
        yield PanelEnv(env=copy.env, url=copy.url, run_id=copy.demo.panel.audit_run_id)


@pytest.fixture
def app_env(panel_env: PanelEnv, monkeypatch: pytest.MonkeyPatch) -> PanelEnv:
    for key, value in panel_env.env.items():
        monkeypatch.setenv(key, value)
    return panel_env


@pytest.fixture
def store(app_env: PanelEnv) -> Iterator[Store]:
    with Store(app_env.url) as opened:
        yield opened


def open_page(page: str, role: Role = Role.REVIEWER, *, case: int | None = None) -> AppTest:
    at = app_support.open_page(page, TITLES[page], role)
    if case is not None:
        at.query_params["case"] = str(case)
        at.run()
        assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def rendered_text(at: AppTest) -> str:
    """Every string the page drew: text elements, tables, widget labels and options."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "info", "error", "success", "warning", "subheader",
                 "title", "text", "metric"):
        parts += [str(getattr(e, "value", "")) for e in getattr(at, kind)]
    parts += [d.value.to_csv() for d in at.dataframe]
    for widget in (*at.radio, *at.selectbox, *at.multiselect):
        parts += [str(widget.label), *map(str, widget.options)]
    parts += [str(e.proto) for e in at.get("plotly_chart")]
    parts += [e.proto.text for e in at.get("progress")]
    parts += html_bodies(at)
    return "\n".join(parts)


def html_bodies(at: AppTest) -> list[str]:
    """The bodies of the page's ``st.html`` elements (the feature grid, instructions)."""
    return [e.proto.body for e in at.get("html")]


def feature_grid(at: AppTest) -> dict[str, str]:
    """The case's feature grid as {column name: value} (from each cell's title)."""
    grid = next(b for b in html_bodies(at) if 'class="fp-features"' in b)
    cells = re.findall(r'title="([^"]*)"><div class="fp-name">([^<]*)</div>'
                       r'<div class="fp-value">([^<]*)</div>', grid)
    return {html.unescape(name): html.unescape(value) for name, _, value in cells}


def form_key(at: AppTest) -> str:
    """The key prefix of the rating form on display (``my_reviews.form.<case>.v<n>``)."""
    labels = [r.key for r in at.radio if r.key and r.key.endswith(".label")]
    assert len(labels) == 1, labels
    return labels[0].removesuffix(".label")


def fill_form(at: AppTest, *, label: int, confidence: int, rationale: str = "") -> None:
    key = form_key(at)
    at.radio(key=f"{key}.label").set_value(label)
    at.radio(key=f"{key}.confidence").set_value(confidence)
    at.text_area(key=f"{key}.rationale").input(rationale)
    at.button(key=f"{key}.submit").click().run()
    assert not at.exception, at.exception


def shown_case(at: AppTest) -> int:
    """The case on display, from its header ``Case <id> · <system>``."""
    headings = [s.value for s in at.subheader if s.value.startswith("Case ")]
    assert len(headings) == 1, headings
    found = re.fullmatch(r"Case (\d+) · german_credit", headings[0])
    assert found, headings[0]
    return int(found.group(1))


def my_rating_rows(store: Store, run_id: int, case_id: int) -> list[dict[str, Any]]:
    me = next(r.id for r in store.list_reviewers(LEAD) if r.username == REVIEWER.username)
    return [r for r in store.ratings_table(LEAD, run_id)
            if r["case_id"] == case_id and r["reviewer_id"] == me]


def other_reviewers_case(store: Store, run_id: int) -> int:
    """A case of the audit with no assignment to the reviewer persona."""
    me = next(r.id for r in store.list_reviewers(LEAD) if r.username == REVIEWER.username)
    table = store.assignment_table(LEAD, run_id)
    mine = {a["case_id"] for a in table if a["reviewer_id"] == me}
    return next(a["case_id"] for a in table if a["case_id"] not in mine)


def disputable_case(store: Store) -> tuple[int, int]:
    """An open case of the persona and a label that leaves it disputed (still open)."""
    for item in store.my_assignments(REVIEWER):
        others = [int(r["label"]) for r in store.case_review(LEAD, item.case_id).ratings]
        for label in (0, 1):
            if not item.done and disagreement([*others, label]) > ADJUDICATION_THRESHOLD:
                return item.case_id, label
    raise AssertionError("no case the persona can leave disputed")


def open_case_where(store: Store, *, model_shown: bool) -> int:
    """An open, unrated case of the persona with the model shown (or hidden)."""
    for item in store.my_assignments(REVIEWER):
        if not item.done and store.open_case(REVIEWER, item.case_id).model_shown is model_shown:
            return item.case_id
    raise AssertionError(f"no open case with model_shown={model_shown}")


# -- My reviews ------------------------------------------------------------------------


def test_reviewer_sees_progress_and_the_first_open_case(app_env: PanelEnv, store: Store) -> None:
    at = open_page(MINE)
    assert not at.error, [e.value for e in at.error]
    mine = store.my_assignments(REVIEWER)
    rated = sum(1 for a in mine if a.rated)
    assert metrics(at) == {"Assigned": str(len(mine)), "Rated": str(rated),
                           "Still to rate": str(len(mine) - rated)}
    first = next(a for a in mine if not a.done)
    assert shown_case(at) == first.case_id
    view = store.open_case(REVIEWER, first.case_id)
    expected = {**view.snapshot.get("sensitive", {}), **view.snapshot["features"]}
    assert feature_grid(at) == {k: str(v) for k, v in expected.items()}
    # Readable names with units from the system's card, never raw snake_case.
    grid = next(b for b in html_bodies(at) if 'class="fp-features"' in b)
    assert ">Credit amount (DM)<" in grid and ">Duration (months)<" in grid
    assert ">credit_amount<" not in grid


def test_model_hidden_case_shows_no_decision_score_or_explanation(app_env: PanelEnv,
                                                                  store: Store) -> None:
    case_id = open_case_where(store, model_shown=False)
    at = open_page(MINE, case=case_id)
    assert shown_case(at) == case_id
    assert any("suggestion is hidden for this case" in i.value for i in at.info)
    text = rendered_text(at)
    assert "The model's decision" not in text and "Score" not in text
    assert not at.get("plotly_chart")
    full = store.case_review(LEAD, case_id).snapshot
    assert full["decision"]["label"] not in text
    # The reviewer still chooses between the dataset's two outcomes.
    assert at.radio(key=f"{form_key(at)}.label").options == ["Good credit risk (1)",
                                                             "Not good credit risk (0)"]


def test_model_shown_case_shows_decision_score_and_waterfall(app_env: PanelEnv,
                                                             store: Store) -> None:
    case_id = open_case_where(store, model_shown=True)
    at = open_page(MINE, case=case_id)
    snapshot = store.open_case(REVIEWER, case_id).snapshot
    texts = [m.value for m in at.markdown]
    assert f"**The model's decision**  \n{snapshot['decision']['label']}" in texts
    assert any(t.startswith(f"**Score**  \n{snapshot['score']:.3f} (") for t in texts)
    waterfall = at.get("plotly_chart")[0].proto.spec
    assert '"waterfall"' in waterfall
    assert any("suggestion is shown for this case" in c.value for c in at.caption)


def test_submitting_a_rating_moves_to_the_next_case(app_env: PanelEnv, store: Store) -> None:
    at = open_page(MINE)
    before = int(metrics(at)["Rated"])
    case_id = shown_case(at)
    fill_form(at, label=1, confidence=4, rationale="Long duration but steady job.")
    assert not at.error, [e.value for e in at.error]
    assert int(metrics(at)["Rated"]) == before + 1
    assert any(f"Rating of case {case_id} saved" in s.value for s in at.success)
    next_open = next(a.case_id for a in store.my_assignments(REVIEWER) if not a.done)
    assert shown_case(at) == next_open != case_id
    rating = store.open_case(REVIEWER, case_id).my_rating
    assert rating is not None
    assert (rating.label, rating.confidence, rating.version) == (1, 4, 1)
    assert rating.rationale == "Long duration but steady job."
    assert 0.0 <= rating.seconds_spent < 600.0
    assert case_id not in at.session_state[state.KEY_REVIEW_FORMS]


def test_a_resubmitted_form_stores_one_rating(app_env: PanelEnv, store: Store) -> None:
    at = open_page(MINE)
    case_id = shown_case(at)
    key, _ = at.session_state[state.KEY_REVIEW_FORMS][case_id]
    # The first click reached the store, but its answer never came back to the page...
    first = store.submit_rating(REVIEWER, case_id, label=0, confidence=3,
                                rationale="first click", seconds_spent=5.0,
                                idempotency_key=key)
    assert first.outcome == "created"
    # ...so the same drawn form is sent again, with the same key.
    fill_form(at, label=0, confidence=3, rationale="first click")
    assert any("already saved; nothing changed" in s.value for s in at.success)
    rows = my_rating_rows(store, app_env.run_id, case_id)
    assert len(rows) == 1 and rows[0]["version"] == 1
    entries = [e for e in store.log_entries(limit=20)
               if e.action.startswith("rating_") and e.entity_id == str(case_id)
               and e.actor == REVIEWER.username]
    assert [e.payload["idempotency_key"] for e in entries] == [key]


def test_override_without_rationale_shows_the_engine_error(app_env: PanelEnv,
                                                           store: Store) -> None:
    case_id = open_case_where(store, model_shown=True)
    at = open_page(MINE, case=case_id)
    model = store.open_case(REVIEWER, case_id).snapshot["decision"]["value"]
    key, drawn_at = at.session_state[state.KEY_REVIEW_FORMS][case_id]
    fill_form(at, label=1 - model, confidence=2, rationale="")
    assert at.error and "a rationale is required" in at.error[0].value
    assert store.open_case(REVIEWER, case_id).my_rating is None
    assert my_rating_rows(store, app_env.run_id, case_id) == []
    # The form keeps the values and the key it was drawn with.
    prefix = form_key(at)
    assert at.radio(key=f"{prefix}.label").value == 1 - model
    assert at.radio(key=f"{prefix}.confidence").value == 2
    assert at.session_state[state.KEY_REVIEW_FORMS][case_id] == (key, drawn_at)
    at.text_area(key=f"{prefix}.rationale").input("The savings outweigh the duration.")
    at.button(key=f"{prefix}.submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert store.log_entries(limit=1)[0].payload["idempotency_key"] == key


def test_submit_without_a_decision_is_refused(app_env: PanelEnv, store: Store) -> None:
    at = open_page(MINE)
    case_id = shown_case(at)
    at.button(key=f"{form_key(at)}.submit").click().run()
    assert at.error and "Choose your decision" in at.error[0].value
    assert store.open_case(REVIEWER, case_id).my_rating is None


def assert_nothing_of(at: AppTest, store: Store, case_id: int) -> None:
    assert any(f"Case {case_id} is not assigned to you" in e.value for e in at.error)
    assert not [s for s in at.subheader if s.value.startswith(f"Case {case_id} ")]
    assert not [d for d in at.dataframe if "attribute" in d.value.columns]
    assert not at.get("plotly_chart")
    assert not [r for r in at.radio if r.key and r.key.startswith("my_reviews.form.")]
    snapshot = store.case_review(LEAD, case_id).snapshot
    text = rendered_text(at)
    words = [str(v) for v in (*snapshot["features"].values(), *snapshot["sensitive"].values())
             if isinstance(v, str) and len(v) >= 8]
    assert words, "the case has distinctive feature values to look for"
    assert not [w for w in words if w in text]
    assert snapshot["decision"]["label"] not in text


def test_another_reviewers_case_by_url_shows_nothing(app_env: PanelEnv, store: Store) -> None:
    other = other_reviewers_case(store, app_env.run_id)
    at = open_page(MINE, case=other)
    assert_nothing_of(at, store, other)


def test_tampered_session_case_shows_nothing(app_env: PanelEnv, store: Store) -> None:
    other = other_reviewers_case(store, app_env.run_id)
    at = open_page(MINE)
    at.session_state[state.KEY_REVIEW_CASE] = other
    at.run()
    assert not at.exception, at.exception
    assert_nothing_of(at, store, other)
    at.button(key="my_reviews.next").click().run()
    assert shown_case(at) == next(a.case_id for a in store.my_assignments(REVIEWER)
                                  if not a.done)


def test_bad_case_parameter(app_env: PanelEnv) -> None:
    at = app_support.open_page(MINE, TITLES[MINE], Role.REVIEWER)
    at.query_params["case"] = "drop table"
    at.run()
    assert at.error and "is not a case number" in at.error[0].value


def test_a_rated_case_can_be_changed_while_open(app_env: PanelEnv, store: Store) -> None:
    case_id, label = disputable_case(store)
    at = open_page(MINE, case=case_id)
    fill_form(at, label=label, confidence=2, rationale="first thoughts")
    assert store.case_review(LEAD, case_id).status in {"in_review", "disputed"}
    at.selectbox(key="my_reviews.rated.case").set_value(case_id)
    at.button(key="my_reviews.rated.open").click().run()
    assert shown_case(at) == case_id
    prefix = form_key(at)
    assert prefix.startswith(f"my_reviews.form.{case_id}.")
    assert (at.radio(key=f"{prefix}.label").value, at.radio(key=f"{prefix}.confidence").value) \
        == (label, 2)
    assert at.text_area(key=f"{prefix}.rationale").value == "first thoughts"
    fill_form(at, label=label, confidence=5, rationale="second thoughts")
    assert any("was updated (version 2)" in s.value for s in at.success)
    rating = store.open_case(REVIEWER, case_id).my_rating
    assert rating is not None and (rating.confidence, rating.version) == (5, 2)
    assert len(my_rating_rows(store, app_env.run_id, case_id)) == 1
    rated = next(d.value for d in at.dataframe if "your decision" in d.value.columns)
    assert rated.loc[rated["case"] == case_id, "version"].item() == 2


def test_background_needs_consent_and_can_be_withdrawn(app_env: PanelEnv, store: Store) -> None:
    at = open_page(MINE)
    at.selectbox(key="my_reviews.background.age_band").set_value("30-44")
    at.button(key="my_reviews.background.save").click().run()
    assert at.error and MSG_NO_CONSENT in at.error[0].value
    me = next(r.id for r in store.list_reviewers(LEAD) if r.username == REVIEWER.username)
    assert me not in store.backgrounds_for_assignment(LEAD)
    at.checkbox(key="my_reviews.background.consent").check()
    at.button(key="my_reviews.background.save").click().run()
    assert not at.error, [e.value for e in at.error]
    assert store.backgrounds_for_assignment(LEAD)[me] == {"age_band": "30-44"}
    at.button(key="my_reviews.background.withdraw").click().run()
    assert me not in store.backgrounds_for_assignment(LEAD)


def test_instructions_show_above_the_case_and_follow_the_lead(app_env: PanelEnv,
                                                                store: Store) -> None:
    at = open_page(MINE)
    [expander] = [e for e in at.expander if e.label == "Instructions: what you decide"]
    text = "\n".join(html_bodies(at))
    default = store.review_instructions("german_credit")
    assert not default.written and default.question in text
    assert "Good credit risk (1)</strong>" in text
    lead = Actor("demo-panel-lead", Role.PANEL_LEAD)
    store.set_review_instructions(lead, "german_credit",
                                  question="Would you lend to this applicant?",
                                  positive_meaning="Lend: likely to repay.",
                                  negative_meaning="Do not lend: likely to default.")
    try:
        at.run()
        text = "\n".join(html_bodies(at))
        assert "Would you lend to this applicant?" in text and "likely to default." in text
        assert any("Written by demo-panel-lead" in c.value for c in at.caption)
    finally:
        store.set_review_instructions(lead, "german_credit", question=default.question,
                                      positive_meaning=default.positive_meaning,
                                      negative_meaning=default.negative_meaning,
                                      notes=default.notes)


def test_skip_moves_the_case_to_the_end_of_the_queue(app_env: PanelEnv, store: Store) -> None:
    at = open_page(MINE)
    case_id = shown_case(at)
    at.button(key=f"{form_key(at)}.skip").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"Case {case_id} skipped" in s.value for s in at.success)
    mine = [a for a in store.my_assignments(REVIEWER) if not a.done]
    assert mine[-1].case_id == case_id and mine[-1].skipped_at is not None
    assert shown_case(at) == mine[0].case_id != case_id
    assert store.open_case(REVIEWER, case_id).my_rating is None
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.entity_id, entry.actor) == ("case_skipped", str(case_id),
                                                            REVIEWER.username)


def test_cannot_tell_is_recorded_with_the_rationale_as_reason(app_env: PanelEnv,
                                                              store: Store) -> None:
    at = open_page(MINE)
    case_id = shown_case(at)
    before = int(metrics(at)["Still to rate"])
    key = form_key(at)
    at.text_area(key=f"{key}.rationale").input("Employment length is missing.")
    at.button(key=f"{key}.cannot_tell").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"Case {case_id} recorded as cannot tell" in s.value for s in at.success)
    assert int(metrics(at)["Still to rate"]) == before - 1
    assert any("1 cannot tell" in p.proto.text for p in at.get("progress"))
    assert store.open_case(REVIEWER, case_id).cannot_tell
    answers = store.case_review(LEAD, case_id).cannot_tell
    assert [a["reason"] for a in answers] == ["Employment length is missing."]
    assert shown_case(at) != case_id
    # Listed among the answered cases, and not offered for a change.
    answered = next(d.value for d in at.dataframe if "your decision" in d.value.columns)
    assert answered.loc[answered["case"] == case_id, "your decision"].item() == "cannot tell"
    assert case_id not in at.selectbox(key="my_reviews.rated.case").options


def test_lead_edits_instructions_on_the_review_queue(app_env: PanelEnv, store: Store) -> None:
    at = open_page(QUEUE, Role.PANEL_LEAD)
    assert not at.error, [e.value for e in at.error]
    [area] = [t for t in at.text_area if t.label == "What is being decided"]
    prefix = area.key.removesuffix(".question")
    before = store.review_instructions("german_credit")
    at.text_area(key=f"{prefix}.positive").input("")
    at.button(key="review_queue.instructions.save").click().run()
    assert at.error and "positive_meaning" in at.error[0].value
    assert store.review_instructions("german_credit") == before
    at.text_area(key=f"{prefix}.positive").input("Good risk: repays as agreed.")
    at.button(key="review_queue.instructions.save").click().run()
    assert not at.error, [e.value for e in at.error]
    saved = store.review_instructions("german_credit")
    assert saved.written and saved.positive_meaning == "Good risk: repays as agreed."
    assert saved.updated_by == LEAD.username
    assert any("saved" in s.value for s in at.success)
    # The fields now start from what was stored.
    [area] = [t for t in at.text_area if t.label == "What the positive label (1) means"]
    assert area.value == "Good risk: repays as agreed."
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor) == ("set_review_instructions", LEAD.username)


def test_others_read_the_instructions_but_cannot_edit(app_env: PanelEnv) -> None:
    at = open_page(QUEUE, Role.DATA_SCIENTIST)
    assert not [t for t in at.text_area if t.label == "What is being decided"]
    assert any('class="fp-instructions"' in b for b in html_bodies(at))


# -- Adjudication and the panel ----------------------------------------------------------


def test_lead_adjudicates_a_disputed_case(app_env: PanelEnv, store: Store) -> None:
    at = open_page(ADJUDICATION, Role.PANEL_LEAD)
    assert not at.error, [e.value for e in at.error]
    disputed = store.disputed_cases(LEAD, audit_run_id=app_env.run_id)
    assert metrics(at) == {"Disputed cases waiting": str(len(disputed))}
    case = disputed[0]
    assert at.selectbox(key="adjudication.case_id").value == case.case_id
    ratings = next(d.value for d in at.dataframe if "rationale" in d.value.columns)
    assert ratings["reviewer"].tolist() == [r["reviewer"] for r in case.ratings]
    assert ratings["confidence"].tolist() == [r["confidence"] for r in case.ratings]
    assert ratings["model's suggestion"].tolist() == [
        "shown" if r["model_shown"] else "hidden" for r in case.ratings]
    prefix = f"adjudication.form.{case.case_id}"
    assert at.radio(key=f"{prefix}.label").options == ["Good credit risk (1)",
                                                       "Not good credit risk (0)"]
    at.radio(key=f"{prefix}.label").set_value(1)
    at.button(key=f"{prefix}.submit").click().run()
    assert at.error and "reason must not be empty" in at.error[0].value
    assert store.case_review(LEAD, case.case_id).status == "disputed"
    at.text_area(key=f"{prefix}.reason").input("Two of three reasons hold up.")
    at.button(key=f"{prefix}.submit").click().run()
    assert not at.exception, at.exception
    assert any(f"Case {case.case_id} closed" in s.value for s in at.success)
    closed = store.case_review(LEAD, case.case_id)
    assert (closed.status, closed.final_label) == ("closed", 1)
    assert closed.adjudication is not None
    assert closed.adjudication["reason"] == "Two of three reasons hold up."
    assert case.case_id not in at.selectbox(key="adjudication.case_id").options
    assert metrics(at) == {"Disputed cases waiting": str(len(disputed) - 1)}


def test_adjudication_never_renders_the_gold_answer(app_env: PanelEnv,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    original = Store.disputed_cases

    def with_sentinel(self: Store, actor: Actor, *,
                      audit_run_id: int | None = None) -> list[CaseReview]:
        return [replace(c, snapshot={**c.snapshot, "hidden": {"gold_answer": SENTINEL}})
                for c in original(self, actor, audit_run_id=audit_run_id)]

    monkeypatch.setattr(Store, "disputed_cases", with_sentinel)
    at = open_page(ADJUDICATION, Role.PANEL_LEAD)
    text = rendered_text(at)
    assert "Ratings" in text and SENTINEL not in text and "gold_answer" not in text


def test_compliance_sees_aggregates_but_no_reviewer(app_env: PanelEnv, store: Store) -> None:
    at = open_page(PANEL, Role.COMPLIANCE_OFFICER)
    assert not at.error, [e.value for e in at.error]
    text = rendered_text(at)
    for reviewer in store.list_reviewers(LEAD):
        assert reviewer.username not in text and reviewer.display_name not in text
    assert "Reviewers" not in [s.value for s in at.subheader]
    assert [b.key for b in at.button] == ["sidebar.sign_out"]
    aggregates = store.background_aggregates(LEAD)
    shown = {(row["value"], row["reviewers"]) for d in at.dataframe
             if list(d.value.columns) == ["value", "reviewers"]
             for row in d.value.to_dict("records")}
    expected = {(v, review_tables.SUPPRESSED if n is None else str(n))
                for values in aggregates.values() for v, n in values.items()}
    assert shown == expected
    assert any(n is None for values in aggregates.values() for n in values.values())
    assert all(n is None or n >= MIN_AGGREGATE for values in aggregates.values()
               for n in values.values())
    progress = store.panel_progress(LEAD, app_env.run_id)
    total = sum(v for k, v in progress.items() if k.startswith("cases_"))
    assert f"{progress['cases_closed']:,} of {total:,} closed" in text


def test_lead_manages_the_panel(app_env: PanelEnv, store: Store) -> None:
    at = open_page(PANEL, Role.PANEL_LEAD)
    assert not at.error, [e.value for e in at.error]
    reviewers = store.list_reviewers(LEAD)
    table = next(d.value for d in at.dataframe if "username" in d.value.columns)
    assert table["username"].tolist() == [r.username for r in reviewers]
    assert table["kind"].tolist() == ["simulated" if r.simulated else "person"
                                      for r in reviewers]
    at.selectbox(key="panel.run_id").set_value(app_env.run_id).run()
    # Availability: off reassigns (the simulated reviewer has no open cases), on again.
    at.toggle(key="panel.available.sim-reviewer-02").set_value(False).run()
    assert not at.exception, at.exception
    # Nothing moves until the lead confirms: the page asks first and says what would move.
    assert any("Make" in w.value and "unavailable?" in w.value for w in at.warning)
    assert next(r for r in store.list_reviewers(LEAD)
                if r.username == "sim-reviewer-02").available
    at.button(key="panel.available.sim-reviewer-02.confirm").click().run()
    assert not at.exception, at.exception
    assert any("is unavailable" in s.value for s in at.success)
    record = next(r for r in store.list_reviewers(LEAD) if r.username == "sim-reviewer-02")
    assert not record.available
    assert store.log_entries(limit=5)[0].action in {"withdraw_assignments",
                                                    "set_panel_config",
                                                    "record_assignments"}
    at.toggle(key="panel.available.sim-reviewer-02").set_value(True).run()
    assert next(r for r in store.list_reviewers(LEAD)
                if r.username == "sim-reviewer-02").available
    # A conflict of interest: the engine's refusal for an assigned pair is shown.
    me = next(r.id for r in reviewers if r.username == REVIEWER.username)
    table_rows = store.assignment_table(LEAD, app_env.run_id)
    assigned = next(a["case_id"] for a in table_rows if a["reviewer_id"] == me)
    free = next(a["case_id"] for a in table_rows if a["case_id"] not in
                {b["case_id"] for b in table_rows if b["reviewer_id"] == me})
    for case_id, ok in ((assigned, False), (free, True)):
        at.selectbox(key="panel.exclusion.case").set_value(case_id)
        at.selectbox(key="panel.exclusion.reviewer").set_value(REVIEWER.username)
        at.text_input(key="panel.exclusion.reason").input("Knows the applicant")
        at.button(key="panel.exclusion.submit").click().run()
        assert bool(at.error) is not ok, [e.value for e in at.error]
    assert at.success and f"Case {free} will never be assigned" in at.success[-1].value
    assert REVIEWER.username and me in store.exclusions(LEAD, app_env.run_id)[free]


def test_lead_assigns_the_queue_with_a_progress_bar(app_env: PanelEnv, store: Store) -> None:
    at = open_page(PANEL, Role.PANEL_LEAD)
    at.selectbox(key="panel.run_id").set_value(app_env.run_id).run()
    before = len(store.assignment_table(LEAD, app_env.run_id))
    stored = store.panel_config(app_env.run_id)
    assert stored is not None
    assert at.number_input(key="panel.assign.overlap").value == stored["overlap"]
    at.slider(key="panel.assign.hide_model").set_value(0.25)
    at.button(key="panel.assign.submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new = len(store.assignment_table(LEAD, app_env.run_id)) - before
    assert any(f"{new:,} new assignments stored" in s.value for s in at.success)
    assert at.get("progress")[-1].proto.value == 100
    after = store.panel_config(app_env.run_id)
    assert after is not None
    assert (after["overlap"], after["hide_model_share"]) == (stored["overlap"], 0.25)


@pytest.mark.parametrize("page", [ADJUDICATION, PANEL])
def test_reviewer_cannot_open(app_env: PanelEnv, page: str) -> None:
    assert page not in {p.path for p in pages_for(Role.REVIEWER)}
    at = open_page(MINE)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


def test_page_roles() -> None:
    def who(path: str) -> set[Role]:
        return {r for r in Role if path in {p.path for p in pages_for(r)}}

    assert who(MINE) == {Role.REVIEWER}
    assert who(ADJUDICATION) == {Role.PANEL_LEAD, Role.ADMIN}
    assert who(PANEL) == {Role.PANEL_LEAD, Role.ADMIN, Role.COMPLIANCE_OFFICER}
    assert pages_for(Role.REVIEWER)[0].path == MINE  # the reviewer's home page


def test_helper_docstring_examples() -> None:
    result = doctest.testmod(review_tables)
    assert result.attempted > 0 and result.failed == 0
