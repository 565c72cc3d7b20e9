"""EPPO (Yang et al. 2022, arXiv 2205.09284): PPO on an ensemble of K policies.

On a minibatch with normalised GAE advantages A and the OLD MIXTURE log-probability
log pi_hat_old(a|s) frozen at collection time (official ``EPPO`` policy code):

    L_ens = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)],        r   = pi_hat(a|s) / pi_hat_old(a|s)
    L_sub = -(1/K) sum_k E[min(r_k A, clip(r_k, 1 - eps, 1 + eps) A)],   r_k = pi_k(a|s) / pi_hat_old(a|s)
    L_div = E_s[ 2 / (K (K - 1)) sum_{i<j} <pi_i(.|s), pi_j(.|s)> ]
    L_V   = E[max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)]      (Tianshou: no 1/2)
    L     = c_ens L_ens + c_sub L_sub + c_V L_V - c_H H(pi_hat) + c_div L_div

Everything else (rollouts, GAE, minibatching, gradient clipping) is :class:`rlkit.rl.ppo.PPO`.
With K = 1, c_sub = c_div = 0 this is PPO with ``vf_coef = 2 c_V`` (PPO's L_V carries a 1/2).
Named ablations: EPPO-Ens (``c_ens=0``) and EPPO-Div (``c_div=0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import gymnasium as gym
import torch

from rlkit.algos.eppo.ensemble import EnsembleActorCritic
from rlkit.config import check, check_positive
from rlkit.rl.ppo import PPO, PolicyModel, PPOConfig, clipped_surrogate, value_loss


@dataclass
class EPPOConfig(PPOConfig):
    """PPO settings plus the ensemble; defaults are the released code's (``exp/atari_local.yml``)."""

    num_policies: int = 4       # K
    c_ens: float = 1.0          # center_policy_coef
    c_sub: float = 0.5          # sub_policy_coef
    c_div: float = 0.01         # diverse_coef
    shared_trunk: bool = False  # the released code gives every member its own trunk
    lr: float = 1e-4
    adam_eps: float = 1e-8      # the release's Adam (PyTorch's default)
    head_init: str = "released"  # released: PyTorch's nn.Linear init of the member heads; orthogonal: CleanRL's
    clip_coef: float = 0.1      # eps_clip, also the value-clip range
    vf_coef: float = 1.0        # c_V on the un-halved L_V
    ent_coef: float = 0.01      # c_H, on the mixture entropy
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "num_policies")
        check(self.head_init in ("released", "orthogonal"), "head_init", self.head_init,
              "must be released or orthogonal")
        for name in ("c_ens", "c_sub", "c_div"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        check(self.c_ens > 0 or self.c_sub > 0, "c_ens", self.c_ens,
              "and c_sub cannot both be 0 (no policy loss)")


class EPPO(PPO):
    """Ensemble PPO; the acting policy is the mixture pi_hat (module docstring)."""

    config_class = EPPOConfig
    cfg: EPPOConfig

    def build_model(self, action_space: gym.Space) -> PolicyModel:
        return EnsembleActorCritic(self.obs_shape, action_space, self.cfg.hidden, self.cfg.num_policies,
                                   self.cfg.shared_trunk, self.cfg.encoder, self.cfg.head_init)

    def loss(self, b: dict[str, torch.Tensor],
             adv: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L of the module docstring on one minibatch."""
        cfg, model = self.cfg, cast(EnsembleActorCritic, self.model)
        out = model.heads(b["obs"])
        member_logp = model.member_log_probs(out, b["action"])                      # [B, K]
        mix_logp = torch.logsumexp(member_logp, -1) - math.log(model.K)
        log_ratio = mix_logp - b["logp"]
        ratio = log_ratio.exp()
        l_ens = clipped_surrogate(ratio, adv, cfg.clip_coef)
        member_ratio = (member_logp - b["logp"].unsqueeze(-1)).exp()               # pi_k / pi_hat_old
        l_sub = clipped_surrogate(member_ratio, adv.unsqueeze(-1), cfg.clip_coef)
        probs = out.exp() if model.discrete else None
        l_div = model.diversity(out, probs).mean()
        h_mix, h_members = (h.mean() for h in model.entropies(out, probs))
        l_v = value_loss(model.value(b["obs"]), b["value"], b["ret"], cfg.clip_coef, cfg.clip_vloss)
        loss = (cfg.c_ens * l_ens + cfg.c_sub * l_sub + cfg.vf_coef * l_v - cfg.ent_coef * h_mix
                + cfg.c_div * l_div)
        with torch.no_grad():
            stats = {"loss/ens": l_ens, "loss/sub": l_sub, "loss/div": l_div, "loss/value": l_v,
                     "loss/entropy": h_mix, "stats/entropy_members": h_members,
                     "stats/entropy_gap": h_mix - h_members,
                     "stats/approx_kl": ((ratio - 1) - log_ratio).mean(),
                     "stats/clipfrac": ((ratio - 1).abs() > cfg.clip_coef).float().mean()}
        return loss, stats
