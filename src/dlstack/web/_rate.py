"""A per-caller rate limit (token bucket) for endpoints that write: each caller may make
``per_minute`` requests a minute on average, ``burst`` at once; beyond that, 429 with the
seconds to wait. The clock is the caller's pace, not a verdict: wall time is right here.

>>> limit = RateLimit(per_minute=60, burst=2, clock=iter([0.0, 0.0, 0.0, 1.0]).__next__)
>>> limit.check("ada"); limit.check("ada")
>>> limit.check("ada")
Traceback (most recent call last):
...
dlstack.web._errors.TooManyRequests: more than 60 requests a minute from ada; wait 1 s
>>> limit.check("ada")  # a second later one token has come back
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from dlstack.web._errors import TooManyRequests

__all__ = ["RateLimit"]

MAX_CALLERS = 10_000  # buckets kept; the least recently seen caller is forgotten first


class RateLimit:
    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.per_minute = per_minute
        self.burst = float(burst if burst is not None else max(1, math.ceil(per_minute / 6)))
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # who -> (tokens, t)

    def check(self, who: str) -> None:
        """Spend one token of ``who``'s bucket, or raise TooManyRequests."""
        now = self.clock()
        tokens, then = self._buckets.pop(who, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[who] = (tokens, now)
            wait = math.ceil((1 - tokens) / self.rate)
            raise TooManyRequests(
                f"more than {self.per_minute:g} requests a minute from {who}; wait {wait} s",
                retry_after=wait,
            )
        self._buckets[who] = (tokens - 1, now)
        while len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
