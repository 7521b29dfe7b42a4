"""Token buckets: a burst, then one request per refill interval, per key."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safeguarding.web.ratelimit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 0.5, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    wait = limiter.take("a")
    assert wait is not None and abs(wait - 2.0) < 1e-9
    assert retry_after_header(wait) == "2"
    assert limiter.take("b") is None
    clock.now = 2.0
    assert limiter.take("a") is None
    assert limiter.take("a") is not None


@given(
    burst=st.integers(1, 20),
    rate=st.floats(0.1, 100),
    gaps=st.lists(st.floats(0, 5), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_refill(burst: int, rate: float, gaps: list[float]) -> None:
    clock = Clock()
    limiter = RateLimiter(burst, rate, clock=clock)
    granted = 0
    for gap in gaps:
        clock.now += gap
        granted += limiter.take("k") is None
    assert granted <= burst + clock.now * rate + 1e-6


def test_the_number_of_keys_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 1.0, max_keys=10, clock=clock)
    for i in range(100):
        limiter.take(str(i))
    assert len(limiter._buckets) <= 10
