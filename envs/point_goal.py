"""A 2-D point that moves towards a goal: the smallest goal-conditioned env with a pure reward.

State s in [-1, 1]^2, action a in [-1, 1]^2, s' = clip(s + 0.1 a). The goal g is drawn uniformly
per episode. Observation: dict(observation=s, achieved_goal=s, desired_goal=g).
Reward (sparse, as in HER): ``compute_reward(achieved, desired) = -(||achieved - desired|| > 0.1)``.
Used by the tests and docs of hindsight relabelling; algorithms add their own envs here.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action

GOAL_TOLERANCE = 0.1


def compute_reward(achieved: Any, desired: Any) -> Any:
    """-1 until ``achieved`` is within 0.1 of ``desired`` (numpy or torch, batched or not)."""
    dist = ((achieved - desired) ** 2).sum(-1) ** 0.5
    return (dist > GOAL_TOLERANCE) * -1.0


class PointGoalEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self) -> None:
        box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.pos = np.zeros(2, np.float32)
        self.goal = np.zeros(2, np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"observation": self.pos.copy(), "achieved_goal": self.pos.copy(),
                "desired_goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.goal = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action: np.ndarray):
        a = np.clip(finite_action(self, action, np.float32), -1, 1)
        self.pos = np.clip(self.pos + 0.1 * a, -1, 1).astype(np.float32)
        reward = float(compute_reward(self.pos, self.goal))
        success = reward == 0.0
        return self._obs(), reward, bool(success), False, {"is_success": float(success)}

    @staticmethod
    def compute_reward(achieved: Any, desired: Any, info: Any = None) -> Any:
        return compute_reward(achieved, desired)
