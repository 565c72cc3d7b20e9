"""Timing shared by the benchmark scripts: the best of several repeats, the run least disturbed by
other work on the machine. Scripts run as ``python benchmarks/<name>.py`` import it directly."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def best_rate(fn: Callable[[], object], work: int, repeats: int) -> float:
    """``work`` units (env steps, updates) per second in the fastest of ``repeats`` calls."""
    return work / best_time(fn, repeats)
