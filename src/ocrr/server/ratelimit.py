"""Rate limits: a token bucket per caller, answered with 429 and ``Retry-After``.

Why token buckets: a key may burst (a batch job starting) but not sustain more than its
rate, and a refused request costs the server almost nothing, so an overloaded client slows
down instead of the server falling over. Buckets are per process (each replica limits what
it is sent), keyed by API key id, or by client address for requests without a valid key
(so guessing keys is slow too).

Behind ``ocrr serve --workers N`` the buckets live in memory the workers share
(:class:`ocrr.server.buckets.SharedBuckets`), so a key gets its rate from the whole server.
"""

from __future__ import annotations

import time

from ocrr.server.buckets import Buckets, LocalBuckets


class RateLimiter:
    """``rate`` requests per second per caller, bursts up to ``burst``; ``rate <= 0`` turns
    it off. ``buckets``: where the callers' buckets are kept (default: in this process,
    the longest idle of more than ``max_callers`` forgotten).

    >>> limiter = RateLimiter(rate=1, burst=2)
    >>> [limiter.check("key") is None for _ in range(3)]
    [True, True, False]
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 max_callers: int = 100_000, buckets: Buckets | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self.buckets = buckets if buckets is not None else LocalBuckets(max_callers)

    def check(self, caller: str, cost: float = 1.0) -> float | None:
        """None if allowed (and charged), else the seconds to wait before trying again."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self.buckets.locked():
            found = self.buckets.get(caller)
            tokens, last = found if found is not None else (self.burst, now)
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self.buckets.put(caller, tokens, now, idle=self.burst / self.rate)
                return (cost - tokens) / self.rate
            self.buckets.put(caller, tokens - cost, now, idle=self.burst / self.rate)
            return None

    def refund(self, caller: str, cost: float) -> None:
        """Give back what :meth:`check` charged (a request refused by another limit)."""
        if self.rate <= 0:
            return
        with self.buckets.locked():
            found = self.buckets.get(caller)
            if found is not None:
                self.buckets.put(caller, min(self.burst, found[0] + cost), found[1],
                                 idle=self.burst / self.rate)


class WorkBudget:
    """What one key may have encoded: ``text_rate`` texts and ``char_rate`` characters per
    second (bursts up to ``text_burst`` / ``char_burst``, at least one maximal request),
    beside the request rate. Requests count work unevenly (one text or 256 texts of 4,000
    characters), so a request limit alone let one read key starve every tenant's encoder.
    A rate of 0 turns that budget off.

    >>> budget = WorkBudget(text_rate=10, char_rate=50, text_burst=10, char_burst=100)
    >>> budget.check("key", ["x" * 60]) is None
    True
    >>> wait, message = budget.check("key", ["y" * 60])
    >>> round(wait, 1), message
    (0.4, 'character budget of 50 characters per second exceeded')
    """

    def __init__(self, text_rate: float, char_rate: float, *, text_burst: float,
                 char_burst: float, texts: Buckets | None = None,
                 chars: Buckets | None = None) -> None:
        self.texts = RateLimiter(text_rate, burst=max(text_burst, 2 * text_rate), buckets=texts)
        self.chars = RateLimiter(char_rate, burst=max(char_burst, 2 * char_rate), buckets=chars)

    def check(self, caller: str, texts: list[str]) -> tuple[float, str] | None:
        """None if allowed (and charged), else (seconds to wait, what was exceeded)."""
        count, chars = len(texts), sum(len(t) for t in texts)
        wait = self.texts.check(caller, count)
        if wait is not None:
            return wait, f"text budget of {self.texts.rate:g} texts per second exceeded"
        wait = self.chars.check(caller, chars)
        if wait is not None:
            self.texts.refund(caller, count)
            return wait, (f"character budget of {self.chars.rate:g} characters per second "
                          "exceeded")
        return None
