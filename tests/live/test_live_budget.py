"""The review budget as a token bucket, and a held decision's service level, on a clock
the test controls.

Properties: over any stream of requests the bucket never grants more than its capacity
plus the rate times the time elapsed; when requests come faster than the rate it grants
exactly that (to rounding); a clock that goes backwards refills nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.live.budget import Bucket, sla_stage, take

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def run(arrivals_s: list[float], *, rate: float, capacity: float) -> list[bool]:
    bucket = Bucket.full(capacity, T0)
    granted = []
    for t in arrivals_s:
        ok, bucket = take(bucket, T0 + timedelta(seconds=t), rate_per_day=rate,
                          capacity=capacity)
        granted.append(ok)
    return granted


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(0, 3600, allow_nan=False), min_size=1, max_size=200),
       rate=st.floats(1, 2000), capacity=st.integers(1, 300))
def test_never_more_than_capacity_plus_rate_times_time(gaps: list[float], rate: float,
                                                       capacity: int) -> None:
    arrivals = list(np.cumsum(gaps))
    granted = run(arrivals, rate=rate, capacity=capacity)
    for i, t in enumerate(arrivals):
        assert sum(granted[:i + 1]) <= capacity + rate * t / 86400 + 1e-6


def test_a_flood_gets_exactly_the_budget() -> None:
    # 200 a day, a full bucket of 200: a decision every 10 s for 12 hours asks for 4,320.
    arrivals = [10.0 * i for i in range(4320)]
    granted = run(arrivals, rate=200, capacity=200)
    assert sum(granted) == 200 + int(200 * arrivals[-1] / 86400)
    assert all(granted[:200])  # the saved-up day goes first


def test_a_quiet_stream_is_never_refused() -> None:
    # 100 a day against a budget of 200 a day: nobody waits.
    assert all(run([864.0 * i for i in range(500)], rate=200, capacity=10))


def test_a_clock_going_backwards_refills_nothing() -> None:
    ok, empty = take(Bucket(1.0, T0), T0, rate_per_day=24, capacity=5)
    assert ok and empty.tokens == 0.0
    ok, after = take(empty, T0 - timedelta(hours=5), rate_per_day=24, capacity=5)
    assert not ok and after.updated_at == T0 and after.tokens == 0.0


def test_service_level_stages_at_their_boundaries() -> None:
    held = T0
    at = [sla_stage(held, held + timedelta(hours=h), sla_hours=4, lead_hours=4)
          for h in (0, 3.999, 4, 7.999, 8, 100)]
    assert at == ["panel", "panel", "lead", "lead", "fallback", "fallback"]


@pytest.mark.parametrize("bad", [datetime(2026, 1, 1), "2026-01-01", None])
def test_naive_or_missing_times_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="must be a datetime with a time zone"):
        take(Bucket(1.0, T0), bad, rate_per_day=1, capacity=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="held_at must be a datetime with a time zone"):
        sla_stage(bad, T0, sla_hours=1, lead_hours=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("rate", "capacity", "name"), [(0, 1, "rate_per_day"),
                                                         (1, -1, "capacity"),
                                                         (True, 1, "rate_per_day")])
def test_bad_rates_are_named(rate: float, capacity: float, name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
        take(Bucket(1.0, T0), T0, rate_per_day=rate, capacity=capacity)
