"""Recent accuracy, measured by the corrections themselves.

Why this way: a deployed classifier has no test set, but a correction of a text it recently
answered is a verdict on that answer (the same label confirms it, another refutes it). Each
prediction is remembered (by a digest of its text, never the text) for a while; a correction
of that text settles it. Only predictions that were later corrected are judged, so the
figure says how often the answers that people bothered to check were right, not the overall
accuracy. It is kept per process (each replica judges its own answers).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, deque


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class RecentOutcomes:
    """Predictions awaiting a verdict (at most ``pending``) and the last ``window`` verdicts."""

    def __init__(self, pending: int = 10_000, window: int = 1_000) -> None:
        self._pending: OrderedDict[bytes, str | None] = OrderedDict()
        self._limit = pending
        self._verdicts: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()

    def predicted(self, text: str, label: str | None) -> None:
        key = _digest(text)
        with self._lock:
            self._pending[key] = label
            self._pending.move_to_end(key)
            while len(self._pending) > self._limit:
                self._pending.popitem(last=False)

    def corrected(self, text: str, label: str) -> bool | None:
        """Settle the latest prediction of ``text``: whether it was right (None if there
        was none pending)."""
        with self._lock:
            if (answer := self._pending.pop(_digest(text), _MISSING)) is _MISSING:
                return None
            verdict = answer == label
            self._verdicts.append(verdict)
            return verdict

    @property
    def judged(self) -> int:
        return len(self._verdicts)

    @property
    def accuracy(self) -> float | None:
        with self._lock:
            if not self._verdicts:
                return None
            return sum(self._verdicts) / len(self._verdicts)


_MISSING: object = object()
