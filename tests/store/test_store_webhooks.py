"""Webhooks of final decisions: queued in the transaction that makes a decision final,
posted to a real HTTP receiver on loopback, signed (the receiver recomputes HMAC-SHA256
of the bytes it got), retried with backoff until a 2xx, given up after the last
attempt, every attempt in the store and its log.

Every test runs on SQLite and PostgreSQL (the ``store`` fixture). What bad settings get:
a URL that is not http(s) with a host, or an unknown ``notify``: ``ValueError`` naming
it; a reviewer: ``PermissionDenied``; nothing stored.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from db_support import ADMIN, REVIEWER, SCIENTIST, SHA_A, row_counts
from live_support import T0, decision, system_run, taker
from panel_support import add_reviewers, assign, reviewer_actor
from server_support import Receiver

from audits.live.webhooks import MAX_ATTEMPTS, SIGNATURE_HEADER, backoff, deliver_due, verify
from audits.roles import PermissionDenied
from audits.store import Store
from audits.store.webhooks import MSG_BAD_URL


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 503])
    yield r
    r.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def held_and_decided(store: Store, run: int) -> int:
    """Record a held decision and let two reviewers decide it; return its id."""
    [held] = store.record_live_decisions(SCIENTIST, "credit", run, [decision(1, hold=True)],
                                         take_budget=taker(200, 200), now=T0)
    ids = add_reviewers(store, 2)
    assign(store, run, [(held.case_id, r) for r in ids.values()])
    for i in range(2):
        store.submit_rating(reviewer_actor(i), held.case_id, label=0, confidence=4,
                            rationale="debt too high", seconds_spent=15,
                            idempotency_key=f"webhook-rating-{i:06d}")
    return held.id


def test_a_final_decision_is_posted_signed_and_retried_until_delivered(
        store: Store, receiver: Receiver) -> None:
    run = system_run(store, "credit", SHA_A)
    settings = store.set_live_settings(SCIENTIST, "credit", policy={"random_rate": 0.1},
                                       webhook_url=receiver.url)
    assert settings.secret and store.live_settings("credit").secret is None  # shown once
    entry = store.log_entries(limit=1)[0]
    assert entry.action == "set_live_settings" and settings.secret not in str(entry.payload)
    # Automatic decisions are not posted under notify="held" (the caller has the answer).
    store.record_live_decisions(SCIENTIST, "credit", run, [decision(9, hold=False)],
                                take_budget=taker(200, 200), now=T0)
    assert store.webhook_deliveries("credit") == []
    decided = held_and_decided(store, run)
    [queued] = store.webhook_deliveries("credit")
    assert queued["live_decision_id"] == decided and queued["status"] == "pending"
    now = queued["next_attempt_at"]  # due as soon as the case closed
    assert deliver_due(store, now, post) == 1  # 500
    assert deliver_due(store, now, post) == 0  # not due again before the backoff
    assert deliver_due(store, now + backoff(1), post) == 1  # 503
    assert deliver_due(store, now + backoff(1) + backoff(2), post) == 1  # 200
    [done] = store.webhook_deliveries("credit")
    assert (done["status"], done["attempts"], done["last_status"]) == ("delivered", 3, 200)
    assert len(receiver.received) == 3
    for headers, body in receiver.received:
        assert verify(body, settings.secret, headers[SIGNATURE_HEADER])
        assert not verify(body + b" ", settings.secret, headers[SIGNATURE_HEADER])
    body = receiver.received[-1][1].decode()
    assert '"final_decision":0' in body and '"changed":true' in body
    assert '"decided_by":"reviewer"' in body and "reviewer00" not in body
    attempts = [e for e in store.log_entries() if e.action == "webhook_attempt"]
    assert [e.payload["status"] for e in attempts] == [200, 503, 500]  # newest first
    assert store.verify_log().ok


def test_a_receiver_that_never_answers_is_given_up_after_the_last_attempt(
        store: Store) -> None:
    run = system_run(store, "credit", SHA_A)
    store.set_live_settings(SCIENTIST, "credit", policy={},
                            webhook_url="http://127.0.0.1:9/closed")  # discard port: refused
    held_and_decided(store, run)
    now = store.webhook_deliveries("credit")[0]["next_attempt_at"]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_due(store, now, post) == 1
        now += backoff(attempt)
    assert deliver_due(store, now + timedelta(days=1), post) == 0
    [failed] = store.webhook_deliveries("credit")
    assert (failed["status"], failed["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert failed["last_status"] is None and "Error" in failed["last_error"]


def test_bad_settings_are_named_and_write_nothing(store: Store) -> None:
    system_run(store, "credit", SHA_A)
    before = row_counts(store)
    for url in ("ftp://x.example/hook", "not a url", "http:///no-host"):
        with pytest.raises(ValueError) as bad:
            store.set_live_settings(SCIENTIST, "credit", policy={}, webhook_url=url)
        assert str(bad.value) == MSG_BAD_URL.format(value=url)
    with pytest.raises(ValueError, match="notify must be one of held, all"):
        store.set_live_settings(SCIENTIST, "credit", policy={}, notify="some")
    with pytest.raises(PermissionDenied):
        store.set_live_settings(REVIEWER, "credit", policy={})
    with pytest.raises(LookupError, match="no system named 'loans'"):
        store.set_live_settings(ADMIN, "loans", policy={})
    assert row_counts(store) == before
