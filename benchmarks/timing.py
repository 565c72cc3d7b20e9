"""Timing shared by the benchmark scripts (the best of several repeats, the run least disturbed by
other work on the machine) and the set-up of the SB3 peers. Scripts run as
``python benchmarks/<name>.py`` import it directly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


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


def matmul_gflops(dtype: object, m: int = 4096, k: int = 256, n: int = 256, repeats: int = 5) -> float:
    """The machine's matmul throughput (GFLOP/s) for [m, k] @ [k, n] in ``dtype`` on the current
    torch threads: the physical limit that a benchmark reports its speed as a fraction of."""
    import torch

    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)  # type: ignore[arg-type]
    reps = 20
    seconds = best_time(lambda: [a @ b for _ in range(reps)], repeats) / reps
    return 2 * m * k * n / seconds / 1e9


def linear_flops(module: object) -> int:
    """Multiply-add FLOPs of one forward row through every linear layer of ``module`` (2 x in x out,
    times the members of an ensemble layer)."""
    import torch

    total = 0
    for m in module.modules():  # type: ignore[attr-defined]
        if isinstance(m, torch.nn.Linear):
            total += 2 * m.in_features * m.out_features
        elif isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() == 3:   # [E, in, out]
            total += 2 * int(m.weight.numel())
    return total


def without_log_folder(model: Any) -> Any:
    """An SB3 model without its default logger, which leaves an empty /tmp/SB3-<time> folder per
    ``learn()`` (it writes nothing at verbose 0 either way)."""
    from stable_baselines3.common.logger import Logger

    model.set_logger(Logger(folder=None, output_formats=[]))
    return model
