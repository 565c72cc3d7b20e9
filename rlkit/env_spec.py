"""Env specs and vector-env factories: a picklable env spec, and vector envs with explicit autoreset.

The core registers no env. The toolkit's envs register as ``rlkit/<Name>-v0`` when
``rlkit.envs`` is imported; a spec may name the module to import with gymnasium's
``module:id`` form (``rlkit.envs:rlkit/QP-v0``, what ``conf/env`` uses), so that the core never
imports the env package itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import concatenate, iterate


@dataclass(frozen=True)
class EnvSpec:
    """A gymnasium id (or ``module:id``) plus keyword arguments.

    ``eval_kwargs`` override ``kwargs`` in the evaluation env (``for_eval()``): a held-out split
    such as unseen MiniGrid layouts or a shifted market regime. ``dataset`` names the offline data
    of offline algorithms (``rlkit.data.load_dataset``: ``d4rl:``, ``minari:``, ``local:`` or a path);
    ``dataset_builder`` the dotted path of the function that generates a missing ``local:`` file.
    """

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    eval_kwargs: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    dataset_builder: str | None = None

    def for_eval(self) -> EnvSpec:
        return EnvSpec(self.id, {**self.kwargs, **self.eval_kwargs}, dataset=self.dataset,
                       dataset_builder=self.dataset_builder)

    def make(self) -> gym.Env:
        try:
            return gym.make(self.id, **self.kwargs)
        except gym.error.Error as err:
            hint = ("`import rlkit.envs` first, or write the id as 'rlkit.envs:" + self.id + "'"
                    if self.id.startswith("rlkit/") else "check env.id in the env config")
            raise gym.error.Error(f"env id {self.id!r} could not be made ({err}); {hint}") from err


EnvLike = str | EnvSpec | Callable[[], gym.Env]


def env_spec_from_config(env_cfg: dict[str, Any]) -> EnvSpec:
    """The :class:`EnvSpec` of a resolved ``conf/env/<name>.yaml`` (``id``, ``kwargs``,
    ``eval_kwargs``, ``dataset``, ``dataset_builder``)."""
    return EnvSpec(env_cfg["id"], dict(env_cfg.get("kwargs") or {}), dict(env_cfg.get("eval_kwargs") or {}),
                   env_cfg.get("dataset"), env_cfg.get("dataset_builder"))


def env_factory(env: EnvLike) -> Callable[[], gym.Env]:
    """Normalise a gymnasium id, an :class:`EnvSpec` or a zero-argument callable to a factory."""
    if isinstance(env, str):
        return EnvSpec(env).make
    if isinstance(env, EnvSpec):
        return env.make
    if callable(env):
        return env
    raise TypeError(f"env must be a gymnasium id, an EnvSpec or a callable, got {type(env)}")


def eval_env_factory(env: EnvLike) -> Callable[[], gym.Env]:
    """The factory of the evaluation env: :meth:`EnvSpec.for_eval` for a spec, else the same env."""
    return env.for_eval().make if isinstance(env, EnvSpec) else env_factory(env)


ARRAY_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


class SameStepVectorEnv(gym.vector.SyncVectorEnv):
    """``gym.vector.SyncVectorEnv`` in SAME_STEP autoreset mode with a leaner ``step``.

    The same observations, rewards, flags and infos as the parent (tested step by step), without
    its per-env autoreset-mode dispatch, generic action iteration for array action spaces, info
    merges of empty infos and ``deepcopy`` of array observations: ~15 us less per call for 8
    sub-envs, which is ~7% of a MiniGrid PPO rollout.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], **kwargs: Any) -> None:
        super().__init__(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP, **kwargs)
        self._array_actions = isinstance(self.single_action_space, ARRAY_SPACES)

    def step(self, actions: Any):
        if not self._array_actions:
            actions = list(iterate(self.action_space, actions))
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(actions[i])
            self._rewards[i], self._terminations[i], self._truncations[i] = reward, terminated, truncated
            if terminated or truncated:
                infos = self._add_info(infos, {"final_obs": obs, "final_info": info}, i)
                obs, info = env.reset()
            self._env_obs[i] = obs
            if info:
                infos = self._add_info(infos, info, i)
        self._observations = concatenate(self.single_observation_space, self._env_obs, self._observations)
        self._autoreset_envs = self._terminations | self._truncations
        obs = self._observations
        if self.copy:
            obs = obs.copy() if isinstance(obs, np.ndarray) else deepcopy(obs)
        return obs, self._rewards.copy(), self._terminations.copy(), self._truncations.copy(), infos


def make_vector_env(env: EnvLike, num_envs: int, seed: int) -> gym.vector.SyncVectorEnv:
    """A synchronous vector env in SAME_STEP autoreset mode, reset with ``seed``.

    SAME_STEP: when a sub-env ends, ``step`` returns the *reset* observation and puts the true
    final observation in ``info["final_obs"]`` (mask ``info["_final_obs"]``). Buffers store
    ``(obs, action, reward, final_obs)`` for that step, so no stored transition ever crosses an
    episode boundary.
    """
    fn = env_factory(env)
    venv = SameStepVectorEnv([fn] * num_envs)
    venv.reset(seed=seed)
    venv.action_space.seed(seed)
    return venv


def true_next_obs(next_obs, infos: dict[str, Any]):
    """Replace the reset observations of ended sub-envs by their final observations."""
    if "_final_obs" not in infos:
        return next_obs
    out = next_obs.copy()
    for i in infos["_final_obs"].nonzero()[0]:
        out[i] = infos["final_obs"][i]
    return out
