"""Convolutional encoder/decoder and a VAE over images (LS3 uses a VAE over 64x64 RGB frames).

VAE loss (Kingma & Welling 2014): ``L = E_q[ ||x - dec(z)||^2 ] + beta * KL(q(z|x) || N(0, I))``
with ``KL = -0.5 * sum(1 + log_var - mu^2 - exp(log_var))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvEncoder(nn.Module):
    """[B, C, 64, 64] -> [B, out_dim] with four stride-2 convolutions (64 -> 4 spatially)."""

    def __init__(self, in_channels: int = 3, out_dim: int = 256, depth: int = 32,
                 image_size: int = 64) -> None:
        super().__init__()
        chans = [in_channels, depth, 2 * depth, 4 * depth, 8 * depth]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.feat_hw = image_size // 16
        self.fc = nn.Linear(chans[-1] * self.feat_hw**2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """[B, latent] -> [B, C, 64, 64] in [0, 1] (mirror of :class:`ConvEncoder`)."""

    def __init__(self, latent_dim: int, out_channels: int = 3, depth: int = 32,
                 image_size: int = 64) -> None:
        super().__init__()
        self.hw, self.c0 = image_size // 16, 8 * depth
        self.fc = nn.Linear(latent_dim, self.c0 * self.hw**2)
        chans = [8 * depth, 4 * depth, 2 * depth, depth]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(depth, out_channels, 4, stride=2, padding=1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.c0, self.hw, self.hw)
        return torch.sigmoid(self.deconv(h))


class VAE(nn.Module):
    """Gaussian VAE with a conv encoder/decoder; ``encode`` returns (mu, log_var)."""

    def __init__(self, latent_dim: int = 32, in_channels: int = 3, depth: int = 32,
                 image_size: int = 64, beta: float = 1.0) -> None:
        super().__init__()
        self.latent_dim, self.beta = latent_dim, beta
        self.encoder = ConvEncoder(in_channels, 2 * latent_dim, depth, image_size)
        self.decoder = ConvDecoder(latent_dim, in_channels, depth, image_size)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        return mu, log_var.clamp(-10.0, 10.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()  # reparameterisation
        return self.decoder(z), mu, log_var

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image sums of squared error and KL, averaged over the batch (module docstring)."""
        recon, mu, log_var = self(x)
        rec = F.mse_loss(recon, x, reduction="none").flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1)).mean()
        return {"loss": rec + self.beta * kl, "recon": rec, "kl": kl}


class NatureCNN(nn.Module):
    """Nature-DQN trunk (Mnih et al. 2015): conv 32x8x8 s4, 64x4x4 s2, 64x3x3 s1, ReLU, then
    Linear(out_dim) + ReLU; raw pixel values in (no /255, as EPPO's released ``scale: false``).

    ``members`` independent trunks run as ONE grouped convolution (``groups=members``) and one
    batched linear layer. Input [B, C, H, W] or flattened [B, C*H*W]; output [members, B, out_dim].
    Orthogonal init with gain sqrt(2), zero biases.
    """

    def __init__(self, in_shape: tuple[int, int, int], out_dim: int = 64, members: int = 1) -> None:
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
    from rlkit.nn.mlp import MLP

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
                                  out_gain=2**0.5), nn.Tanh())
    return nn.Sequential(trunk, head, *squeeze)               # one trunk [B, h], K heads
