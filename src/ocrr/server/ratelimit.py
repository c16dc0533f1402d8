"""Rate limits: a token bucket per caller, answered with 429 and ``Retry-After``.

Why token buckets: a key may burst (a batch job starting) but not sustain more than its
rate, and a refused request costs the server almost nothing, so an overloaded client slows
down instead of the server falling over. Buckets are per process (each replica limits what
it is sent), keyed by API key id, or by client address for requests without a valid key
(so guessing keys is slow too).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    """``rate`` requests per second per caller, bursts up to ``burst``; ``rate <= 0`` turns
    it off."""

    def __init__(self, rate: float, burst: float | None = None, *,
                 max_callers: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, caller: str, cost: float = 1.0) -> float | None:
        """None if allowed (and charged), else the seconds to wait before trying again."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[caller] = (tokens, now)
                return (cost - tokens) / self.rate
            self._buckets[caller] = (tokens - cost, now)
            self._buckets.move_to_end(caller)
            while len(self._buckets) > self.max_callers:  # forget the longest idle
                self._buckets.popitem(last=False)
            return None
