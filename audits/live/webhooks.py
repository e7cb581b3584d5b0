"""Posting final decisions to a system's webhook: signed, retried with backoff, logged.

Each body is sent as canonical JSON with ``X-Fairpanel-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact bytes under the system's secret (:func:`sign`; the receiver
recomputes it, as with GitHub's and Stripe's webhooks), and ``X-Fairpanel-Delivery``
(the delivery's id, for the receiver to ignore a repeat). A 2xx answer delivers it;
anything else (another status, a refused connection, a timeout) is tried again after
:func:`backoff` (doubling from 5 s, at most an hour apart), up to :data:`MAX_ATTEMPTS`
attempts, then given up. Every attempt is recorded in the store and its log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from audits.store import Store

__all__ = ["MAX_ATTEMPTS", "SIGNATURE_HEADER", "Post", "backoff", "body_bytes",
           "deliver_due", "sign", "verify"]

MAX_ATTEMPTS = 8
SIGNATURE_HEADER = "X-Fairpanel-Signature"
DELIVERY_HEADER = "X-Fairpanel-Delivery"
FIRST_WAIT_S, LONGEST_WAIT_S = 5.0, 3600.0
#: ``(url, body, headers) -> HTTP status``; raises ``OSError`` (or an HTTP client's
#: transport error) when nothing answers.
Post = Callable[[str, bytes, dict[str, str]], int]


def body_bytes(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): canonical JSON.

    Examples
    --------
    >>> body_bytes({"b": 1, "a": None})
    b'{"a":null,"b":1}'
    """
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(payload: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 hex of ``payload``.

    Examples
    --------
    >>> sign(b"{}", "s")[:7]
    'sha256='
    """
    return "sha256=" + hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def verify(payload: bytes, secret: str, signature: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time.

    Examples
    --------
    >>> verify(b"{}", "s", sign(b"{}", "s")), verify(b"{ }", "s", sign(b"{}", "s"))
    (True, False)
    """
    return hmac.compare_digest(sign(payload, secret), signature)


def backoff(attempts: int) -> timedelta:
    """How long after the ``attempts``-th failed attempt the next one is made.

    Examples
    --------
    >>> [backoff(n).total_seconds() for n in (1, 2, 3, 12)]
    [5.0, 10.0, 20.0, 3600.0]
    """
    return timedelta(seconds=min(FIRST_WAIT_S * 2 ** (attempts - 1), LONGEST_WAIT_S))


def deliver_due(store: Store, now: datetime, post: Post, *, limit: int = 100) -> int:
    """Attempt every delivery due at ``now`` once; return how many were attempted."""
    due = store.due_deliveries(now, limit=limit)
    for delivery in due:
        payload = body_bytes(delivery.body)
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(payload, delivery.secret),
                   DELIVERY_HEADER: str(delivery.id)}
        status: int | None = None
        error: str | None = None
        try:
            status = post(delivery.url, payload, headers)
        except Exception as exc:  # noqa: BLE001 - any transport failure is retried and logged
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        if not ok and error is None:
            error = f"HTTP {status}"
        attempt = delivery.attempts + 1
        store.record_attempt(delivery.id, ok=ok, status=status, error=None if ok else error,
                             now=now, next_attempt_at=None if ok or attempt >= MAX_ATTEMPTS
                             else now + backoff(attempt))
    return len(due)
