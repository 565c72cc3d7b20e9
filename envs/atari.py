"""Atari with the DeepMind preprocessing of EPPO's released setup (``exp/atari_local.yml``).

The released code uses ``<Game>NoFrameskip-v4`` with no-op starts (<= 30), max-and-skip 4,
episodic life, FIRE on reset, 84x84 grey frames, reward clipping and a 4-frame stack, and 108,000
steps per episode at most. Here: ``ALE/<Game>-v5`` with ``frameskip=1`` and
``repeat_action_probability=0`` (the v4 NoFrameskip dynamics) and gymnasium's
``AtariPreprocessing``. One difference: gymnasium's ``terminal_on_life_loss`` ends the episode
(and resets the game) on a life loss, where DeepMind's EpisodicLife wrapper only signals a
terminal to the learner and keeps playing. Evaluation turns life loss and reward clipping off, as
the released evaluation does. ROMs ship in the ``ale-py`` wheel (``pip install rlkit-offmeta[atari]``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import FiniteActions


class FireReset(gym.Wrapper):
    """Press FIRE after every reset in games that need it to start (Breakout, Pong, ...)."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(options=options)
        return obs, info


def make_atari(game: str = "Pong", frame_stack: int = 4, noop_max: int = 30, episodic_life: bool = True,
               clip_reward: bool = True, max_episode_steps: int = 108_000) -> gym.Env:
    """``ALE/<game>-v5`` with the DeepMind preprocessing; observations uint8 [frame_stack, 84, 84]."""
    try:
        import ale_py
    except ImportError as err:
        raise ImportError("Atari envs need ale-py (ROMs included): pip install 'rlkit-offmeta[atari]'") from err
    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0,
                   max_episode_steps=max_episode_steps)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=4, screen_size=84,
                                          terminal_on_life_loss=episodic_life, grayscale_obs=True)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    if clip_reward:
        env = gym.wrappers.TransformReward(env, np.sign)
    return FiniteActions(gym.wrappers.FrameStackObservation(env, frame_stack))
