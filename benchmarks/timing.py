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


def interleaved_best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """:func:`best_time` of each of ``fns``, with the repeats taken round-robin (a, b, c, a, b, c,
    ...), so that a burst of other work on the machine hits every contestant alike rather than
    whichever was being timed at the moment."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(best_time(fn, 1))
    return {k: min(v) for k, v in times.items()}
