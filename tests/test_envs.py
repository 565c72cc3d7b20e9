"""Every registered ``rlkit/<Name>-v0`` env: ``gymnasium.make`` in a fresh interpreter, the
gymnasium checker, and a clear error on a non-finite action."""

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401  (registers the ids)

IDS = sorted(i for i in gym.registry if i.startswith("rlkit/"))
# small instances of the heavier envs (the checker steps each env a few times)
KWARGS = {"rlkit/LS3Navigation-v0": {"image_size": 32}}


def test_every_id_is_made_in_a_fresh_interpreter():
    code = ("import json, gymnasium as gym, rlkit.envs\n"
            "ids = sorted(i for i in gym.registry if i.startswith('rlkit/'))\n"
            "for i in ids:\n    gym.make(i).close()\n"
            "print(json.dumps(ids))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == IDS
    assert len(IDS) == 15


def _make(env_id):
    return gym.make(env_id, **KWARGS.get(env_id, {}))


@pytest.mark.parametrize("env_id", IDS)
def test_env_passes_check_env(env_id):
    env = _make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_non_finite_action_is_rejected_with_the_env_name(env_id):
    env = _make(env_id)
    env.reset(seed=0)
    space = env.action_space
    shape = space.shape if isinstance(space, gym.spaces.Box) else ()
    name = type(env.unwrapped).__name__
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match=f"{name}.step got a non-finite action"):
            env.step(np.full(shape, bad))
    obs, reward, *_ = env.step(space.sample())          # the env is still usable and finite
    assert np.isfinite(reward)
    if isinstance(obs, np.ndarray) and obs.dtype.kind == "f":
        assert np.isfinite(obs).all()
    env.close()
