"""Prometheus metrics in the text exposition format, with no client library.

Why hand-written: the server needs a few counters and histograms, and the format is a page
of text; a dependency would bring a registry, global state and multiprocess modes this does
not use. Labels are bounded (route templates, not paths; namespaces, which an admin
creates), so the series cannot grow with traffic.

Behind ``ocrr serve --workers N`` each worker counts what it answers and publishes a
:meth:`Metrics.snapshot` every second (``ocrr.server.workers``); the worker that answers a
scrape publishes its own at once and adds up every worker's latest, so ``/metrics`` speaks
for the whole server (the others' part at most about a second old), and each part only
grows from one scrape to the next, whichever worker answers (never counters that seem to
go backwards, which Prometheus would read as a restart).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{n}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for n, v in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


class Counter:
    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + by

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def items(self) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return sorted(self._values.items())

    def add(self, items: Iterable[tuple[Sequence[str], float]]) -> None:
        """Add another process's counts (label values, count) to these."""
        with self._lock:
            for labels, value in items:
                key = tuple(labels)
                self._values[key] = self._values.get(key, 0.0) + float(value)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in self.items():
            yield f"{self.name}{_labels(self.label_names, labels)} {value:g}"


class Histogram:
    def __init__(self, name: str, help_: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names = name, help_, tuple(labels)
        self.buckets = tuple(buckets)
        self._series: dict[tuple[str, ...], list[float]] = {}  # bucket counts, +Inf, sum
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = [0.0] * (len(self.buckets) + 2)
            series[bisect.bisect_left(self.buckets, value)] += 1
            series[-1] += value

    def items(self) -> list[tuple[tuple[str, ...], list[float]]]:
        with self._lock:
            return sorted((k, list(v)) for k, v in self._series.items())

    def add(self, items: Iterable[tuple[Sequence[str], Sequence[float]]]) -> None:
        """Add another process's series (label values, bucket counts, +Inf, sum)."""
        with self._lock:
            for labels, counts in items:
                if len(counts) != len(self.buckets) + 2:
                    raise ValueError(f"{self.name}: a series of {len(counts)} values, "
                                     f"expected {len(self.buckets) + 2}")
                series = self._series.setdefault(tuple(labels),
                                                 [0.0] * (len(self.buckets) + 2))
                for i, count in enumerate(counts):
                    series[i] += float(count)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        names = (*self.label_names, "le")
        for labels, series in self.items():
            running = 0.0
            for bound, count in zip((*self.buckets, "+Inf"), series[:-1], strict=True):
                running += count
                le = bound if isinstance(bound, str) else f"{bound:g}"
                yield f"{self.name}_bucket{_labels(names, (*labels, le))} {running:g}"
            base = _labels(self.label_names, labels)
            yield f"{self.name}_sum{base} {series[-1]:g}"
            yield f"{self.name}_count{base} {running:g}"


class Metrics:
    """Everything the server counts; :meth:`render` adds gauges read at scrape time."""

    def __init__(self) -> None:
        self.requests = Counter("ocrr_http_requests_total", "HTTP requests answered",
                                ("method", "route", "status"))
        self.latency = Histogram("ocrr_http_request_seconds", "time to answer a request",
                                 ("route",))
        self.batch_texts = Histogram("ocrr_encode_batch_texts",
                                     "texts encoded together in one batch",
                                     buckets=BATCH_BUCKETS)
        self.batch_seconds = Histogram("ocrr_encode_batch_seconds", "time to encode a batch")
        self.predictions = Counter("ocrr_predictions_total", "texts predicted", ("namespace",))
        self.abstentions = Counter("ocrr_abstentions_total",
                                   "predictions answered 'unknown' (below the threshold)",
                                   ("namespace",))
        self.corrections = Counter("ocrr_corrections_total", "corrections appended",
                                   ("namespace",))
        self.refused = Counter("ocrr_refused_total",
                               "requests refused by authentication or rate limits",
                               ("reason",))

    def _metrics(self) -> tuple[Counter | Histogram, ...]:
        return (self.requests, self.latency, self.batch_texts, self.batch_seconds,
                self.predictions, self.abstentions, self.corrections, self.refused)

    def snapshot(self) -> dict[str, list]:
        """Every series, JSON-ready: metric name → [[label values, value or series], ...].

        >>> metrics = Metrics()
        >>> metrics.predictions.inc("demo", by=3)
        >>> metrics.snapshot()["ocrr_predictions_total"]
        [[['demo'], 3.0]]
        """
        return {m.name: [[list(labels), value] for labels, value in m.items()]
                for m in self._metrics()}

    def combined(self, snapshots: Iterable[dict[str, list]]) -> Metrics:
        """A copy of these counts with other processes' :meth:`snapshot` s added (metrics
        a snapshot names but this version does not know are left out).

        >>> one, two = Metrics(), Metrics()
        >>> one.predictions.inc("demo", by=2)
        >>> two.predictions.inc("demo", by=5)
        >>> one.combined([two.snapshot()]).predictions.value("demo")
        7.0
        """
        out = Metrics()
        mine = {m.name: m for m in out._metrics()}
        for snapshot in [self.snapshot(), *snapshots]:
            for name, items in snapshot.items():
                if name in mine:
                    mine[name].add(items)
        return out

    def render(self, gauges: Iterable[tuple[str, str, Sequence[tuple[str, float]]]] = ()) -> str:
        """``gauges``: (name, help, [(namespace, value), ...]) read now."""
        lines: list[str] = []
        for metric in self._metrics():
            lines.extend(metric.render())
        for name, help_, values in gauges:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} gauge")
            for namespace, value in values:
                lines.append(f"{name}{_labels(('namespace',), (namespace,))} {value:g}")
        return "\n".join(lines) + "\n"


class RequestMetrics:
    """ASGI layer: count and time every request by route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.inc(scope["method"], route, str(status))
            self.metrics.latency.observe(time.perf_counter() - started, route)
