"""SAC with twin Q and automatic entropy tuning (Haarnoja et al. 2018, arXiv 1812.05905).

    y       = r + gamma^n (1 - d) [min_i Q'_i(s', a') - alpha log pi(a'|s')],  a' ~ pi(.|s')
    L_Q     = sum_i E[(Q_i(s, a) - y)^2]
    L_pi    = E[alpha log pi(a~|s) - min_i Q_i(s, a~)],                        a~ ~ pi(.|s)
    L_alpha = E[-log(alpha) (log pi(a~|s) + H_target)],   H_target = -dim(A)

pi is a tanh-squashed Gaussian; the twin critics are one batched ensemble (rlkit.nn.EnsembleMLP).
Defaults follow CleanRL ``sac_continuous_action.py`` (policy lr 3e-4, q lr 1e-3, policy update
every 2 steps repeated twice, targets every step with tau 0.005).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.nn import MLP, EnsembleMLP
from rlkit.nn.optim import adam
from rlkit.rl.common import ensemble_q, polyak_update, regress_critics
from rlkit.rl.offpolicy import OffPolicyAgent, OffPolicyConfig

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass
class SACConfig(OffPolicyConfig):
    """SAC hyperparameters on top of :class:`OffPolicyConfig`."""

    policy_lr: float = 3e-4
    q_lr: float = 1e-3
    policy_frequency: int = 2
    alpha: float = 0.2          # initial (or fixed, with autotune=False) temperature
    autotune: bool = True
    num_q: int = 2


class SquashedGaussianActor(nn.Module):
    """pi(a|s) = tanh(N(mu(s), sigma(s))); log-std squashed smoothly to [LOG_STD_MIN, LOG_STD_MAX]
    by tanh (CleanRL), or ``log_std_bounds=(lo, hi)`` clamps it (rlkit / oyster: (-20, 2))."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...],
                 log_std_bounds: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.net = MLP(obs_dim, 2 * act_dim, hidden)
        self.log_std_bounds = log_std_bounds

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(obs).chunk(2, dim=-1)
        if self.log_std_bounds is not None:
            return mu, log_std.clamp(*self.log_std_bounds)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return mu, log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a = tanh(u), u ~ N(mu, sigma); log pi(a) = log N(u) - sum log(1 - tanh(u)^2)."""
        action, logp, _, _ = self.rsample(obs)
        return action, logp

    def rsample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`sample` plus the pre-tanh mean and log-std (for PEARL's regularisers)."""
        mu, log_std = self(obs)
        u = mu + log_std.exp() * torch.randn_like(mu)
        log_n = (-0.5 * ((u - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi))
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), numerically stable
        log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
        return torch.tanh(u), (log_n - log_det).sum(-1), mu, log_std


class SACLearner:
    """The SAC update rule (module docstring) on squashed actions."""

    def __init__(self, cfg: SACConfig, obs_dim: int, act_dim: int, device: torch.device) -> None:
        self.cfg = cfg
        self.actor = SquashedGaussianActor(obs_dim, act_dim, cfg.hidden).to(device)
        self.critic = EnsembleMLP(cfg.num_q, obs_dim + act_dim, 1, cfg.hidden).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(cfg.alpha), device=device, requires_grad=cfg.autotune)
        self.target_entropy = -float(act_dim)
        self.actor_optim = adam(self.actor.parameters(), lr=cfg.policy_lr)
        self.critic_optim = adam(self.critic.parameters(), lr=cfg.q_lr)
        self.alpha_optim = adam([self.log_alpha], lr=cfg.q_lr)
        self.updates = 0

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.sample(obs)[0]

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.actor(obs)[0])

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self.actor.sample(b["next_obs"])
            q_next = ensemble_q(self.critic_target, b["next_obs"], a2).min(0).values - alpha * logp2
            y = b["reward"] + b["discount"] * q_next
        metrics = regress_critics(ensemble_q(self.critic, b["obs"], b["action"]), y, self.critic_optim)
        if self.updates % cfg.policy_frequency == 0:
            for _ in range(cfg.policy_frequency):  # CleanRL: delayed, then repeated
                metrics.update(self._update_actor(b["obs"]))
        polyak_update(self.critic_target, self.critic, cfg.tau)
        self.updates += 1
        return metrics

    def _update_actor(self, obs: torch.Tensor) -> dict[str, float]:
        a, logp = self.actor.sample(obs)
        alpha = self.log_alpha.exp().detach()
        self.critic.requires_grad_(False)  # gradients flow to the actions only, not to Q's weights
        pi_loss = (alpha * logp - ensemble_q(self.critic, obs, a).min(0).values).mean()
        self.actor_optim.zero_grad(set_to_none=True)
        pi_loss.backward()
        self.critic.requires_grad_(True)
        self.actor_optim.step()
        metrics = {"loss/actor": pi_loss.item()}
        if self.cfg.autotune:
            alpha_loss = (-self.log_alpha.exp() * (logp.detach() + self.target_entropy)).mean()
            self.alpha_optim.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_optim.step()
            metrics["loss/alpha"] = alpha_loss.item()
        metrics["stats/alpha"] = self.log_alpha.exp().item()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "log_alpha": self.log_alpha.detach(),
                "actor_optim": self.actor_optim.state_dict(),
                "critic_optim": self.critic_optim.state_dict(),
                "alpha_optim": self.alpha_optim.state_dict(), "updates": self.updates}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.actor.load_state_dict(s["actor"])
        self.critic.load_state_dict(s["critic"])
        self.critic_target.load_state_dict(s["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(s["log_alpha"])
        self.actor_optim.load_state_dict(s["actor_optim"])
        self.critic_optim.load_state_dict(s["critic_optim"])
        self.alpha_optim.load_state_dict(s["alpha_optim"])
        self.updates = int(s["updates"])


class SAC(OffPolicyAgent):
    """Online SAC agent (``algo=sac``)."""

    config_class = SACConfig

    def make_learner(self, obs_dim: int, act_dim: int) -> SACLearner:
        return SACLearner(self.cfg, obs_dim, act_dim, self.device)
