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
