"""One harness every algorithm passes (the Algorithm contract in docs/architecture.md).

A new algorithm adds one line to CASES: a factory ``seed -> algorithm`` with tiny settings, and
the env its ``act`` serves (a gymnasium id or a zero-argument factory; None for RLQP's
variable-size rows).
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import _modules
from rlkit.algos.boot import BooT, BooTConfig
from rlkit.algos.cplanning import CPlanning, CPlanningConfig
from rlkit.algos.eppo import EPPO, EPPOConfig
from rlkit.algos.htr import PEARL, PEARLConfig
from rlkit.algos.ls3 import LS3, LS3Config
from rlkit.algos.rlqp import RLQP, RLQPConfig
from rlkit.checkpoint import load_checkpoint, save_checkpoint
from rlkit.env_spec import EnvSpec
from rlkit.envs.ls3_navigation import NavigationEnv
from rlkit.envs.point_robot import SparsePointRobotEnv
from rlkit.envs.qp.env import QPEnv
from rlkit.precision import PRECISIONS, autocast
from rlkit.rl.ppo import PPO, PPOConfig
from rlkit.rl.sac import SAC, SACConfig
from rlkit.rl.td3 import TD3, TD3Config
from rlkit.seeding import rng_state, seed_everything, set_rng_state

LS3_TINY = dict(n_demos=2, n_constraint=2, vae_arch="small", vae_iters=4, vae_batch=16, latent_dim=4,
                dyn_hidden=(16,), val_hidden=(16,), head_hidden=(16,), val_members=2, dyn_members=3,
                dyn_pretrain=3, val_mc_pretrain=3, val_td_pretrain=3, safe_pretrain=3, constr_pretrain=3,
                goal_pretrain=3, dyn_updates=2, val_updates=2, safe_updates=2, constr_updates=2,
                goal_updates=2, episodes_per_iter=1, population=16, elites=4, particles=2, iterations=3,
                batch_size=16)
ROOT = Path(__file__).resolve().parents[1]
TINY_OFF = dict(learning_starts=3, batch_size=8, hidden=(16, 16), buffer_size=200)

CASES = {
    "ppo": (lambda s: PPO(PPOConfig(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1,
                                    hidden=(16,)), "CartPole-v1", seed=s), "CartPole-v1"),
    "ppo_continuous": (lambda s: PPO(PPOConfig(num_envs=2, num_steps=8, num_minibatches=2,
                                               update_epochs=1, hidden=(16,)), "Pendulum-v1",
                                     seed=s), "Pendulum-v1"),
    "eppo": (lambda s: EPPO(EPPOConfig(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1,
                                       hidden=(16,), num_policies=3), "CartPole-v1", seed=s), "CartPole-v1"),
    "eppo_continuous": (lambda s: EPPO(EPPOConfig(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1,
                                                  hidden=(16,), num_policies=3), "Pendulum-v1", seed=s),
                        "Pendulum-v1"),
    "htr": (lambda s: PEARL(PEARLConfig(net_size=16, net_layers=2, encoder_hidden=(16,), meta_batch=4,
                                        num_initial_steps=20, num_tasks_sample=2, num_steps_prior=20,
                                        num_steps_posterior=20, num_train_steps_per_itr=2, batch_size=8,
                                        embedding_batch_size=8, num_exp_traj_eval=1, num_steps_per_eval=40,
                                        buffer_size=2000, critic_reward="sparse", relabel_prob=0.5),
                            lambda: SparsePointRobotEnv(num_tasks=10, num_train_tasks=6), seed=s),
            "rlkit/SparsePointRobot-v0"),
    "cplanning": (lambda s: CPlanning(CPlanningConfig(hidden=(16,), batch_size=16, random_steps=20,
                                                      planning_start=20, num_nodes=10, min_prob=0.01),
                                      "rlkit/PointMaze-v0", seed=s), "rlkit/PointMaze-v0"),
    "boot": (lambda s: BooT(BooTConfig(n_layer=1, n_head=2, n_embd=8, batch_size=16, n_bins=20, beam_width=4,
                                       horizon=2, eval_max_steps=3, generation_num=4,
                                       generation_epoch_thresh=0.0, generation_confidence_factor=0.25,
                                       bootstrap_type="repeat"),
                            PENDULUM_MIXED, seed=s), "Pendulum-v1"),
    "sac": (lambda s: SAC(SACConfig(**TINY_OFF), "Pendulum-v1", seed=s), "Pendulum-v1"),
    "td3": (lambda s: TD3(TD3Config(**TINY_OFF), "Pendulum-v1", seed=s), "Pendulum-v1"),
    # RLQP acts on encoded constraint rows, not on a fixed observation space: env id None
    "rlqp": (lambda s: RLQP(RLQPConfig(random_episodes=1, updates_per_step=1.0, batch_size=16,
                                       hidden=(16,), eval_per_class=1),
                            lambda: QPEnv({"random_qp": (5, 6)}, max_steps=4), seed=s), None),
    "ls3": (lambda s: LS3(LS3Config(**LS3_TINY), lambda: NavigationEnv(16, horizon=10), seed=s),
            lambda: NavigationEnv(16, horizon=10)),
}

PENDULUM_MIXED = EnvSpec("Pendulum-v1", dataset="local:pendulum_mixed",
                         dataset_builder="rlkit.dataset_builders.pendulum_mixed")


def _make(name, seed):
    seed_everything(seed)
    return CASES[name][0](seed)


def _env(name):
    env = CASES[name][1]
    return gym.make(env) if isinstance(env, str) else env()


def _steps(algo, n):
    return [algo.train_step() for _ in range(n)]


@pytest.mark.parametrize("name", CASES)
def test_train_step_returns_finite_named_floats(name):
    algo = _make(name, 0)
    metrics = _steps(algo, 6)[-1]
    assert metrics and all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert all("/" in k for k in metrics)
    assert any(k.startswith("loss/") for k in metrics)


@pytest.mark.parametrize("name", CASES)
def test_act_returns_actions_in_the_action_space(name):
    if CASES[name][1] is None:
        pytest.skip("no fixed observation space (tested in the algorithm's own tests)")
    algo = _make(name, 0)
    env = _env(name)
    obs, _ = env.reset(seed=0)
    for det in (True, False):
        assert env.action_space.contains(np.asarray(algo.act(obs, deterministic=det),
                                                    dtype=env.action_space.dtype))
    batch = algo.act(np.stack([obs, obs]))
    assert len(batch) == 2


@pytest.mark.parametrize("name", CASES)
def test_evaluate_reports_return_and_length_and_repeats_itself(name):
    algo = _make(name, 0)
    _steps(algo, 2)
    out = _untimed(algo.evaluate(1))
    assert {"eval/return", "eval/length"} <= set(out)
    assert _untimed(algo.evaluate(1)) == out            # the same call returns the same numbers
    assert set(_untimed(algo.evaluate(1, seed=123))) == set(out)   # another evaluation seed


def test_success_is_reported_only_by_envs_that_define_it():
    assert "eval/success" not in _make("ppo", 0).evaluate(1)               # CartPole: no success
    assert "eval/success" in _make("cplanning", 0).evaluate(1)             # goal reaching


def _untimed(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.startswith("time/")}


def fingerprint(name: str) -> str:
    """Three train steps and an evaluation of a fresh agent, without any global seeding."""
    algo = CASES[name][0](7)
    return json.dumps([[_untimed(m) for m in _steps(algo, 3)], _untimed(algo.evaluate(1))], sort_keys=True)


def test_an_agent_is_determined_by_its_seed_alone_across_processes():
    """Another interpreter (its torch global generator seeded differently) builds the same agents:
    the same losses and evaluations, with no seed_everything anywhere; and no agent moves the
    global torch generator."""
    code = ("import json, sys, torch; torch.set_num_threads(1); sys.path.insert(0, 'tests')\n"
            "import test_contract as t\n"
            "print(json.dumps({n: t.fingerprint(n) for n in t.CASES}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    torch.manual_seed(12345)
    before = torch.get_rng_state()
    ours = {n: fingerprint(n) for n in CASES}
    for name in CASES:
        assert ours[name] == theirs[name], name
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("name", CASES)
def test_state_dict_round_trip_continues_identically(name, tmp_path):
    algo = _make(name, 0)
    _steps(algo, 4)
    save_checkpoint({"algo": algo.state_dict(), "rng": rng_state()}, tmp_path / "c.pt")
    expected = _steps(algo, 4)
    other = _make(name, 1)                      # different seed: everything must come from the file
    state = load_checkpoint(tmp_path / "c.pt")
    other.load_state_dict(state["algo"])
    set_rng_state(state["rng"])
    assert _steps(other, 4) == expected


@pytest.mark.parametrize("name", [n for n in CASES if n != "rlqp"])
def test_bf16_trains_with_fp32_weights_and_optimizer_states(name):
    """Under precision=bf16 (rlkit.precision) training and evaluation run with finite metrics, the
    losses differ from fp32's (the matrix products did run in bfloat16), and every weight, gradient
    and optimizer state stays fp32."""
    fp32_losses = {k: v for k, v in _steps(_make(name, 0), 6)[-1].items() if k.startswith("loss/")}
    algo = _make(name, 0)
    with autocast("bf16", "cpu"):
        metrics = _steps(algo, 6)[-1]
        evaluation = algo.evaluate(1)
    assert all(math.isfinite(v) for v in [*metrics.values(), *evaluation.values()])
    assert {k: v for k, v in metrics.items() if k.startswith("loss/")} != fp32_losses
    for module in _modules(algo).values():
        for p in module.parameters():
            assert p.dtype == torch.float32 and (p.grad is None or p.grad.dtype == torch.float32)
    states = [t for opt in _optimizers(algo) for st in opt.state.values() for t in st.values()
              if isinstance(t, torch.Tensor) and t.is_floating_point()]
    assert states and all(t.dtype == torch.float32 for t in states)


def test_rlqp_supports_fp32_only():
    assert RLQP.precisions == ("fp32",) and PPO.precisions == PRECISIONS


def _optimizers(obj, depth: int = 3) -> list[torch.optim.Optimizer]:
    """The optimizers an agent holds (its attributes, and up to two levels below)."""
    found = []
    for value in vars(obj).values():
        if isinstance(value, torch.optim.Optimizer):
            found.append(value)
        elif isinstance(value, dict):
            found += [v for v in value.values() if isinstance(v, torch.optim.Optimizer)]
        elif depth > 1 and hasattr(value, "__dict__") and type(value).__module__.startswith("rlkit."):
            found += _optimizers(value, depth - 1)
    return found


@pytest.mark.parametrize("name", CASES)
def test_same_seed_gives_identical_losses_and_actions(name):
    a, b = _make(name, 5), _make(name, 5)
    seed_everything(5)
    ma = _steps(a, 5)
    seed_everything(5)
    mb = _steps(b, 5)
    assert ma == mb
    shape = (3, 4) if CASES[name][1] is None else _env(name).observation_space.shape
    obs = np.zeros(shape, np.float32)
    assert np.array_equal(a.act(obs), b.act(obs))


@pytest.mark.parametrize("name", CASES)
def test_evaluation_never_consumes_training_randomness(name):
    """A dedicated evaluation env and generator: evaluating between train steps leaves the
    training identical, and the same evaluation call sequence gives the same numbers."""
    a, b = _make(name, 3), _make(name, 3)
    seed_everything(3)
    plain = _steps(a, 3) + _steps(a, 3)
    seed_everything(3)
    first = _steps(b, 3)
    b.evaluate(1)
    assert first + _steps(b, 3) == plain


@pytest.mark.parametrize("name", CASES)
def test_save_and_load_rebuild_an_agent_that_acts_the_same(name, tmp_path):
    algo = _make(name, 4)
    _steps(algo, 2)
    path = algo.save(tmp_path / "agent.pt")
    raw = torch.load(path, weights_only=True)                 # plain data only
    assert raw["format"] == "rlkit-agent/1" and "buffer" not in str(list(raw["policy"]["modules"]))
    again = type(algo).load(path, env=algo.init_env)
    shape = (3, 4) if CASES[name][1] is None else _env(name).observation_space.shape
    obs = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    if name == "ls3":
        obs = (obs * 255).astype(np.uint8)
    with torch.random.fork_rng():
        a = algo.act(obs)
    with torch.random.fork_rng():
        b = again.act(obs)
    assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", CASES)
def test_public_methods_are_documented(name):
    cls = type(_make(name, 0))
    public = ("train_step", "evaluate", "act", "save", "load", "state_dict", "load_state_dict", "policy_state")
    undocumented = [m for m in public if not (getattr(cls, m).__doc__ or "").strip()]
    assert not undocumented, f"{cls.__name__}: {undocumented}"


def test_torch_threads_are_not_changed_by_algorithms():
    before = torch.get_num_threads()
    _make("ppo", 0)
    assert torch.get_num_threads() == before
