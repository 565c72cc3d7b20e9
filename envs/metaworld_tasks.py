"""Meta-World v3 ML1 reach / push as sparse-reward meta-RL tasks for PEARL / HTR (issue: HTR on ML1).

The task API of ``envs/goal_tasks.py`` (``train_tasks``, ``test_tasks``, ``set_task``, ``task_goal``,
``achieved``, a pure vectorised ``reward``, ``batch``) over ``metaworld.ML1(task_name, seed=goal_seed)``:
its first ``num_train_tasks`` train tasks and ``num_tasks - num_train_tasks`` test tasks (default all
50 + 50) become tasks 0.. and the rest. The goal of a task is the env's target
position after ``set_task`` and reset; the goal is hidden from the observation
(ML1's partially observable setting). Achieved goal: the hand position (reach, obs[0:3]) or the
object position (push, obs[4:7]). Sparse reward 1 when the achieved goal is within ``goal_radius``
(0.05, Meta-World's success distance for both tasks), else 0; dense reward -distance. Horizon 150
(ours; Meta-World allows up to 500). Needs the ``robotics`` extra (metaworld).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action
from rlkit.envs.goal_tasks import GoalTaskMixin

ACHIEVED = {"reach-v3": slice(0, 3), "push-v3": slice(4, 7)}
_GOALS: dict[tuple, np.ndarray] = {}


class SparseMetaWorldEnv(GoalTaskMixin, gym.Env):
    """ML1 ``task_name`` with sparse success rewards and the goal-task API (module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, task_name: str = "reach-v3", num_tasks: int = 100, num_train_tasks: int = 50,
                 goal_radius: float = 0.05, max_steps: int = 150, reward_type: str = "sparse",
                 goal_seed: int = 0) -> None:
        try:
            import metaworld
        except ImportError as err:
            raise ImportError("metaworld is not installed; pip install 'rlkit-offmeta[robotics]'") from err
        if task_name not in ACHIEVED:
            raise ValueError(f"task_name={task_name!r} must be one of {sorted(ACHIEVED)}")
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type={reward_type!r} must be sparse or dense")
        benchmark = metaworld.ML1(task_name, seed=goal_seed)
        n_test = num_tasks - num_train_tasks
        n_train_max, n_test_max = len(benchmark.train_tasks), len(benchmark.test_tasks)
        if not (0 < num_train_tasks <= n_train_max and 0 < n_test <= n_test_max):
            raise ValueError(f"num_train_tasks={num_train_tasks} and num_tasks - num_train_tasks={n_test} "
                             f"must be in 1..{n_train_max} (ML1's train and test tasks)")
        self.tasks = list(benchmark.train_tasks)[:num_train_tasks] + list(benchmark.test_tasks)[:n_test]
        self.train_tasks = list(range(num_train_tasks))
        self.test_tasks = list(range(num_train_tasks, num_tasks))
        self.inner = benchmark.train_classes[task_name]()
        self.goals = self._task_goals((task_name, num_tasks, num_train_tasks, goal_seed))
        if max_steps > self.inner.max_path_length:
            raise ValueError(f"max_steps={max_steps} exceeds Meta-World's max_path_length "
                             f"{self.inner.max_path_length}")
        self.task_name, self.slice = task_name, ACHIEVED[task_name]
        self.goal_radius, self.max_steps, self.reward_type = goal_radius, max_steps, reward_type
        self._kwargs = dict(task_name=task_name, num_tasks=num_tasks, num_train_tasks=num_train_tasks,
                            goal_radius=goal_radius, max_steps=max_steps, reward_type=reward_type,
                            goal_seed=goal_seed)
        self.task, self._pool = 0, []
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (39,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def _task_goals(self, key: tuple) -> np.ndarray:
        """Each task's target position, read from the env after ``set_task`` + reset (push-v3, for
        one, replaces the rand_vec's goal height by the object's); cached per task set."""
        if key not in _GOALS:
            goals = []
            for task in self.tasks:
                self.inner.set_task(task)
                self.inner.reset()
                goals.append(np.array(self.inner._target_pos, dtype=np.float64))
            _GOALS[key] = np.stack(goals)
        return _GOALS[key]

    def _make_single(self) -> SparseMetaWorldEnv:
        return SparseMetaWorldEnv(**self._kwargs)

    def achieved(self, next_obs):
        return next_obs[..., self.slice]

    def reward(self, next_obs, goal, kind: str = "sparse"):
        """1[||achieved - g|| <= goal_radius] or -||achieved - g|| (numpy or torch, broadcasting)."""
        distance = (((self.achieved(next_obs) - goal[..., :3]) ** 2).sum(-1)) ** 0.5
        return (distance <= self.goal_radius) * 1.0 if kind == "sparse" else -distance

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.inner.seed(seed)
        self.inner.set_task(self.tasks[self.task])
        self.t = 0
        return self.inner.reset()[0].astype(np.float64), {}

    def step(self, action):
        obs = self.inner.step(np.clip(finite_action(self, action, np.float32), -1, 1))[0].astype(np.float64)
        self.t += 1
        reward, info = self._goal_info(obs)
        return obs, reward, False, self.t >= self.max_steps, info

    def close(self) -> None:
        self.inner.close()
