"""LS3's image VAE: convolutional encoder and decoder (Wilcox et al. 2021, official ``vae.py``).

VAE loss as in LS3's official code: ``L = mean_pixels (x - dec(z))^2 + beta * mean_dims KL(q(z|x) || N(0, I))``
with q = N(mu, exp(log_std)^2) and ``KL = 0.5 * (mu^2 + sigma^2 - 1) - log_std`` per latent dimension;
LS3 uses beta = 1e-6, i.e. close to a stochastic autoencoder.

Two architectures (``arch``):

- ``"ls3"``: LS3's 64x64 net. Encoder conv 32-64-128-256, kernel 4, strides 2, 3, 2, 2, no padding,
  ReLU (64 -> 31 -> 10 -> 4 -> 1), linear heads to (mu, log_std). Decoder linear latent -> 256 at 1x1,
  transposed convs 256-128-64-32-C with kernels 5, 5, 6, 6 and stride 2 (1 -> 5 -> 13 -> 30 -> 64),
  no output squashing (clamp to [0, 1] only for display).
- ``"small"``: the CPU variant of LS3's architecture for any size divisible by 8: conv 16-32-64 (kernel 4,
  stride 2, padding 1) + linear, mirrored by the decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.precision import fp32, output_layer

ARCHS = {
    "ls3": {"channels": (32, 64, 128, 256), "kernels": (4, 4, 4, 4), "strides": (2, 3, 2, 2), "padding": 0,
            "deconv_kernels": (5, 5, 6, 6)},
    "small": {"channels": (16, 32, 64), "kernels": (4, 4, 4), "strides": (2, 2, 2), "padding": 1,
              "deconv_kernels": (4, 4, 4)},
}


def _arch(arch: str, image_size: int) -> dict:
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r} is unknown; choose one of {sorted(ARCHS)}")
    if arch == "ls3" and image_size != 64:
        raise ValueError(f"arch=ls3 is LS3's 64x64 network; image_size={image_size} needs arch=small")
    if arch == "small" and image_size % 8:
        raise ValueError(f"arch=small needs an image size divisible by 8, got {image_size}")
    return ARCHS[arch]


class ConvEncoder(nn.Module):
    """[B, C, S, S] -> [B, out_dim]: the ``arch`` conv stack (ReLU), flattened, then one linear layer."""

    def __init__(self, in_channels: int = 3, out_dim: int = 64, image_size: int = 64,
                 arch: str = "ls3") -> None:
        super().__init__()
        spec = _arch(arch, image_size)
        chans = [in_channels, *spec["channels"]]
        layers: list[nn.Module] = []
        for a, b, k, s in zip(chans[:-1], chans[1:], spec["kernels"], spec["strides"], strict=True):
            layers += [nn.Conv2d(a, b, k, stride=s, padding=spec["padding"]), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        with torch.no_grad():
            feat = self.conv(torch.zeros(1, in_channels, image_size, image_size)).numel()
        self.fc = nn.Linear(feat, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return output_layer(self.fc, self.conv(x).flatten(1))   # the latent in fp32 under bf16 autocast


class ConvDecoder(nn.Module):
    """[B, latent] -> [B, C, S, S], unsquashed (mirror of :class:`ConvEncoder` for ``arch``)."""

    def __init__(self, latent_dim: int, out_channels: int = 3, image_size: int = 64, arch: str = "ls3") -> None:
        super().__init__()
        spec = _arch(arch, image_size)
        chans = [*spec["channels"][::-1], out_channels]
        self.c0 = chans[0]
        self.hw = 1 if arch == "ls3" else image_size // 2 ** len(spec["strides"])
        self.fc = nn.Linear(latent_dim, self.c0 * self.hw**2)
        pad = 0 if arch == "ls3" else 1
        layers: list[nn.Module] = []
        for i, (a, b, k) in enumerate(zip(chans[:-1], chans[1:], spec["deconv_kernels"], strict=True)):
            layers.append(nn.ConvTranspose2d(a, b, k, stride=2, padding=pad))
            if i < len(chans) - 2:
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, first = self.fc(z), self.deconv[0]
        assert isinstance(first, nn.ConvTranspose2d)
        if self.hw == 1:  # a transposed conv of a 1x1 input is one matrix product (same sums, 4x faster on CPU)
            h = (h @ first.weight.flatten(1)).view(-1, first.out_channels, *first.kernel_size)
            if first.bias is not None:
                h = h + first.bias.view(1, -1, 1, 1)
        else:
            h = first(h.view(-1, self.c0, self.hw, self.hw))
        return fp32(self.deconv[1:](h))


class VAE(nn.Module):
    """Gaussian VAE over images in [0, 1]; ``encode`` returns (mu, log_std) (module docstring)."""

    def __init__(self, latent_dim: int = 32, in_channels: int = 3, image_size: int = 64, arch: str = "ls3",
                 beta: float = 1e-6) -> None:
        super().__init__()
        self.latent_dim, self.beta = latent_dim, beta
        self.encoder = ConvEncoder(in_channels, 2 * latent_dim, image_size, arch)
        self.decoder = ConvDecoder(latent_dim, in_channels, image_size, arch)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.encoder(x).chunk(2, dim=-1)
        return mu, log_std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_std = self.encode(x)
        z = mu + torch.randn_like(mu) * log_std.exp()  # reparameterisation
        return self.decoder(z), mu, log_std

    def loss(self, x: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Mean pixel MSE against ``target`` (default x) + beta * mean KL (module docstring).
        LS3's ``enc_data_aug`` feeds a second random crop as x and keeps the first as the target."""
        recon, mu, log_std = self(x)
        rec = F.mse_loss(recon, x if target is None else target)
        kl = (0.5 * (mu.pow(2) + (2 * log_std).exp() - 1) - log_std).mean()
        return {"loss": rec + self.beta * kl, "recon": rec, "kl": kl}

    def decode_image(self, z: torch.Tensor) -> torch.Tensor:
        """Decoded images clamped to [0, 1] for display."""
        return self.decoder(z).clamp(0, 1)
