"""Mixed precision: ``precision="fp32"`` (default) or ``"bf16"``.

bf16 runs the matrix products (linear, matmul, bmm, addmm, conv) in bfloat16 under ``torch.autocast``
on CPU and CUDA, while parameters, optimizer states and everything outside the autocast region stay
fp32. On CPU, autocast leaves element-wise functions (exp, sigmoid, log_softmax, logsumexp, tanh) in
the dtype of their input, so a bf16 network output would carry bf16 into log-probabilities, sums and
thresholds: callers convert network outputs back with :func:`fp32` at the network boundary and do
their reductions and comparisons in fp32.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The autocast region for ``precision`` on ``device`` (a no-op for fp32)."""
    check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def fp32(x: torch.Tensor) -> torch.Tensor:
    """A network output back in fp32 (unchanged if it already is fp32 or fp64)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
