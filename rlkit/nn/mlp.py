"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


def activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is unknown; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class MLP(nn.Sequential):
    """``in_dim -> hidden... -> out_dim`` with an activation between layers (none after the last).

    ``layer_norm`` adds LayerNorm before each hidden activation; ``out_gain`` (if set) rescales the
    orthogonal init of the last layer (PPO uses 0.01 for the policy head and 1.0 for the value).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256),
                 act: str = "relu", layer_norm: bool = False, orthogonal_init: bool = False,
                 out_gain: float = 1.0) -> None:
        layers: list[nn.Module] = []
        dims = [in_dim, *hidden]
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers.append(nn.Linear(a, b))
            if layer_norm:
                layers.append(nn.LayerNorm(b))
            layers.append(activation(act)())
        layers.append(nn.Linear(dims[-1], out_dim))
        super().__init__(*layers)
        if orthogonal_init:
            linears = [m for m in self if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linears):
                gain = out_gain if i == len(linears) - 1 else 2**0.5
                nn.init.orthogonal_(lin.weight, gain)
                nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in_dim] -> [..., out_dim]
        return super().forward(x)
