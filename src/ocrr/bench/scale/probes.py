"""What the machine says about memory (``/proc``): this process's resident set, the memory
available, and a cell's estimated peak, checked before a run starts."""

from __future__ import annotations


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def estimate_peak_bytes(size: int, dim: int) -> int:
    """Rough peak memory of one cell: generated rows, ledger entries (vector, hashes,
    Python objects), the exact index and the HNSW index."""
    vector = dim * 4
    return size * (vector + (vector + 700) + vector + (vector + 250))


def available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
