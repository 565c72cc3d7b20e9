"""The EPPO policy ensemble: K members in one batched module, their mixture, and its statistics.

Discrete actions (the paper): member k outputs pi_k(.|s) = softmax(logits_k); the ensemble policy
is the mixture of probabilities pi_hat(a|s) = (1/K) sum_k pi_k(a|s) (official ``EPPO`` policy code). Acting
samples
from pi_hat, evaluation takes argmax pi_hat.

Continuous actions (our extension, not in the paper or code): member k is a diagonal Gaussian
N(mu_k(s), diag sigma_k^2); pi_hat is the equal-weight Gaussian mixture. Its entropy has no closed
form and is estimated without bias by one reparameterised sample per member,
H(pi_hat) ~= -(1/K) sum_k log pi_hat(mu_k + sigma_k eps_k). The diversity term uses the normalised
inner product of densities <p_i, p_j> / sqrt(<p_i, p_i><p_j, p_j>), which is 1 for identical members,
tends to 0 for far-apart ones, and has a closed form for Gaussians. The greedy action is the member
mean with the highest mixture density.
"""

from __future__ import annotations

import math
from typing import cast

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.nn import policy_network
from rlkit.nn.ensemble import EnsembleLinear
from rlkit.rl.ppo import PolicyModel, sample_categorical


@torch.no_grad()
def linear_default_init(layer: EnsembleLinear) -> None:
    """Every member's weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's ``nn.Linear``
    default (Kaiming-uniform with a = sqrt(5)), what the released EPPO heads start from. CleanRL's
    orthogonal init with gain 0.01 instead makes every member start uniform and identical, and the
    diversity term's gradient vanishes there."""
    bound = 1.0 / math.sqrt(layer.weight.shape[1])
    layer.weight.uniform_(-bound, bound)
    layer.bias.uniform_(-bound, bound)


def mean_pairwise_overlap(gram: torch.Tensor) -> torch.Tensor:
    """D(s) = 2 / (K (K - 1)) sum_{i<j} G_ij(s) for a batch of symmetric K x K Gram matrices
    [B, K, K], as (sum_ij G_ij - sum_i G_ii) / (K (K - 1)); 0 for K = 1 (there is no pair)."""
    K = gram.shape[-1]
    if K == 1:
        return gram.new_zeros(gram.shape[0])
    return (gram.sum((-2, -1)) - gram.diagonal(dim1=-2, dim2=-1).sum(-1)) / (K * (K - 1))


def categorical_diversity(probs: torch.Tensor) -> torch.Tensor:
    """L_div(s) of the diversity regulariser (EPPO paper Sec. 3.2; official code) for member probabilities
    [B, K, A]: the mean pairwise <p_i, p_j>,
    i < j. Without the Gram matrix: sum_ij <p_i, p_j> = |sum_k p_k|^2 = K^2 |p_hat|^2, so
    L_div = (K^2 |p_hat|^2 - sum_k |p_k|^2) / (K (K - 1)); 0 for K = 1."""
    K = probs.shape[1]
    if K == 1:
        return probs.new_zeros(probs.shape[0])
    return (probs.sum(1).square().sum(-1) - probs.square().sum((-2, -1))) / (K * (K - 1))


def categorical_mixture_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(pi_hat) for member probabilities [B, K, A]."""
    p_hat = probs.mean(1)
    return -(p_hat * p_hat.clamp_min(1e-12).log()).sum(-1)


def categorical_member_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean member entropy (1/K) sum_k H(pi_k), [B]."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean(-1)


def gaussian_log_density(x: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, diag exp(log_std)^2), summed over the last dimension."""
    z = (x - mu) / log_std.exp()
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_diversity(mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Mean pairwise normalised density overlap of diagonal Gaussians mu [B, K, D], log_std [K, D].

    log <N_i, N_j> = log N(mu_i - mu_j; 0, S_i + S_j) and log <N_i, N_i> = -1/2 sum log(4 pi s_i^2).
    """
    var = (2 * log_std).exp()
    var_ij = var[:, None, :] + var[None, :, :]                                   # [K, K, D]
    diff = mu[:, :, None, :] - mu[:, None, :, :]                                 # [B, K, K, D]
    log_ij = -0.5 * (diff.pow(2) / var_ij + (2 * math.pi * var_ij).log()).sum(-1)
    log_ii = -0.5 * (4 * math.pi * var).log().sum(-1)                            # [K]
    gram = (log_ij - 0.5 * log_ii[:, None] - 0.5 * log_ii[None, :]).exp()
    return mean_pairwise_overlap(gram)


class EnsembleActorCritic(PolicyModel):
    """K actor members (separate trunks as in the released code, or one shared trunk with K heads)
    and one critic with its own trunk; all members run in one batched matmul per layer.

    ``heads(obs)`` gives the member outputs [B, K, A]: log-probabilities log pi_k(.|s) (discrete,
    one log_softmax per forward) or Gaussian means; the methods below turn them into mixture
    log-probabilities and the EPPO terms.
    """

    def __init__(self, obs_shape: tuple[int, ...], action_space: gym.Space, hidden: tuple[int, ...],
                 num_policies: int, shared_trunk: bool = False, encoder: str = "mlp",
                 head_init: str = "released") -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        self.K = num_policies
        if self.discrete:
            out = int(cast(gym.spaces.Discrete, action_space).n)
        else:
            out = int(np.prod(action_space.shape or ()))
        self.critic = policy_network(encoder, obs_shape, hidden, 1, out_gain=1.0)
        self.members = policy_network(encoder, obs_shape, hidden, out, out_gain=0.01, members=num_policies,
                                      shared_trunk=shared_trunk)
        if head_init == "released":
            linear_default_init(self.member_head())
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(num_policies, out))

    def member_head(self) -> EnsembleLinear:
        """The members' output layer (weight [K, in, A])."""
        return [m for m in self.members.modules() if isinstance(m, EnsembleLinear)][-1]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def heads(self, obs: torch.Tensor) -> torch.Tensor:
        """Member outputs [B, K, A]: log-probabilities (discrete) or means (continuous)."""
        out = self.members(obs).transpose(0, 1)
        return out.log_softmax(-1) if self.discrete else out

    def member_log_probs(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi_k(a|s) for every member, [B, K]."""
        if self.discrete:
            idx = action.long().view(-1, 1, 1).expand(-1, self.K, 1)
            return out.gather(-1, idx).squeeze(-1)
        return gaussian_log_density(action.unsqueeze(1), out, self.log_std)

    def mixture_log_prob(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi_hat(a|s) = logsumexp_k log pi_k(a|s) - log K, [B]."""
        return torch.logsumexp(self.member_log_probs(out, action), -1) - math.log(self.K)

    def entropies(self, out: torch.Tensor,
                  probs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """H(pi_hat) and the mean member entropy, each [B] (Theorem 1: the first is >= the second);
        ``probs`` = out.exp() when the caller has it already (discrete)."""
        if self.discrete:
            probs = out.exp() if probs is None else probs
            return categorical_mixture_entropy(probs), -(probs * out).sum(-1).mean(-1)
        samples = out + self.log_std.exp() * torch.randn_like(out)                     # [B, K, D]
        log_mix = torch.logsumexp(gaussian_log_density(samples.unsqueeze(2), out.unsqueeze(1), self.log_std),
                                  -1) - math.log(self.K)                                # [B, K]
        member = (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(-1).mean()
        return -log_mix.mean(-1), member.expand(len(out))

    def diversity(self, out: torch.Tensor, probs: torch.Tensor | None = None) -> torch.Tensor:
        """L_div(s), [B]."""
        if self.discrete:
            return categorical_diversity(out.exp() if probs is None else probs)
        return gaussian_diversity(out, self.log_std)

    # ------------------------------------------------------------------ PPO's model interface
    def sample_from(self, out: torch.Tensor) -> torch.Tensor:
        """a ~ pi_hat(.|s) given the member outputs ``out`` of s: a draw from the mean of the
        members' probabilities (discrete), or a member drawn uniformly, then its Gaussian."""
        if self.discrete:
            # logits log(K p_hat) (a constant shift does not change the draw); out holds
            # log-probabilities <= 0, so exp-sum-log is safe here and 3 ops against logsumexp's ~9
            return sample_categorical(out.exp().sum(1).log())
        k = torch.randint(self.K, (len(out),), device=out.device)
        mean = out[torch.arange(len(out), device=out.device), k]
        return mean + self.log_std[k].exp() * torch.randn_like(mean)

    def log_prob(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi_hat(a|s), the old-mixture log-probability of the update."""
        return self.mixture_log_prob(out, action)

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi_hat(a|s) and H(pi_hat) (PPO's interface)."""
        out = self.heads(obs)
        return self.mixture_log_prob(out, action), self.entropies(out)[0]

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        out = self.heads(obs)
        if not deterministic:
            return self.sample_from(out)
        if self.discrete:
            return out.exp().mean(1).argmax(-1)
        density = torch.stack([self.mixture_log_prob(out, out[:, k]) for k in range(self.K)], -1)
        return out[torch.arange(len(out)), density.argmax(-1)]
