"""Live decisions end to end over a real store (the prepared German credit demo: a
registered system, its deployed logistic model, a completed audit with a review queue).

Oracles: the model file's own ``predict_proba`` for every score; the batch flag
functions for which decisions are held (through :func:`evaluate_live`, tested on its
own); the store's rows for what was written. What bad input gets: every bad field named
with its decision and path, nothing stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from db_support import row_counts
from demo_support import DemoTemplates

from audits.demo.default import DEMO_PERSONAS
from audits.live.policy import LivePolicy
from audits.live.stored import (
    MSG_NO_LIVE_AUDIT,
    DecisionRequest,
    LiveSystem,
    RequestRejected,
    assign_held,
    decide,
    live_system,
)
from audits.models.files import load_model
from audits.roles import Actor, Role
from audits.store import Store, SystemInput, VersionInput

SCIENTIST = Actor(DEMO_PERSONAS[0].username, Role.DATA_SCIENTIST)


@pytest.fixture(scope="module")
def demo(demo_templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Store, LiveSystem]]:
    copy = demo_templates.copy(tmp_path_factory.mktemp("live") / "home")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in copy.env.items():
            mp.setenv(key, value)
        with Store(copy.url) as store:
            yield store, live_system(store, "german_credit")


def requests_from(live: LiveSystem, rows: pd.DataFrame, prefix: str) -> list[DecisionRequest]:
    context = live.context
    features = [f for f in context.features if f not in context.sensitive_features]
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        out.append(DecisionRequest(
            id=f"{prefix}-{i}", idempotency_key=f"{prefix}-{i}",
            features={f: (row[f].item() if hasattr(row[f], "item") else row[f])
                      for f in features},
            sensitive={s: (row[s].item() if hasattr(row[s], "item") else row[s])
                       for s in context.sensitive_features}))
    return out


def test_decisions_are_scored_by_the_deployed_model_and_held_ones_queued(
        demo: tuple[Store, LiveSystem]) -> None:
    store, live = demo
    assert live.model is not None and live.run.id in store.queued_audit_runs()
    rows = live.reference.sample(60, random_state=3)
    requests = requests_from(live, rows, "a")
    before = {c.id for c in store.list_cases(live.run.id)}
    out = decide(store, SCIENTIST, live, requests,
                 policy=LivePolicy(random_rate=0.2, random_state=5))
    assert [d.external_id for d in out] == [r.id for r in requests]
    model = load_model(live.model.path)
    expected = model.predict_proba(rows[list(live.context.features)])[:, 1]
    assert [d.score for d in out] == pytest.approx(expected.tolist(), abs=1e-9)
    assert [d.model_decision for d in out] == (expected >= live.context.threshold).astype(
        int).tolist()
    held = [d for d in out if d.outcome == "held"]
    assert 5 <= len(held) < 60
    new_cases = {c.id: c for c in store.list_cases(live.run.id) if c.id not in before}
    assert {d.case_id for d in held} == set(new_cases)
    for d in held:
        case = new_cases[d.case_id]  # type: ignore[index]
        assert case.primary_reason == d.reasons[0]["reason"]
        assert case.snapshot["explanation"]["available"]  # SHAP of that one row
        assert case.snapshot["score"] == pytest.approx(d.score)
    assert all(d.status == "decided" and d.final_decision == d.model_decision
               for d in out if d.outcome == "auto")
    # Resending the call answers from the store and writes nothing.
    counts = row_counts(store)
    again = decide(store, SCIENTIST, live, requests, policy=LivePolicy(random_rate=0.2,
                                                                       random_state=5))
    assert again == out and all(d.replayed for d in again)
    assert row_counts(store) == counts
    assert store.verify_log().ok


def test_every_bad_field_is_named_and_nothing_is_stored(demo: tuple[Store, LiveSystem]) -> None:
    store, live = demo
    good = requests_from(live, live.reference.head(2), "b")
    features = dict(good[0].features)
    numeric = next(f for f in features if isinstance(features[f], int | float))
    some = next(iter(features))
    bad = [
        DecisionRequest(id="b-0", idempotency_key="b-0",
                        features={**features, numeric: "lots", "shoe_size": 42},
                        sensitive=good[0].sensitive),
        DecisionRequest(id="", idempotency_key="b-0",
                        features={k: v for k, v in features.items() if k != some},
                        sensitive={}, prediction=1, score=float("nan")),
    ]
    before = row_counts(store)
    with pytest.raises(RequestRejected) as rejected:
        decide(store, SCIENTIST, live, bad, policy=LivePolicy())
    found = {(p.index, p.field) for p in rejected.value.problems}
    sensitive = live.context.sensitive_features
    assert {(0, f"features.{numeric}"), (0, "features.shoe_size"), (1, "id"),
            (1, f"features.{some}"), (1, "prediction"), (1, "score"),
            (1, "idempotency_key")} <= found
    assert {(1, f"sensitive.{s}") for s in sensitive} <= found
    messages = {str(p) for p in rejected.value.problems}
    assert f"decisions[0].features.{numeric}: must be a number; got str" in messages
    assert "decisions[1].prediction: must be omitted: the deployed model decides" in messages
    assert "decisions[1].idempotency_key: repeats decisions[0]'s key" in messages
    assert str(rejected.value).startswith(f"{len(rejected.value.problems)} problem(s) in the "
                                          "request, nothing stored: decisions[0]")
    assert row_counts(store) == before


def test_a_system_without_an_audit_queue_is_refused_by_name(
        demo: tuple[Store, LiveSystem]) -> None:
    store, _ = demo
    store.register_system_version(SCIENTIST, SystemInput("fresh"), VersionInput(
        source="f.csv", sha256="f" * 64, n_rows=1, roles={}, card="", card_data={},
        data_path="data/" + "f" * 64 + ".parquet"))
    with pytest.raises(ValueError) as refused:
        live_system(store, "fresh")
    assert str(refused.value) == MSG_NO_LIVE_AUDIT.format(system="fresh")
    with pytest.raises(LookupError, match="no system named 'nope'"):
        live_system(store, "nope")


def test_held_cases_get_reviewers_with_the_panel_rules_and_nothing_else_moves(
        demo: tuple[Store, LiveSystem]) -> None:
    store, live = demo
    panel = Actor("system:live-panel", Role.PANEL_LEAD)
    lead = Actor("system:cli", Role.ADMIN)
    before = store.assignment_table(lead, live.run.id)
    out = decide(store, SCIENTIST, live, requests_from(live, live.reference.sample(
        20, random_state=21), "c"), policy=LivePolicy(random_rate=1.0, random_state=1))
    held = {d.case_id for d in out if d.outcome == "held"}
    assert len(held) == 20
    held = set(store.unassigned_live_cases()[live.run.id])  # with earlier tests' held cases
    assert {d.case_id for d in out} <= held
    made = assign_held(store, panel)
    after = store.assignment_table(lead, live.run.id)
    new = [a for a in after if a["assignment_id"] not in {b["assignment_id"] for b in before}]
    assert {a["case_id"] for a in new} == held  # only the held cases, each of them
    overlap = int((store.panel_config(live.run.id) or {}).get("overlap", 3))
    per_case = {c: sum(a["case_id"] == c for a in new) for c in held}
    assert set(per_case.values()) <= set(range(1, overlap + 1))
    assert made == {live.run.id: len(new)}
    available = {r.id for r in store.list_reviewers(lead) if r.available}
    assert {a["reviewer_id"] for a in new} <= available
    assert [a for a in after if a["assignment_id"] in {b["assignment_id"] for b in before}] \
        == before  # the rest of the queue as it was
    assert assign_held(store, panel) == {}  # nothing left waiting
