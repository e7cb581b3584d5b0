"""A system's live settings and the webhook deliveries of its final decisions.

:meth:`WebhookOps.set_live_settings` stores a system's live policy (JSON), the URL its
final decisions are posted to and which ones (``held`` or ``all``); a new URL gets a new
signing secret, returned once (as an API token is). A decision that becomes final queues
its delivery in the same transaction (:func:`queue_delivery`, called where decisions are
recorded and settled), so none is lost between the decision and the post; a worker then
takes the due ones (:meth:`WebhookOps.due_deliveries`) and records each attempt
(:meth:`WebhookOps.record_attempt`, logged as ``webhook_attempt`` with the answer, never
the secret). The body carries the decision's id, the caller's id, the final decision,
whether a person changed it, when and the deciding role, never a person.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.systems import system_row
from audits.store.tables import LiveDecision, LiveSettings, System, WebhookDelivery, utcnow
from audits.store.validation import check_actor, check_id, check_json_object, check_text

__all__ = ["MSG_BAD_URL", "NOTIFY", "Delivery", "LiveSettingsRecord", "WebhookOps",
           "decision_body", "queue_delivery"]

#: Which final decisions are posted: those a person decided (or that fell back), or all.
NOTIFY = ("held", "all")
MSG_BAD_URL = "webhook_url must be an http(s) URL with a host; got {value!r}"
MSG_NOTIFY = "notify must be one of held, all; got {value!r}"
MSG_UNKNOWN_DELIVERY = "no webhook delivery with id {id}"


@dataclass(frozen=True)
class LiveSettingsRecord:
    """A system's live settings; ``secret`` only right after it was made."""

    system: str
    policy: dict[str, Any]
    webhook_url: str | None
    notify: str
    updated_by: str
    updated_at: datetime
    secret: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A due webhook post: where, with which secret, what."""

    id: int
    url: str
    secret: str
    body: dict[str, Any]
    attempts: int


def decision_body(row: LiveDecision, system: str) -> dict[str, Any]:
    """What a webhook posts about a final decision (no person, no features)."""
    return {"event": "decision.final", "system": system, "decision_id": row.id,
            "id": row.external_id, "outcome": row.outcome,
            "model_decision": row.model_decision, "final_decision": row.final_decision,
            "changed": (None if row.final_decision is None
                        else row.final_decision != row.model_decision),
            "decided_at": None if row.decided_at is None else row.decided_at.isoformat(),
            "decided_by": row.decided_role, "decided_how": row.decided_how}


def queue_delivery(session: Session, row: LiveDecision, system: str,
                   now: datetime | None = None, *,
                   settings: LiveSettings | None | Literal["load"] = "load") -> None:
    """Queue the webhook post of ``row``'s final decision, if its system wants it
    (``settings``: the system's row, when the caller has it, else it is loaded)."""
    found = session.get(LiveSettings, row.system_id) if isinstance(settings, str) else settings
    if (found is None or not found.webhook_url or row.status != "decided"
            or (found.notify == "held" and row.outcome != "held")):
        return
    when = now or utcnow()
    session.add(WebhookDelivery(system_id=row.system_id, live_decision_id=row.id,
                                body_json=decision_body(row, system), status="pending",
                                attempts=0, next_attempt_at=when, created_at=when))


def _check_url(value: object) -> str | None:
    if value is None:
        return None
    text = check_text(value, "webhook_url", 2000)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(MSG_BAD_URL.format(value=value))
    return text


def _record(row: LiveSettings, system: str, secret: str | None = None) -> LiveSettingsRecord:
    return LiveSettingsRecord(system=system, policy=dict(row.policy_json),
                              webhook_url=row.webhook_url, notify=row.notify,
                              updated_by=row.updated_by, updated_at=row.updated_at,
                              secret=secret)


class WebhookOps(StoreBase):
    """The live-settings and webhook methods of :class:`~audits.store.Store`."""

    def set_live_settings(self, actor: Actor, system: str, *, policy: dict[str, Any],
                          webhook_url: str | None = None, notify: str = "held",
                          new_secret: bool = False) -> LiveSettingsRecord:
        """Store ``system``'s live policy and webhook (requires "register a dataset").

        A new or changed URL (or ``new_secret``) gets a new signing secret, returned in
        the record this once. Logged as ``set_live_settings`` (never the secret).
        """
        require_role(check_actor(actor), "register a dataset")
        policy = check_json_object(policy, "policy")
        url = _check_url(webhook_url)
        if notify not in NOTIFY:
            raise ValueError(MSG_NOTIFY.format(value=notify))
        with self._write() as (session, head):
            target = system_row(session, system)
            row = session.get(LiveSettings, target.id)
            fresh = None
            if row is None:
                row = LiveSettings(system_id=target.id)
                session.add(row)
            if url is not None and (new_secret or url != row.webhook_url
                                    or not row.webhook_secret):
                fresh = secrets.token_urlsafe(32)
                row.webhook_secret = fresh
            if url is None:
                row.webhook_secret = None
            row.policy_json, row.webhook_url, row.notify = dict(policy), url, notify
            row.updated_by, row.updated_at = actor.username, utcnow()
            session.flush()
            append_entry(session, head, actor=actor.username, action="set_live_settings",
                         entity="system", entity_id=target.id,
                         payload={"system": target.name, "policy": dict(policy),
                                  "webhook_url": url, "notify": notify,
                                  "new_secret": fresh is not None})
            return _record(row, target.name, fresh)

    def live_settings(self, system: str) -> LiveSettingsRecord | None:
        """Return ``system``'s live settings (never the secret), or None if unset."""
        with self._read() as session:
            target = system_row(session, system)
            row = session.get(LiveSettings, target.id)
            return None if row is None else _record(row, target.name)

    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        """Return up to ``limit`` pending deliveries due at ``now``, oldest first."""
        with self._read() as session:
            rows = session.execute(
                select(WebhookDelivery, LiveSettings.webhook_url, LiveSettings.webhook_secret)
                .join(LiveSettings, LiveSettings.system_id == WebhookDelivery.system_id)
                .where(WebhookDelivery.status == "pending",
                       WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
            return [Delivery(row.id, url, secret, dict(row.body_json), row.attempts)
                    for row, url, secret in rows if url and secret]

    def record_attempt(self, delivery_id: int, *, ok: bool, status: int | None,
                       error: str | None, now: datetime,
                       next_attempt_at: datetime | None) -> str:
        """Record one attempt of a delivery; return its status afterwards.

        ``ok``: delivered. Otherwise it is tried again at ``next_attempt_at``, or given
        up (``failed``) when that is None. Logged as ``webhook_attempt``.
        """
        delivery_id = check_id(delivery_id, "delivery_id")
        with self._write() as (session, head):
            row = session.get(WebhookDelivery, delivery_id)
            if row is None:
                raise LookupError(MSG_UNKNOWN_DELIVERY.format(id=delivery_id))
            row.attempts += 1
            row.last_status, row.last_error = status, (error or None)
            if ok:
                row.status, row.delivered_at = "delivered", now
            elif next_attempt_at is None:
                row.status = "failed"
            else:
                row.next_attempt_at = next_attempt_at
            name = session.scalar(select(System.name).where(System.id == row.system_id))
            append_entry(session, head, actor="system:webhooks", action="webhook_attempt",
                         entity="live_decision", entity_id=row.live_decision_id,
                         payload={"system": name, "delivery_id": row.id,
                                  "attempt": row.attempts, "status": status,
                                  "error": (error or "")[:500], "outcome": row.status})
            return row.status

    def webhook_deliveries(self, system: str) -> list[dict[str, Any]]:
        """Every delivery of ``system``'s decisions, oldest first (for pages and tests)."""
        with self._read() as session:
            target = system_row(session, system)
            rows = session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.system_id == target.id).order_by(WebhookDelivery.id))
            return [{"id": r.id, "live_decision_id": r.live_decision_id, "status": r.status,
                     "attempts": r.attempts, "last_status": r.last_status,
                     "last_error": r.last_error, "next_attempt_at": r.next_attempt_at,
                     "delivered_at": r.delivered_at, "body": dict(r.body_json)}
                    for r in rows]
