"""Mixed precision: ``precision="fp32"`` (default) or ``"bf16"``, one setting for every algorithm.

bf16 runs the matrix products (linear, matmul, bmm, baddbmm, addmm, conv, attention) in bfloat16
under ``torch.autocast`` on CPU and CUDA. Parameters, gradients and optimizer states stay fp32 (the
master weights): autocast casts a copy of each weight for the product and nothing else, so a
checkpoint does not depend on the precision it was trained in.

On CPU, autocast leaves element-wise functions (exp, sigmoid, log_softmax, logsumexp, tanh) in the
dtype of their input, so a bf16 network output would carry bf16 into log-probabilities, entropies,
TD targets and thresholds, and a bf16 output layer would round values to 3 significant digits (a
state value of 80 to steps of 0.5, coarser than the advantages computed from it). The networks of
:mod:`rlkit.nn` therefore compute their last layer in fp32 (:func:`output_layer`) and return fp32;
losses and reductions outside them run in fp32. Float64 tensors are never cast
(autocast leaves them alone), and code whose answer must not depend on the precision (a graph
search, a solver) runs in a :func:`full_precision` region.

The region runs without autocast's weight-cast cache: the cache is keyed by the weight tensor, not
its version, so after an optimizer step inside the region (a ``train_step`` holds many: PPO's
minibatches, SAC's critic then actor) the next forward would use the bf16 copy of the old weights.
Each product casts its weights afresh instead, except inside functions that change no weight
(:func:`reuses_weight_casts`: the planners).

The runner wraps ``train_step()`` and ``evaluate()`` in :func:`autocast` (key ``precision``);
library users do the same::

    with autocast("bf16", agent.device):
        agent.train_step()
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The autocast region for ``precision`` on ``device`` (a no-op for fp32)."""
    check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False)


def full_precision(device: torch.device | str) -> contextlib.AbstractContextManager:
    """A region where the matrix products run in their tensors' own dtype whatever the caller's
    precision (autocast off)."""
    return torch.autocast(device_type=torch.device(device).type, enabled=False)


def reuses_weight_casts(fn: Callable[P, R]) -> Callable[P, R]:
    """For a function that changes no weight (a planner's search, which calls the same networks
    hundreds of times): inside a bf16 region each weight is cast to bf16 once for the whole call, not
    at every product (autocast's cache, on for the call only and emptied before and after it)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        kinds = [kind for kind in ("cpu", "cuda") if torch.is_autocast_enabled(kind)]
        if not kinds:
            return fn(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for kind in kinds:
                dtype = torch.get_autocast_dtype(kind)
                stack.enter_context(torch.autocast(kind, dtype=dtype, cache_enabled=True))
            torch.clear_autocast_cache()
            try:
                return fn(*args, **kwargs)
            finally:
                torch.clear_autocast_cache()

    return wrapper


def output_layer(layer: Callable[..., torch.Tensor], x: torch.Tensor, *args: object) -> torch.Tensor:
    """``layer(x, *args)`` in fp32 inside a bf16 region: a network's last layer, so that its outputs
    (values of tens or hundreds, logits compared with each other) keep fp32's resolution rather than
    bf16's 3 significant digits. The hidden layers, where the products are, stay in bf16."""
    if not torch.is_autocast_enabled(x.device.type):
        return layer(x, *args)
    with full_precision(x.device):
        return layer(fp32(x), *args)


def fp32(x: torch.Tensor) -> torch.Tensor:
    """A network output back in fp32 (unchanged if it already is fp32 or fp64)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
