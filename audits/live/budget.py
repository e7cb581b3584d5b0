"""The review budget as a rate, and the service level of a held decision.

The budget is a token bucket: it fills at ``reviews_per_day`` and holds at most
``capacity``; holding a decision takes one token. So the live queue grows no faster than
the panel can work it, and a quiet night saves up for a busy morning only up to the
bucket's size. :func:`take` is pure: the caller keeps the :class:`Bucket` (the store, in
one row per system, updated in the transaction that holds the decision).

A held decision waits ``sla_hours`` for the panel, then goes to the panel lead, then,
after ``lead_hours`` more, the policy's fallback takes effect: :func:`sla_stage` says
which, from the time it was held and the time now (a clock the caller passes, so tests
control it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["SLA_STAGES", "Bucket", "sla_stage", "take"]

#: Where a held decision is in its service level.
SLA_STAGES = ("panel", "lead", "fallback")
MSG_AWARE = "{name} must be a datetime with a time zone; got {value!r}"
MSG_RATE = "{name} must be a finite number > 0; got {value!r}"
_DAY_S = 86400.0


@dataclass(frozen=True)
class Bucket:
    """The budget left (``tokens``) as of ``updated_at``."""

    tokens: float
    updated_at: datetime

    @classmethod
    def full(cls, capacity: float, now: datetime) -> Bucket:
        """A bucket holding ``capacity`` tokens at ``now`` (a new system's)."""
        _check_aware(now, "now")
        return cls(float(capacity), now)


def _check_aware(value: object, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(MSG_AWARE.format(name=name, value=value))


def take(bucket: Bucket, now: datetime, *, rate_per_day: float, capacity: float
         ) -> tuple[bool, Bucket]:
    """Refill the bucket up to ``now`` and take one token if there is one.

    Returns
    -------
    (bool, Bucket)
        Whether a token was taken, and the bucket after. A clock that went backwards
        refills nothing (the bucket keeps its time).

    Examples
    --------
    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ok, b = take(Bucket(1.0, t0), t0, rate_per_day=24, capacity=2)
    >>> ok, b.tokens
    (True, 0.0)
    >>> take(b, t0 + timedelta(minutes=30), rate_per_day=24, capacity=2)[0]
    False
    >>> take(b, t0 + timedelta(hours=1), rate_per_day=24, capacity=2)[0]
    True
    """
    _check_aware(now, "now")
    for name, value in (("rate_per_day", rate_per_day), ("capacity", capacity)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise ValueError(MSG_RATE.format(name=name, value=value))
    elapsed = max((now - bucket.updated_at).total_seconds(), 0.0)
    when = max(now, bucket.updated_at)
    tokens = min(float(capacity), bucket.tokens + elapsed * rate_per_day / _DAY_S)
    # A whole token, allowing for the rounding of the refill arithmetic.
    if tokens >= 1.0 - 1e-9:
        return True, Bucket(max(tokens - 1.0, 0.0), when)
    return False, Bucket(tokens, when)


def sla_stage(held_at: datetime, now: datetime, *, sla_hours: float,
              lead_hours: float) -> str:
    """Where a held decision is in its service level: one of :data:`SLA_STAGES`.

    ``"panel"`` until ``sla_hours`` have passed since it was held, ``"lead"`` (escalated
    to the panel lead) for ``lead_hours`` more, then ``"fallback"``.

    Examples
    --------
    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> [sla_stage(t0, t0 + timedelta(hours=h), sla_hours=4, lead_hours=2)
    ...  for h in (0, 3.9, 4, 5.9, 6)]
    ['panel', 'panel', 'lead', 'lead', 'fallback']
    """
    _check_aware(held_at, "held_at")
    _check_aware(now, "now")
    waited = now - held_at
    if waited < timedelta(hours=sla_hours):
        return "panel"
    if waited < timedelta(hours=sla_hours + lead_hours):
        return "lead"
    return "fallback"
