"""The decision API: live decisions held for a person before they take effect.

``POST /v1/systems/{system}/decisions`` takes one decision or ``{"decisions": [...]}``
(at most :data:`~audits.store.live.MAX_BATCH`) and answers each with the model's
decision and whether it is held (:func:`audits.live.stored.decide`); ``GET
/v1/decisions/{decision_id}`` says whether it is decided, as what, when and by which
role (never by whom). Both need a bearer token of the system (``decide`` to send,
``read`` or ``decide`` to read; :mod:`audits.store.api_tokens`). The OpenAPI document is
at ``/openapi.json`` and its pages at ``/docs``, with Swagger UI served from the package
(no network).

Errors: 401 for a missing or refused token (one message whatever the reason), 404 for
a decision the token cannot see, 409 for an idempotency key reused with another
request, 413 for a body over the size limit, 422 naming each bad field (FastAPI's
format: ``{"detail": [{"loc", "msg", "type"}]}``), 429 with ``Retry-After`` past a
token's request rate.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints'
# annotations at run time, and the dependencies are local to create_app.

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from audits.live.batching import DecisionBatcher
from audits.live.budget import Bucket, take
from audits.live.policy import LivePolicy
from audits.live.stored import (
    DecisionRequest,
    LiveSystem,
    RequestRejected,
    assign_held,
    live_system,
    sweep_service_levels,
)
from audits.live.stored import live_policy as stored_policy
from audits.live.webhooks import deliver_due
from audits.roles import Actor, Role
from audits.store import Store
from audits.store.api_tokens import MSG_TOKEN_REFUSED, ApiTokenRecord, TokenRefused
from audits.store.live import MAX_BATCH, MSG_KEY_REUSED, LiveDecisionRecord
from audits.versions import __version__

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_RATE", "create_app"]

#: Largest request body accepted (bytes): a full batch of wide decisions fits.
DEFAULT_MAX_BODY = 4_000_000
#: Requests per second per token, and the burst a token may send at once.
DEFAULT_RATE, DEFAULT_BURST = 50.0, 100.0
#: How long a system's live context is trusted before the deployed model is checked again.
REFRESH_S = 5.0
STATIC = Path(__file__).parent / "static"
#: What the background worker does once a second, in this order.
WORKER_TASKS = ("assign", "service_levels", "webhooks")
#: How long a webhook receiver may take to answer before the attempt counts as failed.
WEBHOOK_TIMEOUT_S = 10.0
logger = logging.getLogger(__name__)
MSG_RATE = "over {rate:g} requests per second for this token; retry after {after:.1f} s"
MSG_UNKNOWN_DECISION = "no decision {id} for this token's system"

Outcome = Literal["auto", "held"]
Value = StrictStr | StrictInt | StrictFloat | StrictBool | None


class DecisionIn(BaseModel):
    """One decision to judge before it takes effect."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, description="Your id of the decision.")
    idempotency_key: str = Field(min_length=1, max_length=128,
                                 description="Resending it returns the first answer.")
    features: dict[str, Value] = Field(description="The model's inputs, by column name.")
    sensitive: dict[str, Value] = Field(default_factory=dict,
                                        description="The sensitive features, by name.")
    prediction: Literal[0, 1] | None = Field(
        default=None, description="Your system's own decision, when no model is deployed.")
    score: float | None = Field(default=None, description="Your system's own score.")


class BatchIn(BaseModel):
    """Up to 1,000 decisions, answered in the same order."""

    model_config = ConfigDict(extra="forbid")

    decisions: list[DecisionIn] = Field(min_length=1, max_length=MAX_BATCH)


class ReasonOut(BaseModel):
    """Why a decision is held."""

    reason: str
    score: float
    explanation: str


class DecisionOut(BaseModel):
    """What became of a decision sent."""

    decision_id: int
    id: str
    outcome: Literal["auto", "held"]
    model_decision: int
    score: float | None
    reasons: list[ReasonOut]
    case_id: int | None
    model_version: str | None
    unreviewed: str | None = Field(description='"budget" when the review budget was spent '
                                               "and the decision was not held for it.")
    replayed: bool = Field(description="True when this answers a resent idempotency key.")


class BatchOut(BaseModel):
    """The answers to a batch, in the order sent."""

    decisions: list[DecisionOut]


class DecisionStatus(BaseModel):
    """Whether a decision is final, and what it is."""

    decision_id: int
    id: str
    status: Literal["pending", "decided"]
    outcome: Literal["auto", "held"]
    model_decision: int
    final_decision: int | None
    changed: bool | None = Field(description="Whether a person changed the model's decision.")
    decided_at: datetime | None
    decided_by: str | None = Field(description="The role that decided (model, reviewer, "
                                               "panel_lead, admin), never a person.")


def _out(record: LiveDecisionRecord, live: LiveSystem) -> DecisionOut:
    return DecisionOut(decision_id=record.id, id=record.external_id,
                       outcome=cast(Outcome, record.outcome),
                       model_decision=record.model_decision, score=record.score,
                       reasons=[ReasonOut(**r) for r in record.reasons],
                       case_id=record.case_id, model_version=live.model_version,
                       unreviewed=record.unreviewed, replayed=record.replayed)


def _deliver_until(store: Store, stop: threading.Event, now: Callable[[], datetime],
                   tasks: Collection[str] = WORKER_TASKS) -> None:
    """Once a second until ``stop`` is set (the server's worker): give newly held
    decisions their reviewers, escalate or decide those past their service level, then
    post due webhooks."""
    import httpx

    def post(target: str, body: bytes, headers: dict[str, str]) -> int:
        return httpx.post(target, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S
                          ).status_code

    service = Actor("system:live-service-levels", Role.DATA_SCIENTIST)
    panel = Actor("system:live-panel", Role.PANEL_LEAD)
    while not stop.is_set():
        try:
            if "assign" in tasks:
                assign_held(store, panel)
            if "service_levels" in tasks:
                sweep_service_levels(store, service, now())
            if "webhooks" in tasks:
                deliver_due(store, now(), post)
        except Exception:  # noqa: BLE001 - a store hiccup must not end the worker
            logger.exception("service-level or webhook round failed; trying again")
        stop.wait(1.0)


def _one_shape(error: RequestValidationError) -> list[dict[str, Any]]:
    """A body is one decision or a batch: report only the errors of the shape it has.

    Pydantic checks a union body against both shapes and reports both; a caller who sent
    ``{"decisions": [...]}`` wants to hear about the batch, not that ``id`` is missing.
    """
    body = error.body if isinstance(error.body, dict) else {}
    shape = "BatchIn" if "decisions" in body else "DecisionIn"
    out = []
    for item in error.errors():
        loc = list(item.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body" and loc[1] in ("DecisionIn", "BatchIn"):
            if loc[1] != shape:
                continue
            loc = ["body", *loc[2:]]
        out.append({**item, "loc": loc})
    return out


class _Limiter:
    """Per-token request rate: a token bucket per token id (this process)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[int, Bucket] = {}
        self._lock = threading.Lock()

    def wait(self, token_id: int, now: datetime) -> float:
        """0 when the request may go, else the seconds until it may."""
        with self._lock:
            bucket = self._buckets.get(token_id) or Bucket.full(self.burst, now)
            ok, after = take(bucket, now, rate_per_day=self.rate * 86400, capacity=self.burst)
            self._buckets[token_id] = after
            return 0.0 if ok else (1.0 - after.tokens) / self.rate


class _Systems:
    """Each system's live context, rebuilt when its deployed model changes, and its
    stored live policy; both looked at again every :data:`REFRESH_S` seconds."""

    def __init__(self, store: Store, default: LivePolicy) -> None:
        self.store, self.default = store, default
        self._cached: dict[str, tuple[float, LiveSystem, LivePolicy]] = {}
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def get(self, system: str) -> tuple[LiveSystem, LivePolicy]:
        with self._lock:
            cached = self._cached.get(system)
            building = self._building.setdefault(system, threading.Lock())
        if cached is not None and time.monotonic() - cached[0] < REFRESH_S:
            return cached[1], cached[2]
        # One caller looks again (building a context reads the system's data); the
        # calls arriving meanwhile wait for it rather than each building their own.
        with building:
            with self._lock:
                again = self._cached.get(system)
            if again is not None and again is not cached:
                return again[1], again[2]
            policy = stored_policy(self.store, system, self.default)
            if cached is not None and not self._changed(cached[1]):
                live = cached[1]
            else:
                live = live_system(self.store, system)
            if cached is not None and cached[2] == policy:
                policy = cached[2]  # the same object: calls with it are decided together
            with self._lock:
                self._cached[system] = (time.monotonic(), live, policy)
            return live, policy

    def forget(self) -> None:
        """Look at every system's model and policy again on its next call."""
        with self._lock:
            self._cached.clear()

    def _changed(self, live: LiveSystem) -> bool:
        if live.run.model_id is None or live.model is None:
            return False
        return self.store.deployed_version(live.run.model_id).id != live.model.id


def create_app(*, url: str | None = None, policy: LivePolicy | None = None,
               max_body: int = DEFAULT_MAX_BODY, rate: float = DEFAULT_RATE,
               burst: float = DEFAULT_BURST,
               clock: Callable[[], datetime] | None = None,
               worker: Collection[str] = WORKER_TASKS) -> FastAPI:
    """Build the decision API over the store at ``url`` (None: the default store).

    Parameters
    ----------
    url : str or None
    policy : LivePolicy or None
        How live decisions are held (None: the defaults).
    max_body : int
        Largest request body in bytes (413 beyond).
    rate, burst : float
        Requests per second per token, and how many may come at once (429 beyond).
    clock : callable or None
        The time of each call (tests pass a clock they control).
    worker : collection of str, default all of :data:`WORKER_TASKS`
        What the background worker does once a second: ``assign`` (newly held decisions
        get their reviewers, :func:`audits.live.stored.assign_held`),
        ``service_levels`` (held decisions past their service level go to the lead or
        fall back, :func:`audits.live.stored.sweep_service_levels`) and ``webhooks``
        (final decisions posted, :func:`audits.live.webhooks.deliver_due`). Empty: no
        worker (tests that drive each step themselves).
    """
    now = clock or (lambda: datetime.now(UTC))
    live_policy = policy or LivePolicy()
    tasks = frozenset(worker)
    unknown = tasks - set(WORKER_TASKS)
    if unknown:
        raise ValueError(f"unknown worker task(s) {sorted(unknown)}; tasks: "
                         f"{', '.join(WORKER_TASKS)}")
    limiter = _Limiter(rate, burst)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store = Store(url)
        state["store"], state["systems"] = store, _Systems(store, live_policy)
        state["batcher"] = batcher = DecisionBatcher(store)
        stop = threading.Event()
        thread = threading.Thread(target=_deliver_until, args=(store, stop, now, tasks),
                                  name="fairpanel-webhooks", daemon=True)
        if tasks:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()
            batcher.close()
            store.close()

    app = FastAPI(title="fairpanel decision API", version=__version__, docs_url=None,
                  redoc_url=None, lifespan=lifespan, max_body_size=max_body,
                  description="Live decisions held for a person before they take effect.")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title,
                                   swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger-ui/favicon.png")

    @app.exception_handler(RequestRejected)
    async def rejected(_: Request, error: RequestRejected) -> JSONResponse:
        detail = [{"loc": ["body", "decisions", p.index, *p.field.split(".")],
                   "msg": p.message, "type": "value_error"} for p in error.problems]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(_one_shape(error))}, status_code=422)

    def admit(token: str | None, system: str | None, scope: str
              ) -> tuple[ApiTokenRecord, Actor]:
        store: Store = state["store"]
        try:
            record = store.check_token((token or "").removeprefix("Bearer ").strip(),
                                       system, scope)
        except TokenRefused:
            raise HTTPException(401, MSG_TOKEN_REFUSED,
                                headers={"WWW-Authenticate": "Bearer"}) from None
        after = limiter.wait(record.id, now())
        if after > 0:
            raise HTTPException(429, MSG_RATE.format(rate=rate, after=after),
                                headers={"Retry-After": str(max(1, round(after)))})
        return record, Actor(f"system:api-token-{record.id}", Role.DATA_SCIENTIST)

    def deciding(system: str, authorization: Annotated[str | None, Header()] = None
                 ) -> tuple[ApiTokenRecord, Actor]:
        return admit(authorization, system, "decide")

    def reading(authorization: Annotated[str | None, Header()] = None
                ) -> tuple[ApiTokenRecord, Actor]:
        return admit(authorization, None, "read")

    @app.post("/v1/systems/{system}/decisions", response_model=DecisionOut | BatchOut,
              summary="Send decisions before they take effect")
    def post_decisions(system: str, body: DecisionIn | BatchIn,
                       auth: Annotated[tuple[ApiTokenRecord, Actor],
                                       Depends(deciding)]) -> DecisionOut | BatchOut:
        _, actor = auth
        items = body.decisions if isinstance(body, BatchIn) else [body]
        requests = [DecisionRequest(id=d.id, idempotency_key=d.idempotency_key,
                                    features=d.features, sensitive=d.sensitive,
                                    prediction=d.prediction, score=d.score) for d in items]
        live, policy_here = state["systems"].get(system)
        try:
            records = state["batcher"].decide(actor, live, requests, policy=policy_here,
                                              now=now())
        except RequestRejected:
            raise
        except ValueError as error:
            if str(error).startswith(MSG_KEY_REUSED.split("{")[0]):
                raise HTTPException(409, str(error)) from None
            raise HTTPException(422, str(error)) from None
        answers = [_out(r, live) for r in records]
        return BatchOut(decisions=answers) if isinstance(body, BatchIn) else answers[0]

    @app.get("/v1/decisions/{decision_id}", response_model=DecisionStatus,
             summary="Whether a decision is final, and what it is")
    def get_decision(decision_id: int,
                     auth: Annotated[tuple[ApiTokenRecord, Actor],
                                     Depends(reading)]) -> DecisionStatus:
        token, _ = auth
        try:
            record = state["store"].live_decision(decision_id)
        except (LookupError, ValueError):
            record = None
        if record is None or record.system != token.system:
            raise HTTPException(404, MSG_UNKNOWN_DECISION.format(id=decision_id))
        return DecisionStatus(decision_id=record.id, id=record.external_id,
                              status=record.status, outcome=record.outcome,
                              model_decision=record.model_decision,
                              final_decision=record.final_decision, changed=record.changed,
                              decided_at=record.decided_at, decided_by=record.decided_role)

    return app
