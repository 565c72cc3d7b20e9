"""PEARL's sparse point robot (Rakelly et al. 2019, oyster ``SparsePointEnv``), HTR's first task.

A point starts at (0, 0); an action a in [-1, 1]^2 moves it by 0.1 a (oyster's NormalizedBoxEnv
maps [-1, 1] onto the env's +-0.1 box); no walls, no termination, horizon 20. Tasks are goals on the
upper unit semicircle: 100 evenly spaced angles in [0, pi], shuffled with seed 1337, the first 80
for meta-training and the last 20 for meta-testing (``num_tasks`` / ``num_train_tasks`` change it).

    dense reward   r = -||s' - g||
    sparse reward  r = 1 - ||s' - g||  if ||s' - g|| <= goal_radius (0.2), else 0

``reward_type`` picks what ``step`` returns; ``info`` carries both and ``success`` (inside the ball).
The reward functions are pure (numpy or torch), so rewards can be recomputed for any task from
stored next observations (hindsight relabelling). :class:`PointRobotBatch` steps many robots, one
task each, as one array.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action


def semicircle_goals(num: int = 100, radius: float = 1.0, seed: int = 1337) -> np.ndarray:
    """``num`` goals evenly spaced on the upper semicircle, shuffled with ``seed`` (oyster's order)."""
    angles = np.linspace(0.0, np.pi, num)
    goals = np.stack([radius * np.cos(angles), radius * np.sin(angles)], -1)
    np.random.RandomState(seed).shuffle(goals)
    return goals


def goal_distance(next_obs, goal):
    """||s' - g|| over the last axis (numpy or torch)."""
    return (((next_obs[..., :2] - goal[..., :2]) ** 2).sum(-1)) ** 0.5


def sparse_reward(next_obs, goal, radius: float = 0.2):
    """1 - ||s' - g|| inside the goal ball, else 0 (numpy or torch)."""
    d = goal_distance(next_obs, goal)
    return (d <= radius) * (1.0 - d)


def dense_reward(next_obs, goal):
    """-||s' - g|| (numpy or torch)."""
    return -goal_distance(next_obs, goal)


class PointRobotBatch:
    """``N`` point robots, robot i pursuing ``goals[i]``; arrays in, arrays out."""

    def __init__(self, goals: np.ndarray, goal_radius: float, max_steps: int) -> None:
        self.goals, self.goal_radius, self.max_steps = np.asarray(goals, float), goal_radius, max_steps
        self.pos = np.zeros_like(self.goals)

    def reset(self) -> np.ndarray:
        self.pos = np.zeros_like(self.goals)
        return self.pos.copy()

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """Move every robot; returns next_obs, reward_dense, reward_sparse, success, done [N]."""
        self.pos = self.pos + 0.1 * np.clip(action, -1.0, 1.0)
        nxt = self.pos.copy()
        return {"next_obs": nxt, "reward_dense": dense_reward(nxt, self.goals),
                "reward_sparse": sparse_reward(nxt, self.goals, self.goal_radius),
                "success": (goal_distance(nxt, self.goals) <= self.goal_radius).astype(float),
                "done": np.zeros(len(nxt))}


class GoalTaskAPI:
    """The meta-RL task API shared by the goal-reaching envs (PEARL/HTR run on any of them).

    Tasks index ``self.goals``; ``train_tasks`` / ``test_tasks`` split them; ``reward`` is a pure
    function of the next observation and a goal, so it can relabel stored transitions. A subclass
    gives its sparse reward (``sparse_reward``); the dense one is -||xy - g|| for all.
    """

    goals: np.ndarray
    goal_radius: float

    def _init_tasks(self, goals: np.ndarray, num_train_tasks: int, goal_radius: float, max_steps: int,
                    reward_type: str) -> None:
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type={reward_type!r} must be sparse or dense")
        if not 0 < num_train_tasks < len(goals):
            raise ValueError(f"num_train_tasks={num_train_tasks} must be in (0, num_tasks={len(goals)})")
        self.goals = goals
        self.train_tasks = list(range(num_train_tasks))
        self.test_tasks = list(range(num_train_tasks, len(goals)))
        self.goal_radius, self.max_steps, self.reward_type = goal_radius, max_steps, reward_type
        self.task = 0

    def set_task(self, task: int) -> None:
        self.task = int(task)

    def task_goal(self, tasks) -> np.ndarray:
        return self.goals[np.asarray(tasks)]

    def achieved(self, next_obs):
        """The part of an observation a goal is compared with (the position)."""
        return next_obs[..., :2]

    def sparse_reward(self, next_obs, goal):
        raise NotImplementedError

    def reward(self, next_obs, goal, kind: str = "sparse"):
        """Pure reward of ``kind`` for goal(s) ``goal`` (numpy or torch)."""
        if kind == "sparse":
            return self.sparse_reward(next_obs, goal)
        return dense_reward(next_obs, goal)


class SparsePointRobotEnv(GoalTaskAPI, gym.Env):
    """One point robot with a settable task (module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, num_tasks: int = 100, num_train_tasks: int = 80, goal_radius: float = 0.2,
                 max_steps: int = 20, reward_type: str = "sparse", goal_seed: int = 1337) -> None:
        self._init_tasks(semicircle_goals(num_tasks, seed=goal_seed), num_train_tasks, goal_radius,
                         max_steps, reward_type)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.robot = PointRobotBatch(self.goals[:1], goal_radius, max_steps)

    # ------------------------------------------------------------------ meta-RL task API
    def set_task(self, task: int) -> None:
        super().set_task(task)
        self.robot = PointRobotBatch(self.goals[self.task:self.task + 1], self.goal_radius, self.max_steps)

    def sparse_reward(self, next_obs, goal):
        """1 - ||s' - g|| inside the goal ball, else 0 (numpy or torch)."""
        return sparse_reward(next_obs, goal, self.goal_radius)

    def batch(self, tasks) -> PointRobotBatch:
        """Robots for ``tasks``, stepped together."""
        return PointRobotBatch(self.task_goal(tasks), self.goal_radius, self.max_steps)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self.robot.reset()[0], {}

    def step(self, action):
        out = self.robot.step(finite_action(self, action)[None])
        self.t += 1
        info = {"dense_reward": float(out["reward_dense"][0]), "sparse_reward": float(out["reward_sparse"][0]),
                "success": float(out["success"][0])}
        reward = info[f"{self.reward_type}_reward"]
        return out["next_obs"][0], reward, False, self.t >= self.max_steps, info
