import os
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rlkit.env_spec import make_vector_env
from rlkit.env_state import env_state, load_env_state
from rlkit.seeding import rng_state, seed_everything, set_rng_state


def test_checkpoint_round_trip_and_no_temp_files_left(tmp_path):
    state = {"w": torch.arange(3.0), "step": 7, "nested": {"s": "x", "l": [1, 2.5]}}
    save_checkpoint(state, tmp_path / "ck" / "last.pt")
    out = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert torch.equal(out["w"], state["w"]) and out["nested"] == state["nested"]
    assert os.listdir(tmp_path / "ck") == ["last.pt"]


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_loading_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"x": Evil()}, f)
    with pytest.raises(CheckpointError, match="could not be loaded safely"):
        load_checkpoint(path)


def test_missing_checkpoint_names_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


def test_global_rng_state_round_trip(tmp_path):
    seed_everything(3)
    state = rng_state()
    save_checkpoint(state, tmp_path / "rng.pt")
    a = (np.random.rand(), torch.rand(1).item(), __import__("random").random())
    set_rng_state(load_checkpoint(tmp_path / "rng.pt"))
    assert (np.random.rand(), torch.rand(1).item(), __import__("random").random()) == a


def _rollout(env, actions):
    out = []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append((np.asarray(obs).copy(), np.asarray(r).copy(), np.asarray(term | trunc)))
    return out


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Hopper-v5"])
def test_vector_env_state_restores_the_exact_future(tmp_path, env_id):
    envs = make_vector_env(env_id, 2, seed=0)
    actions = [envs.action_space.sample() for _ in range(300)]
    _rollout(envs, actions[:40])
    save_checkpoint({"env": env_state(envs)}, tmp_path / "env.pt")
    expected = _rollout(envs, actions[40:])
    fresh = make_vector_env(env_id, 2, seed=123)
    load_env_state(fresh, load_checkpoint(tmp_path / "env.pt")["env"])
    got = _rollout(fresh, actions[40:])
    assert any(d.any() for _, _, d in expected), "the rollout should cross an episode end"
    for (o1, r1, d1), (o2, r2, d2) in zip(expected, got, strict=True):
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)


def test_env_state_mismatch_is_an_error():
    a = make_vector_env("CartPole-v1", 2, seed=0)
    b = make_vector_env("CartPole-v1", 3, seed=0)
    with pytest.raises(ValueError, match="same env configuration"):
        load_env_state(b, env_state(a))


def test_point_goal_env_passes_the_gymnasium_checker():
    from gymnasium.utils.env_checker import check_env

    import rlkit.envs  # noqa: F401

    check_env(gym.make("rlkit/PointGoal-v0").unwrapped)


def test_env_state_restores_into_an_env_whose_generator_does_not_exist_yet(tmp_path):
    """A freshly built env that was never reset has no np_random yet (gymnasium creates it lazily);
    restoring a saved generator must create it, not fail (C-Planning's evaluation env on resume)."""
    from rlkit.envs.point_maze import PointMazeEnv

    env = PointMazeEnv()
    env.reset(seed=3)
    env.step(env.action_space.sample())
    save_checkpoint({"env": env_state(env)}, tmp_path / "e.pt")
    expected = [env.step(np.array([0.5, -0.2], np.float32))[0] for _ in range(5)]
    fresh = PointMazeEnv()
    assert fresh._np_random is None
    load_env_state(fresh, load_checkpoint(tmp_path / "e.pt")["env"])
    assert isinstance(fresh._np_random, np.random.Generator)
    got = [fresh.step(np.array([0.5, -0.2], np.float32))[0] for _ in range(5)]
    assert np.array_equal(np.array(got), np.array(expected))
