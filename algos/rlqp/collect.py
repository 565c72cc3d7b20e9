"""RLQP training episodes, in the agent's process or in worker processes.

Training episode e is a pure function of the run's seed, e, whether it explores at random, and the
actor's weights: its problems come from its own stream (:class:`~rlkit.envs.qp.env.QPSampler` with
``stream=e``; problems the first K iterations already solve are skipped within the stream) and its
exploration noise from a generator seeded by ``(seed, e)``. :func:`run_episode` runs one;
:class:`EpisodeCollector` runs a round of them with one snapshot of the actor, in the calling
process or on a pool of worker processes that take episodes as they free up. Because nothing else
enters an episode, a run is identical for any number of workers, and a checkpoint only has to hold
the episodes of the round not yet consumed.

The QP solver is what a training episode costs (an LDL factorisation per rho change and K ADMM
iterations per step, in numpy/scipy), so the workers spread it over the cores as the release does
(rlqp_train collects on every core). Episode lengths are heavy-tailed (3 to 60 steps), so a round
needs several episodes per worker to keep the workers busy (``episodes_per_round``).
"""

from __future__ import annotations

import weakref
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from multiprocessing import get_all_start_methods, get_context
from typing import Any

import numpy as np
import torch

from rlkit.algos.rlqp.config import RLQPConfig
from rlkit.algos.rlqp.policy import ACTION_DECADES, Actor, feature_dim, rho_from_action, row_features
from rlkit.config import set_threads
from rlkit.envs.qp.env import QPEnv, QPSampler

START_METHOD = "fork" if "fork" in get_all_start_methods() else "spawn"


@dataclass
class Episode:
    """The per-row transitions of one training episode (rows of all its steps, in order) and its
    summary."""

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    steps: int
    iterations: int
    ret: float
    solved: bool
    rows: int

    def state(self) -> dict[str, Any]:
        """Plain data (tensors and numbers) for a checkpoint."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def explore(actor: Actor, obs: np.ndarray, cfg: RLQPConfig, random_phase: bool,
            rng: np.random.Generator) -> np.ndarray:
    """Actions in [-1, 1] for the rows of one step: in the random phase a log-uniform scalar rho in
    [1e-3, 1e3] plus per-row noise; after it the actor's actions plus log-space Gaussian noise
    (``exploration_noise`` decades; one draw for all rows with ``exploration="shared"``)."""
    decades, m = ACTION_DECADES[cfg.param], len(obs)
    if random_phase:
        a = rng.uniform(-3, 3) / decades + cfg.exploration_noise / decades * rng.standard_normal(m)
    else:
        device = next(actor.parameters()).device
        with torch.no_grad():
            a = actor(torch.from_numpy(obs).to(device)).squeeze(-1).cpu().numpy()
        if cfg.scalar:
            a = np.full_like(a, a.mean())
        noise = rng.standard_normal(1 if cfg.exploration == "shared" else m)
        a = a + cfg.exploration_noise / decades * noise
    return np.clip(a, -1.0, 1.0)


def run_episode(env: QPEnv, actor: Actor, cfg: RLQPConfig, seed: int, episode: int,
                random_phase: bool) -> Episode:
    """Training episode ``episode`` of the run with ``seed``: the first problem of its stream that
    K iterations do not solve, then a rho decision every K iterations until solved or truncated."""
    env.sampler = QPSampler(env.sampler.classes, seed, stream=episode)
    rng = np.random.default_rng([seed, episode])
    env.reset()
    solver = env.solver
    obs = row_features(solver, cfg.features, cfg.param)
    parts: list[tuple[np.ndarray, ...]] = []
    steps, ret, done, solved = 0, 0.0, False, False
    while not done:
        a = explore(actor, obs, cfg, random_phase, rng)
        _, reward, solved, truncated, _ = env.step(rho_from_action(solver, a, cfg.param, cfg.scalar))
        nxt = row_features(solver, cfg.features, cfg.param)
        m = len(a)
        parts.append((obs, a[:, None].astype(np.float32), np.full(m, reward, np.float32), nxt,
                      np.full(m, solved)))
        obs, steps, ret, done = nxt, steps + 1, ret + reward, solved or truncated
    o, act, r, n, t = (torch.from_numpy(np.concatenate(x)) for x in zip(*parts, strict=True))
    return Episode(o, act, r, n, t, steps=steps, iterations=int(solver.iter), ret=ret, solved=bool(solved),
                   rows=int(solver.m))


# ---------------------------------------------------------------- worker processes
_WORKER: dict[str, Any] = {}


def _init_worker(env_kwargs: dict[str, Any], cfg: RLQPConfig) -> None:
    set_threads(1)                   # one core per worker: torch and BLAS single-threaded
    _WORKER.update(env=QPEnv(**env_kwargs), actor=Actor(feature_dim(cfg.param), cfg.hidden).eval(), cfg=cfg)


def _work(actor_state: dict[str, torch.Tensor], seed: int, episode: int, random_phase: bool) -> Episode:
    _WORKER["actor"].load_state_dict(actor_state)
    return run_episode(_WORKER["env"], _WORKER["actor"], _WORKER["cfg"], seed, episode, random_phase)


class EpisodeCollector:
    """Runs rounds of episodes: in this process for one worker, else on a pool of ``workers``
    processes (started on first use; forked where the platform can, so a script needs
    no ``if __name__ == "__main__"`` guard; each worker builds its own env and actor)."""

    def __init__(self, env: QPEnv, cfg: RLQPConfig) -> None:
        self.env, self.cfg, self.workers = env, cfg, cfg.workers
        self._pool: ProcessPoolExecutor | None = None

    def round(self, actor: Actor, seed: int, episodes: list[int], random_phase: list[bool]) -> list[Episode]:
        """The given episodes, all with the current actor weights, in order."""
        if self.workers == 1:
            return [run_episode(self.env, actor, self.cfg, seed, e, r)
                    for e, r in zip(episodes, random_phase, strict=True)]
        state = {k: v.detach().cpu() for k, v in actor.state_dict().items()}
        n = len(episodes)
        return list(self.pool().map(_work, [state] * n, [seed] * n, episodes, random_phase))

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context(START_METHOD),
                                             initializer=_init_worker,
                                             initargs=(self.env.init_kwargs, self.cfg))
            weakref.finalize(self, self._pool.shutdown, cancel_futures=True)
        return self._pool
