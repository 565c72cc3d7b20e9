"""C-learning (Eysenbach, Salakhutdinov, Levine 2021), the M-step learner of C-Planning.

A classifier C(s, a, g) = sigmoid(f(s, a, g)) separates goals g drawn from the gamma-discounted
future of (s, a) from goals drawn from the marginal; w = C / (1 - C) is the density ratio
p^pi(s_t+ = g | s, a) / p(g). Twin critics and twin Polyak targets; min(C1, C2) everywhere.

Goals are relabelled inside each batch of B transitions (the official C-learning ``c_learning_utils.goal_fn``):
the first ``next`` fraction gets g = s_{t+1}; the next ``future`` fraction g = s_{t+k}, k from a
geometric distribution p(k) ~ gamma^k over the states s_t .. s_{t+window-1} of the episode (the
reference's 50-step window, where index 0 is the current state s_t; ``future_start=1`` starts at
s_{t+1} instead); the remaining half gets the current state of another row of the batch (a random
goal; next + future must be 0.5). Recursive classification (C-learning paper, Eq. 7; official
``c_learning_agent.py``), with a' ~ pi(.|s', g) and w' = C'/(1 - C') of the target critics clipped to
[0, 1/(1 - gamma)], and lambda = 2 * next with ``lambda_fix`` (the reference's correction for the
future positives), else 1:

    target = 1 (next, future),          lambda gamma w' / (1 + lambda gamma w')   (random)
    weight = 1 - gamma (next), 1 (future),   1 + lambda gamma w'                  (random)
    L_C    = 0.5 E[weight (BCE(target, C1) + BCE(target, C2))]
    L_pi   = -E[min_j C_j(s, a~, g)]   (``actor_loss="log"``: -E[log min_j C_j]); no entropy term.

Why ``lambda_fix`` matters: the next slice alone already gives the fixed point of the recursion;
the future positives (a Monte-Carlo estimate of the same discounted occupancy) add mass on top, so
without the correction C is too high by about the ratio of all positives to next positives, and
with next/future = 0.3/0.2 the classifier climbs to the w clip (docs/cplanning.md). The official
default is off ("little effect" in the reference's comment, with the 0.5/0 split of most of its
tasks, where lambda = 1 and the fix is a no-op).

Update order per step: critic, actor, Polyak targets (tau 0.005).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from rlkit.config import check, check_positive
from rlkit.data.episodes import EpisodeBuffer
from rlkit.nn import EnsembleMLP
from rlkit.nn.optim import adam
from rlkit.rl.common import polyak_update
from rlkit.rl.sac import SquashedGaussianActor


@dataclass
class CLearningConfig:
    """Defaults: the official C-learning ``train_eval.py`` with C-Planning's 0.3 / 0.2 split."""

    gamma: float = 0.99
    batch_size: int = 256
    hidden: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    tau: float = 0.005
    relabel_next: float = 0.3
    relabel_future: float = 0.2
    w_clip: float | None = None          # None: 1 / (1 - gamma); < 0: no clipping
    actor_loss: str = "c"                # c: -min C;  log: -log min C (the code's ce_loss)
    lambda_fix: bool = False             # the reference's future-positive correction (off there by default)
    future_window: int = 50              # future goals among s_t .. s_{t+window-1} (reference: 50)
    future_start: int = 0                # 0: k = 0 is s_t (reference); 1: k = 0 is s_{t+1}

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        check_positive(self, "batch_size", "actor_lr", "critic_lr")
        check(0 < self.gamma < 1, "gamma", self.gamma, "must be in (0, 1)")
        check(abs(self.relabel_next + self.relabel_future - 0.5) < 1e-9, "relabel_next", self.relabel_next,
              "plus relabel_future must be exactly 0.5 (the other half are random goals)")
        check(self.actor_loss in ("c", "log"), "actor_loss", self.actor_loss, "must be c or log")
        check(self.future_start in (0, 1), "future_start", self.future_start, "must be 0 (s_t) or 1 (s_t+1)")
        check(self.future_window > self.future_start, "future_window", self.future_window,
              "must be larger than future_start")

    @property
    def td_lambda(self) -> float:
        """lambda of the random-goal target: 2 * relabel_next with ``lambda_fix``, else 1."""
        return 2.0 * self.relabel_next if self.lambda_fix else 1.0


def slice_sizes(batch_size: int, next_frac: float, future_frac: float) -> tuple[int, int, int]:
    """(n_next, n_future, n_random) with n_random = batch_size // 2 ... the half that is random."""
    half = batch_size - batch_size // 2
    n_next = round(batch_size * next_frac)
    return n_next, half - n_next, batch_size - half


def truncated_geometric(remaining: torch.Tensor, gamma: float, generator: torch.Generator) -> torch.Tensor:
    """k in [0, remaining - 1] with p(k) ~ gamma^k, per row (inverse-CDF sampling)."""
    u = torch.rand(remaining.shape, generator=generator, dtype=torch.float64)
    total = 1.0 - gamma ** remaining.double()                     # (1 - gamma^n), the truncated mass
    k = torch.floor(torch.log1p(-u * total) / torch.log(torch.tensor(gamma, dtype=torch.float64)))
    return torch.minimum(k.long(), remaining - 1)


def relabel_batch(buffer: EpisodeBuffer, cfg: CLearningConfig, goal_slice: slice) -> dict[str, torch.Tensor]:
    """B transitions with C-learning's in-batch goals: obs, action, next_obs, goal [B, ...], and the
    future offset ``future_k`` (the goal of a future row is s_{t + future_start + k})."""
    B = cfg.batch_size
    n_next, n_future, _ = slice_sizes(B, cfg.relabel_next, cfg.relabel_future)
    b = buffer.sample_transitions(B)
    starts, lengths, _ = buffer.table()
    goal = b["next_obs"][:, goal_slice].clone()                   # next goals (rows [0, n_next))
    fut = slice(n_next, n_next + n_future)
    t, episode = b["t"][fut], b["episode"][fut]
    first = t + cfg.future_start                                  # index of the state with k = 0
    states_left = lengths[episode] + 1 - first                    # s_first .. s_T of the episode
    k = truncated_geometric(states_left.clamp(max=cfg.future_window - cfg.future_start), cfg.gamma,
                            buffer.generator)
    j = first + k                                                 # s_j = next_obs of row j - 1, or obs of row t
    future = buffer.storage.read(starts[episode] + (j - 1).clamp(min=0))["next_obs"]
    future = torch.where((j == t)[:, None], b["obs"][fut], future)
    goal[fut] = future[:, goal_slice]
    rand = slice(n_next + n_future, B)
    perm = torch.randperm(B, generator=buffer.generator)[: B - n_next - n_future]
    goal[rand] = b["obs"][perm][:, goal_slice]
    return {"obs": b["obs"], "action": b["action"], "next_obs": b["next_obs"], "goal": goal,
            "episode": b["episode"], "t": b["t"], "future_k": k}


def targets_and_weights(c_next: torch.Tensor, cfg: CLearningConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Classification targets and loss weights of the module docstring from C' [B] of the target
    critics at (s', a', g)."""
    B = len(c_next)
    n_next, n_future, _ = slice_sizes(B, cfg.relabel_next, cfg.relabel_future)
    w = c_next / (1.0 - c_next)
    clip = 1.0 / (1.0 - cfg.gamma) if cfg.w_clip is None else cfg.w_clip
    if clip >= 0:
        w = w.clamp(0.0, clip)
    lam_gamma_w = cfg.td_lambda * cfg.gamma * w
    y = lam_gamma_w / (1.0 + lam_gamma_w)
    half = n_next + n_future
    target = torch.cat([torch.ones(half, dtype=y.dtype), y[half:]])
    weight = torch.cat([torch.full((n_next,), 1.0 - cfg.gamma, dtype=y.dtype),
                        torch.ones(n_future, dtype=y.dtype), 1.0 + lam_gamma_w[half:]])
    return target.detach(), weight.detach()


class CLearner:
    """Twin classifier critics + tanh-Gaussian actor on [s, g]; ``update`` does one step."""

    def __init__(self, cfg: CLearningConfig, obs_dim: int, goal_dim: int, act_dim: int,
                 device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.critic = EnsembleMLP(2, obs_dim + goal_dim + act_dim, 1, cfg.hidden).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor = SquashedGaussianActor(obs_dim + goal_dim, act_dim, cfg.hidden).to(device)
        self.critic_optim = adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.actor_optim = adam(self.actor.parameters(), lr=cfg.actor_lr)

    def logits(self, net: EnsembleMLP, obs: torch.Tensor, goal: torch.Tensor,
               action: torch.Tensor) -> torch.Tensor:
        """f_j(s, a, g) of both critics, [2, B]."""
        return net(torch.cat([obs, goal, action], -1)).squeeze(-1)

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        obs, goal = b["obs"], b["goal"]
        with torch.no_grad():
            next_action, _ = self.actor.sample(torch.cat([b["next_obs"], goal], -1))
            c_next = torch.sigmoid(self.logits(self.critic_target, b["next_obs"], goal, next_action))
            c_next = c_next.min(0).values
        target, weight = targets_and_weights(c_next, cfg)
        logits = self.logits(self.critic, obs, goal, b["action"])
        bce = F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none").sum(0)
        critic_loss = 0.5 * (weight * bce).mean()
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()
        new_action, _ = self.actor.sample(torch.cat([obs, goal], -1))
        min_logit = self.logits(self.critic, obs, goal, new_action).min(0).values
        actor_loss = (-F.logsigmoid(min_logit) if cfg.actor_loss == "log" else -torch.sigmoid(min_logit)).mean()
        self.actor_optim.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optim.step()
        polyak_update(self.critic_target, self.critic, cfg.tau)
        return {"loss/critic": critic_loss.item(), "loss/actor": actor_loss.item(),
                "stats/c_random": torch.sigmoid(logits[0, -len(obs) // 2:]).mean().item(),
                "stats/w_next_mean": (c_next / (1 - c_next)).mean().item()}

    def state_dict(self) -> dict[str, Any]:
        return {"critic": self.critic.state_dict(), "critic_target": self.critic_target.state_dict(),
                "actor": self.actor.state_dict(), "critic_optim": self.critic_optim.state_dict(),
                "actor_optim": self.actor_optim.state_dict()}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        for k in ("critic", "critic_target", "actor", "critic_optim", "actor_optim"):
            getattr(self, k).load_state_dict(s[k])
