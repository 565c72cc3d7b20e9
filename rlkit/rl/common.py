"""Helpers shared by the baseline agents: evaluation episodes, polyak averaging, action scaling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """theta_target <- tau * theta + (1 - tau) * theta_target."""
    for tp, p in zip(target.parameters(), source.parameters(), strict=True):
        tp.lerp_(p, tau)


class ActionScaler:
    """Maps a tanh-squashed action in [-1, 1] to the Box ``[low, high]`` of the env."""

    def __init__(self, space: gym.spaces.Box) -> None:
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"continuous-action agent needs a Box action space, got {space}")
        if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
            raise ValueError("action space bounds must be finite to squash actions with tanh")
        self.scale = (space.high - space.low) / 2.0
        self.bias = (space.high + space.low) / 2.0

    def to_env(self, a: np.ndarray) -> np.ndarray:
        return a * self.scale + self.bias


class Evaluator:
    """Runs deterministic evaluation episodes in a dedicated env.

    Episode ``k`` (counted over the whole run) resets with seed ``seed + k``, so evaluation never
    touches the training RNG streams and is reproducible after a resume.
    """

    def __init__(self, env_fn: Callable[[], gym.Env], seed: int) -> None:
        self.env = env_fn()
        self.seed = seed
        self.episodes_done = 0

    def run(self, act: Callable[[np.ndarray], Any], episodes: int) -> dict[str, float]:
        returns, lengths, successes = [], [], []
        for _ in range(episodes):
            obs, _ = self.env.reset(seed=self.seed + self.episodes_done)
            self.episodes_done += 1
            done, ret, length, success = False, 0.0, 0, 0.0
            while not done:
                obs, r, terminated, truncated, info = self.env.step(act(obs))
                ret, length = ret + float(r), length + 1
                success = max(success, float(info.get("is_success", info.get("success", 0.0))))
                done = terminated or truncated
            returns.append(ret), lengths.append(length), successes.append(success)
        return {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
                "eval/length": float(np.mean(lengths)), "eval/success": float(np.mean(successes))}

    def state_dict(self) -> dict[str, int]:
        return {"episodes_done": self.episodes_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.episodes_done = int(state["episodes_done"])


def episode_stats(ended: np.ndarray, returns: np.ndarray, lengths: np.ndarray,
                  rewards: np.ndarray) -> list[tuple[float, int]]:
    """Track running per-env returns; return (return, length) of the episodes that just ended."""
    returns += rewards
    lengths += 1
    done = [(float(returns[i]), int(lengths[i])) for i in np.flatnonzero(ended)]
    returns[ended] = 0.0
    lengths[ended] = 0
    return done
