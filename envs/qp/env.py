"""The QP-solving MDP of RLQP (Ichnowski et al. 2021): choose rho, run K ADMM iterations.

- reset: draw a QP from the training distribution (classes cycled round-robin, size uniform in
  each class's range), set up the OSQP-exact solver (adaptive rho off) and run the first K
  iterations with OSQP's default rho_vec; problems already solved are redrawn.
- observation: the per-row raw state [m, 6] = (Ax, y, z, l, u, rho) in scaled space; the agent
  encodes it (``rlkit.algos.rlqp.policy.row_features``).
- action: rho_vec [m] (vector env) or one rho (``scalar=True``), in [1e-6, 1e6]. The vector
  action space is a Box of ``max_rows`` (the most constraint rows of any problem the classes
  can draw): a length-m action, or a padded length-``max_rows`` one whose first m entries are
  used, sets the rows; a single value sets every row.
- step: set rho (refactor), run K iterations with termination checks every ``check_every``;
  reward -1 if still unsolved, 0 on the step that solves it; truncated after ``max_steps``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.checks import finite_action
from rlkit.envs.qp.admm import ADMM, Settings, Status
from rlkit.envs.qp.problems import QP, generate

DEFAULT_CLASSES = {"random_qp": (10, 30), "portfolio": (2, 4), "lasso": (2, 4), "svm": (2, 4),
                   "control": (2, 6), "huber": (2, 3)}


class QPSampler:
    """Round-robin over classes, size uniform in [lo, hi]; problem k is seeded by ``seed + k``.

    With a ``stream`` (an RLQP training episode's index), problem k of the stream is seeded by
    ``(seed, stream, k)`` and the classes start at ``stream``'s turn of the round-robin, so every
    stream is independent of the others (episodes can be drawn in any order or process)."""

    def __init__(self, classes: dict[str, tuple[int, int]], seed: int = 0, stream: int | None = None) -> None:
        if not classes:
            raise ValueError("at least one QP class is needed")
        self.classes = {k: (int(v[0]), int(v[1])) for k, v in classes.items()}
        self.seed, self.stream, self.count = seed, stream, 0

    def __call__(self) -> QP:
        names = sorted(self.classes)
        if self.stream is None:
            name, rng = names[self.count % len(names)], np.random.default_rng(self.seed + self.count)
        else:
            name = names[(self.stream + self.count) % len(names)]
            rng = np.random.default_rng([self.seed, self.stream, self.count])
        lo, hi = self.classes[name]
        self.count += 1
        return generate(name, int(rng.integers(lo, hi + 1)), rng)


class QPEnv(gym.Env):
    """Gymnasium env over variable-size QPs (observation and action are sequences of rows)."""

    metadata = {"render_modes": []}

    def __init__(self, classes: dict[str, tuple[int, int]] | None = None, iters_per_step: int = 50,
                 max_steps: int = 60, eps: float = 1e-5, check_every: int = 25,
                 scalar: bool = False, seed: int = 0) -> None:
        if iters_per_step <= 0 or check_every <= 0 or iters_per_step % check_every:
            raise ValueError(f"iters_per_step={iters_per_step} must be a positive multiple of "
                             f"check_every={check_every}")
        self.sampler = QPSampler(classes or DEFAULT_CLASSES, seed)
        self.init_kwargs = {"classes": self.sampler.classes, "iters_per_step": iters_per_step,
                            "max_steps": max_steps, "eps": eps, "check_every": check_every, "scalar": scalar}
        self.K, self.max_steps, self.scalar = iters_per_step, max_steps, scalar
        self.settings = Settings(eps_abs=eps, eps_rel=eps, check_termination=check_every,
                                 adaptive_rho=False, eps_prim_inf=1e-15, eps_dual_inf=1e-15,
                                 max_iter=iters_per_step * max_steps)
        row = gym.spaces.Box(-np.inf, np.inf, (6,), np.float64)
        self.observation_space = gym.spaces.Sequence(row, stack=True)
        self.max_rows = max(generate(name, hi, 0).A.shape[0] for name, (_, hi) in self.sampler.classes.items())
        self.action_space = gym.spaces.Box(1e-6, 1e6, (1 if scalar else self.max_rows,), np.float64)
        self.solver: ADMM | None = None
        self.steps = 0

    def _obs(self) -> np.ndarray:
        s = self.solver
        Ax = s._info["Ax"] if s._info else s.A @ s.x
        return np.stack([Ax, s.y, s.z, s.l, s.u, s.rho_vec], axis=1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.sampler.seed, self.sampler.count = seed, 0
        while True:
            qp = self.sampler()
            self.solver = ADMM(qp.P, qp.q, qp.A, qp.l, qp.u, self.settings, psd_check=False)
            if self.solver.run(self.K, rho="fixed") != Status.SOLVED:
                break
        self.solver.update_info()
        self.steps, self.problem = 0, qp
        return self._obs(), {"problem": qp.name, "iterations": self.solver.iter}

    def step(self, action: Any):
        s = self.solver
        a = finite_action(self, action).reshape(-1)
        m = len(s.l)
        if self.scalar or a.size == 1:
            s.set_rho(float(a[0]))
        elif a.size in (m, self.max_rows):
            s.set_rho_vec(a[:m])
        else:
            raise ValueError(f"QPEnv.step got {a.size} rho values for a problem with {m} constraint rows; "
                             f"pass {m} values (or {self.max_rows}, padded, or one for every row)")
        status = s.run(self.K, rho="fixed")
        s.update_info()
        self.steps += 1
        solved = status == Status.SOLVED
        info = {"iterations": s.iter, "refactorizations": s.refactorizations, "status": status}
        return self._obs(), 0.0 if solved else -1.0, solved, self.steps >= self.max_steps, info
