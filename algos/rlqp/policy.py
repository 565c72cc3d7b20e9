"""rho policies: the learned per-constraint policy of RLQP and hand-written references.

Per-row observation (RLQP "Mode8", scaled-space iterate of row i):

    f_1 = log10 clip(min(z_i - l_i, u_i - z_i), 1e-8, 1e6)     slack to the nearest bound
    f_2 = y_i                                                  dual variable
    f_3 = z_i - (A x)_i                                        primal residual component
    f_4 = log10 clip(rho_i, 1e-6, 1e6)

``features="mode8"`` feeds them as released (y and z - Ax clipped to +-1e6); ``"symlog"``
rescales each monotonically (f_1 / 4, symlog f_2, symlog(1e3 f_3), f_4 / 3), which keeps the
information and makes the inputs O(1) for the MLP.

Actions (ExpTanh): the actor's tanh output a in [-1, 1] gives

- ``param="paper"``:    rho_i = 10^(6 a)               (absolute, over [1e-6, 1e6]);
- ``param="relative"``: rho_i = rho_osqp_i * 10^(3 a)  (our variant: relative to OSQP's
  own rho_vec at the current estimate; two global features, log10(rho_est)/3 and the clipped
  log10 primal/dual residual ratio / 2, are appended to every row).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rlkit.envs.qp.admm import ADMM
from rlkit.nn import MLP

ACTION_DECADES = {"paper": 6.0, "relative": 3.0}


def symlog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def row_features(solver: ADMM, features: str = "symlog", param: str = "paper") -> np.ndarray:
    """[m, F] observation of every constraint row (module docstring); F = 4, or 6 for "relative"."""
    info = solver._info or solver.update_info()
    Ax, z, y, l, u = info["Ax"], solver.z, solver.y, solver.l, solver.u
    slack = np.log10(np.clip(np.minimum(z - l, u - z), 1e-8, 1e6))
    log_rho = np.log10(np.clip(solver.rho_vec, 1e-6, 1e6))
    resid = z - Ax
    if features == "mode8":
        f = [slack, np.clip(y, -1e6, 1e6), np.clip(resid, -1e6, 1e6), log_rho]
    elif features == "symlog":
        f = [slack / 4.0, symlog(y), symlog(1e3 * resid), log_rho / 3.0]
    else:
        raise ValueError(f"features={features!r}: use 'mode8' or 'symlog'")
    if param == "relative":
        est = solver.rho_estimate()
        f[3] = np.log10(solver.rho_vec / solver.rho_vec_for(est)) / 3.0
        prim = info["scaled_prim_res"] / (max(_norm(z), _norm(Ax)) + 1e-30)
        dual = info["scaled_dual_res"] / (max(_norm(solver.q), _norm(info["Aty"]), _norm(info["Px"])) + 1e-30)
        ratio = np.clip(math.log10(max(prim, 1e-30) / max(dual, 1e-30)), -4, 4) / 2.0
        f += [np.full_like(slack, math.log10(est) / 3.0), np.full_like(slack, ratio)]
    return np.stack(f, axis=1).astype(np.float32)


def rho_from_action(solver: ADMM, a: np.ndarray, param: str, scalar: bool = False) -> np.ndarray | float:
    """ExpTanh: actions in [-1, 1] -> rho_vec (module docstring). ``scalar``: one rho from the
    mean action, which the solver spreads over the rows with OSQP's rule (equalities x1e3)."""
    if scalar:
        base = 1.0 if param == "paper" else solver.rho_estimate()
        return float(base * 10.0 ** (ACTION_DECADES[param] * float(np.mean(a))))
    if param == "paper":
        return 10.0 ** (ACTION_DECADES["paper"] * a)
    return solver.rho_vec_for(solver.rho_estimate()) * 10.0 ** (ACTION_DECADES["relative"] * a)


def feature_dim(param: str) -> int:
    return 6 if param == "relative" else 4


class Actor(nn.Sequential):
    """Shared per-row actor: features [.., F] -> a in [-1, 1] (tanh)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__(MLP(in_dim, 1, hidden), nn.Tanh())


class LearnedRhoPolicy:
    """A trained actor as a :class:`rlkit.envs.qp.admm.RhoPolicy` (vector, or scalar by mean-pooling)."""

    def __init__(self, actor: nn.Module, features: str = "symlog", param: str = "paper",
                 scalar: bool = False, meta: dict[str, Any] | None = None) -> None:
        self.actor, self.features, self.param, self.scalar = actor, features, param, scalar
        self.meta = meta or {}      # what it was trained on and how it scored (plain data)

    @torch.no_grad()
    def actions(self, solver: ADMM) -> np.ndarray:
        obs = torch.from_numpy(row_features(solver, self.features, self.param))
        a = self.actor(obs).squeeze(-1).numpy().astype(np.float64)
        return np.full_like(a, a.mean()) if self.scalar else a

    def __call__(self, solver: ADMM) -> np.ndarray | float:
        """rho_vec, or (``scalar``) one rho that the solver spreads with OSQP's row rule."""
        return rho_from_action(solver, self.actions(solver), self.param, self.scalar)

    def save(self, path: str | Path) -> Path:
        """A plain torch file: the actor's weights, the settings needed to rebuild it and ``meta``."""
        hidden = [m.out_features for m in self.actor.modules() if isinstance(m, nn.Linear)][:-1]
        torch.save({"actor": self.actor.state_dict(), "hidden": hidden, "features": self.features,
                    "param": self.param, "scalar": self.scalar, "meta": self.meta}, path)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> LearnedRhoPolicy:
        state = torch.load(path, map_location="cpu", weights_only=True)
        actor = Actor(feature_dim(state["param"]), tuple(state["hidden"]))
        actor.load_state_dict(state["actor"])
        return cls(actor.eval(), state["features"], state["param"], state["scalar"], state.get("meta"))


class ActiveSetRule:
    """Hand rule (ours, a reference for the learned policy): OSQP's estimate, x10 on rows whose z sits on a
    bound, x0.1 elsewhere."""

    def __init__(self, factor: float = 10.0, tol: float = 1e-8) -> None:
        self.factor, self.tol = factor, tol

    def __call__(self, solver: ADMM) -> np.ndarray:
        base = solver.rho_vec_for(solver.rho_estimate())
        z, l, u = solver.z, solver.l, solver.u
        active = (z - l <= self.tol * np.maximum(1, np.abs(l))) | (u - z <= self.tol * np.maximum(1, np.abs(u)))
        return np.where(active, base * self.factor, base / self.factor)


class OSQPEstimateEveryInterval:
    """OSQP's estimate applied at every adaptation point, without the x5 gate."""

    def __call__(self, solver: ADMM) -> float:
        return solver.rho_estimate()


def _norm(v: np.ndarray) -> float:
    return float(np.abs(v).max()) if v.size else 0.0
