"""Builders of offline datasets generated on this machine, in the D4RL layout (nothing is downloaded).

A tool on top of the core (it trains the core's SAC); nothing imports it implicitly. An env config
names its builder (``dataset_builder: rlkit.dataset_builders.pendulum_mixed``), and
``rlkit.data.load_dataset`` calls it when a ``local:`` file is missing.

- ``pendulum_mixed`` (CPU checks, seconds): Pendulum-v1 with a scripted energy-pumping swing-up +
  PD stabiliser. Training set: the controller with Gaussian action noise sigma 0.5 (15 episodes),
  sigma 1.5 (10) and uniform random actions (5) = 6,000 steps. Held-out ``pendulum_mixed_iid``: the
  same three behaviours, 5 episodes each, new seeds; ``pendulum_mixed_val`` (checkpoint selection)
  likewise with other seeds. Held-out ``pendulum_mixed_shifted``: the
  controller with other gains and sigma 1.0 (10 episodes): a coverage shift.
- ``<env>-<level>`` for gymnasium v5 MuJoCo envs (``python -m rlkit.dataset_builders mujoco --env Hopper-v5``):
  our SAC is trained; ``medium`` rolls out the first checkpoint whose evaluation return reaches
  ``--medium-return`` (D4RL's "medium" is a policy at about a third of expert), ``medium-replay``
  is everything SAC collected until then, ``expert`` the final policy, ``medium-expert`` medium +
  expert, ``random`` uniform actions. The v5 envs differ from D4RL's v2 (mujoco-py) envs, so
  scores are not comparable to published D4RL numbers.

``python -m rlkit.dataset_builders pendulum_mixed`` writes ``<data_dir>/<name>.hdf5``; ``local:<name>``
datasets (``rlkit.data.load_dataset``) are read from there.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from rlkit.data import OfflineDataset, data_dir
from rlkit.logging import Progress

# Pendulum-v1: theta'' = 3g/(2l) sin(theta) + 3/(m l^2) u = 15 sin(theta) + 3u (theta = 0 upright), so
# E = theta'^2 / 2 + 15 cos(theta) has dE/dt = 3 u theta' and E = 15 at the upright rest.
E_UPRIGHT = 15.0


def swing_up_controller(kp: float = 10.0, kd: float = 2.0, pump: float = 0.5, switch: float = 0.85
                        ) -> Callable[[np.ndarray], float]:
    """Energy pumping ``u = pump * (E* - E) * sign(theta')`` far from upright, PD
    ``u = -kp theta - kd theta'`` once ``cos(theta) > switch``; torque clipped to [-2, 2]."""

    def policy(obs: np.ndarray) -> float:
        cos, sin, vel = obs
        theta = np.arctan2(sin, cos)
        if cos > switch:
            u = -kp * theta - kd * vel
        else:
            u = pump * (E_UPRIGHT - (0.5 * vel ** 2 + 15.0 * cos)) * np.sign(vel if vel != 0 else 1.0)
        return float(np.clip(u, -2.0, 2.0))

    return policy


def _pendulum_episodes(behaviours: list[tuple[int, float | None, dict]], seed: int) -> OfflineDataset:
    """``(episodes, sigma, gains)`` per behaviour; sigma None = uniform random actions."""
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("o", "a", "r", "d", "t", "n")}
    for n_ep, sigma, gains in behaviours:
        ctrl = swing_up_controller(**gains)
        for _ in range(n_ep):
            obs, _ = env.reset(seed=int(rng.integers(2 ** 31)))
            done = False
            while not done:
                if sigma is None:
                    a = rng.uniform(-2.0, 2.0)
                else:
                    a = np.clip(ctrl(obs) + sigma * rng.standard_normal(), -2.0, 2.0)
                nxt, r, term, trunc, _ = env.step(np.array([a], np.float32))
                for k, v in zip("oardtn", (obs, [a], r, term, trunc, nxt), strict=True):
                    cols[k].append(v)
                obs, done = nxt, term or trunc
    env.close()
    arr = {k: np.asarray(v) for k, v in cols.items()}
    return OfflineDataset(observations=arr["o"].astype(np.float32), actions=arr["a"].astype(np.float32),
                          rewards=arr["r"], terminals=arr["d"], timeouts=arr["t"],
                          next_observations=arr["n"].astype(np.float32), source="generated:pendulum_mixed")


def pendulum_mixed(split: str = "train") -> OfflineDataset:
    """The CPU dataset of the BooT claim experiment: 30 episodes of 200 steps of a swing-up
    controller with Gaussian action noise or random actions (module docstring)."""
    if split == "train":
        return _pendulum_episodes([(15, 0.5, {}), (10, 1.5, {}), (5, None, {})], seed=0)
    if split == "iid":
        return _pendulum_episodes([(5, 0.5, {}), (5, 1.5, {}), (5, None, {})], seed=1)
    if split == "shifted":
        return _pendulum_episodes([(10, 1.0, {"kp": 6.0, "kd": 1.0, "pump": 0.25, "switch": 0.95})], seed=2)
    if split == "val":
        return _pendulum_episodes([(5, 0.5, {}), (5, 1.5, {}), (5, None, {})], seed=3)
    raise ValueError(f"split={split!r}; use train, val, iid or shifted")


def pendulum_mixed_iid() -> OfflineDataset:
    """Held-out set of ``pendulum_mixed``: the same behaviours, new seeds."""
    return pendulum_mixed("iid")


def pendulum_mixed_val() -> OfflineDataset:
    """Validation set of ``pendulum_mixed`` (checkpoint selection): as ``pendulum_mixed_iid``,
    other seeds."""
    return pendulum_mixed("val")


def pendulum_mixed_shifted() -> OfflineDataset:
    """Held-out set of ``pendulum_mixed`` under a coverage shift (other gains, sigma 1.0)."""
    return pendulum_mixed("shifted")


#: The builders of the command line (``python -m rlkit.dataset_builders <name>``).
BUILDERS = {"pendulum_mixed": pendulum_mixed, "pendulum_mixed_iid": pendulum_mixed_iid,
            "pendulum_mixed_val": pendulum_mixed_val,
            "pendulum_mixed_shifted": pendulum_mixed_shifted}


# ---------------------------------------------------------------------- MuJoCo via our SAC
class _Recorder(gym.Wrapper):
    """Appends every step to ``log`` (obs, action, reward, terminated, truncated, next obs) while
    ``paused[0]`` is false (evaluation episodes are not SAC's training data)."""

    def __init__(self, env: gym.Env, log: list, paused: list[bool]) -> None:
        super().__init__(env)
        self.log, self.paused, self._obs = log, paused, None

    def reset(self, **kwargs):
        self._obs, info = self.env.reset(**kwargs)
        return self._obs, info

    def step(self, action):
        nxt, r, term, trunc, info = self.env.step(action)
        if not self.paused[0]:
            self.log.append((self._obs, np.asarray(action, np.float32), r, term, trunc, nxt))
        self._obs = nxt
        return nxt, r, term, trunc, info


def _to_dataset(log: list, source: str) -> OfflineDataset:
    o, a, r, d, t, n = (np.asarray(c) for c in zip(*log, strict=True))
    t = t.copy()
    t[-1] = t[-1] or not d[-1]
    return OfflineDataset(observations=o.astype(np.float32), actions=a.astype(np.float32), rewards=r,
                          terminals=d, timeouts=t, next_observations=n.astype(np.float32), source=source)


def mujoco_datasets(env_id: str, sac_steps: int, medium_return: float, steps: int, seed: int = 0,
                    eval_every: int = 10_000, out: Path | None = None) -> dict[str, Path]:
    """Train SAC on ``env_id`` and write random / medium / medium-replay / expert / medium-expert."""
    from rlkit.data import collect_dataset
    from rlkit.rl.sac import SAC, SACConfig

    out = out or data_dir()
    log: list = []
    paused = [False]
    sac = SAC(SACConfig(), lambda: _Recorder(gym.make(env_id), log, paused), seed=seed)
    medium, replay_len = None, None
    progress = Progress(sac_steps, desc="sac", unit="env_step")
    for step in range(1, sac_steps + 1):
        sac.train_step()
        progress.update(step)
        if step % eval_every == 0 or step == sac_steps:
            paused[0] = True
            ret = sac.evaluate(5)["eval/return"]
            paused[0] = False
            print(f"sac step {step}: eval return {ret:.1f}", flush=True)
            if medium is None and ret >= medium_return:
                medium, replay_len = copy.deepcopy(sac), len(log)
    progress.close()
    if medium is None:
        print(f"SAC never reached --medium-return {medium_return}; 'medium' is the final policy", flush=True)
        medium, replay_len = sac, len(log)
    name = env_id.split("-")[0].lower()
    space = gym.make(env_id).action_space
    space.seed(seed)
    sets = {"random": collect_dataset(env_id, lambda o: space.sample(), steps, seed),
            "medium": collect_dataset(env_id, lambda o: medium.act(o, deterministic=False), steps, seed + 1),
            "medium-replay": _to_dataset(log[:replay_len], f"sac-replay:{env_id}"),
            "expert": collect_dataset(env_id, lambda o: sac.act(o, deterministic=False), steps, seed + 2)}
    m, e = sets["medium"], sets["expert"]
    both = lambda k: np.concatenate([getattr(m, k), getattr(e, k)])
    sets["medium-expert"] = OfflineDataset(
        observations=both("observations"), actions=both("actions"), rewards=both("rewards"),
        terminals=both("terminals"), timeouts=both("timeouts"), next_observations=both("next_observations"),
        source=f"medium+expert:{env_id}")
    return {level: ds.to_hdf5(out / f"{name}-{level}.hdf5") for level, ds in sets.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="pendulum_mixed | mujoco")
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--sac-steps", type=int, default=1_000_000)
    p.add_argument("--medium-return", type=float, default=1500.0)
    p.add_argument("--steps", type=int, default=1_000_000, help="steps per recorded policy dataset")
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: $RLKIT_DATA_DIR or ~/.cache/rlkit/datasets")
    args = p.parse_args(argv)
    out = args.out or data_dir()
    if args.name == "mujoco":
        paths = mujoco_datasets(args.env, args.sac_steps, args.medium_return, args.steps, args.seed,
                                args.eval_every, out)
    elif args.name in BUILDERS:
        paths = {args.name: BUILDERS[args.name]().to_hdf5(out / f"{args.name}.hdf5")}
    else:
        p.error(f"unknown dataset {args.name!r}; choose mujoco or one of {sorted(BUILDERS)}")
    for level, path in paths.items():
        print(f"{level}: {path}")


if __name__ == "__main__":
    main()
