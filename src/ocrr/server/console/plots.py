"""The dashboard's charts as geometry (boxes, points, ticks) for the SVG templates to draw.

Why drawn on the server as SVG: no charting library to ship or load, nothing fetched from a
CDN, and the numbers are in the page (each bar's ``<title>`` reads as a tooltip). Labels are
user data, so the templates write every string through Jinja's autoescaping; nothing here
builds markup.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 34
MAX_BUCKETS = 48
MIN_BUCKETS = 12
WIDE = 1160
_UNITS = (
    (60, "%H:%M"), (300, "%H:%M"), (900, "%H:%M"), (3600, "%d %b %H:00"),
    (6 * 3600, "%d %b %H:00"), (86400, "%d %b"), (7 * 86400, "%d %b"), (30 * 86400, "%b %Y"),
)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    boxes: list[Box] = field(default_factory=list)
    points: list[Box] = field(default_factory=list)
    """Points of a line (x, y; w and h unused)."""
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    empty: str | None = None
    """Shown instead of a chart when there is nothing to draw."""

    @property
    def line(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def plot(self) -> Box:
        return Box(LEFT, TOP, self.width - LEFT - RIGHT, self.height - TOP - BOTTOM, "")


def buckets(times_ns: Sequence[int], now_ns: int | None = None) -> tuple[int, int, int, str]:
    """(first bucket start, bucket seconds, count, strftime format) covering the times."""
    now = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000_000
    first = min(times_ns) // 1_000_000_000 if times_ns else now
    last = max(now, max(times_ns) // 1_000_000_000 if times_ns else now)

    def buckets_of(seconds: int) -> int:
        return (last - (first - first % seconds)) // seconds + 1

    seconds, fmt = next(((s, f) for s, f in _UNITS if buckets_of(s) <= MAX_BUCKETS),
                        _UNITS[-1])
    start, count = first - first % seconds, buckets_of(seconds)
    if count < MIN_BUCKETS:  # a short history still reads as a time line ending now
        start -= (MIN_BUCKETS - count) * seconds
        count = MIN_BUCKETS
    return start, seconds, int(count), fmt


def _label(at: int, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(at))


def _x_ticks(start: int, seconds: int, count: int, fmt: str, step: float) -> list[Tick]:
    every = max(1, math.ceil(count / 6))
    return [Tick(LEFT + (i + 0.5) * step, _label(start + i * seconds, fmt))
            for i in range(0, count, every)]


def _nice_max(value: float) -> int:
    if value <= 4:
        return 4
    power = 10 ** int(math.floor(math.log10(value)))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= value:
            return int(math.ceil(factor * power))
    return int(10 * power)


def counts_over_time(times_ns: Sequence[int], what: str, now_ns: int | None = None) -> Chart:
    """Bars: how many events (corrections) fell in each bucket of time (UTC)."""
    chart = Chart()
    if not times_ns:
        chart.empty = f"no {what} yet"
        return chart
    start, seconds, count, fmt = buckets(times_ns, now_ns)
    tally = [0] * count
    for t in times_ns:
        tally[min(count - 1, max(0, (t // 1_000_000_000 - start) // seconds))] += 1
    plot = chart.plot
    top = _nice_max(max(tally))
    step = plot.w / count
    for i, n in enumerate(tally):
        h = plot.h * n / top
        when = _label(start + i * seconds, fmt)
        chart.boxes.append(Box(plot.x + i * step + step * 0.1, plot.y + plot.h - h,
                               step * 0.8, h, f"{when}: {n} {what}"))
    chart.x_ticks = _x_ticks(start, seconds, count, fmt, step)
    chart.y_ticks = [Tick(plot.y + plot.h * (1 - f), f"{round(top * f):,}")
                     for f in (0, 0.5, 1)]
    return chart


def share_over_time(events: Sequence[tuple[int, bool]], what: str,
                    now_ns: int | None = None) -> Chart:
    """A line: the share of events that were right, per bucket of time (buckets with none
    are skipped); each point's title gives the counts."""
    chart = Chart()
    if not events:
        chart.empty = f"no {what} yet"
        return chart
    start, seconds, count, fmt = buckets([t for t, _ in events], now_ns)
    right, seen = [0] * count, [0] * count
    for t, ok in events:
        i = min(count - 1, max(0, (t // 1_000_000_000 - start) // seconds))
        seen[i] += 1
        right[i] += bool(ok)
    plot = chart.plot
    step = plot.w / count
    for i in range(count):
        if seen[i]:
            share = right[i] / seen[i]
            chart.points.append(Box(
                plot.x + (i + 0.5) * step, plot.y + plot.h * (1 - share), 0, 0,
                f"{_label(start + i * seconds, fmt)}: {share:.0%} of {seen[i]} {what} right",
            ))
    chart.x_ticks = _x_ticks(start, seconds, count, fmt, step)
    chart.y_ticks = [Tick(plot.y + plot.h * (1 - f), f"{f:.0%}") for f in (0, 0.5, 1)]
    return chart


@dataclass(frozen=True)
class HBar:
    y: float
    w: float
    label: str
    count: int


@dataclass
class HBars:
    bars: list[HBar]
    height: int
    width: int = WIDE
    label_width: int = 220
    bar_height: int = 16
    more: int = 0
    """Classes left out (the smallest)."""


def class_bars(counts: Sequence[tuple[str, int]], limit: int = 30) -> HBars:
    """Horizontal bars, one per class (the largest ``limit``), longest first."""
    shown = list(counts[:limit])
    top = max((n for _, n in shown), default=0) or 1
    layout = HBars([], 0)
    room = layout.width - layout.label_width - 70
    bars = [HBar(4 + i * 20, room * n / top, label, n) for i, (label, n) in enumerate(shown)]
    return HBars(bars, height=max(30, 8 + 20 * len(bars)), more=max(0, len(counts) - limit))
