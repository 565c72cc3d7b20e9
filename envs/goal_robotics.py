"""Goal-reaching adapters over third-party MuJoCo suites, for C-learning / C-Planning (C-Planning paper Sec. 5).

Both present the layout the goal-conditioned agents read: a flat observation ``[state, goal]``,
a ``goal_slice`` (the part of the state that is the achieved goal), ``success_radius`` and
``info["success"]``; episodes are episodic (no goal resampling on success) and truncate after
``max_steps``. ``reset(options={"goal": g})`` injects a goal.

- :class:`RoboticsMazeEnv` (``rlkit/RoboticsMaze-v0``): gymnasium-robotics PointMaze v3 / AntMaze v5.
  state = [x, y, the suite's observation], goal = (x, y), success within 0.45 (the suite's rule).
  ``maze_map`` takes a custom 0/1 map; ``continuing_task=False`` avoids the suite's goal resampling.
- :class:`SawyerPushEnv` (``rlkit/SawyerPush-v0``): Meta-World v3 ``push-v3`` (single object).
  state = [object xyz, hand xyz], goal = object xyz, success within 0.05 (Meta-World's TARGET_RADIUS),
  151-step episodes as in C-learning's Sawyer push.

Both suites are optional extras (``pip install 'rlkit-offmeta[robotics]'``); importing this module
without them works, constructing an env says which extra to install.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action


def _require(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{module} is not installed; install it with "
                          f"pip install 'rlkit-offmeta[{extra}]'") from err


class _FlatGoalEnv(gym.Env):
    """Shared part: flat Box observation [state, goal] and step bookkeeping."""

    metadata = {"render_modes": []}
    goal_slice: slice
    success_radius: float

    def _setup_spaces(self, state_dim: int, goal_dim: int, action_space: gym.spaces.Box) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (state_dim + goal_dim,), np.float64)
        self.action_space = gym.spaces.Box(action_space.low.astype(np.float32),
                                           action_space.high.astype(np.float32), dtype=np.float32)

    def _flat(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.concatenate([state, goal]).astype(np.float64)

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None) -> np.ndarray:
        """Sparse success indicator ||achieved - desired|| < success_radius (pure, batched)."""
        return (np.linalg.norm(np.asarray(achieved) - desired, axis=-1) < self.success_radius).astype(float)


class RoboticsMazeEnv(_FlatGoalEnv):
    """gymnasium-robotics ``PointMaze_*-v3`` or ``AntMaze_*-v5`` as a flat goal env."""

    goal_slice = slice(0, 2)
    success_radius = 0.45

    def __init__(self, env_id: str = "PointMaze_UMaze-v3", max_steps: int = 300,
                 maze_map: list[list[Any]] | None = None, **kwargs: Any) -> None:
        robotics = _require("gymnasium_robotics", "robotics")
        gym.register_envs(robotics)
        if not env_id.startswith(("PointMaze_", "AntMaze_")):
            raise ValueError(f"env_id={env_id!r} must be a gymnasium-robotics PointMaze_* or AntMaze_* id")
        if maze_map is not None:
            kwargs["maze_map"] = [list(row) for row in maze_map]
        self.inner = gym.make(env_id, continuing_task=False, reset_target=False,
                              max_episode_steps=max_steps, **kwargs).unwrapped
        # AntMaze v5 writes its maze to a new /tmp file per env and never removes it (gymnasium-robotics
        # 1.4.2); MuJoCo has read it by now. PointMaze v3's file has one shared path: left alone.
        xml = Path(self.inner.tmp_xml_file_path)
        if xml.name != "ant_maze.xml":
            xml.unlink(missing_ok=True)
        self.max_steps, self.t = max_steps, 0
        spaces = self.inner.observation_space
        self._setup_spaces(2 + spaces["observation"].shape[0], 2, self.inner.action_space)

    def _observe(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self._flat(np.concatenate([obs["achieved_goal"], obs["observation"]]), self.inner.goal)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        goal = options.pop("goal", None)
        obs, info = self.inner.reset(seed=seed, options=options or None)
        if goal is not None:
            self.inner.goal = np.asarray(goal, dtype=np.float64)
            self.inner.update_target_site_pos()
        self.t = 0
        return self._observe(obs), {"success": float(np.linalg.norm(obs["achieved_goal"] - self.inner.goal)
                                                     <= self.success_radius)}

    def step(self, action):
        obs, _, _, _, info = self.inner.step(finite_action(self, action))
        self.t += 1
        success = float(np.linalg.norm(obs["achieved_goal"] - self.inner.goal) <= self.success_radius)
        return self._observe(obs), success, False, self.t >= self.max_steps, {"success": success}

    def close(self) -> None:
        self.inner.close()


class SawyerPushEnv(_FlatGoalEnv):
    """Meta-World v3 ``push-v3`` with the object position as the goal space."""

    goal_slice = slice(0, 3)
    success_radius = 0.05

    def __init__(self, max_steps: int = 151, task: str = "push-v3") -> None:
        _require("metaworld", "robotics")
        self.inner = gym.make("Meta-World/goal_observable", env_name=task, seed=0).unwrapped
        if max_steps > self.inner.max_path_length:
            raise ValueError(f"max_steps={max_steps} exceeds Meta-World's max_path_length "
                             f"{self.inner.max_path_length}")
        self.max_steps, self.t = max_steps, 0
        self._setup_spaces(6, 3, self.inner.action_space)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        """Meta-World obs = [hand xyz, gripper, object xyz, quat, ..., goal xyz]."""
        return self._flat(np.concatenate([obs[4:7], obs[0:3]]), np.asarray(self.inner._target_pos))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.inner.seed(seed)
        obs, _ = self.inner.reset()
        goal = (options or {}).get("goal")
        if goal is not None:
            self.inner._target_pos = np.asarray(goal, dtype=np.float64)
            self.inner.model.site("goal").pos = self.inner._target_pos
        self.t = 0
        state = self._observe(obs)
        return state, {"success": float(np.linalg.norm(state[:3] - state[6:]) <= self.success_radius)}

    def step(self, action):
        obs, _, _, _, info = self.inner.step(finite_action(self, action, np.float32))
        self.t += 1
        success = float(info["success"])
        return self._observe(obs), success, False, self.t >= self.max_steps, {"success": success}

    def close(self) -> None:
        self.inner.close()
