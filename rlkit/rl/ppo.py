"""PPO (Schulman et al. 2017) with GAE (Schulman et al. 2016), CleanRL's defaults.

Per rollout of ``num_steps`` x ``num_envs`` steps:

    delta_t = r_t + gamma (1 - d_t) V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma lambda (1 - d_t) A_{t+1}                  (GAE)
    L_clip  = -E[min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)],    rho_t = pi(a|s) / pi_old(a|s)
    L_V     = 0.5 E[max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)]  (value clipping)
    L       = L_clip + c_v L_V - c_e H[pi]

Advantages are normalised per minibatch. Time-limit truncation bootstraps: the reward of a
truncated step gets ``+ gamma V(final_obs)`` (CleanRL treats truncation as termination; the flag
``bootstrap_truncated=False`` restores that). ``norm_returns`` (Tianshou's reward_normalization,
EPPO's released setting): the critic predicts returns divided by a running std sigma of the GAE
returns; GAE runs on sigma V, and the value targets are R / sigma with sigma updated first.

``train_step()`` unit: one rollout plus ``update_epochs`` epochs of minibatch updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.agent import Agent
from rlkit.config import check, check_positive
from rlkit.env_spec import EnvLike, true_next_obs
from rlkit.nn import policy_network
from rlkit.nn.optim import adam
from rlkit.rl.common import EnvLoop, RunningMeanStd, act_batched
from rlkit.seeding import TorchRNGStream, eval_seed, own_torch_rng


@dataclass
class PPOConfig:
    """Hyperparameters (defaults: CleanRL ``ppo.py`` / ``ppo_continuous_action.py``)."""

    num_envs: int = 4
    num_steps: int = 128          # rollout length per env
    lr: float = 2.5e-4
    adam_eps: float = 1e-5        # CleanRL's PPO; PyTorch's default is 1e-8 (EPPO's release)
    lr_anneal_updates: int = 0    # >0: linear decay of lr to 0 over this many train_steps
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    norm_adv: bool = True
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    hidden: tuple[int, ...] = (64, 64)
    bootstrap_truncated: bool = True
    encoder: str = "mlp"          # "nature_cnn": Nature-DQN trunks for [C, H, W] image observations
    norm_returns: bool = False    # Tianshou's reward_normalization (module docstring)
    eval_deterministic: bool = True   # false: evaluate the sampled policy (e.g. EPPO's mixture)

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        check(self.encoder in ("mlp", "nature_cnn"), "encoder", self.encoder, "must be mlp or nature_cnn")
        check_positive(self, "num_envs", "num_steps", "lr", "adam_eps", "num_minibatches", "update_epochs")
        check(0 < self.gamma <= 1, "gamma", self.gamma, "must be in (0, 1]")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", self.gae_lambda, "must be in [0, 1]")
        check((self.num_envs * self.num_steps) % self.num_minibatches == 0, "num_minibatches",
              self.num_minibatches, "must divide num_envs * num_steps")


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                next_value: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and returns. rewards/values/dones: [T, E] (dones[t]: episode ended at t).

    The backward recursion runs in numpy: T steps of [E]-sized torch ops cost ~10x more in
    per-op overhead than the arithmetic.
    """
    r, v, d = (x.detach().cpu().numpy() for x in (rewards, values, dones))
    next_v = np.concatenate([v[1:], next_value.detach().cpu().numpy()[None]])
    discount = gamma * (1.0 - d)
    delta = r + discount * next_v - v
    adv = np.empty_like(delta)
    last = np.zeros_like(delta[0])
    for t in reversed(range(len(delta))):
        last = delta[t] + lam * discount[t] * last
        adv[t] = last
    adv_t = torch.as_tensor(adv, device=rewards.device)
    return adv_t, adv_t + values


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """-E[min(rho A, clip(rho, 1 - eps, 1 + eps) A)] over all elements."""
    return torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()


def value_loss(new_v: torch.Tensor, old_v: torch.Tensor, returns: torch.Tensor, clip_coef: float,
               clip_vloss: bool) -> torch.Tensor:
    """E[max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)] (no 1/2; the plain MSE if
    ``clip_vloss`` is off)."""
    if not clip_vloss:
        return ((new_v - returns) ** 2).mean()
    v_clipped = old_v + (new_v - old_v).clamp(-clip_coef, clip_coef)
    return torch.max((new_v - returns) ** 2, (v_clipped - returns) ** 2).mean()


def ppo_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor,
             new_v: torch.Tensor, old_v: torch.Tensor, returns: torch.Tensor,
             clip_coef: float, clip_vloss: bool) -> dict[str, torch.Tensor]:
    """Clipped surrogate and (optionally clipped) value loss (with CleanRL's 1/2) of the module
    docstring, plus the approximate KL and the clip fraction."""
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    pg = clipped_surrogate(ratio, adv, clip_coef)
    v_loss = 0.5 * value_loss(new_v, old_v, returns, clip_coef, clip_vloss)
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean()
    return {"policy": pg, "value": v_loss, "approx_kl": approx_kl, "clipfrac": clipfrac}


def sample_categorical(logits: torch.Tensor) -> torch.Tensor:
    """A draw from softmax(logits) over the last dim by the Gumbel-max trick:
    argmax_i (logits_i + G_i), G_i = -log E_i, E_i ~ Exp(1); 6 us against 15 us for torch.multinomial
    on 8 x 2 logits."""
    return (logits - torch.empty_like(logits).exponential_().log()).argmax(-1)


class PolicyModel(nn.Module):
    """PPO's model interface. The rollout calls ``heads`` and ``sample_from`` at every env step and
    ``log_prob`` / ``value`` once over the whole rollout; the update calls ``log_prob_entropy``."""

    discrete: bool

    def heads(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy's output for ``obs`` that ``sample_from`` and ``log_prob`` take."""
        raise NotImplementedError

    def sample_from(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a ~ pi(.|s) and log pi(a|s)."""
        out = self.heads(obs)
        action = self.sample_from(out)
        return action, self.log_prob(out, action)


class ActorCritic(PolicyModel):
    """Separate actor and critic networks (tanh MLPs or Nature-CNN trunks, orthogonal init);
    Categorical or diagonal Gaussian policy."""

    def __init__(self, obs_shape: tuple[int, ...], action_space: gym.Space, hidden: tuple[int, ...],
                 encoder: str = "mlp") -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            out = int(cast(gym.spaces.Discrete, action_space).n)
        else:
            out = int(np.prod(action_space.shape or ()))
        self.critic = policy_network(encoder, obs_shape, hidden, 1, out_gain=1.0)
        self.actor = policy_network(encoder, obs_shape, hidden, out, out_gain=0.01)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(out))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    # The distributions are written out rather than built as torch.distributions objects: the
    # rollout loop calls them once per env step, where object construction dominates the cost.
    def heads(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy head's output: logits (discrete) or the Gaussian mean."""
        return self.actor(obs)

    def sample_from(self, out: torch.Tensor) -> torch.Tensor:
        """a ~ pi(.|s) given the head output ``out`` of s."""
        return sample_categorical(out) if self.discrete else out + self.log_std.exp() * torch.randn_like(out)

    def log_prob(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) given the head output ``out`` of s."""
        if self.discrete:
            return out.log_softmax(-1).gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
        z = (action - out) / self.log_std.exp()
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor):
        """log pi(a|s) and the entropy H[pi(.|s)]."""
        out = self.actor(obs)
        if self.discrete:
            logp_all = out.log_softmax(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
        else:
            entropy = (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum().expand(len(out))
        return self.log_prob(out, action), entropy

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        out = self.heads(obs)
        if not deterministic:
            return self.sample_from(out)
        return out.argmax(-1) if self.discrete else out


class PPO(Agent):
    """On-policy PPO agent over a SAME_STEP vector env (see module docstring)."""

    config_class = PPOConfig

    @own_torch_rng
    def __init__(self, cfg: PPOConfig, env: EnvLike, *, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.cfg, self.device, self.seed = cfg, torch.device(device), seed
        self.loop = EnvLoop(env, cfg.num_envs, seed)
        space = self.loop.envs.single_action_space
        self.obs_shape = tuple(self.loop.envs.single_observation_space.shape or ())
        self.obs_dim = int(np.prod(self.obs_shape))
        self.model: PolicyModel = self.build_model(space).to(self.device)
        self.optim = adam(self.model.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        self.updates, self.grad_steps = 0, 0
        self.return_rms = RunningMeanStd()
        self.action_low = getattr(space, "low", None)
        self.action_high = getattr(space, "high", None)

    def build_model(self, action_space: gym.Space) -> PolicyModel:
        """The actor-critic (a subclass returns its own :class:`PolicyModel`)."""
        return ActorCritic(self.obs_shape, action_space, self.cfg.hidden, self.cfg.encoder)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device).reshape(len(x), -1)

    def _to_env(self, action: torch.Tensor) -> np.ndarray:
        a = action.cpu().numpy()
        if self.model.discrete:
            return a.astype(np.int64)
        return np.clip(a, self.action_low, self.action_high)

    def collect(self) -> tuple[dict[str, torch.Tensor], list[tuple[float, int]]]:
        """One rollout: obs, action, logp, value, reward, done [T, E, ...] + bootstrap value.

        Each step runs only the policy head and the draw; log pi_old(a|s) and the values come from
        one batched call each after the rollout (the parameters do not change during it).
        """
        cfg, model = self.cfg, self.model
        buf: dict[str, list] = {k: [] for k in ("obs", "action", "out")}
        rewards, dones = [], []                               # numpy until the rollout ends
        truncated: list[tuple[int, int, np.ndarray]] = []   # (t, env, final obs) to bootstrap
        finished = []
        for t in range(cfg.num_steps):
            obs_t = self._tensor(self.loop.obs)
            with torch.no_grad():
                out = model.heads(obs_t)
                action = model.sample_from(out)
            next_obs, r_env, term, trunc, infos, ended = self.loop.step(self._to_env(action))
            done = term | trunc
            finished += ended
            if cfg.bootstrap_truncated:
                final = true_next_obs(next_obs, infos)
                truncated += [(t, int(e), final[e]) for e in np.flatnonzero(trunc & ~term)]
            for k, v in zip(buf, (obs_t, action, out), strict=True):
                buf[k].append(v)
            rewards.append(r_env)
            dones.append(done)
        rollout = {k: torch.stack(v).to(self.device) for k, v in buf.items()}
        for k, rows in (("reward", rewards), ("done", dones)):
            rollout[k] = torch.as_tensor(np.stack(rows), dtype=torch.float32, device=self.device)
        with torch.no_grad():
            obs, out, action = rollout["obs"], rollout.pop("out"), rollout["action"]
            rollout["logp"] = model.log_prob(out.flatten(0, 1), action.flatten(0, 1)).view(obs.shape[:2])
            rollout["value"] = model.value(obs.flatten(0, 1)).view(obs.shape[:2])
            rollout["next_value"] = model.value(self._tensor(self.loop.obs))
            if truncated:  # time-limit truncation: r_t += gamma * V(final obs)
                ts, es, finals = zip(*truncated, strict=True)
                boot = model.value(self._tensor(np.stack(finals))) * self._value_scale()
                rollout["reward"][list(ts), list(es)] += cfg.gamma * boot
        return rollout, finished

    def update(self, rollout: dict[str, torch.Tensor]) -> dict[str, float]:
        """``update_epochs`` passes of shuffled minibatch PPO updates over one rollout."""
        cfg = self.cfg
        scale = self._value_scale()
        adv, returns = compute_gae(rollout["reward"], rollout["value"] * scale, rollout["done"],
                                   rollout["next_value"] * scale, cfg.gamma, cfg.gae_lambda)
        if cfg.norm_returns:
            self.return_rms.update(returns)
            returns = returns / self._value_scale()
        n = cfg.num_steps * cfg.num_envs
        flat = {"obs": rollout["obs"].reshape(n, -1), "action": rollout["action"].reshape(n, -1)
                .squeeze(-1) if self.model.discrete else rollout["action"].reshape(n, -1),
                "logp": rollout["logp"].reshape(n), "value": rollout["value"].reshape(n),
                "adv": adv.reshape(n), "ret": returns.reshape(n)}
        mb = n // cfg.num_minibatches
        stats: dict[str, list[float]] = {}
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(n, device=self.device)
            for start in range(0, n, mb):
                idx = perm[start:start + mb]
                out = self._minibatch_step({k: v.index_select(0, idx) for k, v in flat.items()})
                for k, v in out.items():
                    stats.setdefault(k, []).append(v)
            if cfg.target_kl is not None and stats["stats/approx_kl"][-1] > cfg.target_kl:
                break
        var_y = returns.var()
        metrics = {k: float(np.mean(v)) for k, v in stats.items()}
        metrics["stats/explained_variance"] = float(
            1 - (returns - rollout["value"]).var() / var_y) if var_y > 0 else 0.0
        return metrics

    def _value_scale(self) -> float:
        """sigma of ``norm_returns`` (1 when off): the critic's outputs times sigma are returns."""
        return math.sqrt(self.return_rms.var + 1e-8) if self.cfg.norm_returns else 1.0

    def _minibatch_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        adv = b["adv"]
        if cfg.norm_adv and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        loss, stats = self.loss(b, adv)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optim.step()
        self.grad_steps += 1
        return dict(zip(stats, torch.stack(list(stats.values())).tolist(), strict=True))

    def loss(self, b: dict[str, torch.Tensor],
             adv: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L = L_clip + c_v L_V - c_e H on a minibatch with normalised advantages ``adv``."""
        cfg = self.cfg
        logp, entropy = self.model.log_prob_entropy(b["obs"], b["action"])
        losses = ppo_loss(logp, b["logp"], adv, self.model.value(b["obs"]), b["value"], b["ret"],
                          cfg.clip_coef, cfg.clip_vloss)
        ent = entropy.mean()
        loss = losses["policy"] + cfg.vf_coef * losses["value"] - cfg.ent_coef * ent
        return loss, {"loss/policy": losses["policy"], "loss/value": losses["value"], "loss/entropy": ent,
                      "stats/approx_kl": losses["approx_kl"], "stats/clipfrac": losses["clipfrac"]}

    # ------------------------------------------------------------------ Algorithm contract
    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One rollout (num_envs x num_steps env steps) and one PPO update; returns the losses and
        the counters ``train/env_steps`` and ``train/grad_steps`` (minibatch steps)."""
        if self.cfg.lr_anneal_updates:
            frac = max(1.0 - self.updates / self.cfg.lr_anneal_updates, 0.0)
            self.optim.param_groups[0]["lr"] = frac * self.cfg.lr
        rollout, finished = self.collect()
        metrics = self.update(rollout)
        self.updates += 1
        metrics["train/env_steps"] = float(self.updates * self.cfg.num_steps * self.cfg.num_envs)
        metrics["train/grad_steps"] = float(self.grad_steps)
        if finished:
            metrics["train/episode_return"] = float(np.mean([r for r, _ in finished]))
        return metrics

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Actions for one observation or a batch: the greedy action, or a draw from the policy
        (from torch's global generator) with ``deterministic=False``."""
        return act_batched(obs, self.device, lambda o: self._to_env(self.model.act(o, deterministic)),
                           len(self.obs_shape))

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """``episodes`` episodes in the evaluation env (episode k resets with ``seed + k``; default
        seed: ``rlkit.seeding.eval_seed``) with the greedy policy, or with the sampled one
        (``eval_deterministic=false``) drawing from a stream seeded by the same seed."""
        base = eval_seed(self.seed, seed)
        with TorchRNGStream(base, self.device).active():
            return self.loop.evaluator.run(lambda o: self.act(o, self.cfg.eval_deterministic), episodes, base)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: networks, optimizer, update and gradient-step counts, the
        vector env and its episode bookkeeping, the return normaliser and the agent's torch stream."""
        return {"model": self.model.state_dict(), "optim": self.optim.state_dict(),
                "updates": self.updates, "loop": self.loop.state_dict(),
                "return_rms": self.return_rms.state_dict(), "grad_steps": self.grad_steps,
                "torch_stream": self.torch_stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.updates = int(state["updates"])
        self.return_rms.load_state_dict(state["return_rms"])
        self.grad_steps = int(state["grad_steps"])
        self.torch_stream.load_state_dict(state["torch_stream"])
        self.loop.load_state_dict(state["loop"])
