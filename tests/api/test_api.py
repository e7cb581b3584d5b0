"""The decision API over a real store (the prepared German credit demo), in-process
through Starlette's test client: auth, each kind of bad payload, idempotency, the final
decision after a reviewer decides, size and rate limits, and the OpenAPI document.

What each bad input gets: no, unknown, revoked, wrong-scope or other-system token: 401
with one message and ``WWW-Authenticate: Bearer``; a bad field: 422 whose ``loc`` names
the decision and the field; a reused key with another body: 409; a body over the
limit: 413; past the token's rate: 429 with ``Retry-After``; a decision of another
system: 404. Nothing is stored on any of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from db_support import row_counts
from demo_support import DemoTemplates
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from server_support import HANG_TIMEOUT_S, Receiver

from audits.api.app import create_app
from audits.demo.default import DEMO_PERSONAS
from audits.live.policy import LivePolicy
from audits.live.stored import configure_live, live_system
from audits.live.webhooks import SIGNATURE_HEADER, verify
from audits.roles import Actor, Role
from audits.store import AssignmentInput, Store, SystemInput, VersionInput

ADMIN = Actor("system:cli", Role.ADMIN)
REVIEWER = next(Actor(p.username, p.role) for p in DEMO_PERSONAS if p.role is Role.REVIEWER)
LEAD = next(Actor(p.username, p.role) for p in DEMO_PERSONAS if p.role is Role.PANEL_LEAD)


class Env:
    """The demo store, its tokens and a client of the API over it."""

    def __init__(self, store: Store, client: TestClient, tokens: dict[str, str],
                 sample: list[dict[str, Any]]) -> None:
        self.store, self.client, self.tokens, self.sample = store, client, tokens, sample

    def post(self, body: Any, token: str = "decide", system: str = "german_credit") -> Any:
        return self.client.post(f"/v1/systems/{system}/decisions", json=body,
                                headers={"Authorization": f"Bearer {self.tokens[token]}"})


@pytest.fixture(scope="module")
def env(demo_templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    copy = demo_templates.copy(tmp_path_factory.mktemp("api") / "home")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in copy.env.items():
            mp.setenv(key, value)
        with Store(copy.url) as store:
            store.register_system_version(
                Actor("dana", Role.DATA_SCIENTIST), SystemInput("hiring"),
                VersionInput(source="h.csv", sha256="e" * 64, n_rows=1, roles={}, card="",
                             card_data={}, data_path="data/" + "e" * 64 + ".parquet"))
            tokens = {name: store.create_token(ADMIN, system, scope).token
                      for name, system, scope in (("decide", "german_credit", "decide"),
                                                  ("read", "german_credit", "read"),
                                                  ("other", "hiring", "decide"),
                                                  ("revoked", "german_credit", "decide"))}
            revoked = store.list_tokens(ADMIN)[-1]
            store.revoke_token(ADMIN, revoked.id)
            live = live_system(store, "german_credit")
            context = live.context
            rows = live.reference.sample(40, random_state=9)
            sample = [{"features": {f: _plain(r[f]) for f in context.features
                                    if f not in context.sensitive_features},
                       "sensitive": {s: _plain(r[s]) for s in context.sensitive_features}}
                      for _, r in rows.iterrows()]
            # No background worker here: each test drives the steps it checks, and a
            # worker assigning cases between two counts would make them race.
            app = create_app(url=copy.url, policy=LivePolicy(random_rate=0.25,
                                                             random_state=2),
                             rate=1000, burst=1000, worker=())
            with TestClient(app) as client:
                yield Env(store, client, tokens, sample)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def one(env: Env, i: int, key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": f"app-{i}", "idempotency_key": key or f"key-{i}", **env.sample[i], **extra}


def test_refused_tokens_get_401_with_one_message(env: Env) -> None:
    body = one(env, 0)
    before = row_counts(env.store)
    answers = [env.client.post("/v1/systems/german_credit/decisions", json=body),
               env.post(body, token="read"), env.post(body, token="revoked"),
               env.post(body, token="other"),
               env.client.post("/v1/systems/german_credit/decisions", json=body,
                               headers={"Authorization": "Bearer fpk_not-a-token"})]
    assert [a.status_code for a in answers] == [401] * 5
    assert {a.json()["detail"] for a in answers} == {
        "the API token is unknown, revoked, or not for this system and scope"}
    assert all(a.headers["www-authenticate"] == "Bearer" for a in answers)
    assert env.client.get("/v1/decisions/1").status_code == 401
    assert row_counts(env.store) == before


def test_a_decision_is_answered_and_a_batch_in_order(env: Env) -> None:
    single = env.post(one(env, 1))
    assert single.status_code == 200, single.text
    got = single.json()
    assert set(got) == {"decision_id", "id", "outcome", "model_decision", "score", "reasons",
                        "case_id", "model_version", "unreviewed", "replayed"}
    assert got["id"] == "app-1" and got["model_version"].startswith("#")
    batch = env.post({"decisions": [one(env, i) for i in range(2, 30)]})
    assert batch.status_code == 200, batch.text
    answers = batch.json()["decisions"]
    assert [a["id"] for a in answers] == [f"app-{i}" for i in range(2, 30)]
    held = [a for a in answers if a["outcome"] == "held"]
    assert held and all(a["case_id"] and a["reasons"] for a in held)
    assert all(a["case_id"] is None for a in answers if a["outcome"] == "auto")
    cases = {c.id: c for c in env.store.list_cases(env.store.live_decision(
        held[0]["decision_id"]).audit_run_id)}
    assert {a["case_id"] for a in held} <= set(cases)


def test_resending_a_key_returns_the_first_answer_and_another_body_is_409(env: Env) -> None:
    first = env.post(one(env, 30)).json()
    before = row_counts(env.store)
    again = env.post(one(env, 30)).json()
    assert again == {**first, "replayed": True} and not first["replayed"]
    assert row_counts(env.store) == before
    changed = env.post(one(env, 31, key="key-30"))
    assert changed.status_code == 409
    assert "idempotency key 'key-30' was already used for another request" in \
        changed.json()["detail"]
    assert row_counts(env.store) == before


@pytest.mark.parametrize(("body", "loc", "words"), [
    ("missing id", ["body", "id"], "Field required"),
    ("extra field", ["body", "colour"], "Extra inputs are not permitted"),
    ("feature not of the system", ["body", "decisions", 0, "features", "shoe_size"],
     "is not a feature field of system 'german_credit'"),
    ("feature of the wrong type", ["body", "decisions", 0, "features", "NUMERIC"],
     "must be a number; got str"),
    ("feature missing", ["body", "decisions", 0, "features", "FIRST"], "is required"),
    ("prediction with a model", ["body", "decisions", 0, "prediction"],
     "must be omitted: the deployed model decides"),
    ("too many", ["body", "decisions"], "at most 1000 items"),
    ("nested value", ["body", "features", "FIRST", "str"], "Input should be a valid string"),
])
def test_each_bad_field_gets_422_naming_it(env: Env, body: str, loc: list[Any],
                                           words: str) -> None:
    good = one(env, 32, key=f"bad-{body}")
    features = good["features"]
    numeric = next(f for f, v in features.items() if isinstance(v, int | float))
    first = next(iter(features))
    payload: Any = {
        "missing id": {k: v for k, v in good.items() if k != "id"},
        "extra field": {**good, "colour": "red"},
        "feature not of the system": {**good, "features": {**features, "shoe_size": 42}},
        "feature of the wrong type": {**good, "features": {**features, numeric: "lots"}},
        "feature missing": {**good, "features": {k: v for k, v in features.items()
                                                 if k != first}},
        "prediction with a model": {**good, "prediction": 1},
        "too many": {"decisions": [one(env, 0, key=f"many-{i}") for i in range(1001)]},
        "nested value": {**good, "features": {**features, first: {"a": 1}}},
    }[body]
    loc = [numeric if part == "NUMERIC" else first if part == "FIRST" else part
           for part in loc]
    before = row_counts(env.store)
    answer = env.post(payload)
    assert answer.status_code == 422, answer.text
    details = answer.json()["detail"]
    assert any(d["loc"][:len(loc)] == loc and words in d["msg"] for d in details), details
    assert row_counts(env.store) == before


def test_get_says_pending_then_decided_by_a_reviewer_never_who(env: Env) -> None:
    answers = env.post({"decisions": [one(env, i, key=f"get-{i}") for i in range(33, 40)]})
    decided = answers.json()["decisions"]
    auto = next(a for a in decided if a["outcome"] == "auto")
    status = env.client.get(f"/v1/decisions/{auto['decision_id']}",
                            headers={"Authorization": f"Bearer {env.tokens['read']}"}).json()
    assert status["status"] == "decided" and status["decided_by"] == "model"
    assert status["final_decision"] == auto["model_decision"] and status["changed"] is False
    held = next((a for a in decided if a["outcome"] == "held"), None)
    assert held is not None
    read = {"Authorization": f"Bearer {env.tokens['read']}"}
    assert env.client.get(f"/v1/decisions/{held['decision_id']}",
                          headers=read).json()["status"] == "pending"
    # A reviewer overturns it on the desk (the store's rating path, as the page calls it).
    record = env.store.live_decision(held["decision_id"])
    reviewer = next(r for r in env.store.list_reviewers(LEAD) if r.username == REVIEWER.username)
    env.store.record_assignments(LEAD, record.audit_run_id, [AssignmentInput(
        case_id=held["case_id"], reviewer_id=reviewer.id, slot=1, kind="flagged",
        model_shown=False, sensitive_shown=True)], config={"overlap": 1})
    env.store.submit_rating(REVIEWER, held["case_id"], label=1 - held["model_decision"],
                            confidence=4, rationale="the record shows otherwise",
                            seconds_spent=30, idempotency_key="live-review-0000001")
    status = env.client.get(f"/v1/decisions/{held['decision_id']}", headers=read).json()
    assert status["status"] == "decided" and status["changed"] is True
    assert status["final_decision"] == 1 - held["model_decision"]
    assert status["decided_by"] == "reviewer" and REVIEWER.username not in str(status)
    assert datetime.fromisoformat(status["decided_at"]).tzinfo is not None
    # Another system's token sees nothing of it.
    other = env.client.get(f"/v1/decisions/{held['decision_id']}",
                           headers={"Authorization": f"Bearer {env.tokens['other']}"})
    assert other.status_code == 404
    assert env.client.get("/v1/decisions/999999", headers=read).status_code == 404


def test_size_and_rate_limits(env: Env, demo_templates: DemoTemplates,
                              tmp_path_factory: pytest.TempPathFactory) -> None:
    url = env.store.url
    app = create_app(url=url, max_body=2000, rate=1, burst=2,
                     clock=lambda: datetime(2026, 12, 1, tzinfo=UTC), worker=())
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {env.tokens['decide']}"}
        big = client.post("/v1/systems/german_credit/decisions", headers=headers,
                          json={"decisions": [one(env, 0, key=f"big-{i}") for i in range(50)]})
        assert big.status_code == 413
        codes = [client.get("/v1/decisions/1", headers=headers).status_code
                 for _ in range(3)]
        assert codes[:2] == [200, 200] and codes[2] == 429
        limited = client.get("/v1/decisions/1", headers=headers)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_the_openapi_document_validates_and_the_docs_are_served_offline(env: Env) -> None:
    document = env.client.get("/openapi.json").json()
    validate(document)
    assert set(document["paths"]) == {"/v1/systems/{system}/decisions",
                                      "/v1/decisions/{decision_id}"}
    page = env.client.get("/docs")
    assert page.status_code == 200
    assert "/static/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[1]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert env.client.get(f"/static/swagger-ui/{asset}").status_code == 200


def test_a_reviewers_decision_reaches_the_webhook_signed(env: Env) -> None:
    receiver = Receiver([])
    try:
        settings = configure_live(env.store, ADMIN, "german_credit",
                                  LivePolicy(random_rate=1.0, random_state=2),
                                  webhook_url=receiver.url)
        assert settings.secret is not None
        # The server's worker, posting webhooks only (the test assigns the case itself).
        app = create_app(url=env.store.url, rate=1000, burst=1000, worker=("webhooks",))
        with TestClient(app) as client:
            _webhook_round_trip(env, client, receiver, settings.secret)
    finally:
        configure_live(env.store, ADMIN, "german_credit", LivePolicy(random_rate=0.25,
                                                                     random_state=2))
        receiver.close()


def _webhook_round_trip(env: Env, client: TestClient, receiver: Receiver,
                        secret: str) -> None:
    """Send a decision (held), let a reviewer decide it, and check the signed post."""
    answer = client.post("/v1/systems/german_credit/decisions",
                         json=one(env, 0, key="webhook-0"),
                         headers={"Authorization": f"Bearer {env.tokens['decide']}"}
                         ).json()
    assert answer["outcome"] == "held"  # every decision held at random_rate 1
    record = env.store.live_decision(answer["decision_id"])
    reviewer = next(r for r in env.store.list_reviewers(LEAD)
                    if r.username == REVIEWER.username)
    env.store.record_assignments(LEAD, record.audit_run_id, [AssignmentInput(
        case_id=answer["case_id"], reviewer_id=reviewer.id, slot=1, kind="flagged",
        model_shown=False, sensitive_shown=True)], config={"overlap": 1})
    env.store.submit_rating(REVIEWER, answer["case_id"], label=answer["model_decision"],
                            confidence=5, rationale="", seconds_spent=12,
                            idempotency_key="live-review-webhook-01")
    assert receiver.got.wait(timeout=HANG_TIMEOUT_S), "no webhook within the hang guard"
    headers, body = receiver.received[0]
    assert verify(body, secret, headers[SIGNATURE_HEADER])
    sent = json.loads(body)
    assert (sent["decision_id"], sent["final_decision"], sent["changed"],
            sent["decided_by"]) == (answer["decision_id"], answer["model_decision"],
                                    False, "reviewer")
    assert [d["live_decision_id"] for d in env.store.webhook_deliveries("german_credit")
            ] == [answer["decision_id"]]  # one delivery: the held decision's


def test_an_unknown_worker_task_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown worker task\(s\) \['mail'\]; tasks: assign"):
        create_app(url="sqlite://", worker=("mail",))


def test_a_spent_budget_decides_automatically_or_holds_as_configured(env: Env) -> None:
    """Every decision wants a person (random control 1.0); the budget is two, then one
    an hour. Spent, "auto" answers with the model's decision marked ``unreviewed:
    budget`` and an hour later holds one more; "hold" holds anyway."""
    clock = [datetime(2027, 3, 1, 9, tzinfo=UTC)]  # far on: the bucket has refilled
    try:
        answers = {}
        for when_spent, key in (("auto", "spend-a"), ("hold", "spend-b")):
            configure_live(env.store, ADMIN, "german_credit",
                           LivePolicy(random_rate=1.0, random_state=2, reviews_per_day=24,
                                      burst=2, when_spent=when_spent))
            app = create_app(url=env.store.url, rate=1000, burst=1000,
                             clock=lambda: clock[0], worker=())
            with TestClient(app) as client:
                sent = client.post("/v1/systems/german_credit/decisions",
                                   headers={"Authorization": f"Bearer {env.tokens['decide']}"},
                                   json={"decisions": [one(env, 20 + i, key=f"{key}-{i}")
                                                       for i in range(4)]})
                assert sent.status_code == 200, sent.text
                answers[when_spent] = sent.json()["decisions"]
                if when_spent == "auto":  # an hour on, the budget has one more
                    clock[0] += timedelta(hours=1)
                    later = client.post(
                        "/v1/systems/german_credit/decisions",
                        headers={"Authorization": f"Bearer {env.tokens['decide']}"},
                        json={"decisions": [one(env, 30 + i, key=f"spend-later-{i}")
                                            for i in range(2)]}).json()["decisions"]
    finally:
        configure_live(env.store, ADMIN, "german_credit", LivePolicy(random_rate=0.25,
                                                                     random_state=2))
    auto = answers["auto"]
    assert [a["outcome"] for a in auto] == ["held", "held", "auto", "auto"]
    assert [a["unreviewed"] for a in auto] == [None, None, "budget", "budget"]
    assert all(a["case_id"] is None for a in auto[2:])
    for a in auto[2:]:  # decided by the model at once, and said so
        status = env.client.get(f"/v1/decisions/{a['decision_id']}",
                                headers={"Authorization": f"Bearer {env.tokens['read']}"})
        assert status.json()["status"] == "decided"
        assert status.json()["final_decision"] == a["model_decision"]
        assert status.json()["decided_by"] == "model"
    # Spent and "hold": every one held, none marked unreviewed (the panel takes them all).
    assert [a["outcome"] for a in answers["hold"]] == ["held"] * 4
    assert [a["unreviewed"] for a in answers["hold"]] == [None] * 4
    assert [(a["outcome"], a["unreviewed"]) for a in later] == [("held", None),
                                                                ("auto", "budget")]
    stored = {r.idempotency_key: r for r in env.store.live_decisions("german_credit")}
    assert stored["spend-a-2"].unreviewed == "budget" and stored["spend-a-2"].status == "decided"
