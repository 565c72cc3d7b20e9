"""LS3's reacher with an obstacle (LS3 paper Sec. 5), on the ``mujoco`` bindings with our own MJCF.

The dm_control ``reacher`` (hard target) as LS3 modified it: two 0.12 links with a finger sphere
(radius 0.01) at the tip, hinge joints with damping 0.01, wrist limited to +-160 degrees, motors with
gear 0.05 and ctrl range +-1, timestep 0.02 s, no contacts, a 0.6 x 0.6 arena. Fixed start (shoulder
0.53 pi, wrist 0.85 pi), fixed target at polar (0.25, -0.25 pi) and a red obstacle sphere of radius
0.05 at polar (0.13, -0.3 pi), with x = r sin(theta), y = r cos(theta).

Actions in [-1, 1]^2 are halved before they reach the motors (as LS3's wrapper does). Reward 0 when
the finger is within 0.015 + 0.01 of the target, else -1. ``info["constraint"]``: the finger is
within 0.05 + 0.01 of the obstacle; from then on the arm is frozen (zero actions) until the episode
ends after 100 steps. Observation: the last 3 top-down 64 x 64 RGB frames from camera ``fixed``,
stacked channel-wise, uint8 [9, S, S]. Rendering needs an OpenGL backend: ``MUJOCO_GL=egl`` (or
``osmesa``) on a headless machine.

Teachers (official ``collect_data.py``): :func:`reacher_teacher_action` (joint-space P-control to (pi, 0) for
t < 40,
swinging the arm out around the obstacle, then to (0.75 pi, 0), which puts the finger on the target;
action noise 0.4) and :class:`ReacherConstraintTeacher` (P-control to the nearer of the two joint
configurations that put the finger on the obstacle, noise 0.4) and :class:`RandomWalkTeacher`
(100 short random-walk episodes of interaction data in the official setup; the official smoothing
constants were not recorded, ours are in its docstring).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action
from rlkit.envs.mujoco_image import MujocoImageEnv

LINK = 0.12
START_QPOS = np.array([0.53 * np.pi, 0.85 * np.pi])
TARGET_RADIUS, OBSTACLE_RADIUS, FINGER_RADIUS = 0.015, 0.05, 0.01
HORIZON, TEACHER_NOISE, KP, KD = 100, 0.4, 4.0, 0.4


def polar(r: float, theta: float) -> np.ndarray:
    return np.array([r * np.sin(theta), r * np.cos(theta)])


TARGET, OBSTACLE = polar(0.25, -0.25 * np.pi), polar(0.13, -0.3 * np.pi)

MJCF = f"""
<mujoco model="ls3_reacher">
  <compiler angle="radian"/>
  <option timestep="0.02">
    <flag contact="disable"/>
  </option>
  <default>
    <joint type="hinge" axis="0 0 1" damping="0.01"/>
    <motor gear="0.05" ctrlrange="-1 1" ctrllimited="true"/>
  </default>
  <worldbody>
    <light pos="0 0 1"/>
    <camera name="fixed" pos="0 0 0.75" xyaxes="1 0 0 0 1 0"/>
    <geom name="ground" type="plane" size="0.3 0.3 0.01" rgba="0.45 0.55 0.65 1"/>
    <geom name="target" type="sphere" pos="{TARGET[0]} {TARGET[1]} 0.01" size="{TARGET_RADIUS + 0.01}"
          rgba="0.2 0.8 0.2 1"/>
    <geom name="obstacle" type="sphere" pos="{OBSTACLE[0]} {OBSTACLE[1]} 0.01" size="{OBSTACLE_RADIUS}"
          rgba="0.9 0.1 0.1 1"/>
    <body name="arm" pos="0 0 0.01">
      <joint name="shoulder"/>
      <geom name="arm" type="capsule" fromto="0 0 0 {LINK} 0 0" size="0.01" rgba="0.9 0.7 0.4 1"/>
      <body name="hand" pos="{LINK} 0 0">
        <joint name="wrist" limited="true" range="{-160 * np.pi / 180} {160 * np.pi / 180}"/>
        <geom name="hand" type="capsule" fromto="0 0 0 {LINK - FINGER_RADIUS} 0 0" size="0.01"
              rgba="0.9 0.7 0.4 1"/>
        <geom name="finger" type="sphere" pos="{LINK} 0 0" size="{FINGER_RADIUS}" rgba="0.3 0.3 0.9 1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor joint="shoulder"/>
    <motor joint="wrist"/>
  </actuator>
</mujoco>
"""


def finger_position(qpos: np.ndarray) -> np.ndarray:
    """Planar forward kinematics of the finger (x, y) for joint angles (shoulder, wrist)."""
    a, b = qpos[0], qpos[0] + qpos[1]
    return LINK * np.array([np.cos(a) + np.cos(b), np.sin(a) + np.sin(b)])


def inverse_kinematics(point: np.ndarray) -> list[np.ndarray]:
    """Both (shoulder, wrist) solutions that put the finger at ``point``."""
    r2 = float(point @ point)
    cos_q2 = np.clip((r2 - 2 * LINK**2) / (2 * LINK**2), -1, 1)
    out = []
    for q2 in (np.arccos(cos_q2), -np.arccos(cos_q2)):
        q1 = np.arctan2(point[1], point[0]) - np.arctan2(LINK * np.sin(q2), LINK * (1 + np.cos(q2)))
        out.append(np.array([q1, q2]))
    return out


class ReacherEnv(MujocoImageEnv):
    """LS3's image reacher with an obstacle (module docstring)."""

    def __init__(self, image_size: int = 64, horizon: int = HORIZON, frames: int = 3) -> None:
        super().__init__(MJCF, image_size, camera="fixed")
        self.horizon, self.frames = horizon, frames
        self.observation_space = gym.spaces.Box(0, 255, (3 * frames, image_size, image_size), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def _obs(self) -> np.ndarray:
        return np.concatenate(self._stack)

    def _state(self) -> dict[str, np.ndarray]:
        return {"qpos": self.data.qpos.copy(), "qvel": self.data.qvel.copy(), "finger": self.finger()}

    def finger(self) -> np.ndarray:
        return self.data.geom("finger").xpos[:2].copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = START_QPOS
        self.mujoco.mj_forward(self.model, self.data)
        self.t, self.frozen = 0, False
        self._stack = [self.camera_frame()] * self.frames
        return self._obs(), self._state()

    def step(self, action):
        a = finite_action(self, action)
        a = np.zeros(2) if self.frozen else np.clip(a, -1, 1) / 2
        reward = 0.0 if np.linalg.norm(self.finger() - TARGET) <= TARGET_RADIUS + FINGER_RADIUS else -1.0
        self.data.ctrl[:] = a
        self.mujoco.mj_step(self.model, self.data)
        self.t += 1
        violation = bool(np.linalg.norm(self.finger() - OBSTACLE) <= OBSTACLE_RADIUS + FINGER_RADIUS)
        if violation:
            self.frozen = True
        self._stack = [*self._stack[1:], self.camera_frame()]
        info = {"constraint": float(violation), "success": float(reward == 0.0), **self._state()}
        return self._obs(), reward, False, self.t >= self.horizon, info

    def teacher(self, kind: str, rng: np.random.Generator):
        """A fresh teacher policy ``(info, t) -> action`` for one episode (``demo``, ``constraint`` or
        ``random``, the official StrangeTeacher's smoothed random walk) and its reset options."""
        if kind == "demo":
            return (lambda info, t: reacher_teacher_action(info, t, rng)), {}
        if kind == "constraint":
            return ReacherConstraintTeacher(rng), {}
        if kind == "random":
            return RandomWalkTeacher(rng), {}
        raise ValueError(f"reacher has no {kind!r} teacher (demo, constraint, random)")



def _p_control(qpos: np.ndarray, qvel: np.ndarray, goal: np.ndarray) -> np.ndarray:
    error = (goal - qpos + np.pi) % (2 * np.pi) - np.pi
    error[1] = goal[1] - qpos[1]                               # the wrist is limited: no wrap-around
    return np.clip(KP * error - KD * qvel, -1, 1)


def reacher_teacher_action(state: dict[str, np.ndarray], t: int, rng: np.random.Generator,
                           noise: float = TEACHER_NOISE) -> np.ndarray:
    """The demo teacher: to (pi, 0) for t < 40, then to (0.75 pi, 0); Gaussian action noise."""
    goal = np.array([np.pi, 0.0]) if t < 40 else np.array([0.75 * np.pi, 0.0])
    action = _p_control(state["qpos"], state["qvel"], goal)
    return np.clip(action + noise * rng.standard_normal(2), -1, 1)


class ReacherConstraintTeacher:
    """P-control to the nearer joint configuration that puts the finger on the obstacle; noisy."""

    def __init__(self, rng: np.random.Generator, noise: float = TEACHER_NOISE) -> None:
        self.rng, self.noise = rng, noise
        self.goals = inverse_kinematics(OBSTACLE)

    def __call__(self, state: dict[str, np.ndarray], t: int) -> np.ndarray:
        q = state["qpos"]
        goal = min(self.goals, key=lambda g: np.linalg.norm((g - q + np.pi) % (2 * np.pi) - np.pi))
        return np.clip(_p_control(q, state["qvel"], goal) + self.noise * self.rng.standard_normal(2), -1, 1)


class RandomWalkTeacher:
    """Interaction data: a smoothed random walk in action space, a <- clip(0.8 a + 0.4 U(-1, 1), -1, 1)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.action = rng, np.zeros(2)

    def __call__(self, state: dict[str, np.ndarray], t: int) -> np.ndarray:
        self.action = np.clip(0.8 * self.action + 0.4 * self.rng.uniform(-1, 1, 2), -1, 1)
        return self.action.copy()
