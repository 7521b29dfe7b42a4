"""In-process token buckets, one per key (account and address), for login and submission.

A bucket holds at most ``burst`` tokens and refills at ``rate`` per second; a request takes one.
When none is left the caller answers 429 with the seconds until the next token as Retry-After.
The limiter is per process: with several server processes each enforces its own budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by string, thread-safe, with a bounded number of keys."""

    def __init__(
        self,
        burst: int,
        rate_per_second: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = float(burst)
        self.rate = rate_per_second
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Take one token for ``key``: None if allowed, else the seconds to wait."""
        with self._lock:
            moment = self._clock()
            tokens, last = self._buckets.get(key, (self.burst, moment))
            tokens = min(self.burst, tokens + (moment - last) * self.rate)
            if tokens >= 1.0:
                self._store(key, tokens - 1.0, moment)
                return None
            self._store(key, tokens, moment)
            return (1.0 - tokens) / self.rate

    def _store(self, key: str, tokens: float, moment: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            # Forget full buckets first: they carry no state a fresh bucket would not.
            full = [
                k
                for k, (t, last) in self._buckets.items()
                if t + (moment - last) * self.rate >= self.burst
            ]
            for stale in full or list(self._buckets)[: self.max_keys // 10]:
                del self._buckets[stale]
        self._buckets[key] = (tokens, moment)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
