"""PEARL's probabilistic context encoder (Rakelly et al. 2019, §4.1; oyster ``PEARLAgent``).

Each context transition c_n = (s, a, r) (or (s, a, r, s')) maps through an MLP to a Gaussian factor
N(mu_n, sigma_n^2) (sigma_n^2 = softplus of the second half of the outputs). The posterior is their
permutation-invariant product, independently per latent dimension:

    sigma^2 = 1 / sum_n 1 / max(sigma_n^2, 1e-7),        mu = sigma^2 sum_n mu_n / sigma_n^2

q(z|c) = N(mu, diag sigma^2), sampled by reparameterisation; the prior is N(0, I) and the KL term
is KL(q(z|c) || N(0, I)) summed over latent dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.nn import MLP


def product_of_gaussians(mu: torch.Tensor, var: torch.Tensor,
                         mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of the per-transition factors mu, var [T, N, L] -> [T, L]; ``mask`` [T, N] drops rows
    (an empty context gives the prior N(0, I))."""
    precision = 1.0 / var.clamp_min(1e-7)
    if mask is not None:
        precision = precision * mask.unsqueeze(-1)
    total = precision.sum(1)
    if mask is not None:
        total = total + (mask.sum(1, keepdim=True) == 0)        # no data: precision 1 (the prior)
    var_post = 1.0 / total
    return var_post * (precision * mu).sum(1), var_post


def kl_to_standard_normal(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, var) || N(0, I)) per row, summed over the last dimension."""
    return 0.5 * (var + mu**2 - 1.0 - var.log()).sum(-1)


class ContextEncoder(nn.Module):
    """MLP per context transition (3 x 200 ReLU in PEARL) to (mu_n, sigma_n^2) of a latent ``latent_dim``."""

    def __init__(self, context_dim: int, latent_dim: int = 5, hidden: Sequence[int] = (200, 200, 200)) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = MLP(context_dim, 2 * latent_dim, hidden)

    def forward(self, context: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|c) of each task's context [T, N, context_dim]: mean and variance [T, L]."""
        out = self.net(context)
        mu, var = out[..., :self.latent_dim], F.softplus(out[..., self.latent_dim:])
        return product_of_gaussians(mu, var, mask)
