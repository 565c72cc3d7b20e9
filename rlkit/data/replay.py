"""Transition replay buffer (ring) with n-step returns, for off-policy learners.

Layout: one packed row per (time t, env e) at ``t * num_envs + e``, so the n-step successor of
a row is ``num_envs`` rows later. The n-step target for a sampled row is

    R = sum_{k<m} gamma^k r_{t+k},   next_obs = s'_{t+m-1},   discount = gamma^m (0 if terminated)

where ``m <= n`` stops early at the end of an episode (terminated or truncated) or at the write
cursor. Transitions come from a SAME_STEP vector env (``rlkit.env_spec``): ``next_obs`` is the true
final observation at episode ends, so no stored transition crosses an episode boundary.
"""

from __future__ import annotations

from typing import Any

import torch

from rlkit.data.storage import PackedTensor


class ReplayBuffer:
    """Ring buffer of ``capacity`` transitions from ``num_envs`` parallel envs."""

    def __init__(self, obs_shape: tuple[int, ...], action_shape: tuple[int, ...], capacity: int,
                 num_envs: int = 1, n_step: int = 1, gamma: float = 0.99,
                 device: str | torch.device = "cpu", seed: int = 0) -> None:
        if n_step < 1:
            raise ValueError(f"n_step={n_step} must be >= 1")
        self.num_envs, self.n_step, self.gamma = num_envs, n_step, gamma
        self.horizon = max(capacity // num_envs, 1)  # time slots
        self.storage = PackedTensor({"obs": obs_shape, "action": action_shape, "reward": (),
                                     "next_obs": obs_shape, "terminated": (), "done": ()},
                                    self.horizon * num_envs, device)
        self.pos, self.full = 0, False
        self.generator = torch.Generator().manual_seed(seed)
        self._env_ids = torch.arange(num_envs)

    def __len__(self) -> int:
        return (self.horizon if self.full else self.pos) * self.num_envs

    def add(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any,
            truncated: Any) -> None:
        """Store one vector-env step; every argument has leading dimension ``num_envs``."""
        terminated = torch.as_tensor(terminated, dtype=torch.bool)
        done = terminated | torch.as_tensor(truncated, dtype=torch.bool)
        rows = self.pos * self.num_envs + self._env_ids
        self.storage.write(rows, {"obs": obs, "action": action, "reward": reward,
                                  "next_obs": next_obs, "terminated": terminated, "done": done})
        self.pos = (self.pos + 1) % self.horizon
        self.full = self.full or self.pos == 0

    def extend(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any) -> None:
        """Store k independent 1-step transitions at once (e.g. the per-row transitions of a
        multi-agent step). Only for ``num_envs == 1`` and ``n_step == 1``."""
        assert self.num_envs == 1 and self.n_step == 1, "extend() stores independent transitions"
        terminated = torch.as_tensor(terminated, dtype=torch.bool).reshape(-1)
        k = terminated.numel()
        rows = (self.pos + torch.arange(k)) % self.horizon
        self.storage.write(rows, {"obs": obs, "action": action, "reward": reward,
                                  "next_obs": next_obs, "terminated": terminated, "done": terminated})
        self.full = self.full or self.pos + k >= self.horizon
        self.pos = (self.pos + k) % self.horizon

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A batch of (n-step) transitions: obs, action, reward, next_obs, terminated, discount."""
        if len(self) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        rows = torch.randint(0, len(self), (batch_size,), generator=self.generator)
        first = self.storage.read(rows)
        if self.n_step == 1:
            first["discount"] = (1.0 - first["terminated"]).mul_(self.gamma)
            return first
        t, e = rows // self.num_envs, rows % self.num_envs
        return self._n_step(t, e, first)

    def _n_step(self, t: torch.Tensor, e: torch.Tensor, batch: dict[str, torch.Tensor]):
        available = (self.pos - t - 1) % self.horizon + 1  # rows written at or after t
        ret = batch["reward"].clone()
        disc = torch.full_like(ret, self.gamma)
        alive = (1.0 - batch["done"]).bool()
        next_obs, terminated = batch["next_obs"].clone(), batch["terminated"].clone()
        for k in range(1, self.n_step):
            alive = alive & (k < available)
            if not alive.any():
                break
            row = self.storage.read(((t + k) % self.horizon) * self.num_envs + e)
            a = alive.float()
            ret = ret + a * disc * row["reward"]
            disc = torch.where(alive, disc * self.gamma, disc)
            next_obs = torch.where(alive.view(-1, *[1] * (next_obs.dim() - 1)), row["next_obs"], next_obs)
            terminated = torch.where(alive, row["terminated"], terminated)
            alive = alive & ~row["done"].bool()
        batch.update(reward=ret, next_obs=next_obs, terminated=terminated,
                     discount=disc * (1.0 - terminated))
        return batch

    def state_dict(self) -> dict[str, Any]:
        n = len(self)
        return {"data": self.storage.data[:n].clone(), "pos": self.pos, "full": self.full,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = state["data"].shape[0]
        self.storage.data[:n] = state["data"].to(self.storage.data.device)
        self.pos, self.full = int(state["pos"]), bool(state["full"])
        self.generator.set_state(state["generator"])
