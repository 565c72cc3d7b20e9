"""TD3 (Fujimoto et al. 2018, arXiv 1802.09477).

    a'   = clip(mu'(s') + clip(eps, -c, c), -1, 1),   eps ~ N(0, sigma_target^2)
    y    = r + gamma^n (1 - d) min_i Q'_i(s', a')
    L_Q  = sum_i E[(Q_i(s, a) - y)^2]
    L_mu = -E[Q_1(s, mu(s))]            every ``policy_delay`` critic updates, then polyak targets

Exploration adds N(0, exploration_noise^2) to mu(s). Defaults follow the paper and CleanRL
``td3_continuous_action.py``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from rlkit.nn import MLP, EnsembleMLP
from rlkit.nn.optim import adam
from rlkit.rl.common import ensemble_q, polyak_update, regress_critics
from rlkit.rl.offpolicy import OffPolicyAgent, OffPolicyConfig


@dataclass
class TD3Config(OffPolicyConfig):
    """TD3 hyperparameters on top of :class:`OffPolicyConfig`."""

    lr: float = 3e-4
    policy_delay: int = 2
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    exploration_noise: float = 0.1


class TD3Learner:
    """The TD3 update rule (module docstring). The actor maps obs [B, d] to actions in [-1, 1]."""

    def __init__(self, cfg: TD3Config, obs_dim: int, act_dim: int, device: torch.device,
                 actor: torch.nn.Module | None = None) -> None:
        self.cfg = cfg
        self.actor = (actor or torch.nn.Sequential(MLP(obs_dim, act_dim, cfg.hidden),
                                                   torch.nn.Tanh())).to(device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = EnsembleMLP(2, obs_dim + act_dim, 1, cfg.hidden).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optim = adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_optim = adam(self.critic.parameters(), lr=cfg.lr)
        self.updates = 0

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        a = self.actor(obs)
        return (a + self.cfg.exploration_noise * torch.randn_like(a)).clamp(-1, 1)

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        with torch.no_grad():
            a2 = self.actor_target(b["next_obs"])
            noise = (cfg.policy_noise * torch.randn_like(a2)).clamp(-cfg.noise_clip, cfg.noise_clip)
            a2 = (a2 + noise).clamp(-1, 1)
            y = b["reward"] + b["discount"] * ensemble_q(self.critic_target, b["next_obs"], a2).min(0).values
        metrics = regress_critics(ensemble_q(self.critic, b["obs"], b["action"]), y, self.critic_optim)
        self.updates += 1
        if self.updates % cfg.policy_delay == 0:
            self.critic.requires_grad_(False)  # gradients flow to the actions only
            pi_loss = -ensemble_q(self.critic, b["obs"], self.actor(b["obs"]))[0].mean()
            self.actor_optim.zero_grad(set_to_none=True)
            pi_loss.backward()
            self.critic.requires_grad_(True)
            self.actor_optim.step()
            metrics["loss/actor"] = pi_loss.item()
            polyak_update(self.actor_target, self.actor, cfg.tau)
            polyak_update(self.critic_target, self.critic, cfg.tau)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "actor_target": self.actor_target.state_dict(),
                "critic": self.critic.state_dict(), "critic_target": self.critic_target.state_dict(),
                "actor_optim": self.actor_optim.state_dict(),
                "critic_optim": self.critic_optim.state_dict(), "updates": self.updates}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        for name in ("actor", "actor_target", "critic", "critic_target", "actor_optim", "critic_optim"):
            getattr(self, name).load_state_dict(s[name])
        self.updates = int(s["updates"])


class TD3(OffPolicyAgent):
    """Online TD3 agent (``algo=td3``)."""

    config_class = TD3Config

    def make_learner(self, obs_dim: int, act_dim: int) -> TD3Learner:
        return TD3Learner(self.cfg, obs_dim, act_dim, self.device)
