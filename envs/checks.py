"""The action check every env of the toolkit applies in ``step``: a non-finite action is a caller's
bug, so it is rejected with one line naming the env and the action instead of silently turning the
state into NaN for the rest of the episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def finite_action(env: gym.Env, action: Any, dtype: type = np.float64) -> np.ndarray:
    """``action`` as an array of ``dtype``; ``ValueError`` if any entry is NaN or infinite."""
    a = np.asarray(action, dtype=dtype)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{type(env.unwrapped).__name__}.step got a non-finite action {action!r}; "
                         f"actions must be finite values of {env.action_space}")
    return a


class FiniteActions(gym.Wrapper):
    """:func:`finite_action` for envs built by a factory from third-party envs (MiniGrid, Atari)."""

    def step(self, action: Any):
        finite_action(self, action)
        return self.env.step(action)
