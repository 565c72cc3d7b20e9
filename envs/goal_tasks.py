"""Sparse goal-reaching meta-RL tasks on MuJoCo: MAESN's wheeled robot and ant (HTR paper Sec. 5; MAESN,
Gupta et al. 2018).

Both envs share the task API of ``envs/point_robot.py`` (``train_tasks``, ``test_tasks``,
``set_task``, ``task_goal``, ``achieved``, pure ``reward``, ``batch``), so PEARL/HTR run on them
unchanged. Goals lie on a semicircle of radius 2 (angles uniform in [0, pi], drawn with
``goal_seed``); the sparse reward is 1 inside ``goal_radius`` (0.8) of the goal, else 0 (MAESN
replaces the distance term by a constant outside the ball; HTR's exact form is unverified); the
dense reward is -||xy - g||. Control and contact costs are left out so that rewards are pure
functions of the next observation (relabelling needs that). Horizon 200.

- ``SparseWheeledEnv`` (``rlkit/SparseWheeled-v0``): our own MJCF of MAESN's wheeled robot: a box
  chassis on slide-x, slide-y, slide-z and hinge-z joints, two wheels on hinge joints driven by two
  motors (ctrl +-2), timestep 0.01, frame skip 1; observation qpos + qvel (x, y first).
- ``SparseAntGoalEnv`` (``rlkit/SparseAntGoal-v0``): gymnasium's ``Ant-v5`` with x, y in the
  observation (29-D: no contact forces), never terminating, under the goal reward.

``batch(tasks)`` steps a pool of env instances, one task each (:class:`TaskEnvBatch`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action
from rlkit.envs.point_robot import GoalTaskAPI, goal_distance


def ring_goals(num: int, radius: float = 2.0, seed: int = 0) -> np.ndarray:
    angles = np.random.default_rng(seed).uniform(0.0, np.pi, num)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], -1)


class TaskEnvBatch:
    """A pool of single-task envs stepped together (arrays in, arrays out, like ``PointRobotBatch``)."""

    def __init__(self, envs: list[gym.Env], goals: np.ndarray) -> None:
        self.envs, self.goals = envs, goals

    def reset(self) -> np.ndarray:
        return np.stack([e.reset()[0] for e in self.envs])

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        outs = [e.step(a) for e, a in zip(self.envs, action, strict=True)]
        infos = [o[4] for o in outs]
        return {"next_obs": np.stack([o[0] for o in outs]),
                "reward_dense": np.array([i["dense_reward"] for i in infos]),
                "reward_sparse": np.array([i["sparse_reward"] for i in infos]),
                "success": np.array([i["success"] for i in infos]),
                "done": np.array([float(o[2]) for o in outs])}


class GoalTaskMixin(GoalTaskAPI):
    """Task API over a semicircle of goals; the subclass provides ``_make_single()``."""

    def _init_ring_tasks(self, num_tasks: int, num_train_tasks: int, goal_radius: float, goal_seed: int,
                         max_steps: int, reward_type: str) -> None:
        self._init_tasks(ring_goals(num_tasks, seed=goal_seed), num_train_tasks, goal_radius, max_steps,
                         reward_type)
        self._pool = []

    def sparse_reward(self, next_obs, goal):
        """1[||xy - g|| <= goal_radius] (numpy or torch)."""
        return (goal_distance(next_obs, goal) <= self.goal_radius) * 1.0

    def _goal_info(self, obs: np.ndarray) -> tuple[float, dict[str, float]]:
        goal = self.goals[self.task]
        info = {"dense_reward": float(self.reward(obs, goal, "dense")),
                "sparse_reward": float(self.reward(obs, goal, "sparse"))}
        info["success"] = info["sparse_reward"]
        return info[f"{self.reward_type}_reward"], info

    def batch(self, tasks) -> TaskEnvBatch:
        tasks = list(tasks)
        while len(self._pool) < len(tasks):
            env = self._make_single()
            env.reset(seed=len(self._pool))         # seeds the pool env's reset noise once
            self._pool.append(env)
        envs = self._pool[:len(tasks)]
        for env, t in zip(envs, tasks, strict=True):
            env.set_task(t)
        return TaskEnvBatch(envs, self.task_goal(tasks))


WHEELED_XML = """
<mujoco model="wheeled">
  <compiler angle="radian"/>
  <option timestep="0.01"/>
  <default><geom friction="1.5 0.1 0.1" density="300"/></default>
  <worldbody>
    <light pos="0 0 4"/>
    <geom name="floor" type="plane" size="20 20 0.1" rgba="0.8 0.8 0.8 1"/>
    <body name="chassis" pos="0 0 0.12">
      <joint name="x" type="slide" axis="1 0 0"/>
      <joint name="y" type="slide" axis="0 1 0"/>
      <joint name="z" type="slide" axis="0 0 1" limited="true" range="-0.1 0.1"/>
      <joint name="yaw" type="hinge" axis="0 0 1"/>
      <geom type="box" size="0.2 0.15 0.04" rgba="0.2 0.4 0.8 1"/>
      <geom type="sphere" pos="-0.17 0 -0.07" size="0.05" friction="0.01 0.005 0.0001"/>
      <body name="left_wheel" pos="0.08 0.19 -0.02">
        <joint name="left" type="hinge" axis="0 1 0"/>
        <geom type="cylinder" size="0.1 0.025" euler="1.5708 0 0" rgba="0.1 0.1 0.1 1"/>
      </body>
      <body name="right_wheel" pos="0.08 -0.19 -0.02">
        <joint name="right" type="hinge" axis="0 1 0"/>
        <geom type="cylinder" size="0.1 0.025" euler="1.5708 0 0" rgba="0.1 0.1 0.1 1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor joint="left" ctrlrange="-2 2" ctrllimited="true" gear="1"/>
    <motor joint="right" ctrlrange="-2 2" ctrllimited="true" gear="1"/>
  </actuator>
</mujoco>
"""


class SparseWheeledEnv(GoalTaskMixin, gym.Env):
    """MAESN's wheeled robot (own MJCF) with sparse goal rewards (module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, num_tasks: int = 130, num_train_tasks: int = 100, goal_radius: float = 0.8,
                 max_steps: int = 200, reward_type: str = "sparse", goal_seed: int = 0) -> None:
        import mujoco

        self._init_ring_tasks(num_tasks, num_train_tasks, goal_radius, goal_seed, max_steps, reward_type)
        self.model = mujoco.MjModel.from_xml_string(WHEELED_XML)
        self.data = mujoco.MjData(self.model)
        self._kwargs = dict(num_tasks=num_tasks, num_train_tasks=num_train_tasks, goal_radius=goal_radius,
                            max_steps=max_steps, reward_type=reward_type, goal_seed=goal_seed)
        dim = self.model.nq + self.model.nv
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float64)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)

    def _make_single(self) -> SparseWheeledEnv:
        return SparseWheeledEnv(**self._kwargs)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel]).copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        import mujoco

        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        import mujoco

        self.data.ctrl[:] = np.clip(finite_action(self, action), -2.0, 2.0)
        mujoco.mj_step(self.model, self.data)
        self.t += 1
        obs = self._obs()
        reward, info = self._goal_info(obs)
        return obs, reward, False, self.t >= self.max_steps, info


class SparseAntGoalEnv(GoalTaskMixin, gym.Env):
    """``Ant-v5`` (x, y observed, no contact forces, no termination) with sparse goal rewards."""

    metadata = {"render_modes": []}

    def __init__(self, num_tasks: int = 130, num_train_tasks: int = 100, goal_radius: float = 0.8,
                 max_steps: int = 200, reward_type: str = "sparse", goal_seed: int = 0,
                 xml_file: str | None = None) -> None:
        from gymnasium.envs.mujoco.ant_v5 import AntEnv

        kwargs = {"xml_file": str(Path(xml_file))} if xml_file else {}
        self.ant = AntEnv(exclude_current_positions_from_observation=False,
                          include_cfrc_ext_in_observation=False, terminate_when_unhealthy=False, **kwargs)
        self._init_ring_tasks(num_tasks, num_train_tasks, goal_radius, goal_seed, max_steps, reward_type)
        self._kwargs = dict(num_tasks=num_tasks, num_train_tasks=num_train_tasks, goal_radius=goal_radius,
                            max_steps=max_steps, reward_type=reward_type, goal_seed=goal_seed,
                            xml_file=xml_file)
        self.observation_space, self.action_space = self.ant.observation_space, self.ant.action_space

    def _make_single(self) -> SparseAntGoalEnv:
        return SparseAntGoalEnv(**self._kwargs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self.ant.reset(seed=seed, options=options)[0], {}

    def step(self, action):
        obs = self.ant.step(finite_action(self, action))[0]
        self.t += 1
        reward, info = self._goal_info(obs)
        return obs, reward, False, self.t >= self.max_steps, info
