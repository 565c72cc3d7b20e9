"""Ensembles of MLPs evaluated in one batched call (``torch.baddbmm``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from rlkit.nn.mlp import activation
from rlkit.precision import output_layer


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers: ``y[e] = x[e] @ W[e] + b[e]``, x: [E, B, in] -> [E, B, out].

    Initialised like ``nn.Linear`` (uniform with bound 1/sqrt(in)) independently per member.
    """

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """``E`` MLPs in one call. Input [B, in] (shared) or [E, B, in]; output [E, B, out].

    ``orthogonal_init`` initialises every member like :class:`rlkit.nn.MLP` does (orthogonal, gain
    sqrt(2) for hidden layers and ``out_gain`` for the last, zero biases).
    """

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int,
                 hidden: Sequence[int] = (256, 256), act: str = "relu", orthogonal_init: bool = False,
                 out_gain: float = 1.0) -> None:
        super().__init__()
        self.ensemble_size = ensemble_size
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(EnsembleLinear(ensemble_size, a, b)
                                    for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.act = activation(act)()
        if orthogonal_init:
            for i, layer in enumerate(self.linears):
                gain = out_gain if i == len(self.layers) - 1 else 2**0.5
                for w in layer.weight.data:          # [in, out] per member
                    nn.init.orthogonal_(w.T, gain)   # same as nn.Linear's [out, in] weight
                nn.init.zeros_(layer.bias)

    @property
    def linears(self) -> list[EnsembleLinear]:
        """The layers, typed (first to last)."""
        return cast(list[EnsembleLinear], list(self.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.ensemble_size, -1, -1)
        *hidden, last = self.layers
        for layer in hidden:
            x = self.act(layer(x))
        return output_layer(last, x)         # in fp32 under bf16 autocast (rlkit.precision)
