"""The Nature-DQN convolutional trunk (Mnih et al. 2015) and the policy networks built on it (PPO, EPPO)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NatureCNN(nn.Module):
    """Nature-DQN trunk (Mnih et al. 2015): conv 32x8x8 s4, 64x4x4 s2, 64x3x3 s1, ReLU, then
    Linear(out_dim) + ReLU; raw pixel values in (no /255, as EPPO's released ``scale: false``).

    ``members`` independent trunks run as ONE grouped convolution (``groups=members``) and one
    batched linear layer. Input [B, C, H, W] or flattened [B, C*H*W]; output [members, B, out_dim].
    Orthogonal init with gain sqrt(2), zero biases.
    """

    def __init__(self, in_shape: tuple[int, ...], out_dim: int = 64, members: int = 1) -> None:
        super().__init__()
        from rlkit.nn.ensemble import EnsembleMLP

        self.in_shape, self.members = tuple(in_shape), members
        c, h, w = self.in_shape
        E = members
        self.conv = nn.Sequential(nn.Conv2d(c * E, 32 * E, 8, stride=4, groups=E), nn.ReLU(),
                                  nn.Conv2d(32 * E, 64 * E, 4, stride=2, groups=E), nn.ReLU(),
                                  nn.Conv2d(64 * E, 64 * E, 3, stride=1, groups=E), nn.ReLU())
        for m in self.conv:
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight, 2**0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            feat = self.conv(torch.zeros(1, c * E, h, w)).numel() // E
        self.fc = EnsembleMLP(E, feat, out_dim, (), orthogonal_init=True, out_gain=2**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *self.in_shape).float()
        h = self.conv(x.repeat(1, self.members, 1, 1))       # member e reads input copy e
        h = h.reshape(len(x), self.members, -1).transpose(0, 1)
        return F.relu(self.fc(h))


def policy_network(encoder: str, obs_shape: tuple[int, ...], hidden: tuple[int, ...], out_dim: int,
                   out_gain: float, members: int | None = None, shared_trunk: bool = False) -> nn.Module:
    """obs -> out_dim head on an MLP (tanh, orthogonal) or Nature-CNN trunk (feature size hidden[-1]).

    ``members=None``: one network, output [B, out]. ``members=K``: K networks in one batched module,
    output [K, B, out]; ``shared_trunk`` gives them one trunk and K linear heads.
    """
    from rlkit.nn.ensemble import EnsembleMLP
    from rlkit.nn.mlp import MLP, Tanh

    if encoder not in ("mlp", "nature_cnn"):
        raise ValueError(f"encoder={encoder!r} is unknown; choose mlp or nature_cnn")
    obs_dim = int(torch.Size(obs_shape).numel())
    if encoder == "nature_cnn" and len(obs_shape) != 3:
        raise ValueError(f"encoder=nature_cnn needs [C, H, W] observations, got shape {tuple(obs_shape)}")
    E = members or 1
    if encoder == "mlp" and not shared_trunk:
        if members is None:
            return MLP(obs_dim, out_dim, hidden, act="tanh", orthogonal_init=True, out_gain=out_gain)
        return EnsembleMLP(E, obs_dim, out_dim, hidden, act="tanh", orthogonal_init=True, out_gain=out_gain)
    head = EnsembleMLP(E, hidden[-1], out_dim, (), orthogonal_init=True, out_gain=out_gain)
    squeeze = [nn.Flatten(0, 1)] if members is None else []          # [1, B, out] -> [B, out]
    if encoder == "nature_cnn" and not shared_trunk:
        return nn.Sequential(NatureCNN(tuple(obs_shape), hidden[-1], E), head, *squeeze)
    if encoder == "nature_cnn":
        trunk = nn.Sequential(NatureCNN(tuple(obs_shape), hidden[-1]), nn.Flatten(0, 1))
    else:
        trunk = nn.Sequential(MLP(obs_dim, hidden[-1], hidden[:-1], act="tanh", orthogonal_init=True,
                                  out_gain=2**0.5), Tanh())
    return nn.Sequential(trunk, head, *squeeze)               # one trunk [B, h], K heads
