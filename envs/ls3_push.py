"""LS3's sequential pushing task (LS3 paper Sec. 5) on the ``mujoco`` bindings.

Three blocks stand in a row on a table (centres x in {-0.05, 0, 0.05}, y = -0.03). A position-
controlled pusher moves in the table plane: each action (dx, dy) in [-0.05, 0.05]^2 shifts the
position target (clipped to +-0.4), and the controller interpolates the target linearly over 500
physics substeps of 0.005 s (Euler, 50 solver iterations, 2 no-slip iterations). Reward -1 per step
until every block has |y| > 0.075 and |x| < 0.2, then 0; ``info["constraint"]``: some block has
|z| > 0.2 (it fell off the table), which also makes the reward -1. 150 steps, no early termination.
Observation: 64 x 64 RGB from ``maincam`` (fovy 32 at (0, -0.65, 0.75), tilted 0.7 rad), uint8 [3, S, S].

Differences from the official cartgripper (its MJCF is not in the released code): the
gripper's rotation and finger joints, which the released action map always holds at their targets,
are left out, so the pusher is a rigid jaw on x/y/z slides (position actuators kp 200, damping 30;
z held fixed); blocks are 0.04 x 0.04 x 0.06 (the paper's 0.08 x 0.08 would overlap at 0.05 spacing),
mass 0.5, friction 0.6; the table has no border lips (blocks pushed past an edge fall); the demo
aligns to within 5 mm rather than 1 mm (with the official 0.004 action noise a 1 mm tolerance is
rarely met); images are not flipped (mujoco-py rendered upside down, the modern renderer does not).

Teachers: :func:`push_teacher` (per block: align x, push in -y at 0.05 per step until the block's
|y| >= 0.1, retract to y >= 0.04, next block; then small random actions; noise std 0.004) and
:class:`OutburstTeacher` (constant (0, -0.02) push with bursts of uniform actions that start with
probability 0.2 and stop with probability 0.1 per step: blocks fall off the table).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action
from rlkit.envs.mujoco_image import MujocoImageEnv

BLOCK_X, BLOCK_Y, BLOCK_HALF = (-0.05, 0.0, 0.05), -0.03, (0.02, 0.02, 0.03)
START, MAX_STEP, BOUND, SUBSTEPS, HORIZON = np.array([0.0, 0.06]), 0.05, 0.4, 500, 150
PUSHER_HALF, ALIGN = (0.02, 0.005, 0.025), 0.005

_BLOCKS = "\n".join(f"""
    <body name="block{i}" pos="{x} {BLOCK_Y} {BLOCK_HALF[2]}">
      <freejoint/>
      <geom type="box" size="{BLOCK_HALF[0]} {BLOCK_HALF[1]} {BLOCK_HALF[2]}" mass="0.5" friction="0.6"
            rgba="{rgba}"/>
    </body>""" for i, (x, rgba) in enumerate(zip(BLOCK_X, ("0.9 0.2 0.2 1", "0.2 0.3 0.9 1", "0.9 0.8 0.1 1"),
                                                 strict=True)))

MJCF = f"""
<mujoco model="ls3_push">
  <worldbody>
    <light pos="0 -0.3 1.2" dir="0 0.2 -1"/>
    <camera name="maincam" pos="0 -0.65 0.75" euler="0.7 0 0" fovy="32"/>
    <geom name="floor" type="plane" pos="0 0 -0.4" size="2 2 0.1" rgba="0.2 0.2 0.2 1"/>
    <geom name="table" type="box" pos="0 0 -0.02" size="0.3 0.2 0.02" rgba="0.3 0.6 0.3 1"/>
    <body name="pusher" pos="0 0 {PUSHER_HALF[2] + 0.005}">
      <joint name="px" type="slide" axis="1 0 0" damping="30"/>
      <joint name="py" type="slide" axis="0 1 0" damping="30"/>
      <joint name="pz" type="slide" axis="0 0 1" damping="30"/>
      <geom name="jaw" type="box" size="{PUSHER_HALF[0]} {PUSHER_HALF[1]} {PUSHER_HALF[2]}" mass="1"
            rgba="0.7 0.7 0.7 1"/>
    </body>{_BLOCKS}
  </worldbody>
  <actuator>
    <position joint="px" kp="200" ctrlrange="-{BOUND} {BOUND}" ctrllimited="true"/>
    <position joint="py" kp="200" ctrlrange="-{BOUND} {BOUND}" ctrllimited="true"/>
    <position joint="pz" kp="2000"/>
  </actuator>
</mujoco>
"""


class PushEnv(MujocoImageEnv):
    """LS3's three-block pushing task (module docstring)."""

    def __init__(self, image_size: int = 64, horizon: int = HORIZON, substeps: int = SUBSTEPS) -> None:
        super().__init__(MJCF, image_size, camera="maincam")
        self.horizon, self.substeps = horizon, substeps
        self.observation_space = gym.spaces.Box(0, 255, (3, image_size, image_size), np.uint8)
        self.action_space = gym.spaces.Box(-MAX_STEP, MAX_STEP, (2,), np.float32)

    def pusher(self) -> np.ndarray:
        return self.data.qpos[:2].copy()

    def blocks(self) -> np.ndarray:
        """Block centres [3, 3] (x, y, z)."""
        return np.stack([self.data.body(f"block{i}").xpos.copy() for i in range(3)])

    def _info(self) -> dict[str, Any]:
        return {"pusher": self.pusher(), "blocks": self.blocks()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:2] = START
        self.target = START.copy()
        self.data.ctrl[:2] = self.target
        self.mujoco.mj_forward(self.model, self.data)
        self.t = 0
        return self.camera_frame(), self._info()

    def step(self, action):
        previous = self.target
        self.target = np.clip(previous + np.clip(finite_action(self, action), -MAX_STEP, MAX_STEP),
                              -BOUND, BOUND)
        for k in range(self.substeps):
            alpha = k / (self.substeps - 1)
            self.data.ctrl[:2] = alpha * self.target + (1 - alpha) * previous
            self.mujoco.mj_step(self.model, self.data)
        self.t += 1
        blocks = self.blocks()
        constraint = bool((np.abs(blocks[:, 2]) > 0.2).any())
        done = bool(((np.abs(blocks[:, 1]) > 0.075) & (np.abs(blocks[:, 0]) < 0.2)).all())
        reward = 0.0 if done and not constraint else -1.0
        info = {"constraint": float(constraint), "success": float(reward == 0.0), **self._info()}
        return self.camera_frame(), reward, False, self.t >= self.horizon, info

    def teacher(self, kind: str, rng: np.random.Generator):
        """A fresh teacher policy ``(info, t) -> action`` for one episode (``demo`` or ``constraint``,
        the official "outburst" data) and its reset options."""
        if kind == "demo":
            return PushTeacher(rng), {}
        if kind == "constraint":
            return OutburstTeacher(rng), {}
        raise ValueError(f"pushing has no {kind!r} teacher (demo, constraint)")



class PushTeacher:
    """The scripted demo: block by block, align x, push -y until |y_block| >= 0.1, retract (module
    docstring); Gaussian action noise ``noise``."""

    def __init__(self, rng: np.random.Generator, noise: float = 0.004) -> None:
        self.rng, self.noise, self.block = rng, noise, 0

    def __call__(self, info: dict[str, Any], t: int) -> np.ndarray:
        action = np.zeros(2)
        if self.block < 3:
            pusher, block = info["pusher"], info["blocks"][self.block]
            if abs(block[1]) < 0.1:
                if abs(block[0] - pusher[0]) > ALIGN and pusher[1] >= 0.04:
                    action[0] = block[0] - pusher[0]            # align (only while clear of the blocks)
                elif abs(block[0] - pusher[0]) > ALIGN:
                    action[1] = MAX_STEP                         # back off before moving sideways
                else:
                    action[1] = -MAX_STEP                        # push
            elif pusher[1] < 0.04:
                action[1] = MAX_STEP                             # retract
            else:
                self.block += 1
        noise = self.noise if self.block < 3 else 5 * self.noise
        return np.clip(action + noise * self.rng.standard_normal(2), -MAX_STEP, MAX_STEP)


class OutburstTeacher:
    """Constraint data: a constant (0, -0.02) push with bursts of uniform random actions."""

    def __init__(self, rng: np.random.Generator, start: float = 0.2, stop: float = 0.1) -> None:
        self.rng, self.start, self.stop, self.bursting = rng, start, stop, False

    def __call__(self, info: dict[str, Any], t: int) -> np.ndarray:
        self.bursting = self.rng.random() >= self.stop if self.bursting else self.rng.random() < self.start
        if self.bursting:
            return self.rng.uniform(-MAX_STEP, MAX_STEP, 2)
        return np.array([0.0, -0.02])

