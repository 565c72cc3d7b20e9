"""Online off-policy agent: act, store, sample, update (shared by SAC and TD3).

``train_step()`` unit: one environment step (``num_envs`` transitions) followed, once
``learning_starts`` steps are stored, by ``updates_per_step`` gradient updates of the learner.
Before ``learning_starts`` actions are uniform in [-1, 1] (squashed space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import gymnasium as gym
import numpy as np
import torch

from rlkit.agent import Agent
from rlkit.config import check, check_positive
from rlkit.data import ReplayBuffer
from rlkit.env_spec import EnvLike, true_next_obs
from rlkit.rl.common import ActionScaler, EnvLoop, act_batched
from rlkit.seeding import eval_seed, own_torch_rng


@dataclass
class OffPolicyConfig:
    """Collection and replay settings shared by off-policy learners."""

    num_envs: int = 1
    buffer_size: int = 1_000_000
    batch_size: int = 256
    learning_starts: int = 5000
    updates_per_step: int = 1
    n_step: int = 1
    gamma: float = 0.99
    tau: float = 0.005
    hidden: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        check_positive(self, "num_envs", "buffer_size", "batch_size", "updates_per_step", "n_step")
        check_positive(self, "learning_starts", allow_zero=True)
        check(0 < self.gamma <= 1, "gamma", self.gamma, "must be in (0, 1]")
        check(0 < self.tau <= 1, "tau", self.tau, "must be in (0, 1]")


class Learner(Protocol):
    """An off-policy update rule on squashed actions in [-1, 1]."""

    def explore(self, obs: torch.Tensor) -> torch.Tensor: ...
    def act(self, obs: torch.Tensor) -> torch.Tensor: ...
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class OffPolicyAgent(Agent):
    """Drives a :class:`Learner` in a SAME_STEP vector env with a :class:`ReplayBuffer`."""

    config_class: type[OffPolicyConfig] = OffPolicyConfig

    @own_torch_rng
    def __init__(self, cfg: OffPolicyConfig, env: EnvLike, *, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.cfg, self.device, self.seed = cfg, torch.device(device), seed
        self.loop = EnvLoop(env, cfg.num_envs, seed)
        self.scaler = ActionScaler(cast(gym.spaces.Box, self.loop.envs.single_action_space))
        obs_shape = tuple(self.loop.envs.single_observation_space.shape or ())
        act_shape = self.act_shape = tuple(self.loop.envs.single_action_space.shape or ())
        self.buffer = ReplayBuffer(obs_shape, act_shape, cfg.buffer_size, cfg.num_envs, cfg.n_step,
                                   cfg.gamma, self.device, seed)
        self.learner = self.make_learner(int(np.prod(obs_shape)), int(np.prod(act_shape)))
        self.env_steps, self.grad_steps = 0, 0      # vector-env steps (num_envs env steps each), updates

    def make_learner(self, obs_dim: int, act_dim: int) -> Learner:
        raise NotImplementedError

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)

    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One step of every sub-env, then ``updates_per_step`` updates once ``learning_starts`` is
        reached; returns the losses and the counters ``train/env_steps`` and ``train/grad_steps``."""
        cfg = self.cfg
        if self.env_steps < cfg.learning_starts:
            action = torch.rand(cfg.num_envs, *self.act_shape) * 2 - 1
        else:
            action = self.learner.explore(self._obs_tensor(self.loop.obs)).cpu()
        a, obs = action.numpy(), self.loop.obs
        next_obs, reward, term, trunc, infos, finished = self.loop.step(self.scaler.to_env(a))
        self.buffer.add(obs, a, reward, true_next_obs(next_obs, infos), term, trunc)
        self.env_steps += 1
        metrics: dict[str, float] = {}
        if self.env_steps >= cfg.learning_starts:
            for _ in range(cfg.updates_per_step):
                metrics = self.learner.update(self.buffer.sample(cfg.batch_size))
            self.grad_steps += cfg.updates_per_step
        metrics |= {"train/env_steps": float(self.env_steps * cfg.num_envs),
                    "train/grad_steps": float(self.grad_steps)}
        if finished:
            metrics["train/episode_return"] = float(np.mean([r for r, _ in finished]))
        return metrics

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Actions for one observation or a batch: the deterministic policy, or the exploration
        policy (drawing from torch's global generator) with ``deterministic=False``."""
        step = self.learner.act if deterministic else self.learner.explore
        return act_batched(obs, self.device, lambda o: self.scaler.to_env(step(o).cpu().numpy()))

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """``episodes`` deterministic episodes in the evaluation env; episode k resets with
        ``seed + k`` (default seed: ``rlkit.seeding.eval_seed``)."""
        base = eval_seed(self.seed, seed)
        return self.loop.evaluator.run(lambda o: self.act(o, deterministic=True), episodes, base)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: the learner (networks, targets, optimizers), the replay
        buffer, the counters, the vector env and the agent's torch stream."""
        return {"learner": self.learner.state_dict(), "buffer": self.buffer.state_dict(),
                "env_steps": self.env_steps, "grad_steps": self.grad_steps, "loop": self.loop.state_dict(),
                "torch_stream": self.torch_stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        self.learner.load_state_dict(state["learner"])
        self.buffer.load_state_dict(state["buffer"])
        self.env_steps, self.grad_steps = int(state["env_steps"]), int(state["grad_steps"])
        self.loop.load_state_dict(state["loop"])
        self.torch_stream.load_state_dict(state["torch_stream"])
