"""Shared base of the MuJoCo image envs (LS3's reacher and pushing): model and data from an MJCF
string, and a lazily created offscreen renderer that fails with a clear message on a headless
machine without an OpenGL backend (``MUJOCO_GL=egl`` or ``osmesa``; envs/__init__.py defaults to egl).
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np


class MujocoImageEnv(gym.Env):
    """``self.model`` / ``self.data`` from ``mjcf``; ``camera_frame`` returns uint8 [3, S, S]."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, mjcf: str, image_size: int, camera: str) -> None:
        import mujoco

        self.mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(mjcf)
        self.data = mujoco.MjData(self.model)
        self.image_size, self.camera = image_size, camera
        self.render_mode = "rgb_array"
        self._renderer = None

    def camera_frame(self) -> np.ndarray:
        if self._renderer is None:
            try:
                self._renderer = self.mujoco.Renderer(self.model, self.image_size, self.image_size)
            except Exception as err:
                raise RuntimeError(f"MuJoCo offscreen rendering failed ({err}); on a headless machine set "
                                   f"MUJOCO_GL=egl (or osmesa) before anything imports mujoco "
                                   f"(now MUJOCO_GL={os.environ.get('MUJOCO_GL')!r})") from err
        self._renderer.update_scene(self.data, camera=self.camera)
        return self._renderer.render().transpose(2, 0, 1).copy()

    def render(self) -> np.ndarray:
        return self.camera_frame().transpose(1, 2, 0)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
