"""MiniGrid tasks with a train/held-out layout split (EPPO's generalisation setting, spec §4.4).

The agent sees MiniGrid's 7x7x3 egocentric view, flattened to 147 floats and divided by 10 (the
object/colour/state indices are <= 10). Training draws every episode's layout from a fixed set of
``train_layouts`` layout seeds ``layout_offset .. layout_offset + train_layouts - 1`` (the role
of ``minigrid.wrappers.ReseedWrapper``, but drawn at random per episode so the sub-envs of a
vector env do not replay the same sequence); ``train_layouts=None`` lets the reset seed pick the
layout, which the evaluation env uses so that it meets layouts never seen in training.
``info["success"]`` is 1 when the episode ends with MiniGrid's positive success reward.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class FixedLayouts(gym.Wrapper):
    """Resets to a layout seed drawn uniformly from a fixed list (an RNG seeded by ``reset``)."""

    def __init__(self, env: gym.Env, seeds: list[int]) -> None:
        super().__init__(env)
        self.layout_seeds = list(seeds)
        self.layout_rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.layout_rng = np.random.default_rng(seed)
        layout = self.layout_seeds[int(self.layout_rng.integers(len(self.layout_seeds)))]
        return self.env.reset(seed=layout, options=options)


class FlatView(gym.Wrapper):
    """Image view -> float32 vector / 10; adds ``info["success"]``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        shape = env.observation_space["image"].shape
        self.observation_space = gym.spaces.Box(0.0, 25.5, (int(np.prod(shape)),), np.float32)

    def _obs(self, obs: dict[str, Any]) -> np.ndarray:
        return obs["image"].reshape(-1).astype(np.float32) / 10.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._obs(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["success"] = float(terminated and reward > 0)
        return self._obs(obs), reward, terminated, truncated, info


def make_minigrid(task: str = "MiniGrid-DoorKey-6x6-v0", train_layouts: int | None = 50,
                  layout_offset: int = 0, max_steps: int | None = None) -> gym.Env:
    """A MiniGrid task (``task`` is a MiniGrid id) with flat observations and a layout split."""
    try:
        import minigrid  # noqa: F401  (registers the MiniGrid-* ids)
    except ImportError as err:  # pragma: no cover - minigrid is a core dependency
        raise ImportError("MiniGrid envs need the `minigrid` package: pip install minigrid") from err
    if train_layouts is not None and train_layouts <= 0:
        raise ValueError(f"train_layouts={train_layouts} must be a positive count or None")
    kwargs = {} if max_steps is None else {"max_steps": max_steps}
    env = gym.make(task, **kwargs)  # MiniGrid truncates at its own max_steps (10 * size^2)
    if train_layouts is not None:
        env = FixedLayouts(env, list(range(layout_offset, layout_offset + train_layouts)))
    return FlatView(env)
